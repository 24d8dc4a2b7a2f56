/* SPDX-License-Identifier: MIT */
/*
 * fixtures.c: the shared test fixtures of fixtures.h.
 */
#include "fixtures.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "region_layout.h"
#include "sync_layout.h"

uint32_t ft_fnv1a(const void *p, size_t n)
{
  const uint8_t *b = p;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

size_t ft_payload_make(void *buf, size_t max, uint32_t id, uint32_t seq)
{
  uint8_t *b = buf;
  if (max > FT_PAYLOAD_MAX)
    max = FT_PAYLOAD_MAX;
  size_t len = sizeof(ft_payload_hdr) + (id * 13u + seq * 7u) % (max - sizeof(ft_payload_hdr) + 1);
  ft_payload_hdr h = {id, seq, (uint32_t)len, 0};
  memcpy(b, &h, sizeof h);
  for (size_t i = sizeof h; i < len; i++)
    b[i] = (uint8_t)(id * 31 + seq * 17 + i);
  h.sum = ft_fnv1a(b, len);
  memcpy(b + offsetof(ft_payload_hdr, sum), &h.sum, sizeof h.sum);
  return len;
}

bool ft_payload_check(const void *buf, size_t len, ft_payload_hdr *out)
{
  uint8_t tmp[FT_PAYLOAD_MAX];
  if (len < sizeof(ft_payload_hdr) || len > sizeof tmp)
    return false;
  memcpy(tmp, buf, len); /* a private copy: the source may change meanwhile */
  ft_payload_hdr h;
  memcpy(&h, tmp, sizeof h);
  if (h.len != len)
    return false;
  memset(tmp + offsetof(ft_payload_hdr, sum), 0, sizeof h.sum);
  if (ft_fnv1a(tmp, len) != h.sum)
    return false;
  if (out)
    *out = h;
  return true;
}

bool ft_payload_is(const void *buf, size_t len, uint32_t id)
{
  ft_payload_hdr h;
  return ft_payload_check(buf, len, &h) && h.id == id;
}

void *ft_map_object(const char *name, void **map, size_t *size)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  int fd = open(path, O_RDWR);
  if (fd < 0)
    return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct ferry__region_hdr)) {
    close(fd);
    return NULL;
  }
  *size = (size_t)st.st_size;
  *map = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (*map == MAP_FAILED)
    return NULL;
  const struct ferry__region_hdr *h = *map;
  return (uint8_t *)*map + h->header_size;
}

/* The 32-bit word i of every array of frame seq. */
static uint32_t frame_word(uint64_t seq, size_t i)
{
  return (uint32_t)(seq * 2654435761u) ^ (uint32_t)(i * 40503u) ^ 0x5bd1e995u;
}

void ft_frame_fill(ferry_frame *f, uint64_t seq)
{
  for (size_t a = 0; a < ferry_frame_count(f); a++) {
    ferry_array v;
    ferry_frame_array_at(f, a, &v);
    uint32_t *w = v.data;
    for (size_t i = 0; i < v.nbytes / 4; i++)
      w[i] = frame_word(seq, i);
  }
}

bool ft_frame_verify(const ferry_frame *f, uint64_t seq)
{
  for (size_t a = 0; a < ferry_frame_count(f); a++) {
    ferry_array v;
    ferry_frame_array_at(f, a, &v);
    const uint32_t *w = v.data;
    for (size_t i = 0; i < v.nbytes / 4; i++)
      if (w[i] != frame_word(seq, i))
        return false;
  }
  return true;
}

void *ft_shared_alloc(size_t size)
{
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

uint32_t ft_mutex_word(ferry_mutex *m)
{
  return atomic_load(&((struct ferry__mutex *)(void *)m)->word);
}

int ft_open_with_bytes(ferry_region *r, size_t off, const void *bytes, size_t len,
                       int (*open_close)(const char *name))
{
  uint8_t *at = (uint8_t *)ferry_region_data(r) + off, *saved = malloc(len);
  if (!saved)
    return -ENOMEM;
  memcpy(saved, at, len);
  memcpy(at, bytes, len);
  int rc = open_close(ferry_region_name(r));
  memcpy(at, saved, len);
  free(saved);
  return rc;
}
