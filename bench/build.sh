#!/bin/sh
# Builds the peer programs of `ferry bench` whose libraries are installed,
# into OUTDIR (default: ./bench-peers). `ferry bench` runs this on demand;
# a peer whose packages are missing is skipped with one line on stderr.
# Each program is rebuilt only when a source is newer than it.
# Packages: scripts/install-bench-peers.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
out=${1:-bench-peers}
mkdir -p "$out" || exit 1
CC=${CC:-cc}
CXX=${CXX:-c++}
CFLAGS="-O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -I$src/tools"
CXXFLAGS="-O2 -g -std=c++17 -D_GNU_SOURCE -Wall -Wextra -I$src/tools"
harness="$src/tools/bench_harness.c"

# stale TARGET SOURCE...: true if TARGET is missing or older than a source.
stale() {
    t=$1; shift
    [ -e "$t" ] || return 0
    for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
    return 1
}

build_c_harness() {
    if stale "$out/bench_harness.o" "$harness" "$src/tools/bench_harness.h"; then
        $CC $CFLAGS -c "$harness" -o "$out/bench_harness.o" || exit 1
    fi
}
build_c_harness

# ZeroMQ
if pkg-config --exists libzmq 2>/dev/null; then
    if stale "$out/zmq_peer" "$here/peers/zmq_peer.c" "$out/bench_harness.o"; then
        $CC $CFLAGS "$here/peers/zmq_peer.c" "$out/bench_harness.o" -o "$out/zmq_peer" \
            $(pkg-config --cflags --libs libzmq) || echo "bench/build.sh: zmq peer failed to build" >&2
    fi
else
    echo "bench/build.sh: libzmq not found (libzmq3-dev): zmq-ipc skipped" >&2
fi

# Boost.Interprocess (header-only)
if [ -f /usr/include/boost/interprocess/ipc/message_queue.hpp ] && command -v "$CXX" >/dev/null; then
    if stale "$out/boost_mq_peer" "$here/peers/boost_mq_peer.cpp" "$out/bench_harness.o"; then
        $CXX $CXXFLAGS "$here/peers/boost_mq_peer.cpp" "$out/bench_harness.o" \
            -o "$out/boost_mq_peer" -lpthread -lrt || echo "bench/build.sh: boost peer failed to build" >&2
    fi
else
    echo "bench/build.sh: Boost.Interprocess or a C++ compiler not found (libboost-dev, g++): boost-mq skipped" >&2
fi

# iceoryx C binding
ice_inc=$(ls -d /usr/include/iceoryx/v* 2>/dev/null | tail -n 1)
if [ -n "$ice_inc" ] && [ -f "$ice_inc/iceoryx_binding_c/runtime.h" ]; then
    if stale "$out/iceoryx_peer" "$here/peers/iceoryx_peer.c" "$out/bench_harness.o"; then
        $CC $CFLAGS -I"$ice_inc" "$here/peers/iceoryx_peer.c" "$out/bench_harness.o" \
            -o "$out/iceoryx_peer" -liceoryx_binding_c || echo "bench/build.sh: iceoryx peer failed to build" >&2
    fi
else
    echo "bench/build.sh: iceoryx C binding not found (libiceoryx-binding-c-dev): iceoryx skipped" >&2
fi
exit 0
