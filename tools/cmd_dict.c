/*
 * cmd_dict.c: `ferry dict create|set|get|del|ls`, a shared dict from the
 * shell, the way redis-cli uses a hash: keys and values are the argument
 * bytes; get prints the value on its own line; ls walks the dict with the
 * library's cursor, which stays valid while others write (dict.h).
 *
 * Each invocation opens, does one thing and closes; the dict stays until
 * 'ferry rm NAME'.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_hd.h"
#include "cmd_redis.h"

const char cli_help_dict[] =
    "usage: ferry dict create NAME [--capacity N] [--max-capacity N] [--max-key N]\n"
    "                              [--max-value N] [--fixed]\n"
    "       ferry dict set NAME KEY VALUE [--nx]\n"
    "       ferry dict get NAME KEY\n"
    "       ferry dict del NAME KEY\n"
    "       ferry dict ls NAME [--json]\n"
    "\n"
    "A shared hash map from byte-string keys to byte-string values that many\n"
    "processes read and write at once (seed 001's Manager().dict(), without\n"
    "the server process).\n"
    "\n"
    "create  make dict NAME (it stays until 'ferry rm NAME'). Defaults:\n"
    "        --capacity 4096 entries, --max-capacity 16 x capacity (the dict\n"
    "        grows up to it; --fixed: capacity is the limit), --max-key 64\n"
    "        bytes (1..65536), --max-value 128 bytes (1..16777216)\n"
    "set     set KEY to VALUE; with --nx only if KEY is absent (exit 1 if not)\n"
    "get     print KEY's value and a newline; exit 1 if KEY is absent\n"
    "del     remove KEY; exit 1 if it is absent\n"
    "ls      print every entry as KEY<TAB>VALUE, one a line (in no particular\n"
    "        order); --json: an array of {\"key\", \"value\"} objects\n"
    "\n"
    "Exit status: 0 done, 1 an operation failed (absent key, key or value too\n"
    "long, a missing dict or another kind of region), 2 bad command line.\n"
    "\n"
    "Example:\n"
    "  ferry dict create cfg\n"
    "  ferry dict set cfg mode fast\n"
    "  ferry dict get cfg mode\n";

/* ---- helpers ------------------------------------------------------------------ */

/* Parses `NAME [ARGS...] [flags]` for the verbs after create: fills pos[]
 * with up to npos positionals (exactly npos are required) and the flag. */
static int parse_simple(const char *verb, int argc, char **argv, const char **pos, int npos,
                        const char *flag, bool *flag_set, const char *what)
{
  int n = 0;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return -1;
    else if (flag && cli_args_flag(&a, flag))
      *flag_set = true;
    else if (cli_args_positional(&a) && n < npos)
      pos[n++] = a.word;
    else
      return cli_args_unknown(&a);
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (n < npos)
    return cli_usage_error(verb, "missing %s (see 'ferry help dict')",
                           n == 0 ? "dict name" : what);
  if (cli_object_name_valid(pos[0]) != 0)
    return cli_usage_error(verb, "'%s': bad region name", pos[0]);
  return CLI_OK;
}

static int open_dict(const char *verb, const char *name, ferry_dict **d)
{
  int rc = ferry_dict_open(name, NULL, d);
  return rc ? cli_object_error(verb, rc, name, "dict") : CLI_OK;
}

/* ---- create --------------------------------------------------------------------- */

static int size_opt(cli_args *a, const char *opt, uint64_t min, uint64_t max, uint64_t *out,
                    int *rc)
{
  const char *v;
  int k = cli_args_value(a, opt, &v);
  if (k == 0)
    return 0;
  if (k < 0) {
    *rc = CLI_USAGE;
    return 1;
  }
  if (!cli_parse_u64(v, min, max, out))
    *rc = cli_usage_error(a->verb, "bad %s '%s' (want %" PRIu64 "..%" PRIu64 ")", opt, v, min,
                          max);
  return 1;
}

static int dict_create(int argc, char **argv)
{
  const char *verb = "dict create", *name = NULL;
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  uint64_t v;
  int rc = CLI_OK;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_dict);
    } else if (size_opt(&a, "--capacity", 1, FERRY_DICT_MAX_CAPACITY, &v, &rc)) {
      if (rc)
        return rc;
      o.capacity = v;
    } else if (size_opt(&a, "--max-capacity", 1, FERRY_DICT_MAX_CAPACITY, &v, &rc)) {
      if (rc)
        return rc;
      o.max_capacity = v;
    } else if (size_opt(&a, "--max-key", 1, FERRY_DICT_MAX_KEY, &v, &rc)) {
      if (rc)
        return rc;
      o.max_key = (uint32_t)v;
    } else if (size_opt(&a, "--max-value", 1, FERRY_DICT_MAX_VALUE, &v, &rc)) {
      if (rc)
        return rc;
      o.max_value = (uint32_t)v;
    } else if (cli_args_flag(&a, "--fixed")) {
      o.flags |= FERRY_DICT_FIXED;
    } else if (cli_args_positional(&a) && !name) {
      name = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (!name)
    return cli_usage_error(verb, "missing dict name (see 'ferry help dict')");
  if (cli_object_name_valid(name) != 0)
    return cli_usage_error(verb, "'%s': bad region name", name);
  if (o.max_capacity && !(o.flags & FERRY_DICT_FIXED) && o.max_capacity < o.capacity)
    return cli_usage_error(verb, "--max-capacity %" PRIu64 " is below --capacity %" PRIu64,
                           o.max_capacity, o.capacity);
  ferry_dict *d;
  rc = ferry_dict_create(name, &o, &d);
  if (rc) {
    if (rc == -EOVERFLOW)
      cli_error(verb, rc, "%s: capacity x entry size is too large", name);
    else
      cli_error(verb, rc, "%s", name);
    return CLI_FAIL;
  }
  ferry_dict_close(d);
  return CLI_OK;
}

/* ---- set, get, del ---------------------------------------------------------------- */

static int size_error(const char *verb, int rc, const char *name, const char *key, size_t vlen,
                      ferry_dict *d)
{
  ferry_dict_stats s;
  memset(&s, 0, sizeof s);
  ferry_dict_stats_get(d, &s);
  if (rc == -E2BIG)
    cli_error(verb, rc, "%s: key is %zu bytes, the maximum is %" PRIu64, name, strlen(key),
              s.max_key);
  else if (rc == -EMSGSIZE)
    cli_error(verb, rc, "%s: value is %zu bytes, the maximum is %" PRIu64, name, vlen,
              s.max_value);
  else if (rc == -ENOENT)
    cli_error(verb, rc, "%s: no key '%s'", name, key);
  else if (rc == -EEXIST)
    cli_error(verb, rc, "%s: key '%s' exists (--nx)", name, key);
  else
    return cli_object_error(verb, rc, name, "dict");
  return CLI_FAIL;
}

static int dict_set(int argc, char **argv)
{
  const char *verb = "dict set", *pos[3];
  bool nx = false;
  int rc = parse_simple(verb, argc, argv, pos, 3, "--nx", &nx, "KEY and VALUE");
  if (rc < 0)
    return cli_print_help(cli_help_dict);
  if (rc)
    return rc;
  ferry_dict *d;
  if ((rc = open_dict(verb, pos[0], &d)) != CLI_OK)
    return rc;
  size_t vlen = strlen(pos[2]);
  rc = nx ? ferry_dict_set_nx(d, pos[1], strlen(pos[1]), pos[2], vlen, FERRY_FOREVER)
          : ferry_dict_set(d, pos[1], strlen(pos[1]), pos[2], vlen, FERRY_FOREVER);
  int status = rc ? size_error(verb, rc, pos[0], pos[1], vlen, d) : CLI_OK;
  ferry_dict_close(d);
  return status;
}

static int dict_get(int argc, char **argv)
{
  const char *verb = "dict get", *pos[2];
  int rc = parse_simple(verb, argc, argv, pos, 2, NULL, NULL, "KEY");
  if (rc < 0)
    return cli_print_help(cli_help_dict);
  if (rc)
    return rc;
  ferry_dict *d;
  if ((rc = open_dict(verb, pos[0], &d)) != CLI_OK)
    return rc;
  ferry_dict_stats s;
  ferry_dict_stats_get(d, &s);
  size_t cap = (size_t)s.max_value;
  char *buf = malloc(cap ? cap : 1);
  int status = CLI_OK;
  if (!buf) {
    cli_error(verb, -ENOMEM, "%s", pos[0]);
    status = CLI_FAIL;
  } else {
    ssize_t n = ferry_dict_get(d, pos[1], strlen(pos[1]), buf, cap);
    if (n < 0) {
      status = size_error(verb, (int)n, pos[0], pos[1], 0, d);
    } else {
      fwrite(buf, 1, (size_t)n, stdout);
      putchar('\n');
    }
  }
  free(buf);
  ferry_dict_close(d);
  return status;
}

static int dict_del(int argc, char **argv)
{
  const char *verb = "dict del", *pos[2];
  int rc = parse_simple(verb, argc, argv, pos, 2, NULL, NULL, "KEY");
  if (rc < 0)
    return cli_print_help(cli_help_dict);
  if (rc)
    return rc;
  ferry_dict *d;
  if ((rc = open_dict(verb, pos[0], &d)) != CLI_OK)
    return rc;
  rc = ferry_dict_del(d, pos[1], strlen(pos[1]), FERRY_FOREVER);
  int status = rc ? size_error(verb, rc, pos[0], pos[1], 0, d) : CLI_OK;
  ferry_dict_close(d);
  return status;
}

/* ---- ls ---------------------------------------------------------------------------- */

/* A JSON string of n bytes; cli_json_str() takes C strings, so an
 * embedded NUL is shown as '?' (other bytes are escaped by the writer). */
static void json_bytes(cli_json *j, const char *p, size_t n)
{
  char *s = malloc(n + 1);
  if (!s) {
    cli_json_null(j);
    return;
  }
  for (size_t i = 0; i < n; i++)
    s[i] = p[i] ? p[i] : '?';
  s[n] = 0;
  cli_json_str(j, s);
  free(s);
}

static int dict_ls(int argc, char **argv)
{
  const char *verb = "dict ls", *pos[1];
  bool json = false;
  int rc = parse_simple(verb, argc, argv, pos, 1, "--json", &json, "");
  if (rc < 0)
    return cli_print_help(cli_help_dict);
  if (rc)
    return rc;
  ferry_dict *d;
  if ((rc = open_dict(verb, pos[0], &d)) != CLI_OK)
    return rc;
  ferry_dict_stats s;
  ferry_dict_stats_get(d, &s);
  size_t kcap = (size_t)s.max_key, vcap = (size_t)s.max_value;
  char *k = malloc(kcap + 1), *v = malloc(vcap + 1);
  int status = CLI_OK;
  cli_json j;
  if (json) {
    cli_json_init(&j, stdout);
    cli_json_array(&j, false);
  }
  uint64_t cursor = 0;
  size_t klen, vlen;
  while (k && v && (rc = ferry_dict_next(d, &cursor, k, kcap, &klen, v, vcap, &vlen)) == 1) {
    if (json) {
      cli_json_object(&j);
      cli_json_key(&j, "key");
      json_bytes(&j, k, klen);
      cli_json_key(&j, "value");
      json_bytes(&j, v, vlen);
      cli_json_end(&j);
    } else {
      fwrite(k, 1, klen, stdout);
      putchar('\t');
      fwrite(v, 1, vlen, stdout);
      putchar('\n');
    }
  }
  if (!k || !v) {
    cli_error(verb, -ENOMEM, "%s", pos[0]);
    status = CLI_FAIL;
  } else if (rc < 0) {
    status = cli_object_error(verb, rc, pos[0], "dict");
  }
  if (json) {
    cli_json_end(&j);
    cli_json_finish(&j);
  }
  free(k);
  free(v);
  ferry_dict_close(d);
  return status;
}

int cmd_dict(int argc, char **argv)
{
  static const cli_sub subs[] = {
      {"create", dict_create},
      {"set", dict_set},
      {"get", dict_get},
      {"del", dict_del},
      {"ls", dict_ls},
  };
  return cli_dispatch("dict", cli_help_dict, subs, sizeof subs / sizeof subs[0], argc, argv);
}
