/* SPDX-License-Identifier: MIT */
/*
 * cmd_redis.h: the ferry command on Redis names (tools/cmd_redis.c).
 */
#ifndef FERRY_TOOLS_CMD_REDIS_H
#define FERRY_TOOLS_CMD_REDIS_H

#include <stdbool.h>

/* 0 if name is a valid region name or Redis name, else -EINVAL. */
int cli_object_name_valid(const char *name);

/* `ferry ls redis://HOST[:PORT]` (or unix:///path.sock): the ferry objects
 * on that server. */
int cli_redis_ls(const char *server, bool json);

/* `ferry info redis://HOST/NAME`: kind, settings and counters. */
int cli_redis_info(const char *name, bool json);

#endif /* FERRY_TOOLS_CMD_REDIS_H */
