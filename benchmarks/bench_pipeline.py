"""Benchmark: the whole pipeline, clvlab vs lifetimes, on one simulated Parquet log.

Two targets of issue 13, measured side by side in one run of this script:

(1) read the Parquet log -> RFM summary -> BG/NBD fit -> Gamma-Gamma fit -> 52-week CLV,
    clvlab vs lifetimes (seconds and peak resident memory of the process);
(2) ``clvlab run LOG`` (everything: load + validate, calibration/holdout split, fits,
    evaluation, scoring, HTML + PDF report, CSV, XLSX, JSON models) vs lifetimes' bare
    pipeline of (1).

The log is simulated once with :func:`clvlab.simulate_transactions` (BG/NBD + Gamma-Gamma
at the CDNOW estimates, first purchases over 12 weeks from 1997-01-01, 78 weeks observed,
timestamps to the second), its ids turned into int64, and written to Parquet in a cache
folder (``--cache-dir``, default ``$TMPDIR/clvlab-bench``; reused by later runs, never
committed). Every measurement runs in its own fresh subprocess (``python
bench_pipeline.py --worker ...``), so imports, the Parquet read and the allocator state
count the same way for both libraries. Within each of ``--repeat`` rounds the three
subprocesses run one after the other; ratios are formed within a round and their spread
over the rounds is reported.

CPU time (user + system of the subprocess, all threads) is reported next to wall time: on
a shared machine it moves much less with the load than wall time does.

Peak memory is the subprocess's peak resident set size (``VmHWM`` from
``/proc/self/status`` for the workers, ``ru_maxrss`` from ``os.wait4`` for ``clvlab
run``): Python, the libraries, the log, every numpy/pandas/Arrow allocation.

Each library reads the log its own way: clvlab with ``load_transactions(LOG)`` (its
validated reader: the three columns, every input check and data policy, ids as text;
``BENCH_PANDAS_READ=1`` in the environment reads with ``pd.read_parquet`` instead, the
shape of the first two passes), lifetimes with ``pd.read_parquet(LOG)``.

The two pipelines compute the same summary: ``rfm_summary(tx, time_unit="W",
merge_period="W")`` and lifetimes' ``summary_data_from_transaction_data(tx, ...,
monetary_value_col="amount", freq="W")`` (purchases merged per Monday-Sunday week, ages
in whole weeks); the script checks that frequency, recency and T agree exactly and
monetary value to rtol 1e-9 per customer, and that the fitted parameters agree. CLV:
clvlab's 52-week CLV (continuous discounting at 0.0019 per week) and lifetimes'
``customer_lifetime_value(time=12, discount_rate=0.0083, freq="W")`` (12 lifetimes
"months" of 4.345 weeks = 52.1 weeks, monthly discounting at about the same rate); the
script reports both totals.

Usage::

    python benchmarks/bench_pipeline.py --repeat 3          # 1M customers, ~5 min
    python benchmarks/bench_pipeline.py --customers 100000 --repeat 1 --skip-cli
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()

#: Calibration/holdout split used for ``clvlab run`` (the simulated log starts 1997-01-01
#: and covers 78 weeks, like CDNOW).
CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"

#: lifetimes' CLV: 12 "months" of 4.345 weeks, discount rate per such month equal to
#: 0.0019 per week compounded (1.0019 ** 4.345 - 1 = 0.0083).
LIFETIMES_MONTHS = 12
WEEKLY_RATE = 0.0019
MONTHLY_RATE = round((1 + WEEKLY_RATE) ** 4.345 - 1, 4)


# ======================================================================================
# workers (run in fresh subprocesses)
# ======================================================================================
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)  # pragma: no cover - Linux only


class _Steps:
    """Wall time and peak RSS after each step of a worker."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float | str]] = []
        self.t = time.perf_counter()
        self.cpu = time.process_time()

    def done(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.rows.append({"step": name, "seconds": now - self.t, "cpu": cpu - self.cpu,
                          "peak_mib": _status_kib("VmHWM") / 1024})
        self.t, self.cpu = time.perf_counter(), time.process_time()


def _worker_clvlab(log: str, out: str) -> dict:
    steps = _Steps()
    import pandas as pd

    from clvlab import (  # loads the modules (and scipy) here, as lifetimes' import does
        BetaGeoFitter,
        GammaGammaFitter,
        customer_lifetime_value,
        load_transactions,
        rfm_summary,
    )

    steps.done("import")
    # clvlab's own reader: the three columns, validated (ids become text, policies checked)
    tx = pd.read_parquet(log) if os.environ.get("BENCH_PANDAS_READ") else load_transactions(log)
    steps.done("read Parquet")
    rfm = rfm_summary(tx, time_unit="W", merge_period="W")
    steps.done("RFM summary")
    bg = BetaGeoFitter().fit(rfm)
    steps.done("BG/NBD fit")
    gg = GammaGammaFitter().fit(rfm)
    steps.done("Gamma-Gamma fit")
    clv = customer_lifetime_value(bg, gg, rfm, horizon=52, discount_rate=WEEKLY_RATE)
    steps.done("CLV (52 weeks)")
    peak = _status_kib("VmHWM") / 1024
    check = rfm[["frequency", "recency", "T", "monetary_value"]].copy()
    check.index = check.index.astype("int64")
    check["clv"] = clv.to_numpy()
    check.to_parquet(out)
    return {"steps": steps.rows, "peak_mib": peak,
            "params": {**bg.params_.to_dict(), **gg.params_.to_dict()},
            "clv_total": float(clv.sum()), "customers": len(rfm)}


def _worker_lifetimes(log: str, out: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")  # lifetimes' FutureWarnings/RuntimeWarnings on pandas 3
    steps = _Steps()
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    steps.done("import")
    tx = pd.read_parquet(log)
    steps.done("read Parquet")
    rfm = summary_data_from_transaction_data(tx, "customer_id", "date",
                                             monetary_value_col="amount", freq="W")
    steps.done("RFM summary")
    bgf = BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    steps.done("BG/NBD fit")
    rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    steps.done("Gamma-Gamma fit")
    clv = ggf.customer_lifetime_value(bgf, rfm["frequency"], rfm["recency"], rfm["T"],
                                      rfm["monetary_value"], time=LIFETIMES_MONTHS,
                                      discount_rate=MONTHLY_RATE, freq="W")
    steps.done("CLV (52 weeks)")
    peak = _status_kib("VmHWM") / 1024
    check = rfm[["frequency", "recency", "T", "monetary_value"]].copy()
    check["clv"] = clv.to_numpy()
    check.to_parquet(out)
    params = {**bgf.params_.to_dict(), **ggf.params_.to_dict()}
    return {"steps": steps.rows, "peak_mib": peak, "params": params,
            "clv_total": float(clv.sum()), "customers": len(rfm)}


# ======================================================================================
# driver
# ======================================================================================
def _env(src: Path | None) -> dict[str, str]:
    """Environment of a subprocess: clvlab from ``src`` (None: as this one), wide console."""
    env = dict(os.environ)
    env["COLUMNS"] = "200"  # one progress line per step
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _run_worker(tool: str, log: Path, out: Path, src: Path | None = None) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", tool, "--log", str(log), "--out", str(out)],
        capture_output=True, text=True, check=False, env=_env(src),
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    res["pipeline"] = sum(float(s["seconds"]) for s in res["steps"] if s["step"] != "import")
    res["pipeline_cpu"] = sum(float(s["cpu"]) for s in res["steps"] if s["step"] != "import")
    res["cpu"] = sum(float(s["cpu"]) for s in res["steps"])
    return res


def _run_cli(log: Path, out: Path, src: Path | None = None) -> dict:
    cmd = [sys.executable, "-m", "clvlab", "run", str(log), "--calibration-end",
           CALIBRATION_END, "--observation-end", OBSERVATION_END, "--out", str(out)]
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryFile("w+") as so:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=err, text=True, env=_env(src))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"clvlab run failed ({proc.returncode}):\n{stderr[-4000:]}")
    # progress lines may wrap: a label runs from its tick to the "(<seconds> s)" that ends it
    steps = [{"step": " ".join(label.split()), "seconds": float(sec)}
             for label, sec in re.findall(r"✓ ([^✓]+?) \((\d+\.\d+) s\)", stderr)]
    sizes = {p.relative_to(out).as_posix(): p.stat().st_size
             for p in sorted(out.rglob("*")) if p.is_file()}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mib": usage.ru_maxrss / 1024, "steps": steps, "sizes": sizes}


def _make_log(path: Path, customers: int, seed: int) -> tuple[int, int]:
    """Simulate the log once and write it to Parquet (int64 ids); reuse an existing file."""
    import numpy as np
    import pandas as pd

    if not path.exists():
        from clvlab.simulate import simulate_transactions

        tx = simulate_transactions(customers, random_state=seed)
        tx["customer_id"] = tx["customer_id"].astype(np.int64)
        tmp = path.with_suffix(".partial")
        tx.to_parquet(tmp, index=False)
        tmp.replace(path)
    ids = pd.read_parquet(path, columns=["customer_id"])["customer_id"]
    return len(ids), int(ids.nunique())


def _check(clv_out: Path, lt_out: Path, ours: dict, ref: dict) -> list[str]:
    import numpy as np
    import pandas as pd

    a = pd.read_parquet(clv_out)
    b = pd.read_parquet(lt_out).reindex(a.index)
    for col in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(a["monetary_value"], b["monetary_value"], rtol=1e-9)
    lines = [f"RFM summaries agree for all {len(a):,} customers (frequency, recency, T exactly;"
             " monetary_value rtol 1e-9)"]
    rel = {k: abs(ours["params"][k] / ref["params"][k] - 1) for k in ours["params"]}
    worst = max(rel, key=rel.get)
    lines.append("parameters: " + ", ".join(f"{k} {v:.5g}" for k, v in ours["params"].items())
                 + f" (clvlab); largest relative difference to lifetimes {rel[worst]:.1e} "
                 f"({worst})")
    lines.append(f"CLV totals: clvlab {ours['clv_total']:,.0f} (52 weeks, continuous), "
                 f"lifetimes {ref['clv_total']:,.0f} (12 x 4.345 weeks, monthly); "
                 f"ratio {ours['clv_total'] / ref['clv_total']:.4f}")
    return lines


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(statistics.median(values))} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


def _report(rounds: list[dict], args: argparse.Namespace, n_tx: int, n_cust: int) -> None:
    print()
    print(f"log: {n_tx:,} transactions, {n_cust:,} customers (int64 ids, Parquet); "
          f"{len(rounds)} round(s); median [min-max] over rounds")
    has_lt = "lifetimes" in rounds[0]
    if "baseline" in rounds[0]:
        _report_baseline(rounds)
    step_names = [s["step"] for s in rounds[0]["clvlab"]["steps"]]
    print("\nTarget (1): read Parquet -> RFM -> BG/NBD -> Gamma-Gamma -> CLV, seconds")
    print(f"{'step':<18} {'clvlab':>22} {'lifetimes':>22} {'ratio':>20}")
    for i, name in enumerate(step_names):
        c = [float(r["clvlab"]["steps"][i]["seconds"]) for r in rounds]
        line = f"{name:<18} {_spread(c, '{:.3f}'):>22}"
        if has_lt:
            lt = [float(r["lifetimes"]["steps"][i]["seconds"]) for r in rounds]
            ratio = [b / a for a, b in zip(c, lt, strict=True)]
            line += f" {_spread(lt, '{:.3f}'):>22} {_spread(ratio, '{:.1f}x'):>20}"
        print(line)
    c = [r["clvlab"]["pipeline"] for r in rounds]
    line = f"{'pipeline (no import)':<18} {_spread(c):>22}"
    if has_lt:
        lt = [r["lifetimes"]["pipeline"] for r in rounds]
        ratio = [b / a for a, b in zip(c, lt, strict=True)]
        line += f" {_spread(lt):>22} {_spread(ratio, '{:.1f}x'):>20}"
    print(line)
    c = [r["clvlab"]["pipeline_cpu"] for r in rounds]
    line = f"{'pipeline CPU time':<18} {_spread(c):>22}"
    if has_lt:
        lt = [r["lifetimes"]["pipeline_cpu"] for r in rounds]
        ratio = [b / a for a, b in zip(c, lt, strict=True)]
        line += f" {_spread(lt):>22} {_spread(ratio, '{:.1f}x'):>20}"
    print(line)
    c = [r["clvlab"]["wall"] for r in rounds]
    line = f"{'process wall':<18} {_spread(c):>22}"
    if has_lt:
        lt = [r["lifetimes"]["wall"] for r in rounds]
        ratio = [b / a for a, b in zip(c, lt, strict=True)]
        line += f" {_spread(lt):>22} {_spread(ratio, '{:.1f}x'):>20}"
    print(line)
    c = [r["clvlab"]["peak_mib"] for r in rounds]
    line = f"{'peak RSS MiB':<18} {_spread(c, '{:.0f}'):>22}"
    if has_lt:
        lt = [r["lifetimes"]["peak_mib"] for r in rounds]
        line += (f" {_spread(lt, '{:.0f}'):>22} "
                 f"{_spread([a / b for a, b in zip(c, lt, strict=True)], '{:.2f}'):>20}"
                 " (clvlab/lifetimes)")
    print(line)
    print("peak RSS after each clvlab step (MiB): " + ", ".join(
        f"{s['step']} {s['peak_mib']:.0f}" for s in rounds[-1]["clvlab"]["steps"]))
    if has_lt:
        print("peak RSS after each lifetimes step (MiB): " + ", ".join(
            f"{s['step']} {s['peak_mib']:.0f}" for s in rounds[-1]["lifetimes"]["steps"]))

    if "cli" in rounds[0]:
        print("\nTarget (2): `clvlab run` on the same log (all outputs), seconds")
        labels = [s["step"] for s in rounds[0]["cli"]["steps"]]
        for i, name in enumerate(labels):
            vals = [float(r["cli"]["steps"][i]["seconds"]) for r in rounds
                    if i < len(r["cli"]["steps"])]
            print(f"  {name[:60]:<60} {_spread(vals, '{:.1f}'):>18}")
        c = [r["cli"]["wall"] for r in rounds]
        print(f"  {'whole `clvlab run` (process wall)':<60} {_spread(c):>18}")
        cpu = [r["cli"]["cpu"] for r in rounds]
        print(f"  {'whole `clvlab run` (process CPU time)':<60} {_spread(cpu):>18}")
        peaks = [r["cli"]["peak_mib"] for r in rounds]
        print(f"  {'peak RSS MiB':<60} {_spread(peaks, '{:.0f}'):>18}")
        if has_lt:
            lt_pipe = [r["lifetimes"]["pipeline"] for r in rounds]
            lt_wall = [r["lifetimes"]["wall"] for r in rounds]
            print(f"  lifetimes' bare pipeline: {_spread(lt_pipe)} s in-process, "
                  f"{_spread(lt_wall)} s process wall")
            ratio = [lw / cw for cw, lw in zip(c, lt_wall, strict=True)]
            print(f"  lifetimes process wall / `clvlab run` wall: {_spread(ratio, '{:.2f}x')}"
                  " (target: > 1)")
            lt_cpu = [r["lifetimes"]["cpu"] for r in rounds]
            ratio = [lc / cc for cc, lc in zip(cpu, lt_cpu, strict=True)]
            print(f"  lifetimes process CPU {_spread(lt_cpu)} s / `clvlab run` CPU: "
                  f"{_spread(ratio, '{:.2f}x')}")
        print("  outputs: " + ", ".join(f"{k} {v / 1e6:.0f} MB"
                                        for k, v in rounds[-1]["cli"]["sizes"].items()
                                        if v > 1e6))


def _report_baseline(rounds: list[dict]) -> None:
    """Before/after table: the baseline source against this one, per step, same rounds."""
    print("\nBefore/after (baseline source vs this source), seconds, same rounds")
    print(f"{'step':<18} {'baseline':>22} {'now':>22} {'speed-up':>18}")
    names = [s["step"] for s in rounds[0]["clvlab"]["steps"]]
    for i, name in enumerate(names):
        b = [float(r["baseline"]["steps"][i]["seconds"]) for r in rounds]
        c = [float(r["clvlab"]["steps"][i]["seconds"]) for r in rounds]
        ratio = [x / y for x, y in zip(b, c, strict=True)]
        print(f"{name:<18} {_spread(b, '{:.3f}'):>22} {_spread(c, '{:.3f}'):>22} "
              f"{_spread(ratio, '{:.1f}x'):>18}")
    b = [r["baseline"]["pipeline"] for r in rounds]
    c = [r["clvlab"]["pipeline"] for r in rounds]
    print(f"{'pipeline':<18} {_spread(b):>22} {_spread(c):>22} "
          f"{_spread([x / y for x, y in zip(b, c, strict=True)], '{:.1f}x'):>18}")
    b = [r["baseline"]["peak_mib"] for r in rounds]
    c = [r["clvlab"]["peak_mib"] for r in rounds]
    print(f"{'peak RSS MiB':<18} {_spread(b, '{:.0f}'):>22} {_spread(c, '{:.0f}'):>22}")
    if "cli_baseline" in rounds[0]:
        print("`clvlab run` steps (baseline -> now, seconds):")
        labels = [s["step"] for s in rounds[0]["cli"]["steps"]]
        for name in labels:  # matched by label: the two versions may differ in steps
            b = [float(s["seconds"]) for r in rounds for s in r["cli_baseline"]["steps"]
                 if s["step"] == name]
            c = [float(s["seconds"]) for r in rounds for s in r["cli"]["steps"]
                 if s["step"] == name]
            before = _spread(b, "{:.1f}") if b else "-"
            print(f"  {name[:52]:<52} {before:>16} -> {_spread(c, '{:.1f}'):>16}")
        b = [r["cli_baseline"]["wall"] for r in rounds]
        c = [r["cli"]["wall"] for r in rounds]
        print(f"  {'whole `clvlab run` (wall)':<52} {_spread(b, '{:.1f}'):>16} -> "
              f"{_spread(c, '{:.1f}'):>16}")
        b = [r["cli_baseline"]["peak_mib"] for r in rounds]
        c = [r["cli"]["peak_mib"] for r in rounds]
        print(f"  {'peak RSS MiB':<52} {_spread(b, '{:.0f}'):>16} -> {_spread(c, '{:.0f}'):>16}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")),
                        default=1_000_000)
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "clvlab-bench",
                        help="where the simulated Parquet log is kept between runs")
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--skip-cli", action="store_true", help="only target (1)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--baseline-src", type=Path,
                        help="also run clvlab imported from this source folder (e.g. an "
                        "export of an older commit's src/) in every round, for before/after")
    parser.add_argument("--worker", choices=("clvlab", "lifetimes"), help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        fn = _worker_clvlab if args.worker == "clvlab" else _worker_lifetimes
        print(json.dumps(fn(args.log, args.out)))
        return 0

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    log = args.cache_dir / f"tx-{args.customers}-{args.seed}.parquet"
    t0 = time.perf_counter()
    n_tx, n_cust = _make_log(log, args.customers, args.seed)
    print(f"log {log} ({log.stat().st_size / 1e6:.0f} MB, ready in "
          f"{time.perf_counter() - t0:.1f} s)", flush=True)
    load = os.getloadavg()
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)

    rounds: list[dict] = []
    checks: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clvlab-bench-") as tmp:
        tmp_path = Path(tmp)
        for k in range(args.repeat):
            rnd: dict = {"load_before": os.getloadavg()[0]}
            rnd["clvlab"] = _run_worker("clvlab", log, tmp_path / "clvlab.parquet")
            print(f"round {k + 1}: clvlab pipeline {rnd['clvlab']['pipeline']:.2f} s", flush=True)
            if args.baseline_src:
                rnd["baseline"] = _run_worker("clvlab", log, tmp_path / "baseline.parquet",
                                              args.baseline_src)
                print(f"round {k + 1}: baseline pipeline {rnd['baseline']['pipeline']:.2f} s",
                      flush=True)
            if not args.skip_lifetimes:
                rnd["lifetimes"] = _run_worker("lifetimes", log, tmp_path / "lifetimes.parquet")
                print(f"round {k + 1}: lifetimes pipeline {rnd['lifetimes']['pipeline']:.2f} s",
                      flush=True)
                if k == 0:
                    checks = _check(tmp_path / "clvlab.parquet", tmp_path / "lifetimes.parquet",
                                    rnd["clvlab"], rnd["lifetimes"])
            if not args.skip_cli:
                out = tmp_path / f"run{k}"
                rnd["cli"] = _run_cli(log, out)
                print(f"round {k + 1}: clvlab run {rnd['cli']['wall']:.1f} s", flush=True)
                if args.baseline_src:
                    rnd["cli_baseline"] = _run_cli(log, tmp_path / f"base{k}", args.baseline_src)
                    print(f"round {k + 1}: baseline clvlab run "
                          f"{rnd['cli_baseline']['wall']:.1f} s", flush=True)
            rnd["load_after"] = os.getloadavg()[0]
            rounds.append(rnd)
    for line in checks:
        print(line)
    _report(rounds, args, n_tx, n_cust)
    print("\nload average (1 min) before/after each round: " + "; ".join(
        f"{r['load_before']:.2f}/{r['load_after']:.2f}" for r in rounds))
    if args.json:
        args.json.write_text(json.dumps({"customers": n_cust, "transactions": n_tx,
                                         "rounds": rounds}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
