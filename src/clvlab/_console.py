"""The ``clvlab`` console script: the process set up before the libraries load, then the CLI.

Three costs of ``clvlab run`` at a million customers are the process's, not the
pipeline's:

* **Garbage collection.** The pipeline keeps its data in a few large arrays, but the
  libraries create some 200,000 long-lived Python objects (modules, classes, functions),
  and each full collection walks all of them: at the default thresholds a run makes about
  six full collections and 800 in all, 0.7 s of the main thread. :func:`calm_gc` raises
  the thresholds (one full collection, 0.2 s); cycles are still collected, less often, and
  everything reference counting frees is freed at once as before.
* **Exit.** On the way out the interpreter collects cycles once more while it tears down
  the modules: 0.6 s of one core at the end of every command, even on the bundled data.
  :func:`before_exit` freezes the objects alive then (:func:`gc.freeze`), so that pass has
  nothing to walk; the process's memory goes back to the system at exit in any case.

* **Memory arenas.** glibc gives each thread that allocates its own heap ("arena"), and
  memory freed in one arena is not reused by another: with the writer, deflate and
  prefetch threads of ``clvlab run`` beside the main one, the freed pages of four heaps
  stay resident. :func:`one_malloc_arena` makes every thread share the main heap (glibc's
  ``M_ARENA_MAX = 1``, what ``MALLOC_ARENA_MAX=1`` does): the run's peak at a million
  customers falls by about 70 MiB at the same speed, because its large arrays bypass the
  heap lock (they are mapped directly) and its threads spend their time in numpy, Arrow
  and zlib, not in malloc.

None of these changes a result; all are for the console script only (a library does not own the
process's collector). ``benchmarks/bench_pipeline.py`` measures ``clvlab run`` with them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

__all__ = ["before_exit", "calm_gc", "main", "one_malloc_arena"]

#: glibc's ``mallopt`` parameter number of ``M_ARENA_MAX`` (malloc.h).
_M_ARENA_MAX = -8

#: A young collection every 20,000 net new containers (700 by default), an older generation
#: collected after 20 collections of the younger (10).
_THRESHOLDS = (20_000, 20, 20)


def calm_gc() -> None:
    """Collect garbage cycles less often (see the module docstring)."""
    gc.set_threshold(*_THRESHOLDS)


def before_exit() -> None:
    """Spare the interpreter's last collection of cycles at exit (see the module docstring)."""
    gc.freeze()


def one_malloc_arena() -> bool:
    """Make every thread allocate from glibc's main heap (see the module docstring).

    Call before starting threads. Returns True where it applied (glibc), else False
    (macOS, Windows, musl: nothing to do).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1))


def main() -> None:
    """Entry point of the ``clvlab`` console script and of ``python -m clvlab``.

    For ``clvlab run`` every thread shares one malloc heap and cycles are collected less
    often; for every command the last full collection at exit is skipped. Then
    :func:`clvlab.cli.main` runs the command.
    """
    if sys.argv[1:2] == ["run"]:
        one_malloc_arena()  # before numpy's import starts its threads
        calm_gc()
    try:
        from clvlab.cli import main as cli_main

        cli_main()
    finally:
        before_exit()
