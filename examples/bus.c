/* SPDX-License-Identifier: MIT */
/*
 * bus.c: one publisher, two subscribers, frames of arrays shared in place.
 * The parent creates a LOCKSTEP bus whose frames hold one float32 array of
 * 1024 elements, waits for both forked subscribers to join, then loans a
 * slot, fills it in place and publishes it, 20 times. Each subscriber
 * takes every frame, reads it in place (no copy), checks it, releases it,
 * and stops at the end of the stream.
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAMES 20
#define SUBSCRIBERS 2
#define ELEMENTS 1024

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

static int subscriber(const char *name, int id)
{
  ferry_sub *s;
  check(ferry_bus_subscribe(name, NULL, &s), "subscribe");
  const ferry_frame *f;
  ferry_bus_frame_info info;
  int rc, frames = 0;
  while ((rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC)) == 0) {
    ferry_array a;
    check(ferry_frame_array(f, "signal", &a), "array");
    const float *x = a.data; /* the publisher's memory, read in place */
    for (size_t i = 0; i < a.count; i++)
      if (x[i] != (float)(info.seq * ELEMENTS + i)) {
        fprintf(stderr, "subscriber %d: frame %llu is wrong\n", id,
                (unsigned long long)info.seq);
        return 1;
      }
    check(ferry_bus_release(s, f), "release");
    frames++;
  }
  check(rc == -EPIPE ? 0 : rc, "next");
  printf("subscriber %d: %d frames, every one checked\n", id, frames);
  ferry_bus_unsubscribe(s);
  return frames == FRAMES ? 0 : 1;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-bus-%d", (int)getpid());
  ferry_array_spec spec = {.name = "signal", .dtype = FERRY_DTYPE_F32, .ndim = 1, .shape = {ELEMENTS}};
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = FERRY_BUS_LOCKSTEP; /* every subscriber sees every frame */
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_bus *b;
  check(ferry_bus_create(name, &spec, 1, &o, &b), "create");
  fflush(stdout);
  pid_t kids[SUBSCRIBERS];
  for (int i = 0; i < SUBSCRIBERS; i++)
    if ((kids[i] = fork()) == 0)
      _exit(subscriber(name, i + 1));

  /* Frames go to the subscribers there are: wait until both joined, so
   * that neither misses the first frame. */
  check(ferry_bus_wait_subscribers(b, SUBSCRIBERS, 10 * FERRY_SEC), "wait for subscribers");
  for (int n = 0; n < FRAMES; n++) {
    ferry_frame *f;
    check(ferry_bus_loan(b, &f, 10 * FERRY_SEC), "loan");
    ferry_array a;
    check(ferry_frame_array(f, "signal", &a), "array");
    float *x = a.data; /* written in place: no copy on publish */
    for (size_t i = 0; i < a.count; i++)
      x[i] = (float)((uint64_t)n * ELEMENTS + i);
    check(ferry_bus_publish(b, f), "publish");
  }
  check(ferry_bus_shutdown(b), "shutdown");
  int failed = 0;
  for (int i = 0; i < SUBSCRIBERS; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  printf("publisher: %d frames to %d subscribers\n", FRAMES, SUBSCRIBERS);
  ferry_bus_close(b);
  return failed;
}
