/* SPDX-License-Identifier: MIT */
/*
 * region.c: `_ferry.Region`, a raw region (FERRY_KIND_RAW) as a writable
 * buffer, plus the sync primitives of ferry/sync.h at byte offsets inside
 * it. The package lays its locks, semaphores, events, Value and Array out
 * in such regions (docs/layout/python.md).
 *
 * Lifetime. The region stays mapped while any buffer exported from it is
 * alive (a ctypes object, a memoryview, a numpy array), and while a
 * blocking call on it runs: close() refuses with BufferError until then.
 * In a fork child the inherited handle is left alone (its mapping stays, so
 * buffers inherited through fork keep working) and the region is opened
 * again by name for new calls.
 */
#include "pyferry.h"

#include <errno.h>
#include <string.h>

typedef struct {
  PyObject_HEAD
  ferry_region *r;  /* NULL once closed */
  uint64_t gen;     /* fork generation r was opened in */
  char name[FERRY_NAME_MAX + 1];
  size_t size;      /* bytes of user data, the same in every generation */
  Py_ssize_t busy;  /* exported buffers plus blocking calls in flight */
  PyObject *weakrefs;
} FyRegion;

/* The data of this generation's mapping, reopening by name after a fork.
 * NULL with an exception set if closed or the reopen failed. */
static uint8_t *region_data(FyRegion *self)
{
  if (!self->r) {
    PyErr_Format(PyExc_ValueError, "region %s is closed", self->name);
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    ferry_region *r;
    int rc = ferry_region_open(self->name, FERRY_KIND_RAW, NULL, &r);
    if (rc)
      return fy_errp(rc, self->name), NULL;
    if (ferry_region_data_size(r) != self->size) {
      ferry_region_close(r);
      return fy_errp(FERRY_ECORRUPT, self->name), NULL;
    }
    /* The inherited handle is the parent's: not ours to close. Its mapping
     * stays, for the buffers the child inherited. */
    self->r = r;
    self->gen = fy_fork_gen;
  }
  return ferry_region_data(self->r);
}

uint8_t *fy_region_ptr(PyObject *obj, size_t off, size_t need)
{
  if (!PyObject_TypeCheck(obj, &FyRegion_Type)) {
    PyErr_SetString(PyExc_TypeError, "expected a Region");
    return NULL;
  }
  FyRegion *self = (FyRegion *)obj;
  uint8_t *d = region_data(self);
  if (!d)
    return NULL;
  if (off > self->size || self->size - off < need) {
    PyErr_Format(PyExc_ValueError, "region %s: offset %zu out of range", self->name, off);
    return NULL;
  }
  return d + off;
}

static PyObject *region_new_from(PyTypeObject *type, ferry_region *r)
{
  FyRegion *self = (FyRegion *)type->tp_alloc(type, 0);
  if (!self) {
    ferry_region_close(r);
    return NULL;
  }
  self->r = r;
  self->gen = fy_fork_gen;
  snprintf(self->name, sizeof self->name, "%s", ferry_region_name(r));
  self->size = ferry_region_data_size(r);
  return (PyObject *)self;
}

static PyObject *region_create(PyTypeObject *type, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"name", "size", "mode", NULL};
  const char *name;
  Py_ssize_t size;
  unsigned int mode = 0600;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sn|I:create", kwlist, &name, &size, &mode))
    return NULL;
  if (size <= 0) {
    PyErr_SetString(PyExc_ValueError, "size must be positive");
    return NULL;
  }
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.mode = mode;
  ferry_region *r;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_region_create(name, (size_t)size, &o, &r);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  return region_new_from(type, r);
}

static PyObject *region_open(PyTypeObject *type, PyObject *args)
{
  const char *name;
  if (!PyArg_ParseTuple(args, "s:open", &name))
    return NULL;
  ferry_region *r;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_region_open(name, FERRY_KIND_RAW, NULL, &r);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  return region_new_from(type, r);
}

static void region_close_handle(FyRegion *self)
{
  if (self->r && self->gen == fy_fork_gen)
    ferry_region_close(self->r);
  self->r = NULL;
}

static PyObject *region_close(FyRegion *self, PyObject *unused)
{
  (void)unused;
  if (self->busy) {
    PyErr_Format(PyExc_BufferError,
                 "region %s: cannot close while views of it or calls on it are alive",
                 self->name);
    return NULL;
  }
  region_close_handle(self);
  Py_RETURN_NONE;
}

static void region_dealloc(FyRegion *self)
{
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  region_close_handle(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int region_getbuffer(FyRegion *self, Py_buffer *view, int flags)
{
  uint8_t *d = region_data(self);
  if (!d)
    return -1;
  if (PyBuffer_FillInfo(view, (PyObject *)self, d, (Py_ssize_t)self->size, 0, flags) < 0)
    return -1;
  self->busy++;
  return 0;
}

static void region_releasebuffer(FyRegion *self, Py_buffer *view)
{
  (void)view;
  self->busy--;
}

static PyBufferProcs region_as_buffer = {
    (getbufferproc)region_getbuffer,
    (releasebufferproc)region_releasebuffer,
};

/* Pointer to `need` bytes at `off`, 8-byte aligned, inside the data. */
static void *at(FyRegion *self, Py_ssize_t off, size_t need)
{
  uint8_t *d = region_data(self);
  if (!d)
    return NULL;
  if (off < 0 || (off & 7) || (size_t)off > self->size || self->size - (size_t)off < need) {
    PyErr_Format(PyExc_ValueError, "region %s: offset %zd out of range", self->name, off);
    return NULL;
  }
  return d + off;
}

/* ---- mutex ---------------------------------------------------------------------- */

static int op_mutex_lock(void *ctx, int64_t t) { return ferry_mutex_lock(ctx, t); }

/* mutex_lock(off, block=True, timeout=None) -> 0 not acquired (timeout),
 * 1 acquired, 2 acquired after its owner died (still inconsistent: call
 * mutex_consistent), 3 this thread already holds it. */
static PyObject *region_mutex_lock(FyRegion *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"off", "block", "timeout", NULL};
  Py_ssize_t off;
  PyObject *block = NULL, *timeout = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "n|OO:mutex_lock", kwlist, &off, &block, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  ferry_mutex *m = at(self, off, sizeof *m);
  if (!m)
    return NULL;
  self->busy++;
  int rc = fy_block(op_mutex_lock, m, t);
  self->busy--;
  switch (rc) {
  case 0:
    return PyLong_FromLong(1);
  case -EOWNERDEAD:
    return PyLong_FromLong(2);
  case -EDEADLK:
    return PyLong_FromLong(3);
  case -EAGAIN:
  case -ETIMEDOUT:
    return PyLong_FromLong(0);
  }
  return fy_errp(rc, self->name);
}

/* mutex_unlock(off) -> 0, or 1 if this thread does not hold it. */
static PyObject *region_mutex_unlock(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n:mutex_unlock", &off))
    return NULL;
  ferry_mutex *m = at(self, off, sizeof *m);
  if (!m)
    return NULL;
  int rc = ferry_mutex_unlock(m);
  if (rc == FERRY_ENOTOWNER)
    return PyLong_FromLong(1);
  if (rc)
    return fy_errp(rc, self->name);
  return PyLong_FromLong(0);
}

static PyObject *region_mutex_consistent(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n:mutex_consistent", &off))
    return NULL;
  ferry_mutex *m = at(self, off, sizeof *m);
  if (!m)
    return NULL;
  int rc = ferry_mutex_consistent(m);
  if (rc)
    return fy_errp(rc, self->name);
  Py_RETURN_NONE;
}

/* mutex_state(off) -> 0 unlocked, 1 held by this thread, 2 held by another. */
static PyObject *region_mutex_state(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n:mutex_state", &off))
    return NULL;
  ferry_mutex *m = at(self, off, sizeof *m);
  if (!m)
    return NULL;
  int rc = ferry_mutex_lock(m, 0);
  if (rc == 0) {
    ferry_mutex_unlock(m);
    return PyLong_FromLong(0);
  }
  if (rc == -EOWNERDEAD) {
    /* taken from a dead owner by this look: leave it as the next locker
     * would find it is not possible, so repair it (nothing to repair in
     * the mutex itself) and release it */
    ferry_mutex_consistent(m);
    ferry_mutex_unlock(m);
    return PyLong_FromLong(0);
  }
  if (rc == -EDEADLK)
    return PyLong_FromLong(1);
  if (rc == -EAGAIN)
    return PyLong_FromLong(2);
  return fy_errp(rc, self->name);
}

/* ---- semaphore ------------------------------------------------------------------ */

static int op_sem_wait(void *ctx, int64_t t) { return ferry_sem_wait(ctx, t); }

static PyObject *region_sem_init(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  unsigned long v;
  if (!PyArg_ParseTuple(args, "nk:sem_init", &off, &v))
    return NULL;
  if (v > FERRY_SEM_VALUE_MAX) {
    PyErr_SetString(PyExc_ValueError, "semaphore value too large");
    return NULL;
  }
  ferry_sem *s = at(self, off, sizeof *s);
  if (!s)
    return NULL;
  ferry_sem_init(s, (uint32_t)v);
  Py_RETURN_NONE;
}

/* sem_wait(off, block=True, timeout=None) -> bool */
static PyObject *region_sem_wait(FyRegion *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"off", "block", "timeout", NULL};
  Py_ssize_t off;
  PyObject *block = NULL, *timeout = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "n|OO:sem_wait", kwlist, &off, &block, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  ferry_sem *s = at(self, off, sizeof *s);
  if (!s)
    return NULL;
  self->busy++;
  int rc = fy_block(op_sem_wait, s, t);
  self->busy--;
  if (rc == 0)
    Py_RETURN_TRUE;
  if (rc == -EAGAIN || rc == -ETIMEDOUT)
    Py_RETURN_FALSE;
  return fy_errp(rc, self->name);
}

static PyObject *region_sem_post(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n:sem_post", &off))
    return NULL;
  ferry_sem *s = at(self, off, sizeof *s);
  if (!s)
    return NULL;
  int rc = ferry_sem_post(s);
  if (rc == -EOVERFLOW) {
    PyErr_SetString(PyExc_ValueError, "semaphore value would overflow");
    return NULL;
  }
  if (rc)
    return fy_errp(rc, self->name);
  Py_RETURN_NONE;
}

static PyObject *region_sem_value(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n:sem_value", &off))
    return NULL;
  ferry_sem *s = at(self, off, sizeof *s);
  if (!s)
    return NULL;
  return PyLong_FromUnsignedLong(ferry_sem_value(s));
}

/* ---- event ------------------------------------------------------------------------ */

static int op_event_wait(void *ctx, int64_t t) { return ferry_event_wait(ctx, t); }

static PyObject *region_event_op(FyRegion *self, PyObject *args, int which)
{
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  ferry_event *e = at(self, off, sizeof *e);
  if (!e)
    return NULL;
  switch (which) {
  case 0:
    ferry_event_set(e);
    Py_RETURN_NONE;
  case 1:
    ferry_event_clear(e);
    Py_RETURN_NONE;
  default:
    return PyBool_FromLong(ferry_event_is_set(e));
  }
}
static PyObject *region_event_set(FyRegion *s, PyObject *a) { return region_event_op(s, a, 0); }
static PyObject *region_event_clear(FyRegion *s, PyObject *a) { return region_event_op(s, a, 1); }
static PyObject *region_event_is_set(FyRegion *s, PyObject *a) { return region_event_op(s, a, 2); }

/* event_wait(off, timeout=None) -> bool */
static PyObject *region_event_wait(FyRegion *self, PyObject *args)
{
  Py_ssize_t off;
  PyObject *timeout = NULL;
  if (!PyArg_ParseTuple(args, "n|O:event_wait", &off, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_timeout(timeout, &t) < 0)
    return NULL;
  ferry_event *e = at(self, off, sizeof *e);
  if (!e)
    return NULL;
  self->busy++;
  int rc = fy_block(op_event_wait, e, t);
  self->busy--;
  if (rc == 0)
    Py_RETURN_TRUE;
  if (rc == -EAGAIN || rc == -ETIMEDOUT)
    Py_RETURN_FALSE;
  return fy_errp(rc, self->name);
}

/* ---- counters -------------------------------------------------------------------- */

static PyObject *region_counter(FyRegion *self, PyObject *args, int which)
{
  Py_ssize_t off;
  long long a = 0, b = 0;
  if (!PyArg_ParseTuple(args, "n|LL", &off, &a, &b))
    return NULL;
  ferry_counter *c = at(self, off, sizeof *c);
  if (!c)
    return NULL;
  switch (which) {
  case 0:
    return PyLong_FromLongLong(ferry_counter_load(c));
  case 1:
    ferry_counter_store(c, a);
    Py_RETURN_NONE;
  case 2:
    return PyLong_FromLongLong(ferry_counter_add(c, a));
  case 3: {
    int64_t exp = a;
    return PyBool_FromLong(ferry_counter_cas(c, &exp, b));
  }
  default:
    return PyLong_FromLongLong(ferry_counter_exchange(c, a));
  }
}
static PyObject *region_counter_load(FyRegion *s, PyObject *a) { return region_counter(s, a, 0); }
static PyObject *region_counter_store(FyRegion *s, PyObject *a) { return region_counter(s, a, 1); }
static PyObject *region_counter_add(FyRegion *s, PyObject *a) { return region_counter(s, a, 2); }
static PyObject *region_counter_cas(FyRegion *s, PyObject *a) { return region_counter(s, a, 3); }
static PyObject *region_counter_exchange(FyRegion *s, PyObject *a)
{
  return region_counter(s, a, 4);
}

/* ---- attributes ------------------------------------------------------------------ */

static PyObject *region_get_name(FyRegion *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}
static PyObject *region_get_size(FyRegion *self, void *c)
{
  (void)c;
  return PyLong_FromSize_t(self->size);
}
static PyObject *region_get_closed(FyRegion *self, void *c)
{
  (void)c;
  return PyBool_FromLong(self->r == NULL);
}
/* Address of the data in this process (after a reopen, of the new map). */
static PyObject *region_get_address(FyRegion *self, void *c)
{
  (void)c;
  uint8_t *d = region_data(self);
  return d ? PyLong_FromVoidPtr(d) : NULL;
}

static PyGetSetDef region_getset[] = {
    {"name", (getter)region_get_name, NULL, "the region's name", NULL},
    {"size", (getter)region_get_size, NULL, "bytes of data", NULL},
    {"closed", (getter)region_get_closed, NULL, "True once closed", NULL},
    {"address", (getter)region_get_address, NULL, "address of the data in this process", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define KW (METH_VARARGS | METH_KEYWORDS)
static PyMethodDef region_methods[] = {
    {"create", (PyCFunction)(void (*)(void))region_create, KW | METH_CLASS,
     "create(name, size, mode=0o600): a new zeroed raw region."},
    {"open", (PyCFunction)region_open, METH_VARARGS | METH_CLASS, "open(name): an existing one."},
    {"close", (PyCFunction)region_close, METH_NOARGS, "Detaches from the region."},
    {"mutex_lock", (PyCFunction)(void (*)(void))region_mutex_lock, KW, NULL},
    {"mutex_unlock", (PyCFunction)region_mutex_unlock, METH_VARARGS, NULL},
    {"mutex_consistent", (PyCFunction)region_mutex_consistent, METH_VARARGS, NULL},
    {"mutex_state", (PyCFunction)region_mutex_state, METH_VARARGS, NULL},
    {"sem_init", (PyCFunction)region_sem_init, METH_VARARGS, NULL},
    {"sem_wait", (PyCFunction)(void (*)(void))region_sem_wait, KW, NULL},
    {"sem_post", (PyCFunction)region_sem_post, METH_VARARGS, NULL},
    {"sem_value", (PyCFunction)region_sem_value, METH_VARARGS, NULL},
    {"event_set", (PyCFunction)region_event_set, METH_VARARGS, NULL},
    {"event_clear", (PyCFunction)region_event_clear, METH_VARARGS, NULL},
    {"event_is_set", (PyCFunction)region_event_is_set, METH_VARARGS, NULL},
    {"event_wait", (PyCFunction)region_event_wait, METH_VARARGS, NULL},
    {"counter_load", (PyCFunction)region_counter_load, METH_VARARGS, NULL},
    {"counter_store", (PyCFunction)region_counter_store, METH_VARARGS, NULL},
    {"counter_add", (PyCFunction)region_counter_add, METH_VARARGS, NULL},
    {"counter_cas", (PyCFunction)region_counter_cas, METH_VARARGS, NULL},
    {"counter_exchange", (PyCFunction)region_counter_exchange, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject FyRegion_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Region",
    .tp_basicsize = sizeof(FyRegion),
    .tp_dealloc = (destructor)region_dealloc,
    .tp_as_buffer = &region_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A raw ferry region: a writable buffer with sync primitives at offsets.",
    .tp_weaklistoffset = offsetof(FyRegion, weakrefs),
    .tp_methods = region_methods,
    .tp_getset = region_getset,
};
