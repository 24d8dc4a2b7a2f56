/* SPDX-License-Identifier: MIT */
/*
 * fixtures.h: what several unit and stress tests share beyond test.h:
 * self-checking payloads (queue messages, dict values), frames filled
 * with a pattern (bus), and the helpers of the sync tests. One copy of
 * each, so that a stronger check helps every test that uses it.
 */
#ifndef FERRY_TEST_FIXTURES_H
#define FERRY_TEST_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "ferry/array.h"
#include "ferry/sync.h"
#include "test.h"

/* ---- self-checking payloads [ft-payload] -------------------------------------- */

/*
 * A payload starts with this header: who wrote it (a producer, a key's
 * number), which one (a sequence number, a version), its whole length,
 * and an FNV-1a sum over all of it taken with `sum` zero. Then come bytes
 * derived from id, seq and their position. A torn payload (halves of two),
 * a cut one or a stale copy fails ft_payload_check().
 */
typedef struct ft_payload_hdr {
  uint32_t id, seq, len, sum;
} ft_payload_hdr;

/* The largest payload ft_payload_check() takes. */
#define FT_PAYLOAD_MAX 4096

/* FNV-1a over n bytes. */
uint32_t ft_fnv1a(const void *p, size_t n);

/* Writes the payload of (id, seq) into buf: its length varies with id and
 * seq, from the header alone up to max (>= the header, <= FT_PAYLOAD_MAX)
 * bytes. Returns the length. */
size_t ft_payload_make(void *buf, size_t max, uint32_t id, uint32_t seq);

/* True if buf[0..len) is one whole payload; then *out (may be NULL) gets
 * its header. */
bool ft_payload_check(const void *buf, size_t len, ft_payload_hdr *out);

/* True if buf[0..len) is a whole payload written with this id. */
bool ft_payload_is(const void *buf, size_t len, uint32_t id);

/* ---- regions behind the library's back ---------------------------------------- */

/*
 * The object area of region `name` (what follows the region header), in a
 * writable mapping of its file made behind the library's back, for tests
 * that corrupt or inspect bytes. *map and *size describe the whole
 * mapping, for munmap(). NULL if the file cannot be opened or mapped.
 */
void *ft_map_object(const char *name, void **map, size_t *size);

/* ---- frames (bus) --------------------------------------------------------------- */

/* Fills every array of frame f with the pattern of frame seq: 32-bit
 * words that differ from frame to frame and from word to word. */
void ft_frame_fill(ferry_frame *f, uint64_t seq);

/* True if every word of every array of f is frame seq's pattern. */
bool ft_frame_verify(const ferry_frame *f, uint64_t seq);

/* ---- sync ------------------------------------------------------------------------- */

/* size bytes of zeroed memory shared with the children forked later
 * (an anonymous MAP_SHARED mapping), or NULL. */
void *ft_shared_alloc(size_t size);

/* The mutex's futex word, read behind its back (sync_layout.h). */
uint32_t ft_mutex_word(ferry_mutex *m);

/* Writes len bytes over offset off of r's object area (a header field,
 * or a whole header of another object of the kind), returns what
 * open_close(r's name) returns then (an open, and a close if it worked),
 * and puts the old bytes back. */
int ft_open_with_bytes(ferry_region *r, size_t off, const void *bytes, size_t len,
                       int (*open_close)(const char *name));

/* Polls (every poll_us microseconds, 10 s at most) until expr holds; a
 * failure if it never does. */
#define FT_WAIT_UNTIL(expr, poll_us)                                           \
  do {                                                                         \
    int64_t wu_end_ = ft_ms() + 10000;                                         \
    bool wu_ok_;                                                               \
    while (!(wu_ok_ = (expr)) && ft_ms() < wu_end_)                            \
      usleep(poll_us);                                                         \
    if (!wu_ok_)                                                               \
      ft_fail(__FILE__, __LINE__, "not within 10 s: %s", #expr);              \
  } while (0)

#endif /* FERRY_TEST_FIXTURES_H */
