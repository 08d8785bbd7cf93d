"""Benchmark: clvlab.rfm_summary vs lifetimes' summary_data_from_transaction_data.

Simulates one transaction log (clvlab.simulate_transactions, CDNOW parameters, cut to
exactly ``--n-transactions`` rows), writes it to Parquet, then runs each tool in its own
subprocess on the same file: the subprocess loads the log, resets its peak-RSS counter
(Linux ``/proc/self/clear_refs``), calls the tool (timed with ``time.perf_counter``) and
reads its peak resident memory (``VmHWM``), which counts every C allocation of numpy,
pandas and Arrow. With ``--repeat k`` each tool is called k times in its subprocess and
the fastest call and the highest peak are reported. "peak - start" is the memory the
summary needed on top of the loaded log.

Both tools compute the same definition: day-merged purchases, ages in days
(``rfm_summary(tx, time_unit="D", merge_period="D")`` vs ``freq="D"`` with
``monetary_value_col``); the script checks that their outputs agree.

Usage::

    python benchmarks/bench_rfm.py --n-transactions 10_000_000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import json, sys, time, warnings
import pandas as pd
tool, src, out, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS, so
    # the peak of reading the Parquet file is not charged to the tool
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


tx = pd.read_parquet(src)
times, peaks, starts = [], [], []
for _ in range(repeat):
    res = None
    reset_peak()
    starts.append(status_kib("VmRSS"))
    t0 = time.perf_counter()
    if tool == "clvlab":
        from clvlab.rfm import rfm_summary
        res = rfm_summary(tx, time_unit="D", merge_period="D")
    else:
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data
        res = summary_data_from_transaction_data(tx, "customer_id", "date",
                                                 monetary_value_col="amount", freq="D")
    times.append(time.perf_counter() - t0)
    peaks.append(status_kib("VmHWM"))
res = res[["frequency", "recency", "T", "monetary_value"]].copy()
res.index = res.index.astype(str)
res.sort_index().to_parquet(out)
print(json.dumps({"seconds": min(times), "all_seconds": times, "peak_kib": max(peaks),
                  "load_kib": min(starts), "customers": len(res)}))
"""


def run_tool(tool: str, src: Path, out: Path, repeat: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, tool, str(src), str(out), str(repeat)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_log(n_transactions: int, seed: int, order: str):
    import numpy as np

    from clvlab.simulate import simulate_transactions

    pilot = simulate_transactions(50_000, random_state=seed)
    per_customer = len(pilot) / 50_000
    n_customers = int(np.ceil(n_transactions / per_customer * 1.05))
    tx = simulate_transactions(n_customers, random_state=seed)
    while len(tx) < n_transactions:  # unlucky draw: grow by 10 %
        n_customers = int(n_customers * 1.1)
        tx = simulate_transactions(n_customers, random_state=seed)
    tx = tx.iloc[:n_transactions]
    if order == "date":  # as exported from an order system: by time, customers interleaved
        tx = tx.sort_values("date", kind="stable")
    elif order == "random":
        tx = tx.sample(frac=1.0, random_state=seed)
    return tx.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-transactions", type=lambda s: int(s.replace("_", "")),
                        default=10_000_000, help="rows of the simulated log (default 10M)")
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--order", choices=("date", "customer", "random"), default="date",
                        help="row order of the log (default: by date, as exported)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="calls per tool in its subprocess; the fastest is reported")
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "tx.parquet"
        t0 = time.perf_counter()
        tx = make_log(args.n_transactions, args.seed, args.order)
        sim_seconds = time.perf_counter() - t0
        n_cust = tx["customer_id"].nunique()
        tx.to_parquet(src)
        del tx
        print(f"log: {args.n_transactions:,} transactions, {n_cust:,} customers "
              f"(simulated in {sim_seconds:.1f} s), rows ordered by {args.order}", flush=True)

        results = {}
        results["clvlab"] = run_tool("clvlab", src, tmp_path / "clvlab.parquet", args.repeat)
        print(f"clvlab done in {results['clvlab']['seconds']:.2f} s", flush=True)
        if not args.skip_lifetimes:
            results["lifetimes"] = run_tool("lifetimes", src, tmp_path / "lifetimes.parquet",
                                            args.repeat)
            ours = pd.read_parquet(tmp_path / "clvlab.parquet")
            ref = pd.read_parquet(tmp_path / "lifetimes.parquet").reindex(ours.index)
            for col in ("frequency", "recency", "T"):
                np.testing.assert_array_equal(ours[col].to_numpy(), ref[col].to_numpy())
            np.testing.assert_allclose(ours["monetary_value"], ref["monetary_value"], rtol=1e-9)
            print("outputs agree (frequency/recency/T exactly, monetary_value rtol 1e-9)")

    print()
    print(f"{'tool':<10} {'seconds':>9} {'peak RSS MiB':>13} {'RSS at start MiB':>17} "
          f"{'peak - start MiB':>17}")
    for tool in ("clvlab", "lifetimes"):
        if tool in results:
            r = results[tool]
            peak, start = r["peak_kib"] / 1024, r["load_kib"] / 1024
            print(f"{tool:<10} {r['seconds']:>9.2f} {peak:>13.0f} {start:>17.0f} "
                  f"{peak - start:>17.0f}")
    if "lifetimes" in results:
        c, lt = results["clvlab"], results["lifetimes"]
        print(f"\nspeed-up: {lt['seconds'] / c['seconds']:.1f}x; peak-memory ratio "
              f"(clvlab/lifetimes): {c['peak_kib'] / lt['peak_kib']:.2f}")
    if args.json:
        payload = {"n_transactions": args.n_transactions, "n_customers": int(n_cust),
                   "order": args.order, "repeat": args.repeat,
                   "cpu_count": os.cpu_count(), **results}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
