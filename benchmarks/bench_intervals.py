"""Prediction-interval benchmark: clvlab.predict_intervals on 1,000,000 customers.

Data: ``clvlab.simulate_transactions(n, random_state=2005)`` (the BG/NBD + Gamma-Gamma
story at the CDNOW estimates, 78 weeks observed, the log ``bench_cli.py`` uses),
summarised with ``rfm_summary(time_unit="W")``; BG/NBD and Gamma-Gamma fitted on it.
Timed, each ``--repeat`` times (wall clock and process CPU time; peak = tracemalloc peak
of the call):

1. predictive intervals on purchases (``spend_model=None``), 52 weeks, level 0.8;
2. predictive intervals on purchases and CLV (10 % a year, continuous discounting);
3. confidence intervals on purchases and CLV;
4. ``score_customers`` without and with ``interval=0.8`` (what ``clvlab run`` adds).

With ``--cli`` it also runs ``clvlab run`` on the log (CSV) twice in subprocesses, with
the default ``--interval 0.8`` and with ``--interval 0``, and reports both wall times.
lifetimes has no prediction intervals, so there is nothing to compare against.

Usage::

    python benchmarks/bench_intervals.py                   # 1M customers, 3 repeats
    python benchmarks/bench_intervals.py --n 100000 --repeat 5 --json out.json
    python benchmarks/bench_intervals.py --cli             # + clvlab run with/without
    python benchmarks/bench_intervals.py --cli-only --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def timed(func: Any, repeat: int) -> dict[str, Any]:
    """Wall and CPU seconds over ``repeat`` calls (and the tracemalloc peak of the first)."""
    walls, cpus = [], []
    peak = 0
    for i in range(repeat):
        if i == 0:
            tracemalloc.start()
        w0, c0 = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        if i == 0:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return {
        "wall_min": min(walls), "wall_median": statistics.median(walls), "wall_max": max(walls),
        "cpu_min": min(cpus), "cpu_median": statistics.median(cpus), "cpu_max": max(cpus),
        "peak_mib": peak / 2**20,
    }


def run_cli(log: Path, out: Path, interval: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``clvlab run LOG --interval X`` in a subprocess."""
    cmd = [sys.executable, "-m", "clvlab", "run", str(log), "--calibration-end", "1997-09-30",
           "--observation-end", "1998-06-30", "--out", str(out), "--interval", interval,
           "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"clvlab run failed with exit code {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="also time clvlab run with/without")
    parser.add_argument("--cli-only", action="store_true", help="only time clvlab run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import clvlab
    from clvlab.clv import per_period_rate

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    tx = clvlab.simulate_transactions(args.n, random_state=args.seed)
    rfm = clvlab.rfm_summary(tx, time_unit="W")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    gg = clvlab.GammaGammaFitter().fit(rfm)
    rate = per_period_rate(0.10, "W")
    hist = rfm[["frequency", "recency", "T"]]
    info = {
        "customers": len(rfm),
        "transactions": len(tx),
        "distinct_histories": int(len(hist.drop_duplicates())),
        "setup_seconds": time.perf_counter() - t0,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "load_average_before": os.getloadavg(),
    }
    print(f"{info['customers']:,} customers, {info['transactions']:,} transactions, "
          f"{info['distinct_histories']:,} distinct histories "
          f"(setup {info['setup_seconds']:.1f} s)")

    cases = {
        "predictive, purchases": lambda: clvlab.predict_intervals(
            bg, None, rfm, 52.0, random_state=1),
        "predictive, purchases + CLV": lambda: clvlab.predict_intervals(
            bg, gg, rfm, 52.0, discount_rate=rate, random_state=1),
        "confidence, purchases + CLV": lambda: clvlab.predict_intervals(
            bg, gg, rfm, 52.0, discount_rate=rate, kind="confidence"),
        "score_customers": lambda: clvlab.score_customers(
            rfm, bg, gg, horizon=52.0, discount_rate=rate),
        "score_customers(interval=0.8)": lambda: clvlab.score_customers(
            rfm, bg, gg, horizon=52.0, discount_rate=rate, interval=0.8),
    }
    results: dict[str, Any] = {"info": info, "timings": {}}
    print(f"{'step':<32} {'wall min/med/max (s)':>24} {'CPU min/med/max (s)':>24} "
          f"{'peak MiB':>9}")
    for name, func in ({} if args.cli_only else cases).items():
        r = timed(func, args.repeat)
        results["timings"][name] = r
        print(f"{name:<32} {r['wall_min']:7.2f} {r['wall_median']:7.2f} {r['wall_max']:7.2f} "
              f"{r['cpu_min']:10.2f} {r['cpu_median']:6.2f} {r['cpu_max']:6.2f} "
              f"{r['peak_mib']:9.0f}")
    if not args.cli_only:
        example = clvlab.predict_intervals(bg, gg, rfm, 52.0, discount_rate=rate,
                                           random_state=1)
        results["details"] = example.details
        print("details:", example.details)
        print(example.totals.to_string())

    if args.cli or args.cli_only:
        with tempfile.TemporaryDirectory(prefix="clvlab-bench-iv-") as tmp:
            log = Path(tmp) / "transactions.csv"
            tx.to_csv(log, index=False, date_format="%Y-%m-%d %H:%M:%S")
            del tx
            walls: dict[str, list[float]] = {"0.8": [], "0": []}
            cpus: dict[str, list[float]] = {"0.8": [], "0": []}
            for _ in range(args.repeat):
                for level in ("0.8", "0"):  # alternate, so load drifts hit both alike
                    wall, cpu = run_cli(log, Path(tmp) / f"out{level}", level)
                    walls[level].append(wall)
                    cpus[level].append(cpu)
                    print(f"  clvlab run --interval {level}: wall {wall:.1f} s, CPU {cpu:.1f} s",
                          flush=True)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            results["cli"] = {"wall": walls, "cpu": cpus, "peak_rss_mib_any_run": peak}
            for kind, values in (("wall", walls), ("CPU", cpus)):
                on, off = statistics.median(values["0.8"]), statistics.median(values["0"])
                print(f"clvlab run {kind}: --interval 0.8 median {on:.1f} s, --interval 0 "
                      f"median {off:.1f} s, ratio {on / off:.3f}")
            print(f"peak RSS of any run {peak:.0f} MiB")
    results["info"]["load_average_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
