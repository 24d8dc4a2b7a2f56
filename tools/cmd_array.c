/*
 * cmd_array.c: `ferry array create`, which makes an array region from
 * command-line specs ("frame:f32:1000x1000"). Without --hold the creator
 * closes at once and the region stays behind as an idle named object,
 * ready for other processes to open by name. --hold keeps it attached
 * until a signal: the way tests (and curious users) make an active region,
 * and, with SIGKILL, an orphaned one.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char cli_help_array[] =
    "usage: ferry array create NAME --array NAME:DTYPE[:SHAPE] [--array ...]\n"
    "                          [--mode OCTAL] [--unlink-on-last-close] [--hold]\n"
    "\n"
    "Create array region NAME holding the given arrays, in the order given,\n"
    "filled with zeros. Any process can then open it by name and gets every\n"
    "array's dtype, shape and offset from the region itself. The region stays\n"
    "after this command exits, as an idle named object, until 'ferry rm NAME'\n"
    "(or 'ferry gc --idle').\n"
    "\n"
    "  DTYPE  bool, i8, i16, i32, i64, u8, u16, u32, u64, f16, f32, f64, c64,\n"
    "         c128; numpy's names (float32, uint8, ...) and this host's\n"
    "         typestrs (<f4, |u1, ...) work too\n"
    "  SHAPE  1 to 8 dimensions separated by 'x' or ',' (480x640x3); leave it\n"
    "         out for a scalar. A dimension may be 0.\n"
    "\n"
    "Options:\n"
    "  --array SPEC            one array (repeat for more: 1 to 64 arrays)\n"
    "  --mode OCTAL            permission bits of the region (default 600)\n"
    "  --unlink-on-last-close  remove the region when its last participant\n"
    "                          closes: at once, unless --hold is given\n"
    "  --hold                  testing aid: stay attached until a signal. On\n"
    "                          SIGINT, SIGTERM or SIGHUP, close cleanly and\n"
    "                          exit 0; a SIGKILL leaves the region orphaned,\n"
    "                          as any crash would ('ferry gc' removes it)\n"
    "  -h, --help\n"
    "\n"
    "Example:\n"
    "  ferry array create batch --array frame:f32:1000x1000 --array seq:u64\n";

#define VERB "array create"

/* The specs and the storage their names point into. */
struct specs {
  ferry_array_spec spec[FERRY_ARRAY_MAX_COUNT];
  char names[FERRY_ARRAY_MAX_COUNT][FERRY_ARRAY_NAME_MAX + 1];
  size_t n;
};

static int add_spec(struct specs *s, const char *text)
{
  if (s->n == FERRY_ARRAY_MAX_COUNT)
    return cli_usage_error(VERB, "more than %d arrays", FERRY_ARRAY_MAX_COUNT);
  int rc = ferry_array_parse_spec(text, &s->spec[s->n], s->names[s->n], sizeof s->names[0]);
  if (rc) {
    cli_error(VERB, rc, "bad array spec '%s' (want NAME:DTYPE[:SHAPE], e.g. frame:f32:480x640)",
              text);
    return CLI_USAGE;
  }
  /* The library refuses duplicates too, but only as a bare -EINVAL. */
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->names[i], s->names[s->n]) == 0)
      return cli_usage_error(VERB, "array '%s' given twice", s->names[i]);
  s->n++;
  return CLI_OK;
}

static bool parse_mode(const char *s, uint32_t *mode)
{
  if (!*s || strlen(s) > 4)
    return false;
  uint32_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '7')
      return false;
    v = v * 8 + (uint32_t)(*p - '0');
  }
  /* Permission bits only: setuid and friends mean nothing on shm. */
  if (v > 0777)
    return false;
  *mode = v;
  return true;
}

/* Waits for a terminating signal; they are blocked, so none is lost. */
static void hold(const sigset_t *set, const char *name)
{
  printf("%s: held by pid %ld until SIGTERM\n", name, (long)getpid());
  fflush(stdout);
  int sig;
  while (sigwait(set, &sig) != 0)
    ;
}

static int array_create(int argc, char **argv)
{
  struct specs s;
  memset(&s, 0, sizeof s);
  const char *name = NULL, *value;
  ferry_array_options o;
  ferry_array_options_init(&o);
  bool keep = false;
  int rc;
  cli_args a;
  cli_args_init(&a, VERB, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_array);
    } else if ((rc = cli_args_value(&a, "--array", &value)) != 0) {
      if (rc < 0 || (rc = add_spec(&s, value)) != CLI_OK)
        return CLI_USAGE;
    } else if ((rc = cli_args_value(&a, "--mode", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!parse_mode(value, &o.region.mode))
        return cli_usage_error(VERB, "bad --mode '%s' (want octal permission bits, e.g. 640)",
                               value);
    } else if (cli_args_flag(&a, "--unlink-on-last-close")) {
      o.region.flags |= FERRY_REGION_UNLINK_ON_LAST_CLOSE;
    } else if (cli_args_flag(&a, "--hold")) {
      keep = true;
    } else if (cli_args_positional(&a) && !name) {
      name = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (!name)
    return cli_usage_error(VERB, "missing region name (see 'ferry help array')");
  if (ferry_name_valid(name) != 0)
    return cli_usage_error(VERB, "'%s': bad region name", name);
  if (s.n == 0)
    return cli_usage_error(VERB, "no --array given (see 'ferry help array')");

  /* Blocked before the region exists, so a signal sent as soon as it
   * appears is still seen by sigwait() and ends in a clean close. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (keep)
    sigprocmask(SIG_BLOCK, &set, &old);
  ferry_arrays *arr;
  rc = ferry_array_create(name, s.spec, s.n, &o, &arr);
  if (rc) {
    if (rc == -EOVERFLOW)
      cli_error(VERB, rc, "%s: the arrays are too large", name);
    else
      cli_error(VERB, rc, "%s", name);
    return CLI_FAIL;
  }
  if (keep)
    hold(&set, name);
  ferry_array_close(arr);
  if (keep)
    sigprocmask(SIG_SETMASK, &old, NULL);
  return CLI_OK;
}

int cmd_array(int argc, char **argv)
{
  static const cli_sub subs[] = {
      {"create", array_create},
  };
  return cli_dispatch("array", cli_help_array, subs, sizeof subs / sizeof subs[0], argc, argv);
}
