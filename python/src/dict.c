/* SPDX-License-Identifier: MIT */
/*
 * dict.c: `_ferry.Dict`, a ferry dict (FERRY_KIND_DICT) as a Python mapping
 * of encoded keys and values (fy_encode: str, int, bytes, float, None and
 * bool compactly, anything else pickled). Two keys are the same key when
 * their encodings are equal: 1 and 1.0 and True are three keys.
 *
 * Every call keeps the GIL: the C dict runs no callback under its locks, so
 * no call here can wait for the GIL while holding a dict lock, and each
 * takes microseconds. update_value() is a compare-and-set loop: fn runs
 * outside any lock and may run more than once under contention.
 */
#include "pyferry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How long a writer waits for its stripe's lock (a holder that died is
 * taken over well within it): TimeoutError after that. */
#define LOCK_NS (10 * FERRY_SEC)

typedef struct {
  PyObject_HEAD
  ferry_dict *d;
  uint64_t gen;
  char name[FERRY_NAME_MAX + 1];
  uint32_t max_key, max_value;
  uint8_t *vbuf; /* max_value bytes */
  uint8_t *kbuf; /* max_key bytes */
  PyObject *dict;
  PyObject *weakrefs;
} FyDict;

static int dict_attach(FyDict *self, ferry_dict *d)
{
  ferry_dict_stats st;
  int rc = ferry_dict_stats_get(d, &st);
  if (rc || st.max_key < 1 || st.max_key > FERRY_DICT_MAX_KEY || st.max_value < 1 ||
      st.max_value > FERRY_DICT_MAX_VALUE) {
    ferry_dict_close(d);
    return fy_err(rc ? rc : FERRY_ECORRUPT, self->name);
  }
  uint8_t *v = malloc(st.max_value), *k = malloc(st.max_key);
  if (!v || !k) {
    free(v);
    free(k);
    ferry_dict_close(d);
    PyErr_NoMemory();
    return -1;
  }
  free(self->vbuf);
  free(self->kbuf);
  self->vbuf = v;
  self->kbuf = k;
  self->max_key = (uint32_t)st.max_key;
  self->max_value = (uint32_t)st.max_value;
  self->d = d;
  self->gen = fy_fork_gen;
  snprintf(self->name, sizeof self->name, "%s", ferry_region_name(ferry_dict_region(d)));
  return 0;
}

/* The handle of this process; reopens by name after a fork. */
static ferry_dict *D(FyDict *self)
{
  if (!self->d) {
    PyErr_SetString(PyExc_ValueError, self->name[0] ? "the dict is closed" : "the dict is not open");
    return NULL;
  }
  if (self->gen != fy_fork_gen) {
    ferry_dict *d;
    int rc = ferry_dict_open(self->name, NULL, &d);
    if (rc)
      return fy_errp(rc, self->name), NULL;
    self->d = NULL; /* the parent's: not ours to close */
    if (dict_attach(self, d) < 0)
      return NULL;
  }
  return self->d;
}

/* _create(name, capacity, max_capacity, max_key, max_value) */
static PyObject *dict_create(FyDict *self, PyObject *args)
{
  const char *name;
  unsigned long long cap, maxcap;
  unsigned int mk, mv;
  if (!PyArg_ParseTuple(args, "sKKII:_create", &name, &cap, &maxcap, &mk, &mv))
    return NULL;
  if (self->d) {
    PyErr_SetString(PyExc_ValueError, "already open");
    return NULL;
  }
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = cap;
  o.max_capacity = maxcap;
  o.max_key = mk;
  o.max_value = mv;
  ferry_dict *d;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_dict_create(name, &o, &d);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (dict_attach(self, d) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* _open(name) */
static PyObject *dict_open(FyDict *self, PyObject *args)
{
  const char *name;
  if (!PyArg_ParseTuple(args, "s:_open", &name))
    return NULL;
  if (self->d) {
    PyErr_SetString(PyExc_ValueError, "already open");
    return NULL;
  }
  ferry_dict *d;
  int rc;
  snprintf(self->name, sizeof self->name, "%s", name);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_dict_open(name, NULL, &d);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  if (dict_attach(self, d) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static void dict_close_handle(FyDict *self)
{
  if (self->d && self->gen == fy_fork_gen)
    ferry_dict_close(self->d);
  self->d = NULL;
}

static PyObject *dict_close(FyDict *self, PyObject *unused)
{
  (void)unused;
  dict_close_handle(self);
  Py_RETURN_NONE;
}

static int dict_err(FyDict *self, int rc, PyObject *key)
{
  switch (rc) {
  case -ENOENT:
    PyErr_SetObject(PyExc_KeyError, key);
    return -1;
  case -E2BIG:
    PyErr_Format(PyExc_ValueError, "dict %s: key too long (its encoding is over %u bytes)",
                 self->name, self->max_key);
    return -1;
  case -EMSGSIZE:
    PyErr_Format(PyExc_ValueError, "dict %s: value too long (its encoding is over %u bytes)",
                 self->name, self->max_value);
    return -1;
  case -ENOSPC:
    PyErr_Format(PyExc_MemoryError, "dict %s is full", self->name);
    return -1;
  }
  return fy_err(rc, self->name);
}

/* Encoded key as (ptr, len) with a bytes object to release. */
static PyObject *enc(PyObject *o, const uint8_t **p, size_t *n)
{
  PyObject *b = fy_encode(o);
  if (!b)
    return NULL;
  *p = (const uint8_t *)PyBytes_AS_STRING(b);
  *n = (size_t)PyBytes_GET_SIZE(b);
  return b;
}

/* Decodes a value from vbuf. A pickle is copied first: unpickling may
 * run code that uses this dict, and vbuf with it. */
static PyObject *dec_value(FyDict *self, size_t n)
{
  if (n >= 1 && self->vbuf[0] == 'p') {
    PyObject *copy = PyBytes_FromStringAndSize((const char *)self->vbuf, (Py_ssize_t)n);
    if (!copy)
      return NULL;
    PyObject *r = fy_decode((const unsigned char *)PyBytes_AS_STRING(copy), n);
    Py_DECREF(copy);
    return r;
  }
  return fy_decode(self->vbuf, n);
}

/* Looks key up: returns its value, NULL with KeyError (found 0) or another
 * exception. */
static PyObject *lookup(FyDict *self, PyObject *key, int *found)
{
  *found = 0;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  const uint8_t *kp;
  size_t kn;
  PyObject *kb = enc(key, &kp, &kn);
  if (!kb)
    return NULL;
  ssize_t n = ferry_dict_get(d, kp, kn, self->vbuf, self->max_value);
  Py_DECREF(kb);
  if (n == -ENOENT)
    return NULL;
  if (n < 0) {
    dict_err(self, (int)n, key);
    *found = -1;
    return NULL;
  }
  *found = 1;
  return dec_value(self, (size_t)n);
}

static PyObject *dict_subscript(FyDict *self, PyObject *key)
{
  int found;
  PyObject *r = lookup(self, key, &found);
  if (!r && found == 0 && !PyErr_Occurred())
    PyErr_SetObject(PyExc_KeyError, key);
  return r;
}

static int dict_ass(FyDict *self, PyObject *key, PyObject *value)
{
  ferry_dict *d = D(self);
  if (!d)
    return -1;
  const uint8_t *kp;
  size_t kn;
  PyObject *kb = enc(key, &kp, &kn);
  if (!kb)
    return -1;
  int rc;
  if (!value) {
    rc = ferry_dict_del(d, kp, kn, LOCK_NS);
  } else {
    const uint8_t *vp;
    size_t vn;
    PyObject *vb = enc(value, &vp, &vn);
    if (!vb) {
      Py_DECREF(kb);
      return -1;
    }
    rc = ferry_dict_set(d, kp, kn, vp, vn, LOCK_NS);
    Py_DECREF(vb);
  }
  Py_DECREF(kb);
  if (rc)
    return dict_err(self, rc, key);
  return 0;
}

static Py_ssize_t dict_len(FyDict *self)
{
  ferry_dict *d = D(self);
  if (!d)
    return -1;
  ssize_t n = ferry_dict_size(d);
  if (n < 0)
    return fy_err((int)n, self->name);
  return (Py_ssize_t)n;
}

static int dict_contains(FyDict *self, PyObject *key)
{
  int found;
  PyObject *r = lookup(self, key, &found);
  if (r) {
    Py_DECREF(r);
    return 1;
  }
  if (found < 0 || PyErr_Occurred())
    return -1;
  return 0;
}

/* get(key, default=None) */
static PyObject *dict_get(FyDict *self, PyObject *args)
{
  PyObject *key, *dflt = Py_None;
  if (!PyArg_UnpackTuple(args, "get", 1, 2, &key, &dflt))
    return NULL;
  int found;
  PyObject *r = lookup(self, key, &found);
  if (r || found < 0 || PyErr_Occurred())
    return r;
  Py_INCREF(dflt);
  return dflt;
}

/* setdefault(key, default=None): inserts default if key is absent
 * (atomically), returns the value. */
static PyObject *dict_setdefault(FyDict *self, PyObject *args)
{
  PyObject *key, *dflt = Py_None;
  if (!PyArg_UnpackTuple(args, "setdefault", 1, 2, &key, &dflt))
    return NULL;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  for (;;) {
    int found;
    PyObject *r = lookup(self, key, &found);
    if (r || found < 0 || PyErr_Occurred())
      return r;
    const uint8_t *kp, *vp;
    size_t kn, vn;
    PyObject *kb = enc(key, &kp, &kn);
    if (!kb)
      return NULL;
    PyObject *vb = enc(dflt, &vp, &vn);
    if (!vb) {
      Py_DECREF(kb);
      return NULL;
    }
    int rc = ferry_dict_set_nx(d, kp, kn, vp, vn, LOCK_NS);
    Py_DECREF(kb);
    Py_DECREF(vb);
    if (rc == 0) {
      Py_INCREF(dflt);
      return dflt;
    }
    if (rc != -EEXIST)
      return dict_err(self, rc, key), NULL;
    /* someone inserted it meanwhile: read theirs */
  }
}

/* update_value(key, fn, default=<missing>) -> the new value: atomically
 * replaces d[key] with fn(d[key]) (fn(default) if absent; KeyError if
 * absent and no default). fn may be called more than once. */
static PyObject *dict_update_value(FyDict *self, PyObject *args)
{
  PyObject *key, *fn, *dflt = NULL;
  if (!PyArg_UnpackTuple(args, "update_value", 2, 3, &key, &fn, &dflt))
    return NULL;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  const uint8_t *kp;
  size_t kn;
  PyObject *kb = enc(key, &kp, &kn);
  if (!kb)
    return NULL;
  PyObject *result = NULL;
  for (;;) {
    ssize_t n = ferry_dict_get(d, kp, kn, self->vbuf, self->max_value);
    if (n < 0 && n != -ENOENT) {
      dict_err(self, (int)n, key);
      break;
    }
    PyObject *old, *oldb = NULL;
    if (n == -ENOENT) {
      if (!dflt) {
        PyErr_SetObject(PyExc_KeyError, key);
        break;
      }
      old = dflt;
      Py_INCREF(old);
    } else {
      oldb = PyBytes_FromStringAndSize((const char *)self->vbuf, n);
      if (!oldb)
        break;
      old = fy_decode((const unsigned char *)PyBytes_AS_STRING(oldb), (size_t)n);
      if (!old) {
        Py_DECREF(oldb);
        break;
      }
    }
    PyObject *nv = PyObject_CallOneArg(fn, old);
    Py_DECREF(old);
    if (!nv) {
      Py_XDECREF(oldb);
      break;
    }
    const uint8_t *vp;
    size_t vn;
    PyObject *vb = enc(nv, &vp, &vn);
    if (!vb) {
      Py_DECREF(nv);
      Py_XDECREF(oldb);
      break;
    }
    int rc;
    if (oldb)
      rc = ferry_dict_cas(d, kp, kn, PyBytes_AS_STRING(oldb), (size_t)PyBytes_GET_SIZE(oldb), vp,
                          vn, LOCK_NS);
    else
      rc = ferry_dict_set_nx(d, kp, kn, vp, vn, LOCK_NS);
    Py_DECREF(vb);
    Py_XDECREF(oldb);
    if (rc == 0) {
      result = nv;
      break;
    }
    Py_DECREF(nv);
    if (rc != -EAGAIN && rc != -ENOENT && rc != -EEXIST) {
      dict_err(self, rc, key);
      break;
    }
    /* changed under us: again */
    if (PyErr_CheckSignals())
      break;
  }
  Py_DECREF(kb);
  return result;
}

struct pop_arg {
  uint8_t *buf;
  size_t cap, len;
};

/* Takes the old value and deletes the entry, under its stripe lock. */
static int pop_fn(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                  size_t *out_len, void *arg)
{
  (void)out;
  (void)out_cap;
  (void)out_len;
  struct pop_arg *a = arg;
  if (!exists)
    return -ENOENT;
  if (old_len > a->cap)
    return -EMSGSIZE;
  memcpy(a->buf, old, old_len);
  a->len = old_len;
  return FERRY_DICT_DELETE;
}

/* pop(key[, default]): removes key and returns its value, atomically. */
static PyObject *dict_pop(FyDict *self, PyObject *args)
{
  PyObject *key, *dflt = NULL;
  if (!PyArg_UnpackTuple(args, "pop", 1, 2, &key, &dflt))
    return NULL;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  const uint8_t *kp;
  size_t kn;
  PyObject *kb = enc(key, &kp, &kn);
  if (!kb)
    return NULL;
  struct pop_arg a = {self->vbuf, self->max_value, 0};
  int rc = ferry_dict_update(d, kp, kn, pop_fn, &a, LOCK_NS);
  Py_DECREF(kb);
  if (rc == -ENOENT) {
    if (dflt) {
      Py_INCREF(dflt);
      return dflt;
    }
    PyErr_SetObject(PyExc_KeyError, key);
    return NULL;
  }
  if (rc < 0)
    return dict_err(self, rc, key), NULL;
  return dec_value(self, a.len);
}

static PyObject *dict_clear(FyDict *self, PyObject *unused)
{
  (void)unused;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  int rc = ferry_dict_clear(d, LOCK_NS);
  if (rc)
    return fy_errp(rc, self->name);
  Py_RETURN_NONE;
}

/* _items(keys=True, values=True) -> list of keys, values or (k, v) */
static PyObject *dict_items(FyDict *self, PyObject *args)
{
  int want_k = 1, want_v = 1;
  if (!PyArg_ParseTuple(args, "|pp:_items", &want_k, &want_v))
    return NULL;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  PyObject *out = PyList_New(0);
  if (!out)
    return NULL;
  uint64_t cur = 0;
  for (;;) {
    size_t kl, vl;
    int rc = ferry_dict_next(d, &cur, self->kbuf, self->max_key, &kl, self->vbuf, self->max_value,
                             &vl);
    if (rc == 0)
      break;
    if (rc < 0) {
      Py_DECREF(out);
      return fy_errp(rc, self->name);
    }
    PyObject *k = NULL, *v = NULL, *item;
    if (want_k) {
      PyObject *kc = PyBytes_FromStringAndSize((const char *)self->kbuf, (Py_ssize_t)kl);
      PyObject *vc = kc ? PyBytes_FromStringAndSize((const char *)self->vbuf, (Py_ssize_t)vl) : NULL;
      if (!vc) {
        Py_XDECREF(kc);
        Py_DECREF(out);
        return NULL;
      }
      k = fy_decode((const unsigned char *)PyBytes_AS_STRING(kc), kl);
      if (k && want_v)
        v = fy_decode((const unsigned char *)PyBytes_AS_STRING(vc), vl);
      Py_DECREF(kc);
      Py_DECREF(vc);
    } else {
      v = dec_value(self, vl);
    }
    if ((want_k && !k) || (want_v && !v)) {
      Py_XDECREF(k);
      Py_XDECREF(v);
      Py_DECREF(out);
      return NULL;
    }
    if (want_k && want_v) {
      item = PyTuple_Pack(2, k, v);
      Py_DECREF(k);
      Py_DECREF(v);
    } else {
      item = want_k ? k : v;
    }
    if (!item || PyList_Append(out, item) < 0) {
      Py_XDECREF(item);
      Py_DECREF(out);
      return NULL;
    }
    Py_DECREF(item);
  }
  return out;
}

/* ---- the key iterator --------------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  FyDict *dict;
  uint64_t cursor;
  ssize_t size0;
  int done;
} FyDictIter;

static PyObject *dict_iter(FyDict *self)
{
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  FyDictIter *it = PyObject_New(FyDictIter, &FyDictIter_Type);
  if (!it)
    return NULL;
  Py_INCREF(self);
  it->dict = self;
  it->cursor = 0;
  it->size0 = ferry_dict_size(d);
  it->done = 0;
  return (PyObject *)it;
}

static void dictiter_dealloc(FyDictIter *it)
{
  Py_XDECREF(it->dict);
  PyObject_Free(it);
}

static PyObject *dictiter_next(FyDictIter *it)
{
  if (it->done)
    return NULL;
  FyDict *self = it->dict;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  if (ferry_dict_size(d) != it->size0) {
    it->done = 1;
    PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
    return NULL;
  }
  size_t kl, vl;
  int rc = ferry_dict_next(d, &it->cursor, self->kbuf, self->max_key, &kl, self->vbuf,
                           self->max_value, &vl);
  if (rc == 0) {
    it->done = 1;
    return NULL;
  }
  if (rc < 0)
    return fy_errp(rc, self->name);
  PyObject *kc = PyBytes_FromStringAndSize((const char *)self->kbuf, (Py_ssize_t)kl);
  if (!kc)
    return NULL;
  PyObject *k = fy_decode((const unsigned char *)PyBytes_AS_STRING(kc), kl);
  Py_DECREF(kc);
  return k;
}

PyTypeObject FyDictIter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.DictIterator",
    .tp_basicsize = sizeof(FyDictIter),
    .tp_dealloc = (destructor)dictiter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)dictiter_next,
};

/* ---- the type ------------------------------------------------------------------------------ */

static PyObject *dict_get_name(FyDict *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}

static PyObject *dict_stats(FyDict *self, PyObject *unused)
{
  (void)unused;
  ferry_dict *d = D(self);
  if (!d)
    return NULL;
  ferry_dict_stats st;
  int rc = ferry_dict_stats_get(d, &st);
  if (rc)
    return fy_errp(rc, self->name);
  return Py_BuildValue("{sKsKsKsKsKsKsK}", "size", st.size, "capacity", st.capacity,
                       "max_capacity", st.max_capacity, "max_key", st.max_key, "max_value",
                       st.max_value, "slots_used", st.slots_used, "repairs", st.repairs);
}

static PyObject *dict_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
  (void)args;
  (void)kw;
  return type->tp_alloc(type, 0);
}

static int dict_traverse(FyDict *self, visitproc visit, void *arg)
{
  Py_VISIT(self->dict);
  return 0;
}

static int dict_clear_refs(FyDict *self)
{
  Py_CLEAR(self->dict);
  return 0;
}

static void dict_dealloc(FyDict *self)
{
  PyObject_GC_UnTrack(self);
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  dict_close_handle(self);
  free(self->vbuf);
  free(self->kbuf);
  dict_clear_refs(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMappingMethods dict_as_mapping = {
    (lenfunc)dict_len,
    (binaryfunc)dict_subscript,
    (objobjargproc)dict_ass,
};

static PySequenceMethods dict_as_sequence = {
    .sq_contains = (objobjproc)dict_contains,
};

static PyMethodDef dict_methods[] = {
    {"_create", (PyCFunction)dict_create, METH_VARARGS, NULL},
    {"_open", (PyCFunction)dict_open, METH_VARARGS, NULL},
    {"_close", (PyCFunction)dict_close, METH_NOARGS, NULL},
    {"get", (PyCFunction)dict_get, METH_VARARGS, "get(key, default=None)"},
    {"setdefault", (PyCFunction)dict_setdefault, METH_VARARGS,
     "setdefault(key, default=None): atomic insert-if-absent; returns the value"},
    {"update_value", (PyCFunction)dict_update_value, METH_VARARGS,
     "update_value(key, fn[, default]): atomically d[key] = fn(d[key]); returns it"},
    {"pop", (PyCFunction)dict_pop, METH_VARARGS, "pop(key[, default])"},
    {"clear", (PyCFunction)dict_clear, METH_NOARGS, "Removes every entry."},
    {"_items", (PyCFunction)dict_items, METH_VARARGS, NULL},
    {"_stats", (PyCFunction)dict_stats, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dict_getset[] = {
    {"_name", (getter)dict_get_name, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FyDict_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Dict",
    .tp_basicsize = sizeof(FyDict),
    .tp_dealloc = (destructor)dict_dealloc,
    .tp_as_sequence = &dict_as_sequence,
    .tp_as_mapping = &dict_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A ferry dict seen from Python (the base of ferry.Dict).",
    .tp_traverse = (traverseproc)dict_traverse,
    .tp_clear = (inquiry)dict_clear_refs,
    .tp_weaklistoffset = offsetof(FyDict, weakrefs),
    .tp_iter = (getiterfunc)dict_iter,
    .tp_methods = dict_methods,
    .tp_getset = dict_getset,
    .tp_dictoffset = offsetof(FyDict, dict),
    .tp_new = dict_new,
};
