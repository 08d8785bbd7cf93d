"""End-to-end scale benchmark: ``clvlab run`` on a simulated log of 1,000,000 customers.

Simulates a CDNOW-like transaction log with :func:`clvlab.simulate_transactions`
(BG/NBD + Gamma-Gamma at the CDNOW estimates, first purchases over 12 weeks from
1997-01-01, 78 weeks observed), writes it to CSV (or Parquet), then runs the whole job in a
subprocess exactly as a user would::

    python -m clvlab run LOG --calibration-end 1997-09-30 --observation-end 1998-06-30 --out DIR

and records the wall time and the peak resident memory of that subprocess
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``), plus the time of every step as
printed by the command's progress lines.

Usage::

    python benchmarks/bench_cli.py                    # 1M customers, CSV input
    python benchmarks/bench_cli.py --customers 100000 --format parquet
    python benchmarks/bench_cli.py --no-report        # spreadsheet, CSV and models only
"""

from __future__ import annotations

import argparse
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_gib(kib: int) -> float:
    return kib / 1024**2  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--no-report", action="store_true", help="pass --no-report to clvlab run")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the log and outputs here (default: a temporary folder)")
    args = parser.parse_args()

    import clvlab

    work = args.workdir or Path(tempfile.mkdtemp(prefix="clvlab-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"transactions.{args.format}"

    t0 = time.perf_counter()
    tx = clvlab.simulate_transactions(args.customers, random_state=args.seed)
    t_sim = time.perf_counter() - t0
    n_tx = len(tx)
    t0 = time.perf_counter()
    if args.format == "csv":
        tx.to_csv(log, index=False, date_format="%Y-%m-%d %H:%M:%S")
    else:
        tx.to_parquet(log, index=False)
    t_write = time.perf_counter() - t0
    del tx

    cmd = [
        sys.executable, "-m", "clvlab", "run", str(log),
        "--calibration-end", "1997-09-30", "--observation-end", "1998-06-30",
        "--out", str(work / "out"),
    ]
    if args.no_report:
        cmd.append("--no-report")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"clvlab run failed with exit code {proc.returncode}")

    steps = re.findall(r"✓ (.+?) \((\d+\.\d) s\)", proc.stderr)
    warnings_seen = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    sizes = {
        p.relative_to(work / "out").as_posix(): p.stat().st_size
        for p in sorted((work / "out").rglob("*")) if p.is_file()
    }

    print(f"clvlab {clvlab.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}, {shutil.os.cpu_count()} CPUs")
    print(f"customers {args.customers:,}; transactions {n_tx:,}; input {args.format} "
          f"{log.stat().st_size / 1e6:,.0f} MB")
    print(f"simulate {t_sim:.1f} s; write log {t_write:.1f} s (not part of the run)")
    print(f"clvlab run: wall {wall:.1f} s, peak RSS {_rss_gib(peak):.2f} GiB")
    print("steps:")
    for label, seconds in steps:
        print(f"  {float(seconds):7.1f} s  {label}")
    print("outputs:")
    for name, size in sizes.items():
        print(f"  {size / 1e6:9.1f} MB  {name}")
    if warnings_seen:
        print("warnings:")
        for w in warnings_seen:
            print("  " + w[:200])
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
