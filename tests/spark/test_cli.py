"""clvlab run --engine spark: the same job, outputs from aggregates, same numbers as pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

pytest.importorskip("pyspark")

from .conftest import JAVA_OK, NO_JAVA_REASON  # noqa: E402

NUMERIC = ["frequency", "recency", "T", "monetary_value", "probability_alive",
           "expected_purchases", "expected_spend", "clv", "clv_baseline", "historical_spend"]


def _cli(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "clvlab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


pytestmark = pytest.mark.slow  # two full runs (a Spark JVM of their own): about a minute


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """clvlab run --sample with each engine, same settings (the model chosen by auto)."""
    if not JAVA_OK:
        pytest.skip(NO_JAVA_REASON)
    root = tmp_path_factory.mktemp("runs")
    spark = _cli("run", "--sample", "--engine", "spark", "--spark-master", "local[2]",
                 "--margin", "0.5", "--purchase-model", "auto", "--out", str(root / "spark"),
                 cwd=root)
    assert spark.returncode == 0, spark.stderr[-3000:]
    pandas = _cli("run", "--sample", "--margin", "0.5", "--purchase-model", "auto",
                  "--out", str(root / "pandas"), cwd=root)
    assert pandas.returncode == 0, pandas.stderr[-3000:]
    return root, spark, pandas


def test_spark_run_writes_every_output(runs):
    """Parquet and CSV parts, XLSX, HTML, PDF and the three models."""
    root, spark, _ = runs
    out = root / "spark"
    assert list((out / "reports/clv-predictions.parquet").glob("*.parquet"))
    assert list((out / "reports/clv-predictions-csv").glob("*.csv"))
    for rel in ("reports/clv-predictions.xlsx", "reports/clvlab-report.html",
                "reports/clvlab-report.pdf", f"models/{_purchase_key(root)}.json",
                "models/gamma-gamma.json", "models/formula-baseline.json"):
        assert (out / rel).stat().st_size > 0, rel
    assert "distinct rows reached the driver" in spark.stderr
    html = (out / "reports/clvlab-report.html").read_text(encoding="utf-8")
    for section in ("summary", "holdout", "segments", "reproducibility"):
        assert f'id="{section}"' in html
    assert "computed on Apache Spark" in html


def test_spark_predictions_equal_the_pandas_run(runs):
    """Every customer's numbers in the Parquet output equal the pandas run's CSV (1e-9)."""
    root, _, _ = runs
    got = pd.read_parquet(root / "spark/reports/clv-predictions.parquet").set_index(
        "customer_id")
    want = pd.read_csv(root / "pandas/reports/clv-predictions.csv",
                       dtype={"customer_id": str}).set_index("customer_id")
    assert sorted(got.index) == sorted(want.index)
    got = got.loc[want.index]
    for col in NUMERIC:
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                   rtol=1e-9, atol=1e-9, err_msg=col)
    # the 80% ranges (--interval 0.8 by default): purchase bounds exactly, CLV bounds
    # to the last digits of the cumulative sums (tests/spark/test_intervals.py)
    for col in ("purchases_lower", "purchases_upper"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))
    for col in ("clv_lower", "clv_upper"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                   rtol=1e-7, atol=1e-9, err_msg=col)
    assert list(got.columns) == list(want.columns)
    parts = pd.concat(pd.read_csv(p, dtype={"customer_id": str})
                      for p in (root / "spark/reports/clv-predictions-csv").glob("*.csv"))
    assert len(parts) == len(want)
    # the forecast models (refitted on the whole log) and the holdout-validated
    # calibration fits, both as the pandas run saves them
    key = _purchase_key(root)
    for name in (key, "gamma-gamma", "formula-baseline", f"calibration/{key}",
                 "calibration/gamma-gamma", "calibration/formula-baseline"):
        a = json.loads((root / f"spark/models/{name}.json").read_text())
        b = json.loads((root / f"pandas/models/{name}.json").read_text())
        assert a["training_period"] == b["training_period"], name
        a, b = a["state"]["params"], b["state"]["params"]
        np.testing.assert_allclose([float(a[k]) for k in b], [float(b[k]) for k in b],
                                   rtol=1e-8, err_msg=name)


def _purchase_key(root: Path) -> str:
    """Registry key of the purchase model the pandas run saved (the one auto chose)."""
    (path,) = [p for p in (root / "pandas/models").glob("*.json")
               if p.stem not in ("gamma-gamma", "formula-baseline")]
    return path.stem


def test_auto_chooses_the_pandas_runs_model(runs):
    """--purchase-model auto on Spark picks the pandas run's model, by the same log score."""
    root, spark, pandas = runs
    key = _purchase_key(root)
    assert (root / f"spark/models/{key}.json").exists()
    assert sorted(p.name for p in (root / "spark/models").glob("*.json")) == sorted(
        p.name for p in (root / "pandas/models").glob("*.json"))
    assert "chosen by the holdout log predictive score" in spark.stderr
    assert "model comparison:" in spark.stderr and "distinct rows reached the driver" in \
        spark.stderr


def test_spark_summary_shows_the_pandas_headline(runs):
    """The closing summary's CLV total and holdout errors are the pandas run's."""
    _, spark, pandas = runs

    def line(text: str, start: str) -> str:
        return next(s for s in text.splitlines() if s.startswith(start)).split()[-1]

    for start in ("predicted CLV", "formula baseline CLV", "historical spend",
                  "holdout: aggregate purchases error"):
        assert line(spark.stdout, start) == line(pandas.stdout, start), start
    # the total CLV's 80% range, printed as pandas prints it (its simulated part differs
    # by Monte Carlo error, so the bounds agree to about 1%)
    assert "point estimates" not in spark.stderr + spark.stdout

    def bounds(text: str) -> list[float]:
        row = next(s for s in text.splitlines() if s.strip().startswith("80% range"))
        lo, hi = row.split("range", 1)[1].split(" to ")
        return [float("".join(c for c in v if c.isdigit() or c == ".")) for v in (lo, hi)]

    np.testing.assert_allclose(bounds(spark.stdout), bounds(pandas.stdout), rtol=0.01)


def test_spark_workbook_has_the_summary_sheets(runs):
    """The XLSX holds every customer (they fit one sheet) and the summary sheets."""
    root, _, _ = runs
    wb = load_workbook(root / "spark/reports/clv-predictions.xlsx", read_only=True)
    assert wb.sheetnames == ["Predictions", "Parameters", "Holdout metrics", "Deciles",
                             "Data quality", "About"]
    assert sum(1 for _ in wb["Predictions"].iter_rows()) == 2_357 + 1
    header = [c.value for c in next(wb["Predictions"].iter_rows(max_row=1))]
    assert any("80% range" in str(h) for h in header), header
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True) if r and r[0]}
    assert "total clv range" in about and about.get("interval level") == "0.8"


def test_spark_report_shows_the_ranges(runs):
    """The HTML report has the range note, segment ranges, the holdout check and fan."""
    root, _, _ = runs
    html = (root / "spark/reports/clvlab-report.html").read_text(encoding="utf-8")
    for text in ("What the ranges mean", "80% range of total CLV", "likely between",
                 "How well the 80% ranges held", "randomised:",
                 "Shaded: the 80% and 50% ranges"):
        assert text in html, text


def test_spark_run_without_ranges(tmp_path):
    """--interval 0 on Spark: no range columns, no range lines, exit 0 (--spark-conf used)."""
    if not JAVA_OK:
        pytest.skip(NO_JAVA_REASON)
    run = _cli("run", "--sample", "--engine", "spark", "--spark-master", "local[2]",
               "--interval", "0", "--no-report", "--out", str(tmp_path / "out"),
               "--spark-conf", "spark.driver.memory=1500m", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "master local[2], driver memory 1500m" in run.stderr  # --spark-conf applied
    got = pd.read_parquet(tmp_path / "out/reports/clv-predictions.parquet")
    assert not [c for c in got.columns if c.endswith(("_lower", "_upper"))]
    assert "80% range" not in run.stdout and "point estimates" not in run.stderr


def test_engine_options_are_checked(tmp_path):
    """An unknown engine, or --spark-master without the Spark engine, exit 2."""
    bad = _cli("run", "--sample", "--engine", "dask", "--out", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "--engine must be pandas or spark" in bad.stderr
    bad = _cli("run", "--sample", "--spark-master", "local[2]", "--out", str(tmp_path),
               cwd=tmp_path)
    assert bad.returncode == 2 and "--spark-master applies to --engine spark" in bad.stderr
    bad = _cli("run", "--sample", "--spark-conf", "spark.driver.memory=4g", "--out",
               str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "--spark-conf applies to --engine spark" in bad.stderr
    for value in ("driver.memory=4g", "spark.driver.memory", "spark.driver.memory="):
        bad = _cli("run", "--sample", "--engine", "spark", "--spark-conf", value, "--out",
                   str(tmp_path), cwd=tmp_path)
        assert bad.returncode == 2, value
        assert "--spark-conf takes one Spark setting as KEY=VALUE" in bad.stderr, value
        assert repr(value) in bad.stderr, value

