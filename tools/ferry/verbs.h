/* SPDX-License-Identifier: MIT */
/*
 * verbs.h: the verbs of the `ferry` command (tools/ferry/cmd_*.c): their
 * entry points and help texts, for main.c's command table. Each entry
 * point gets argv with argv[0] = its own name and returns an exit status
 * (cli.h).
 */
#ifndef FERRY_TOOLS_VERBS_H
#define FERRY_TOOLS_VERBS_H

#include "cli.h"

/* Regions of any kind (cmd_region.c). */
int cmd_ls(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);
extern const char cli_help_ls[], cli_help_info[], cli_help_rm[], cli_help_gc[];

/* The live view (cmd_top.c). */
int cmd_top(int argc, char **argv);
extern const char cli_help_top[];

/* Object families: each has a table of subcommands, of the size given
 * here (each cmd_*.c checks its table against it). */
#define CMD_ARRAY_NSUBS 1
#define CMD_QUEUE_NSUBS 4
#define CMD_HEAP_NSUBS 4
#define CMD_DICT_NSUBS 5
extern const cli_command cmd_array_subs[CMD_ARRAY_NSUBS], cmd_queue_subs[CMD_QUEUE_NSUBS],
    cmd_heap_subs[CMD_HEAP_NSUBS], cmd_dict_subs[CMD_DICT_NSUBS];
extern const char cli_help_array[], cli_help_queue[], cli_help_heap[], cli_help_dict[];

#endif /* FERRY_TOOLS_VERBS_H */
