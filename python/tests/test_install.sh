#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_install.sh: the Python package installs both ways users will install
# it, and works from there:
#   1. `cmake --install BUILD --prefix PREFIX --component python`: the package lands in the
#      interpreter's directory for that prefix (FERRY_PYTHON_INSTALL_DIR);
#   2. `pip install ./python` into a virtual environment (which sees the
#      system's numpy), offline: the C library is compiled into the module.
# Each time a fresh interpreter imports ferry from there (not from the
# build tree) and moves an object, a numpy array and a dict entry through
# a child process.
#
# usage: test_install.sh BUILD_DIR WORK_DIR SOURCE_DIR PYTHON PYDIR
set -euo pipefail
build=$1 work=$2 src=$3 py=$4 pydir=$5
rm -rf "$work"
mkdir -p "$work"
cat > "$work/smoke.py" <<'PY'
import multiprocessing as mp, sys, ferry, numpy as np
def child(q, a, d):
    a[:] = 7
    d["child"] = q.get(timeout=20)
if __name__ == "__main__":
    q, a, d = ferry.Queue(), ferry.ndarray(shape=(4,), dtype="i4"), ferry.Dict()
    q.put("hello")
    p = mp.get_context("spawn").Process(target=child, args=(q, a, d))
    p.start(); p.join(60)
    ok = p.exitcode == 0 and a.tolist() == [7] * 4 and d["child"] == "hello"
    print("imported", ferry.__file__, "ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)
PY
smoke() { (cd "$work" && "$@" smoke.py); }

echo "== cmake --install"
cmake --install "$build" --prefix "$work/prefix" --component python > "$work/install.log"
[ -d "$work/prefix/$pydir/ferry" ] || { echo "no package in $work/prefix/$pydir"; exit 1; }
ls "$work/prefix/$pydir/ferry"/_ferry*.so > /dev/null
smoke env PYTHONPATH="$work/prefix/$pydir" "$py"

echo "== pip install ./python"
"$py" -m venv --system-site-packages "$work/venv"
cp -r "$src/python" "$src/src" "$src/include" "$src/CMakeLists.txt" "$work/"  # a clean copy: pip builds in place
"$work/venv/bin/pip" install --no-index --no-build-isolation -q "$work/python"
smoke env -u PYTHONPATH "$work/venv/bin/python"
