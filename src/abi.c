/* SPDX-License-Identifier: MIT */
/*
 * abi.c: what the library says about itself: its version (ferry/version.h,
 * generated from the project's version by CMake).
 */
#include "ferry/version.h"

unsigned ferry_version(void) { return FERRY_VERSION_NUMBER; }

const char *ferry_version_string(void) { return FERRY_VERSION_STRING; }
