/* SPDX-License-Identifier: MIT */
/*
 * region.c: named shared-memory regions, their common header and their
 * participant table. The layout is in region_layout.h; the public contract
 * in ferry/region.h; the claims and proofs in docs/design/region.md.
 *
 * Files live in /dev/shm as "ferry.<name>" (what shm_open would use), opened
 * with plain open() so that O_NOFOLLOW, flock() and fcntl() locks apply.
 *
 * Two kinds of kernel-kept lock, both on the file and both dropped by the
 * kernel when the last descriptor of the holder's open file goes (death,
 * exec, close):
 *
 *   - The attach lock [attach-lock]: every registered participant, and a
 *     creator from its first moment, holds a shared flock(). gc and
 *     unlink-on-last-close take it exclusively before deciding; an opener
 *     takes it shared before it registers and then checks that the file is
 *     still linked. So a region is never removed under a process that is
 *     attaching to it.
 *   - The slot locks [slot-lock]: one OFD byte lock per participant slot,
 *     held by the slot's owner. They are the liveness model.
 *
 * Handles belong to the process that opened them [fork]: a fork child's
 * copies are marked foreign and their descriptors closed, so a child never
 * keeps its parent's locks alive nor deregisters its parent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crash.h"
#include "ferry/error.h"
#include "abi.h"
#include "region_internal.h"
#include "remote.h"

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
      [FERRY_KIND_HEAP] = "heap",   [FERRY_KIND_DICT] = "dict", [FERRY_KIND_POOL] = "pool",
      [FERRY_KIND_LIST] = "list",
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
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  if ((o->mode & ~07777u) || (o->flags & ~FERRY__REGION_PUBLIC_FLAGS) ||
      (o->flags & ~(uint32_t)FERRY_REGION_UNLINK_ON_LAST_CLOSE))
    return -EINVAL;
  if (o->max_participants < 1 || o->max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  if (o->liveness_ns <= 0 || o->liveness_ns > FERRY_LIVENESS_MAX_NS)
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
      h->liveness_ns > FERRY_LIVENESS_MAX_NS ||
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

/* ---- the handles of this process [fork] ------------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static ferry_region *registry;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static void registry_prepare(void) { pthread_mutex_lock(&registry_lock); }
static void registry_parent(void) { pthread_mutex_unlock(&registry_lock); }

/* "/proc/self/fd/<fd>", formatted without stdio: this runs in a fork
 * child, where only async-signal-safe calls belong. */
static void fd_path(char *buf, int fd)
{
  static const char prefix[] = "/proc/self/fd/";
  memcpy(buf, prefix, sizeof prefix - 1);
  char digits[16];
  int n = 0;
  do {
    digits[n++] = (char)('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  char *p = buf + sizeof prefix - 1;
  while (n > 0)
    *p++ = digits[--n];
  *p = '\0';
}

/*
 * In a fork child: every handle is the parent's. A mapping holds a
 * reference to the open file it was made through, and so do our copies of
 * the descriptors: left alone, they would keep the parent's locks (its
 * slot, its attach lock) alive after the parent dies. So each mapping is
 * made again, at the same address, through a new open of the same file
 * (which holds no lock), and the copies of the descriptors are closed. The
 * child keeps a working view of the memory; the handles are foreign
 * [fork]. Where the file cannot be opened again, the mapping goes.
 */
static void registry_child(void)
{
  for (ferry_region *r = registry; r; r = r->reg_next) {
    if (r->fd >= 0 && r->base && r->base != MAP_FAILED) {
      char path[40];
      fd_path(path, r->fd);
      int fd = open(path, (r->observe ? O_RDONLY : O_RDWR) | O_CLOEXEC);
      int prot = r->observe ? PROT_READ : PROT_READ | PROT_WRITE;
      void *p = fd >= 0 ? mmap(r->base, r->map_size, prot, MAP_SHARED | MAP_FIXED, fd, 0) : MAP_FAILED;
      if (p == MAP_FAILED) {
        munmap(r->base, r->map_size);
        r->base = NULL;
      }
      if (fd >= 0)
        close(fd);
    }
    if (r->fd >= 0)
      close(r->fd);
    r->fd = -1;
    r->foreign = true;
    r->slot = -1;
  }
  pthread_mutex_unlock(&registry_lock);
}

static void registry_init(void)
{
  pthread_atfork(registry_prepare, registry_parent, registry_child);
}

static void registry_add(ferry_region *r)
{
  pthread_once(&registry_once, registry_init);
  pthread_mutex_lock(&registry_lock);
  r->reg_prev = NULL;
  r->reg_next = registry;
  if (registry)
    registry->reg_prev = r;
  registry = r;
  pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(ferry_region *r)
{
  pthread_mutex_lock(&registry_lock);
  if (r->reg_prev)
    r->reg_prev->reg_next = r->reg_next;
  else if (registry == r)
    registry = r->reg_next;
  if (r->reg_next)
    r->reg_next->reg_prev = r->reg_prev;
  pthread_mutex_unlock(&registry_lock);
}

/* ---- slot locks [slot-lock] ------------------------------------------------- */

/* Slot i has two lock bytes: its owner's, held by the participant for as
 * long as it is registered, and its claim byte, held by whoever joins into
 * the slot or recovers it, so that those exclude each other without ever
 * holding the owner byte of a slot that names someone else. */
static off_t owner_byte(uint32_t i) { return (off_t)FERRY__SLOT_LOCK_BASE + 2 * (off_t)i; }
static off_t claim_byte(uint32_t i) { return owner_byte(i) + 1; }

static struct flock byte_range(off_t at, short type)
{
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = at;
  fl.l_len = 1;
  return fl;
}

/* Takes the write lock on byte `at` without waiting: 0, -EAGAIN (held
 * through another open file), or -ENOSYS where the kernel has no OFD locks
 * (before Linux 3.15). */
static int byte_trylock(int fd, off_t at)
{
  struct flock fl = byte_range(at, F_WRLCK);
  for (;;) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EACCES)
      return -EAGAIN;
    return errno == EINVAL ? -ENOSYS : -errno;
  }
}

static void byte_unlock(int fd, off_t at)
{
  struct flock fl = byte_range(at, F_UNLCK);
  while (fcntl(fd, F_OFD_SETLK, &fl) != 0 && errno == EINTR)
    ;
}

/* Is byte `at` locked through another open file than fd's? An error (a
 * kernel without OFD locks) answers "locked": never judge on no evidence. */
static bool byte_locked(int fd, off_t at)
{
  struct flock fl = byte_range(at, F_WRLCK);
  while (fcntl(fd, F_OFD_GETLK, &fl) != 0)
    if (errno != EINTR)
      return true;
  return fl.l_type != F_UNLCK;
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
  assert(i < r->hc.max_participants);
  struct ferry__slot *s = &ferry__region_slots(r)[i];
  /* acquire: pairs with the release in join() that made it LIVE, so
   * start/role/uid/attach_ns below are the joiner's. */
  uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
  v->owner = w;
  v->state = (w & FERRY__SLOT_STATE_MASK) == FERRY__SLOT_LIVE ? FERRY__SLOT_LIVE : FERRY__SLOT_FREE;
  bool live = v->state == FERRY__SLOT_LIVE;
  v->pid = live ? (pid_t)(w >> FERRY__SLOT_PID_SHIFT) : 0;
  v->start = live ? s->start : 0;
  v->role = live ? s->role : 0;
  v->uid = live ? s->uid : 0;
  v->attach_ns = live ? s->attach_ns : 0;
}

static uint64_t slot_word(const ferry_region *r, uint32_t i)
{
  /* acquire: as in ferry__region_slot_read() */
  return atomic_load_explicit(&ferry__region_slots(r)[i].owner, memory_order_acquire);
}

ferry__slot_liveness ferry__region_slot_check(const ferry_region *r, uint32_t i,
                                              const ferry__slot_view *v)
{
  if (v->state != FERRY__SLOT_LIVE)
    return FERRY__SLOT_GONE;
  if ((int)i == r->slot && v->owner == r->slot_owner)
    return FERRY__SLOT_ALIVE; /* our own lock does not show through our fd */
  if (r->fd < 0)
    return FERRY__SLOT_ALIVE;
  if (byte_locked(r->fd, owner_byte(i)))
    /* Held, but by v's participant only if the word still names it: since
     * v was read, a recoverer may have freed the slot and a joiner taken
     * it, lock first, then word [slot-lock, claim 2]. */
    return slot_word(r, i) == v->owner ? FERRY__SLOT_ALIVE : FERRY__SLOT_GONE;
  /* The lock is free. The owner writes FREE before it unlocks, so a word
   * still equal to what was read after that is a participant that died
   * without closing; a changed word, one that closed or was recovered. The
   * fcntl() above is a system call, a full barrier. */
  return slot_word(r, i) == v->owner ? FERRY__SLOT_DEAD : FERRY__SLOT_GONE;
}

bool ferry__region_recover_begin(ferry_region *r, uint32_t i, const ferry__slot_view *v)
{
  if (v->state != FERRY__SLOT_LIVE || r->fd < 0 || ((int)i == r->slot))
    return false;
  /* Threads sharing this handle share its open file, whose locks never
   * conflict with each other: the mutex stands in for the lock between
   * them. */
  pthread_mutex_lock(&r->recover_lock);
  if (byte_trylock(r->fd, claim_byte(i)) == 0) {
    /* With the claim byte held, nobody joins into the slot or recovers it
     * but us; the word is still the dead one's, and its owner byte free. */
    if (slot_word(r, i) == v->owner && !byte_locked(r->fd, owner_byte(i)))
      return true;
    byte_unlock(r->fd, claim_byte(i));
  }
  pthread_mutex_unlock(&r->recover_lock);
  return false;
}

/* Frees a slot whose word is `owner` and whose lock the caller holds. */
static bool free_slot(ferry_region *r, uint32_t i, uint64_t owner)
{
  struct ferry__slot *s = &ferry__region_slots(r)[i];
  uint64_t expect = owner;
  /* release: our recovery work for this participant happens-before any
   * reuse; pairs with the acquire of the next joiner's CAS. */
  return atomic_compare_exchange_strong_explicit(&s->owner, &expect,
                                                 owner_word(0, owner_gen(owner), FERRY__SLOT_FREE),
                                                 memory_order_release, memory_order_relaxed);
}

void ferry__region_recover_end(ferry_region *r, uint32_t i, const ferry__slot_view *v)
{
  FERRY__CRASH_POINT("region.recover.undone");
  if (free_slot(r, i, v->owner))
    atomic_fetch_add_explicit(&r->hdr->reaped, 1, memory_order_relaxed);
  byte_unlock(r->fd, claim_byte(i));
  pthread_mutex_unlock(&r->recover_lock);
}

/* With slot i's lock held and its word `w`: makes it ours. */
static void take_slot(ferry_region *r, uint32_t i, uint64_t w)
{
  struct ferry__slot *s = &ferry__region_slots(r)[i];
  s->start = ferry__pid_start();
  s->role = r->role;
  s->uid = (uint32_t)getuid();
  s->attach_ns = ferry__wall_ns();
  for (int k = 0; k < 4; k++)
    atomic_store_explicit(&s->obj[k], 0, memory_order_relaxed);
  uint64_t live = owner_word(ferry__pid(), owner_gen(w) + 1, FERRY__SLOT_LIVE);
  /* release: publishes start/role/uid/attach_ns and the zeroed obj[];
   * pairs with the acquire in ferry__region_slot_read(). Only lock holders
   * write the word, so this plain store cannot lose another's write. */
  atomic_store_explicit(&s->owner, live, memory_order_release);
  atomic_fetch_add_explicit(&r->hdr->opens, 1, memory_order_relaxed);
  r->slot = (int)i;
  r->slot_owner = live;
}

int ferry__region_join(ferry_region *r, ferry__slot_recover_fn recover, void *arg)
{
  if (r->observe || r->slot >= 0 || r->fd < 0)
    return -EINVAL;
  /* Pass 0 takes a free slot; pass 1, with the table full, the slot of a
   * participant that died without closing, once its state is undone. */
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < r->hc.max_participants; i++) {
      uint64_t w = slot_word(r, i);
      if ((w & FERRY__SLOT_STATE_MASK) == FERRY__SLOT_LIVE && pass == 0)
        continue;
      int rc = byte_trylock(r->fd, claim_byte(i));
      if (rc == -EAGAIN)
        continue;
      if (rc)
        return rc;
      /* Holding the claim byte, nobody else joins or recovers this slot. */
      FERRY__CRASH_POINT("region.join.claimed");
      w = slot_word(r, i);
      if ((w & FERRY__SLOT_STATE_MASK) == FERRY__SLOT_LIVE) {
        if (pass == 0 || byte_locked(r->fd, owner_byte(i))) {
          byte_unlock(r->fd, claim_byte(i));
          continue; /* alive, or not ours to reclaim */
        }
        ferry__slot_view v;
        ferry__region_slot_read(r, i, &v);
        if (recover) {
          pthread_mutex_lock(&r->recover_lock);
          recover(arg, i, &v);
          pthread_mutex_unlock(&r->recover_lock);
        }
        FERRY__CRASH_POINT("region.join.reclaiming");
        if (free_slot(r, i, w))
          atomic_fetch_add_explicit(&r->hdr->reaped, 1, memory_order_relaxed);
        w = slot_word(r, i);
      }
      /* A free word whose owner byte is held: corrupt; leave it alone. */
      if ((rc = byte_trylock(r->fd, owner_byte(i))) != 0) {
        byte_unlock(r->fd, claim_byte(i));
        if (rc == -EAGAIN)
          continue;
        return rc;
      }
      take_slot(r, i, w);
      FERRY__CRASH_POINT("region.join.owned");
      byte_unlock(r->fd, claim_byte(i));
      return 0;
    }
  }
  return -EUSERS;
}

void ferry__region_leave(ferry_region *r)
{
  if (r->slot < 0)
    return;
  /* Our word, then our lock [slot-lock]: a checker that finds the lock
   * free finds the word changed too. A failed CAS cannot happen while we
   * hold the lock, short of corruption; nothing to undo then either. */
  free_slot(r, (uint32_t)r->slot, r->slot_owner);
  FERRY__CRASH_POINT("region.leave.freed");
  byte_unlock(r->fd, owner_byte((uint32_t)r->slot));
  r->slot = -1;
}

/* ---- handle helpers --------------------------------------------------------- */

static ferry_region *handle_new(const char *name, bool observe)
{
  ferry_region *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->fd = -1;
  r->slot = -1;
  r->observe = observe;
  pthread_mutex_init(&r->recover_lock, NULL);
  snprintf(r->name, sizeof r->name, "%s", name);
  return r;
}

static void handle_free(ferry_region *r)
{
  if (r->base && r->base != MAP_FAILED)
    munmap(r->base, r->map_size);
  if (r->fd >= 0)
    close(r->fd);
  pthread_mutex_destroy(&r->recover_lock);
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
  return ferry__region_create_partial(name, kind, object_size, object_size, o, internal_flags,
                                      out);
}

/* fallocate(2) of [off, off + len) of the file, retried on EINTR. 0, or a
 * negative errno. On tmpfs a failure allocates nothing: the kernel undoes
 * what the call itself allocated [commit]. */
static int reserve(int fd, uint64_t off, uint64_t len)
{
  if (len == 0)
    return 0;
  for (;;) {
    if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
      return 0;
    if (errno != EINTR)
      return -errno;
  }
}

int ferry__region_create_partial(const char *name, ferry_kind kind, size_t object_size,
                                 size_t commit_size, const ferry_region_options *o,
                                 uint32_t internal_flags, ferry_region **out)
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

  ferry_region *r = handle_new(name, false);
  if (!r)
    return -ENOMEM;
  char path[PATH_CAP];
  region_path(path, name);

  r->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, o->mode & 0777);
  if (r->fd < 0) {
    rc = -errno;
    handle_free(r);
    return rc;
  }
  /* [attach-lock]: hold it from the first moment, so openers can tell a
   * creator at work from one that died. */
  if (flock(r->fd, LOCK_SH) != 0 || fchmod(r->fd, o->mode) != 0) {
    rc = -errno;
    goto fail;
  }
  /* The file gets its full size, and fallocate reserves the memory of the
   * header and the first commit_size bytes of the object now: a full
   * /dev/shm is -ENOSPC here instead of a SIGBUS at some later first
   * touch. The rest stays a hole until ferry__region_commit() [commit]. */
  if (commit_size > object_size)
    commit_size = object_size;
  if (ftruncate(r->fd, (off_t)total) != 0) {
    rc = -errno;
    goto fail;
  }
  rc = reserve(r->fd, 0, header_size + commit_size);
  if (rc == -EOPNOTSUPP) {
    /* A file system without fallocate: commit everything now (glibc then
     * writes every block), so that every later commit may be a no-op. */
    if ((rc = posix_fallocate(r->fd, 0, (off_t)total)) != 0)
      rc = -rc;
  }
  if (rc)
    goto fail;
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
  memcpy(&r->hc, h, sizeof r->hc);
  r->object = r->base + header_size;
  r->role = o->role | FERRY_ROLE_CREATOR;
  /* A fresh file that nobody can open yet: slot 0 is ours for the taking. */
  if ((rc = byte_trylock(r->fd, owner_byte(0))) != 0)
    goto fail;
  take_slot(r, 0, 0);
  FERRY__CRASH_POINT("region.create.unpublished");
  registry_add(r);
  *out = r;
  return 0;

fail:
  /* Only the file we created: a gc may have removed it and another
   * creator taken the name since. */
  unlink_if_same(path, r->fd);
  handle_free(r);
  return rc;
}

int ferry__region_commit(ferry_region *r, uint64_t off, uint64_t len)
{
  uint64_t end;
  if (r->observe || r->fd < 0 || ferry__add_overflow(off, len, &end) ||
      end > r->hc.object_size)
    return -EINVAL;
  int rc = reserve(r->fd, r->hc.header_size + off, len);
  /* A file system without fallocate had the whole file committed at
   * create (ferry__region_create_partial()). */
  return rc == -EOPNOTSUPP ? 0 : rc;
}

void ferry__region_publish(ferry_region *r)
{
  /* release: every header field and the object's initialisation
   * happen-before the magic; pairs with the acquire in probe(). [magic-last] */
  atomic_store_explicit(&r->hdr->magic, FERRY__REGION_MAGIC, memory_order_release);
  r->hc.magic = FERRY__REGION_MAGIC;
  r->published = true;
}

void ferry__region_abort(ferry_region *r)
{
  if (!r)
    return;
  char path[PATH_CAP];
  region_path(path, r->name);
  if (r->fd >= 0)
    unlink_if_same(path, r->fd);
  registry_remove(r);
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
 * [young-file]: the creator holds the shared lock from just after O_EXCL.
 * `exclusive`: the caller (gc) holds the exclusive lock itself, which
 * already proves that nobody else holds it; testing again would convert
 * and then drop the caller's own lock. */
static bool creator_at_work(int fd, const struct stat *st, bool exclusive)
{
  if (!exclusive) {
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
      return true; /* somebody holds the lock: only a creator can, here */
    flock(fd, LOCK_UN);
  }
  int64_t age = ferry__wall_ns() - ((int64_t)st->st_ctim.tv_sec * FERRY_SEC + st->st_ctim.tv_nsec);
  return age < CREATE_GRACE_NS;
}

/*
 * Reads the header of the file open as fd into *copy and classifies it:
 * 0 published (the copy is valid to validate), -EAGAIN not published yet
 * but a creator is at work, or an error: FERRY_EINCOMPLETE (never
 * published, creator gone), FERRY_EBADMAGIC, FERRY_ETRUNCATED.
 */
static int probe(int fd, struct ferry__region_hdr *copy, struct stat *st, bool exclusive)
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
  if (n > 0 && n < (ssize_t)sizeof magic)
    return FERRY_ETRUNCATED; /* a creator sizes the file in one step, from 0 */
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
  return creator_at_work(fd, st, exclusive) ? -EAGAIN : FERRY_EINCOMPLETE;
}

/*
 * Opens an existing region file: the descriptor, or a negative error. A
 * symlink (O_NOFOLLOW) or a directory opened for writing is no region.
 * O_NONBLOCK keeps the open of a FIFO someone made under a ferry name from
 * waiting for a writer (probe() then refuses anything but a regular file);
 * on a regular file of tmpfs it changes nothing.
 */
static int open_region_file(const char *path, int access)
{
  int fd = open(path, access | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return errno == ELOOP || errno == EISDIR ? FERRY_EBADMAGIC : -errno;
  return fd;
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
  if ((o->flags & ~(uint32_t)(FERRY_OPEN_OBSERVE | FERRY_OPEN_ANY_OWNER)) ||
      (kind != FERRY_KIND_ANY && !kind_known(kind)) || !FERRY__RESERVED_OK(o))
    return -EINVAL;
  int64_t deadline;
  if ((rc = ferry__deadline(o->timeout_ns, &deadline)))
    return rc;
  bool observe = (o->flags & FERRY_OPEN_OBSERVE) != 0;
  char path[PATH_CAP];
  region_path(path, name);

  ferry_region *r = handle_new(name, observe);
  if (!r)
    return -ENOMEM;
  r->role = o->role;

  struct ferry__region_hdr copy;
  struct stat st;
  for (;;) {
    r->fd = open_region_file(path, observe ? O_RDONLY : O_RDWR);
    if (r->fd < 0) {
      rc = r->fd;
      r->fd = -1;
      goto fail;
    }
    /* Before reading a byte: a file that another user made under the name
     * we expected may say anything [owner-check]. Observers only look. */
    if (!observe && !(o->flags & FERRY_OPEN_ANY_OWNER)) {
      if (fstat(r->fd, &st) != 0) {
        rc = -errno;
        goto fail;
      }
      if (st.st_uid != geteuid()) {
        rc = FERRY_EUNTRUSTED;
        goto fail;
      }
    }
    /* Wait for the creator to publish [magic-last]. Polling with a short
     * sleep: creation is a one-off of microseconds to milliseconds. */
    while ((rc = probe(r->fd, &copy, &st, false)) == -EAGAIN) {
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
  r->hc = copy;
  r->map_size = (size_t)copy.total_size;
  r->base = mmap(NULL, r->map_size, observe ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                 r->fd, 0);
  if (r->base == MAP_FAILED) {
    rc = -errno;
    goto fail;
  }
  r->hdr = (struct ferry__region_hdr *)r->base;
  r->object = r->base + copy.header_size;
  r->published = true;
  registry_add(r);
  *out = r;
  return 0;

fail:
  handle_free(r);
  return rc;
}

int ferry_region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                      ferry_region **out)
{
  ferry_region *r;
  int rc = ferry__region_open(name, kind, o, &r);
  if (rc)
    return rc;
  /* Raw regions carry no state of ferry's per participant: a dead one's
   * slot is reclaimed as soon as the table is full. */
  if (!r->observe && (rc = ferry__region_join(r, NULL, NULL)) != 0) {
    ferry_region_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- close, unlink ------------------------------------------------------------ */

void ferry_region_close(ferry_region *r)
{
  if (!r)
    return;
  registry_remove(r);
  if (r->foreign) {
    handle_free(r); /* our parent's handle: unmap, nothing else [fork] */
    return;
  }
  bool was_registered = r->slot_owner != 0; /* left or still in the table */
  ferry__region_leave(r);
  if (was_registered && r->published && (r->hc.flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE)) {
    /* [attach-lock]: the exclusive lock means no other process is attached
     * or attaching: each holds the shared lock while its handle is open,
     * and the kernel drops it when the process is gone. */
    if (flock(r->fd, LOCK_EX | LOCK_NB) == 0) {
      char path[PATH_CAP];
      region_path(path, r->name);
      unlink_if_same(path, r->fd);
    }
  }
  handle_free(r);
}

int ferry_unlink(const char *name)
{
  if (ferry__remote_name(name)) return ferry__remote_unlink(name);
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
  if (r->hc.object_size < header_size || header_size < sizeof *p)
    return FERRY_ETRUNCATED;
  if (atomic_load_explicit(&p->magic, memory_order_relaxed) != magic)
    return FERRY_ECORRUPT;
  if (p->version_major != version_major)
    return FERRY_EVERSION;
  return p->header_size == header_size ? 0 : FERRY_ECORRUPT;
}

/* ---- accessors ------------------------------------------------------------------ */

const char *ferry_region_name(const ferry_region *r) { return r->name; }
ferry_kind ferry_region_kind(const ferry_region *r) { return (ferry_kind)r->hc.kind; }
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

/* Counts the participants that are alive and those that died without
 * closing, by their slot locks. */
static void count_slots(const ferry_region *r, uint32_t *live, uint32_t *dead)
{
  *live = *dead = 0;
  for (uint32_t i = 0; i < r->hc.max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    switch (ferry__region_slot_check(r, i, &v)) {
    case FERRY__SLOT_ALIVE:
      (*live)++;
      break;
    case FERRY__SLOT_DEAD:
      (*dead)++;
      break;
    default:
      break;
    }
  }
}

int ferry_region_info_get(const ferry_region *r, ferry_region_info *out)
{
  int rc = ferry__region_usable(r);
  if (rc)
    return rc;
  const struct ferry__region_hdr *h = &r->hc;
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
  /* st_blocks counts 512-byte units whatever the file system's block. */
  info.allocated_bytes = (uint64_t)st.st_blocks * 512;
  *out = info;
  return 0;
}

ssize_t ferry_region_participants(const ferry_region *r, ferry_participant *out, size_t cap)
{
  int rc = ferry__region_usable(r);
  if (rc)
    return rc;
  size_t n = 0;
  for (uint32_t i = 0; i < r->hc.max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.state == FERRY__SLOT_FREE)
      continue;
    if (n < cap) {
      ferry_participant *p = &out[n];
      memset(p, 0, sizeof *p);
      p->slot = i;
      p->pid = v.pid;
      p->start_time = v.start;
      p->role = v.role;
      p->uid = v.uid;
      p->attach_ns = v.attach_ns;
      p->alive = ferry__region_slot_check(r, i, &v) == FERRY__SLOT_ALIVE;
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

int ferry__region_observe(const char *name, ferry_kind kind, ferry_region **out)
{
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.flags = FERRY_OPEN_OBSERVE;
  return ferry__region_open(name, kind, &o, out);
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
  int fd = open_region_file(path, O_RDONLY);
  if (fd < 0)
    return fd;
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
  rc = probe(fd, &copy, &st, true);
  if (rc == FERRY_EINCOMPLETE) {
    s = FERRY_REGION_INCOMPLETE;
  } else if (rc == -EAGAIN) {
    s = FERRY_REGION_ACTIVE; /* a young unpublished file [young-file] */
    rc = 0;
  } else if (rc == 0 && (rc = ferry__region_validate(&copy, (uint64_t)st.st_size, FERRY_KIND_ANY)) == 0) {
    ferry_region view = {.fd = fd, .slot = -1, .observe = true, .hc = copy};
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
