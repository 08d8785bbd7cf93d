"""Process set-up for the console script: a calmer garbage collector, a quicker exit.

Two costs of ``clvlab run`` at a million customers are the interpreter's, not the
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

Neither changes a result; both are for the console script only (a library does not own the
process's collector). ``benchmarks/bench_pipeline.py`` measures ``clvlab run`` with them.
"""

from __future__ import annotations

import gc

__all__ = ["before_exit", "calm_gc"]

#: A young collection every 20,000 net new containers (700 by default), an older generation
#: collected after 20 collections of the younger (10).
_THRESHOLDS = (20_000, 20, 20)


def calm_gc() -> None:
    """Collect garbage cycles less often (see the module docstring)."""
    gc.set_threshold(*_THRESHOLDS)


def before_exit() -> None:
    """Spare the interpreter's last collection of cycles at exit (see the module docstring)."""
    gc.freeze()
