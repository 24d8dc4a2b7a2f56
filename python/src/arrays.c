/* SPDX-License-Identifier: MIT */
/*
 * arrays.c: shared arrays and the bus, as buffers numpy can wrap without a
 * copy.
 *
 *   _ferry.Arrays      an array region (FERRY_KIND_ARRAY): a frame of named,
 *                      typed N-d arrays declared once by the creator.
 *   _ferry.Bus         the publisher of a bus (FERRY_KIND_BUS): loans a
 *                      slot's frame (writable views), publishes it.
 *   _ferry.Subscriber  a subscriber: takes the next frame (read-only views),
 *                      releases it.
 *   _ferry.View        one array of a frame: a buffer with numpy's format,
 *                      shape and strides (PEP 3118), so numpy.asarray(view)
 *                      is an ndarray over the shared memory itself.
 *
 * A view keeps its owner (and so the mapping) alive. close() on an owner
 * whose views' buffers are still exported (numpy arrays alive) detaches
 * from the object at once where that matters (the bus shuts down, a
 * subscriber stops receiving) and unmaps when the last buffer is released.
 * A bus view stays mapped after its frame is released, but the publisher
 * may write that slot again: use a frame's arrays only between next() and
 * release().
 */
#include "pyferry.h"

#include <errno.h>
#include <string.h>

/* ---- views ------------------------------------------------------------------------ */

/* The head every owner of views (Arrays, Bus, Subscriber) starts with. */
typedef struct FyOwner {
  PyObject_HEAD
  Py_ssize_t busy;                      /* exported buffers + calls in flight */
  int closing;                          /* close() waits for busy to reach 0 */
  void (*finish)(struct FyOwner *self); /* the deferred close */
} FyOwner;

static void owner_unbusy(FyOwner *o)
{
  if (--o->busy == 0 && o->closing) {
    o->closing = 0;
    o->finish(o);
  }
}

typedef struct {
  PyObject_HEAD
  FyOwner *owner; /* Arrays, Bus or Subscriber: keeps the mapping */
  void *data;
  int readonly;
  int ndim;
  Py_ssize_t shape[FERRY_ARRAY_MAX_DIMS];
  Py_ssize_t strides[FERRY_ARRAY_MAX_DIMS];
  Py_ssize_t itemsize, nbytes;
  const char *format;
  char name[FERRY_ARRAY_NAME_MAX + 1];
  int dtype;
} FyView;

static const char *format_of(ferry_dtype t)
{
  switch (t) {
  case FERRY_DTYPE_BOOL: return "?";
  case FERRY_DTYPE_I8: return "b";
  case FERRY_DTYPE_I16: return "h";
  case FERRY_DTYPE_I32: return "i";
  case FERRY_DTYPE_I64: return "q";
  case FERRY_DTYPE_U8: return "B";
  case FERRY_DTYPE_U16: return "H";
  case FERRY_DTYPE_U32: return "I";
  case FERRY_DTYPE_U64: return "Q";
  case FERRY_DTYPE_F16: return "e";
  case FERRY_DTYPE_F32: return "f";
  case FERRY_DTYPE_F64: return "d";
  case FERRY_DTYPE_C64: return "Zf";
  case FERRY_DTYPE_C128: return "Zd";
  default: return NULL;
  }
}

static PyObject *view_new(FyOwner *owner, const ferry_array *a, int readonly)
{
  const char *fmt = format_of(a->dtype);
  if (!fmt || a->ndim > FERRY_ARRAY_MAX_DIMS)
    return fy_errp(FERRY_ECORRUPT, "array descriptor");
  FyView *v = PyObject_New(FyView, &FyView_Type);
  if (!v)
    return NULL;
  Py_INCREF(owner);
  v->owner = owner;
  v->data = a->data;
  v->readonly = readonly;
  v->ndim = (int)a->ndim;
  for (int i = 0; i < v->ndim; i++) {
    v->shape[i] = (Py_ssize_t)a->shape[i];
    v->strides[i] = (Py_ssize_t)a->strides[i];
  }
  v->itemsize = (Py_ssize_t)a->itemsize;
  v->nbytes = (Py_ssize_t)a->nbytes;
  v->format = fmt;
  v->dtype = (int)a->dtype;
  snprintf(v->name, sizeof v->name, "%s", a->name);
  return (PyObject *)v;
}

static void view_dealloc(FyView *v)
{
  Py_XDECREF(v->owner);
  PyObject_Free(v);
}

static int view_getbuffer(FyView *v, Py_buffer *b, int flags)
{
  if ((flags & PyBUF_WRITABLE) && v->readonly) {
    PyErr_SetString(PyExc_BufferError, "this shared array is read-only");
    return -1;
  }
  b->buf = v->data;
  b->obj = (PyObject *)v;
  Py_INCREF(v);
  b->len = v->nbytes;
  b->readonly = v->readonly;
  b->suboffsets = NULL;
  b->internal = NULL;
  if (flags & PyBUF_ND) {
    b->itemsize = v->itemsize;
    b->format = (flags & PyBUF_FORMAT) ? (char *)v->format : NULL;
    b->ndim = v->ndim;
    b->shape = v->ndim ? v->shape : NULL;
    b->strides = (flags & PyBUF_STRIDES) && v->ndim ? v->strides : NULL;
  } else { /* flat bytes (the data is C-contiguous) */
    b->itemsize = 1;
    b->format = (flags & PyBUF_FORMAT) ? "B" : NULL;
    b->ndim = 1;
    b->shape = NULL;
    b->strides = NULL;
  }
  v->owner->busy++;
  return 0;
}

static void view_releasebuffer(FyView *v, Py_buffer *b)
{
  (void)b;
  owner_unbusy(v->owner);
}

static PyBufferProcs view_as_buffer = {
    (getbufferproc)view_getbuffer,
    (releasebufferproc)view_releasebuffer,
};

static PyObject *view_get(FyView *v, void *which)
{
  switch ((int)(intptr_t)which) {
  case 0:
    return PyUnicode_FromString(v->name);
  case 1: {
    PyObject *t = PyTuple_New(v->ndim);
    for (int i = 0; t && i < v->ndim; i++)
      PyTuple_SET_ITEM(t, i, PyLong_FromSsize_t(v->shape[i]));
    return t;
  }
  case 2:
    return PyUnicode_FromString(ferry_dtype_typestr((ferry_dtype)v->dtype));
  case 3:
    return PyLong_FromVoidPtr(v->data);
  case 4:
    return PyLong_FromSsize_t(v->nbytes);
  default:
    return PyBool_FromLong(v->readonly);
  }
}

static PyGetSetDef view_getset[] = {
    {"name", (getter)view_get, NULL, "the array's name", (void *)0},
    {"shape", (getter)view_get, NULL, "its shape", (void *)1},
    {"typestr", (getter)view_get, NULL, "its dtype as numpy's typestr", (void *)2},
    {"address", (getter)view_get, NULL, "address of its data in this process", (void *)3},
    {"nbytes", (getter)view_get, NULL, "bytes of data", (void *)4},
    {"readonly", (getter)view_get, NULL, "True for a subscriber's view", (void *)5},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyView_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.View",
    .tp_basicsize = sizeof(FyView),
    .tp_dealloc = (destructor)view_dealloc,
    .tp_as_buffer = &view_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One shared array as a buffer (numpy.asarray(view) wraps it without a copy).",
    .tp_getset = view_getset,
};

/* Views of every array of frame f, as a list. */
static PyObject *frame_views(FyOwner *owner, const ferry_frame *f, int readonly)
{
  size_t n = ferry_frame_count(f);
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    ferry_array a;
    int rc = ferry_frame_array_at(f, i, &a);
    PyObject *v = rc ? fy_errp(rc, "frame") : view_new(owner, &a, readonly);
    if (!v) {
      Py_CLEAR(out);
      break;
    }
    PyList_SET_ITEM(out, (Py_ssize_t)i, v);
  }
  return out;
}

/* specs: a sequence of (name, dtype text, shape tuple). Fills specs[] and
 * keeps the name strings alive in *keep. */
static int parse_specs(PyObject *seq_in, ferry_array_spec *specs, size_t *n, PyObject **keep)
{
  PyObject *seq = PySequence_Fast(seq_in, "arrays: expected a sequence of (name, dtype, shape)");
  if (!seq)
    return -1;
  Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
  if (k < 1 || k > FERRY_ARRAY_MAX_COUNT) {
    Py_DECREF(seq);
    PyErr_Format(PyExc_ValueError, "a frame holds 1 to %d arrays", FERRY_ARRAY_MAX_COUNT);
    return -1;
  }
  for (Py_ssize_t i = 0; i < k; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
    const char *nm, *dt;
    PyObject *shape;
    if (!PyArg_ParseTuple(t, "ssO", &nm, &dt, &shape)) {
      Py_DECREF(seq);
      return -1;
    }
    memset(&specs[i], 0, sizeof specs[i]);
    specs[i].name = nm;
    ferry_dtype d;
    if (ferry_dtype_parse(dt, &d)) {
      Py_DECREF(seq);
      PyErr_Format(PyExc_ValueError, "array %s: dtype %s is not one ferry stores", nm, dt);
      return -1;
    }
    specs[i].dtype = d;
    PyObject *sh = PySequence_Fast(shape, "shape: expected a sequence of ints");
    if (!sh) {
      Py_DECREF(seq);
      return -1;
    }
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(sh);
    if (nd > FERRY_ARRAY_MAX_DIMS) {
      Py_DECREF(sh);
      Py_DECREF(seq);
      PyErr_Format(PyExc_ValueError, "array %s: at most %d dimensions", nm, FERRY_ARRAY_MAX_DIMS);
      return -1;
    }
    specs[i].ndim = (uint32_t)nd;
    for (Py_ssize_t j = 0; j < nd; j++) {
      long long v = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(sh, j));
      if ((v == -1 && PyErr_Occurred()) || v < 0) {
        Py_DECREF(sh);
        Py_DECREF(seq);
        if (!PyErr_Occurred())
          PyErr_Format(PyExc_ValueError, "array %s: negative dimension", nm);
        return -1;
      }
      specs[i].shape[j] = (uint64_t)v;
    }
    Py_DECREF(sh);
  }
  *n = (size_t)k;
  *keep = seq; /* the names point into it */
  return 0;
}

/* ---- array regions -------------------------------------------------------------------- */

typedef struct {
  FyOwner o;
  ferry_arrays *a;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  PyObject *weakrefs;
} FyArrays;

static void arrays_finish(FyOwner *o)
{
  FyArrays *self = (FyArrays *)o;
  if (self->a && self->gen == fy_fork_gen)
    ferry_array_close(self->a);
  self->a = NULL;
}

static PyObject *arrays_wrap(PyTypeObject *type, ferry_arrays *a)
{
  FyArrays *self = (FyArrays *)type->tp_alloc(type, 0);
  if (!self) {
    ferry_array_close(a);
    return NULL;
  }
  self->a = a;
  self->gen = fy_fork_gen;
  self->o.finish = arrays_finish;
  snprintf(self->name, sizeof self->name, "%s", ferry_region_name(ferry_array_region(a)));
  return (PyObject *)self;
}

/* Arrays.create(name, specs) */
static PyObject *arrays_create(PyTypeObject *type, PyObject *args)
{
  const char *name;
  PyObject *specs_in, *keep;
  if (!PyArg_ParseTuple(args, "sO:create", &name, &specs_in))
    return NULL;
  ferry_array_spec specs[FERRY_ARRAY_MAX_COUNT];
  size_t n;
  if (parse_specs(specs_in, specs, &n, &keep) < 0)
    return NULL;
  ferry_arrays *a;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_array_create(name, specs, n, NULL, &a);
  Py_END_ALLOW_THREADS
  Py_DECREF(keep);
  if (rc)
    return fy_errp(rc, name);
  return arrays_wrap(type, a);
}

/* Arrays.open(name) */
static PyObject *arrays_open(PyTypeObject *type, PyObject *args)
{
  const char *name;
  if (!PyArg_ParseTuple(args, "s:open", &name))
    return NULL;
  ferry_arrays *a;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_array_open(name, NULL, &a);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  return arrays_wrap(type, a);
}

static ferry_arrays *A(FyArrays *self)
{
  if (!self->a || self->o.closing) {
    PyErr_Format(PyExc_ValueError, "arrays %s are closed", self->name);
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    ferry_arrays *a;
    int rc = ferry_array_open(self->name, NULL, &a);
    if (rc)
      return fy_errp(rc, self->name), NULL;
    self->a = a; /* the parent's handle stays mapped for inherited views */
    self->gen = fy_fork_gen;
  }
  return self->a;
}

/* views() -> [View] in declaration order (writable). */
static PyObject *arrays_views(FyArrays *self, PyObject *unused)
{
  (void)unused;
  ferry_arrays *a = A(self);
  if (!a)
    return NULL;
  return frame_views(&self->o, ferry_array_frame(a), 0);
}

/* close(): detaches now, or when the last array over the region dies. */
static PyObject *arrays_close(FyArrays *self, PyObject *unused)
{
  (void)unused;
  if (self->o.busy)
    self->o.closing = 1;
  else
    arrays_finish(&self->o);
  Py_RETURN_NONE;
}

static void arrays_dealloc(FyArrays *self)
{
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  arrays_finish(&self->o);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* region() -> (address, size) of the whole mapping in this process */
static PyObject *arrays_region(FyArrays *self, PyObject *unused)
{
  (void)unused;
  ferry_arrays *a = A(self);
  if (!a)
    return NULL;
  ferry_region *r = ferry_array_region(a);
  ferry_region_info info;
  int rc = ferry_region_info_get(r, &info);
  if (rc)
    return fy_errp(rc, self->name);
  uint8_t *obj = ferry_region_data(r);
  return Py_BuildValue("(NK)", PyLong_FromVoidPtr(obj), (unsigned long long)info.object_size);
}

static PyObject *arrays_get_name(FyArrays *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyMethodDef arrays_methods[] = {
    {"create", (PyCFunction)arrays_create, METH_VARARGS | METH_CLASS,
     "create(name, [(name, dtype, shape), ...])"},
    {"open", (PyCFunction)arrays_open, METH_VARARGS | METH_CLASS, "open(name)"},
    {"views", (PyCFunction)arrays_views, METH_NOARGS, "views of every array"},
    {"region", (PyCFunction)arrays_region, METH_NOARGS, "(address, size) of the object area"},
    {"close", (PyCFunction)arrays_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef arrays_getset[] = {
    {"name", (getter)arrays_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyArrays_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Arrays",
    .tp_basicsize = sizeof(FyArrays),
    .tp_dealloc = (destructor)arrays_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An array region: a frame of named shared arrays.",
    .tp_weaklistoffset = offsetof(FyArrays, weakrefs),
    .tp_methods = arrays_methods,
    .tp_getset = arrays_getset,
};

/* ---- the bus: publisher ---------------------------------------------------------------------- */

typedef struct {
  FyOwner o;
  ferry_bus *b;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  ferry_frame *loaned;
  PyObject *loan_views;
  PyObject *weakrefs;
} FyBus;

static void bus_close_handle(FyBus *self)
{
  if (self->b && self->gen == fy_fork_gen)
    ferry_bus_close(self->b);
  self->b = NULL;
  self->loaned = NULL;
}

static void bus_finish(FyOwner *o) { bus_close_handle((FyBus *)o); }

static ferry_bus *B(FyBus *self)
{
  if (!self->b || self->o.closing) {
    PyErr_Format(PyExc_ValueError, "bus %s is closed", self->name);
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    PyErr_Format(PyExc_ValueError,
                 "bus %s: only the process that created it publishes; subscribe instead",
                 self->name);
    return NULL;
  }
  return self->b;
}

/* Bus.create(name, specs, slots, mode, max_subscribers) */
static PyObject *bus_create(PyTypeObject *type, PyObject *args)
{
  const char *name;
  PyObject *specs_in, *keep;
  unsigned int slots, mode, maxsubs;
  if (!PyArg_ParseTuple(args, "sOIII:create", &name, &specs_in, &slots, &mode, &maxsubs))
    return NULL;
  ferry_array_spec specs[FERRY_ARRAY_MAX_COUNT];
  size_t n;
  if (parse_specs(specs_in, specs, &n, &keep) < 0)
    return NULL;
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.slots = slots;
  o.mode = (ferry_bus_mode)mode;
  o.max_subscribers = maxsubs;
  ferry_bus *b;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_bus_create(name, specs, n, &o, &b);
  Py_END_ALLOW_THREADS
  Py_DECREF(keep);
  if (rc)
    return fy_errp(rc, name);
  FyBus *self = (FyBus *)type->tp_alloc(type, 0);
  if (!self) {
    ferry_bus_close(b);
    return NULL;
  }
  self->b = b;
  self->gen = fy_fork_gen;
  self->o.finish = bus_finish;
  snprintf(self->name, sizeof self->name, "%s", name);
  return (PyObject *)self;
}

struct loan_ctx {
  ferry_bus *b;
  ferry_frame *f;
};

static int op_loan(void *c, int64_t t)
{
  struct loan_ctx *l = c;
  return ferry_bus_loan(l->b, &l->f, t);
}

/* loan(timeout=None) -> [View] (writable) of a free slot's frame; the same
 * frame again while it is not published. TimeoutError, EOFError (shut
 * down). */
static PyObject *bus_loan(FyBus *self, PyObject *args)
{
  PyObject *timeout = NULL;
  if (!PyArg_ParseTuple(args, "|O:loan", &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_timeout(timeout, &t) < 0)
    return NULL;
  ferry_bus *b = B(self);
  if (!b)
    return NULL;
  if (self->loaned) {
    Py_INCREF(self->loan_views);
    return self->loan_views;
  }
  struct loan_ctx l = {b, NULL};
  self->o.busy++; /* the mapping stays while we wait */
  int rc = fy_block(op_loan, &l, t);
  owner_unbusy(&self->o);
  if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    PyErr_Format(PyExc_TimeoutError, "bus %s: no free slot in time", self->name);
    return NULL;
  }
  if (rc == -EPIPE) {
    PyErr_Format(PyExc_EOFError, "bus %s is shut down", self->name);
    return NULL;
  }
  if (rc)
    return fy_errp(rc, self->name);
  if (!self->b) /* closed meanwhile */
    return fy_errp(-EPIPE, self->name);
  PyObject *views = frame_views(&self->o, l.f, 0);
  if (!views)
    return NULL;
  self->loaned = l.f;
  Py_INCREF(views);
  self->loan_views = views;
  return views;
}

/* publish() -> the frame's sequence number */
static PyObject *bus_publish(FyBus *self, PyObject *unused)
{
  (void)unused;
  ferry_bus *b = B(self);
  if (!b)
    return NULL;
  if (!self->loaned) {
    PyErr_SetString(PyExc_ValueError, "nothing loaned to publish");
    return NULL;
  }
  uint64_t seq = ferry_bus_seq(b);
  int rc = ferry_bus_publish(b, self->loaned);
  if (rc)
    return fy_errp(rc, self->name);
  self->loaned = NULL;
  Py_CLEAR(self->loan_views);
  return PyLong_FromUnsignedLongLong(seq);
}

static PyObject *bus_shutdown(FyBus *self, PyObject *unused)
{
  (void)unused;
  ferry_bus *b = B(self);
  if (!b)
    return NULL;
  ferry_bus_shutdown(b);
  self->loaned = NULL;
  Py_CLEAR(self->loan_views);
  Py_RETURN_NONE;
}

static PyObject *bus_seq(FyBus *self, void *c)
{
  (void)c;
  ferry_bus *b = B(self);
  return b ? PyLong_FromUnsignedLongLong(ferry_bus_seq(b)) : NULL;
}

static PyObject *bus_stats(FyBus *self, PyObject *unused)
{
  (void)unused;
  ferry_bus *b = B(self);
  if (!b)
    return NULL;
  ferry_bus_stats st;
  int rc = ferry_bus_stats_get(b, &st);
  if (rc)
    return fy_errp(rc, self->name);
  return Py_BuildValue("{sIsIsIsIsKsKsKsKsKsi}", "mode", st.mode, "slots", st.slots,
                       "max_subscribers", st.max_subscribers, "subscribers", st.subscribers,
                       "frame_bytes", st.frame_bytes, "published", st.published, "loan_waits",
                       st.loan_waits, "wait_ns", st.wait_ns, "dropped", st.dropped, "shutdown",
                       st.shutdown);
}

/* close(): shuts the bus down now; detaches when the last array over a
 * frame of it dies. */
static PyObject *bus_close(FyBus *self, PyObject *unused)
{
  (void)unused;
  Py_CLEAR(self->loan_views);
  if (self->o.busy) {
    if (self->b && self->gen == fy_fork_gen)
      ferry_bus_shutdown(self->b);
    self->o.closing = 1;
  } else {
    bus_close_handle(self);
  }
  Py_RETURN_NONE;
}

static void bus_dealloc(FyBus *self)
{
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  Py_CLEAR(self->loan_views);
  bus_close_handle(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *bus_get_name(FyBus *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyMethodDef bus_methods[] = {
    {"create", (PyCFunction)bus_create, METH_VARARGS | METH_CLASS,
     "create(name, specs, slots, mode, max_subscribers)"},
    {"loan", (PyCFunction)bus_loan, METH_VARARGS, NULL},
    {"publish", (PyCFunction)bus_publish, METH_NOARGS, NULL},
    {"shutdown", (PyCFunction)bus_shutdown, METH_NOARGS, NULL},
    {"stats", (PyCFunction)bus_stats, METH_NOARGS, NULL},
    {"close", (PyCFunction)bus_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef bus_getset[] = {
    {"name", (getter)bus_get_name, NULL, NULL, NULL},
    {"seq", (getter)bus_seq, NULL, "the sequence number of the next frame", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyBus_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Bus",
    .tp_basicsize = sizeof(FyBus),
    .tp_dealloc = (destructor)bus_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The publisher of a bus.",
    .tp_weaklistoffset = offsetof(FyBus, weakrefs),
    .tp_methods = bus_methods,
    .tp_getset = bus_getset,
};

/* ---- the bus: subscriber -------------------------------------------------------------------- */

typedef struct {
  FyOwner o;
  ferry_sub *s;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  const ferry_frame *held;
  PyObject *weakrefs;
} FySub;

static void sub_close_handle(FySub *self)
{
  if (self->s && self->gen == fy_fork_gen)
    ferry_bus_unsubscribe(self->s);
  self->s = NULL;
  self->held = NULL;
}

static void sub_finish(FyOwner *o) { sub_close_handle((FySub *)o); }

static ferry_sub *S(FySub *self)
{
  if (!self->s || self->o.closing) {
    PyErr_Format(PyExc_ValueError, "subscription to %s is closed", self->name);
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    PyErr_Format(PyExc_ValueError,
                 "a subscription to %s belongs to the process that made it: subscribe again",
                 self->name);
    return NULL;
  }
  return self->s;
}

/* Subscriber.subscribe(name) */
static PyObject *sub_subscribe(PyTypeObject *type, PyObject *args)
{
  const char *name;
  if (!PyArg_ParseTuple(args, "s:subscribe", &name))
    return NULL;
  ferry_sub *s;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_bus_subscribe(name, NULL, &s);
  Py_END_ALLOW_THREADS
  if (rc == -EPIPE) {
    PyErr_Format(PyExc_EOFError, "bus %s is shut down", name);
    return NULL;
  }
  if (rc)
    return fy_errp(rc, name);
  FySub *self = (FySub *)type->tp_alloc(type, 0);
  if (!self) {
    ferry_bus_unsubscribe(s);
    return NULL;
  }
  self->s = s;
  self->gen = fy_fork_gen;
  self->o.finish = sub_finish;
  snprintf(self->name, sizeof self->name, "%s", name);
  return (PyObject *)self;
}

struct next_ctx {
  ferry_sub *s;
  const ferry_frame *f;
  ferry_bus_frame_info info;
};

static int op_next(void *c, int64_t t)
{
  struct next_ctx *n = c;
  return ferry_bus_next(n->s, &n->f, &n->info, t);
}

/* next(timeout=None) -> (seq, skipped, lag, [View] read-only). Releases a
 * frame still held. TimeoutError; EOFError once the publisher is gone and
 * everything is drained. */
static PyObject *sub_next(FySub *self, PyObject *args)
{
  PyObject *timeout = NULL;
  if (!PyArg_ParseTuple(args, "|O:next", &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_timeout(timeout, &t) < 0)
    return NULL;
  ferry_sub *s = S(self);
  if (!s)
    return NULL;
  if (self->held) {
    ferry_bus_release(s, self->held);
    self->held = NULL;
  }
  struct next_ctx n = {s, NULL, {0, 0, 0}};
  self->o.busy++;
  int rc = fy_block(op_next, &n, t);
  owner_unbusy(&self->o);
  if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    PyErr_Format(PyExc_TimeoutError, "bus %s: no frame in time", self->name);
    return NULL;
  }
  if (rc == -EPIPE) {
    PyErr_Format(PyExc_EOFError, "bus %s has ended", self->name);
    return NULL;
  }
  if (rc)
    return fy_errp(rc, self->name);
  if (!self->s) /* closed meanwhile */
    return fy_errp(-EPIPE, self->name);
  self->held = n.f;
  PyObject *views = frame_views(&self->o, n.f, 1);
  if (!views)
    return NULL;
  return Py_BuildValue("(KKKN)", (unsigned long long)n.info.seq,
                       (unsigned long long)n.info.skipped, (unsigned long long)n.info.lag, views);
}

static PyObject *sub_release(FySub *self, PyObject *unused)
{
  (void)unused;
  ferry_sub *s = S(self);
  if (!s)
    return NULL;
  if (self->held) {
    int rc = ferry_bus_release(s, self->held);
    self->held = NULL;
    if (rc)
      return fy_errp(rc, self->name);
  }
  Py_RETURN_NONE;
}

/* close(): stops receiving now; leaves the bus when the last array over
 * a frame of it dies. */
static PyObject *sub_close(FySub *self, PyObject *unused)
{
  (void)unused;
  if (self->o.busy)
    self->o.closing = 1;
  else
    sub_close_handle(self);
  Py_RETURN_NONE;
}

static void sub_dealloc(FySub *self)
{
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  sub_close_handle(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *sub_stats(FySub *self, PyObject *unused)
{
  (void)unused;
  ferry_sub *s = S(self);
  if (!s)
    return NULL;
  ferry_bus_sub_stats st;
  int rc = ferry_sub_stats_get(s, &st);
  if (rc)
    return fy_errp(rc, self->name);
  return Py_BuildValue("{sKsKsKsK}", "next_seq", st.next_seq, "lag", st.lag, "received",
                       st.received, "skipped", st.skipped);
}

static PyObject *sub_get_name(FySub *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyMethodDef sub_methods[] = {
    {"subscribe", (PyCFunction)sub_subscribe, METH_VARARGS | METH_CLASS, "subscribe(name)"},
    {"next", (PyCFunction)sub_next, METH_VARARGS, NULL},
    {"release", (PyCFunction)sub_release, METH_NOARGS, NULL},
    {"stats", (PyCFunction)sub_stats, METH_NOARGS, NULL},
    {"close", (PyCFunction)sub_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sub_getset[] = {
    {"name", (getter)sub_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FySub_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Subscriber",
    .tp_basicsize = sizeof(FySub),
    .tp_dealloc = (destructor)sub_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A subscription to a bus.",
    .tp_weaklistoffset = offsetof(FySub, weakrefs),
    .tp_methods = sub_methods,
    .tp_getset = sub_getset,
};
