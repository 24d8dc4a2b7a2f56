/* SPDX-License-Identifier: MIT */
/*
 * scripts.c: the Lua scripts that make each operation of the Redis backend
 * one atomic step on the server. docs/design/redis.md describes the keys
 * they touch and the claims they uphold; the tags in [brackets] refer to
 * it. Every script:
 *   - takes the object's meta key as KEYS[1] ("ferry:{NAME}:meta") and
 *     derives the other keys of the same object from it (same hash slot,
 *     thanks to the {NAME} tag);
 *   - checks that the object exists and is of the expected kind first, and
 *     fails with "FERRY ENOENT" / "FERRY EKIND" otherwise, changing nothing;
 *   - reads time from the server (TIME), never from a client, so that
 *     leases and presence do not depend on clients' clocks [redis-clock];
 *   - returns errors as "FERRY <ERRNO NAME>" (rconn.c maps them).
 * Numbers written back are formatted with %.0f: Lua 5.1's numbers are
 * doubles, exact up to 2^53, and tostring() would switch to exponents.
 */
#include "rconn.h"

#define LUA_HEAD                                                                          \
  "local meta = KEYS[1]\n"                                                                \
  "local p = string.sub(meta, 1, -5)\n"                                                   \
  "local now_ms\n"                                                                        \
  "local function now()\n"                                                                \
  "  if not now_ms then\n"                                                                \
  "    local t = redis.call('TIME')\n"                                                    \
  "    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"              \
  "  end\n"                                                                               \
  "  return now_ms\n"                                                                     \
  "end\n"                                                                                 \
  "local function num(x) return string.format('%.0f', x) end\n"                          \
  "local function fail(code) return redis.error_reply('FERRY ' .. code) end\n"

/* Stops the script unless the object exists with kind k. */
#define LUA_KIND(k)                                                                       \
  "local kind = redis.call('HGET', meta, 'kind')\n"                                       \
  "if kind ~= '" k "' then return fail(kind and 'EKIND' or 'ENOENT') end\n"

/* Refreshes the presence of handle `id` in its roles: p producer, c
 * consumer (queue), P publisher, s subscriber (bus) [redis-presence]. */
#define LUA_PRESENCE                                                                      \
  "local function presence(roles, id, live)\n"                                            \
  "  local exp = num(now() + live)\n"                                                       \
  "  if string.find(roles, 'p', 1, true) then redis.call('ZADD', p..'prod', exp, 'p'..id) end\n" \
  "  if string.find(roles, 'c', 1, true) then redis.call('ZADD', p..'cons', exp, 'c'..id) end\n" \
  "  if string.find(roles, 'P', 1, true) then redis.call('HSET', meta, 'pub_exp', exp) end\n" \
  "  if string.find(roles, 's', 1, true) then redis.call('ZADD', p..'subs', exp, 's'..id) end\n" \
  "end\n"

/* Every suffix an object may use: create clears them, unlink deletes them. */
#define LUA_SUFFIXES                                                                      \
  "local suffixes = {'q', 'l', 'dead', 'prod', 'cons', 'pseq', 'rc', 'z', 'fl', 'flr', "  \
  "'flo', 'ev', 'h', 's', 'subs', 'cur', 'rel'}\n"

/* 8-byte big-endian encoding of a non-negative integer below 2^53. */
#define LUA_BE64                                                                          \
  "local function be64(x)\n"                                                              \
  "  local b = {}\n"                                                                      \
  "  for i = 8, 1, -1 do b[i] = x % 256; x = math.floor(x / 256) end\n"                   \
  "  return string.char(unpack(b))\n"                                                     \
  "end\n"

/* ---- every object --------------------------------------------------------- */

/* CREATE: ARGV[1] kind, then field/value pairs for the meta hash. */
static const char s_create[] =
    LUA_HEAD LUA_SUFFIXES
    "if redis.call('EXISTS', meta) == 1 then return fail('EEXIST') end\n"
    "for _, s in ipairs(suffixes) do redis.call('DEL', p..s) end\n"
    "redis.call('HSET', meta, 'kind', ARGV[1], 'layout', '1', 'created_ms', num(now()), 'ids', '0',\n"
    "           'seq', '0', 'shutdown', '0')\n"
    "for i = 2, #ARGV - 1, 2 do redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end\n"
    "if ARGV[1] == 'queue' and redis.call('HGET', meta, 'mode') == 'stream' then\n"
    "  redis.call('XGROUP', 'CREATE', p..'q', 'g', '$', 'MKSTREAM')\n"
    "end\n"
    "return 1\n";

/* OPEN: ARGV[1] kind, ARGV[2] roles. Gives the handle a fresh id, registers
 * its presence, and returns {id, meta field, value, ...}. A subscriber
 * starts at the next frame published [bus-join]. */
static const char s_open[] =
    LUA_HEAD LUA_PRESENCE
    "local kind = redis.call('HGET', meta, 'kind')\n"
    "if not kind then return fail('ENOENT') end\n"
    "if kind ~= ARGV[1] then return fail('EKIND') end\n"
    "if redis.call('HGET', meta, 'layout') ~= '1' then return fail('EVERSION') end\n"
    "local live = tonumber(redis.call('HGET', meta, 'live_ms') or '')\n"
    "if not live or live < 1 then return fail('ECORRUPT') end\n"
    "local roles = ARGV[2]\n"
    "local id = redis.call('HINCRBY', meta, 'ids', 1)\n"
    "if string.find(roles, 's', 1, true) then\n"
    "  local m = redis.call('HMGET', meta, 'shutdown', 'pub_exp', 'max_subs', 'seq')\n"
    "  if m[1] == '1' or tonumber(m[2] or '0') < now() then return fail('EPIPE') end\n"
    "  for _, s in ipairs(redis.call('ZRANGEBYSCORE', p..'subs', '-inf', num(now()))) do\n"
    "    redis.call('ZREM', p..'subs', s); redis.call('HDEL', p..'cur', s)\n"
    "  end\n"
    "  if redis.call('ZCARD', p..'subs') >= tonumber(m[3] or '0') then return fail('EUSERS') end\n"
    "  redis.call('HSET', p..'cur', 's'..id, m[4])\n"
    "end\n"
    "if string.find(roles, 'p', 1, true) then redis.call('HSET', meta, 'producers_ever', '1') end\n"
    "presence(roles, id, live)\n"
    "local out = {id}\n"
    "for _, v in ipairs(redis.call('HGETALL', meta)) do out[#out + 1] = v end\n"
    "return out\n";

/* UNLINK: deletes every key of the object. */
static const char s_unlink[] =
    LUA_HEAD LUA_SUFFIXES
    "if redis.call('EXISTS', meta) == 0 then return fail('ENOENT') end\n"
    "redis.call('DEL', meta)\n"
    "for _, s in ipairs(suffixes) do redis.call('DEL', p..s) end\n"
    "return 1\n";

/* PRESENCE: ARGV[1] kind, ARGV[2] roles, ARGV[3] id. The keeper's
 * heartbeat for handles that hold no lease. */
static const char s_presence[] =
    LUA_HEAD LUA_PRESENCE
    "local kind = redis.call('HGET', meta, 'kind')\n"
    "if kind ~= ARGV[1] then return fail(kind and 'EKIND' or 'ENOENT') end\n"
    "presence(ARGV[2], ARGV[3], tonumber(redis.call('HGET', meta, 'live_ms')))\n"
    "return 1\n";

/* Gives back the messages ARGV[i0..] (pairs: id, deliveries before this
 * consumer's), which consumer `me` took but never handed out [queue-give]:
 * claimable at once (idle time set past the lease, the sweep's pacing
 * lifted), with the delivery nobody saw taken off their count. A message
 * `me` no longer owns (its lease ran out) is left to its new owner. */
#define LUA_GIVE                                                                          \
  "local function give(me, i0)\n"                                                        \
  "  if #ARGV < i0 + 1 then return end\n"                                                \
  "  local idle = num(tonumber(redis.call('HGET', meta, 'lease_ms')) + 1000)\n"          \
  "  for i = i0, #ARGV - 1, 2 do\n"                                                      \
  "    if redis.call('XPENDING', p..'q', 'g', ARGV[i], ARGV[i], 1, me)[1] then\n"       \
  "      redis.call('XCLAIM', p..'q', 'g', me, 0, ARGV[i], 'IDLE', idle,\n"              \
  "        'RETRYCOUNT', ARGV[i + 1], 'JUSTID')\n"                                       \
  "    end\n"                                                                            \
  "  end\n"                                                                              \
  "  redis.call('DEL', p..'rc')\n"                                                       \
  "end\n"

/* LEAVE: ARGV[1] roles, ARGV[2] id, ARGV[3..] messages a queue consumer
 * took but never handed out, given back (LUA_GIVE's pairs). A clean
 * close: the handle's presence goes, and so does its consumer in the group
 * once it holds nothing. */
static const char s_leave[] =
    LUA_HEAD LUA_GIVE
    "if redis.call('EXISTS', meta) == 0 then return 0 end\n"
    "local roles, id = ARGV[1], ARGV[2]\n"
    "if string.find(roles, 'p', 1, true) then\n"
    "  redis.call('ZREM', p..'prod', 'p'..id); redis.call('HDEL', p..'pseq', 'p'..id)\n"
    "end\n"
    "if string.find(roles, 'c', 1, true) then\n"
    "  redis.call('ZREM', p..'cons', 'c'..id)\n"
    "  give('c'..id, 3)\n"
    "  if redis.call('HGET', meta, 'mode') == 'stream' and\n"
    "     #redis.call('XPENDING', p..'q', 'g', '-', '+', 1, 'c'..id) == 0 then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', p..'q', 'g', 'c'..id)\n"
    "  end\n"
    "end\n"
    "if string.find(roles, 'P', 1, true) then\n"
    "  redis.call('HSET', meta, 'shutdown', '1', 'pub_exp', '0')\n"
    "end\n"
    "if string.find(roles, 's', 1, true) then\n"
    "  redis.call('ZREM', p..'subs', 's'..id); redis.call('HDEL', p..'cur', 's'..id)\n"
    "  if redis.call('HGET', meta, 'pub_waiting') == '1' then\n"
    "    redis.call('XADD', p..'rel', 'MAXLEN', 1, '*', 'x', '1')\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* SHUTDOWN: ARGV[1] kind. Ends the stream: later puts (publishes) fail
 * with EPIPE; takers drain, then get EPIPE. */
static const char s_shutdown[] =
    LUA_HEAD
    "local kind = redis.call('HGET', meta, 'kind')\n"
    "if kind ~= ARGV[1] then return fail(kind and 'EKIND' or 'ENOENT') end\n"
    "redis.call('HSET', meta, 'shutdown', '1')\n"
    "return 1\n";

/* ---- queue, stream mode (leases) --------------------------------------------- */

/* Q_PUT: ARGV[1] producer id, ARGV[2] the batch's first sequence number,
 * ARGV[3] '1' if the batch must follow the producer's last one without a
 * gap (the later batches of one call: if an earlier one did not fit, this
 * one adds nothing, so order holds), ARGV[4..] the messages. Idempotent
 * per (producer, sequence): a retry after a lost reply adds only what is
 * missing [queue-put-once]. Returns how many of the batch are in the queue
 * (those added before included); fewer when the queue is full. */
static const char s_q_put[] =
    LUA_HEAD LUA_KIND("queue")
    "local m = redis.call('HMGET', meta, 'shutdown', 'capacity')\n"
    "local pid, first, n = 'p'..ARGV[1], tonumber(ARGV[2]), #ARGV - 3\n"
    "local last = tonumber(redis.call('HGET', p..'pseq', pid) or '0')\n"
    "if ARGV[3] == '1' and last < first - 1 then return 0 end\n"
    "local skip = last - first + 1\n"
    "if skip < 0 then skip = 0 end\n"
    "if skip > n then skip = n end\n"
    "if skip == n then return n end\n"
    "if m[1] == '1' then\n"
    "  if skip > 0 then return skip end\n"
    "  return fail('EPIPE')\n"
    "end\n"
    "local q = p..'q'\n"
    "local k = tonumber(m[2]) - redis.call('XLEN', q)\n"
    "if k > n - skip then k = n - skip end\n"
    "if k <= 0 then return skip end\n"
    "for i = 1, k do redis.call('XADD', q, '*', 'd', ARGV[3 + skip + i]) end\n"
    "redis.call('HSET', p..'pseq', pid, num(first + skip + k - 1))\n"
    "redis.call('HINCRBY', meta, 'puts', k)\n"
    "return skip + k\n";

/* The end-of-stream test [queue-eos]: nothing left, neither waiting nor
 * held by anyone; and shut down, or producers once and none alive now.
 * Producers whose presence expired are removed here (and, for a stream,
 * in the reclaim sweep). */
#define LUA_DEAD_PRODUCERS                                                                \
  "local function dead_producers()\n"                                                     \
  "  for _, d in ipairs(redis.call('ZRANGEBYSCORE', p..'prod', '-inf', num(now()), 'LIMIT', 0, 64)) do\n" \
  "    redis.call('ZREM', p..'prod', d); redis.call('HDEL', p..'pseq', d)\n"             \
  "  end\n"                                                                               \
  "end\n"
#define LUA_EOS(lenexpr)                                                                  \
  LUA_DEAD_PRODUCERS                                                                      \
  "local function eos()\n"                                                                \
  "  if " lenexpr " ~= 0 then return 0 end\n"                                             \
  "  local m = redis.call('HMGET', meta, 'shutdown', 'producers_ever')\n"                 \
  "  dead_producers()\n"                                                                  \
  "  local ended = m[1] == '1' or (m[2] == '1' and redis.call('ZCARD', p..'prod') == 0)\n" \
  "  if ended then return 1 end\n"                                                        \
  "  return 0\n"                                                                          \
  "end\n"

/* Acknowledges ARGV[i0 .. i0+n-1] and deletes them [queue-flat]; top is the
 * highest of them (the client knows it for free: turning every id into
 * numbers in Lua costs more than the deletion). Deleting ids one by one
 * (XDEL) costs a search inside their stream node each; the stream is mostly
 * consumed in order, so the acknowledged prefix is cut instead by one exact
 * XTRIM MINID: every entry below the first one still needed (the first
 * pending, or else the first not yet delivered) is acknowledged or dead,
 * and goes. Only when some acknowledged id is at or above that point
 * (finished ahead of an older message still held) are the ids XDELed. An
 * unreadable top only costs the XDEL. */
#define LUA_QACK                                                                          \
  "local function sid(id)\n"                                                              \
  "  local a, b = string.match(id or '', '^(%d+)-(%d+)$')\n"                              \
  "  a, b = tonumber(a), tonumber(b)\n"                                                   \
  "  if not a or a >= 2^53 or b >= 2^53 then return nil end\n"                            \
  "  return {a, b}\n"                                                                     \
  "end\n"                                                                                 \
  "local function qack(q, i0, n, top)\n"                                                  \
  "  if n <= 0 then return 0 end\n"                                                       \
  "  local acked = redis.call('XACK', q, 'g', unpack(ARGV, i0, i0 + n - 1))\n"            \
  "  local lo\n"                                                                          \
  "  local pe = redis.call('XPENDING', q, 'g', '-', '+', 1)[1]\n"                         \
  "  if pe then\n"                                                                        \
  "    lo = sid(pe[1])\n"                                                                 \
  "  else\n"                                                                              \
  "    for _, g in ipairs(redis.call('XINFO', 'GROUPS', q)) do\n"                         \
  "      local f = {}\n"                                                                  \
  "      for i = 1, #g - 1, 2 do f[g[i]] = g[i + 1] end\n"                                \
  "      if f['name'] == 'g' then\n"                                                      \
  "        lo = sid(f['last-delivered-id'])\n"                                            \
  "        if lo then lo[2] = lo[2] + 1 end\n"                                            \
  "      end\n"                                                                           \
  "    end\n"                                                                             \
  "  end\n"                                                                               \
  "  if lo then redis.call('XTRIM', q, 'MINID', num(lo[1]) .. '-' .. num(lo[2])) end\n"  \
  "  local t = sid(top)\n"                                                                \
  "  if not lo or not t or t[1] > lo[1] or (t[1] == lo[1] and t[2] >= lo[2]) then\n"      \
  "    redis.call('XDEL', q, unpack(ARGV, i0, i0 + n - 1))\n"                             \
  "  end\n"                                                                               \
  "  return acked\n"                                                                      \
  "end\n"

/* Q_TAKE: ARGV[1] consumer id, ARGV[2] how many at most, ARGV[3] messages
 * this consumer read since its last script call by a plain XREADGROUP (for
 * the statistics), ARGV[4] the highest id acked, ARGV[5] how many acks
 * follow, then the ids to ack (the messages this consumer finished).
 * Acks, then reclaims expired leases (at most one sweep per period, or a
 * continuing one), dead-lettering messages delivered max_deliveries times
 * [queue-dlq]. Returns the reclaimed
 * messages {n, id, deliveries, data, ...}, or {0, eos}. New messages are
 * not read here: the client sends a plain XREADGROUP right behind this
 * script, in the same round trip [queue-take]; a script would pay for
 * turning every entry into Lua values and back. */
static const char s_q_take[] =
    LUA_HEAD LUA_KIND("queue") LUA_EOS("redis.call('XLEN', p..'q')") LUA_QACK
    "local q = p..'q'\n"
    "local me, want, read, na = 'c'..ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])\n"
    "qack(q, 6, na, ARGV[4])\n"
    "local out = {0}\n"
    "local st = redis.call('GET', p..'rc')\n"
    "if st ~= 'wait' then\n"
    "  local m = redis.call('HMGET', meta, 'lease_ms', 'max_deliveries')\n"
    "  local lease, maxd = tonumber(m[1]), tonumber(m[2])\n"
    "  local function field(e, f)\n"
    "    local kv = e[2]\n"
    "    if type(kv) ~= 'table' then return nil end\n"
    "    for i = 1, #kv - 1, 2 do if kv[i] == f then return kv[i + 1] end end\n"
    "    return nil\n"
    "  end\n"
    "  local r = redis.call('XAUTOCLAIM', q, 'g', me, lease, st or '0-0', 'COUNT', want)\n"
    "  local sweep = math.min(100, math.max(10, math.floor(lease / 20)))\n"
    "  if r[1] == '0-0' then redis.call('SET', p..'rc', 'wait', 'PX', sweep)\n"
    "  else redis.call('SET', p..'rc', r[1], 'PX', lease) end\n"
    "  for _, e in ipairs(r[2]) do\n"
    "    local id, d = e[1], field(e, 'd')\n"
    "    local pe = redis.call('XPENDING', q, 'g', id, id, 1)\n"
    "    local cnt = (pe[1] and tonumber(pe[1][4])) or 1\n"
    "    if d == nil then\n"
    "      redis.call('XACK', q, 'g', id); redis.call('XDEL', q, id)\n"
    "    elseif maxd > 0 and cnt > maxd then\n"
    "      redis.call('XADD', p..'dead', '*', 'd', d, 'id', id, 'deliveries', num(cnt - 1),\n"
    "        'reason', 'delivered ' .. num(cnt - 1) .. ' times without an ack (max_deliveries ' ..\n"
    "        num(maxd) .. '); last held by ' .. ((pe[1] and pe[1][2]) or '?'), 'at_ms', num(now()))\n"
    "      redis.call('XACK', q, 'g', id); redis.call('XDEL', q, id)\n"
    "      redis.call('HINCRBY', meta, 'dead', 1)\n"
    "    else\n"
    "      out[#out + 1] = id; out[#out + 1] = cnt; out[#out + 1] = d\n"
    "      out[1] = out[1] + 1\n"
    "    end\n"
    "  end\n"
    "  if out[1] > 0 then redis.call('HINCRBY', meta, 'reclaimed', out[1]) end\n"
    "  for _, c in ipairs(redis.call('ZRANGEBYSCORE', p..'cons', '-inf', num(now()), 'LIMIT', 0, 16)) do\n"
    "    if #redis.call('XPENDING', q, 'g', '-', '+', 1, c) == 0 then\n"
    "      redis.call('XGROUP', 'DELCONSUMER', q, 'g', c); redis.call('ZREM', p..'cons', c)\n"
    "    end\n"
    "  end\n"
    "  dead_producers()\n"
    "end\n"
    "if read + out[1] > 0 then redis.call('HINCRBY', meta, 'gets', read + out[1]) end\n"
    "if out[1] > 0 then return out end\n"
    "return {0, eos()}\n";

/* Q_GIVE: ARGV[1] consumer id, ARGV[2..] LUA_GIVE's pairs: the part of a
 * take beyond what was asked for [queue-give]. */
static const char s_q_give[] =
    LUA_HEAD LUA_KIND("queue") LUA_GIVE
    "give('c'..ARGV[1], 2)\n"
    "return 1\n";

/* Q_ACK: ARGV[1] messages read by a plain XREADGROUP since the handle's
 * last script call (for the statistics), ARGV[2] the highest id acked, then
 * ids: the messages are done: acknowledged and deleted, so the stream does
 * not grow [queue-flat]. */
static const char s_q_ack[] =
    LUA_HEAD LUA_KIND("queue") LUA_QACK
    "local read = tonumber(ARGV[1])\n"
    "if read > 0 then redis.call('HINCRBY', meta, 'gets', read) end\n"
    "return qack(p..'q', 3, #ARGV - 2, ARGV[2])\n";

/* Q_RENEW: ARGV[1] roles, ARGV[2] id, ARGV[3..] ids held. The keeper's
 * renewal [queue-renew]: a held message's lease restarts only if this
 * consumer still owns it; ids it no longer owns are returned (lost
 * leases). Also refreshes the handle's presence. */
static const char s_q_renew[] =
    LUA_HEAD LUA_KIND("queue") LUA_PRESENCE
    "presence(ARGV[1], ARGV[2], tonumber(redis.call('HGET', meta, 'live_ms')))\n"
    "local q, me, lost = p..'q', 'c'..ARGV[2], {}\n"
    "for i = 3, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  if #redis.call('XPENDING', q, 'g', id, id, 1, me) == 1 then\n"
    "    redis.call('XCLAIM', q, 'g', me, 0, id, 'JUSTID')\n"
    "  else\n"
    "    lost[#lost + 1] = id\n"
    "  end\n"
    "end\n"
    "return lost\n";

/* Q_STATE: the statistics. Returns {depth, held, producers, consumers,
 * dead-letter length, puts, gets, dead, reclaimed, shutdown, capacity,
 * max_msg, lease_ms, max_deliveries, list mode}. */
static const char s_q_state[] =
    LUA_HEAD LUA_KIND("queue")
    "local m = redis.call('HMGET', meta, 'mode', 'puts', 'gets', 'dead', 'reclaimed', 'shutdown',\n"
    "                     'capacity', 'max_msg', 'lease_ms', 'max_deliveries')\n"
    "local depth, held = 0, 0\n"
    "if m[1] == 'stream' then\n"
    "  depth = redis.call('XLEN', p..'q')\n"
    "  held = redis.call('XPENDING', p..'q', 'g')[1]\n"
    "else\n"
    "  depth = redis.call('LLEN', p..'l')\n"
    "end\n"
    "local function n(x) return tonumber(x or '0') or 0 end\n"
    "return {depth, held, redis.call('ZCOUNT', p..'prod', num(now()), '+inf'),\n"
    "        redis.call('ZCOUNT', p..'cons', num(now()), '+inf'), redis.call('XLEN', p..'dead'),\n"
    "        n(m[2]), n(m[3]), n(m[4]), n(m[5]), m[6] == '1' and 1 or 0, n(m[7]), n(m[8]),\n"
    "        n(m[9]), n(m[10]), m[1] == 'list' and 1 or 0}\n";

/* ---- queue, list mode (no leases: at most once) ------------------------------ */

/* Q_LPUT: as Q_PUT, on a list. */
static const char s_q_lput[] =
    LUA_HEAD LUA_KIND("queue")
    "local m = redis.call('HMGET', meta, 'shutdown', 'capacity')\n"
    "local pid, first, n = 'p'..ARGV[1], tonumber(ARGV[2]), #ARGV - 3\n"
    "local last = tonumber(redis.call('HGET', p..'pseq', pid) or '0')\n"
    "if ARGV[3] == '1' and last < first - 1 then return 0 end\n"
    "local skip = last - first + 1\n"
    "if skip < 0 then skip = 0 end\n"
    "if skip > n then skip = n end\n"
    "if skip == n then return n end\n"
    "if m[1] == '1' then\n"
    "  if skip > 0 then return skip end\n"
    "  return fail('EPIPE')\n"
    "end\n"
    "local l = p..'l'\n"
    "local k = tonumber(m[2]) - redis.call('LLEN', l)\n"
    "if k > n - skip then k = n - skip end\n"
    "if k <= 0 then return skip end\n"
    "redis.call('LPUSH', l, unpack(ARGV, 4 + skip, 3 + skip + k))\n"
    "redis.call('HSET', p..'pseq', pid, num(first + skip + k - 1))\n"
    "redis.call('HINCRBY', meta, 'puts', k)\n"
    "return skip + k\n";

/* Q_LTAKE: ARGV[1] how many at most, ARGV[2] messages taken by blocking
 * pops since (for the statistics). Returns {n, data, ...} or {0, eos}. */
static const char s_q_ltake[] =
    LUA_HEAD LUA_KIND("queue") LUA_EOS("redis.call('LLEN', p..'l')")
    "local r = redis.call('RPOP', p..'l', tonumber(ARGV[1]))\n"
    "local extra = tonumber(ARGV[2])\n"
    "if extra > 0 then redis.call('HINCRBY', meta, 'gets', extra) end\n"
    "if r then\n"
    "  redis.call('HINCRBY', meta, 'gets', #r)\n"
    "  local out = {#r}\n"
    "  for _, d in ipairs(r) do out[#out + 1] = d end\n"
    "  return out\n"
    "end\n"
    "return {0, eos()}\n";

/* ---- heap ------------------------------------------------------------------------
 * A record is the zset member ukey(8) .. seq(8) .. payload, every score 0:
 * the members' byte order is the pop order [heap-order]. A popped record
 * waits in flight: fl (seq -> lease deadline), flr (seq -> member), flo
 * (seq -> owner) [heap-lease]. */

#define LUA_HEAP_ACK                                                        \
  "local function ack(me, i0, n)\n"                                                       \
  "  for i = i0, i0 + n - 1 do\n"                                                         \
  "    local s = ARGV[i]\n"                                                               \
  "    if redis.call('HGET', p..'flo', s) == me then\n"                                   \
  "      redis.call('ZREM', p..'fl', s); redis.call('HDEL', p..'flr', s); redis.call('HDEL', p..'flo', s)\n" \
  "    end\n"                                                                             \
  "  end\n"                                                                               \
  "end\n"

/* H_PUSH: ARGV[1] owner, ARGV[2] acks that follow, the acked seqs, then
 * records as ukey(8) .. payload. Returns how many were pushed. */
static const char s_h_push[] =
    LUA_HEAD LUA_KIND("heap") LUA_BE64 LUA_HEAP_ACK
    "local me, na = ARGV[1], tonumber(ARGV[2])\n"
    "local n = #ARGV - 2 - na\n"
    "local z = p..'z'\n"
    "if n > 0 and redis.call('ZCARD', z) + n > tonumber(redis.call('HGET', meta, 'limit')) then\n"
    "  return fail('ENOSPC')\n"
    "end\n"
    "ack(me, 3, na)\n"
    "if n == 0 then return 0 end\n"
    "local base = redis.call('HINCRBY', meta, 'seq', n) - n\n"
    "for i = 1, n do\n"
    "  local r = ARGV[2 + na + i]\n"
    "  redis.call('ZADD', z, 0, string.sub(r, 1, 8) .. be64(base + i) .. string.sub(r, 9))\n"
    "end\n"
    "redis.call('HINCRBY', meta, 'pushes', n)\n"
    "redis.call('XADD', p..'ev', 'MAXLEN', 1, '*', 'x', '1')\n"
    "return n\n";

/* H_POP: ARGV[1] owner, ARGV[2] largest payload the caller takes, ARGV[3]
 * 1 to peek, ARGV[4] acks that follow, the acked seqs. Returns {1, member},
 * {-1, payload length} when it does not fit, or {0, last wake-up id, ms
 * until the next lease expires or -1}. */
static const char s_h_pop[] =
    LUA_HEAD LUA_KIND("heap") LUA_HEAP_ACK
    "local me, cap, peek, na = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])\n"
    "ack(me, 5, na)\n"
    "local z = p..'z'\n"
    "for _, s in ipairs(redis.call('ZRANGEBYSCORE', p..'fl', '-inf', num(now()), 'LIMIT', 0, 64)) do\n"
    "  local mem = redis.call('HGET', p..'flr', s)\n"
    "  if mem then redis.call('ZADD', z, 0, mem); redis.call('HINCRBY', meta, 'reclaimed', 1) end\n"
    "  redis.call('ZREM', p..'fl', s); redis.call('HDEL', p..'flr', s); redis.call('HDEL', p..'flo', s)\n"
    "end\n"
    "local top = redis.call('ZRANGE', z, 0, 0)[1]\n"
    "if not top then\n"
    "  local ev = redis.call('XREVRANGE', p..'ev', '+', '-', 'COUNT', 1)[1]\n"
    "  local nx = redis.call('ZRANGE', p..'fl', 0, 0, 'WITHSCORES')\n"
    "  local wait = -1\n"
    "  if nx[2] then wait = math.max(0, tonumber(nx[2]) - now()) end\n"
    "  return {0, ev and ev[1] or '0-0', wait}\n"
    "end\n"
    "if #top < 16 then return fail('ECORRUPT') end\n"
    "if #top - 16 > cap then return {-1, #top - 16} end\n"
    "if peek then return {1, top} end\n"
    "redis.call('ZREM', z, top)\n"
    "local lease = tonumber(redis.call('HGET', meta, 'lease_ms'))\n"
    "if lease > 0 then\n"
    "  local s = string.sub(top, 9, 16)\n"
    "  redis.call('ZADD', p..'fl', num(now() + lease), s)\n"
    "  redis.call('HSET', p..'flr', s, top)\n"
    "  redis.call('HSET', p..'flo', s, me)\n"
    "end\n"
    "redis.call('HINCRBY', meta, 'pops', 1)\n"
    "return {1, top}\n";

/* H_ACK: ARGV[1] owner, then seqs: records done, with no push. */
static const char s_h_ack[] =
    LUA_HEAD LUA_KIND("heap") LUA_HEAP_ACK
    "ack(ARGV[1], 2, #ARGV - 1)\n"
    "return 1\n";

/* H_RENEW: ARGV[1] owner, then seqs held. Returns the seqs no longer held. */
static const char s_h_renew[] =
    LUA_HEAD LUA_KIND("heap")
    "local lease = tonumber(redis.call('HGET', meta, 'lease_ms'))\n"
    "local lost = {}\n"
    "for i = 2, #ARGV do\n"
    "  local s = ARGV[i]\n"
    "  if redis.call('HGET', p..'flo', s) == ARGV[1] then\n"
    "    redis.call('ZADD', p..'fl', 'XX', num(now() + lease), s)\n"
    "  else\n"
    "    lost[#lost + 1] = s\n"
    "  end\n"
    "end\n"
    "return lost\n";

/* H_SWAP: ARGV[1] the staging key's suffix, ARGV[2] a token unique to the
 * call, ARGV[3] how many records the staging key holds. Swaps it in as the
 * whole heap, drops the records in flight (they belong to the old set),
 * and wakes poppers [heap-replace]. A retry with the same token is a no-op.
 */
static const char s_h_swap[] =
    LUA_HEAD LUA_KIND("heap")
    "if redis.call('HGET', meta, 'last_swap') == ARGV[2] then return 0 end\n"
    "local tmp, n = p..ARGV[1], tonumber(ARGV[3])\n"
    "if n > 0 then\n"
    "  if redis.call('ZCARD', tmp) ~= n then return fail('EAGAIN') end\n"
    "  redis.call('RENAME', tmp, p..'z')\n"
    "  redis.call('PERSIST', p..'z')\n"
    "else\n"
    "  redis.call('DEL', p..'z')\n"
    "end\n"
    "redis.call('DEL', p..'fl', p..'flr', p..'flo')\n"
    "if tonumber(redis.call('HGET', meta, 'seq') or '0') < n then\n"
    "  redis.call('HSET', meta, 'seq', num(n))\n"
    "end\n"
    "redis.call('HSET', meta, 'last_swap', ARGV[2])\n"
    "redis.call('HINCRBY', meta, 'replaces', 1)\n"
    "redis.call('XADD', p..'ev', 'MAXLEN', 1, '*', 'x', '1')\n"
    "return 1\n";

/* ---- dict -------------------------------------------------------------------------- */

/* D_SET: ARGV[1] 's' (set) or 'n' (only if absent), ARGV[2] key, ARGV[3]
 * value. Returns 1 if inserted, 0 if replaced. */
static const char s_d_set[] =
    LUA_HEAD LUA_KIND("dict")
    "local h = p..'h'\n"
    "if redis.call('HEXISTS', h, ARGV[2]) == 1 then\n"
    "  if ARGV[1] == 'n' then return fail('EEXIST') end\n"
    "  redis.call('HSET', h, ARGV[2], ARGV[3])\n"
    "  return 0\n"
    "end\n"
    "if redis.call('HLEN', h) >= tonumber(redis.call('HGET', meta, 'limit')) then\n"
    "  return fail('ENOSPC')\n"
    "end\n"
    "redis.call('HSET', h, ARGV[2], ARGV[3])\n"
    "return 1\n";

/* D_CAS: ARGV[1] key, ARGV[2] 'v' (the value must equal ARGV[3]) or 'a'
 * (the key must be absent), ARGV[4] 's' set to ARGV[5], 'd' delete or 'k'
 * keep, ARGV[6] 'cas' (a mismatch is an error: ENOENT or EAGAIN) or 'upd'
 * (a mismatch returns 0). Returns 1 when the expectation held and the
 * action was applied [dict-cas]. */
static const char s_d_cas[] =
    LUA_HEAD LUA_KIND("dict")
    "local h = p..'h'\n"
    "local cur = redis.call('HGET', h, ARGV[1])\n"
    "local ok\n"
    "if ARGV[2] == 'a' then ok = not cur else ok = cur and cur == ARGV[3] end\n"
    "if not ok then\n"
    "  if ARGV[6] == 'upd' then return 0 end\n"
    "  if not cur then return fail('ENOENT') end\n"
    "  return fail('EAGAIN')\n"
    "end\n"
    "if ARGV[4] == 's' then\n"
    "  if not cur and redis.call('HLEN', h) >= tonumber(redis.call('HGET', meta, 'limit')) then\n"
    "    return fail('ENOSPC')\n"
    "  end\n"
    "  redis.call('HSET', h, ARGV[1], ARGV[5])\n"
    "elseif ARGV[4] == 'd' then\n"
    "  redis.call('HDEL', h, ARGV[1])\n"
    "end\n"
    "return 1\n";

/* ---- bus --------------------------------------------------------------------------
 * Frame seq s is the stream entry with id 0-(s+1); the stream keeps the
 * last K (MAXLEN). cur: subscriber -> next seq it takes [bus-redis]. */

/* B_PUB: ARGV[1] the frame. Returns its seq. */
static const char s_b_pub[] =
    LUA_HEAD LUA_KIND("bus")
    "local m = redis.call('HMGET', meta, 'shutdown', 'slots', 'seq')\n"
    "if m[1] == '1' then return fail('EPIPE') end\n"
    "local s = tonumber(m[3])\n"
    "redis.call('XADD', p..'s', 'MAXLEN', tonumber(m[2]), '0-' .. num(s + 1), 'f', ARGV[1])\n"
    "redis.call('HSET', meta, 'seq', num(s + 1))\n"
    "return s\n";

/* B_STATE: may the publisher write the next frame? LATEST: always.
 * LOCKSTEP: once every live subscriber has taken the frame the stream will
 * trim [bus-lockstep]. Returns {1} or {0, last release id, ms until the
 * first subscriber's presence expires}. */
static const char s_b_state[] =
    LUA_HEAD LUA_KIND("bus")
    "local m = redis.call('HMGET', meta, 'mode', 'slots', 'seq', 'shutdown')\n"
    "if m[4] == '1' then return fail('EPIPE') end\n"
    "local k, seq = tonumber(m[2]), tonumber(m[3])\n"
    "if m[1] ~= 'lockstep' or seq < k then return {1} end\n"
    "for _, s in ipairs(redis.call('ZRANGEBYSCORE', p..'subs', '-inf', num(now()))) do\n"
    "  redis.call('ZREM', p..'subs', s); redis.call('HDEL', p..'cur', s)\n"
    "  redis.call('HINCRBY', meta, 'dropped', 1)\n"
    "end\n"
    "local need = seq - k + 1\n"
    "local blocked = false\n"
    "for _, s in ipairs(redis.call('ZRANGE', p..'subs', 0, -1)) do\n"
    "  local c = tonumber(redis.call('HGET', p..'cur', s) or '')\n"
    "  if c and c < need then blocked = true; break end\n"
    "end\n"
    "if not blocked then\n"
    "  redis.call('HSET', meta, 'pub_waiting', '0')\n"
    "  return {1}\n"
    "end\n"
    "redis.call('HSET', meta, 'pub_waiting', '1')\n"
    "local rel = redis.call('XREVRANGE', p..'rel', '+', '-', 'COUNT', 1)[1]\n"
    "local first = redis.call('ZRANGE', p..'subs', 0, 0, 'WITHSCORES')\n"
    "local wait = 1000\n"
    "if first[2] then wait = math.max(0, tonumber(first[2]) - now()) end\n"
    "return {0, rel and rel[1] or '0-0', wait}\n";

/* B_TAKE: ARGV[1] subscriber id, ARGV[2] the seq it takes next. LOCKSTEP:
 * that frame (or the oldest kept, if it was trimmed); LATEST: the newest.
 * Returns {1, frame seq, frames published, frame}, or {0, ended, last id}.
 */
static const char s_b_take[] =
    LUA_HEAD LUA_KIND("bus")
    "local m = redis.call('HMGET', meta, 'mode', 'seq', 'shutdown', 'pub_exp', 'pub_waiting')\n"
    "local me, want, seq = 's'..ARGV[1], tonumber(ARGV[2]), tonumber(m[2])\n"
    "local e\n"
    "if seq > want then\n"
    "  if m[1] == 'latest' then e = redis.call('XREVRANGE', p..'s', '+', '-', 'COUNT', 1)[1]\n"
    "  else e = redis.call('XRANGE', p..'s', '0-' .. num(want + 1), '+', 'COUNT', 1)[1] end\n"
    "end\n"
    "if e then\n"
    "  local fs = tonumber(string.sub(e[1], 3)) - 1\n"
    "  local f = e[2][2]\n"
    "  if redis.call('ZSCORE', p..'subs', me) then redis.call('HSET', p..'cur', me, num(fs + 1)) end\n"
    "  if m[5] == '1' then redis.call('XADD', p..'rel', 'MAXLEN', 1, '*', 'x', '1') end\n"
    "  return {1, fs, seq, f}\n"
    "end\n"
    "local ended = m[3] == '1' or tonumber(m[4] or '0') < now()\n"
    "return {0, ended and 1 or 0, '0-' .. num(seq)}\n";

const char *const ferry__script_src[FERRY__S_COUNT] = {
    [FERRY__S_CREATE] = s_create,     [FERRY__S_OPEN] = s_open,
    [FERRY__S_UNLINK] = s_unlink,     [FERRY__S_PRESENCE] = s_presence,
    [FERRY__S_LEAVE] = s_leave,       [FERRY__S_SHUTDOWN] = s_shutdown,       [FERRY__S_Q_PUT] = s_q_put,
    [FERRY__S_Q_TAKE] = s_q_take,     [FERRY__S_Q_ACK] = s_q_ack,
    [FERRY__S_Q_GIVE] = s_q_give,
    [FERRY__S_Q_RENEW] = s_q_renew,   [FERRY__S_Q_STATE] = s_q_state,
    [FERRY__S_Q_LPUT] = s_q_lput,     [FERRY__S_Q_LTAKE] = s_q_ltake,
    [FERRY__S_H_PUSH] = s_h_push,     [FERRY__S_H_POP] = s_h_pop,
    [FERRY__S_H_ACK] = s_h_ack,       [FERRY__S_H_RENEW] = s_h_renew,
    [FERRY__S_H_SWAP] = s_h_swap,     [FERRY__S_D_SET] = s_d_set,
    [FERRY__S_D_CAS] = s_d_cas,       [FERRY__S_B_PUB] = s_b_pub,
    [FERRY__S_B_TAKE] = s_b_take,     [FERRY__S_B_STATE] = s_b_state,
};
