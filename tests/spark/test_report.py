"""The Spark run's report, built from aggregates (no Spark needed to test the builder)."""

from __future__ import annotations

import math
import types
import warnings

import pandas as pd
import pytest

import clvlab
from clvlab import reporting
from clvlab.scoring import segment_summary
from clvlab.spark._report import SparkReportInputs, build_context


@pytest.fixture(scope="module")
def pieces():
    """Models, scores and evaluation of the CDNOW sample, made by the pandas path."""
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    rfm = clvlab.rfm_summary(tx, observation_end="1998-06-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg, gg = clvlab.BetaGeoFitter().fit(split), clvlab.GammaGammaFitter().fit(split)
        base = clvlab.FormulaCLVBaseline().fit(split)
        ev = clvlab.evaluate(split, bg, gg, base, transactions=tx)
        scores = clvlab.score_customers(rfm, bg, gg, base, horizon=52, discount_rate=0.0018)
    return tx, rfm, bg, gg, base, ev, scores


def _inputs(pieces, with_holdout: bool) -> SparkReportInputs:
    tx, rfm, bg, gg, base, ev, scores = pieces
    spark_ev = types.SimpleNamespace(
        metrics=ev.metrics, by_frequency=ev.by_frequency, tracking=ev.tracking,
        deciles=ev.deciles, chi_square=ev.chi_square, n_customers=len(ev.customers),
        horizon=ev.horizon, notes=["a note"]) if with_holdout else None
    quantiles = pd.DataFrame(
        {"n": [len(rfm)], "mean": [1.0], "q25": [0.0], "median": [0.0], "q75": [1.0],
         "q90": [3.0], "max": [40.0]}, index=["Frequency (repeat purchases)"])
    hist = pd.DataFrame({"lower": [1.0, 10.0], "upper": [10.0, 100.0], "count": [5.0, 7.0]})
    hist.attrs["n_zero"] = 3
    totals = {"n_customers": float(len(scores)), "total_clv": float(scores["clv"].sum()),
              "total_clv_baseline": float(scores["clv_baseline"].sum()),
              "historical_spend": float(scores["historical_spend"].sum()),
              "repeat_rate": float((scores["frequency"] > 0).mean())}
    return SparkReportInputs(
        purchase_model=bg, spend_model=gg, baseline=base, evaluation=spark_ev, totals=totals,
        segments=segment_summary(scores), thresholds=scores.attrs["segment_thresholds"],
        top=scores.sort_values("clv", ascending=False).head(20), rfm_quantiles=quantiles,
        clv_histogram=hist,
        facts={"source": "CDNOW sample", "n_transactions": len(tx), "first_day": "1997-01-01",
               "observation_end": "1998-06-30",
               "calibration_end": "1997-09-30" if with_holdout else None,
               "spark": "Apache Spark (test)", "fit_rows": {"BG/NBD": 1, "Gamma-Gamma": 2},
               "predictions": "out/reports/clv-predictions.parquet"},
        unit="W", horizon=52.0, discount_rate=0.0018, margin=1.0,
        acquisition_cost_ceiling=math.nan)


@pytest.mark.parametrize("with_holdout", [True, False])
def test_report_from_aggregates_renders_both_formats(pieces, with_holdout, tmp_path):
    """HTML and PDF render; the key figures are the pandas report's, sections as expected."""
    ctx = build_context(_inputs(pieces, with_holdout), figures=with_holdout)
    ids = [s["id"] for s in ctx["sections"]]
    assert ("holdout" in ids) == with_holdout
    assert ids[0] == "summary" and ids[-1] == "reproducibility"
    html = reporting.render_html(ctx, tmp_path / "r.html")
    pdf = reporting.render_pdf(ctx, tmp_path / "r.pdf")
    assert pdf[:4] == b"%PDF" and "computed on Apache Spark" in html
    tx, rfm, bg, gg, base, ev, scores = pieces
    pandas_ctx = reporting.build_context(bg, gg, rfm, baseline=base, evaluation=ev,
                                         scores=scores, transactions=tx, figures=False)
    for key in ("total_clv", "total_clv_baseline", "historical_spend", "n_customers",
                "repeat_rate"):
        assert ctx["numbers"][key] == pandas_ctx["numbers"][key], key
    if with_holdout:
        assert ctx["numbers"]["holdout_value_error_pct"] == pandas_ctx["numbers"][
            "holdout_value_error_pct"]
