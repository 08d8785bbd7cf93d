"""Scale benchmark: ``clvlab run --engine spark`` on 10M, 30M and 100M simulated transactions.

For each size the script

1. simulates a CDNOW-like log in parallel with :func:`clvlab.spark.simulate_transactions`
   (BG/NBD + Gamma-Gamma at the CDNOW estimates, first purchases over 12 weeks from
   1997-01-01, 78 weeks observed; about 2.77 transactions per customer) and writes it as
   Parquet (kept, and reused by a later run with the same ``--workdir``);
2. runs, in a subprocess exactly as a user would::

       python -m clvlab run LOG.parquet --engine spark --spark-master local[2] \\
           --calibration-end 1997-09-30 --observation-end 1998-06-30 --out DIR

   and records the wall time, the time of every step (the command's progress lines),
   the rows that reached the driver for each fit, and the peak resident memory of the
   driver: the Python process and the JVM (in local mode the JVM is driver and executor
   in one), sampled every 0.2 s from ``/proc`` (``VmHWM``), and the peak of the Python
   workers that run the numpy code;
3. runs the pandas path (``clvlab run LOG.parquet``, same dates) beside it while the
   log is at most ``--pandas-up-to`` transactions, with the same memory sampling.

Usage::

    python benchmarks/bench_spark.py                              # 10M, 30M, 100M
    python benchmarks/bench_spark.py --sizes 10M --repeat 2 --pandas-up-to 10M
    python benchmarks/bench_spark.py --sizes 1M --workdir /tmp/bench --json out.json
    python benchmarks/bench_spark.py --sizes 1M --intervals 0 0.8 --pandas-up-to 0  # ranges
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TX_PER_CUSTOMER = 2.764321  # measured: 2,764,321 transactions per 1,000,000 customers
CAL_END, OBS_END = "1997-09-30", "1998-06-30"
_STEP = re.compile(r"✓ (.+?) \(([\d.]+) s\)")
# "NAME: N distinct rows reached the driver" or, for rows kept in Spark,
# "NAME: N distinct rows, kept in Spark (fitted from sums in P passes; S rows reached ...)"
_ROWS = re.compile(r"i (.+?): ([\d,]+) distinct rows(?: reached the driver|, kept in Spark)")
_KEPT = re.compile(r"i (.+?): [\d,]+ distinct rows, kept in Spark \(fitted from sums in "
                   r"(\d+) passes; ([\d,]+) rows reached the driver\)")


def _size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KMB")) * mult)


def _label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "PPid"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class _Sampler(threading.Thread):
    """Peak memory of a process tree: the root, its JVM children and the rest."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[int, int] = {}  # pid -> VmHWM (KiB)
        # pid -> CPU seconds used (the JVM is not waited for by the driver, so the
        # children's times of os.times() miss it; sampled from /proc instead)
        self.cpu: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.total_peak = 0  # KiB, largest sum of concurrent RSS
        self.load: list[float] = []
        # (seconds since start, driver RSS, JVM RSS, workers' RSS) in MiB, every ~2 s:
        # which step holds the peak (the steps' own times are in the progress lines)
        self.timeline: list[tuple[float, int, int, int]] = []
        self.t0 = time.perf_counter()
        self.stop = threading.Event()

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                ppid = _status(int(entry)).get("PPid")
                if ppid is not None:
                    parents[int(entry)] = ppid
        tree, frontier = [self.root], [self.root]
        while frontier:
            frontier = [p for p, pp in parents.items() if pp in frontier]
            tree += frontier
        return tree

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            total = 0
            rss = {"driver": 0, "jvm": 0, "worker": 0}
            for pid in self._tree():
                st = _status(pid)
                if not st:
                    continue
                total += st.get("VmRSS", 0)
                rss[self.kind.get(pid, "worker")] += st.get("VmRSS", 0)
                self.peaks[pid] = max(self.peaks.get(pid, 0), st.get("VmHWM", 0))
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu(pid))
                # classified at every sample: spark-submit's shell execs into java
                first = _cmdline(pid).split(" ")[0]
                self.kind[pid] = ("driver" if pid == self.root else
                                  "jvm" if first.endswith("java") else "worker")
            self.total_peak = max(self.total_peak, total)
            self.load.append(os.getloadavg()[0])
            if tick % 10 == 0:
                self.timeline.append((round(time.perf_counter() - self.t0, 1),
                                      rss["driver"] // 1024, rss["jvm"] // 1024,
                                      rss["worker"] // 1024))
            tick += 1
            time.sleep(0.2)

    def summary(self) -> dict[str, Any]:
        gib = 1024**2
        by = {k: [v for p, v in self.peaks.items() if self.kind.get(p) == k]
              for k in ("driver", "jvm", "worker")}
        return {
            "driver_python_gib": max(by["driver"], default=0) / gib,
            "driver_jvm_gib": max(by["jvm"], default=0) / gib,
            "worker_max_gib": max(by["worker"], default=0) / gib,
            "n_workers": len(by["worker"]),
            "tree_peak_gib": self.total_peak / gib,
            # CPU seconds of the whole tree (driver, JVM, workers), the load-independent
            # cost: the wall time on a shared machine depends on what else runs (a
            # process's last < 0.2 s before it exits is missed)
            "cpu_s": sum(self.cpu.values()),
            "load_avg_mean": sum(self.load) / max(len(self.load), 1),
            "load_avg_max": max(self.load, default=0.0),
            "rss_timeline_mib": self.timeline,
        }


def _run(cmd: list[str], cwd: Path) -> dict[str, Any]:
    env = {**os.environ, "COLUMNS": "200"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    sampler = _Sampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    result = {"cmd": " ".join(cmd), "returncode": proc.returncode, "wall_s": wall,

              "steps": [(m.group(1), float(m.group(2))) for m in _STEP.finditer(err)],
              "fit_rows": {m.group(1): int(m.group(2).replace(",", ""))
                           for m in _ROWS.finditer(err)},
              "kept_in_spark": [{"model": m.group(1), "passes": int(m.group(2)),
                                 "collected": int(m.group(3).replace(",", ""))}
                                for m in _KEPT.finditer(err)],
              **sampler.summary()}
    if proc.returncode != 0:
        result["stderr_tail"] = err[-3000:]
    return result


def _simulate(path: Path, n_tx: int, seed: int, master: str) -> dict[str, Any]:
    """Write the simulated log (in a subprocess, so its JVM is gone before the runs)."""
    n_customers = math.ceil(n_tx / TX_PER_CUSTOMER)
    info: dict[str, Any] = {"n_customers": n_customers, "path": str(path)}
    if not (path / "_SUCCESS").exists():
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--simulate-only", str(path),
                        str(n_customers), str(seed), master], check=True)
        info["simulate_and_write_s"] = time.perf_counter() - start
    info["n_transactions"] = int(json.loads((path / "_clvlab_count.json").read_text())["n"])
    return info


def _single_file(folder: Path) -> Path:
    """The same log as one Parquet file (the pandas path reads files, not part folders)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    target = folder.with_name(folder.name.replace(".parquet", "-single.parquet"))
    if not target.exists():
        dataset = ds.dataset(str(folder), format="parquet")
        with pq.ParquetWriter(str(target), dataset.schema) as writer:
            for batch in dataset.to_batches():
                writer.write_batch(batch)
    return target


def _simulate_only(path: str, n_customers: str, seed: str, master: str) -> None:
    import clvlab.spark as cs

    spark = cs.session(master, config={"spark.ui.showConsoleProgress": "false"})
    tx = cs.simulate_transactions(spark, int(n_customers), random_state=int(seed))
    tx.write.mode("overwrite").parquet(path)
    n = spark.read.parquet(path).count()
    (Path(path) / "_clvlab_count.json").write_text(json.dumps({"n": n}))
    spark.stop()


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--simulate-only":
        _simulate_only(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10M", "30M", "100M"],
                        help="transactions per log, e.g. 10M 30M 100M")
    parser.add_argument("--repeat", type=int, default=1, help="Spark runs per size")
    parser.add_argument("--pandas-up-to", default="30M",
                        help="run the pandas path for logs up to this many transactions")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clvlab-bench-spark"))
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--intervals", nargs="+", default=[None],
                        help="--interval levels to run the Spark path with (each a run; "
                             "default: the command's default, 0.8), e.g. 0 0.8 for the "
                             "cost of the ranges")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pandas_limit = _size(args.pandas_up_to)
    meta = {"python": sys.version.split()[0], "machine": platform.machine(),
            "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                             time.gmtime())}
    results: list[dict[str, Any]] = []
    for text in args.sizes:
        n_tx = _size(text)
        log = args.workdir / f"transactions-{_label(n_tx)}.parquet"
        data = _simulate(log, n_tx, args.seed, args.master)
        print(f"== {_label(n_tx)}: {data}", flush=True)
        extra = ["--no-report"] if args.no_report else []
        for rep in range(args.repeat):
            for level in args.intervals:
                out = args.workdir / f"spark-{_label(n_tx)}-{rep}"
                ranges = [] if level is None else ["--interval", str(level)]
                res = _run([sys.executable, "-m", "clvlab", "run", str(log), "--engine",
                            "spark", "--spark-master", args.master, "--calibration-end",
                            CAL_END, "--observation-end", OBS_END, "--out", str(out), *extra,
                            *ranges], args.workdir)
                res.update(engine="spark" if level is None else f"spark, --interval {level}",
                           size=_label(n_tx), data=data, repeat=rep)
                results.append(res)
                print(json.dumps(res, indent=1, default=str), flush=True)
        if n_tx <= pandas_limit:
            single = _single_file(log)
            out = args.workdir / f"pandas-{_label(n_tx)}"
            res = _run([sys.executable, "-m", "clvlab", "run", str(single), "--calibration-end",
                        CAL_END, "--observation-end", OBS_END, "--out", str(out), *extra],
                       args.workdir)
            res.update(engine="pandas", size=_label(n_tx), data=data, repeat=0)
            results.append(res)
            print(json.dumps(res, indent=1, default=str), flush=True)
    payload = {"meta": meta, "results": results}
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    print("\n| engine | transactions | customers | wall | CPU | driver Python | driver JVM | "
          "workers (max) | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['engine']} | {r['size']} | {r['data']['n_customers']:,} | "
              f"{r['wall_s'] / 60:.1f} min | {r['cpu_s'] / 60:.1f} min | "
              f"{r['driver_python_gib']:.2f} GiB | "
              f"{r['driver_jvm_gib']:.2f} GiB | {r['worker_max_gib']:.2f} GiB | "
              f"{r['load_avg_mean']:.1f} |")


if __name__ == "__main__":
    main()
