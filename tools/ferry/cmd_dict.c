/* SPDX-License-Identifier: MIT */
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
#include "verbs.h"

const char cli_help_dict[] =
    "usage: ferry dict create NAME [--capacity N] [--max-capacity N] [--max-key N]\n"
    "                  [--max-value N] [--fixed] [--mode OCTAL]\n"
    "       ferry dict set NAME KEY VALUE [--nx]\n"
    "       ferry dict get NAME KEY [--json]\n"
    "       ferry dict del NAME KEY\n"
    "       ferry dict ls NAME [--json]\n"
    "\n"
    "A shared hash map from byte-string keys to byte-string values that many\n"
    "processes read and write at once, with no server process in between.\n"
    "\n"
    "create  make dict NAME (it stays until 'ferry rm NAME'). Defaults:\n"
    "        --capacity 4096 entries, --max-capacity 16 x capacity (the dict\n"
    "        grows up to it; --fixed: capacity is the limit), --max-key 64\n"
    "        bytes (1..65536), --max-value 128 bytes (1..16777216), --mode 600\n"
    "set     set KEY to VALUE; with --nx only if KEY is absent (exit 1 if not)\n"
    "get     print KEY's value and a newline; --json: {\"key\", \"value\"}\n"
    "del     remove KEY\n"
    "ls      print every entry as KEY<TAB>VALUE, one a line (in no particular\n"
    "        order); --json: an array of {\"key\", \"value\"} objects\n"
    "\n"
    "JSON keeps every byte: a key or value that is not UTF-8 comes as\n"
    "\"key_base64\" or \"value_base64\" instead.\n"
    "\n"
    "NAME may also name a dict on a Redis server, redis://HOST[:PORT]/NAME or\n"
    "unix:///PATH.sock/NAME (see 'man libferry', ferry/redis.h).\n"
    "\n"
    "Exit status: 0 done, 1 an operation failed (key or value too long, the\n"
    "key exists (--nx), another kind of region), 2 bad command line, 5 no\n"
    "such dict, or no such key (get, del).\n"
    "\n"
    "Example:\n"
    "  ferry dict create cfg\n"
    "  ferry dict set cfg mode fast\n"
    "  ferry dict get cfg mode\n";

/* ---- helpers ------------------------------------------------------------------ */

static const char *const dict_args[] = {"dict name", "KEY", "VALUE"};

static int open_dict(const char *verb, const char *name, ferry_dict **d)
{
  int rc = ferry_dict_open(name, NULL, d);
  return rc ? cli_object_error(verb, rc, name, "dict") : CLI_OK;
}

/* ---- create --------------------------------------------------------------------- */

static int dict_create(int argc, char **argv)
{
  const char *verb = "dict create";
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  bool fixed = false;
  cli_opt opts[] = {
      CLI_U64("--capacity", &o.capacity, 1, FERRY_DICT_MAX_CAPACITY),
      CLI_U64("--max-capacity", &o.max_capacity, 1, FERRY_DICT_MAX_CAPACITY),
      CLI_U32("--max-key", &o.max_key, 1, FERRY_DICT_MAX_KEY),
      CLI_U32("--max-value", &o.max_value, 1, FERRY_DICT_MAX_VALUE),
      CLI_FLAG("--fixed", &fixed),
      CLI_MODE(&o.region.mode),
  };
  const cli_spec spec = {verb, cli_help_dict, opts, 6, dict_args, 1, 1, CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  if (fixed)
    o.flags |= FERRY_DICT_FIXED;
  int rc = cli_check_capacity(verb, o.capacity, o.max_capacity, fixed);
  if (rc != CLI_OK)
    return rc;
  ferry_dict *d;
  if ((rc = ferry_dict_create(name, &o, &d)) != 0)
    return cli_create_failed(verb, rc, name, "capacity x entry size");
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
  return cli_status_of(rc);
}

/* What one of set, get, del and ls was given. */
struct dict_call {
  const char *verb;
  char **pos; /* the dict's name, then KEY and VALUE as the verb takes them */
  bool nx, json;
};

/* One of set, get, del and ls: its words, and what it does to the open
 * dict (returns an exit status). */
struct dict_verb {
  const char *verb;
  size_t nargs;       /* positionals: the name, then KEY, VALUE */
  bool takes_nx, takes_json;
  int (*act)(ferry_dict *d, const struct dict_call *c);
};

/* Parses the words by the verb's table, opens the dict, acts, closes. */
static int dict_run(const struct dict_verb *v, int argc, char **argv)
{
  struct dict_call c = {.verb = v->verb};
  cli_opt opts[2];
  size_t nopts = 0;
  if (v->takes_nx)
    opts[nopts++] = (cli_opt)CLI_FLAG("--nx", &c.nx);
  if (v->takes_json)
    opts[nopts++] = (cli_opt)CLI_JSON(&c.json);
  const cli_spec spec = {v->verb, cli_help_dict, opts, nopts, dict_args, v->nargs, v->nargs,
                         CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  c.pos = argv + 1;
  ferry_dict *d;
  int rc = open_dict(v->verb, c.pos[0], &d);
  if (rc != CLI_OK)
    return rc;
  rc = v->act(d, &c);
  ferry_dict_close(d);
  return rc;
}

static int act_set(ferry_dict *d, const struct dict_call *c)
{
  char **pos = c->pos;
  size_t vlen = strlen(pos[2]);
  /* The stripe's lock is held for microseconds; one whose holder died is
   * taken over: no timeout needed. */
  int rc = c->nx ? ferry_dict_set_nx(d, pos[1], strlen(pos[1]), pos[2], vlen, FERRY_FOREVER)
                 : ferry_dict_set(d, pos[1], strlen(pos[1]), pos[2], vlen, FERRY_FOREVER);
  return rc ? size_error(c->verb, rc, pos[0], pos[1], vlen, d) : CLI_OK;
}

static int act_get(ferry_dict *d, const struct dict_call *c)
{
  char **pos = c->pos;
  ferry_dict_stats s;
  int rc = ferry_dict_stats_get(d, &s);
  if (rc)
    return cli_object_error(c->verb, rc, pos[0], "dict");
  size_t cap = (size_t)s.max_value;
  char *buf = malloc(cap ? cap : 1);
  if (!buf)
    return cli_fail(c->verb, -ENOMEM, "%s", pos[0]);
  int status = CLI_OK;
  ssize_t len = ferry_dict_get(d, pos[1], strlen(pos[1]), buf, cap);
  if (len < 0) {
    status = size_error(c->verb, (int)len, pos[0], pos[1], 0, d);
  } else if (c->json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j);
    cli_json_bytes(&j, "key", pos[1], strlen(pos[1]));
    cli_json_bytes(&j, "value", buf, (size_t)len);
    cli_json_end(&j);
    cli_json_finish(&j);
  } else {
    fwrite(buf, 1, (size_t)len, stdout);
    putchar('\n');
  }
  free(buf);
  return status;
}

static int act_del(ferry_dict *d, const struct dict_call *c)
{
  int rc = ferry_dict_del(d, c->pos[1], strlen(c->pos[1]), FERRY_FOREVER);
  return rc ? size_error(c->verb, rc, c->pos[0], c->pos[1], 0, d) : CLI_OK;
}

/* ---- ls ---------------------------------------------------------------------------- */

static int act_ls(ferry_dict *d, const struct dict_call *c)
{
  const char *verb = c->verb;
  char **pos = c->pos;
  bool json = c->json;
  int rc;
  ferry_dict_stats s;
  if ((rc = ferry_dict_stats_get(d, &s)) != 0)
    return cli_object_error(verb, rc, pos[0], "dict");
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
      cli_json_bytes(&j, "key", k, klen);
      cli_json_bytes(&j, "value", v, vlen);
      cli_json_end(&j);
    } else {
      fwrite(k, 1, klen, stdout);
      putchar('\t');
      fwrite(v, 1, vlen, stdout);
      putchar('\n');
    }
  }
  if (!k || !v) {
    status = cli_fail(verb, -ENOMEM, "%s", pos[0]);
  } else if (rc < 0) {
    status = cli_object_error(verb, rc, pos[0], "dict");
  }
  if (json) {
    cli_json_end(&j);
    cli_json_finish(&j);
  }
  free(k);
  free(v);
  return status;
}


static int dict_set(int argc, char **argv)
{
  static const struct dict_verb v = {"dict set", 3, true, false, act_set};
  return dict_run(&v, argc, argv);
}

static int dict_get(int argc, char **argv)
{
  static const struct dict_verb v = {"dict get", 2, false, true, act_get};
  return dict_run(&v, argc, argv);
}

static int dict_del(int argc, char **argv)
{
  static const struct dict_verb v = {"dict del", 2, false, false, act_del};
  return dict_run(&v, argc, argv);
}

static int dict_ls(int argc, char **argv)
{
  static const struct dict_verb v = {"dict ls", 1, false, true, act_ls};
  return dict_run(&v, argc, argv);
}

const cli_command cmd_dict_subs[CMD_DICT_NSUBS] = {
    {.name = "create", .run = dict_create, .help = cli_help_dict},
    {.name = "set", .run = dict_set, .help = cli_help_dict},
    {.name = "get", .run = dict_get, .help = cli_help_dict},
    {.name = "del", .run = dict_del, .help = cli_help_dict},
    {.name = "ls", .run = dict_ls, .help = cli_help_dict},
};
