/* SPDX-License-Identifier: MIT */
/*
 * shared_array.c: the README's example. One handle creates a frame with a
 * 1000x1000 float32 array and fills it; another opens it by name and finds
 * the dtype and shape in the region itself. In real use the two handles
 * live in different processes.
 */
#include <ferry/ferry.h>
#include <stdio.h>

int main(void)
{
  ferry_array_spec spec = {.name = "frame", .dtype = FERRY_DTYPE_F32, .ndim = 2, .shape = {1000, 1000}};
  ferry_arrays *w;
  int rc = ferry_array_create("example", &spec, 1, NULL, &w);
  if (rc < 0) {
    fprintf(stderr, "create: %s\n", ferry_strerror(rc));
    return 1;
  }
  ferry_array a;
  ferry_array_get(w, "frame", &a);
  float *px = a.data;
  for (size_t i = 0; i < a.count; i++)
    px[i] = (float)i;

  /* Any other process: open by name; dtype and shape come from the region. */
  ferry_arrays *r;
  ferry_array_open("example", NULL, &r);
  ferry_array b;
  ferry_array_get(r, "frame", &b);
  printf("%s %s %llux%llu, last = %g\n", b.name, ferry_dtype_name(b.dtype),
         (unsigned long long)b.shape[0], (unsigned long long)b.shape[1],
         ((float *)b.data)[b.count - 1]);

  ferry_array_close(r);
  ferry_array_close(w);
  ferry_unlink("example");
  return 0;
}
