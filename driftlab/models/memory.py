"""Handing freed heap memory back to the OS between phases (sampling, scoring, training).

glibc keeps memory freed by one phase (a batch's KV buffers, a training pass's activations)
in its heap for reuse instead of returning it, and what the next phase allocates does not
always fit the holes, so the resident peak of a run grows phase by phase. `malloc_trim`
returns the free pages; it takes milliseconds and changes no result.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_name = ctypes.util.find_library("c")
_libc = ctypes.CDLL(_name) if _name else None
_trim = getattr(_libc, "malloc_trim", None)  # glibc only (not musl, not macOS)


def release() -> None:
    """Return the heap's free pages to the OS where the C library can (glibc)."""
    if _trim is not None:
        _trim(0)
