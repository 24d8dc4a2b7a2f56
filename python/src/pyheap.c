/* SPDX-License-Identifier: MIT */
/*
 * pyheap.c: `_ferry.Heap`, a ferry heap (FERRY_KIND_HEAP) of (key, encoded
 * payload) records, the base of ferry.Heap. Keys are floats or ints, as the
 * heap was created; the package computes them with the user's key function.
 * A blocking pop releases the GIL and waits in slices (fy_block).
 */
#include "pyferry.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How long a writer waits for the heap's lock (a holder that died is taken
 * over well within it): TimeoutError after that. */
#define LOCK_NS (10 * FERRY_SEC)

typedef struct {
  PyObject_HEAD
  ferry_heap *h;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  uint32_t max_payload;
  int is_double;
  uint8_t *buf;
  PyObject *key; /* the key function (`_key`), or NULL/None: items are keys */
  PyObject *dict;
  PyObject *weakrefs;
} FyHeap;

static int heap_attach(FyHeap *self, ferry_heap *h, int is_double)
{
  ferry_heap_stats st;
  int rc = ferry_heap_stats_get(h, &st);
  if (rc) {
    ferry_heap_close(h);
    return fy_err(rc, self->name);
  }
  uint8_t *b = malloc(st.max_payload ? st.max_payload : 1);
  if (!b) {
    ferry_heap_close(h);
    PyErr_NoMemory();
    return -1;
  }
  free(self->buf);
  self->buf = b;
  self->max_payload = (uint32_t)st.max_payload;
  self->h = h;
  self->gen = fy_fork_gen;
  self->is_double = is_double;
  snprintf(self->name, sizeof self->name, "%s", ferry_region_name(ferry_heap_region(h)));
  return 0;
}

static ferry_heap *H(FyHeap *self)
{
  if (!self->h) {
    PyErr_SetString(PyExc_ValueError, "the heap is closed");
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    ferry_heap *h;
    int rc = ferry_heap_open(self->name, NULL, &h);
    if (rc)
      return fy_errp(rc, self->name), NULL;
    self->h = NULL; /* the parent's handle: not ours to close */
    if (heap_attach(self, h, self->is_double) < 0)
      return NULL;
  }
  return self->h;
}

static int heap_err(FyHeap *self, int rc)
{
  switch (rc) {
  case -EMSGSIZE:
    PyErr_Format(PyExc_ValueError, "heap %s: item too long (its encoding is over %u bytes)",
                 self->name, self->max_payload);
    return -1;
  case -ENOSPC:
    PyErr_Format(PyExc_MemoryError, "heap %s is full", self->name);
    return -1;
  case -EINVAL:
    PyErr_Format(PyExc_ValueError, "heap %s: a key is NaN", self->name);
    return -1;
  }
  return fy_err(rc, self->name);
}

/* _create(name, capacity, max_capacity, max_payload, is_double, is_max) */
static PyObject *heap_create(FyHeap *self, PyObject *args)
{
  const char *name;
  unsigned long long cap, maxcap;
  unsigned int mp;
  int dbl, mx;
  if (!PyArg_ParseTuple(args, "sKKIpp:_create", &name, &cap, &maxcap, &mp, &dbl, &mx))
    return NULL;
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = cap;
  o.max_capacity = maxcap;
  o.max_payload = mp;
  o.key_type = dbl ? FERRY_HEAP_KEY_DOUBLE : FERRY_HEAP_KEY_INT64;
  o.order = mx ? FERRY_HEAP_MAX : FERRY_HEAP_MIN;
  ferry_heap *h;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_heap_create(name, &o, &h);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (heap_attach(self, h, dbl) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* _open(name, is_double) */
static PyObject *heap_open(FyHeap *self, PyObject *args)
{
  const char *name;
  int dbl;
  if (!PyArg_ParseTuple(args, "sp:_open", &name, &dbl))
    return NULL;
  ferry_heap *h;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_heap_open(name, NULL, &h);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (heap_attach(self, h, dbl) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static void heap_close_handle(FyHeap *self)
{
  if (self->h && self->gen == fy_fork_gen)
    ferry_heap_close(self->h);
  self->h = NULL;
}

static PyObject *heap_close(FyHeap *self, PyObject *unused)
{
  (void)unused;
  heap_close_handle(self);
  Py_RETURN_NONE;
}

static int to_key(FyHeap *self, PyObject *k, ferry_heap_key *out)
{
  if (self->is_double) {
    double d = PyFloat_AsDouble(k);
    if (d == -1.0 && PyErr_Occurred())
      return -1;
    if (isnan(d)) {
      PyErr_SetString(PyExc_ValueError, "a heap key cannot be NaN");
      return -1;
    }
    out->f64 = d;
  } else {
    long long v = PyLong_AsLongLong(k);
    if (v == -1 && PyErr_Occurred())
      return -1;
    out->i64 = v;
  }
  return 0;
}

static PyObject *from_key(FyHeap *self, ferry_heap_key k)
{
  return self->is_double ? PyFloat_FromDouble(k.f64) : PyLong_FromLongLong(k.i64);
}

struct pop_ctx {
  ferry_heap *h;
  ferry_heap_key key;
  uint8_t *buf;
  size_t cap;
  ssize_t n;
};

static int op_pop(void *c, int64_t t)
{
  struct pop_ctx *p = c;
  ssize_t n = ferry_heap_pop(p->h, &p->key, p->buf, p->cap, t);
  if (n < 0)
    return (int)n;
  p->n = n;
  return 0;
}

/* Payloads up to this many bytes are pushed from and popped into the C
 * stack, not the memory allocator. */
#define PUSH_STACK_BYTES 512
#define POP_STACK_BYTES 512

/* ---- flat tuples [py-heap-tuple] ---------------------------------------------------
 * Heap items are records, most often flat tuples of numbers and short
 * strings (seed 003's (length, width, height, id)). Pickling one and
 * unpickling it is most of a push and a pop from Python, so the heap
 * writes a tuple whose items are all exact int (64-bit), float, str,
 * bytes, None or bool in a form of its own, tag 'T':
 *
 *   'T' count(1 byte), then per item: a tag and its payload
 *     'i' int64 LE (8)   'f' double (8)   'n' / 't' / 'F' (none)
 *     's' length u32 LE (4) + UTF-8      'y' length u32 LE (4) + bytes
 *
 * Anything else (a tuple subclass such as a namedtuple, a nested tuple,
 * a big int, a str that cannot be UTF-8) takes the shared encoding
 * (fy_encode: tagged scalars, else a pickle). Only heap payloads use 'T':
 * they are never compared by their bytes (dict keys are), only decoded,
 * and every decode of a heap payload goes through heap_decode(). The
 * bytes are shared memory: every count and length is checked against
 * the payload's length.
 */
#define TUPLE_TAG 'T'
#define TUPLE_MAX 255

static void put_u32(uint8_t *d, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    d[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *d)
{
  return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

/* Writes the 'T' form of item into d (cap bytes). Returns its length, 0
 * if item has no 'T' form, or -1 if it does not fit. Runs no Python code
 * and sets no exception. */
static Py_ssize_t tuple_encode(PyObject *item, uint8_t *d, size_t cap)
{
  if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) > TUPLE_MAX)
    return 0;
  Py_ssize_t n = PyTuple_GET_SIZE(item);
  size_t at = 2;
  if (cap < at)
    return -1;
  d[0] = TUPLE_TAG;
  d[1] = (uint8_t)n;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *x = PyTuple_GET_ITEM(item, i);
    const void *src = NULL;
    size_t len = 0;
    uint8_t tag;
    uint8_t word[8];
    if (x == Py_None || x == Py_True || x == Py_False) {
      tag = x == Py_None ? 'n' : x == Py_True ? 't' : 'F';
    } else if (PyLong_CheckExact(x)) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
      if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
      }
      tag = 'i';
      for (int b = 0; b < 8; b++)
        word[b] = (uint8_t)((unsigned long long)v >> (8 * b));
      src = word;
      len = 8;
    } else if (PyFloat_CheckExact(x)) {
      double v = PyFloat_AS_DOUBLE(x);
      tag = 'f';
      memcpy(word, &v, 8);
      src = word;
      len = 8;
    } else if (PyUnicode_CheckExact(x) || PyBytes_CheckExact(x)) {
      Py_ssize_t sl;
      if (PyBytes_CheckExact(x)) {
        tag = 'y';
        src = PyBytes_AS_STRING(x);
        sl = PyBytes_GET_SIZE(x);
      } else {
        tag = 's';
        src = PyUnicode_AsUTF8AndSize(x, &sl); /* cached; no Python code */
        if (!src) {
          PyErr_Clear(); /* lone surrogates: pickle keeps them */
          return 0;
        }
      }
      if ((size_t)sl > UINT32_MAX)
        return 0;
      if (cap - at < 5)
        return -1;
      d[at] = tag;
      put_u32(d + at + 1, (uint32_t)sl);
      at += 5;
      if (cap - at < (size_t)sl)
        return -1;
      memcpy(d + at, src, (size_t)sl);
      at += (size_t)sl;
      continue;
    } else {
      return 0;
    }
    if (cap - at < 1 + len)
      return -1;
    d[at] = tag;
    if (len)
      memcpy(d + at + 1, src, len);
    at += 1 + len;
  }
  return (Py_ssize_t)at;
}

static PyObject *tuple_decode(const uint8_t *p, size_t len)
{
  if (len < 2)
    goto bad;
  size_t n = p[1], at = 2;
  PyObject *t = PyTuple_New((Py_ssize_t)n);
  if (!t)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (at >= len)
      goto bad_t;
    uint8_t tag = p[at++];
    PyObject *x;
    switch (tag) {
    case 'n':
      x = Py_NewRef(Py_None);
      break;
    case 't':
      x = Py_NewRef(Py_True);
      break;
    case 'F':
      x = Py_NewRef(Py_False);
      break;
    case 'i':
    case 'f': {
      if (len - at < 8)
        goto bad_t;
      if (tag == 'i') {
        unsigned long long u = 0;
        for (int b = 0; b < 8; b++)
          u |= (unsigned long long)p[at + (size_t)b] << (8 * b);
        x = PyLong_FromLongLong((long long)u);
      } else {
        double v;
        memcpy(&v, p + at, 8);
        x = PyFloat_FromDouble(v);
      }
      at += 8;
      break;
    }
    case 's':
    case 'y': {
      if (len - at < 4)
        goto bad_t;
      size_t sl = get_u32(p + at);
      at += 4;
      if (len - at < sl)
        goto bad_t;
      x = tag == 's' ? PyUnicode_DecodeUTF8((const char *)p + at, (Py_ssize_t)sl, "strict")
                     : PyBytes_FromStringAndSize((const char *)p + at, (Py_ssize_t)sl);
      at += sl;
      break;
    }
    default:
      goto bad_t;
    }
    if (!x) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, (Py_ssize_t)i, x);
  }
  if (at != len)
    goto bad_t;
  return t;
bad_t:
  Py_DECREF(t);
bad:
  return fy_errp(FERRY_ECORRUPT, "shared value has an unknown encoding");
}

/* Decodes a heap payload: the 'T' form or the shared encoding. */
static PyObject *heap_decode(const uint8_t *p, size_t len)
{
  return len > 0 && p[0] == TUPLE_TAG ? tuple_decode(p, len) : fy_decode(p, len);
}

/* _encode(item) -> bytes: item as the heap stores it (for replace_all). */
static PyObject *heap_encode_item(PyObject *cls, PyObject *item)
{
  (void)cls;
  uint8_t sbuf[512];
  Py_ssize_t n = tuple_encode(item, sbuf, sizeof sbuf);
  if (n > 0)
    return PyBytes_FromStringAndSize((const char *)sbuf, n);
  if (n < 0) { /* a long tuple: size it, then write it */
    size_t cap = 2;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(item); i++) {
      PyObject *x = PyTuple_GET_ITEM(item, i);
      cap += 9 + (PyBytes_CheckExact(x) ? (size_t)PyBytes_GET_SIZE(x)
                  : PyUnicode_CheckExact(x) ? (size_t)PyUnicode_GET_LENGTH(x) * 4
                                            : 0);
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    if (!b)
      return NULL;
    n = tuple_encode(item, (uint8_t *)PyBytes_AS_STRING(b), cap);
    if (n > 0 && _PyBytes_Resize(&b, n) == 0)
      return b;
    Py_XDECREF(b);
    if (n > 0)
      return NULL;
  }
  return fy_encode(item);
}

/* _decode(bytes) -> item: a heap payload decoded. */
static PyObject *heap_decode_item(PyObject *cls, PyObject *arg)
{
  (void)cls;
  return fy_decode_buffer(arg, heap_decode);
}

/*
 * push(item): adds item with the key key(item), or item itself without a
 * key function. The whole of ferry.Heap.push in one call from Python: the
 * key, the encoding and the push, with no Python frame, argument tuple or
 * intermediate (key, bytes) [py-heap-fast]. The key function and the
 * encoding run first, with the heap untouched: they may run any Python
 * code, even close this heap from another thread, so the handle is looked
 * up after them.
 */
static PyObject *heap_push_item(FyHeap *self, PyObject *item)
{
  PyObject *k = self->key && self->key != Py_None ? PyObject_CallOneArg(self->key, item)
                                                  : Py_NewRef(item);
  if (!k)
    return NULL;
  ferry_heap_key key;
  int bad = to_key(self, k, &key);
  Py_DECREF(k);
  if (bad < 0)
    return NULL;
  /* A flat tuple is written straight into a buffer on the stack (no
   * Python code runs meanwhile); anything else is encoded to bytes. */
  uint8_t sbuf[PUSH_STACK_BYTES];
  Py_ssize_t n = tuple_encode(item, sbuf, sizeof sbuf);
  PyObject *b = n > 0 ? NULL : heap_encode_item(NULL, item);
  if (n <= 0 && !b)
    return NULL;
  ferry_heap *h = H(self);
  int rc = !h  ? 0
           : b ? ferry_heap_push(h, key, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b),
                                 LOCK_NS)
               : ferry_heap_push(h, key, sbuf, (size_t)n, LOCK_NS);
  Py_XDECREF(b);
  if (!h)
    return NULL;
  if (rc)
    return heap_err(self, rc), NULL;
  Py_RETURN_NONE;
}


/* The arguments (block=True, timeout=None) of pop() and pop_with_key(),
 * by vectorcall: 0, or -1 with TypeError set. */
static int pop_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                    PyObject **block, PyObject **timeout)
{
  *block = *timeout = NULL;
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs > 2) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most 2 arguments (%zd given)", fn, nargs + nkw);
    return -1;
  }
  if (nargs > 0)
    *block = args[0];
  if (nargs > 1)
    *timeout = args[1];
  for (Py_ssize_t i = 0; i < nkw; i++) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, i);
    PyObject **slot = PyUnicode_CompareWithASCIIString(name, "block") == 0     ? block
                      : PyUnicode_CompareWithASCIIString(name, "timeout") == 0 ? timeout
                                                                               : NULL;
    if (!slot) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fn, name);
      return -1;
    }
    if (*slot) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'", fn, name);
      return -1;
    }
    *slot = args[nargs + i];
  }
  return 0;
}

/* Pops one item, decoded straight from the popped bytes [py-heap-fast];
 * returns it, or (key, item) if with_key. Raises Empty. */
static PyObject *pop_common(FyHeap *self, const char *fn, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames, bool with_key)
{
  PyObject *block, *timeout;
  int64_t t;
  if (pop_args(fn, args, nargs, kwnames, &block, &timeout) < 0 ||
      fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  /* a private buffer: another thread may pop at the same time */
  uint8_t sbuf[POP_STACK_BYTES];
  uint8_t *buf = self->max_payload <= sizeof sbuf ? sbuf : malloc(self->max_payload);
  if (!buf)
    return PyErr_NoMemory();
  struct pop_ctx p = {h, {0}, buf, self->max_payload, 0};
  int rc = fy_block(op_pop, &p, t);
  PyObject *r = NULL;
  if (rc == 0) {
    r = heap_decode(buf, (size_t)p.n);
    if (r && with_key) {
      PyObject *k = from_key(self, p.key);
      PyObject *pair = k ? PyTuple_Pack(2, k, r) : NULL;
      Py_XDECREF(k);
      Py_SETREF(r, pair);
    }
  } else if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    PyErr_SetNone(fy_cfg.Empty ? fy_cfg.Empty : PyExc_TimeoutError);
  } else {
    heap_err(self, rc);
  }
  if (buf != sbuf)
    free(buf);
  return r;
}

/*
 * pop(block=True, timeout=None): removes and returns the item with the
 * smallest key (the largest for order="max"); waits for one if block (the
 * GIL released while it sleeps). Raises Empty.
 */
static PyObject *heap_pop_item(FyHeap *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
  return pop_common(self, "pop", args, nargs, kwnames, false);
}

/* pop_with_key(block=True, timeout=None): as pop(), returning (key, item). */
static PyObject *heap_pop_with_key(FyHeap *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
  return pop_common(self, "pop_with_key", args, nargs, kwnames, true);
}

/* _peek() -> (key, payload bytes); Empty */
static PyObject *heap_peek(FyHeap *self, PyObject *unused)
{
  (void)unused;
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  ferry_heap_key key;
  ssize_t n = ferry_heap_peek(h, &key, self->buf, self->max_payload);
  if (n == -EAGAIN) {
    PyErr_SetNone(fy_cfg.Empty ? fy_cfg.Empty : PyExc_TimeoutError);
    return NULL;
  }
  if (n < 0)
    return heap_err(self, (int)n), NULL;
  PyObject *k = from_key(self, key);
  PyObject *b = k ? PyBytes_FromStringAndSize((const char *)self->buf, n) : NULL;
  PyObject *r = b ? PyTuple_Pack(2, k, b) : NULL;
  Py_XDECREF(k);
  Py_XDECREF(b);
  return r;
}

/* _replace_all([(key, payload bytes), ...]) */
static PyObject *heap_replace_all(FyHeap *self, PyObject *arg)
{
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  PyObject *seq = PySequence_Fast(arg, "expected a sequence of (key, bytes)");
  if (!seq)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  ferry_heap_record *recs = PyMem_Calloc((size_t)(n ? n : 1), sizeof *recs);
  if (!recs) {
    Py_DECREF(seq);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(t, 1))) {
      PyErr_SetString(PyExc_TypeError, "expected (key, bytes) records");
      goto fail;
    }
    if (to_key(self, PyTuple_GET_ITEM(t, 0), &recs[i].key) < 0)
      goto fail;
    recs[i].data = PyBytes_AS_STRING(PyTuple_GET_ITEM(t, 1));
    recs[i].len = (size_t)PyBytes_GET_SIZE(PyTuple_GET_ITEM(t, 1));
  }
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_heap_replace_all(h, recs, (size_t)n, LOCK_NS);
  Py_END_ALLOW_THREADS
  PyMem_Free(recs);
  Py_DECREF(seq);
  if (rc)
    return heap_err(self, rc), NULL;
  Py_RETURN_NONE;
fail:
  PyMem_Free(recs);
  Py_DECREF(seq);
  return NULL;
}

static Py_ssize_t heap_len(FyHeap *self)
{
  ferry_heap *h = H(self);
  if (!h)
    return -1;
  ssize_t n = ferry_heap_size(h);
  return n < 0 ? fy_err((int)n, self->name) : (Py_ssize_t)n;
}

static PyObject *heap_clear(FyHeap *self, PyObject *unused)
{
  (void)unused;
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  int rc = ferry_heap_clear(h, LOCK_NS);
  if (rc)
    return heap_err(self, rc), NULL;
  Py_RETURN_NONE;
}

static PyObject *heap_stats(FyHeap *self, PyObject *unused)
{
  (void)unused;
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  ferry_heap_stats st;
  int rc = ferry_heap_stats_get(h, &st);
  if (rc)
    return heap_err(self, rc), NULL;
  return Py_BuildValue("{sKsKsKsKsKsKsKsK}", "size", st.size, "capacity", st.capacity,
                       "max_capacity", st.max_capacity, "max_payload", st.max_payload, "pushes",
                       st.pushes, "pops", st.pops, "replaces", st.replaces, "repairs", st.repairs);
}

static PyObject *heap_get_key(FyHeap *self, void *c)
{
  (void)c;
  return Py_NewRef(self->key ? self->key : Py_None);
}

static int heap_set_key(FyHeap *self, PyObject *v, void *c)
{
  (void)c;
  Py_XSETREF(self->key, Py_XNewRef(v));
  return 0;
}

static PyObject *heap_get_name(FyHeap *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyObject *heap_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
  (void)args;
  (void)kw;
  return type->tp_alloc(type, 0);
}

static int heap_traverse(FyHeap *self, visitproc visit, void *arg)
{
  Py_VISIT(self->key);
  Py_VISIT(self->dict);
  return 0;
}

static int heap_clear_refs(FyHeap *self)
{
  Py_CLEAR(self->key);
  Py_CLEAR(self->dict);
  return 0;
}

static void heap_dealloc(FyHeap *self)
{
  PyObject_GC_UnTrack(self);
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  heap_close_handle(self);
  free(self->buf);
  heap_clear_refs(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PySequenceMethods heap_as_sequence = {
    .sq_length = (lenfunc)heap_len,
};

static PyMethodDef heap_methods[] = {
    {"_create", (PyCFunction)heap_create, METH_VARARGS, NULL},
    {"_open", (PyCFunction)heap_open, METH_VARARGS, NULL},
    {"_close", (PyCFunction)heap_close, METH_NOARGS, NULL},
    {"_encode", (PyCFunction)heap_encode_item, METH_O | METH_STATIC, NULL},
    {"_decode", (PyCFunction)heap_decode_item, METH_O | METH_STATIC, NULL},
    {"push", (PyCFunction)heap_push_item, METH_O, "push(item): adds item with the key key(item)."},
    {"pop", (PyCFunction)(void (*)(void))heap_pop_item, METH_FASTCALL | METH_KEYWORDS,
     "pop(block=True, timeout=None): removes and returns the item with the smallest key\n"
     "(largest for order=\"max\"); waits for one if block. Raises Empty."},
    {"pop_with_key", (PyCFunction)(void (*)(void))heap_pop_with_key,
     METH_FASTCALL | METH_KEYWORDS, "pop_with_key(block=True, timeout=None): as pop(), returning (key, item)."},
    {"_peek", (PyCFunction)heap_peek, METH_NOARGS, NULL},
    {"_replace_all", (PyCFunction)heap_replace_all, METH_O, NULL},
    {"clear", (PyCFunction)heap_clear, METH_NOARGS, "Removes every item."},
    {"_stats", (PyCFunction)heap_stats, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef heap_getset[] = {
    {"_name", (getter)heap_get_name, NULL, NULL, NULL},
    {"_key", (getter)heap_get_key, (setter)heap_set_key, "the key function, or None", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyHeap_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Heap",
    .tp_basicsize = sizeof(FyHeap),
    .tp_dealloc = (destructor)heap_dealloc,
    .tp_as_sequence = &heap_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A ferry heap seen from Python (the base of ferry.Heap).",
    .tp_traverse = (traverseproc)heap_traverse,
    .tp_clear = (inquiry)heap_clear_refs,
    .tp_weaklistoffset = offsetof(FyHeap, weakrefs),
    .tp_methods = heap_methods,
    .tp_getset = heap_getset,
    .tp_dictoffset = offsetof(FyHeap, dict),
    .tp_new = heap_new,
};
