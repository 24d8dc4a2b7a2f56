/*
 * json.c: the JSON writer behind every --json output of the `ferry`
 * command. It streams (no document is built in memory), indents for
 * people, and guarantees a parsable document whatever the strings hold:
 * control characters are escaped and invalid UTF-8 becomes U+FFFD.
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "cli.h"

void cli_json_init(cli_json *j, FILE *out)
{
  memset(j, 0, sizeof *j);
  j->out = out;
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
    if (!j->first[d])
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
  j->inline_[j->depth] = inline_ || (j->depth > 0 && j->inline_[j->depth - 1]);
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

/* Length of the valid UTF-8 sequence at p, or 0 if there is none. */
static size_t utf8_len(const unsigned char *p)
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
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0; /* also stops at the terminating NUL */
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static void put_string(FILE *out, const char *s)
{
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
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
      size_t n = utf8_len(p);
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
  put_string(j->out, key);
  fputs(": ", j->out);
  j->after_key = true;
}

void cli_json_str(cli_json *j, const char *s)
{
  before_item(j);
  if (s)
    put_string(j->out, s);
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

void cli_json_finish(cli_json *j)
{
  assert(j->depth == 0);
  fputc('\n', j->out);
}
