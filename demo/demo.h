/* SPDX-License-Identifier: MIT */
/*
 * demo.h: the demonstrations of ferry-demo (`ferry demo ...`): their entry
 * points and help texts. argv[0] is the demo's own name; each returns an
 * exit status (cli.h).
 */
#ifndef FERRY_DEMO_H
#define FERRY_DEMO_H

/* Large arrays from one producer to N consumers on the bus (bus.c). */
int demo_bus(int argc, char **argv);
extern const char cli_help_demo[];

/* A refreshed priority heap shared by worker processes (heap.c). */
int demo_heap(int argc, char **argv);
extern const char cli_help_demo_heap[];

#endif /* FERRY_DEMO_H */
