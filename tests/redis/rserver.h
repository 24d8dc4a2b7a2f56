/* SPDX-License-Identifier: MIT */
/*
 * rserver.h: a private redis-server for one test binary. It listens on a
 * Unix socket in a fresh temporary directory (no TCP port, nothing else on
 * the network), is stopped and removed at exit, and can be killed and
 * restarted on the same data (with AOF) to test reconnection.
 *
 * When redis-server is not installed, rs_start() returns -1 and the binary
 * should skip (exit FT_SKIP_CODE): such a run does not count as passed.
 */
#ifndef FERRY_TEST_RSERVER_H
#define FERRY_TEST_RSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rs_server {
  char dir[256];   /* its directory (socket, logs, AOF) */
  char sock[300];  /* the socket's path */
  pid_t pid;       /* 0 when stopped */
  bool aof;        /* append-only file, fsync on every write */
};

/* Starts a server (aof: durable across a kill -9). 0, or -1 if
 * redis-server is missing or did not come up within 10 s. */
int rs_start(struct rs_server *s, bool aof);
/* Starts it again on the same directory and data. */
int rs_restart(struct rs_server *s);
/* SIGKILL and reap (the data stays). */
void rs_kill(struct rs_server *s);
/* Stops it and removes its directory. */
void rs_stop(struct rs_server *s);

/* "unix://<sock>/<name>" into buf. */
const char *rs_url(const struct rs_server *s, char *buf, size_t cap, const char *name);

/* Runs one command (argv, NULL-terminated) on the server with hiredis;
 * returns the reply's integer value, or -1 on any error; strings that hold
 * an integer count too. For the tests' own checks of the server state. */
long long rs_int(const struct rs_server *s, const char *const *argv);

/* Runs one command and returns the length of its array reply, or -1. */
long long rs_array_len(const struct rs_server *s, const char *const *argv);

/* The number of keys in the server. */
long long rs_dbsize(const struct rs_server *s);

/* The server's used memory in bytes (INFO memory), or -1. */
long long rs_used_memory(const struct rs_server *s);

/* Calls of command `cmd` (lower case, e.g. "evalsha") the server has
 * served so far (INFO commandstats), or -1. */
long long rs_calls(const struct rs_server *s, const char *cmd);

/* Skips the whole binary (exit FT_SKIP_CODE) if no server can start;
 * otherwise starts `s` and registers its stop at exit. */
void rs_require(struct rs_server *s, bool aof);

#endif /* FERRY_TEST_RSERVER_H */
