# SPDX-License-Identifier: MIT
"""Builds and installs the `ferry` package with `pip install ./python` (from
a clone of the repository: the C library's sources in ../src are compiled
into the extension module, so nothing else needs to be installed first).

The CMake build (`cmake --build`, `cmake --install`) builds the same module
from the same sources; see docs/design/python.md.
"""

import glob
import os
import re

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def project_version():
    with open(os.path.join(root, "CMakeLists.txt")) as f:
        m = re.search(r"project\(ferry VERSION (\d+)\.(\d+)\.(\d+)", f.read())
    if not m:
        raise SystemExit("setup.py: no version in ../CMakeLists.txt")
    return m.groups()


def generate_version_h(major, minor, patch):
    """ferry/version.h, as the CMake build generates it from version.h.in."""
    with open(os.path.join(root, "include", "ferry", "version.h.in")) as f:
        text = f.read()
    for k, v in (("PROJECT_VERSION_MAJOR", major), ("PROJECT_VERSION_MINOR", minor),
                 ("PROJECT_VERSION_PATCH", patch),
                 ("PROJECT_VERSION", "%s.%s.%s" % (major, minor, patch))):
        text = text.replace("@%s@" % k, v)
    out = os.path.join(here, "build", "generated", "ferry")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "version.h"), "w") as f:
        f.write(text)
    return os.path.relpath(os.path.dirname(out), here)


VERSION = project_version()
GENERATED = generate_version_h(*VERSION)


def rel(*parts):
    return os.path.relpath(os.path.join(root, *parts), here)


sources = sorted(glob.glob(os.path.join(here, "src", "*.c")))
sources += sorted(glob.glob(os.path.join(root, "src", "*.c")))
sources += sorted(glob.glob(os.path.join(root, "src", "core", "*.c")))
if not glob.glob(os.path.join(root, "src", "core", "*.c")):
    raise SystemExit("setup.py: the C library's sources (../src) are missing: "
                     "install from a clone of the whole repository")

ext = Extension(
    "ferry._ferry",
    sources=[os.path.relpath(s, here) for s in sources],
    include_dirs=[rel("include"), GENERATED, rel("src"), "src"],
    define_macros=[("_GNU_SOURCE", "1")],
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra"],
    libraries=["pthread"],
)

setup(
    name="ferry",
    version=".".join(VERSION),
    description="multiprocessing's shared objects over ferry's crash-safe shared memory, "
                "with numpy arrays without a copy",
    packages=["ferry"],
    ext_modules=[ext],
    python_requires=">=3.8",
    # the library's sources compile in parallel (setuptools' build_ext -j)
    options={"build_ext": {"parallel": os.cpu_count() or 2}},
    extras_require={"numpy": ["numpy"]},
)
