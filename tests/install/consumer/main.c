/* SPDX-License-Identifier: MIT */
/*
 * main.c: a program outside the ferry tree that uses only the installed
 * headers and library. tests/install/run_install_test.sh builds it against
 * an installed copy of ferry (through CMake's find_package and through
 * pkg-config, shared and static) and runs it, so a header that is not
 * installed, a missing export, or a broken package file fails there.
 *
 * It creates a RAW region named t-install-<pid> (unique per run; the t-
 * prefix is what the suite's leftover check looks for), opens it again,
 * checks what the second handle sees and a few error paths, and removes it.
 */
/* A strict -std=c11 build, as a careful user makes it, needs this for
 * getpid(); ferry's own headers must need nothing of the kind. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ferry/ferry.h>

#define REGION_BYTES 4096

static int failed;

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "consumer: FAILED: %s\n", what);
    failed = 1;
  }
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "t-install-%ld", (long)getpid());

  ferry_region *w = NULL, *r = NULL;
  int rc = ferry_region_create(name, REGION_BYTES, NULL, &w);
  if (rc != 0) {
    fprintf(stderr, "consumer: ferry_region_create(%s): %s\n", name, ferry_strerror(rc));
    return 1;
  }
  memset(ferry_region_data(w), 0x5a, REGION_BYTES);

  rc = ferry_region_open(name, FERRY_KIND_RAW, NULL, &r);
  check(rc == 0, "ferry_region_open of the new region");
  if (rc == 0) {
    const unsigned char *p = ferry_region_data(r);
    check(ferry_region_data_size(r) == REGION_BYTES, "data size seen by the opener");
    check(p[0] == 0x5a && p[REGION_BYTES - 1] == 0x5a, "data written by the creator");
    check(ferry_region_kind(r) == FERRY_KIND_RAW, "kind RAW");
    check(strcmp(ferry_region_name(r), name) == 0, "region name");
    ferry_region_close(r);
  }
  ferry_region *none = NULL;
  check(ferry_region_open(name, FERRY_KIND_ARRAY, NULL, &none) == FERRY_EKIND,
        "opening a RAW region as an array gives FERRY_EKIND");

  /* Messages come from the library's table, not from this program. */
  check(strstr(ferry_strerror(FERRY_EBADMAGIC), "magic") != NULL,
        "ferry_strerror(FERRY_EBADMAGIC)");
  /* No setlocale(): strerror() is in the C locale, as the library's is. */
  check(strcmp(ferry_strerror(-ENOENT), strerror(ENOENT)) == 0, "ferry_strerror(-ENOENT)");
  check(strcmp(ferry_strerror(0x7fff), "unknown error") == 0, "ferry_strerror(unknown)");

  ferry_region_close(w);
  check(ferry_unlink(name) == 0, "ferry_unlink");
  check(ferry_region_open(name, FERRY_KIND_ANY, NULL, &none) == -ENOENT, "gone after unlink");
  check(ferry_unlink(name) == -ENOENT, "second unlink gives -ENOENT");

  if (failed)
    return 1;
  printf("consumer: ok (%s)\n", name);
  return 0;
}
