/* SPDX-License-Identifier: MIT */
/*
 * main.c: the `ferry` command's entry point: its table of commands. The
 * dispatcher (cli_main(), tools/lib/cli.c) answers --help, -V and `help
 * VERB [SUBVERB]` and hands the remaining words to the verb. `ferry bench`
 * and `ferry demo` are separate programs, ferry-bench and ferry-demo,
 * found next to this one: the benchmark lab and the demonstrations are
 * built with the sources and not installed.
 */
#include "cli.h"
#include "verbs.h"

static const char help_main[] =
    "usage: ferry <command> [options]\n"
    "\n"
    "Inspect and manage ferry's shared-memory regions (/dev/shm/ferry.*), use\n"
    "its objects from the shell, and watch them live.\n"
    "\n"
    "Commands:\n"
    "  ls      list regions with their status (active, idle, orphaned, ...)\n"
    "  info    show one region: header, participants and statistics\n"
    "  top     a live view of every region: rates, depths, waiters, the dead\n"
    "  rm      remove regions by name\n"
    "  gc      remove regions left behind by processes that died\n"
    "  array   create an array region\n"
    "  queue   create, put to, get from and shut down a queue\n"
    "  heap    create, push to, pop from and peek at a shared heap\n"
    "  dict    create, set, get, delete and list a shared dict\n"
    "  demo    one producer hands large arrays to N consumers on the bus\n"
    "          ('ferry demo heap': workers share a heap); built with the\n"
    "          sources as ferry-demo\n"
    "  bench   measure ferry against its peers; built with the sources as\n"
    "          ferry-bench\n"
    "  help    show the help of a command: 'ferry help queue put'\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  -V, --version  show ferry's version\n"
    "\n"
    "Exit status, the same for every command: 0 done, 1 an operation failed,\n"
    "2 bad command line, 3 the stream ended, 4 timed out or empty, 5 no such\n"
    "region or key.\n"
    "Errors are one line on stderr: ferry: <command>: <what>: <reason>\n";

static const cli_command commands[] = {
    {.name = "ls", .run = cmd_ls, .help = cli_help_ls},
    {.name = "info", .run = cmd_info, .help = cli_help_info},
    {.name = "top", .run = cmd_top, .help = cli_help_top},
    {.name = "rm", .run = cmd_rm, .help = cli_help_rm},
    {.name = "gc", .run = cmd_gc, .help = cli_help_gc},
    {.name = "array", .help = cli_help_array, .subs = cmd_array_subs, .nsubs = CMD_ARRAY_NSUBS},
    {.name = "queue", .help = cli_help_queue, .subs = cmd_queue_subs, .nsubs = CMD_QUEUE_NSUBS},
    {.name = "heap", .help = cli_help_heap, .subs = cmd_heap_subs, .nsubs = CMD_HEAP_NSUBS},
    {.name = "dict", .help = cli_help_dict, .subs = cmd_dict_subs, .nsubs = CMD_DICT_NSUBS},
    {.name = "demo", .program = "ferry-demo"},
    {.name = "bench", .program = "ferry-bench"},
};

int main(int argc, char **argv)
{
  static const cli_program ferry = {
      .name = "ferry",
      .help = help_main,
      .cmds = commands,
      .ncmds = sizeof commands / sizeof commands[0],
  };
  return cli_main(&ferry, argc, argv);
}
