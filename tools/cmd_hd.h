/*
 * cmd_hd.h: entry points and help texts of the heap and dict verbs, `ferry
 * demo heap` and `ferry bench heap|dict` (tools/cmd_heap.c, cmd_dict.c,
 * demo_heap.c, bench_hd.c). Kept apart from cli.h while that file has
 * another owner; main.c, cmd_demo.c and bench.c include it to dispatch.
 */
#ifndef FERRY_TOOLS_CMD_HD_H
#define FERRY_TOOLS_CMD_HD_H

/* argv[0] is the verb ("heap", "dict"); returns an exit status. */
int cmd_heap(int argc, char **argv);
int cmd_dict(int argc, char **argv);
extern const char cli_help_heap[];
extern const char cli_help_dict[];

/* `ferry demo heap [options]`: argv[0] is "heap". */
int ferry_tool_demo_heap(int argc, char **argv);
extern const char cli_help_demo_heap[];

/* `ferry bench heap|dict [options]`: argv[0] is "heap" or "dict". */
int ferry_tool_bench_heap(int argc, char **argv);
int ferry_tool_bench_dict(int argc, char **argv);
extern const char cli_help_bench_hd[];

#endif /* FERRY_TOOLS_CMD_HD_H */
