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

/* _push(key, payload_bytes) */
static PyObject *heap_push(FyHeap *self, PyObject *args)
{
  PyObject *k;
  Py_buffer v;
  if (!PyArg_ParseTuple(args, "Oy*:_push", &k, &v))
    return NULL;
  ferry_heap *h = H(self);
  ferry_heap_key key;
  if (!h || to_key(self, k, &key) < 0) {
    PyBuffer_Release(&v);
    return NULL;
  }
  int rc = ferry_heap_push(h, key, v.buf, (size_t)v.len, LOCK_NS);
  PyBuffer_Release(&v);
  if (rc)
    return heap_err(self, rc), NULL;
  Py_RETURN_NONE;
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

/* _pop(block=True, timeout=None) -> (key, payload bytes); Empty */
static PyObject *heap_pop(FyHeap *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"block", "timeout", NULL};
  PyObject *block = NULL, *timeout = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:_pop", kwlist, &block, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  ferry_heap *h = H(self);
  if (!h)
    return NULL;
  /* a private buffer: another thread may pop at the same time */
  uint8_t *buf = malloc(self->max_payload ? self->max_payload : 1);
  if (!buf)
    return PyErr_NoMemory();
  struct pop_ctx p = {h, {0}, buf, self->max_payload, 0};
  int rc = fy_block(op_pop, &p, t);
  PyObject *r = NULL;
  if (rc == 0) {
    PyObject *k = from_key(self, p.key);
    PyObject *b = k ? PyBytes_FromStringAndSize((const char *)buf, p.n) : NULL;
    r = b ? PyTuple_Pack(2, k, b) : NULL;
    Py_XDECREF(k);
    Py_XDECREF(b);
  } else if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    PyErr_SetNone(fy_cfg.Empty ? fy_cfg.Empty : PyExc_TimeoutError);
  } else {
    heap_err(self, rc);
  }
  free(buf);
  return r;
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
  Py_VISIT(self->dict);
  return 0;
}

static int heap_clear_refs(FyHeap *self)
{
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
    {"_push", (PyCFunction)heap_push, METH_VARARGS, NULL},
    {"_pop", (PyCFunction)(void (*)(void))heap_pop, METH_VARARGS | METH_KEYWORDS, NULL},
    {"_peek", (PyCFunction)heap_peek, METH_NOARGS, NULL},
    {"_replace_all", (PyCFunction)heap_replace_all, METH_O, NULL},
    {"clear", (PyCFunction)heap_clear, METH_NOARGS, "Removes every item."},
    {"_stats", (PyCFunction)heap_stats, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef heap_getset[] = {
    {"_name", (getter)heap_get_name, NULL, NULL, NULL},
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
