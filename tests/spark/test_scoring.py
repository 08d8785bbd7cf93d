"""clvlab.spark.score_customers: the pandas scoring code on Arrow batches, global segments."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.scoring import SCORE_COLUMNS, segment_summary

cs = pytest.importorskip("clvlab.spark")
from clvlab.spark._scoring import scores_attrs  # noqa: E402

HORIZON, RATE, MARGIN = 52, 0.0018, 0.3


@pytest.fixture(scope="module")
def scored(cdnow_tx, cdnow_sdf, cdnow_models):
    """Spark and pandas scores of every CDNOW customer (models fitted on the calibration)."""
    bg, gg, base = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = cs.score_customers(cs.rfm_summary(cdnow_sdf), bg, gg, base, horizon=HORIZON,
                                 discount_rate=RATE, margin=MARGIN, relative_error=0.0)
        got = sdf.toPandas().set_index("customer_id")
        want = clvlab.score_customers(clvlab.rfm_summary(cdnow_tx), bg, gg, base,
                                      horizon=HORIZON, discount_rate=RATE, margin=MARGIN)
    return sdf, got.loc[want.index], want


def test_scores_match_pandas_for_every_customer(scored):
    """P(alive), purchases, spend, CLV, baseline and history equal pandas to rtol 1e-9."""
    _, got, want = scored
    assert list(got.columns) == list(SCORE_COLUMNS)
    for col in SCORE_COLUMNS[:-1]:
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                   rtol=1e-9, atol=1e-9, err_msg=col)


def test_segments_follow_the_pandas_rule(scored):
    """Same segment for every customer; thresholds within one order statistic of numpy's."""
    sdf, got, want = scored
    thr, pthr = scores_attrs(sdf)["segment_thresholds"], want.attrs["segment_thresholds"]
    clv = np.sort(want["clv"].to_numpy())
    for key, q in (("clv_high", 0.8), ("clv_low", 0.5)):
        k = (len(clv) - 1) * q
        assert clv[int(np.floor(k))] <= thr[key] <= clv[int(np.ceil(k))]
        assert clv[int(np.floor(k))] <= pthr[key] <= clv[int(np.ceil(k))]
    # the rule applied with the Spark thresholds, in pandas, gives Spark's segments
    expected = np.full(len(want), "Lapsed / low value", dtype=object)
    high = (want["clv"] >= thr["clv_high"]) | (want["historical_spend"]
                                                 >= thr["historical_spend_high"])
    middle = ~high & (want["clv"] >= thr["clv_low"])
    active = want["probability_alive"] >= thr["probability_alive"]
    expected[middle & ~active] = "Needs attention"
    expected[middle & active] = "Promising"
    expected[high & ~active] = "High value, at risk"
    expected[high & active] = "Champions"
    expected[want["frequency"] == 0] = "One-time buyers"
    assert (got["segment"].to_numpy() == expected).all()
    # and they agree with the pandas segments except where the two thresholds part
    differ = got["segment"].to_numpy() != want["segment"].astype(str).to_numpy()
    between = ((want["clv"] - thr["clv_high"]) * (want["clv"] - pthr["clv_high"]) <= 0) | (
        (want["clv"] - thr["clv_low"]) * (want["clv"] - pthr["clv_low"]) <= 0)
    assert not (differ & ~between).any()


def test_segment_summary_matches_pandas(scored):
    """Counts and totals per segment equal the pandas summary of the same segments."""
    sdf, got, _ = scored
    local = got.copy()
    local["segment"] = pd.Categorical(local["segment"])
    want = segment_summary(local)
    summary = cs.segment_summary(sdf)
    assert list(summary.index) == list(want.index)
    np.testing.assert_array_equal(summary["n_customers"], want["n_customers"])
    np.testing.assert_allclose(summary["total_clv"], want["total_clv"], rtol=1e-9)


def test_settings_travel_with_the_scores(scored):
    """Horizon, discount rate, margin and the thresholds' error are in the clv metadata."""
    attrs = scores_attrs(scored[0])
    assert (attrs["horizon"], attrs["discount_rate"], attrs["margin"]) == (52.0, RATE, MARGIN)
    assert attrs["time_unit"] == "W"
    assert attrs["segment_thresholds"]["relative_error"] == 0.0


def test_bad_options_fail_on_the_driver(cdnow_split, cdnow_models):
    """A negative horizon or margin 0 is refused before any Spark job, with the pandas words."""
    bg, gg, _ = cdnow_models
    with pytest.raises(ValueError, match="horizon must be a finite number > 0"):
        cs.score_customers(cdnow_split, bg, gg, horizon=-1, discount_rate=0.0)
    with pytest.raises(ValueError, match="margin must be a share of spend"):
        cs.score_customers(cdnow_split, bg, gg, horizon=52, discount_rate=0.0, margin=0)


def test_a_bad_rfm_frame_names_the_customers(spark, cdnow_models):
    """RFM rules are checked in Spark first: recency > T names the customer."""
    bg, gg, _ = cdnow_models
    bad = spark.createDataFrame(
        [("a", 1.0, 5.0, 4.0, 10.0), ("b", 0.0, 0.0, 3.0, 0.0)],
        "customer_id string, frequency double, recency double, T double, "
        "monetary_value double")
    with pytest.raises(clvlab.exceptions.InvalidValueError,
                       match=r"recency: must be <= T; 1 customer violates this "
                             r"\(customer_id 'a'\)"):
        cs.score_customers(bad, bg, gg, horizon=52, discount_rate=0.0)


def test_over_the_sheet_limit_the_workbook_says_where_the_predictions_are(scored, tmp_path,
                                                                          monkeypatch):
    """More customers than a sheet holds: the top ones by CLV, and the About sheet points to
    the files with every customer (the sheet limit lowered to 1,000 rows here)."""
    from openpyxl import load_workbook

    from clvlab import export
    from clvlab.spark import _run

    sdf, got, _ = scored
    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 1_001)
    monkeypatch.setattr(_run, "XLSX_TOP_ROWS", 250)
    path = _run.write_spreadsheet(tmp_path / "p.xlsx", sdf, len(got), parameters=None,
                                  metrics=None, deciles=None, data_quality=[], metadata={},
                                  where="out/clv-predictions.parquet")
    wb = load_workbook(path, read_only=True)
    rows = list(wb["Predictions"].iter_rows(values_only=True))
    assert len(rows) == 250 + 1
    top = got.sort_values("clv", ascending=False, kind="stable")
    assert rows[1][0] == top.index[0]
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True)}
    note = next(v for k, v in about.items() if str(k).lower() == "note")
    assert f"{len(got):,} customers exceed the 1,000 rows" in note
    assert "out/clv-predictions.parquet" in note
