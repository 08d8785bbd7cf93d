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

__all__ = ["release_unused", "step_memory"]

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


def step_memory() -> tuple[float, float] | None:
    """Return (peak, current) resident MiB since the last call, and reset the peak.

    Linux only (``/proc/self/status``; the peak is reset through ``/proc/self/clear_refs``);
    None elsewhere. Used by ``clvlab run`` when ``CLVLAB_STEP_MEMORY=1`` to print each
    step's peak, which is how the benchmarks find the step that sets the run's peak.
    Resetting the peak also resets what ``getrusage`` and ``/usr/bin/time`` report as the
    process's maximum, so measure a whole run's peak without it.
    """
    try:
        with open("/proc/self/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        peak = int(fields["VmHWM"].split()[0]) / 1024
        now = int(fields["VmRSS"].split()[0]) / 1024
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except (OSError, KeyError, ValueError):
        return None
    return peak, now
