"""BG/NBD benchmark: clvlab vs lifetimes 0.11.3 on the same simulated customers, one run.

Data: ``--n`` customers (default 1,000,000) drawn exactly from the BG/NBD story with the
CDNOW estimates of FHL (2005) (r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, weeks), first
purchases spread over 12 weeks and observed for 39 weeks, with ages rounded to whole days
as ``clvlab.rfm_summary`` produces them from dated transactions. Both libraries fit the
same frequency/recency/T arrays (lifetimes without weights, its documented usage) and
predict E[X(52) | history] and P(alive) for every customer.

Timings are wall-clock (``time.perf_counter``), best of ``--repeat`` for predictions;
peak memory is the tracemalloc peak of Python/numpy allocations during each step.

Usage::

    python benchmarks/bench_bgnbd.py            # 1M customers, includes the lifetimes fit
    python benchmarks/bench_bgnbd.py --n 200000 --skip-lifetimes-fit
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import clvlab
from clvlab.models.beta_geo import simulate_bgnbd_rfm

CDNOW_PARAMS = np.array([0.2426, 4.4135, 0.7929, 2.4258])


def make_data(n: int, seed: int) -> pd.DataFrame:
    """RFM triples from the BG/NBD story, ages on a daily grid (in weeks)."""
    rng = np.random.default_rng(seed)
    T_days = rng.integers(27 * 7, 39 * 7 + 1, n)  # acquired over the first 12 weeks
    rfm = simulate_bgnbd_rfm(CDNOW_PARAMS, T_days / 7.0, random_state=rng, time_unit="W")
    # purchase ages are recorded per day, like rfm_summary(merge_period="D")
    rfm["recency"] = np.minimum(np.floor(rfm["recency"].to_numpy() * 7) / 7, rfm["T"])
    rfm.index = pd.Index(np.arange(n).astype(str), name="customer_id")
    return rfm


def timed(func, repeat: int = 1):
    """(best wall time in s, tracemalloc peak in MiB of the first run, result)."""
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    result = func()
    best = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best, peak / 2**20, result


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
    out: dict[str, object] = {
        "n_customers": args.n,
        "distinct_rows": int(len(rfm.drop_duplicates(["frequency", "recency", "T"]))),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "lifetimes": lifetimes.__version__,
        "clvlab": clvlab.__version__,
    }

    # -- clvlab ------------------------------------------------------------------------
    t_fit, m_fit, bg = timed(lambda: clvlab.BetaGeoFitter().fit(rfm))
    t_e, m_e, e_ours = timed(lambda: bg.expected_purchases(rfm, 52.0), args.repeat)
    t_p, m_p, p_ours = timed(lambda: bg.probability_alive(rfm), args.repeat)
    out["clvlab"] = {
        "fit_s": t_fit, "fit_peak_mib": m_fit,
        "expected_purchases_s": t_e, "expected_purchases_peak_mib": m_e,
        "probability_alive_s": t_p, "probability_alive_peak_mib": m_p,
        "params": bg.params_.round(5).to_dict(), "converged": bg.converged_,
        "log_likelihood": bg.log_likelihood_,
    }

    # -- lifetimes ---------------------------------------------------------------------
    lt = lifetimes.BetaGeoFitter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if not args.skip_lifetimes_fit:
            t_lfit, m_lfit, _ = timed(lambda: lt.fit(f, r, T))
            out["lifetimes_fit"] = {"fit_s": t_lfit, "fit_peak_mib": m_lfit,
                                    "params": lt.params_.round(5).to_dict()}
        lt.params_ = bg.params_[["r", "alpha", "a", "b"]].copy()  # same parameters for both
        t_le, m_le, e_lt = timed(
            lambda: lt.conditional_expected_number_of_purchases_up_to_time(52.0, f, r, T),
            args.repeat)
        t_lp, m_lp, p_lt = timed(lambda: lt.conditional_probability_alive(f, r, T),
                                 args.repeat)
    out["lifetimes_predict"] = {
        "expected_purchases_s": t_le, "expected_purchases_peak_mib": m_le,
        "probability_alive_s": t_lp, "probability_alive_peak_mib": m_lp,
    }
    finite = np.isfinite(e_lt)
    out["agreement"] = {
        "expected_purchases_max_rel_diff": float(np.max(np.abs(e_ours.to_numpy()[finite]
                                                               / e_lt[finite] - 1))),
        "lifetimes_non_finite": int((~finite).sum()),
        "probability_alive_max_abs_diff": float(np.max(np.abs(p_ours.to_numpy() - p_lt))),
    }
    ratios = {
        "expected_purchases_speedup": t_le / t_e,
        "probability_alive_speedup": t_lp / t_p,
        "predictions_total_speedup": (t_le + t_lp) / (t_e + t_p),
    }
    if not args.skip_lifetimes_fit:
        ratios["fit_speedup"] = out["lifetimes_fit"]["fit_s"] / t_fit
    out["ratios"] = ratios

    print(json.dumps(out, indent=2, default=float))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
