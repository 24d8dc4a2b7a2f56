/* SPDX-License-Identifier: MIT */
/*
 * json.c: the JSON writer behind every --json output of ferry's programs,
 * and the reader of the flat JSON objects that benchmark peers print.
 *
 * The writer streams (no document is built in memory), indents for people
 * or keeps a document on one line (JSON Lines), and guarantees a parsable
 * document whatever the strings hold: control characters are escaped and
 * invalid UTF-8 becomes U+FFFD; exact bytes go through cli_json_bytes().
 *
 * The reader is a small recursive-descent parser for one object whose
 * members are strings, numbers, booleans or null: what a peer's result
 * line is. It decodes escapes (\uXXXX with surrogate pairs into UTF-8) and
 * refuses anything else, so a result is never picked out of a line by
 * searching for a key's text.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_json_init(cli_json *j, FILE *out)
{
  memset(j, 0, sizeof *j);
  j->out = out;
}

void cli_json_init_line(cli_json *j, FILE *out)
{
  cli_json_init(j, out);
  j->compact = true;
}

/* Puts the separator and line break that precede a value or a key. */
static void before_item(cli_json *j)
{
  if (j->after_key) {
    j->after_key = false;
    return;
  }
  if (j->depth == 0)
    return;
  int d = j->depth - 1;
  if (!j->first[d])
    fputc(',', j->out);
  if (j->inline_[d]) {
    if (!j->first[d] && !j->compact)
      fputc(' ', j->out);
  } else {
    fprintf(j->out, "\n%*s", 2 * j->depth, "");
  }
  j->first[d] = false;
}

static void open_container(cli_json *j, char c, bool inline_)
{
  before_item(j);
  fputc(c, j->out);
  assert(j->depth < CLI_JSON_MAX_DEPTH);
  j->first[j->depth] = true;
  j->closer[j->depth] = c == '{' ? '}' : ']';
  /* Inside an inline container everything stays on the line. */
  j->inline_[j->depth] = inline_ || j->compact || (j->depth > 0 && j->inline_[j->depth - 1]);
  j->depth++;
}

void cli_json_object(cli_json *j) { open_container(j, '{', false); }

void cli_json_array(cli_json *j, bool inline_) { open_container(j, '[', inline_); }

void cli_json_end(cli_json *j)
{
  assert(j->depth > 0);
  j->depth--;
  int d = j->depth;
  if (!j->first[d] && !j->inline_[d])
    fprintf(j->out, "\n%*s", 2 * d, "");
  fputc(j->closer[d], j->out);
}

/* Length of the valid UTF-8 sequence at p (avail bytes), or 0 if there
 * is none. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
  unsigned char c = p[0];
  size_t n;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n > avail)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/* n bytes at s as a JSON string; a NUL byte is \u0000. */
static void put_string(FILE *out, const char *s, size_t len)
{
  fputc('"', out);
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      fputc('\\', out);
      fputc(c, out);
      p++;
    } else if (c == '\n') {
      fputs("\\n", out);
      p++;
    } else if (c == '\t') {
      fputs("\\t", out);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(out, "\\u%04x", c);
      p++;
    } else {
      size_t n = utf8_len(p, (size_t)(end - p));
      if (n == 0) {
        fputs("\\ufffd", out);
        p++;
      } else {
        fwrite(p, 1, n, out);
        p += n;
      }
    }
  }
  fputc('"', out);
}

void cli_json_key(cli_json *j, const char *key)
{
  before_item(j);
  put_string(j->out, key, strlen(key));
  fputs(j->compact ? ":" : ": ", j->out);
  j->after_key = true;
}

void cli_json_str(cli_json *j, const char *s)
{
  before_item(j);
  if (s)
    put_string(j->out, s, strlen(s));
  else
    fputs("null", j->out);
}

void cli_json_int(cli_json *j, int64_t v)
{
  before_item(j);
  fprintf(j->out, "%" PRId64, v);
}

void cli_json_uint(cli_json *j, uint64_t v)
{
  before_item(j);
  fprintf(j->out, "%" PRIu64, v);
}

void cli_json_double(cli_json *j, double v)
{
  before_item(j);
  if (isfinite(v))
    fprintf(j->out, "%.17g", v);
  else
    fputs("null", j->out); /* JSON has no NaN or infinity */
}

void cli_json_bool(cli_json *j, bool v)
{
  before_item(j);
  fputs(v ? "true" : "false", j->out);
}

void cli_json_null(cli_json *j)
{
  before_item(j);
  fputs("null", j->out);
}

/* Whether p[0..n) is all valid UTF-8. */
static bool utf8_valid(const unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n;) {
    size_t k = utf8_len(p + i, n - i);
    if (k == 0)
      return false;
    i += k;
  }
  return true;
}

void cli_json_bytes(cli_json *j, const char *key, const void *p, size_t n)
{
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *b = p;
  if (utf8_valid(b, n)) {
    cli_json_key(j, key);
    before_item(j);
    put_string(j->out, p, n);
    return;
  }
  char k[128];
  snprintf(k, sizeof k, "%s_base64", key);
  cli_json_key(j, k);
  before_item(j);
  fputc('"', j->out);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)b[i + 1] << 8;
    if (i + 2 < n)
      v |= b[i + 2];
    fputc(b64[v >> 18 & 63], j->out);
    fputc(b64[v >> 12 & 63], j->out);
    fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', j->out);
    fputc(i + 2 < n ? b64[v & 63] : '=', j->out);
  }
  fputc('"', j->out);
}

void cli_json_finish(cli_json *j)
{
  assert(j->depth == 0);
  fputc('\n', j->out);
}

/* ---- the reader ------------------------------------------------------------------- */

struct reader {
  const char *p;
};

static void skip_ws(struct reader *r)
{
  while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
    r->p++;
}

static int hex4(const char *p, uint32_t *out)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -EINVAL;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return 0;
}

/* Appends code point cp as UTF-8 at *o. */
static void put_utf8(char **o, uint32_t cp)
{
  char *q = *o;
  if (cp < 0x80) {
    *q++ = (char)cp;
  } else if (cp < 0x800) {
    *q++ = (char)(0xc0 | cp >> 6);
    *q++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *q++ = (char)(0xe0 | cp >> 12);
    *q++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *q++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *q++ = (char)(0xf0 | cp >> 18);
    *q++ = (char)(0x80 | (cp >> 12 & 0x3f));
    *q++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *q++ = (char)(0x80 | (cp & 0x3f));
  }
  *o = q;
}

/* A string at r->p (at its opening quote) into a malloc'd C string. A
 * decoded NUL would cut the string short: it is refused. */
static int read_string(struct reader *r, char **out)
{
  if (*r->p != '"')
    return -EINVAL;
  const char *start = ++r->p;
  size_t len = 0;
  while (start[len] && start[len] != '"')
    len += start[len] == '\\' && start[len + 1] ? 2 : 1;
  /* Decoding never grows the text: \uXXXX is 6 bytes, at most 4 out. */
  char *s = malloc(len + 1), *o = s;
  if (!s)
    return -ENOMEM;
  for (;;) {
    unsigned char c = (unsigned char)*r->p;
    if (c == '"')
      break;
    if (c < 0x20) /* the end of the text, or a raw control character */
      goto bad;
    r->p++;
    if (c != '\\') {
      *o++ = (char)c;
      continue;
    }
    char e = *r->p++;
    uint32_t cp;
    switch (e) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u':
      if (hex4(r->p, &cp))
        goto bad;
      r->p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) || lo < 0xdc00 ||
            lo > 0xdfff)
          goto bad;
        r->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
        goto bad;
      }
      put_utf8(&o, cp);
      break;
    default:
      goto bad;
    }
  }
  r->p++;
  *o = '\0';
  *out = s;
  return 0;
bad:
  free(s);
  return -EINVAL;
}

/* A number per RFC 8259's grammar. */
static int read_number(struct reader *r, double *out)
{
  const char *p = r->p;
  if (*p == '-')
    p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return -EINVAL;
  if (*p == '.') {
    if (!(*++p >= '0' && *p <= '9'))
      return -EINVAL;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!(*p >= '0' && *p <= '9'))
      return -EINVAL;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  *out = strtod(r->p, NULL); /* the grammar above is a subset of strtod's */
  r->p = p;
  return 0;
}

static bool take_word(struct reader *r, const char *w)
{
  size_t n = strlen(w);
  if (strncmp(r->p, w, n) != 0)
    return false;
  r->p += n;
  return true;
}

int cli_jobject_parse(const char *text, cli_jobject *out)
{
  struct reader r = {text};
  cli_jobject o = {0};
  size_t cap = 0;
  int rc = -EINVAL;
  skip_ws(&r);
  if (*r.p++ != '{')
    return -EINVAL;
  skip_ws(&r);
  if (*r.p == '}') {
    r.p++;
    goto end;
  }
  for (;;) {
    if (o.n == cap) {
      cap = cap ? 2 * cap : 16;
      cli_jmember *m = realloc(o.m, cap * sizeof *m);
      if (!m) {
        rc = -ENOMEM;
        goto fail;
      }
      o.m = m;
    }
    cli_jmember *m = &o.m[o.n];
    memset(m, 0, sizeof *m);
    skip_ws(&r);
    if ((rc = read_string(&r, &m->key)) != 0)
      goto fail;
    o.n++;
    rc = -EINVAL;
    skip_ws(&r);
    if (*r.p++ != ':')
      goto fail;
    skip_ws(&r);
    if (*r.p == '"') {
      m->type = CLI_J_STRING;
      if ((rc = read_string(&r, &m->str)) != 0)
        goto fail;
      rc = -EINVAL;
    } else if (take_word(&r, "true")) {
      m->type = CLI_J_BOOL;
      m->num = 1;
    } else if (take_word(&r, "false")) {
      m->type = CLI_J_BOOL;
    } else if (take_word(&r, "null")) {
      m->type = CLI_J_NULL;
    } else {
      m->type = CLI_J_NUMBER;
      if (read_number(&r, &m->num) != 0)
        goto fail; /* also a nested object or array */
    }
    skip_ws(&r);
    if (*r.p == ',') {
      r.p++;
      continue;
    }
    if (*r.p++ != '}')
      goto fail;
    break;
  }
end:
  skip_ws(&r);
  if (*r.p) {
    rc = -EINVAL;
    goto fail;
  }
  *out = o;
  return 0;
fail:
  cli_jobject_free(&o);
  return rc;
}

void cli_jobject_free(cli_jobject *o)
{
  for (size_t i = 0; i < o->n; i++) {
    free(o->m[i].key);
    free(o->m[i].str);
  }
  free(o->m);
  o->m = NULL;
  o->n = 0;
}

const cli_jmember *cli_jobject_get(const cli_jobject *o, const char *key)
{
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->m[i].key, key) == 0)
      return &o->m[i];
  return NULL;
}

double cli_jobject_num(const cli_jobject *o, const char *key)
{
  const cli_jmember *m = cli_jobject_get(o, key);
  return m && m->type == CLI_J_NUMBER ? m->num : NAN;
}

const char *cli_jobject_str(const cli_jobject *o, const char *key)
{
  const cli_jmember *m = cli_jobject_get(o, key);
  return m && m->type == CLI_J_STRING ? m->str : NULL;
}
