"""A lifetimes notebook run twice in one process: with lifetimes and with clvlab.compat.lifetimes.

The same code -- only the module differs -- runs the usual lifetimes workflow on one
transaction log: ``summary_data_from_transaction_data`` (days / 7: weeks, as in the BTYD
walkthrough), ``BetaGeoFitter().fit``,
``GammaGammaFitter().fit`` on the repeat buyers,
``conditional_expected_number_of_purchases_up_to_time(52, ...)``,
``conditional_probability_alive``, ``customer_lifetime_value(..., time=12, freq="W")`` and
``expected_cumulative_transactions`` over the 78 weeks.

Data sets (``--data``): ``cdnow-sample`` (2,357 customers, 6,919 transactions),
``cdnow`` (CDNOW_master: 23,570 customers, 69,659 transactions), ``simulated``
(``clvlab.simulate_transactions(--n)``: BG/NBD + Gamma-Gamma at the CDNOW estimates, 78
weeks). Each step is timed with ``time.perf_counter``; the whole workload runs
``--repeat`` times, alternating which library goes first, and the table gives the median
and the range. The script also checks that the two libraries agree.

Usage::

    python benchmarks/bench_compat_lifetimes.py --data cdnow --repeat 5
    python benchmarks/bench_compat_lifetimes.py --data simulated --n 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import clvlab

STEPS = ("summary", "fit BG/NBD", "fit Gamma-Gamma", "expected purchases (52 w)",
         "P(alive)", "CLV (12 months)", "tracking (78 w)")


def load_log(name: str, n: int, seed: int) -> pd.DataFrame:
    """Transactions with lifetimes' usual columns: customer_id (int), date, amount."""
    if name == "simulated":
        tx = clvlab.simulate_transactions(n, random_state=seed)
        ids = pd.factorize(tx["customer_id"])[0]
        return pd.DataFrame({"customer_id": ids, "date": tx["date"].dt.normalize(),
                             "amount": tx["amount"]})
    tx = clvlab.datasets.load_cdnow(sample=name == "cdnow-sample")
    return pd.DataFrame({"customer_id": tx["customer_id"].astype(np.int64),
                         "date": tx["date"], "amount": tx["amount"]})


def workload(lib: Any, log: pd.DataFrame, end: str, t_track: int) -> tuple[dict[str, float],
                                                                            dict[str, Any]]:
    """Run the notebook with module ``lib``; return step times and the results."""
    times: dict[str, float] = {}
    out: dict[str, Any] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        value = fn()
        times[name] = time.perf_counter() - t0
        return value

    summary = step("summary", lambda: lib.utils.summary_data_from_transaction_data(
        log, "customer_id", "date", monetary_value_col="amount", observation_period_end=end,
        freq="D", freq_multiplier=7))
    f, r, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    bgf = step("fit BG/NBD", lambda: lib.BetaGeoFitter().fit(f, r, T))
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = step("fit Gamma-Gamma", lambda: lib.GammaGammaFitter().fit(
        repeat["frequency"], repeat["monetary_value"]))
    out["expected"] = step("expected purchases (52 w)",
                           lambda: bgf.conditional_expected_number_of_purchases_up_to_time(
                               52, f, r, T))
    out["alive"] = step("P(alive)", lambda: bgf.conditional_probability_alive(f, r, T))
    out["clv"] = step("CLV (12 months)", lambda: ggf.customer_lifetime_value(
        bgf, f, r, T, m, time=12, discount_rate=0.01, freq="W"))
    out["tracking"] = step("tracking (78 w)", lambda: lib.utils.expected_cumulative_transactions(
        bgf, log, "date", "customer_id", t_track, freq="D", freq_multiplier=7))
    out["summary"], out["bg"], out["gg"] = summary, bgf.params_, ggf.params_
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("cdnow-sample", "cdnow", "simulated"),
                        default="cdnow")
    parser.add_argument("--n", type=int, default=100_000, help="customers when simulated")
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import lifetimes
    import lifetimes.utils  # noqa: F401 - as a notebook would

    from clvlab.compat import lifetimes as compat

    log = load_log(args.data, args.n, args.seed)
    end = "1997-09-30" if args.data != "simulated" else str(
        (log["date"].min() + pd.Timedelta(weeks=39)).date())
    t_track = 78 * 7  # days, reported weekly (freq_multiplier=7)
    runs: dict[str, list[dict[str, float]]] = {"lifetimes": [], "compat": []}
    results: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(args.repeat):
            order = [("lifetimes", lifetimes), ("compat", compat)]
            for name, lib in order if i % 2 == 0 else order[::-1]:
                times, results[name] = workload(lib, log, end, t_track)
                runs[name].append(times)

    ours, theirs = results["compat"], results["lifetimes"]
    agreement = {
        "summary_same_ids": bool(ours["summary"].index.equals(theirs["summary"].index)),
        "summary_max_abs_diff": float((ours["summary"] - theirs["summary"]).abs().max().max()),
        "bg_params_max_rel_diff": float(np.max(np.abs(ours["bg"] / theirs["bg"] - 1))),
        "gg_params_max_rel_diff": float(np.max(np.abs(ours["gg"] / theirs["gg"] - 1))),
        "expected_max_rel_diff": float(np.nanmax(np.abs(ours["expected"] / theirs["expected"]
                                                        - 1))),
        "clv_max_rel_diff": float(np.nanmax(np.abs(ours["clv"] / theirs["clv"] - 1))),
        "tracking_actual_equal": bool((ours["tracking"]["actual"]
                                       == theirs["tracking"]["actual"]).all()),
        "lifetimes_nan_predictions": int(np.isnan(np.asarray(theirs["expected"])).sum()),
    }
    table = []
    for s in STEPS:
        a = [run[s] for run in runs["lifetimes"]]
        b = [run[s] for run in runs["compat"]]
        table.append({"step": s, "lifetimes_median_s": statistics.median(a),
                      "lifetimes_range_s": [min(a), max(a)],
                      "compat_median_s": statistics.median(b), "compat_range_s": [min(b), max(b)],
                      "ratio_of_medians": statistics.median(a) / statistics.median(b)})
    total_a = [sum(run.values()) for run in runs["lifetimes"]]
    total_b = [sum(run.values()) for run in runs["compat"]]
    table.append({"step": "whole notebook", "lifetimes_median_s": statistics.median(total_a),
                  "lifetimes_range_s": [min(total_a), max(total_a)],
                  "compat_median_s": statistics.median(total_b),
                  "compat_range_s": [min(total_b), max(total_b)],
                  "ratio_of_medians": statistics.median(total_a) / statistics.median(total_b)})
    report = {
        "data": args.data, "customers": int(log["customer_id"].nunique()),
        "transactions": len(log), "repeat": args.repeat,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                   f"{platform.python_version()}, numpy {np.__version__}, pandas "
                   f"{pd.__version__}",
        "lifetimes": lifetimes.__version__, "clvlab": clvlab.__version__,
        "agreement": agreement, "steps": table,
    }
    print(f"{args.data}: {report['customers']:,} customers, {report['transactions']:,} "
          f"transactions, {args.repeat} runs ({report['machine']})")
    print(f"{'step':28s} {'lifetimes (median, range)':>30s} {'compat':>28s} {'ratio':>7s}")
    for row in table:
        la, lb = row["lifetimes_range_s"]
        ca, cb = row["compat_range_s"]
        print(f"{row['step']:28s} {row['lifetimes_median_s']:8.3f} s ({la:.3f}-{lb:.3f})"
              f"     {row['compat_median_s']:8.3f} s ({ca:.3f}-{cb:.3f}) "
              f"{row['ratio_of_medians']:6.1f}x")
    print(json.dumps(agreement, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
