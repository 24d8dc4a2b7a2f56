"""Builds and installs the `ferry` package with `pip install ./python` (from
a clone of the repository: the C library's sources in ../src are compiled
into the extension module, so nothing else needs to be installed first).

The CMake build (`cmake --build`, `cmake --install`) builds the same module
from the same sources; see docs/design/python.md.
"""

import glob
import os

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


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
    include_dirs=[rel("include"), rel("src"), "src"],
    define_macros=[("_GNU_SOURCE", "1")],
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra"],
    libraries=["pthread"],
)

setup(
    name="ferry",
    version="0.1.0",
    description="multiprocessing's shared objects over ferry's crash-safe shared memory, "
                "with numpy arrays without a copy",
    packages=["ferry"],
    ext_modules=[ext],
    python_requires=">=3.8",
    extras_require={"numpy": ["numpy"]},
)
