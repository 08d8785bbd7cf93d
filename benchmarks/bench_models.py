"""Model-fitting benchmark: clvlab's purchase models vs lifetimes 0.11.3, one run.

Data, per model: ``--n`` customers (default 1,000,000) drawn exactly from the model's own
story (its ``_simulate`` hook) at the CDNOW estimates in weeks, first purchases spread over
12 weeks and observed for 39 weeks, with ages on a daily grid as ``clvlab.rfm_summary``
produces them from dated transactions (T in whole days, recency floored to the day).
Each library fits the same frequency/recency/T arrays (lifetimes without weights, its
documented usage).

lifetimes' Pareto/NBD fit (Nelder-Mead over scipy's ``hyp2f1`` on every row) takes many
minutes at 1M customers, so by default lifetimes fits a random subsample of
``lifetimes_n`` customers for that model; clvlab then also fits the same subsample, and two
ratios are reported: like for like on the subsample, and clvlab's 1M fit against
lifetimes' subsample time scaled linearly to 1M (its cost per likelihood evaluation is
linear in the rows; the number of evaluations does not grow with them). ``--lifetimes-full``
runs lifetimes on all customers instead, in a subprocess stopped after ``--timeout`` s.

Every fit runs ``--repeat`` times (default 3), clvlab and lifetimes alternating, so each
ratio compares timings taken side by side; figures are min / median / max over the runs.
Timings are wall-clock (``time.perf_counter``) without tracing; peak memory is the
tracemalloc peak of Python/numpy allocations in one extra, traced run (clvlab only for the
slow lifetimes fits, whose traced run would take as long again: ``--trace-lifetimes``).

Adding a model is one entry in :data:`MODELS`.

Usage::

    python benchmarks/bench_models.py                  # BG/NBD, Pareto/NBD, MBG/NBD at 1M
    python benchmarks/bench_models.py --models pnbd --n 200000 --repeat 5 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import clvlab
from clvlab.models.registry import get_model_class


@dataclass(frozen=True)
class Entry:
    """One model to benchmark."""

    key: str  #: clvlab registry key
    params: tuple[float, ...]  #: the model's parameters used to simulate (CDNOW, weeks)
    source: str  #: where the parameters come from
    lifetimes: str  #: lifetimes fitter class name
    lifetimes_n: int | None = None  #: customers lifetimes fits (None: all)


MODELS: dict[str, Entry] = {
    "bgnbd": Entry("bgnbd", (0.2426, 4.4135, 0.7929, 2.4258), "FHL (2005), Table 2",
                   "BetaGeoFitter"),
    "pnbd": Entry("pnbd", (0.553, 10.578, 0.606, 11.669), "FHL (2005b), Table 2",
                  "ParetoNBDFitter", lifetimes_n=100_000),
    "mbgnbd": Entry("mbgnbd", (0.525, 6.183, 0.891, 1.614), "BTYDplus, CDNOW",
                    "ModifiedBetaGeoFitter"),
}


def make_data(entry: Entry, n: int, seed: int) -> pd.DataFrame:
    """RFM triples from the model's story, ages on a daily grid (in weeks)."""
    rng = np.random.default_rng(seed)
    T = rng.integers(27 * 7, 39 * 7 + 1, n) / 7.0  # acquired over the first 12 weeks
    model = get_model_class(entry.key)()
    x, tx = model._simulate(np.asarray(entry.params, dtype=float), T, rng)
    rfm = pd.DataFrame({"frequency": x, "recency": np.minimum(np.floor(tx * 7) / 7, T),
                        "T": T}, index=pd.Index(np.arange(n).astype(str), name="customer_id"))
    rfm.attrs["time_unit"] = "W"
    return rfm


def wall(func: Callable[[], Any]) -> tuple[float, Any]:
    """(wall time in s, result) of one untraced call."""
    gc.collect()
    t0 = time.perf_counter()
    result = func()
    return time.perf_counter() - t0, result


def traced_peak(func: Callable[[], Any]) -> float:
    """tracemalloc peak in MiB of one call."""
    gc.collect()
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def spread(values: list[float]) -> dict[str, float]:
    """min / median / max."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def lifetimes_fit(name: str, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> Any:
    """Fit lifetimes' ``name`` on the arrays (warnings silenced)."""
    import lifetimes

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return getattr(lifetimes, name)().fit(x, tx, T)


def _child(name: str, arrays: tuple[np.ndarray, ...], queue: Any) -> None:
    t, model = wall(lambda: lifetimes_fit(name, *arrays))
    queue.put((t, model.params_.to_dict()))


def lifetimes_fit_with_timeout(name: str, arrays: tuple[np.ndarray, ...],
                               timeout: float) -> tuple[float | None, dict[str, float] | None]:
    """One lifetimes fit in a subprocess; ``(None, None)`` if it exceeds ``timeout`` s."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, arrays, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None, None
    return queue.get()


def bench_model(entry: Entry, args: argparse.Namespace) -> dict[str, Any]:
    """Fit clvlab and lifetimes ``args.repeat`` times each on the same data."""
    rfm = make_data(entry, args.n, args.seed)
    cls = get_model_class(entry.key)
    out: dict[str, Any] = {
        "model": cls._model_name, "params_simulated": dict(zip(cls._param_names, entry.params,
                                                                strict=True)),
        "params_source": entry.source,
        "distinct_rows": int(len(rfm.drop_duplicates(["frequency", "recency", "T"]))),
    }
    lt_n = None if args.lifetimes_full else entry.lifetimes_n
    if lt_n is not None and lt_n < args.n:
        pick = np.sort(np.random.default_rng(args.seed + 1).choice(args.n, lt_n, replace=False))
        sub = rfm.iloc[pick]
        sub.attrs["time_unit"] = "W"
    else:
        sub, lt_n = rfm, args.n
    sub_arrays = tuple(sub[c].to_numpy() for c in ("frequency", "recency", "T"))
    out["lifetimes_customers"] = lt_n

    ours, ours_sub, theirs = [], [], []
    model = None
    for i in range(args.repeat):
        t, model = wall(lambda: cls().fit(rfm))
        ours.append(t)
        if lt_n < args.n:
            ours_sub.append(wall(lambda: cls().fit(sub))[0])
        if args.skip_lifetimes:
            continue
        if args.lifetimes_full and args.timeout:
            t_lt, lt_params = lifetimes_fit_with_timeout(entry.lifetimes, sub_arrays,
                                                         args.timeout)
            if t_lt is None:
                out["lifetimes_timeout_s"] = args.timeout
                break
        else:
            t_lt, lt_model = wall(lambda: lifetimes_fit(entry.lifetimes, *sub_arrays))
            lt_params = lt_model.params_.to_dict()
        theirs.append(t_lt)
        out["lifetimes_params"] = {k: round(float(v), 5) for k, v in lt_params.items()}
        print(f"  {entry.key} run {i + 1}: clvlab {ours[-1]:.2f} s"
              + (f" (subsample {ours_sub[-1]:.2f} s)" if ours_sub else "")
              + f", lifetimes {t_lt:.1f} s", flush=True)
    assert model is not None
    out["clvlab_params"] = {k: round(float(v), 5) for k, v in model.params_.items()}
    out["clvlab_converged"] = bool(model.converged_)
    out["clvlab_fit_s"] = spread(ours)
    out["clvlab_fit_peak_mib"] = traced_peak(lambda: cls().fit(rfm))
    if ours_sub:
        out["clvlab_subsample_fit_s"] = spread(ours_sub)
        out["clvlab_subsample_params"] = {
            k: round(float(v), 5) for k, v in cls().fit(sub).params_.items()}
    if theirs:
        out["lifetimes_fit_s"] = spread(theirs)
        if args.trace_lifetimes:
            out["lifetimes_fit_peak_mib"] = traced_peak(
                lambda: lifetimes_fit(entry.lifetimes, *sub_arrays))
        pairs = list(zip(theirs, ours_sub or ours, strict=False))
        ratios = [lt / cl for lt, cl in pairs]
        out["ratio_same_data"] = spread(ratios)
        if lt_n < args.n:
            scale = args.n / lt_n
            out["ratio_at_full_n_lifetimes_scaled"] = spread(
                [lt * scale / cl for lt, cl in zip(theirs, ours, strict=False)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--lifetimes-full", action="store_true",
                        help="lifetimes fits all customers (Pareto/NBD: very slow)")
    parser.add_argument("--timeout", type=float, default=0.0,
                        help="with --lifetimes-full: stop a lifetimes fit after this many s")
    parser.add_argument("--trace-lifetimes", action="store_true",
                        help="also measure lifetimes' peak memory (one more fit each)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import lifetimes
    import scipy

    result: dict[str, Any] = {
        "n_customers": args.n,
        "repeat": args.repeat,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, load average "
                   f"{os.getloadavg()[0]:.1f} at start, Python {platform.python_version()}, "
                   f"numpy {np.__version__}, scipy {scipy.__version__}",
        "lifetimes": lifetimes.__version__,
        "clvlab": clvlab.__version__,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "models": {},
    }
    for key in args.models:
        print(f"{key} ...", flush=True)
        result["models"][key] = bench_model(MODELS[key], args)
    result["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2, default=float))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
