/* SPDX-License-Identifier: MIT */
/*
 * module.c: the module `ferry._ferry`: errors, timeouts, the sliced
 * blocking wait, pickling hooks, the dict encoding, the fork generation and
 * the module-level functions (unlink, unlink_prefix, ...).
 */
#include "pyferry.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

volatile uint64_t fy_fork_gen = 1;
struct fy_config fy_cfg;

static void fy_after_fork_child(void) { fy_fork_gen++; }

/* ---- errors ---------------------------------------------------------------- */

PyObject *fy_errp(int rc, const char *what)
{
  if (rc == FY_PYERR) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_SystemError, "ferry: lost exception");
    return NULL;
  }
  const char *msg = ferry_strerror(rc);
  if (rc <= -FERRY_ERR_BASE && fy_cfg.FerryError) {
    PyObject *m = what ? PyUnicode_FromFormat("%s: %s", what, msg) : PyUnicode_FromString(msg);
    if (!m)
      return NULL;
    PyObject *args = Py_BuildValue("(iN)", -rc, m);
    if (args) {
      PyErr_SetObject(fy_cfg.FerryError, args);
      Py_DECREF(args);
    }
    return NULL;
  }
  if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    PyErr_Format(PyExc_TimeoutError, "%s: %s", what ? what : "ferry", msg);
    return NULL;
  }
  if (rc == -EOVERFLOW) {
    PyErr_Format(PyExc_OverflowError, "%s: %s", what ? what : "ferry", msg);
    return NULL;
  }
  if (rc == -EINVAL && what) {
    PyErr_Format(PyExc_ValueError, "%s: %s", what, msg);
    return NULL;
  }
  PyObject *m = what ? PyUnicode_FromFormat("%s: %s", what, msg) : PyUnicode_FromString(msg);
  if (!m)
    return NULL;
  PyObject *args = Py_BuildValue("(iN)", -rc, m);
  if (args) {
    PyErr_SetObject(PyExc_OSError, args);
    Py_DECREF(args);
  }
  return NULL;
}

int fy_err(int rc, const char *what)
{
  fy_errp(rc, what);
  return -1;
}

/* ---- timeouts ------------------------------------------------------------------ */

int fy_parse_timeout(PyObject *timeout, int64_t *out)
{
  if (!timeout || timeout == Py_None) {
    *out = FY_FOREVER;
    return 0;
  }
  double s = PyFloat_AsDouble(timeout);
  if (s == -1.0 && PyErr_Occurred())
    return -1;
  if (s != s) {
    PyErr_SetString(PyExc_ValueError, "timeout is NaN");
    return -1;
  }
  if (s <= 0) {
    *out = 0;
    return 0;
  }
  if (s >= 9.0e9) { /* centuries: no deadline */
    *out = FY_FOREVER;
    return 0;
  }
  int64_t ns = (int64_t)(s * 1e9);
  *out = ns > 0 ? ns : 1;
  return 0;
}

int fy_parse_block_timeout(PyObject *block, PyObject *timeout, int64_t *out)
{
  if (block) {
    int b = PyObject_IsTrue(block);
    if (b < 0)
      return -1;
    if (!b) {
      *out = 0;
      return 0;
    }
  }
  return fy_parse_timeout(timeout, out);
}

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

int fy_block(fy_op_fn op, void *ctx, int64_t timeout_ns)
{
  int rc = op(ctx, 0);
  if (rc != -EAGAIN || timeout_ns == 0)
    return rc;
  int64_t deadline = timeout_ns == FY_FOREVER ? INT64_MAX : mono_ns() + timeout_ns;
  for (;;) {
    int64_t slice = FY_SLICE_NS;
    if (deadline != INT64_MAX) {
      int64_t left = deadline - mono_ns();
      if (left <= 0)
        return -ETIMEDOUT;
      if (left < slice)
        slice = left;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = op(ctx, slice);
    Py_END_ALLOW_THREADS
    if (rc != -ETIMEDOUT && rc != -EAGAIN)
      return rc;
    if (PyErr_CheckSignals())
      return FY_PYERR;
  }
}

/* ---- pickling ------------------------------------------------------------------ */

PyObject *fy_dumps(PyObject *obj)
{
  if (!fy_cfg.dumps) {
    PyErr_SetString(PyExc_RuntimeError, "ferry._ferry is not configured");
    return NULL;
  }
  PyObject *r = PyObject_CallFunctionObjArgs(fy_cfg.dumps, obj, fy_cfg.protocol, NULL);
  if (r || !fy_cfg.fallback_dumps)
    return r;
  /* Plain pickle failed: multiprocessing's pickler knows more reducers
   * (connections, sockets, ...). Its error, if it fails too, is the one
   * multiprocessing users expect. */
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  r = PyObject_CallFunctionObjArgs(fy_cfg.fallback_dumps, obj, fy_cfg.protocol, NULL);
  if (r) {
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(tb);
    return r;
  }
  Py_XDECREF(et);
  Py_XDECREF(ev);
  Py_XDECREF(tb);
  return NULL;
}

PyObject *fy_loads(const void *p, size_t len)
{
  PyObject *mv = PyMemoryView_FromMemory((char *)p, (Py_ssize_t)len, PyBUF_READ);
  if (!mv)
    return NULL;
  PyObject *r = PyObject_CallOneArg(fy_cfg.loads, mv);
  Py_DECREF(mv);
  return r;
}

/* ---- the dict/list/heap encoding --------------------------------------------------
 * Tag byte, then:
 *   's' UTF-8 text (exact str)        'i' 8-byte little-endian int64 (exact int)
 *   'y' raw bytes (exact bytes)       'f' 8-byte IEEE double (exact float)
 *   'n' nothing (None)                't' / 'F' nothing (True / False)
 *   'p' a pickle (everything else)
 */
PyObject *fy_encode(PyObject *obj)
{
  if (PyUnicode_CheckExact(obj)) {
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(obj, &n);
    if (!u)
      return NULL;
    PyObject *b = PyBytes_FromStringAndSize(NULL, n + 1);
    if (!b)
      return NULL;
    char *d = PyBytes_AS_STRING(b);
    d[0] = 's';
    memcpy(d + 1, u, (size_t)n);
    return b;
  }
  if (PyLong_CheckExact(obj)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (!overflow && !(v == -1 && PyErr_Occurred())) {
      unsigned char d[9];
      d[0] = 'i';
      for (int i = 0; i < 8; i++)
        d[1 + i] = (unsigned char)((unsigned long long)v >> (8 * i));
      return PyBytes_FromStringAndSize((const char *)d, 9);
    }
    PyErr_Clear();
  } else if (PyBytes_CheckExact(obj)) {
    Py_ssize_t n = PyBytes_GET_SIZE(obj);
    PyObject *b = PyBytes_FromStringAndSize(NULL, n + 1);
    if (!b)
      return NULL;
    char *d = PyBytes_AS_STRING(b);
    d[0] = 'y';
    memcpy(d + 1, PyBytes_AS_STRING(obj), (size_t)n);
    return b;
  } else if (PyFloat_CheckExact(obj)) {
    double v = PyFloat_AS_DOUBLE(obj);
    unsigned char d[9];
    d[0] = 'f';
    memcpy(d + 1, &v, 8);
    return PyBytes_FromStringAndSize((const char *)d, 9);
  } else if (obj == Py_None) {
    return PyBytes_FromStringAndSize("n", 1);
  } else if (obj == Py_True) {
    return PyBytes_FromStringAndSize("t", 1);
  } else if (obj == Py_False) {
    return PyBytes_FromStringAndSize("F", 1);
  }
  PyObject *p = fy_dumps(obj);
  if (!p)
    return NULL;
  Py_buffer v;
  if (PyObject_GetBuffer(p, &v, PyBUF_SIMPLE) < 0) {
    Py_DECREF(p);
    return NULL;
  }
  PyObject *b = PyBytes_FromStringAndSize(NULL, v.len + 1);
  if (b) {
    char *d = PyBytes_AS_STRING(b);
    d[0] = 'p';
    memcpy(d + 1, v.buf, (size_t)v.len);
  }
  PyBuffer_Release(&v);
  Py_DECREF(p);
  return b;
}

PyObject *fy_decode(const unsigned char *p, size_t len)
{
  if (len < 1)
    goto bad;
  switch (p[0]) {
  case 's':
    return PyUnicode_DecodeUTF8((const char *)p + 1, (Py_ssize_t)(len - 1), "strict");
  case 'i': {
    if (len != 9)
      goto bad;
    unsigned long long u = 0;
    for (int i = 0; i < 8; i++)
      u |= (unsigned long long)p[1 + i] << (8 * i);
    return PyLong_FromLongLong((long long)u);
  }
  case 'y':
    return PyBytes_FromStringAndSize((const char *)p + 1, (Py_ssize_t)(len - 1));
  case 'f': {
    if (len != 9)
      goto bad;
    double v;
    memcpy(&v, p + 1, 8);
    return PyFloat_FromDouble(v);
  }
  case 'n':
    if (len != 1)
      goto bad;
    Py_RETURN_NONE;
  case 't':
    if (len != 1)
      goto bad;
    Py_RETURN_TRUE;
  case 'F':
    if (len != 1)
      goto bad;
    Py_RETURN_FALSE;
  case 'p':
    return fy_loads(p + 1, len - 1);
  }
bad:
  return fy_errp(FERRY_ECORRUPT, "shared value has an unknown encoding");
}

static PyObject *py_encode(PyObject *self, PyObject *obj)
{
  (void)self;
  return fy_encode(obj);
}

PyObject *fy_decode_buffer(PyObject *arg, PyObject *(*decode)(const unsigned char *, size_t))
{
  Py_buffer v;
  if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
    return NULL;
  PyObject *r = decode(v.buf, (size_t)v.len);
  PyBuffer_Release(&v);
  return r;
}

static PyObject *py_decode(PyObject *self, PyObject *arg)
{
  (void)self;
  return fy_decode_buffer(arg, fy_decode);
}

/* ---- module functions -------------------------------------------------------------- */

static PyObject *py_configure(PyObject *self, PyObject *args, PyObject *kw)
{
  (void)self;
  static char *kwlist[] = {"Empty", "Full", "ShutDown", "FerryError", "dumps", "loads",
                           "fallback_dumps", "protocol", NULL};
  struct fy_config c = {0};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOO:_configure", kwlist, &c.Empty, &c.Full,
                                   &c.ShutDown, &c.FerryError, &c.dumps, &c.loads,
                                   &c.fallback_dumps, &c.protocol))
    return NULL;
  PyObject **news[] = {&c.Empty, &c.Full, &c.ShutDown, &c.FerryError, &c.dumps, &c.loads,
                       &c.fallback_dumps, &c.protocol};
  PyObject **olds[] = {&fy_cfg.Empty, &fy_cfg.Full, &fy_cfg.ShutDown, &fy_cfg.FerryError,
                       &fy_cfg.dumps, &fy_cfg.loads, &fy_cfg.fallback_dumps, &fy_cfg.protocol};
  for (size_t i = 0; i < sizeof news / sizeof news[0]; i++) {
    Py_INCREF(*news[i]);
    Py_XSETREF(*olds[i], *news[i]);
  }
  if (fy_cfg.fallback_dumps == Py_None)
    Py_CLEAR(fy_cfg.fallback_dumps);
  Py_RETURN_NONE;
}

static PyObject *py_unlink(PyObject *self, PyObject *args)
{
  (void)self;
  const char *name;
  if (!PyArg_ParseTuple(args, "s:unlink", &name))
    return NULL;
  int rc = ferry_unlink(name);
  if (rc)
    return fy_errp(rc, name);
  Py_RETURN_NONE;
}

struct prefix_ctx {
  const char *prefix;
  size_t plen;
  PyObject *names;
};

static int collect_prefix(const char *name, void *arg)
{
  struct prefix_ctx *c = arg;
  if (strncmp(name, c->prefix, c->plen) != 0)
    return 0;
  PyObject *s = PyUnicode_FromString(name);
  if (!s || PyList_Append(c->names, s) < 0) {
    Py_XDECREF(s);
    return -ENOMEM;
  }
  Py_DECREF(s);
  return 0;
}

/* names_with_prefix(prefix) -> list of region names starting with prefix. */
static PyObject *py_names_with_prefix(PyObject *self, PyObject *args)
{
  (void)self;
  struct prefix_ctx c;
  if (!PyArg_ParseTuple(args, "s:names_with_prefix", &c.prefix))
    return NULL;
  c.plen = strlen(c.prefix);
  if (!(c.names = PyList_New(0)))
    return NULL;
  int rc = ferry_region_foreach(collect_prefix, &c);
  if (rc < 0) {
    Py_DECREF(c.names);
    if (PyErr_Occurred())
      return NULL;
    return fy_errp(rc, "listing regions");
  }
  return c.names;
}

static PyObject *py_name_valid(PyObject *self, PyObject *args)
{
  (void)self;
  const char *name;
  if (!PyArg_ParseTuple(args, "s:name_valid", &name))
    return NULL;
  return PyBool_FromLong(ferry_name_valid(name) == 0);
}

static PyObject *py_fork_gen(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  return PyLong_FromUnsignedLongLong(fy_fork_gen);
}

static PyObject *py_strerror(PyObject *self, PyObject *args)
{
  (void)self;
  int rc;
  if (!PyArg_ParseTuple(args, "i:strerror", &rc))
    return NULL;
  return PyUnicode_FromString(ferry_strerror(rc));
}

static PyObject *py_set_liveness(PyObject *self, PyObject *args)
{
  (void)self;
  double s;
  if (!PyArg_ParseTuple(args, "d:set_sync_liveness", &s))
    return NULL;
  /* 9e9 s still fits in the int64 nanoseconds below; NaN fails both tests. */
  if (!(s > 0 && s <= 9e9)) {
    PyErr_Format(PyExc_ValueError,
                 "liveness must be a number of seconds above 0 and at most 9e9, not %R",
                 PyTuple_GET_ITEM(args, 0));
    return NULL;
  }
  ferry_sync_set_liveness_ns((int64_t)(s * 1e9));
  Py_RETURN_NONE;
}

static PyObject *py_version(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  return PyUnicode_FromString(ferry_version_string());
}

static PyMethodDef module_methods[] = {
    {"version", py_version, METH_NOARGS, "The version of the ferry library in this module."},
    {"_configure", (PyCFunction)(void (*)(void))py_configure, METH_VARARGS | METH_KEYWORDS,
     "Hands the package's exceptions and pickling functions to the extension."},
    {"unlink", py_unlink, METH_VARARGS, "unlink(name): removes region `name`."},
    {"names_with_prefix", py_names_with_prefix, METH_VARARGS,
     "names_with_prefix(prefix) -> the names of the regions starting with prefix."},
    {"name_valid", py_name_valid, METH_VARARGS, "name_valid(name) -> bool."},
    {"fork_gen", py_fork_gen, METH_NOARGS, "The fork generation of this process."},
    {"strerror", py_strerror, METH_VARARGS, "strerror(code) -> ferry's message for a code."},
    {"set_sync_liveness", py_set_liveness, METH_VARARGS,
     "set_sync_liveness(seconds): how fast a dead lock owner is detected (process-wide)."},
    {"encode", py_encode, METH_O, "encode(obj) -> bytes: the shared encoding of obj."},
    {"decode", py_decode, METH_O, "decode(bytes) -> obj."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_ferry",
    "Low-level handles over ferry's shared-memory objects (use the `ferry` package).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ferry(void);
PyMODINIT_FUNC PyInit__ferry(void)
{
  static int atfork_done;
  if (!atfork_done) {
    if (pthread_atfork(NULL, NULL, fy_after_fork_child) != 0) {
      PyErr_SetString(PyExc_ImportError, "ferry: pthread_atfork failed");
      return NULL;
    }
    atfork_done = 1;
  }
  PyTypeObject *types[] = {FY_TYPES};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (PyType_Ready(types[i]) < 0)
      return NULL;
  PyObject *m = PyModule_Create(&moduledef);
  if (!m)
    return NULL;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const char *dot = strrchr(types[i]->tp_name, '.');
    Py_INCREF(types[i]);
    if (PyModule_AddObject(m, dot ? dot + 1 : types[i]->tp_name, (PyObject *)types[i]) < 0) {
      Py_DECREF(types[i]);
      Py_DECREF(m);
      return NULL;
    }
  }
  struct {
    const char *name;
    long long v;
  } consts[] = {
      {"FOREVER", FY_FOREVER},
      {"SLICE_NS", FY_SLICE_NS},
      {"NAME_MAX", FERRY_NAME_MAX},
      {"ROLE_PRODUCER", FERRY_ROLE_PRODUCER},
      {"ROLE_CONSUMER", FERRY_ROLE_CONSUMER},
      {"BUS_LOCKSTEP", FERRY_BUS_LOCKSTEP},
      {"BUS_LATEST", FERRY_BUS_LATEST},
      {"MUTEX_SIZE", sizeof(ferry_mutex)},
      {"SEM_SIZE", sizeof(ferry_sem)},
      {"EVENT_SIZE", sizeof(ferry_event)},
      {"COUNTER_SIZE", sizeof(ferry_counter)},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    if (PyModule_AddIntConstant(m, consts[i].name, (long)consts[i].v) < 0) {
      Py_DECREF(m);
      return NULL;
    }
  return m;
}
