"""BG/BB benchmark: clvlab vs lifetimes 0.11.3 on the same data, one run.

Data: (1) the donations data of Fader, Hardie & Shang (2010) from lifetimes' copy (22
distinct histories with weights standing for 11,104 donors, 6 opportunities); (2) ``--n``
customers (default 100,000) drawn exactly from the BG/BB story at the paper's estimates
with 1-52 weekly opportunities each (weights: every customer once, as a raw summary is
used). Both libraries fit the same frequency/recency/n arrays and predict
E[X(n, n+10]] and P(alive in n+1) for every customer at clvlab's estimates.

Each step runs ``--repeat`` times (default 5), clvlab and lifetimes alternating; the
figures are min / median / max wall-clock seconds (``time.perf_counter``).

Usage::

    python benchmarks/bench_bgbb.py                      # donations + 100,000 simulated
    python benchmarks/bench_bgbb.py --n 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvlab.models.beta_geo_beta_binom import BetaGeoBetaBinomFitter, simulate_bgbb_rfm

PAPER = [1.204, 0.750, 0.657, 2.783]


def wall(func: Callable[[], Any]) -> float:
    """Wall time of one call, in seconds."""
    gc.collect()
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def spread(times: list[float]) -> str:
    """``min / median / max`` in seconds."""
    return f"{min(times):.4f} / {statistics.median(times):.4f} / {max(times):.4f}"


def run(label: str, f: np.ndarray, r: np.ndarray, n: np.ndarray, w: np.ndarray,
        repeat: int) -> None:
    """Time fit and predictions of both libraries on one data set and print a table."""
    import lifetimes

    frame = pd.DataFrame({"frequency": f, "recency": r, "T": n},
                         index=pd.RangeIndex(len(f), name="customer_id"))
    frame.attrs["time_unit"] = "W"
    ours = BetaGeoBetaBinomFitter().fit(frame, weights=w)
    theirs = lifetimes.BetaGeoBetaBinomFitter()
    theirs.params_ = pd.Series(ours.params_.to_numpy(), index=ours.params_.index)
    steps: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "fit": (lambda: BetaGeoBetaBinomFitter().fit(frame, weights=w),
                lambda: lifetimes.BetaGeoBetaBinomFitter().fit(f, r, n, w)),
        "E[X(n, n+10)]": (lambda: ours.expected_purchases(frame, t=10),
                          lambda: theirs.conditional_expected_number_of_purchases_up_to_time(
                              10, f, r, n)),
        "P(alive n+1)": (lambda: ours.probability_alive(frame),
                         lambda: theirs.conditional_probability_alive(1, f, r, n)),
    }
    print(f"\n{label}: {len(f):,} rows, {int(w.sum()):,} customers")
    print(f"{'step':<16} {'clvlab s (min/med/max)':<28} {'lifetimes s':<28} ratio (median)")
    for name, (mine, other) in steps.items():
        a, b, failed = [], [], ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(repeat):
                a.append(wall(mine))
                try:
                    b.append(wall(other))
                except Exception as exc:  # noqa: BLE001 - report lifetimes' failure, go on
                    failed = f"failed ({type(exc).__name__})"
        if failed:
            print(f"{name:<16} {spread(a):<28} {failed}")
            continue
        ratio = statistics.median(b) / statistics.median(a)
        print(f"{name:<16} {spread(a):<28} {spread(b):<28} {ratio:.1f}x")
    print("estimates clvlab   ", np.round(ours.params_.to_numpy(), 5), "LL",
          round(ours.log_likelihood_, 3))
    try:
        lt = lifetimes.BetaGeoBetaBinomFitter().fit(f, r, n, w)
        print("estimates lifetimes", np.round(lt.params_.to_numpy(), 5))
    except Exception as exc:  # noqa: BLE001
        print(f"lifetimes' fit failed: {type(exc).__name__}: {str(exc).strip()[:80]}")


def main() -> None:
    """Parse arguments and run both data sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import lifetimes

    d = pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")
    run("donations (FHS 2010)", *(d[c].to_numpy(dtype=float) for c in (
        "frequency", "recency", "periods", "weights")), repeat=args.repeat)
    rng = np.random.default_rng(args.seed)
    periods = rng.integers(1, 53, args.n).astype(float)
    sim = simulate_bgbb_rfm(PAPER, periods, random_state=rng)
    run(f"simulated, 1-52 weekly opportunities (seed {args.seed})",
        sim["frequency"].to_numpy(), sim["recency"].to_numpy(), sim["T"].to_numpy(),
        np.ones(args.n), repeat=args.repeat)


if __name__ == "__main__":
    main()
