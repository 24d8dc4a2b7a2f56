/* SPDX-License-Identifier: MIT */
/*
 * ferry/array.h: named, typed, C-contiguous N-d arrays in shared memory.
 *
 * An array region (kind FERRY_KIND_ARRAY) holds one *frame*: a set of up to
 * FERRY_ARRAY_MAX_COUNT named arrays, each with a numpy-style dtype and a
 * shape of 0 to FERRY_ARRAY_MAX_DIMS dimensions. The creator declares them
 * once; every process that opens the region by name reads the names,
 * dtypes, shapes and offsets from the region itself and never re-declares
 * them. The same frame type is what the broadcast bus hands out, one per
 * slot, so code that reads a frame works with both.
 *
 * Layout guarantees (docs/layout/array.md):
 *   - every array's data is C-contiguous (row-major) and starts at an
 *     address that is a multiple of FERRY_ARRAY_ALIGN (64) bytes, so it is
 *     cache-line and SIMD aligned in every process;
 *   - all size arithmetic is overflow-checked: a shape whose byte size does
 *     not fit in 64 bits, or exceeds PTRDIFF_MAX, is -EOVERFLOW;
 *   - a dimension may be 0 (the array then has 0 elements and 0 bytes, as
 *     in numpy), and ndim may be 0 (a scalar: one element);
 *   - a region is created with zeroed data.
 *
 * Typical use (seed 000: a producer fills large float32 arrays that N
 * analysis processes read in place):
 *
 *   ferry_array_spec s[2] = {
 *     { "frame", FERRY_DTYPE_F32, 2, { 1000, 1000 } },
 *     { "seq",   FERRY_DTYPE_U64, 0, { 0 } },
 *   };
 *   ferry_arrays *a;
 *   int rc = ferry_array_create("batch", s, 2, NULL, &a);
 *   ferry_array frame;
 *   ferry_array_get(a, "frame", &frame);        // frame.data: 4 MB of floats
 *
 *   // elsewhere:
 *   ferry_array_open("batch", NULL, &a);        // shapes come from the region
 *
 * Concurrency:
 *   Progress: create, open and close are blocking system-call paths (open
 *   waits up to its timeout for a region still being created). Every other
 *   call here is wait-free: the frame accessors read a process-private,
 *   already validated copy of the descriptor table and touch no shared
 *   memory.
 *
 *   Overlap: any call may run concurrently with any other, from any thread
 *   or process, on the same or different handles, except that a handle must
 *   not be closed while another thread still uses it or a view taken from
 *   it. The array *data* is plain shared memory with no synchronisation of
 *   its own, like a numpy array over multiprocessing.shared_memory: a writer
 *   and readers of the same bytes must agree on a hand-off (ferry's sync
 *   objects, or the bus, which publishes whole frames).
 *
 *   Death: the descriptor table is written once, before the region is
 *   published, and never changes; a creator killed before publishing leaves
 *   an unpublished region (see region.h: opens fail with
 *   FERRY_EINCOMPLETE, gc removes it). A process killed while writing array
 *   data leaves those bytes half-written and nothing else: arrays keep no
 *   per-participant state, so the survivors need no recovery.
 */
#ifndef FERRY_ARRAY_H
#define FERRY_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

/* ---- dtypes ---------------------------------------------------------------- */

/*
 * Element types, named as numpy names them. The numbers are stored in
 * regions: they never change, and new types only ever get new numbers.
 * Multi-byte types are in this host's byte order (a region never leaves its
 * host). F16 is IEEE 754 binary16; C64 and C128 are pairs of F32 and F64
 * (real, imaginary), as in numpy and C99 _Complex.
 */
typedef enum ferry_dtype {
  FERRY_DTYPE_BOOL = 0, /* 1 byte, 0 or 1 */
  FERRY_DTYPE_I8 = 1,
  FERRY_DTYPE_I16 = 2,
  FERRY_DTYPE_I32 = 3,
  FERRY_DTYPE_I64 = 4,
  FERRY_DTYPE_U8 = 5,
  FERRY_DTYPE_U16 = 6,
  FERRY_DTYPE_U32 = 7,
  FERRY_DTYPE_U64 = 8,
  FERRY_DTYPE_F16 = 9,
  FERRY_DTYPE_F32 = 10,
  FERRY_DTYPE_F64 = 11,
  FERRY_DTYPE_C64 = 12,
  FERRY_DTYPE_C128 = 13,
  FERRY_DTYPE_COUNT = 14 /* number of dtypes; not a dtype */
} ferry_dtype;

/* Bytes per element; 0 for a value that is not a dtype. */
FERRY_API size_t ferry_dtype_size(ferry_dtype t);

/* numpy's short name: "bool", "i8".."i64", "u8".."u64", "f16", "f32",
 * "f64", "c64", "c128"; NULL for a value that is not a dtype. Static
 * string. */
FERRY_API const char *ferry_dtype_name(ferry_dtype t);

/* The __array_interface__ typestr for this host: "|b1", "|i1", "<i2",
 * "<f4", "<c16", ... ('>' instead of '<' on a big-endian host); NULL for a
 * value that is not a dtype. Static string. */
FERRY_API const char *ferry_dtype_typestr(ferry_dtype t);

/*
 * ferry_dtype_parse: reads a dtype written as a short name ("f32"), a numpy
 * name ("float32", "uint8", "bool", "complex64") or a typestr in this host's
 * byte order ("<f4", "=f4", "|u1", "|b1"). Case-sensitive.
 * Returns 0 and sets *out, or -EINVAL (NULL or unknown text, or a typestr of
 * the other byte order) with *out untouched.
 */
FERRY_API int ferry_dtype_parse(const char *s, ferry_dtype *out);

/* ---- specs and views ----------------------------------------------------------- */

#define FERRY_ARRAY_MAX_DIMS 8
/* Array names: [A-Za-z0-9_.-], 1 to FERRY_ARRAY_NAME_MAX characters,
 * unique within a frame. */
#define FERRY_ARRAY_NAME_MAX 63
/* Arrays per frame: 1 to FERRY_ARRAY_MAX_COUNT. */
#define FERRY_ARRAY_MAX_COUNT 64
/* Every array's data address is a multiple of this. */
#define FERRY_ARRAY_ALIGN 64

/*
 * What the creator declares for one array. ndim is 0 (a scalar) to
 * FERRY_ARRAY_MAX_DIMS; only shape[0..ndim-1] is read. name is borrowed for
 * the call only: the region keeps its own copy.
 */
typedef struct ferry_array_spec {
  const char *name;
  ferry_dtype dtype;
  uint32_t ndim;
  uint64_t shape[FERRY_ARRAY_MAX_DIMS];
} ferry_array_spec;

/*
 * A borrowed view of one array of a frame. Entries of shape and strides at
 * and beyond ndim are 0. strides are in bytes, C order, computed as numpy
 * does (a dimension of 0 counts as 1), so they can be handed to numpy's
 * __array_interface__ or a buffer protocol as they are. count = product of
 * the shape (1 for a scalar); nbytes = count * itemsize.
 *
 * name and data are valid as long as the frame they came from: until
 * ferry_array_close() for an array region. data is writable unless the
 * region was opened with FERRY_OPEN_OBSERVE, which maps it read-only.
 */
typedef struct ferry_array {
  const char *name;
  ferry_dtype dtype;
  uint32_t ndim;
  uint64_t shape[FERRY_ARRAY_MAX_DIMS];
  uint64_t strides[FERRY_ARRAY_MAX_DIMS];
  size_t itemsize;
  size_t count;
  size_t nbytes;
  void *data;
} ferry_array;

/*
 * ferry_array_parse_spec: reads "NAME:DTYPE[:SHAPE]", as the command-line
 * tool takes it: "frame:f32:1000x1000", "seq:u64" (a scalar),
 * "img:uint8:480x640x3". DTYPE is anything ferry_dtype_parse() accepts;
 * SHAPE is 1 to FERRY_ARRAY_MAX_DIMS decimal dimensions separated by 'x'
 * or ','. The name is copied into namebuf (namecap bytes, NUL-terminated;
 * FERRY_ARRAY_NAME_MAX + 1 always suffices) and out->name points at it.
 * Only the text is checked here: a shape too large to allocate is left
 * for ferry_array_create() to refuse.
 * Returns 0, -EINVAL (NULL or malformed text, invalid name, unknown dtype,
 * a dimension that does not fit in 64 bits) or -ENOBUFS (namecap too small
 * for this name). On error *out and namebuf are untouched.
 */
FERRY_API int ferry_array_parse_spec(const char *text, ferry_array_spec *out, char *namebuf,
                                     size_t namecap);

/* ---- frames ------------------------------------------------------------------- */

/* A set of arrays laid out in one block of shared memory. Only ever
 * borrowed from an array region or a bus; users never create one. */
typedef struct ferry_frame ferry_frame;

/* Number of arrays in the frame, 1 to FERRY_ARRAY_MAX_COUNT. */
FERRY_API size_t ferry_frame_count(const ferry_frame *f);

/* Bytes of array data the frame spans, padding included (a multiple of
 * FERRY_ARRAY_ALIGN). */
FERRY_API uint64_t ferry_frame_bytes(const ferry_frame *f);

/*
 * ferry_frame_array: fills *out with a view of the array called `name`.
 * Returns 0, or -ENOENT if the frame has no such array (*out untouched).
 */
FERRY_API int ferry_frame_array(const ferry_frame *f, const char *name, ferry_array *out);

/*
 * ferry_frame_array_at: fills *out with a view of array `index`, in the
 * order the creator declared them. Returns 0, or -ENOENT if index >=
 * ferry_frame_count(f) (*out untouched): "no such array", as for a name.
 */
FERRY_API int ferry_frame_array_at(const ferry_frame *f, size_t index, ferry_array *out);

/* ---- array regions ------------------------------------------------------------- */

/* The process-local handle of an array region. */
typedef struct ferry_arrays ferry_arrays;

typedef struct ferry_array_options {
  ferry_region_options region; /* mode, flags, participants, creator's role */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_array_options;

/* Fills *o with the defaults: the region defaults, with the creator's role
 * FERRY_ROLE_WRITER. Always call it before setting fields. */
FERRY_API void ferry_array_options_init(ferry_array_options *o);

/*
 * ferry_array_create: creates array region `name` holding the n arrays of
 * specs, in that order, with zeroed data, and registers this process in it
 * (role o->region.role, plus FERRY_ROLE_CREATOR). o may be NULL for the
 * defaults. specs and their names are read during the call only.
 * On success *out owns the handle: release it with ferry_array_close().
 * Errors:
 *   -EINVAL     n is 0 or above FERRY_ARRAY_MAX_COUNT, specs is NULL, an
 *               array name is NULL, invalid or repeated, a dtype or ndim is
 *               out of range, a bad region name or option;
 *   -EOVERFLOW  an array's or the frame's byte size does not fit in 64 bits
 *               or exceeds PTRDIFF_MAX, or the region would not fit in the
 *               address space;
 *   -EEXIST, -ENOSPC, -ENOMEM, -EACCES, or another negative errno from the
 *               system (see ferry_region_create()).
 * On any error nothing is left behind: no handle, no name in /dev/shm.
 */
FERRY_API int ferry_array_create(const char *name, const ferry_array_spec *specs, size_t n,
                                 const ferry_array_options *o, ferry_arrays **out);

/*
 * ferry_array_open: opens array region `name` and recovers its arrays'
 * names, dtypes, shapes and offsets from the region. The descriptor table is
 * copied into this process and validated before use (checksum, every field's
 * range, every array inside the region, no overlaps, names valid and
 * unique), so a corrupted region is an error, never a crash. Registers this
 * process with role o->role, or FERRY_ROLE_READER if o is NULL or o->role
 * is 0. On success *out owns the handle: release it with
 * ferry_array_close().
 * Errors: those of ferry_region_open(); FERRY_EKIND if the region is not an
 * array region; FERRY_ECORRUPT for a corrupted array header or table;
 * FERRY_EVERSION for an array layout this library cannot read; -ENOMEM.
 */
FERRY_API int ferry_array_open(const char *name, const ferry_open_options *o, ferry_arrays **out);

/* ferry_array_close: deregisters this process and unmaps the region (see
 * ferry_region_close()). Accepts NULL. Every frame, view, name and data
 * pointer taken from the handle dies with it. */
FERRY_API void ferry_array_close(ferry_arrays *a);

/* The region's frame. Borrowed: valid until ferry_array_close(a). */
FERRY_API const ferry_frame *ferry_array_frame(const ferry_arrays *a);

/* Shorthand for ferry_frame_array(ferry_array_frame(a), name, out), but
 * FERRY_EFORKED for a handle inherited through fork: a child opens the
 * arrays by name itself (ferry_array_close() of the inherited handle only
 * unmaps it and leaves the parent registered). */
FERRY_API int ferry_array_get(const ferry_arrays *a, const char *name, ferry_array *out);

/* The underlying region, for ferry_region_info_get(), participants, ...
 * Borrowed: valid until ferry_array_close(a); do not close it. */
FERRY_API ferry_region *ferry_array_region(const ferry_arrays *a);

FERRY_EXTERN_C_END

#endif /* FERRY_ARRAY_H */
