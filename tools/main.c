/*
 * main.c: the `ferry` command's entry point. It only dispatches: finds the
 * verb, answers --help, --version and `help VERB`, and hands the remaining
 * words to the verb (cmd_*.c), whose return value is the exit status.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "cmd_hd.h"

static const char help_main[] =
    "usage: ferry <command> [options]\n"
    "\n"
    "Inspect and manage ferry's shared-memory regions (/dev/shm/ferry.*), and\n"
    "run a demonstration of sharing arrays between processes.\n"
    "\n"
    "Commands:\n"
    "  ls      list regions with their status (active, idle, orphaned, ...)\n"
    "  info    show one region: header, participants, arrays\n"
    "  rm      remove regions by name\n"
    "  gc      remove regions left behind by processes that died\n"
    "  array   create an array region ('ferry array create')\n"
    "  queue   create, put to, get from and shut down a queue\n"
    "  heap    create, push to, pop from and peek at a shared heap\n"
    "  dict    create, set, get, delete and list a shared dict\n"
    "  pool    run tasks from stdin on N persistent workers (like GNU parallel)\n"
    "  demo    seed 000 on the bus: one producer, N consumers (demo heap: seed 003)\n"
    "  bench   measure ferry's queue, pipe, bus, heap and dict against their peers\n"
    "  help    show the help of a command\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n"
    "  --version    show the version\n"
    "\n"
    "Exit status: 0 success, 1 an operation failed, 2 bad command line.\n"
    "Errors are one line on stderr: ferry: <command>: <what>: <reason>\n"
    "Run 'ferry help <command>' for the options of a command.\n";

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
};

static const struct command commands[] = {
    {"ls", cmd_ls, cli_help_ls},       {"info", cmd_info, cli_help_info},
    {"rm", cmd_rm, cli_help_rm},       {"gc", cmd_gc, cli_help_gc},
    {"array", cmd_array, cli_help_array}, {"queue", cmd_queue, cli_help_queue},
    {"heap", cmd_heap, cli_help_heap},    {"dict", cmd_dict, cli_help_dict},
    {"demo", cmd_demo, cli_help_demo},    {"pool", cmd_pool, cli_help_pool},
    {"bench", ferry_tool_bench, cli_help_bench},
};

static const struct command *find(const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static int help(int argc, char **argv)
{
  if (argc == 1)
    return cli_print_help(help_main);
  /* "ferry help array create" names the one subcommand there is; "ferry
   * help queue put" any of the queue's (they share one help text). */
  bool sub = argc == 3 && ((strcmp(argv[1], "array") == 0 && strcmp(argv[2], "create") == 0) ||
                           (strcmp(argv[1], "queue") == 0 &&
                            (strcmp(argv[2], "create") == 0 || strcmp(argv[2], "put") == 0 ||
                             strcmp(argv[2], "get") == 0 || strcmp(argv[2], "shutdown") == 0)));
  if (argc > 2 && !sub)
    return cli_usage_error("help", "unexpected argument '%s'", argv[2]);
  if (strcmp(argv[1], "help") == 0)
    return cli_print_help(help_main);
  const struct command *c = find(argv[1]);
  if (!c)
    return cli_usage_error("help", "unknown command '%s' (see 'ferry --help')", argv[1]);
  return cli_print_help(c->help);
}

int main(int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error(NULL, "missing command (see 'ferry --help')");
  const char *verb = argv[1];
  if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
    return argc == 2 ? cli_print_help(help_main)
                     : cli_usage_error(NULL, "unexpected argument '%s'", argv[2]);
  if (strcmp(verb, "--version") == 0) {
    if (argc > 2)
      return cli_usage_error(NULL, "unexpected argument '%s'", argv[2]);
    printf("ferry %s\n", CLI_VERSION);
    return CLI_OK;
  }
  if (strcmp(verb, "help") == 0)
    return help(argc - 1, argv + 1);
  if (verb[0] == '-')
    return cli_usage_error(NULL, "unknown option '%s' (see 'ferry --help')", verb);
  const struct command *c = find(verb);
  if (!c)
    return cli_usage_error(verb, "unknown command (see 'ferry --help')");
  int rc = c->run(argc - 1, argv + 1);
  /* A full disk or a closed pipe on stdout is a failure, not a success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (rc == CLI_OK) {
      cli_error(verb, -EIO, "writing the output");
      rc = CLI_FAIL;
    }
  }
  return rc;
}
