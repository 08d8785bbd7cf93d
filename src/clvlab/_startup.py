"""Process set-up for long command-line runs (``clvlab run``): warm imports, a calmer GC.

Two costs of a run at a million customers are the interpreter's, not the pipeline's:

* **Imports.** The steps after the fits need scipy.stats (the models' heterogeneity
  distributions), matplotlib, fpdf2, openpyxl and jinja2: about 1 s of one core, paid in
  the middle of the run on the thread that builds the report. :func:`warm_up` imports
  them on a second thread while the main thread reads the log and builds the RFM summary
  (work done mostly in Arrow and numpy, which release the GIL). Python's import lock makes
  this safe: a step that needs a module still being imported waits for it; a module that
  fails to import here is imported again by the step that needs it, which reports the
  error as usual.
* **Garbage collection.** The pipeline keeps its data in a few large arrays, but the
  libraries create some 200,000 long-lived Python objects (modules, classes, functions),
  and each full collection walks all of them: six full collections cost about 0.5 s of
  the main thread. :func:`calm_gc` raises the collection thresholds, and :func:`warm_up`
  ends by moving the objects alive then -- mostly the imported libraries -- out of the
  collector's reach (:func:`gc.freeze`). Nothing is left uncollected that reference
  counting would free, and cycles are still collected, less often.

* **Exit.** On the way out the interpreter collects cycles once more while it tears down
  the modules: 0.6 s of one core at the end of every command, even on the bundled data.
  :func:`before_exit` freezes the objects alive then; the process's memory is returned
  to the system at exit in any case.

None of these changes a result; all three are for the console script only (a library
does not own the process's collector). ``benchmarks/bench_pipeline.py`` measures the effect.
"""

from __future__ import annotations

import gc
import importlib
import threading

__all__ = ["LATER_MODULES", "before_exit", "calm_gc", "warm_up"]

#: Modules that ``clvlab run`` imports after the fits (report, spreadsheet, PDF), in order.
LATER_MODULES: tuple[str, ...] = (
    "scipy.stats",
    "clvlab.evaluation",
    "clvlab.comparison",
    "clvlab.intervals",
    "clvlab.scoring",
    "clvlab.export",
    "openpyxl",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "clvlab.plotting",
    "jinja2",
    "clvlab.reporting",
    "fpdf",
)

#: Generation-0 threshold: a young collection every 20,000 net new containers (700 by
#: default), and an older generation collected after 20 collections of the younger (10).
_THRESHOLDS = (20_000, 20, 20)


def calm_gc() -> None:
    """Collect garbage cycles less often (see the module docstring)."""
    gc.set_threshold(*_THRESHOLDS)


def warm_up(modules: tuple[str, ...] = LATER_MODULES) -> threading.Thread:
    """Import ``modules`` on a daemon thread, then freeze the objects alive; return the thread.

    Parameters
    ----------
    modules : tuple of str
        Module names, imported in order. Errors are ignored here (the step that needs the
        module imports it again and reports them).

    Returns
    -------
    threading.Thread
        The started thread (joining it is optional).
    """

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: S112 - the step that needs it reports the error
                continue
        gc.freeze()

    thread = threading.Thread(target=work, name="clvlab-imports", daemon=True)
    thread.start()
    return thread


def before_exit() -> None:
    """Spare the interpreter's last collection of cycles at exit (see the module docstring)."""
    gc.freeze()
