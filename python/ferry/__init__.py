# SPDX-License-Identifier: MIT
"""ferry: multiprocessing's shared objects over ferry's shared memory.

Drop-in objects with multiprocessing's names and behaviour -- Queue,
SimpleQueue, JoinableQueue, Pipe, Lock, RLock, Semaphore, BoundedSemaphore,
Condition, Event, Barrier, Value, Array, RawValue, RawArray -- plus what
multiprocessing lacks: numpy arrays in shared memory without a copy
(ndarray), the broadcast bus of array frames (Bus, Subscriber), a shared
priority heap with a key function (Heap), and a shared Dict and List.

Every object pickles to its name, so it can be passed to a child process
under fork, spawn or forkserver. Blocking calls release the GIL and can be
interrupted with Ctrl-C. A process killed at any point leaves every object
usable for the others.
"""

from ._core import Empty, FerryError, Full, OwnerDiedWarning, ShutDown
from .containers import Dict, List
from .heap import Heap

# The numpy-based objects load numpy (and ferry.arrays) on first use only:
# a process that never touches them starts faster and needs no numpy.
_ARRAY_NAMES = ("ndarray", "SharedNDArray", "SharedArrays", "Bus", "Subscriber", "Frame")


def __getattr__(name):
    if name in _ARRAY_NAMES:
        from . import arrays
        return getattr(arrays, name)
    raise AttributeError("module 'ferry' has no attribute %r" % name)
from .connection import BufferTooShort, Connection, Pipe
from .queues import JoinableQueue, Queue, SimpleQueue
from .sharedctypes import Array, RawArray, RawValue, Value
from .synchronize import (Barrier, BoundedSemaphore, Condition, Event, Lock, RLock,
                          Semaphore)
from . import _ferry
from ._ferry import unlink

__all__ = [
    "Queue", "SimpleQueue", "JoinableQueue", "Pipe", "Connection",
    "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
    "Value", "Array", "RawValue", "RawArray", "Dict", "List", "Heap",
    "ShutDown", "Empty", "Full", "BufferTooShort", "FerryError", "OwnerDiedWarning",
    "unlink", "ndarray", "SharedNDArray", "SharedArrays", "Bus", "Subscriber", "Frame",
]

__version__ = _ferry.version()
