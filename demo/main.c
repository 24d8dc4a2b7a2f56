/* SPDX-License-Identifier: MIT */
/*
 * main.c: ferry-demo, the demonstrations that `ferry demo` runs: `ferry
 * demo [bus]` hands large arrays from one producer to N consumers on the
 * broadcast bus, `ferry demo heap` shares a refreshed priority heap among
 * workers. Built with the sources, not installed: `ferry` finds this
 * program next to itself.
 */
#include "cli.h"
#include "demo.h"

static const cli_command demos[] = {
    {.name = "bus", .run = demo_bus, .help = cli_help_demo},
    {.name = "heap", .run = demo_heap, .help = cli_help_demo_heap},
};

int main(int argc, char **argv)
{
  static const cli_program demo = {
      .name = "ferry demo",
      .help = cli_help_demo,
      .cmds = demos,
      .ncmds = sizeof demos / sizeof demos[0],
      .default_cmd = "bus",
  };
  return cli_main(&demo, argc, argv);
}
