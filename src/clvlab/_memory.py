"""Give memory that the process no longer uses back to the operating system.

Large pipelines free row-sized temporaries (hundreds of MB at millions of rows) that the
allocators keep for reuse: glibc's heap (arrays under its mmap threshold, which grows
with every large block freed) and Arrow's memory pool. Their pages count in the process's
resident memory until reused, so a later step that needs different sizes adds to them.
:func:`release_unused` hands the free pages back (glibc ``malloc_trim``, Arrow's
``release_unused``); it frees nothing in use, changes no value and costs milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

__all__ = ["release_unused"]

_TRIM: Any = None


def _malloc_trim() -> Any:
    """Return glibc's ``malloc_trim`` (False elsewhere: macOS, Windows, musl)."""
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                trim = libc.malloc_trim
                trim.argtypes = [ctypes.c_size_t]
                trim.restype = ctypes.c_int
                _TRIM = trim
            except (OSError, AttributeError):  # pragma: no cover - not glibc
                _TRIM = False
    return _TRIM


def release_unused() -> None:
    """Return the allocators' free pages to the operating system (no-op where unsupported)."""
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        try:
            pa.default_memory_pool().release_unused()
        except Exception:  # pragma: no cover - an Arrow build without it
            pass
    trim = _malloc_trim()
    if trim:
        trim(0)
