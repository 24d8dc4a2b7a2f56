/* SPDX-License-Identifier: MIT */
/*
 * pylist.c: `_ferry.List`, a ferry list (FERRY_KIND_LIST) of encoded items
 * (fy_encode), the base of ferry.List. Indexing takes Python's negative
 * positions; slices, sorting and the like are built in the package from
 * _snapshot() and _replace(), which are atomic.
 *
 * Calls keep the GIL: the C list runs no callback under its lock, and
 * every call is short. They wait for the lock at most LOCK_NS (a holder
 * that died is taken over well within it): TimeoutError after that.
 */
#include "pyferry.h"

#include <errno.h>
#include <ferry/list.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_NS (10 * FERRY_SEC)

typedef struct {
  PyObject_HEAD
  ferry_list *l;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  uint32_t max_item;
  uint64_t capacity;
  uint8_t *buf; /* max_item bytes */
  PyObject *dict;
  PyObject *weakrefs;
} FyList;

static int list_attach(FyList *self, ferry_list *l)
{
  ferry_list_stats st;
  int rc = ferry_list_stats_get(l, &st);
  if (rc) {
    ferry_list_close(l);
    return fy_err(rc, self->name);
  }
  uint8_t *b = malloc(st.max_item ? st.max_item : 1);
  if (!b) {
    ferry_list_close(l);
    PyErr_NoMemory();
    return -1;
  }
  free(self->buf);
  self->buf = b;
  self->max_item = (uint32_t)st.max_item;
  self->capacity = st.capacity;
  self->l = l;
  self->gen = fy_fork_gen;
  snprintf(self->name, sizeof self->name, "%s", ferry_region_name(ferry_list_region(l)));
  return 0;
}

static ferry_list *L(FyList *self)
{
  if (!self->l) {
    PyErr_SetString(PyExc_ValueError, "the list is closed");
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    ferry_list *l;
    int rc = ferry_list_open(self->name, NULL, &l);
    if (rc)
      return fy_errp(rc, self->name), NULL;
    self->l = NULL; /* the parent's handle: not ours to close */
    if (list_attach(self, l) < 0)
      return NULL;
  }
  return self->l;
}

static int list_err(FyList *self, int rc)
{
  switch (rc) {
  case -ERANGE:
    PyErr_SetString(PyExc_IndexError, "list index out of range");
    return -1;
  case -EMSGSIZE:
    PyErr_Format(PyExc_ValueError, "list %s: item too long (its encoding is over %u bytes)",
                 self->name, self->max_item);
    return -1;
  case -ENOSPC:
    PyErr_Format(PyExc_MemoryError, "list %s is full (%llu items)", self->name,
                 (unsigned long long)self->capacity);
    return -1;
  }
  return fy_err(rc, self->name);
}

static PyObject *list_create(FyList *self, PyObject *args)
{
  const char *name;
  unsigned long long cap;
  unsigned int mi;
  if (!PyArg_ParseTuple(args, "sKI:_create", &name, &cap, &mi))
    return NULL;
  ferry_list_options o;
  ferry_list_options_init(&o);
  o.capacity = cap;
  o.max_item = mi;
  ferry_list *l;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_list_create(name, &o, &l);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (list_attach(self, l) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *list_open(FyList *self, PyObject *args)
{
  const char *name;
  if (!PyArg_ParseTuple(args, "s:_open", &name))
    return NULL;
  ferry_list *l;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_list_open(name, NULL, &l);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (list_attach(self, l) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static void list_close_handle(FyList *self)
{
  if (self->l && self->gen == fy_fork_gen)
    ferry_list_close(self->l);
  self->l = NULL;
}

static PyObject *list_close(FyList *self, PyObject *unused)
{
  (void)unused;
  list_close_handle(self);
  Py_RETURN_NONE;
}

static Py_ssize_t list_len(FyList *self)
{
  ferry_list *l = L(self);
  if (!l)
    return -1;
  return (Py_ssize_t)ferry_list_len(l);
}

/* A Python position (negative counts from the end) as a C one, or -1 if
 * out of range (the C call then says -ERANGE). */
static uint64_t position(ferry_list *l, Py_ssize_t i)
{
  if (i < 0)
    i += (Py_ssize_t)ferry_list_len(l);
  return i < 0 ? UINT64_MAX : (uint64_t)i;
}

static PyObject *decoded(FyList *self, size_t n)
{
  /* copy first: decoding a pickle may run code that uses this list */
  PyObject *b = PyBytes_FromStringAndSize((const char *)self->buf, (Py_ssize_t)n);
  if (!b)
    return NULL;
  PyObject *r = fy_decode((const unsigned char *)PyBytes_AS_STRING(b), n);
  Py_DECREF(b);
  return r;
}

static PyObject *list_item(FyList *self, Py_ssize_t i)
{
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  ssize_t n = ferry_list_get(l, position(l, i), self->buf, self->max_item, LOCK_NS);
  if (n < 0)
    return list_err(self, (int)n), NULL;
  return decoded(self, (size_t)n);
}

static int list_ass_item(FyList *self, Py_ssize_t i, PyObject *v)
{
  ferry_list *l = L(self);
  if (!l)
    return -1;
  uint64_t pos = position(l, i);
  int rc;
  if (!v) {
    ssize_t n = ferry_list_pop(l, pos, NULL, 0, LOCK_NS);
    rc = n < 0 ? (int)n : 0;
  } else {
    PyObject *b = fy_encode(v);
    if (!b)
      return -1;
    rc = ferry_list_set(l, pos, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), LOCK_NS);
    Py_DECREF(b);
  }
  return rc ? list_err(self, rc) : 0;
}

static PyObject *list_append(FyList *self, PyObject *v)
{
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  PyObject *b = fy_encode(v);
  if (!b)
    return NULL;
  int rc = ferry_list_append(l, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), LOCK_NS);
  Py_DECREF(b);
  if (rc)
    return list_err(self, rc), NULL;
  Py_RETURN_NONE;
}

/* insert(i, v), with list.insert's clamping */
static PyObject *list_insert(FyList *self, PyObject *args)
{
  Py_ssize_t i;
  PyObject *v;
  if (!PyArg_ParseTuple(args, "nO:insert", &i, &v))
    return NULL;
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  PyObject *b = fy_encode(v);
  if (!b)
    return NULL;
  int rc;
  for (;;) {
    Py_ssize_t n = (Py_ssize_t)ferry_list_len(l), p = i;
    if (p < 0)
      p += n;
    if (p < 0)
      p = 0;
    if (p > n)
      p = n;
    rc = ferry_list_insert(l, (uint64_t)p, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), LOCK_NS);
    if (rc != -ERANGE)
      break; /* -ERANGE: it shrank meanwhile; clamp again */
  }
  Py_DECREF(b);
  if (rc)
    return list_err(self, rc), NULL;
  Py_RETURN_NONE;
}

/* pop(i=-1) */
static PyObject *list_pop(FyList *self, PyObject *args)
{
  Py_ssize_t i = -1;
  if (!PyArg_ParseTuple(args, "|n:pop", &i))
    return NULL;
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  if (i == -1 && ferry_list_len(l) == 0) {
    PyErr_SetString(PyExc_IndexError, "pop from empty list");
    return NULL;
  }
  ssize_t n = ferry_list_pop(l, position(l, i), self->buf, self->max_item, LOCK_NS);
  if (n < 0)
    return list_err(self, (int)n), NULL;
  return decoded(self, (size_t)n);
}

/* Encodes every item of an iterable: a list of bytes and the item array. */
static PyObject *encode_all(PyObject *iterable, ferry_list_item **items, Py_ssize_t *n)
{
  PyObject *seq = PySequence_Fast(iterable, "expected an iterable");
  if (!seq)
    return NULL;
  Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
  PyObject *encs = PyList_New(k);
  ferry_list_item *it = PyMem_Calloc((size_t)(k ? k : 1), sizeof *it);
  if (!encs || !it) {
    Py_XDECREF(encs);
    PyMem_Free(it);
    Py_DECREF(seq);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < k; i++) {
    PyObject *b = fy_encode(PySequence_Fast_GET_ITEM(seq, i));
    if (!b) {
      Py_DECREF(encs);
      PyMem_Free(it);
      Py_DECREF(seq);
      return NULL;
    }
    PyList_SET_ITEM(encs, i, b);
    it[i].data = PyBytes_AS_STRING(b);
    it[i].len = (size_t)PyBytes_GET_SIZE(b);
  }
  Py_DECREF(seq);
  *items = it;
  *n = k;
  return encs;
}

static PyObject *list_many(FyList *self, PyObject *iterable, int replace)
{
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  ferry_list_item *items = NULL;
  Py_ssize_t n = 0;
  PyObject *encs = encode_all(iterable, &items, &n);
  if (!encs)
    return NULL;
  int rc = replace ? ferry_list_replace_all(l, items, (size_t)n, LOCK_NS)
                   : ferry_list_extend(l, items, (size_t)n, LOCK_NS);
  PyMem_Free(items);
  Py_DECREF(encs);
  if (rc)
    return list_err(self, rc), NULL;
  Py_RETURN_NONE;
}

static PyObject *list_extend(FyList *self, PyObject *it) { return list_many(self, it, 0); }
static PyObject *list_replace(FyList *self, PyObject *it) { return list_many(self, it, 1); }

static PyObject *list_clear(FyList *self, PyObject *unused)
{
  (void)unused;
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  int rc = ferry_list_clear(l, LOCK_NS);
  if (rc)
    return list_err(self, rc), NULL;
  Py_RETURN_NONE;
}

/* _snapshot() -> a plain list of every item, read atomically. */
static PyObject *list_snapshot(FyList *self, PyObject *unused)
{
  (void)unused;
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  for (;;) {
    size_t n = ferry_list_len(l) + 16;
    if (n > self->capacity)
      n = self->capacity;
    size_t cap = n * (4 + (size_t)self->max_item);
    uint8_t *buf = PyMem_Malloc(cap ? cap : 1);
    if (!buf)
      return PyErr_NoMemory();
    uint64_t count;
    ssize_t got = ferry_list_copy(l, 0, UINT64_MAX, buf, cap, &count, LOCK_NS);
    if (got == -ENOBUFS) { /* it grew meanwhile */
      PyMem_Free(buf);
      continue;
    }
    if (got < 0) {
      PyMem_Free(buf);
      return list_err(self, (int)got), NULL;
    }
    PyObject *out = PyList_New((Py_ssize_t)count);
    size_t off = 0;
    for (uint64_t i = 0; out && i < count; i++) {
      uint32_t il;
      memcpy(&il, buf + off, 4);
      if (il > self->max_item || off + 4 + il > (size_t)got) {
        Py_CLEAR(out);
        fy_errp(FERRY_ECORRUPT, self->name);
        break;
      }
      PyObject *v = fy_decode(buf + off + 4, il);
      if (!v) {
        Py_CLEAR(out);
        break;
      }
      PyList_SET_ITEM(out, (Py_ssize_t)i, v);
      off += 4 + il;
    }
    PyMem_Free(buf);
    return out;
  }
}

static PyObject *list_get_name(FyList *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyObject *list_stats(FyList *self, PyObject *unused)
{
  (void)unused;
  ferry_list *l = L(self);
  if (!l)
    return NULL;
  ferry_list_stats st;
  int rc = ferry_list_stats_get(l, &st);
  if (rc)
    return list_err(self, rc), NULL;
  return Py_BuildValue("{sKsKsKsKsK}", "len", st.len, "capacity", st.capacity, "max_item",
                       st.max_item, "changes", st.changes, "repairs", st.repairs);
}

static PyObject *list_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
  (void)args;
  (void)kw;
  return type->tp_alloc(type, 0);
}

static int list_traverse(FyList *self, visitproc visit, void *arg)
{
  Py_VISIT(self->dict);
  return 0;
}

static int list_clear_refs(FyList *self)
{
  Py_CLEAR(self->dict);
  return 0;
}

static void list_dealloc(FyList *self)
{
  PyObject_GC_UnTrack(self);
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  list_close_handle(self);
  free(self->buf);
  list_clear_refs(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PySequenceMethods list_as_sequence = {
    .sq_length = (lenfunc)list_len,
    .sq_item = (ssizeargfunc)list_item,
    .sq_ass_item = (ssizeobjargproc)list_ass_item,
};

static PyMethodDef list_methods[] = {
    {"_create", (PyCFunction)list_create, METH_VARARGS, NULL},
    {"_open", (PyCFunction)list_open, METH_VARARGS, NULL},
    {"_close", (PyCFunction)list_close, METH_NOARGS, NULL},
    {"append", (PyCFunction)list_append, METH_O, "append(item)"},
    {"insert", (PyCFunction)list_insert, METH_VARARGS, "insert(index, item)"},
    {"pop", (PyCFunction)list_pop, METH_VARARGS, "pop(index=-1)"},
    {"_extend", (PyCFunction)list_extend, METH_O, NULL},
    {"_replace", (PyCFunction)list_replace, METH_O, NULL},
    {"clear", (PyCFunction)list_clear, METH_NOARGS, "Removes every item."},
    {"_snapshot", (PyCFunction)list_snapshot, METH_NOARGS, NULL},
    {"_stats", (PyCFunction)list_stats, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef list_getset[] = {
    {"_name", (getter)list_get_name, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyList_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.List",
    .tp_basicsize = sizeof(FyList),
    .tp_dealloc = (destructor)list_dealloc,
    .tp_as_sequence = &list_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A ferry list seen from Python (the base of ferry.List).",
    .tp_traverse = (traverseproc)list_traverse,
    .tp_clear = (inquiry)list_clear_refs,
    .tp_weaklistoffset = offsetof(FyList, weakrefs),
    .tp_methods = list_methods,
    .tp_getset = list_getset,
    .tp_dictoffset = offsetof(FyList, dict),
    .tp_new = list_new,
};
