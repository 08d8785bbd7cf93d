"""Writer benchmark: the predictions CSV and the spreadsheet's customer rows of ``clvlab run``.

Reads a predictions CSV written by ``clvlab run`` (``OUT/reports/clv-predictions.csv``)
back into a scoring table, then writes it again as ``clvlab run``'s writer thread does:
the CSV (``export.write_csv``), then the workbook's customer rows (``export._start_workbook``
prepares the other sheets in the calling thread; its ``finish`` streams the rows, ranked
by CLV, formatting in this thread and deflating in one more). Records, per repeat, the
wall and CPU seconds of the writer thread for each file (``time.thread_time``: the
deflating thread is not counted), the process's CPU seconds over both, and the peak
resident memory of each phase (Linux: ``/proc/self/status``, the peak reset before each).

The CSV written must be the input byte for byte (numbers keep Python's shortest
round-trip form, so reading and writing again changes nothing): the script checks it.

Usage::

    python benchmarks/bench_exports.py OUT/reports/clv-predictions.csv --repeat 3
"""

from __future__ import annotations

import argparse
import filecmp
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="clv-predictions.csv of a clvlab run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="write the files here (default: a temporary folder)")
    args = parser.parse_args()

    import pandas as pd

    from clvlab import export
    from clvlab._memory import release_unused, step_memory

    scores = pd.read_csv(args.predictions, index_col="customer_id",
                         dtype={"customer_id": str})
    if "segment" in scores.columns:
        scores["segment"] = scores["segment"].astype("category")
    print(f"{len(scores):,} customers x {scores.shape[1]} columns; pyarrow path: "
          f"{export._arrow() is not None}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="clvlab-bench-exports-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {}
    for r in range(args.repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            finish = export._start_workbook(work / "p.xlsx", scores, rank_by="clv")
        release_unused()
        step_memory()
        got: dict[str, float] = {}

        def writer(got: dict[str, float] = got, finish=finish) -> None:
            c0, t0 = time.thread_time(), time.perf_counter()
            export.write_csv(work / "p.csv", scores)
            c1, t1 = time.thread_time(), time.perf_counter()
            got["csv peak MiB"] = (step_memory() or (float("nan"),))[0]
            finish()
            c2, t2 = time.thread_time(), time.perf_counter()
            got["xlsx peak MiB"] = (step_memory() or (float("nan"),))[0]
            got.update({"csv wall": t1 - t0, "csv cpu": c1 - c0,
                        "xlsx rows wall": t2 - t1, "xlsx rows cpu": c2 - c1,
                        "thread wall": t2 - t0, "thread cpu": c2 - c0})

        p0 = time.process_time()
        thread = threading.Thread(target=writer, name="bench-writer")
        thread.start()
        thread.join()
        got["process cpu"] = time.process_time() - p0
        if not filecmp.cmp(args.predictions, work / "p.csv", shallow=False):
            raise SystemExit("the CSV written differs from the input: the writer changed bytes")
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items()))
        for k, v in got.items():
            results.setdefault(k, []).append(v)
    print("median [min-max] over", args.repeat, "repeats:")
    for k, v in results.items():
        print(f"  {k:15s} {statistics.median(v):8.2f} [{min(v):.2f}-{max(v):.2f}]")
    print(f"files in {work} (the CSV equals the input byte for byte)")


if __name__ == "__main__":
    main()
