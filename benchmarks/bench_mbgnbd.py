"""MBG/NBD benchmark: clvlab vs lifetimes 0.11.3 on the same simulated customers, one run.

Data: ``--n`` customers (default 1,000,000) drawn exactly from the MBG/NBD story at the
CDNOW estimates (r=0.525, alpha=6.183, a=0.891, b=1.614, weeks), first purchases spread
over 12 weeks and observed for 39 weeks, with ages rounded to whole days as
``clvlab.rfm_summary`` produces them from dated transactions. Both libraries fit the same
frequency/recency/T arrays (lifetimes without weights, its documented usage) and predict
E[X(52) | history] and P(alive) for every customer at clvlab's estimates.

Each fit runs ``--repeat`` times (default 3), clvlab and lifetimes alternating, so every
ratio compares timings taken side by side; the figures are min / median / max over the
runs. Timings are wall-clock (``time.perf_counter``) without tracing; peak memory is the
tracemalloc peak of Python/numpy allocations in one extra, traced run of each step.

Usage::

    python benchmarks/bench_mbgnbd.py                # 1M customers, 3 runs, ~3 min
    python benchmarks/bench_mbgnbd.py --n 200000 --skip-lifetimes-fit --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import clvlab
from clvlab.models.modified_beta_geo import simulate_mbgnbd_rfm

CDNOW_PARAMS = np.array([0.525, 6.183, 0.891, 1.614])
NAMES = ["r", "alpha", "a", "b"]


def make_data(n: int, seed: int) -> pd.DataFrame:
    """RFM triples from the MBG/NBD story, ages on a daily grid (in weeks)."""
    rng = np.random.default_rng(seed)
    T_days = rng.integers(27 * 7, 39 * 7 + 1, n)  # acquired over the first 12 weeks
    rfm = simulate_mbgnbd_rfm(CDNOW_PARAMS, T_days / 7.0, random_state=rng, time_unit="W")
    # purchase ages are recorded per day, like rfm_summary(merge_period="D")
    rfm["recency"] = np.minimum(np.floor(rfm["recency"].to_numpy() * 7) / 7, rfm["T"])
    rfm.index = pd.Index(np.arange(n).astype(str), name="customer_id")
    return rfm


def wall(func: Callable[[], Any]) -> tuple[float, Any]:
    """(wall time in s, result) of one untraced call."""
    gc.collect()
    t0 = time.perf_counter()
    result = func()
    return time.perf_counter() - t0, result


def peak_mib(func: Callable[[], Any]) -> float:
    """tracemalloc peak (MiB) of one call."""
    gc.collect()
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def spread(values: list[float]) -> dict[str, float]:
    """min / median / max of a list of timings."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-lifetimes-fit", action="store_true")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import lifetimes

    rfm = make_data(args.n, args.seed)
    f, r, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    out: dict[str, Any] = {
        "n_customers": args.n,
        "distinct_rows": int(len(rfm.drop_duplicates(["frequency", "recency", "T"]))),
        "one_time_buyers": int((f == 0).sum()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "lifetimes": lifetimes.__version__,
        "clvlab": clvlab.__version__,
        "repeat": args.repeat,
    }

    def fit_ours() -> clvlab.ModifiedBetaGeoFitter:
        return clvlab.ModifiedBetaGeoFitter().fit(rfm)

    def fit_theirs() -> Any:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return lifetimes.ModifiedBetaGeoFitter().fit(f, r, T)

    # -- fits, alternating -------------------------------------------------------------
    ours_s: list[float] = []
    theirs_s: list[float] = []
    mbg = lt_fit = None
    for _ in range(args.repeat):
        t, mbg = wall(fit_ours)
        ours_s.append(t)
        if not args.skip_lifetimes_fit:
            t, lt_fit = wall(fit_theirs)
            theirs_s.append(t)
    assert mbg is not None
    out["clvlab_fit"] = {
        "seconds": spread(ours_s), "runs_s": ours_s, "peak_mib": peak_mib(fit_ours),
        "params": mbg.params_.round(5).to_dict(), "converged": mbg.converged_,
        "log_likelihood": mbg.log_likelihood_,
    }
    if lt_fit is not None:
        out["lifetimes_fit"] = {
            "seconds": spread(theirs_s), "runs_s": theirs_s, "peak_mib": peak_mib(fit_theirs),
            "params": lt_fit.params_[NAMES].round(5).to_dict(),
            "max_rel_param_diff": float(np.max(np.abs(
                mbg.params_[NAMES].to_numpy() / lt_fit.params_[NAMES].to_numpy() - 1))),
        }
        per_run = [b / a for a, b in zip(ours_s, theirs_s, strict=True)]
        out["fit_speedup"] = {**spread(per_run), "per_run": per_run}

    # -- predictions at the same parameters --------------------------------------------
    lt = lifetimes.ModifiedBetaGeoFitter()
    lt.params_ = mbg.params_[NAMES].copy()
    steps: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "expected_purchases": (
            lambda: mbg.expected_purchases(rfm, 52.0),
            lambda: lt.conditional_expected_number_of_purchases_up_to_time(52.0, f, r, T),
        ),
        "probability_alive": (
            lambda: mbg.probability_alive(rfm),
            lambda: lt.conditional_probability_alive(f, r, T),
        ),
    }
    results: dict[str, tuple[Any, Any]] = {}
    for name, (ours_fn, theirs_fn) in steps.items():
        a_s, b_s = [], []
        for _ in range(args.repeat):
            t, res_ours = wall(ours_fn)
            a_s.append(t)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                t, res_theirs = wall(theirs_fn)
            b_s.append(t)
        results[name] = (res_ours, res_theirs)
        out[name] = {
            "clvlab_s": spread(a_s), "lifetimes_s": spread(b_s),
            "speedup": spread([b / a for a, b in zip(a_s, b_s, strict=True)]),
            "clvlab_peak_mib": peak_mib(ours_fn),
        }
    e_ours, e_lt = results["expected_purchases"]
    p_ours, p_lt = results["probability_alive"]
    finite = np.isfinite(e_lt)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(e_ours.to_numpy()[finite] / e_lt[finite] - 1)
    out["agreement"] = {
        "expected_purchases_max_rel_diff": float(np.nanmax(rel)),
        "lifetimes_non_finite": int((~finite).sum()),
        "probability_alive_max_abs_diff": float(np.max(np.abs(p_ours.to_numpy() - p_lt))),
        "one_time_buyers_mean_p_alive": float(p_ours.to_numpy()[f == 0].mean()),
    }

    print(json.dumps(out, indent=2, default=float))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
