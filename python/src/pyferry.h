/* SPDX-License-Identifier: MIT */
/*
 * pyferry.h: what the files of the CPython extension `ferry._ferry` share.
 *
 * The extension is written against ferry's public C API only. It gives
 * Python thin handle types (raw regions with the sync primitives, queue
 * channels, dict, heap, list, array frames and the bus); the package
 * `ferry` (python/ferry/) builds multiprocessing's objects on top of them.
 *
 * Three rules hold in every file:
 *   - Blocking calls release the GIL and wait in slices of FY_SLICE_NS,
 *     calling PyErr_CheckSignals() between slices, so Ctrl-C interrupts
 *     them (fy_block()).
 *   - A handle belongs to the process that opened it. Every handle records
 *     the fork generation (fy_fork_gen, bumped in a fork child) it was
 *     opened in; a handle from another generation is never used nor closed
 *     (its mapping is left alone) and the object is opened again by name.
 *   - Shared memory is written by other processes: every length, index and
 *     name read from it is checked before use.
 */
#ifndef PYFERRY_H
#define PYFERRY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <ferry/ferry.h>
#include <ferry/version.h>

/* How long one slice of a blocking wait lasts before signals are checked. */
#define FY_SLICE_NS (50 * FERRY_MSEC)

/* Returned by fy_block() when a Python exception (a signal handler's) is
 * set. No ferry code or errno reaches it. */
#define FY_PYERR (-999999)

/* Wait forever (a timeout of None). */
#define FY_FOREVER (-1)

/* Bumped in the child after every fork(). */
extern volatile uint64_t fy_fork_gen;

/* Exceptions and helpers the package hands in at import (_configure). */
struct fy_config {
  PyObject *Empty, *Full, *ShutDown, *FerryError;
  PyObject *dumps;          /* pickle.dumps */
  PyObject *loads;          /* pickle.loads */
  PyObject *fallback_dumps; /* multiprocessing's ForkingPickler.dumps */
  PyObject *protocol;       /* int */
};
extern struct fy_config fy_cfg;

/* Sets a Python exception for ferry return code rc (< 0) and returns NULL
 * (fy_err: -1). `what` names the object or call for the message. */
PyObject *fy_errp(int rc, const char *what);
int fy_err(int rc, const char *what);

/* Parses multiprocessing's (block, timeout) pair into nanoseconds:
 * 0 = try once, FY_FOREVER = no deadline, else > 0. A negative timeout
 * counts as 0. Returns 0, or -1 with an exception set. */
int fy_parse_block_timeout(PyObject *block, PyObject *timeout, int64_t *out);
/* Timeout alone (None = forever). */
int fy_parse_timeout(PyObject *timeout, int64_t *out);

/*
 * fy_block: runs op(ctx, t) until it returns something else than a
 * timeout, or the deadline (timeout_ns, FY_FOREVER for none) passes. The
 * first try, with t = 0, keeps the GIL (the fast path makes no system
 * call); later ones release it for at most FY_SLICE_NS each. op must report
 * "not yet" as -EAGAIN (t == 0) or -ETIMEDOUT (t > 0) and change nothing
 * then. Returns op's last code, -EAGAIN / -ETIMEDOUT when the deadline
 * passed, or FY_PYERR with a Python exception set (a signal handler
 * raised). The GIL is held on return.
 */
typedef int (*fy_op_fn)(void *ctx, int64_t timeout_ns);
int fy_block(fy_op_fn op, void *ctx, int64_t timeout_ns);

/* Pickles obj as the package says (pickle.dumps, with multiprocessing's
 * ForkingPickler as the fallback). New reference to a bytes-like object. */
PyObject *fy_dumps(PyObject *obj);
/* Unpickles len bytes at p (borrowed during the call). */
PyObject *fy_loads(const void *p, size_t len);

/* Pointer to `need` bytes at `off` in a _ferry.Region's data (reopened
 * after a fork), or NULL with an exception set. Valid while the region
 * object is alive and not closed. */
uint8_t *fy_region_ptr(PyObject *region, size_t off, size_t need);

/* Type objects and their module-level factories, by file. */
extern PyTypeObject FyRegion_Type;   /* region.c */
extern PyTypeObject FyChannel_Type;  /* channel.c */
extern PyTypeObject FyDict_Type;     /* dict.c */
extern PyTypeObject FyDictIter_Type; /* dict.c */
extern PyTypeObject FyHeap_Type;     /* heap.c */
extern PyTypeObject FyList_Type;     /* list.c */
extern PyTypeObject FyArrays_Type;   /* arrays.c */
extern PyTypeObject FyView_Type;     /* arrays.c */
extern PyTypeObject FyBus_Type;      /* arrays.c */
extern PyTypeObject FySub_Type;      /* arrays.c */

/* Every type the module exports. */
#define FY_TYPES &FyRegion_Type, &FyChannel_Type, &FyDict_Type, &FyDictIter_Type, &FyList_Type, &FyHeap_Type,   \
    &FyArrays_Type, &FyView_Type, &FyBus_Type, &FySub_Type

/* Encodes a dict key or value: exact str, int (64-bit), bytes, float, None
 * and bool get a compact tagged form; everything else is pickled. Equal
 * encodings make equal keys. New reference to bytes. */
PyObject *fy_encode(PyObject *obj);
/* Decodes what fy_encode made (untrusted bytes: checked). */
PyObject *fy_decode(const unsigned char *p, size_t len);
/* decode(the bytes of arg) for a bytes-like arg: the body of the _decode
 * methods. */
PyObject *fy_decode_buffer(PyObject *arg, PyObject *(*decode)(const unsigned char *, size_t));

#endif /* PYFERRY_H */
