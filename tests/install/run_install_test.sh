#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_install_test.sh: installs the current build into a scratch prefix and
# builds and runs tests/install/consumer against it the ways users will:
#
#   1. CMake find_package(ferry), linking ferry::ferry (shared) and
#      ferry::ferry_static;
#   2. pkg-config, `cc main.c $(pkg-config --cflags --libs ferry)` (shared);
#   3. pkg-config --static, with the static library forced at link time.
#
# Each program runs, creates and removes its own region, and the static
# ones must not depend on libferry.so at all. Nothing outside WORK_DIR is
# written except those short-lived regions.
#
# usage: run_install_test.sh BUILD_DIR WORK_DIR CONSUMER_DIR CC VERSION [CFLAGS]
#   CFLAGS: extra compile-and-link flags for the consumers, e.g. the
#   sanitizer flags of an ASan build (its libferry needs their runtime).
set -euo pipefail

if [ $# -lt 5 ]; then
  echo "usage: $0 BUILD_DIR WORK_DIR CONSUMER_DIR CC VERSION [CFLAGS]" >&2
  exit 2
fi
build=$1 work=$2 consumer=$3 cc=$4 version=$5 extra=${6:-}
prefix=$work/prefix
pkgconfig=${PKG_CONFIG:-pkg-config}

step() { printf '\n== %s\n' "$*"; }
fail() { echo "install test FAILED: $*" >&2; exit 1; }

# A dynamic dependency on libferry makes a "static" link a lie.
assert_static() {
  if readelf -d "$1" | grep -q 'NEEDED.*libferry'; then
    fail "$1 is linked statically but needs libferry.so"
  fi
}

rm -rf "$work"
mkdir -p "$work"

step "cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix"

[ -f "$prefix/include/ferry/ferry.h" ] || fail "include/ferry/ferry.h not installed"
pcfile=$(find "$prefix" -name ferry.pc -path '*/pkgconfig/*' | head -n 1)
config=$(find "$prefix" -name ferryConfig.cmake | head -n 1)
[ -n "$pcfile" ] || fail "ferry.pc not installed"
[ -n "$config" ] || fail "ferryConfig.cmake not installed"
libdir=$(dirname "$(dirname "$pcfile")")
for f in libferry.so libferry.a; do
  [ -e "$libdir/$f" ] || fail "$f not installed in $libdir"
done
# The on-shm layouts are private to the library.
if find "$prefix" -name '*_layout.h' -o -name '*_internal.h' -o -name 'core.h' | grep -q .; then
  fail "internal headers were installed"
fi

step "CMake consumer (find_package, shared and static)"
cmake -S "$consumer" -B "$work/cmake" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
  -DFERRY_EXPECTED_VERSION="$version"
cmake --build "$work/cmake"
"$work/cmake/consumer_shared"
assert_static "$work/cmake/consumer_static"
"$work/cmake/consumer_static"

step "pkg-config consumer (shared)"
PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_PATH
got=$("$pkgconfig" --modversion ferry)
[ "$got" = "$version" ] || fail "pkg-config says version $got, the build is $version"
# A .pc that names the configure-time prefix instead of where it was
# installed would silently pick up another ferry, or none.
for var in includedir libdir; do
  dir=$("$pkgconfig" --variable="$var" ferry)
  real=$(if cd "$dir" 2>/dev/null; then pwd -P; fi)
  case "$real" in
  "$(cd "$prefix" && pwd -P)"/*) ;;
  *) fail "ferry.pc: $var=$dir is outside the install prefix $prefix (ferry.pc is not relocatable)" ;;
  esac
done
# shellcheck disable=SC2046,SC2086  # word splitting is the point
"$cc" -std=c11 -Wall -Wextra -Werror $extra "$consumer/main.c" \
  $("$pkgconfig" --cflags --libs ferry) -o "$work/pc_shared"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$work/pc_shared"

step "pkg-config consumer (static)"
# -Bstatic makes -lferry pick libferry.a; --static adds Libs.private,
# which must be all a static link needs.
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra "$consumer/main.c" \
  $("$pkgconfig" --cflags ferry) -Wl,-Bstatic $("$pkgconfig" --static --libs ferry) -Wl,-Bdynamic \
  -o "$work/pc_static"
assert_static "$work/pc_static"
"$work/pc_static"

step "install test passed"
