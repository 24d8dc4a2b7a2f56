/* SPDX-License-Identifier: MIT */
/*
 * channel.c: `_ferry.Channel`, one ferry queue (FERRY_KIND_QUEUE) seen from
 * Python: the base of ferry.Queue and of each direction of ferry.Pipe.
 *
 * Messages. Every message starts with a tag byte:
 *   'P' a pickle follows          'B' raw bytes follow (put_bytes)
 *   'p' / 'b' the same, but too large for a cell: what follows is the name
 *       of a raw region (a "blob") holding it. The consumer copies it out
 *       and removes the blob.
 * A producer killed between creating a blob and putting its name leaves
 * the blob behind; the package removes every blob of a channel with the
 * channel (their names start with the channel's name and ".b").
 *
 * Handles. A ferry queue handle serves one thread at a time, so the channel
 * keeps a pool of handles per process: a call takes a free one (opening a
 * new one if all are busy, so many threads can block on one queue at once),
 * and gives it back. In a fork child the pool of the parent is dropped
 * (never closed: those handles are the parent's) and new handles are
 * opened by name.
 *
 * Unbounded channels (multiprocessing's Queue(maxsize=0)) never block put:
 * when the ring is full the message goes to a per-process backlog, and the
 * package's feeder thread (method _feed) moves it on, as multiprocessing's
 * feeder thread does.
 */
#include "pyferry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fy_h {
  ferry_queue *q;
  uint8_t *scratch; /* max_msg bytes: where get copies a message */
};

typedef struct {
  PyObject_HEAD
  char name[FERRY_NAME_MAX + 1];
  uint32_t role;
  int eof_is_eof;    /* -EPIPE raises EOFError (pipes) rather than ShutDown */
  int unbounded;
  int closed;        /* closed by the user: put and get refuse */
  int detached;      /* handles closed (the feeder may outlive closed) */
  uint64_t gen;      /* fork generation of the pool */
  struct fy_h *pool; /* free handles */
  int npool, cappool;
  int out;           /* handles taken by calls in flight */
  PyObject *stash;   /* a message poll() took: the next get returns it */
  uint32_t max_msg;
  unsigned long long blob_seq;
  PyObject *backlog; /* list of (tag, bytes) waiting for the feeder */
  int feeding;       /* the feeder has messages in flight: keep the order */
  int shut;          /* seen shut down (sticky): puts raise at once */
  /* A pipe's readiness for select() [py-fileno] (docs/design/python.md):
   * after a put, if the receiving end is armed, one byte to out_fd; after
   * a get, if this end is armed and nothing is left, drain in_fd, then
   * write one byte back through back_fd if something came meanwhile. */
  PyObject *notify;  /* the pipe's control Region, or NULL */
  Py_ssize_t armed_put_off, armed_get_off; /* -1: no such direction */
  int out_fd, in_fd, back_fd;
  PyObject *dict;
  PyObject *weakrefs;
} FyChannel;

#define TAG_PICKLE 'P'
#define TAG_BYTES 'B'
#define TAG_PICKLE_BLOB 'p'
#define TAG_BYTES_BLOB 'b'

static void h_close(struct fy_h *h)
{
  ferry_queue_close(h->q);
  free(h->scratch);
  h->q = NULL;
  h->scratch = NULL;
}

/* Forgets the parent's handles in a fork child. */
static void chan_check_fork(FyChannel *self)
{
  if (self->gen == fy_fork_gen)
    return;
  for (int i = 0; i < self->npool; i++)
    free(self->pool[i].scratch); /* the queue handles are the parent's */
  self->npool = 0;
  self->out = 0;
  self->gen = fy_fork_gen;
}

static int h_init(FyChannel *self, ferry_queue *q, struct fy_h *h)
{
  if (!self->max_msg) {
    ferry_queue_stats st;
    int rc = ferry_queue_stats_get(q, &st);
    if (rc || st.max_msg_size < 2 || st.max_msg_size > FERRY_QUEUE_MAX_MSG) {
      ferry_queue_close(q);
      return fy_err(rc ? rc : FERRY_ECORRUPT, self->name);
    }
    self->max_msg = (uint32_t)st.max_msg_size;
  }
  h->q = q;
  h->scratch = malloc(self->max_msg);
  if (!h->scratch) {
    ferry_queue_close(q);
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

/* Takes a free handle, opening one if none is free. */
static int h_take(FyChannel *self, struct fy_h *h)
{
  if (self->detached) {
    PyErr_Format(PyExc_ValueError, "Queue %s is closed", self->name);
    return -1;
  }
  chan_check_fork(self);
  if (self->npool > 0) {
    *h = self->pool[--self->npool];
    self->out++;
    return 0;
  }
  ferry_queue *q;
  int rc;
  ferry_open_options o;
  ferry_open_options_init(&o);
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_queue_open(self->name, self->role, &o, &q);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_err(rc, self->name);
  if (self->gen != fy_fork_gen) /* forked while we had no GIL: not ours */
    chan_check_fork(self);
  if (h_init(self, q, h) < 0)
    return -1;
  self->out++;
  return 0;
}

/* Gives a handle back (closes it if the channel was closed meanwhile). */
static void h_give(FyChannel *self, struct fy_h *h)
{
  if (self->gen != fy_fork_gen) { /* taken before a fork we are now past */
    free(h->scratch);
    return;
  }
  self->out--;
  if (self->detached) {
    h_close(h);
    return;
  }
  if (self->npool == self->cappool) {
    int ncap = self->cappool ? self->cappool * 2 : 4;
    struct fy_h *n = realloc(self->pool, (size_t)ncap * sizeof *n);
    if (!n) {
      h_close(h);
      return;
    }
    self->pool = n;
    self->cappool = ncap;
  }
  self->pool[self->npool++] = *h;
}

static PyObject *chan_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
  (void)args;
  (void)kw;
  FyChannel *self = (FyChannel *)type->tp_alloc(type, 0);
  if (self) {
    self->gen = fy_fork_gen;
    self->armed_put_off = self->armed_get_off = -1;
    self->out_fd = self->in_fd = self->back_fd = -1;
  }
  return (PyObject *)self;
}

/* Channel(name, role, eof_is_eof=False, unbounded=False): attaches lazily. */
static int chan_init(FyChannel *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"name", "role", "eof_is_eof", "unbounded", NULL};
  const char *name;
  unsigned int role;
  int eof = 0, unb = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sI|pp:Channel", kwlist, &name, &role, &eof, &unb))
    return -1;
  if (ferry_name_valid(name) || !role ||
      (role & ~(unsigned)(FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER))) {
    PyErr_Format(PyExc_ValueError, "bad channel name or role: %s", name);
    return -1;
  }
  snprintf(self->name, sizeof self->name, "%s", name);
  self->role = role;
  self->eof_is_eof = eof;
  self->unbounded = unb;
  if (unb && !self->backlog && !(self->backlog = PyList_New(0)))
    return -1;
  return 0;
}

/* _create(capacity, max_msg, max_participants, creator_role, keep): makes
 * the queue region; keeps the creating handle in the pool if keep. */
static PyObject *chan_create(FyChannel *self, PyObject *args)
{
  unsigned int capacity, max_msg, maxp, crole;
  int keep;
  if (!PyArg_ParseTuple(args, "IIIIp:_create", &capacity, &max_msg, &maxp, &crole, &keep))
    return NULL;
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = capacity;
  o.max_msg_size = max_msg;
  o.region.max_participants = maxp;
  o.region.role = crole;
  ferry_queue *q;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_queue_create(self->name, &o, &q);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, self->name);
  if (!keep) {
    ferry_queue_close(q);
    Py_RETURN_NONE;
  }
  struct fy_h h;
  chan_check_fork(self);
  if (h_init(self, q, &h) < 0)
    return NULL;
  self->out++;
  h_give(self, &h);
  Py_RETURN_NONE;
}

/* ---- put ----------------------------------------------------------------------- */

/*
 * The queue recovers dead peers at the end of its own sleep slices (half
 * the region's liveness period); our waits are shorter slices (FY_SLICE_NS,
 * for Ctrl-C), each a new call, so they would never get there. A waiter
 * runs the recovery itself once per RECOVER_NS of waiting instead: a
 * consumer of a pipe whose every writer died sees the end of the stream,
 * and cells held by the dead are repaired, within about that long.
 */
#define RECOVER_NS (FERRY_SEC / 2)

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static void maybe_recover(ferry_queue *q, int64_t t, int64_t *next)
{
  if (t == 0)
    return;
  int64_t now = now_ns();
  if (*next == 0) {
    *next = now + RECOVER_NS;
  } else if (now >= *next) {
    ferry_queue_recover(q);
    *next = now + RECOVER_NS;
  }
}

struct put_ctx {
  ferry_queue *q;
  uint8_t tag;
  const uint8_t *data;
  size_t len;
  int64_t next_recover;
};

static int op_put(void *c, int64_t t)
{
  struct put_ctx *p = c;
  maybe_recover(p->q, t, &p->next_recover);
  void *dst;
  int rc = ferry_queue_reserve(p->q, 1 + p->len, &dst, t);
  if (rc)
    return rc;
  ((uint8_t *)dst)[0] = p->tag;
  if (p->len)
    memcpy((uint8_t *)dst + 1, p->data, p->len);
  return ferry_queue_commit(p->q, 1 + p->len);
}

static int raise_epipe(FyChannel *self, int producing)
{
  if (!self->eof_is_eof)
    self->shut = 1;
  if (self->eof_is_eof) {
    if (producing)
      PyErr_SetString(PyExc_BrokenPipeError, "the other end of the pipe is closed");
    else
      PyErr_SetNone(PyExc_EOFError);
  } else {
    PyErr_SetString(fy_cfg.ShutDown ? fy_cfg.ShutDown : PyExc_EOFError, "the queue is shut down");
  }
  return -1;
}

static int armed(FyChannel *self, Py_ssize_t off)
{
  if (!self->notify || off < 0)
    return 0;
  uint8_t *p = fy_region_ptr(self->notify, (size_t)off, 8);
  if (!p) {
    PyErr_Clear(); /* readiness is best effort: the message itself went */
    return 0;
  }
  /* relaxed: a flag set once; a stale 0 only delays readiness until the
   * arming process's own sync (see fileno()) */
  return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED) != 0;
}

static void ring(int fd)
{
  if (fd >= 0) {
    char b = 0;
    /* a full socket buffer is readable already; a closed peer waits for
     * nothing: errors are ignored */
    (void)!send(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

static void after_put(FyChannel *self)
{
  if (armed(self, self->armed_put_off))
    ring(self->out_fd);
}

static size_t depth_now(FyChannel *self, ferry_queue *q)
{
  return ferry_queue_depth(q) + (self->stash ? 1 : 0);
}

static void after_get(FyChannel *self, ferry_queue *q)
{
  if (!armed(self, self->armed_get_off))
    return;
  if (depth_now(self, q) != 0)
    return; /* still readable: bytes for the waiting messages remain */
  char buf[256];
  while (recv(self->in_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  /* a message put between the look and the drain lost its byte */
  if (depth_now(self, q) != 0)
    ring(self->back_fd);
}

/* _set_notify(ctl, armed_put_off, armed_get_off, out_fd, in_fd, back_fd) */
static PyObject *chan_set_notify(FyChannel *self, PyObject *args)
{
  PyObject *ctl;
  Py_ssize_t po, go;
  int of, inf, bf;
  if (!PyArg_ParseTuple(args, "Onniii:_set_notify", &ctl, &po, &go, &of, &inf, &bf))
    return NULL;
  if (!fy_region_ptr(ctl, 0, 8))
    return NULL;
  Py_INCREF(ctl);
  Py_XSETREF(self->notify, ctl);
  self->armed_put_off = po;
  self->armed_get_off = go;
  self->out_fd = of;
  self->in_fd = inf;
  self->back_fd = bf;
  Py_RETURN_NONE;
}

/* Writes a blob region holding data; sets name (NAME_MAX + 1 bytes). */
static int blob_write(FyChannel *self, const uint8_t *data, size_t len, char *name)
{
  int n = snprintf(name, FERRY_NAME_MAX + 1, "%s.b%lx.%llx", self->name, (unsigned long)getpid(),
                   ++self->blob_seq);
  if (n < 0 || n > FERRY_NAME_MAX) {
    PyErr_Format(PyExc_ValueError, "channel name %s too long for large messages", self->name);
    return -1;
  }
  ferry_region *r;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_region_create(name, len ? len : 1, NULL, &r);
  if (rc == 0) {
    memcpy(ferry_region_data(r), data, len);
    ferry_region_close(r);
  }
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_err(rc, name);
  return 0;
}

/* Puts tag + data. Returns 0; 1 if full / timed out; -1 with an exception. */
static int put_raw(FyChannel *self, uint8_t tag, const uint8_t *data, size_t len, int64_t t)
{
  struct fy_h h;
  if (h_take(self, &h) < 0)
    return -1;
  char blob[FERRY_NAME_MAX + 1];
  int is_blob = 0;
  struct put_ctx p = {h.q, tag, data, len, 0};
  if (1 + len > self->max_msg) {
    if (blob_write(self, data, len, blob) < 0) {
      h_give(self, &h);
      return -1;
    }
    is_blob = 1;
    p.tag = tag == TAG_PICKLE ? TAG_PICKLE_BLOB : TAG_BYTES_BLOB;
    p.data = (const uint8_t *)blob;
    p.len = strlen(blob);
  }
  int rc = fy_block(op_put, &p, t);
  h_give(self, &h);
  if (rc && is_blob)
    ferry_unlink(blob);
  if (rc == 0) {
    after_put(self);
    return 0;
  }
  if (rc == -EAGAIN || rc == -ETIMEDOUT)
    return 1;
  if (rc == -EPIPE)
    return raise_epipe(self, 1);
  return fy_err(rc, self->name);
}

static int call_feed(FyChannel *self)
{
  PyObject *r = PyObject_CallMethod((PyObject *)self, "_feed", NULL);
  if (!r)
    return -1;
  Py_DECREF(r);
  return 0;
}

/* Common to put and put_bytes: payload is a bytes-like object. */
static PyObject *put_common(FyChannel *self, uint8_t tag, PyObject *payload, int64_t t)
{
  if (self->closed) {
    PyErr_Format(PyExc_ValueError, "Queue %s is closed", self->name);
    return NULL;
  }
  if (self->shut) {
    raise_epipe(self, 1);
    return NULL;
  }
  Py_buffer v;
  if (PyObject_GetBuffer(payload, &v, PyBUF_SIMPLE) < 0)
    return NULL;
  int rc;
  if (self->unbounded) {
    rc = 1;
    if (!self->feeding && PyList_GET_SIZE(self->backlog) == 0)
      rc = put_raw(self, tag, v.buf, (size_t)v.len, 0);
    if (rc == 1) { /* full, or a backlog already waits: keep the order */
      PyObject *item = Py_BuildValue("(iy#)", tag, (const char *)v.buf, v.len);
      PyBuffer_Release(&v);
      if (!item)
        return NULL;
      int a = PyList_Append(self->backlog, item);
      Py_DECREF(item);
      if (a < 0 || call_feed(self) < 0)
        return NULL;
      Py_RETURN_NONE;
    }
  } else {
    rc = put_raw(self, tag, v.buf, (size_t)v.len, t);
  }
  PyBuffer_Release(&v);
  if (rc < 0)
    return NULL;
  if (rc == 1) {
    PyErr_SetNone(fy_cfg.Full ? fy_cfg.Full : PyExc_TimeoutError);
    return NULL;
  }
  Py_RETURN_NONE;
}

/* put(obj, block=True, timeout=None) */
static PyObject *chan_put(FyChannel *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"obj", "block", "timeout", NULL};
  PyObject *obj, *block = NULL, *timeout = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO:put", kwlist, &obj, &block, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  if (self->closed) {
    PyErr_Format(PyExc_ValueError, "Queue %s is closed", self->name);
    return NULL;
  }
  PyObject *pk = fy_dumps(obj);
  if (!pk)
    return NULL;
  PyObject *r = put_common(self, TAG_PICKLE, pk, t);
  Py_DECREF(pk);
  return r;
}

/*
 * Vectorcall arguments of the bytes calls, the hot path of a bytes queue:
 * no argument tuple, no format string. Fills out[0..n) from positional
 * then keyword arguments named names[]; the first `required` must come.
 * 0, or -1 with TypeError set, as the format-string parser would.
 */
static int fast_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     const char *const *names, int n, int required, PyObject **out)
{
  for (int i = 0; i < n; i++)
    out[i] = NULL;
  if (nargs > n) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fn, n, nargs);
    return -1;
  }
  for (Py_ssize_t i = 0; i < nargs; i++)
    out[i] = args[i];
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; k++) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, k);
    int i = 0;
    while (i < n && PyUnicode_CompareWithASCIIString(name, names[i]) != 0)
      i++;
    if (i == n) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fn, name);
      return -1;
    }
    if (out[i]) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fn, names[i]);
      return -1;
    }
    out[i] = args[nargs + k];
  }
  for (int i = 0; i < required; i++)
    if (!out[i]) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fn, names[i]);
      return -1;
    }
  return 0;
}

/* put_bytes(data, block=True, timeout=None) */
static PyObject *chan_put_bytes(FyChannel *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
  static const char *const names[] = {"data", "block", "timeout"};
  PyObject *a[3];
  if (fast_args("put_bytes", args, nargs, kwnames, names, 3, 1, a) < 0)
    return NULL;
  PyObject *data = a[0], *block = a[1], *timeout = a[2];
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  return put_common(self, TAG_BYTES, data, t);
}

/* _put_raw(tag, data, timeout) -> bool: the feeder's put (no backlog). */
static PyObject *chan_put_raw_py(FyChannel *self, PyObject *args)
{
  int tag;
  Py_buffer v;
  PyObject *timeout;
  if (!PyArg_ParseTuple(args, "iy*O:_put_raw", &tag, &v, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_timeout(timeout, &t) < 0) {
    PyBuffer_Release(&v);
    return NULL;
  }
  int rc = put_raw(self, (uint8_t)tag, v.buf, (size_t)v.len, t);
  PyBuffer_Release(&v);
  if (rc < 0)
    return NULL;
  return PyBool_FromLong(rc == 0);
}

/* ---- get ------------------------------------------------------------------------ */

struct get_ctx {
  ferry_queue *q;
  uint8_t *buf;
  size_t cap;
  ssize_t n;
  int64_t next_recover;
};

static int op_get(void *c, int64_t t)
{
  struct get_ctx *g = c;
  maybe_recover(g->q, t, &g->next_recover);
  ssize_t n = ferry_queue_get(g->q, g->buf, g->cap, t);
  if (n < 0)
    return (int)n;
  g->n = n;
  return 0;
}

/* Reads and removes blob `name` (untrusted text from the queue). */
static PyObject *blob_take(const uint8_t *p, size_t len)
{
  char name[FERRY_NAME_MAX + 1];
  if (len == 0 || len > FERRY_NAME_MAX)
    return fy_errp(FERRY_ECORRUPT, "message names a bad blob");
  memcpy(name, p, len);
  name[len] = 0;
  if (ferry_name_valid(name))
    return fy_errp(FERRY_ECORRUPT, "message names a bad blob");
  ferry_region *r;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = ferry_region_open(name, FERRY_KIND_RAW, NULL, &r);
  Py_END_ALLOW_THREADS
  if (rc)
    return fy_errp(rc, name);
  size_t n = ferry_region_data_size(r);
  PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
  if (b) {
    char *dst = PyBytes_AS_STRING(b);
    Py_BEGIN_ALLOW_THREADS
    memcpy(dst, ferry_region_data(r), n);
    Py_END_ALLOW_THREADS
  }
  ferry_region_close(r);
  ferry_unlink(name);
  return b;
}

/* Turns a message (tag + payload) into what the caller wants: as_obj 1
 * unpickles pickles (raw bytes stay bytes); 2 unpickles whatever came (a
 * pipe's recv(), as multiprocessing's); 0 gives the payload bytes. */
static PyObject *decode_msg(const uint8_t *m, size_t n, int as_obj)
{
  if (n < 1)
    return fy_errp(FERRY_ECORRUPT, "empty message in a Python channel");
  const uint8_t *p = m + 1;
  size_t len = n - 1;
  switch (m[0]) {
  case TAG_PICKLE:
    return as_obj ? fy_loads(p, len) : PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
  case TAG_BYTES:
    if (as_obj == 2)
      return fy_loads(p, len);
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
  case TAG_PICKLE_BLOB:
  case TAG_BYTES_BLOB: {
    PyObject *b = blob_take(p, len);
    if (!b || !as_obj || (m[0] == TAG_BYTES_BLOB && as_obj != 2))
      return b;
    PyObject *o = fy_loads(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return o;
  }
  }
  return fy_errp(FERRY_ECORRUPT, "message with an unknown tag in a Python channel");
}

/* Takes the next raw message (tag + payload) into a new bytes object.
 * Returns 0, 1 if none came in time, -2 at the end of the stream (-EPIPE),
 * -1 with an exception. */
static int take_raw_as(FyChannel *self, int64_t t, PyObject **out, int for_poll, int *payload);

static int take_raw(FyChannel *self, int64_t t, PyObject **out, int for_poll)
{
  return take_raw_as(self, t, out, for_poll, NULL);
}

/* As take_raw(); with payload non-NULL, a raw-bytes message (TAG_BYTES)
 * comes out as its payload alone, straight from the handle's scratch
 * buffer (one bytes object, one copy), and *payload is set to 1. */
static int take_raw_as(FyChannel *self, int64_t t, PyObject **out, int for_poll, int *payload)
{
  if (self->closed) {
    PyErr_Format(PyExc_ValueError, "Queue %s is closed", self->name);
    return -1;
  }
  chan_check_fork(self);
  struct fy_h h;
  if (h_take(self, &h) < 0)
    return -1;
  if (self->stash) {
    *out = self->stash;
    self->stash = NULL;
    after_get(self, h.q);
    h_give(self, &h);
    return 0;
  }
  struct get_ctx g = {h.q, h.scratch, self->max_msg, 0, 0};
  int rc = fy_block(op_get, &g, t);
  if (rc == 0) {
    const uint8_t *m = h.scratch;
    if (payload && g.n >= 1 && m[0] == TAG_BYTES) {
      *payload = 1;
      *out = PyBytes_FromStringAndSize((const char *)m + 1, g.n - 1);
    } else {
      *out = PyBytes_FromStringAndSize((const char *)m, g.n);
    }
    if (*out && !for_poll)
      after_get(self, h.q);
    h_give(self, &h);
    return *out ? 0 : -1;
  }
  h_give(self, &h);
  if (rc == -EAGAIN || rc == -ETIMEDOUT)
    return 1;
  if (rc == -EPIPE)
    return -2;
  return fy_err(rc, self->name);
}

static PyObject *get_common(FyChannel *self, int64_t t, int as_obj)
{
  PyObject *raw;
  int payload = 0;
  /* raw bytes are bytes for every caller but a pipe's recv() */
  int rc = take_raw_as(self, t, &raw, 0, as_obj != 2 ? &payload : NULL);
  if (rc == 1) {
    PyErr_SetNone(fy_cfg.Empty ? fy_cfg.Empty : PyExc_TimeoutError);
    return NULL;
  }
  if (rc == -2) {
    raise_epipe(self, 0);
    return NULL;
  }
  if (rc < 0)
    return NULL;
  if (payload)
    return raw;
  PyObject *r = decode_msg((const uint8_t *)PyBytes_AS_STRING(raw), (size_t)PyBytes_GET_SIZE(raw),
                           as_obj);
  Py_DECREF(raw);
  return r;
}

/* get(block=True, timeout=None) -> the next object */
static PyObject *chan_get(FyChannel *self, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"block", "timeout", NULL};
  PyObject *block = NULL, *timeout = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:get", kwlist, &block, &timeout))
    return NULL;
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  return get_common(self, t, self->eof_is_eof ? 2 : 1);
}

/* get_bytes(block=True, timeout=None) -> the next message's payload bytes */
static PyObject *chan_get_bytes(FyChannel *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
  static const char *const names[] = {"block", "timeout"};
  PyObject *a[2];
  if (fast_args("get_bytes", args, nargs, kwnames, names, 2, 0, a) < 0)
    return NULL;
  PyObject *block = a[0], *timeout = a[1];
  int64_t t;
  if (fy_parse_block_timeout(block, timeout, &t) < 0)
    return NULL;
  return get_common(self, t, 0);
}

/* poll(timeout=0.0) -> bool: True if a message (or the end of the stream)
 * is there. A message found is taken into this process and is what the
 * next get returns. */
static PyObject *chan_poll(FyChannel *self, PyObject *args)
{
  PyObject *timeout = NULL;
  if (!PyArg_ParseTuple(args, "|O:poll", &timeout))
    return NULL;
  int64_t t = 0;
  if (timeout && fy_parse_timeout(timeout, &t) < 0)
    return NULL;
  if (self->stash)
    Py_RETURN_TRUE;
  PyObject *raw;
  int rc = take_raw(self, t, &raw, 1);
  if (rc == 0) {
    self->stash = raw;
    Py_RETURN_TRUE;
  }
  if (rc == 1)
    Py_RETURN_FALSE;
  if (rc == -2)
    Py_RETURN_TRUE; /* readable: the next get raises */
  return NULL;
}

/* ---- the rest ---------------------------------------------------------------------- */

static PyObject *chan_depth(FyChannel *self, PyObject *unused)
{
  (void)unused;
  struct fy_h h;
  if (h_take(self, &h) < 0)
    return NULL;
  size_t d = ferry_queue_depth(h.q);
  h_give(self, &h);
  return PyLong_FromSize_t(d + (self->stash ? 1 : 0));
}

static PyObject *chan_shutdown(FyChannel *self, PyObject *unused)
{
  (void)unused;
  struct fy_h h;
  if (h_take(self, &h) < 0)
    return NULL;
  int rc = ferry_queue_shutdown(h.q);
  h_give(self, &h);
  if (rc)
    return fy_errp(rc, self->name);
  Py_RETURN_NONE;
}

/* _discard() -> how many messages were dropped: takes everything there is
 * now, without waiting, removing blobs (shutdown(immediate=True)). */
static PyObject *chan_discard(FyChannel *self, PyObject *unused)
{
  (void)unused;
  long n = 0;
  for (;;) {
    PyObject *raw;
    int rc = take_raw(self, 0, &raw, 0);
    if (rc == 1 || rc == -2)
      break;
    if (rc < 0)
      return NULL;
    const char *m = PyBytes_AS_STRING(raw);
    Py_ssize_t len = PyBytes_GET_SIZE(raw);
    if (len > 1 && len - 1 <= FERRY_NAME_MAX && (m[0] == TAG_PICKLE_BLOB || m[0] == TAG_BYTES_BLOB)) {
      char name[FERRY_NAME_MAX + 1];
      memcpy(name, m + 1, (size_t)len - 1);
      name[len - 1] = 0;
      if (ferry_name_valid(name) == 0)
        ferry_unlink(name);
    }
    Py_DECREF(raw);
    n++;
  }
  return PyLong_FromLong(n);
}

/* stats() -> dict of the queue's counters (see ferry_queue_stats). */
static PyObject *chan_stats(FyChannel *self, PyObject *unused)
{
  (void)unused;
  struct fy_h h;
  if (h_take(self, &h) < 0)
    return NULL;
  ferry_queue_stats st;
  int rc = ferry_queue_stats_get(h.q, &st);
  h_give(self, &h);
  if (rc)
    return fy_errp(rc, self->name);
  return Py_BuildValue("{sKsKsKsKsKsKsKsKsIsIsi}", "capacity", st.capacity, "max_msg_size",
                       st.max_msg_size, "depth", st.depth, "puts", st.puts, "gets", st.gets,
                       "lost", st.lost, "holes", st.holes, "recovered", st.recovered,
                       "producers", st.producers, "consumers", st.consumers, "shutdown",
                       st.shutdown);
}

static void chan_close_handles(FyChannel *self)
{
  self->closed = 1;
  self->detached = 1;
  if (self->gen == fy_fork_gen) {
    for (int i = 0; i < self->npool; i++)
      h_close(&self->pool[i]);
  } else {
    for (int i = 0; i < self->npool; i++)
      free(self->pool[i].scratch);
  }
  self->npool = 0;
  Py_CLEAR(self->stash);
}

/* _mark_closed(): later put/get/poll raise ValueError; handles stay for
 * the feeder. */
static PyObject *chan_mark_closed(FyChannel *self, PyObject *unused)
{
  (void)unused;
  self->closed = 1;
  Py_RETURN_NONE;
}

/* _close(): detaches this process (handles in use close when their call
 * returns). Later calls raise ValueError. */
static PyObject *chan_close(FyChannel *self, PyObject *unused)
{
  (void)unused;
  chan_close_handles(self);
  Py_RETURN_NONE;
}

static int chan_traverse(FyChannel *self, visitproc visit, void *arg)
{
  Py_VISIT(self->backlog);
  Py_VISIT(self->notify);
  Py_VISIT(self->dict);
  return 0;
}

static int chan_clear(FyChannel *self)
{
  Py_CLEAR(self->notify);
  Py_CLEAR(self->backlog);
  Py_CLEAR(self->dict);
  return 0;
}

static void chan_dealloc(FyChannel *self)
{
  PyObject_GC_UnTrack(self);
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  chan_close_handles(self);
  free(self->pool);
  chan_clear(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *chan_get_name(FyChannel *self, void *c)
{
  (void)c;
  return PyUnicode_FromString(self->name);
}
static PyObject *chan_get_closed(FyChannel *self, void *c)
{
  (void)c;
  return PyBool_FromLong(self->closed);
}
static PyObject *chan_get_backlog(FyChannel *self, void *c)
{
  (void)c;
  if (!self->backlog)
    Py_RETURN_NONE;
  Py_INCREF(self->backlog);
  return self->backlog;
}
static PyObject *chan_get_max_msg(FyChannel *self, void *c)
{
  (void)c;
  return PyLong_FromUnsignedLong(self->max_msg);
}

static PyObject *chan_get_feeding(FyChannel *self, void *c)
{
  (void)c;
  return PyBool_FromLong(self->feeding);
}
static int chan_set_feeding(FyChannel *self, PyObject *v, void *c)
{
  (void)c;
  int b = v ? PyObject_IsTrue(v) : 0;
  if (b < 0)
    return -1;
  self->feeding = b;
  return 0;
}

static PyObject *chan_get_shut(FyChannel *self, void *c)
{
  (void)c;
  return PyBool_FromLong(self->shut);
}
static int chan_set_shut(FyChannel *self, PyObject *v, void *c)
{
  (void)c;
  int b = v ? PyObject_IsTrue(v) : 0;
  if (b < 0)
    return -1;
  self->shut = b;
  return 0;
}

static PyGetSetDef chan_getset[] = {
    {"_shut", (getter)chan_get_shut, (setter)chan_set_shut,
     "this process saw the queue shut down: puts raise at once", NULL},
    {"_feeding", (getter)chan_get_feeding, (setter)chan_set_feeding,
     "the feeder thread is moving messages: puts queue up behind them", NULL},
    {"_name", (getter)chan_get_name, NULL, "the queue region's name", NULL},
    {"_closed", (getter)chan_get_closed, NULL, "True once closed in this process", NULL},
    {"_backlog", (getter)chan_get_backlog, NULL, "messages waiting for the feeder", NULL},
    {"_max_msg", (getter)chan_get_max_msg, NULL, "cell size (0 until attached)", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define KW (METH_VARARGS | METH_KEYWORDS)
static PyMethodDef chan_methods[] = {
    {"_create", (PyCFunction)chan_create, METH_VARARGS, NULL},
    {"put", (PyCFunction)(void (*)(void))chan_put, KW,
     "put(obj, block=True, timeout=None): pickles obj and puts it."},
    {"put_bytes", (PyCFunction)(void (*)(void))chan_put_bytes, METH_FASTCALL | METH_KEYWORDS,
     "put_bytes(data, block=True, timeout=None): puts raw bytes."},
    {"get", (PyCFunction)(void (*)(void))chan_get, KW,
     "get(block=True, timeout=None): the next object."},
    {"get_bytes", (PyCFunction)(void (*)(void))chan_get_bytes, METH_FASTCALL | METH_KEYWORDS,
     "get_bytes(block=True, timeout=None): the next message's bytes."},
    {"_poll", (PyCFunction)chan_poll, METH_VARARGS, NULL},
    {"_put_raw", (PyCFunction)chan_put_raw_py, METH_VARARGS, NULL},
    {"_depth", (PyCFunction)chan_depth, METH_NOARGS, NULL},
    {"_shutdown", (PyCFunction)chan_shutdown, METH_NOARGS, NULL},
    {"_discard", (PyCFunction)chan_discard, METH_NOARGS, NULL},
    {"_stats", (PyCFunction)chan_stats, METH_NOARGS, NULL},
    {"_close", (PyCFunction)chan_close, METH_NOARGS, NULL},
    {"_mark_closed", (PyCFunction)chan_mark_closed, METH_NOARGS, NULL},
    {"_set_notify", (PyCFunction)chan_set_notify, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject FyChannel_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ferry._ferry.Channel",
    .tp_basicsize = sizeof(FyChannel),
    .tp_dealloc = (destructor)chan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A ferry queue seen from Python (the base of ferry.Queue and ferry.Pipe).",
    .tp_traverse = (traverseproc)chan_traverse,
    .tp_clear = (inquiry)chan_clear,
    .tp_weaklistoffset = offsetof(FyChannel, weakrefs),
    .tp_methods = chan_methods,
    .tp_getset = chan_getset,
    .tp_dictoffset = offsetof(FyChannel, dict),
    .tp_init = (initproc)chan_init,
    .tp_new = chan_new,
};
