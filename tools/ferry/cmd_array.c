/* SPDX-License-Identifier: MIT */
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
#include "verbs.h"

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

static int add_spec(void *ctx, const char *text)
{
  struct specs *s = ctx;
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
  ferry_array_options o;
  ferry_array_options_init(&o);
  bool keep = false, unlink_last = false;
  int rc;
  cli_opt opts[] = {
      CLI_CALL("--array", add_spec, &s),
      CLI_MODE(&o.region.mode),
      CLI_FLAG("--unlink-on-last-close", &unlink_last),
      CLI_FLAG("--hold", &keep),
  };
  static const char *const args[] = {"region name"};
  const cli_spec spec = {VERB, cli_help_array, opts, 4, args, 1, 1, CLI_ARG_REGION};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  if (s.n == 0)
    return cli_usage_error(VERB, "no --array given (see 'ferry help array create')");
  if (unlink_last)
    o.region.flags |= FERRY_REGION_UNLINK_ON_LAST_CLOSE;

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
    if (keep)
      sigprocmask(SIG_SETMASK, &old, NULL);
    return cli_create_failed(VERB, rc, name, "the arrays' size");
  }
  if (keep)
    hold(&set, name);
  ferry_array_close(arr);
  if (keep)
    sigprocmask(SIG_SETMASK, &old, NULL);
  return CLI_OK;
}

const cli_command cmd_array_subs[CMD_ARRAY_NSUBS] = {
    {.name = "create", .run = array_create, .help = cli_help_array},
};
