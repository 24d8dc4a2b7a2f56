#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_package_test.sh: what a packager gets. From a copy of the source tree
# as a release tarball holds it (the files git tracks; no build, no .git),
# a fresh configure and build with the defaults, then
# `cmake --install` into a staging directory (DESTDIR, prefix /usr), as a
# distribution's package build does. The staged tree must hold exactly:
#
#   the shared library with its soname (libferry.so.N -> the versioned file,
#   and the libferry.so link), the static library, the public headers
#   (version.h included), the CMake package and the pkg-config file, the
#   ferry binary, and the ferry(1) and libferry(3) manual pages;
#
# and nothing else: no benchmark code (ferry-bench, its peers, scripts),
# no demonstrations. The versions must agree: the soname's, the header's,
# pkg-config's, and what the staged `ferry -V` prints.
#
# usage: run_package_test.sh SOURCE_DIR WORK_DIR VERSION SOVERSION
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 SOURCE_DIR WORK_DIR VERSION SOVERSION" >&2
  exit 2
fi
src=$1 work=$2 version=$3 soversion=$4
fail() { echo "package test FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

rm -rf "$work"
mkdir -p "$work/tarball"
step "the release tarball: the tracked files of $src"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
  # Tracked files as they are in the working tree (changes not yet
  # committed included), so the test checks what would be released.
  (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$src" && xargs -0 cp --parents -t "$work/tarball" 2>/dev/null || true)
else
  (cd "$src" && tar --exclude='./build*' --exclude=./.git -cf - .) | (cd "$work/tarball" && tar -xf -)
fi
[ -f "$work/tarball/CMakeLists.txt" ] || fail "no CMakeLists.txt in the copy"

step "configure with the defaults, build what is installed"
cmake -S "$work/tarball" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DFERRY_BUILD_TESTS=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
# The benchmark lab and the demonstrations are configured (the defaults),
# but only what install needs is built, to keep the test short: an
# install rule for anything else would fail the install below.
cmake --build "$work/build" -j 2 --target ferry ferry_static ferry_cli ferry_man \
  >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "build"; }
grep -q 'ferry_bench' "$work/build/Makefile" || fail "the default configuration has no ferry-bench target"

step "cmake --install into a staging directory"
stage=$work/stage
DESTDIR=$stage cmake --install "$work/build" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install"; }

libdir=
for d in "$stage"/usr/lib "$stage"/usr/lib64 "$stage"/usr/lib/*-linux-gnu; do
  if [ -e "$d/libferry.a" ]; then
    libdir=${d#"$stage/usr/"}
    break
  fi
done
[ -n "$libdir" ] || fail "no libferry.a under $stage/usr"
(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort) >"$work/got"
{
  for h in "$src"/include/ferry/*.h; do echo "usr/include/ferry/$(basename "$h")"; done
  echo usr/include/ferry/version.h
  echo "usr/bin/ferry"
  echo "usr/$libdir/libferry.a"
  echo "usr/$libdir/libferry.so"
  echo "usr/$libdir/libferry.so.$soversion"
  echo "usr/$libdir/libferry.so.$version"
  echo "usr/$libdir/pkgconfig/ferry.pc"
  echo "usr/$libdir/cmake/ferry/ferryConfig.cmake"
  echo "usr/$libdir/cmake/ferry/ferryConfigVersion.cmake"
  echo "usr/$libdir/cmake/ferry/ferryTargets.cmake"
  echo "usr/$libdir/cmake/ferry/ferryTargets-release.cmake"
  echo "usr/share/man/man1/ferry.1"
  echo "usr/share/man/man3/libferry.3"
} | sort -u >"$work/want"
if ! diff -u "$work/want" "$work/got"; then
  fail "the staged tree is not exactly the list above (- missing, + unexpected)"
fi
if grep -Ei 'bench|demo|peer|\.py$' "$work/got"; then
  fail "benchmark or demonstration code was installed"
fi

step "the soname and the versions agree"
lib=$stage/usr/$libdir
[ -L "$lib/libferry.so" ] && [ "$(readlink "$lib/libferry.so")" = "libferry.so.$soversion" ] ||
  fail "libferry.so is not a link to libferry.so.$soversion"
[ -L "$lib/libferry.so.$soversion" ] && [ "$(readlink "$lib/libferry.so.$soversion")" = "libferry.so.$version" ] ||
  fail "libferry.so.$soversion is not a link to libferry.so.$version"
soname=$(readelf -d "$lib/libferry.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libferry.so.$soversion" ] || fail "the soname is '$soname', want libferry.so.$soversion"
grep -q "^#define FERRY_VERSION_STRING \"$version\"$" "$stage/usr/include/ferry/version.h" ||
  fail "version.h does not say $version"
grep -q "^Version: $version$" "$lib/pkgconfig/ferry.pc" || fail "ferry.pc does not say $version"
got=$("$stage/usr/bin/ferry" -V)
[ "$got" = "ferry $version" ] || fail "the staged ferry -V says '$got', want 'ferry $version'"
# ferry demo and ferry bench say where they are, not crash: they are not here.
if "$stage/usr/bin/ferry" bench queue --list >/dev/null 2>"$work/bench.err"; then
  fail "an installed ferry ran a benchmark"
fi
grep -q 'ferry-bench is not in' "$work/bench.err" || fail "ferry bench said: $(cat "$work/bench.err")"
for m in man1/ferry.1 man3/libferry.3; do
  head -1 "$stage/usr/share/man/$m" | grep -q 'Generated by scdoc' || fail "$m is not a generated page"
done
step "package test passed: $(wc -l <"$work/got") files"
