"""Degenerate fits: CLV on a 1,000-customer log without churn, clvlab vs lifetimes, one run.

Issue 12: a small, valid log with no sign of churn drove BG/NBD to a boundary estimate
(a ~ 8e8, b ~ 1e10); ``customer_lifetime_value`` then took 52 s and returned NaN for every
customer. This script builds such a log (``--n`` customers buying at steady rates of their
own until the end of observation, one year, daily dates), loads it with
``load_transactions``, fits BG/NBD and Gamma-Gamma, and times:

* the fit (which now warns ``DegenerateFitWarning``: no churn, the NBD limit);
* ``customer_lifetime_value`` (52 weeks, 10 % a year) at the fitted estimate;
* the same CLV at the issue's boundary estimate (r=2.2, alpha=3.4, a=8e8, b=1e10);
* lifetimes' ``conditional_expected_number_of_purchases_up_to_time(52)`` at both
  estimates (its CLV calls it once per month), with its count of NaN.

Wall-clock (``time.perf_counter``), best of ``--repeat`` with the spread (min-max).

Usage::

    python benchmarks/bench_degenerate.py --repeat 7
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

import clvlab

BOUNDARY = {"r": 2.2, "alpha": 3.4, "a": 8e8, "b": 1e10}


def make_log(n: int, seed: int) -> pd.DataFrame:
    """Transactions of ``n`` customers who never leave: Poisson purchases to the end."""
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp("2023-01-01"), pd.Timestamp("2023-12-31")
    first = start + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    rate = rng.gamma(2.0, 1 / 20.0, n)  # purchases per day
    ids, offsets = [], []
    for i in range(n):
        span = (end - first[i]).days
        days = np.sort(rng.integers(0, span + 1, rng.poisson(rate[i] * span)))
        ids += [f"c{i}"] * (days.size + 1)
        offsets.append(np.concatenate([[0], days]) + (first[i] - start).days)
    dates = start + pd.to_timedelta(np.concatenate(offsets), unit="D")
    return pd.DataFrame({"customer_id": ids, "date": dates,
                         "amount": np.round(rng.gamma(5.0, 4.0, len(ids)), 2)})


def best_of(func, repeat: int) -> tuple[float, float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return min(times), min(times), max(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    raw = make_log(args.n, args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.DataQualityWarning)
        tx = clvlab.load_transactions(raw)
    rfm = clvlab.rfm_summary(tx, time_unit="W")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        bg = clvlab.BetaGeoFitter().fit(rfm)
        fit_s = time.perf_counter() - t0
        gg = clvlab.GammaGammaFitter().fit(rfm)
    rate = clvlab.per_period_rate(0.10, "W")
    out: dict[str, object] = {
        "customers": len(rfm), "transactions": len(tx), "fit_s": fit_s,
        "bgnbd": {k: float(v) for k, v in bg.params_.items()},
        "warnings": sorted({w.category.__name__ for w in caught}),
    }

    def clv_at(model):
        return clvlab.customer_lifetime_value(model, gg, rfm, horizon=52, discount_rate=rate)

    boundary = clvlab.BetaGeoFitter()
    boundary.params_ = pd.Series(BOUNDARY)
    boundary.time_unit_ = "W"
    for label, model in (("fitted", bg), ("boundary", boundary)):
        best, lo, hi, clv = best_of(lambda m=model: clv_at(m), args.repeat)
        out[f"clv_{label}"] = {"best_s": best, "min_s": lo, "max_s": hi,
                               "n_nan": int(np.isnan(clv).sum()), "total": float(clv.sum())}
    try:
        from lifetimes import BetaGeoFitter as LtBG
    except ImportError:  # lifetimes is the test oracle, not a dependency
        LtBG = None
    if LtBG is not None:
        f, r, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
        for label, params in (("fitted", bg.params_), ("boundary", pd.Series(BOUNDARY))):
            lt = LtBG()
            lt.params_ = pd.Series({k: float(params[k]) for k in ("r", "alpha", "a", "b")})
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                best, lo, hi, e = best_of(
                    lambda m=lt: m.conditional_expected_number_of_purchases_up_to_time(
                        52, f, r, T), args.repeat)
            out[f"lifetimes_E52_{label}"] = {"best_s": best, "min_s": lo, "max_s": hi,
                                             "n_nan": int(np.isnan(np.asarray(e)).sum())}
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
