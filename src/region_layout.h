/* SPDX-License-Identifier: MIT */
/*
 * region_layout.h: the common header at offset 0 of every ferry region.
 * Spec with the same diagram: docs/layout/region.md. Never installed.
 *
 * Offsets only, never pointers: each process maps a region at its own
 * address. All integers are native-endian; a region never leaves its host.
 *
 *   offset  size  field              written
 *   ------  ----  -----------------  -------------------------------------
 *        0     8  magic              last at create (release), first read
 *        8     2  version_major      create; another major = FERRY_EVERSION
 *       10     2  version_minor      create; newer minors stay readable
 *       12     4  header_size        create; offset of the object area
 *       16     4  kind               create; FERRY_KIND_*
 *       20     4  flags              create; FERRY_REGION_* | internal bits
 *       24     8  total_size         create; bytes of the whole file
 *       32     8  object_size        create; bytes of the object area
 *       40     4  max_participants   create; slots in the table
 *       44     4  mode               create; permission bits asked for
 *       48     8  liveness_ns        create; death-detection bound
 *       56     4  creator_uid        create, first of all
 *       60     4  creator_pid        create, first of all
 *       64     8  creator_start      create, first of all
 *       72     8  created_ns         create; CLOCK_REALTIME
 *       80     4  checksum           create; FNV-1a of bytes 8..79
 *       84    44  reserved (zero)
 *   ---- cache line 2: written by every participant ----
 *      128     8  opens              atomic: registrations since create
 *      136     8  reaped             atomic: dead slots reclaimed
 *      144    48  reserved (zero)
 *   ---- cache line 3 ----
 *      192    64  reserved (zero)
 *   ---- participant table ----
 *      256    64 * max_participants  one slot per cache line
 *   ---- object area ----
 *   header_size = align64(256 + 64 * max_participants)
 *   object area: [header_size, header_size + object_size)
 *   total_size  = header_size + object_size
 *
 * Participant slot (64 bytes, one cache line so that neighbours never
 * share a line):
 *
 *   offset  size  field
 *        0     8  owner       atomic; see the state table below
 *        8     8  start       process start time, ticks since boot
 *       16     4  role        FERRY_ROLE_*
 *       20     4  uid
 *       24     8  attach_ns   CLOCK_REALTIME
 *       32    32  obj[4]      per-participant words owned by the object
 *
 * The owner word (64 bits): pid << 32 | generation << 8 | state.
 *
 *   state  pid    meaning                             next states
 *   -----  -----  ----------------------------------  ------------------------
 *   FREE   0      unused                              LIVE (join)
 *   LIVE   pid    registered; start/role/uid valid    FREE (close, or recovery
 *                                                     of a dead participant)
 *
 * The slot locks [slot-lock]. Liveness is not read from the word: slot i
 * has two OFD write locks on bytes of the region file (fcntl F_OFD_SETLK:
 * locks on the file, not on its contents). The owner byte,
 * FERRY__SLOT_LOCK_BASE + 2i, is held by the participant from before it
 * writes LIVE until after it writes FREE; the kernel drops it when the
 * process dies, execs, or closes the last descriptor of its open file. So
 * a LIVE slot whose owner byte is free belongs to a participant that is
 * gone without closing. The claim byte, FERRY__SLOT_LOCK_BASE + 2i + 1, is
 * held by whoever joins into the slot or recovers a dead participant's
 * state from it; it makes those exclusive without touching the owner
 * byte. Every writer of the owner word holds one of the two: the joiner
 * (both), the closer (owner byte), a recoverer (claim byte, with the owner
 * byte free). Transitions are CASes on the whole word, and every join
 * bumps the 24-bit generation, so a stale reading never matches a later
 * owner [slot-aba]. The proof is in docs/design/region.md.
 *
 * The release that makes a slot LIVE publishes start, role, uid and
 * attach_ns; it pairs with the acquire load in ferry__region_slot_read().
 *
 * Publication [magic-last]: the creator writes its uid, pid and start time
 * first, then every other field, the checksum and the object's own
 * initialisation, and stores the magic last with release order. An opener
 * loads the magic with acquire order before it reads anything else, so a
 * region whose magic is valid is completely initialised.
 */
#ifndef FERRY_REGION_LAYOUT_H
#define FERRY_REGION_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* "FERRY" "RG" 0x01 read as little-endian bytes: 'F','E','R','R','Y','R','G',1 */
#define FERRY__REGION_MAGIC UINT64_C(0x0147525952524546)
/* 2.0: liveness by slot locks [slot-lock]; no CLAIMING state. */
#define FERRY__REGION_VERSION_MAJOR 2
#define FERRY__REGION_VERSION_MINOR 0

#define FERRY__SLOT_TABLE_OFFSET 256
#define FERRY__SLOT_SIZE 64
#define FERRY__CHECKSUM_BEGIN 8
#define FERRY__CHECKSUM_END 80

/* Internal header flags live above the public FERRY_REGION_* bits. */
#define FERRY__REGION_PUBLIC_FLAGS 0x0000ffffu
/* Slots carry no object state (informational since 2.0: any dead slot is
 * reclaimed once the object has undone what its participant left). */
#define FERRY__REGION_STATELESS_SLOTS (1u << 16)

struct ferry__region_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t kind;
  uint32_t flags;
  uint64_t total_size;
  uint64_t object_size;
  uint32_t max_participants;
  uint32_t mode;
  int64_t liveness_ns;
  uint32_t creator_uid;
  int32_t creator_pid;
  uint64_t creator_start;
  int64_t created_ns;
  uint32_t checksum;
  uint8_t reserved0[44];
  _Atomic uint64_t opens;
  _Atomic uint64_t reaped;
  uint8_t reserved1[48];
  uint8_t reserved2[64];
};

/* Owner word states (see the table above). 1 was CLAIMING in 1.x. */
enum {
  FERRY__SLOT_FREE = 0,
  FERRY__SLOT_LIVE = 2,
};
/* Slot i's owner byte is FERRY__SLOT_LOCK_BASE + 2i of the file, its claim
 * byte the next one [slot-lock]. */
#define FERRY__SLOT_LOCK_BASE 1
#define FERRY__SLOT_STATE_MASK UINT64_C(0xff)
#define FERRY__SLOT_GEN_SHIFT 8
#define FERRY__SLOT_GEN_MASK UINT64_C(0xffffff)
#define FERRY__SLOT_PID_SHIFT 32

struct ferry__slot {
  _Atomic uint64_t owner;
  uint64_t start;
  uint32_t role;
  uint32_t uid;
  int64_t attach_ns;
  _Atomic uint64_t obj[4];
};

static_assert(offsetof(struct ferry__region_hdr, magic) == 0, "magic");
static_assert(offsetof(struct ferry__region_hdr, version_major) == 8, "version_major");
static_assert(offsetof(struct ferry__region_hdr, version_minor) == 10, "version_minor");
static_assert(offsetof(struct ferry__region_hdr, header_size) == 12, "header_size");
static_assert(offsetof(struct ferry__region_hdr, kind) == 16, "kind");
static_assert(offsetof(struct ferry__region_hdr, flags) == 20, "flags");
static_assert(offsetof(struct ferry__region_hdr, total_size) == 24, "total_size");
static_assert(offsetof(struct ferry__region_hdr, object_size) == 32, "object_size");
static_assert(offsetof(struct ferry__region_hdr, max_participants) == 40, "max_participants");
static_assert(offsetof(struct ferry__region_hdr, mode) == 44, "mode");
static_assert(offsetof(struct ferry__region_hdr, liveness_ns) == 48, "liveness_ns");
static_assert(offsetof(struct ferry__region_hdr, creator_uid) == 56, "creator_uid");
static_assert(offsetof(struct ferry__region_hdr, creator_pid) == 60, "creator_pid");
static_assert(offsetof(struct ferry__region_hdr, creator_start) == 64, "creator_start");
static_assert(offsetof(struct ferry__region_hdr, created_ns) == 72, "created_ns");
static_assert(offsetof(struct ferry__region_hdr, checksum) == FERRY__CHECKSUM_END, "checksum");
static_assert(offsetof(struct ferry__region_hdr, opens) == 128, "opens");
static_assert(offsetof(struct ferry__region_hdr, reaped) == 136, "reaped");
static_assert(sizeof(struct ferry__region_hdr) == FERRY__SLOT_TABLE_OFFSET, "header size");
static_assert(offsetof(struct ferry__slot, owner) == 0, "slot owner");
static_assert(offsetof(struct ferry__slot, start) == 8, "slot start");
static_assert(offsetof(struct ferry__slot, role) == 16, "slot role");
static_assert(offsetof(struct ferry__slot, uid) == 20, "slot uid");
static_assert(offsetof(struct ferry__slot, attach_ns) == 24, "slot attach_ns");
static_assert(offsetof(struct ferry__slot, obj) == 32, "slot obj");
static_assert(sizeof(struct ferry__slot) == FERRY__SLOT_SIZE, "slot size");

#endif /* FERRY_REGION_LAYOUT_H */
