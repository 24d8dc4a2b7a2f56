/* SPDX-License-Identifier: MIT */
/*
 * rconn.c: the Redis backend's transport (see rconn.h). A non-blocking
 * socket driven by poll(2) with the operation's deadline, commands encoded
 * straight into one output buffer (so a batch is one write and one round
 * trip), replies parsed by hiredis's reader. Scripts are sent by SHA1
 * (EVALSHA); a server that does not know them (restarted, flushed) answers
 * NOSCRIPT, and the operation loads them all and tries again.
 */
#include "rconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ferry/error.h"

/* ---- names ------------------------------------------------------------------ */

static bool name_char(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '.' || ch == '_' || ch == '-';
}

/* The region rules (ferry_name_valid), restated: this library does not
 * link libferry. */
static bool object_name_ok(const char *s, size_t n)
{
  if (n < 1 || n > FERRY_NAME_MAX)
    return false;
  if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!name_char(s[i]))
      return false;
  return true;
}

static bool host_char(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '.' || ch == '-';
}

/* Parses "HOST[:PORT]" in s[0..n). */
static int parse_hostport(const char *s, size_t n, struct ferry__raddr *a)
{
  size_t hlen;
  const char *host, *rest;
  if (n && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close)
      return -EINVAL;
    host = s + 1;
    hlen = (size_t)(close - host);
    rest = close + 1;
    if (hlen < 2 || hlen > 45)
      return -EINVAL;
    for (size_t i = 0; i < hlen; i++) {
      char ch = host[i];
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
            ch == ':' || ch == '.'))
        return -EINVAL;
    }
    char tmp[64];
    memcpy(tmp, host, hlen);
    tmp[hlen] = 0;
    struct in6_addr in6;
    if (inet_pton(AF_INET6, tmp, &in6) != 1)
      return -EINVAL;
  } else {
    const char *colon = memchr(s, ':', n);
    host = s;
    hlen = colon ? (size_t)(colon - s) : n;
    rest = s + hlen;
    if (hlen < 1 || hlen > 253)
      return -EINVAL;
    for (size_t i = 0; i < hlen; i++)
      if (!host_char(host[i]))
        return -EINVAL;
    if (host[0] == '.' || host[0] == '-' || host[hlen - 1] == '-')
      return -EINVAL;
    for (size_t i = 1; i < hlen; i++)
      if (host[i] == '.' && host[i - 1] == '.')
        return -EINVAL;
  }
  const char *end = s + n;
  int port = FERRY__REDIS_PORT_DEFAULT;
  if (rest < end) {
    if (*rest != ':' || rest + 1 == end || end - (rest + 1) > 5)
      return -EINVAL;
    port = 0;
    for (const char *p = rest + 1; p < end; p++) {
      if (*p < '0' || *p > '9')
        return -EINVAL;
      port = port * 10 + (*p - '0');
    }
    if (rest[1] == '0' || port < 1 || port > 65535)
      return -EINVAL;
  }
  memset(a, 0, sizeof *a);
  a->kind = FERRY__RADDR_TCP;
  memcpy(a->host, host, hlen);
  a->host[hlen] = 0;
  a->port = port;
  return 0;
}

static int parse_unix_path(const char *s, size_t n, struct ferry__raddr *a)
{
  if (n < 2 || n > FERRY__RADDR_PATH_MAX || s[0] != '/' || s[n - 1] == '/')
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f)
      return -EINVAL;
    if (i && s[i] == '/' && s[i - 1] == '/')
      return -EINVAL;
  }
  memset(a, 0, sizeof *a);
  a->kind = FERRY__RADDR_UNIX;
  memcpy(a->path, s, n);
  a->path[n] = 0;
  return 0;
}

#define TCP_SCHEME "redis://"
#define UNIX_SCHEME "unix://"

int ferry__redis_is_url(const char *url)
{
  return url && (strncmp(url, TCP_SCHEME, strlen(TCP_SCHEME)) == 0 ||
                 strncmp(url, UNIX_SCHEME, strlen(UNIX_SCHEME)) == 0);
}

int ferry__redis_parse_name(const char *url, struct ferry__raddr *a, char *name_out)
{
  if (!ferry__redis_is_url(url))
    return -EINVAL;
  size_t total = strnlen(url, 4096);
  if (total >= 4096)
    return -EINVAL;
  bool tcp = url[0] == 'r';
  const char *s = url + (tcp ? strlen(TCP_SCHEME) : strlen(UNIX_SCHEME));
  const char *slash = strrchr(s, '/');
  if (!slash)
    return -EINVAL;
  const char *name = slash + 1;
  size_t nlen = strlen(name);
  if (!object_name_ok(name, nlen))
    return -EINVAL;
  struct ferry__raddr t;
  int rc;
  if (tcp) {
    /* Exactly one '/': the one before NAME. */
    if (memchr(s, '/', (size_t)(slash - s)))
      return -EINVAL;
    rc = parse_hostport(s, (size_t)(slash - s), &t);
  } else {
    rc = parse_unix_path(s, (size_t)(slash - s), &t);
  }
  if (rc)
    return rc;
  *a = t;
  memcpy(name_out, name, nlen + 1);
  return 0;
}

int ferry__redis_parse_server(const char *url, struct ferry__raddr *a)
{
  if (!ferry__redis_is_url(url))
    return -EINVAL;
  size_t total = strnlen(url, 4096);
  if (total >= 4096)
    return -EINVAL;
  bool tcp = url[0] == 'r';
  const char *s = url + (tcp ? strlen(TCP_SCHEME) : strlen(UNIX_SCHEME));
  size_t n = strlen(s);
  if (n && s[n - 1] == '/')
    n--;
  if (tcp) {
    if (memchr(s, '/', n))
      return -EINVAL;
    return parse_hostport(s, n, a);
  }
  return parse_unix_path(s, n, a);
}

/* ---- time -------------------------------------------------------------------- */

int64_t ferry__redis_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

int64_t ferry__redis_deadline(int64_t timeout_ns)
{
  int64_t now = ferry__redis_now();
  return timeout_ns >= INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

void ferry__redis_sleep(int64_t ns, int64_t deadline)
{
  int64_t now = ferry__redis_now();
  if (deadline != INT64_MAX && deadline - now < ns)
    ns = deadline - now;
  if (ns <= 0)
    return;
  struct timespec ts = {.tv_sec = ns / FERRY_SEC, .tv_nsec = ns % FERRY_SEC};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

/* ---- scripts' SHA1 ------------------------------------------------------------
 * EVALSHA names a script by the SHA1 of its text, which we compute here
 * once (FIPS 180-4) rather than trusting a server's answer. */

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol32(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol32(b, 30);
    b = a;
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

static void sha1_hex(const char *msg, size_t n, char out[41])
{
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    sha1_block(h, (const uint8_t *)msg + i);
  uint8_t tail[128];
  size_t rem = n - i;
  memset(tail, 0, sizeof tail);
  memcpy(tail, msg + i, rem);
  tail[rem] = 0x80;
  size_t tlen = rem + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)n * 8;
  for (int j = 0; j < 8; j++)
    tail[tlen - 1 - j] = (uint8_t)(bits >> (8 * j));
  sha1_block(h, tail);
  if (tlen == 128)
    sha1_block(h, tail + 64);
  for (int j = 0; j < 5; j++)
    snprintf(out + 8 * j, 9, "%08x", h[j]);
}

static char script_sha[FERRY__S_COUNT][41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_init(void)
{
  for (int i = 0; i < FERRY__S_COUNT; i++)
    sha1_hex(ferry__script_src[i], strlen(ferry__script_src[i]), script_sha[i]);
}

/* ---- connection -------------------------------------------------------------- */

void ferry__rconn_init(struct ferry__rconn *c, const struct ferry__raddr *a)
{
  memset(c, 0, sizeof *c);
  c->addr = *a;
  c->fd = -1;
  c->io_ns = FERRY__REDIS_IO_DEFAULT_NS;
  c->backoff = FERRY__REDIS_BACKOFF_MIN_NS;
  c->last_err = -ECONNREFUSED;
  pthread_once(&sha_once, sha_init);
}

void ferry__rconn_drop(struct ferry__rconn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  if (c->rd)
    redisReaderFree(c->rd);
  c->rd = NULL;
  c->olen = 0;
  c->queued = 0;
}

void ferry__rconn_free(struct ferry__rconn *c)
{
  ferry__rconn_drop(c);
  free(c->obuf);
  c->obuf = NULL;
  c->ocap = 0;
}

void ferry__rconn_forget(struct ferry__rconn *c) { ferry__rconn_free(c); }

static int map_connect_errno(int e)
{
  switch (e) {
  case ENOENT:       /* the socket file is not there: nobody listens */
  case ECONNREFUSED:
    return -ECONNREFUSED;
  case EINPROGRESS:
  case EAGAIN:
    return -ETIMEDOUT;
  default:
    return -e;
  }
}

/* Waits for events on fd until `until`; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t until)
{
  for (;;) {
    int64_t left = until - ferry__redis_now();
    if (left <= 0)
      return -ETIMEDOUT;
    int ms = left >= (int64_t)INT32_MAX * FERRY_MSEC ? INT32_MAX
                                                    : (int)((left + FERRY_MSEC - 1) / FERRY_MSEC);
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return -errno;
  }
}

/* One connection attempt, finished by `until`. */
static int connect_once(struct ferry__rconn *c, int64_t until)
{
  struct addrinfo *ai = NULL;
  struct sockaddr_un un;
  const struct sockaddr *sa;
  socklen_t salen;
  int family;
  if (c->addr.kind == FERRY__RADDR_UNIX) {
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, c->addr.path, strlen(c->addr.path) + 1);
    sa = (const struct sockaddr *)&un;
    salen = sizeof un;
    family = AF_UNIX;
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%d", c->addr.port);
    /* Name resolution is the one step no deadline bounds (getaddrinfo
     * has no timeout): numeric addresses skip it. */
    int g = getaddrinfo(c->addr.host, port, &hints, &ai);
    if (g)
      return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    sa = ai->ai_addr;
    salen = ai->ai_addrlen;
    family = ai->ai_family;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = 0;
  if (fd < 0) {
    rc = -errno;
  } else if (connect(fd, sa, salen) < 0) {
    if (errno == EINPROGRESS || errno == EAGAIN) {
      rc = wait_fd(fd, POLLOUT, until);
      int err = 0;
      socklen_t len = sizeof err;
      if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
        rc = map_connect_errno(err);
    } else {
      rc = map_connect_errno(errno);
    }
  }
  if (ai)
    freeaddrinfo(ai);
  if (rc) {
    if (fd >= 0)
      close(fd);
    return rc;
  }
  if (family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  }
  c->rd = redisReaderCreate();
  if (!c->rd) {
    close(fd);
    return -ENOMEM;
  }
  c->fd = fd;
  return 0;
}

int ferry__rconn_ensure(struct ferry__rconn *c, int64_t deadline)
{
  if (c->fd >= 0)
    return 0;
  int64_t now = ferry__redis_now();
  if (c->next_try > now) {
    if (deadline != INT64_MAX && c->next_try > deadline)
      return c->last_err;
    ferry__redis_sleep(c->next_try - now, INT64_MAX);
    now = ferry__redis_now();
  }
  int64_t budget = c->io_ns;
  if (deadline != INT64_MAX && deadline - now < budget)
    budget = deadline - now > FERRY__REDIS_IO_MIN_NS ? deadline - now : FERRY__REDIS_IO_MIN_NS;
  int rc = connect_once(c, now + budget);
  if (rc) {
    c->last_err = rc;
    c->next_try = ferry__redis_now() + c->backoff;
    c->backoff = c->backoff * 2 > FERRY__REDIS_BACKOFF_MAX_NS ? FERRY__REDIS_BACKOFF_MAX_NS
                                                               : c->backoff * 2;
    return rc;
  }
  c->backoff = FERRY__REDIS_BACKOFF_MIN_NS;
  c->next_try = 0;
  c->fresh = true;
  c->connects++;
  return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

static void ob_need(struct ferry__rconn *c, size_t more)
{
  if (c->olen + more <= c->ocap)
    return;
  size_t cap = c->ocap ? c->ocap : 4096;
  while (cap < c->olen + more)
    cap *= 2;
  char *p = realloc(c->obuf, cap);
  if (!p)
    abort(); /* out of memory while encoding: nothing sane is left to do */
  c->obuf = p;
  c->ocap = cap;
}

static void ob_put(struct ferry__rconn *c, const void *p, size_t n)
{
  ob_need(c, n);
  memcpy(c->obuf + c->olen, p, n);
  c->olen += n;
}

static void ob_num(struct ferry__rconn *c, char prefix, uint64_t v)
{
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%c%llu\r\n", prefix, (unsigned long long)v);
  ob_put(c, tmp, (size_t)n);
}

void ferry__rc_begin(struct ferry__rconn *c, size_t argc)
{
  ob_num(c, '*', argc);
  c->queued++;
}

void ferry__rc_arg(struct ferry__rconn *c, const void *p, size_t len)
{
  ob_num(c, '$', len);
  ob_need(c, len + 2);
  if (len)
    memcpy(c->obuf + c->olen, p, len);
  c->olen += len;
  c->obuf[c->olen++] = '\r';
  c->obuf[c->olen++] = '\n';
}

void ferry__rc_str(struct ferry__rconn *c, const char *s) { ferry__rc_arg(c, s, strlen(s)); }

void ferry__rc_i64(struct ferry__rconn *c, int64_t v)
{
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  ferry__rc_arg(c, tmp, (size_t)n);
}

void ferry__rc_u64(struct ferry__rconn *c, uint64_t v)
{
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  ferry__rc_arg(c, tmp, (size_t)n);
}

void ferry__rc_script(struct ferry__rconn *c, enum ferry__script_id id, size_t nkeys,
                      size_t nargs)
{
  ferry__rc_begin(c, 3 + nkeys + nargs);
  ferry__rc_str(c, "EVALSHA");
  ferry__rc_arg(c, script_sha[id], 40);
  ferry__rc_u64(c, nkeys);
}

void ferry__rc_key(struct ferry__rconn *c, const char *name, const char *suffix)
{
  char buf[FERRY_NAME_MAX + 64];
  int n = snprintf(buf, sizeof buf, "ferry:{%s}:%s", name, suffix);
  ferry__rc_arg(c, buf, (size_t)n);
}

void ferry__rconn_discard(struct ferry__rconn *c)
{
  c->olen = 0;
  c->queued = 0;
}

/* ---- round trips ------------------------------------------------------------- */

static int send_all(struct ferry__rconn *c, int64_t until)
{
  size_t off = 0;
  while (off < c->olen) {
    ssize_t w = send(c->fd, c->obuf + off, c->olen - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int rc = wait_fd(c->fd, POLLOUT, until);
      if (rc)
        return rc;
      continue;
    }
    /* EPIPE, ECONNRESET, ...: the server is gone. Not -EPIPE, which
     * means the end of a stream to ferry's callers. */
    return -ECONNRESET;
  }
  c->olen = 0;
  return 0;
}

/* Loads every script (after NOSCRIPT), on the open connection. */
static int load_scripts(struct ferry__rconn *c, int64_t until);

static int read_replies(struct ferry__rconn *c, redisReply **out, size_t n, int64_t until)
{
  size_t got = 0;
  char buf[65536];
  while (got < n) {
    void *rep = NULL;
    if (redisReaderGetReply(c->rd, &rep) != REDIS_OK)
      return -EPROTO;
    if (rep) {
      out[got++] = rep;
      continue;
    }
    int rc = wait_fd(c->fd, POLLIN, until);
    if (rc)
      return rc;
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r == 0)
      return -ECONNRESET;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return -ECONNRESET;
    }
    if (redisReaderFeed(c->rd, buf, (size_t)r) != REDIS_OK)
      return -EPROTO;
  }
  return 0;
}

static int64_t round_trip_end(const struct ferry__rconn *c, int64_t deadline, int64_t block_ns)
{
  int64_t now = ferry__redis_now();
  int64_t budget = c->io_ns;
  if (deadline != INT64_MAX && deadline - now < budget)
    budget = deadline - now > FERRY__REDIS_IO_MIN_NS ? deadline - now : FERRY__REDIS_IO_MIN_NS;
  return now + block_ns + budget;
}

int ferry__rconn_run(struct ferry__rconn *c, redisReply **out, size_t n, int64_t deadline,
                     int64_t block_ns)
{
  for (size_t i = 0; i < n; i++)
    out[i] = NULL;
  if (c->fd < 0) {
    ferry__rconn_discard(c);
    return c->last_err ? c->last_err : -ECONNRESET;
  }
  if (n != c->queued) {
    ferry__rconn_discard(c);
    return -EINVAL;
  }
  int64_t until = round_trip_end(c, deadline, block_ns);
  c->queued = 0;
  int rc = send_all(c, until);
  if (!rc)
    rc = read_replies(c, out, n, until);
  if (rc) {
    for (size_t i = 0; i < n; i++) {
      if (out[i])
        freeReplyObject(out[i]);
      out[i] = NULL;
    }
    ferry__rconn_drop(c);
    c->last_err = rc;
    return rc;
  }
  /* A server that lost our scripts: load them now, so that the caller's
   * retry finds them. */
  for (size_t i = 0; i < n; i++) {
    if (out[i]->type == REDIS_REPLY_ERROR && strncmp(out[i]->str, "NOSCRIPT", 8) == 0) {
      int lrc = load_scripts(c, until);
      if (lrc) {
        for (size_t j = 0; j < n; j++) {
          freeReplyObject(out[j]);
          out[j] = NULL;
        }
        ferry__rconn_drop(c);
        c->last_err = lrc;
        return lrc;
      }
      break;
    }
  }
  return 0;
}

static int load_scripts(struct ferry__rconn *c, int64_t until)
{
  for (int i = 0; i < FERRY__S_COUNT; i++) {
    ferry__rc_begin(c, 3);
    ferry__rc_str(c, "SCRIPT");
    ferry__rc_str(c, "LOAD");
    ferry__rc_str(c, ferry__script_src[i]);
  }
  c->queued = 0;
  redisReply *rep[FERRY__S_COUNT] = {0};
  int rc = send_all(c, until);
  if (!rc)
    rc = read_replies(c, rep, FERRY__S_COUNT, until);
  for (int i = 0; i < FERRY__S_COUNT; i++) {
    if (!rc && rep[i]) {
      if (rep[i]->type == REDIS_REPLY_ERROR)
        rc = ferry__redis_reply_err(rep[i]);
      else if (!ferry__reply_is_str(rep[i]) || rep[i]->len != 40 ||
               memcmp(rep[i]->str, script_sha[i], 40) != 0)
        rc = -EPROTO; /* the server hashed our script differently */
    }
    if (rep[i])
      freeReplyObject(rep[i]);
  }
  return rc;
}

/* ---- errors ---------------------------------------------------------------------- */

static const struct {
  const char *name;
  int err;
} ferry_codes[] = {
    {"ENOENT", -ENOENT},       {"EEXIST", -EEXIST},     {"EPIPE", -EPIPE},
    {"EINVAL", -EINVAL},       {"EMSGSIZE", -EMSGSIZE}, {"ENOSPC", -ENOSPC},
    {"EAGAIN", -EAGAIN},       {"EPERM", -EPERM},       {"EUSERS", -EUSERS},
    {"EKIND", FERRY_EKIND},    {"EVERSION", FERRY_EVERSION},
    {"ECORRUPT", FERRY_ECORRUPT},
};

int ferry__redis_reply_err(const redisReply *r)
{
  const char *s = r->str ? r->str : "";
  if (strncmp(s, "FERRY ", 6) == 0) {
    const char *code = s + 6;
    for (size_t i = 0; i < sizeof ferry_codes / sizeof ferry_codes[0]; i++) {
      size_t n = strlen(ferry_codes[i].name);
      if (strncmp(code, ferry_codes[i].name, n) == 0 && (code[n] == 0 || code[n] == ' '))
        return ferry_codes[i].err;
    }
    return -EPROTO;
  }
  static const struct {
    const char *prefix;
    int err;
  } server[] = {
      {"LOADING", -EINPROGRESS}, {"BUSY", -EINPROGRESS}, {"MASTERDOWN", -EINPROGRESS},
      {"TRYAGAIN", -EINPROGRESS},  {"NOSCRIPT", -ENOEXEC},  {"OOM", -ENOMEM},
      {"READONLY", -EROFS},   {"NOAUTH", -EACCES},     {"WRONGPASS", -EACCES},
      {"NOPERM", -EACCES},    {"WRONGTYPE", FERRY_EKIND}, {"NOGROUP", -ENOENT},
  };
  for (size_t i = 0; i < sizeof server / sizeof server[0]; i++)
    if (strncmp(s, server[i].prefix, strlen(server[i].prefix)) == 0)
      return server[i].err;
  /* A script that failed inside a call reports the call's error after a
   * prefix: look for the server's codes there too. */
  if (strstr(s, "WRONGTYPE"))
    return FERRY_EKIND;
  if (strstr(s, "OOM "))
    return -ENOMEM;
  if (strstr(s, "NOGROUP"))
    return -ENOENT;
  return -EPROTO;
}

bool ferry__redis_retryable(int rc)
{
  switch (-rc) {
  case ECONNRESET:
  case ECONNREFUSED:
  case ECONNABORTED:
  case ETIMEDOUT:
  case EHOSTUNREACH:
  case ENETUNREACH:
  case ENETDOWN:
  case EPROTO:
  case EINPROGRESS:
  case ENOEXEC:
    return true;
  default:
    return false;
  }
}

bool ferry__rconn_again(struct ferry__rconn *c, int rc, int64_t deadline, int *attempts)
{
  (*attempts)++;
  if (!ferry__redis_retryable(rc))
    return false;
  bool was_fresh = c->fresh;
  c->fresh = false;
  /* A connection from before this call may be stale (the server restarted
   * in between): one immediate retry on a new one. */
  if (!was_fresh && *attempts == 1 && rc != -EINPROGRESS && rc != -ENOEXEC)
    return true;
  if (rc == -ENOEXEC && *attempts <= 2)
    return true; /* the scripts were loaded after NOSCRIPT */
  int64_t now = ferry__redis_now();
  if (deadline != INT64_MAX && now >= deadline)
    return false;
  if (rc == -EINPROGRESS) /* loading or busy: back off before asking again */
    ferry__redis_sleep(c->backoff, deadline);
  return deadline == INT64_MAX || ferry__redis_now() < deadline;
}

/* ---- replies -------------------------------------------------------------------- */

int ferry__reply_i64(const redisReply *r, int64_t *v)
{
  if (!r)
    return FERRY_ECORRUPT;
  if (r->type == REDIS_REPLY_INTEGER) {
    *v = r->integer;
    return 0;
  }
  if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
    return FERRY_ECORRUPT;
  char tmp[24];
  memcpy(tmp, r->str, r->len);
  tmp[r->len] = 0;
  char *end;
  errno = 0;
  long long x = strtoll(tmp, &end, 10);
  if (errno || *end)
    return FERRY_ECORRUPT;
  *v = x;
  return 0;
}

const redisReply *ferry__reply_at(const redisReply *r, size_t i)
{
  if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
    return NULL;
  return r->element[i];
}

bool ferry__reply_is_str(const redisReply *r)
{
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}
