/*
 * region.c: named shared-memory regions, their common header and their
 * participant table. The layout is in region_layout.h; the public contract
 * in ferry/region.h.
 *
 * Files live in /dev/shm as "ferry.<name>" (what shm_open would use), opened
 * with plain open() so that O_NOFOLLOW and flock() are available.
 *
 * The file lock [attach-lock]. Every registered participant, and a creator
 * from its first moment, holds a shared flock() on the region's file for as
 * long as its handle is open. The kernel drops it when the process dies, so
 * "an exclusive lock can be taken" is a race-free, kernel-kept proof that
 * nobody is attached. gc and unlink-on-last-close take the exclusive lock
 * before deciding, and an opener takes the shared lock before it registers
 * and then checks that the file is still linked; so a region is never
 * removed under a process that is attaching to it. Observers take no lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/error.h"
#include "region_internal.h"

#define SHM_DIR "/dev/shm/"
#define FILE_PREFIX "ferry."
#define PATH_CAP (sizeof SHM_DIR + sizeof FILE_PREFIX + FERRY_NAME_MAX)

/* How long an unpublished region may stay unlocked before an opener
 * concludes that its creator died between O_EXCL and flock() [young-file]. */
#define CREATE_GRACE_NS (FERRY_SEC / 2)

/* ---- names, kinds, roles, options ----------------------------------------- */

int ferry_name_valid(const char *name)
{
  if (!name)
    return -EINVAL;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok || n >= FERRY_NAME_MAX)
      return -EINVAL;
  }
  if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return -EINVAL;
  return 0;
}

static void region_path(char *buf, const char *name)
{
  snprintf(buf, PATH_CAP, SHM_DIR FILE_PREFIX "%s", name);
}

const char *ferry_kind_name(uint32_t kind)
{
  static const char *const names[] = {
      [FERRY_KIND_ANY] = "any",     [FERRY_KIND_RAW] = "raw",   [FERRY_KIND_ARRAY] = "array",
      [FERRY_KIND_QUEUE] = "queue", [FERRY_KIND_PIPE] = "pipe", [FERRY_KIND_BUS] = "bus",
      [FERRY_KIND_HEAP] = "heap",   [FERRY_KIND_DICT] = "dict", [FERRY_KIND_LIST] = "list",
  };
  return kind < sizeof names / sizeof names[0] && names[kind] ? names[kind] : "unknown";
}

static bool kind_known(uint32_t kind)
{
  return kind >= FERRY_KIND_RAW && kind <= FERRY_KIND_LIST &&
         strcmp(ferry_kind_name(kind), "unknown") != 0;
}

char *ferry_role_format(uint32_t role, char *buf, size_t cap)
{
  static const char *const names[] = {"creator", "producer", "consumer", "publisher",
                                      "subscriber", "reader", "writer"};
  if (cap == 0)
    return buf;
  buf[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(role & (1u << i)))
      continue;
    int n = snprintf(buf + used, cap - used, "%s%s", used ? "+" : "", names[i]);
    if (n < 0 || (size_t)n >= cap - used)
      break;
    used += (size_t)n;
  }
  if (used == 0)
    snprintf(buf, cap, "-");
  return buf;
}

const char *ferry_region_status_name(ferry_region_status s)
{
  switch (s) {
  case FERRY_REGION_ACTIVE:
    return "active";
  case FERRY_REGION_IDLE:
    return "idle";
  case FERRY_REGION_ORPHANED:
    return "orphaned";
  case FERRY_REGION_INCOMPLETE:
    return "incomplete";
  }
  return "unknown";
}

void ferry_region_options_init(ferry_region_options *o)
{
  memset(o, 0, sizeof *o);
  o->mode = 0600;
  o->max_participants = FERRY_MAX_PARTICIPANTS_DEFAULT;
  o->liveness_ns = FERRY_LIVENESS_DEFAULT_NS;
}

void ferry_open_options_init(ferry_open_options *o)
{
  memset(o, 0, sizeof *o);
  o->timeout_ns = FERRY_OPEN_TIMEOUT_DEFAULT_NS;
}

static int check_region_options(const ferry_region_options *o)
{
  if ((o->mode & ~07777u) || (o->flags & ~FERRY__REGION_PUBLIC_FLAGS) ||
      (o->flags & ~(uint32_t)FERRY_REGION_UNLINK_ON_LAST_CLOSE))
    return -EINVAL;
  if (o->max_participants < 1 || o->max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  if (o->liveness_ns <= 0)
    return -EINVAL;
  return 0;
}

/* ---- header checks -------------------------------------------------------- */

static uint32_t header_checksum(const struct ferry__region_hdr *h)
{
  return ferry__fnv1a((const uint8_t *)h + FERRY__CHECKSUM_BEGIN,
                      FERRY__CHECKSUM_END - FERRY__CHECKSUM_BEGIN, FERRY__FNV_SEED);
}

static uint64_t header_size_for(uint32_t max_participants)
{
  uint64_t n = FERRY__SLOT_TABLE_OFFSET + (uint64_t)FERRY__SLOT_SIZE * max_participants;
  return (n + FERRY__CACHELINE - 1) & ~(uint64_t)(FERRY__CACHELINE - 1);
}

/*
 * Validates a published header against the file it came from. h may point
 * at untrusted, arbitrary bytes (a copy: nothing here races with writers).
 * The order matters: another major version may use another checksum, so
 * the version is judged before the checksum; sizes only after the checksum.
 */
int ferry__region_validate(const struct ferry__region_hdr *h, uint64_t file_size, ferry_kind kind)
{
  uint64_t magic = atomic_load_explicit(&h->magic, memory_order_relaxed);
  if (magic == 0)
    return FERRY_EINCOMPLETE;
  if (magic != FERRY__REGION_MAGIC)
    return FERRY_EBADMAGIC;
  if (h->version_major != FERRY__REGION_VERSION_MAJOR)
    return FERRY_EVERSION;
  if (h->checksum != header_checksum(h))
    return FERRY_ECORRUPT;
  if (h->max_participants < 1 || h->max_participants > FERRY_MAX_PARTICIPANTS_LIMIT ||
      h->header_size != header_size_for(h->max_participants) || h->liveness_ns <= 0 ||
      !kind_known(h->kind))
    return FERRY_ECORRUPT;
  uint64_t total;
  if (ferry__add_overflow(h->header_size, h->object_size, &total) || total != h->total_size ||
      total > (uint64_t)SIZE_MAX)
    return FERRY_ECORRUPT;
  if (total > file_size)
    return FERRY_ETRUNCATED;
  if (kind != FERRY_KIND_ANY && h->kind != (uint32_t)kind)
    return FERRY_EKIND;
  return 0;
}

/* ---- slots ---------------------------------------------------------------- */

static uint64_t owner_word(pid_t pid, uint64_t gen, uint32_t state)
{
  return (uint64_t)(uint32_t)pid << FERRY__SLOT_PID_SHIFT |
         (gen & FERRY__SLOT_GEN_MASK) << FERRY__SLOT_GEN_SHIFT | state;
}

static uint64_t owner_gen(uint64_t w)
{
  return (w >> FERRY__SLOT_GEN_SHIFT) & FERRY__SLOT_GEN_MASK;
}

void ferry__region_slot_read(const ferry_region *r, uint32_t i, ferry__slot_view *v)
{
  assert(i < r->hdr->max_participants);
  struct ferry__slot *s = &ferry__region_slots(r)[i];
  /* acquire: pairs with the release in claim_slot() that made it LIVE, so
   * start/role/uid/attach_ns below are the claimer's. */
  uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
  v->owner = w;
  v->state = (uint32_t)(w & FERRY__SLOT_STATE_MASK);
  v->pid = (pid_t)(w >> FERRY__SLOT_PID_SHIFT);
  bool live = v->state == FERRY__SLOT_LIVE;
  v->start = live ? s->start : 0;
  v->role = live ? s->role : 0;
  v->uid = live ? s->uid : 0;
  v->attach_ns = live ? s->attach_ns : 0;
}

ferry__liveness ferry__region_slot_alive(const ferry__slot_view *v)
{
  switch (v->state) {
  case FERRY__SLOT_LIVE:
    return ferry__alive(v->pid, v->start);
  case FERRY__SLOT_CLAIMING:
    /* start may not be written yet: existence is all we can check. */
    return ferry__alive(v->pid, 0);
  default:
    return FERRY__DEAD;
  }
}

bool ferry__region_reap_slot(ferry_region *r, uint32_t i, const ferry__slot_view *v)
{
  if (v->state == FERRY__SLOT_FREE)
    return false;
  struct ferry__slot *s = &ferry__region_slots(r)[i];
  uint64_t expect = v->owner;
  uint64_t freed = owner_word(0, owner_gen(v->owner), FERRY__SLOT_FREE);
  /* release: our recovery work for this participant happens-before any
   * reuse; pairs with the acquire of the next claimer's CAS. [slot-aba] */
  if (!atomic_compare_exchange_strong_explicit(&s->owner, &expect, freed, memory_order_release,
                                               memory_order_relaxed))
    return false;
  atomic_fetch_add_explicit(&r->hdr->reaped, 1, memory_order_relaxed);
  return true;
}

static int claim_slot(ferry_region *r, uint32_t role)
{
  struct ferry__region_hdr *h = r->hdr;
  struct ferry__slot *slots = ferry__region_slots(r);
  bool reclaim = (h->flags & FERRY__REGION_STATELESS_SLOTS) != 0;
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < h->max_participants; i++) {
      struct ferry__slot *s = &slots[i];
      uint64_t w = atomic_load_explicit(&s->owner, memory_order_relaxed);
      if ((w & FERRY__SLOT_STATE_MASK) != FERRY__SLOT_FREE)
        continue;
      uint64_t gen = owner_gen(w) + 1;
      uint64_t claiming = owner_word(ferry__pid(), gen, FERRY__SLOT_CLAIMING);
      /* acquire: see the freeing reaper's or closer's release before we
       * overwrite the slot. */
      if (!atomic_compare_exchange_strong_explicit(&s->owner, &w, claiming, memory_order_acquire,
                                                   memory_order_relaxed))
        continue;
      s->start = ferry__pid_start();
      s->role = role;
      s->uid = (uint32_t)getuid();
      s->attach_ns = ferry__wall_ns();
      for (int k = 0; k < 4; k++)
        atomic_store_explicit(&s->obj[k], 0, memory_order_relaxed);
      uint64_t live = owner_word(ferry__pid(), gen, FERRY__SLOT_LIVE);
      /* release: publishes start/role/uid/attach_ns; pairs with the acquire
       * in ferry__region_slot_read(). */
      atomic_store_explicit(&s->owner, live, memory_order_release);
      atomic_fetch_add_explicit(&h->opens, 1, memory_order_relaxed);
      r->slot = (int)i;
      r->slot_owner = live;
      return 0;
    }
    if (!reclaim)
      break;
    /* The table is full. With no per-participant object state, a dead
     * participant's slot needs no recovery and can be freed at once. */
    for (uint32_t i = 0; i < h->max_participants; i++) {
      ferry__slot_view v;
      ferry__region_slot_read(r, i, &v);
      if (v.state != FERRY__SLOT_FREE && ferry__region_slot_alive(&v) == FERRY__DEAD)
        ferry__region_reap_slot(r, i, &v);
    }
  }
  return -EUSERS;
}

void ferry__region_leave(ferry_region *r)
{
  if (r->slot < 0)
    return;
  struct ferry__slot *s = &ferry__region_slots(r)[r->slot];
  uint64_t expect = r->slot_owner;
  uint64_t freed = owner_word(0, owner_gen(expect), FERRY__SLOT_FREE);
  /* release: everything this participant wrote happens-before the slot's
   * reuse. A failed CAS means somebody reaped us as dead (we were stopped
   * for longer than the liveness bound and /proc lied); nothing to undo. */
  atomic_compare_exchange_strong_explicit(&s->owner, &expect, freed, memory_order_release,
                                          memory_order_relaxed);
  r->slot = -1;
}

/* ---- handle helpers --------------------------------------------------------- */

static void handle_free(ferry_region *r)
{
  if (r->base && r->base != MAP_FAILED)
    munmap(r->base, r->map_size);
  if (r->fd >= 0)
    close(r->fd);
  free(r);
}

/* Unlinks path only if it still names the file open as fd: after a gc a new
 * region may have taken the name. (A create between the stat and the unlink
 * remains possible; it is bounded by one system call.) */
static int unlink_if_same(const char *path, int fd)
{
  struct stat a, b;
  if (fstat(fd, &a) != 0 || stat(path, &b) != 0)
    return -errno;
  if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
    return -ENOENT;
  return unlink(path) == 0 ? 0 : -errno;
}

/* Takes flock `op` (LOCK_SH/LOCK_EX), retrying until the deadline. */
static int lock_until(int fd, int op, int64_t deadline)
{
  for (;;) {
    if (flock(fd, op | LOCK_NB) == 0)
      return 0;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return -errno;
    int64_t now = ferry__now_ns();
    if (now >= deadline)
      return -ETIMEDOUT;
    ferry__sleep_until(ferry__slice_end(deadline, FERRY_MSEC));
  }
}

/* ---- create ----------------------------------------------------------------- */

int ferry__region_create(const char *name, ferry_kind kind, size_t object_size,
                         const ferry_region_options *o, uint32_t internal_flags,
                         ferry_region **out)
{
  ferry_region_options defaults;
  if (!o) {
    ferry_region_options_init(&defaults);
    o = &defaults;
  }
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  if ((rc = check_region_options(o)))
    return rc;
  if (!kind_known(kind) || (internal_flags & FERRY__REGION_PUBLIC_FLAGS))
    return -EINVAL;
  uint64_t header_size = header_size_for(o->max_participants), total;
  if (ferry__add_overflow(header_size, object_size, &total) || total > (uint64_t)INT64_MAX ||
      total > (uint64_t)SIZE_MAX)
    return -EOVERFLOW;

  ferry_region *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->fd = -1;
  r->slot = -1;
  snprintf(r->name, sizeof r->name, "%s", name);
  char path[PATH_CAP];
  region_path(path, name);

  r->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, o->mode & 0777);
  if (r->fd < 0) {
    rc = -errno;
    free(r);
    return rc;
  }
  /* [attach-lock]: hold it from the first moment, so openers can tell a
   * creator at work from one that died. */
  if (flock(r->fd, LOCK_SH) != 0 || fchmod(r->fd, o->mode) != 0) {
    rc = -errno;
    goto fail;
  }
  /* fallocate reserves the memory now: a full /dev/shm is -ENOSPC here
   * instead of a SIGBUS at some later first touch. */
  if ((rc = posix_fallocate(r->fd, 0, (off_t)total)) != 0) {
    rc = -rc;
    goto fail;
  }
  r->map_size = (size_t)total;
  r->base = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
  if (r->base == MAP_FAILED) {
    rc = -errno;
    goto fail;
  }
  struct ferry__region_hdr *h = r->hdr = (struct ferry__region_hdr *)r->base;
  /* The creator's identity first: an opener that finds no magic reads it. */
  h->creator_uid = (uint32_t)getuid();
  h->creator_pid = ferry__pid();
  h->creator_start = ferry__pid_start();
  h->version_major = FERRY__REGION_VERSION_MAJOR;
  h->version_minor = FERRY__REGION_VERSION_MINOR;
  h->header_size = (uint32_t)header_size;
  h->kind = kind;
  h->flags = o->flags | internal_flags;
  h->total_size = total;
  h->object_size = object_size;
  h->max_participants = o->max_participants;
  h->mode = o->mode;
  h->liveness_ns = o->liveness_ns;
  h->created_ns = ferry__wall_ns();
  h->checksum = header_checksum(h);
  r->object = r->base + header_size;
  if ((rc = claim_slot(r, o->role | FERRY_ROLE_CREATOR)))
    goto fail;
  *out = r;
  return 0;

fail:
  unlink(path);
  handle_free(r);
  return rc;
}

void ferry__region_publish(ferry_region *r)
{
  /* release: every header field and the object's initialisation
   * happen-before the magic; pairs with the acquire in probe(). [magic-last] */
  atomic_store_explicit(&r->hdr->magic, FERRY__REGION_MAGIC, memory_order_release);
  r->published = true;
}

void ferry__region_abort(ferry_region *r)
{
  if (!r)
    return;
  char path[PATH_CAP];
  region_path(path, r->name);
  unlink_if_same(path, r->fd);
  handle_free(r);
}

int ferry_region_create(const char *name, size_t size, const ferry_region_options *o,
                        ferry_region **out)
{
  if (size == 0)
    return -EINVAL;
  ferry_region *r = NULL;
  int rc = ferry__region_create(name, FERRY_KIND_RAW, size, o, 0, &r);
  if (rc)
    return rc;
  ferry__region_publish(r);
  *out = r;
  return 0;
}

/* ---- open ------------------------------------------------------------------- */

/* Is an unpublished file's creator still at work? See [attach-lock] and
 * [young-file]: the creator holds the shared lock from just after O_EXCL. */
static bool creator_at_work(int fd, const struct stat *st)
{
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    return true; /* somebody holds the lock: only a creator can, here */
  flock(fd, LOCK_UN);
  int64_t age = ferry__wall_ns() - ((int64_t)st->st_ctim.tv_sec * FERRY_SEC + st->st_ctim.tv_nsec);
  return age < CREATE_GRACE_NS;
}

/*
 * Reads the header of the file open as fd into *copy and classifies it:
 * 0 published (the copy is valid to validate), -EAGAIN not published yet
 * but a creator is at work, or an error: FERRY_EINCOMPLETE (never
 * published, creator gone), FERRY_EBADMAGIC, FERRY_ETRUNCATED.
 */
static int probe(int fd, struct ferry__region_hdr *copy, struct stat *st)
{
  if (fstat(fd, st) != 0)
    return -errno;
  if (!S_ISREG(st->st_mode))
    return FERRY_EBADMAGIC;
  memset(copy, 0, sizeof *copy);
  ssize_t n = pread(fd, copy, sizeof *copy, 0);
  if (n < 0)
    return -errno;
  uint64_t magic = 0;
  if (n >= (ssize_t)sizeof magic)
    magic = atomic_load_explicit(&copy->magic, memory_order_relaxed);
  if (magic == FERRY__REGION_MAGIC) {
    if ((size_t)n < sizeof *copy)
      return FERRY_ETRUNCATED;
    /* acquire: pairs with the release in ferry__region_publish(); pread
     * copied the magic before the rest in no particular order, so read the
     * header again now that it is known to be published. */
    atomic_thread_fence(memory_order_acquire);
    if (pread(fd, copy, sizeof *copy, 0) != (ssize_t)sizeof *copy)
      return FERRY_ETRUNCATED;
    return 0;
  }
  if (magic != 0)
    return FERRY_EBADMAGIC;
  return creator_at_work(fd, st) ? -EAGAIN : FERRY_EINCOMPLETE;
}

int ferry__region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                       ferry_region **out)
{
  ferry_open_options defaults;
  if (!o) {
    ferry_open_options_init(&defaults);
    o = &defaults;
  }
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  if ((o->flags & ~(uint32_t)FERRY_OPEN_OBSERVE) || (uint32_t)kind > FERRY_KIND_LIST)
    return -EINVAL;
  int64_t deadline;
  if ((rc = ferry__deadline(o->timeout_ns, &deadline)))
    return rc;
  bool observe = (o->flags & FERRY_OPEN_OBSERVE) != 0;
  char path[PATH_CAP];
  region_path(path, name);

  ferry_region *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->fd = -1;
  r->slot = -1;
  r->observe = observe;
  snprintf(r->name, sizeof r->name, "%s", name);

  struct ferry__region_hdr copy;
  struct stat st;
  for (;;) {
    r->fd = open(path, (observe ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
    if (r->fd < 0) {
      rc = errno == ELOOP ? FERRY_EBADMAGIC : -errno;
      goto fail;
    }
    /* Wait for the creator to publish [magic-last]. Polling with a short
     * sleep: creation is a one-off of microseconds to milliseconds. */
    while ((rc = probe(r->fd, &copy, &st)) == -EAGAIN) {
      if (ferry__now_ns() >= deadline) {
        rc = -ETIMEDOUT;
        goto fail;
      }
      ferry__sleep_until(ferry__slice_end(deadline, FERRY_MSEC));
    }
    if (rc)
      goto fail;
    if (observe)
      break;
    /* [attach-lock]: shared lock, then make sure gc did not remove the
     * file between our open() and the lock. */
    if ((rc = lock_until(r->fd, LOCK_SH, deadline)))
      goto fail;
    if (fstat(r->fd, &st) != 0) {
      rc = -errno;
      goto fail;
    }
    if (st.st_nlink > 0)
      break;
    close(r->fd); /* removed under us: start again, which will likely ENOENT */
    r->fd = -1;
  }

  if ((rc = ferry__region_validate(&copy, (uint64_t)st.st_size, kind)))
    goto fail;
  r->map_size = (size_t)copy.total_size;
  r->base = mmap(NULL, r->map_size, observe ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                 r->fd, 0);
  if (r->base == MAP_FAILED) {
    rc = -errno;
    goto fail;
  }
  r->hdr = (struct ferry__region_hdr *)r->base;
  r->object = r->base + copy.header_size;
  /* The mapping is shared with peers that may scribble on it: validate the
   * live header too, so that what we checked is what we use. The immutable
   * fields only change by corruption, which the checksum then catches. */
  if (memcmp(r->hdr, &copy, FERRY__CHECKSUM_END + sizeof copy.checksum) != 0) {
    rc = FERRY_ECORRUPT;
    goto fail;
  }
  r->published = true;
  if (!observe && (rc = claim_slot(r, o->role)))
    goto fail;
  *out = r;
  return 0;

fail:
  handle_free(r);
  return rc;
}

int ferry_region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                      ferry_region **out)
{
  return ferry__region_open(name, kind, o, out);
}

/* ---- close, unlink ------------------------------------------------------------ */

static void count_slots(const ferry_region *r, uint32_t *live, uint32_t *dead)
{
  *live = *dead = 0;
  for (uint32_t i = 0; i < r->hdr->max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.state == FERRY__SLOT_FREE)
      continue;
    if (ferry__region_slot_alive(&v) == FERRY__ALIVE)
      (*live)++;
    else
      (*dead)++;
  }
}

void ferry_region_close(ferry_region *r)
{
  if (!r)
    return;
  bool was_registered = r->slot_owner != 0; /* left or still in the table */
  ferry__region_leave(r);
  if (was_registered && r->published && (r->hdr->flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE)) {
    /* [attach-lock]: the exclusive lock means no other process is attached
     * or attaching; the table check covers processes that closed the fd
     * behind our back but still run. */
    if (flock(r->fd, LOCK_EX | LOCK_NB) == 0) {
      uint32_t live, dead;
      count_slots(r, &live, &dead);
      if (live == 0) {
        char path[PATH_CAP];
        region_path(path, r->name);
        unlink_if_same(path, r->fd);
      }
    }
  }
  handle_free(r);
}

int ferry_unlink(const char *name)
{
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  char path[PATH_CAP];
  region_path(path, name);
  return unlink(path) == 0 ? 0 : -errno;
}

int ferry__object_check_prefix(const ferry_region *r, uint64_t magic, uint16_t version_major,
                               uint32_t header_size)
{
  const struct ferry__object_prefix *p = ferry__region_object(r);
  if (r->hdr->object_size < header_size || header_size < sizeof *p)
    return FERRY_ETRUNCATED;
  if (atomic_load_explicit(&p->magic, memory_order_relaxed) != magic)
    return FERRY_ECORRUPT;
  if (p->version_major != version_major)
    return FERRY_EVERSION;
  return p->header_size == header_size ? 0 : FERRY_ECORRUPT;
}

/* ---- accessors ------------------------------------------------------------------ */

const char *ferry_region_name(const ferry_region *r) { return r->name; }
ferry_kind ferry_region_kind(const ferry_region *r) { return (ferry_kind)r->hdr->kind; }
void *ferry_region_data(const ferry_region *r) { return ferry__region_object(r); }
size_t ferry_region_data_size(const ferry_region *r) { return r->map_size - (size_t)(r->object - r->base); }
int ferry_region_slot(const ferry_region *r) { return r->slot; }

/* ---- inspection ------------------------------------------------------------------- */

static ferry_region_status status_of(uint32_t live, uint32_t dead)
{
  if (live)
    return FERRY_REGION_ACTIVE;
  return dead ? FERRY_REGION_ORPHANED : FERRY_REGION_IDLE;
}

int ferry_region_info_get(const ferry_region *r, ferry_region_info *out)
{
  const struct ferry__region_hdr *h = r->hdr;
  struct stat st;
  if (fstat(r->fd, &st) != 0)
    return -errno;
  ferry_region_info info;
  memset(&info, 0, sizeof info);
  snprintf(info.name, sizeof info.name, "%s", r->name);
  info.kind = h->kind;
  info.version_major = h->version_major;
  info.version_minor = h->version_minor;
  info.total_size = h->total_size;
  info.object_size = h->object_size;
  info.mode = st.st_mode & 07777;
  info.flags = h->flags & FERRY__REGION_PUBLIC_FLAGS;
  info.creator_uid = h->creator_uid;
  info.creator_pid = h->creator_pid;
  info.creator_start = h->creator_start;
  info.created_ns = h->created_ns;
  info.liveness_ns = h->liveness_ns;
  info.max_participants = h->max_participants;
  count_slots(r, &info.live, &info.dead);
  info.opens = atomic_load_explicit(&r->hdr->opens, memory_order_relaxed);
  info.reaped = atomic_load_explicit(&r->hdr->reaped, memory_order_relaxed);
  info.status = status_of(info.live, info.dead);
  *out = info;
  return 0;
}

ssize_t ferry_region_participants(const ferry_region *r, ferry_participant *out, size_t cap)
{
  size_t n = 0;
  for (uint32_t i = 0; i < r->hdr->max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.state == FERRY__SLOT_FREE)
      continue;
    if (n < cap) {
      ferry_participant *p = &out[n];
      p->slot = i;
      p->pid = v.pid;
      p->start_time = v.start;
      p->role = v.role;
      p->uid = v.uid;
      p->attach_ns = v.attach_ns;
      p->alive = ferry__region_slot_alive(&v) == FERRY__ALIVE;
    }
    n++;
  }
  return (ssize_t)n;
}

int ferry_region_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
  DIR *d = opendir(SHM_DIR);
  if (!d)
    return -errno;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, FILE_PREFIX, sizeof FILE_PREFIX - 1) != 0)
      continue;
    const char *name = e->d_name + sizeof FILE_PREFIX - 1;
    if (ferry_name_valid(name) != 0)
      continue;
    if ((rc = fn(name, arg)) != 0)
      break;
  }
  closedir(d);
  return rc;
}

/* Fills the little an incomplete region can tell. */
static void incomplete_info(const char *name, ferry_region_info *out)
{
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", name);
  char path[PATH_CAP];
  region_path(path, name);
  struct stat st;
  if (stat(path, &st) == 0) {
    out->total_size = (uint64_t)st.st_size;
    out->mode = st.st_mode & 07777;
    out->created_ns = (int64_t)st.st_ctim.tv_sec * FERRY_SEC + st.st_ctim.tv_nsec;
  }
  out->status = FERRY_REGION_INCOMPLETE;
}

int ferry_region_stat(const char *name, ferry_region_info *out)
{
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.timeout_ns = 0;
  o.flags = FERRY_OPEN_OBSERVE;
  ferry_region *r;
  int rc = ferry__region_open(name, FERRY_KIND_ANY, &o, &r);
  if (rc == FERRY_EINCOMPLETE) {
    incomplete_info(name, out);
    return 0;
  }
  if (rc)
    return rc == -ETIMEDOUT ? -EAGAIN : rc;
  rc = ferry_region_info_get(r, out);
  ferry_region_close(r);
  return rc;
}

int ferry_region_gc(const char *name, unsigned flags, ferry_region_status *status)
{
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  if (flags & ~(unsigned)(FERRY_GC_IDLE | FERRY_GC_DRY_RUN))
    return -EINVAL;
  char path[PATH_CAP];
  region_path(path, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  ferry_region_status s = FERRY_REGION_ACTIVE;
  /* [attach-lock]: while we hold it exclusively nobody can attach, and if
   * we cannot get it somebody is attached (or creating). */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    if (status)
      *status = s;
    return 0;
  }
  struct ferry__region_hdr copy;
  struct stat st;
  rc = probe(fd, &copy, &st);
  if (rc == FERRY_EINCOMPLETE) {
    s = FERRY_REGION_INCOMPLETE;
  } else if (rc == -EAGAIN) {
    s = FERRY_REGION_ACTIVE; /* a young unpublished file [young-file] */
    rc = 0;
  } else if (rc == 0 && (rc = ferry__region_validate(&copy, (uint64_t)st.st_size, FERRY_KIND_ANY)) == 0) {
    ferry_region view = {.fd = fd, .slot = -1, .observe = true};
    view.map_size = (size_t)copy.total_size;
    view.base = mmap(NULL, view.map_size, PROT_READ, MAP_SHARED, fd, 0);
    if (view.base == MAP_FAILED) {
      rc = -errno;
    } else {
      view.hdr = (struct ferry__region_hdr *)view.base;
      uint32_t live, dead;
      count_slots(&view, &live, &dead);
      s = status_of(live, dead);
      munmap(view.base, view.map_size);
    }
  }
  int removed = 0;
  if (rc == 0 || rc == FERRY_EINCOMPLETE) {
    rc = 0;
    bool doomed = s == FERRY_REGION_ORPHANED || s == FERRY_REGION_INCOMPLETE ||
                  (s == FERRY_REGION_IDLE && (flags & FERRY_GC_IDLE));
    if (doomed && !(flags & FERRY_GC_DRY_RUN))
      rc = unlink_if_same(path, fd);
    removed = doomed && rc == 0;
    if (status)
      *status = s;
  }
  close(fd);
  return rc < 0 ? rc : removed;
}
