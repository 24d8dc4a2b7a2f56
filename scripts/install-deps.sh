#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages a step needs, if any are missing.
#   install-deps.sh build   what building ferry needs
#   install-deps.sh test    what the whole test suite needs
# As root it uses apt-get; otherwise it only lists what is missing.
set -eu

# python3-dev: the Python extension (python/) is built when it is there.
# python3-numpy, libpython3.11-testsuite: the Python tests (the latter has
# CPython's own multiprocessing tests, which they run against ferry).
build_pkgs="cmake make gcc libc6-dev pkg-config scdoc python3-dev"
# The Redis backend: hiredis to build it, a server for its tests. The pool's
# CLI test drives Ctrl-C through script(1) (bsdutils) and checks processes
# with pgrep (procps); its benchmark's peers are GNU parallel and joblib.
test_pkgs="$build_pkgs clang libclang-rt-14-dev g++ python3 python3-matplotlib binutils tmux python3-numpy libpython3.11-testsuite bsdutils procps libhiredis-dev redis-server parallel python3-joblib"

case "${1:-test}" in
  build) want=$build_pkgs ;;
  test) want=$test_pkgs ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages:$missing" >&2
  echo "install them with: sudo apt-get install$missing" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
