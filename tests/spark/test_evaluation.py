"""clvlab.spark.evaluate: the tables of clvlab.evaluate as Spark aggregates."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab

cs = pytest.importorskip("clvlab.spark")


@pytest.fixture(scope="module")
def evaluations(cdnow_tx, cdnow_split, cdnow_split_pd, cdnow_models):
    """Spark and pandas evaluations of the same models on the FHL split of CDNOW."""
    bg, gg, base = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = cs.evaluate(cdnow_split, bg, gg, base)
        want = clvlab.evaluate(cdnow_split_pd, bg, gg, base, transactions=cdnow_tx)
    return got, want


def test_metrics_match_pandas(evaluations):
    """Every metric of every model equals pandas (rtol 1e-9; Spearman 1e-6: ulp-level ties)."""
    got, want = evaluations
    assert list(got.metrics.index) == list(want.metrics.index)
    assert list(got.metrics.columns) == list(want.metrics.columns)
    for col in want.metrics.columns:
        rtol = 1e-6 if col.endswith("spearman") else 1e-9
        np.testing.assert_allclose(got.metrics[col].to_numpy(float),
                                   want.metrics[col].to_numpy(float), rtol=rtol, err_msg=col)


def test_binned_tables_and_chi_square_match_pandas(evaluations):
    """By-frequency and by-recency tables and the chi-square test equal pandas."""
    got, want = evaluations
    pd.testing.assert_frame_equal(got.by_frequency, want.by_frequency, rtol=1e-12)
    pd.testing.assert_frame_equal(got.by_recency, want.by_recency, rtol=1e-12)
    np.testing.assert_allclose(got.chi_square.statistic, want.chi_square.statistic, rtol=1e-9)
    assert got.chi_square.dof == want.chi_square.dof


def test_tracking_matches_pandas(evaluations):
    """Tracking from the split's tracking columns equals pandas' tracking from the log."""
    got, want = evaluations
    pd.testing.assert_frame_equal(got.tracking, want.tracking, rtol=1e-12)
    assert got.tracking.attrs == want.tracking.attrs
    # FHL 2005: the cohort made 4,339 (x 10 for the full log) repeat purchases by week 78
    assert int(got.tracking["actual_cumulative"].iloc[-1]) == int(
        want.tracking["actual_cumulative"].iloc[-1])


def test_deciles_share_tied_customers_pro_rata(evaluations):
    """Decile sizes and predicted totals equal pandas; actual totals equal the pro-rata
    reference (pandas breaks ties by row order, Spark shares them)."""
    got, want = evaluations
    cols = ["model", "decile", "n_customers"]
    pd.testing.assert_frame_equal(got.deciles[cols], want.deciles[cols])
    np.testing.assert_allclose(got.deciles["predicted_total"], want.deciles["predicted_total"],
                               rtol=1e-9)
    cust = want.customers
    for model, score in (("BG/NBD + Gamma-Gamma", "predicted_value"),
                         ("Formula CLV baseline", "baseline_value")):
        p, a = cust[score].to_numpy(), cust["actual_value"].to_numpy()
        order = np.argsort(-p, kind="stable")
        p, a = p[order], a[order]
        n = len(p)
        edges = [(j * n + 9) // 10 for j in range(11)]
        values, start, inverse = np.unique(-p, return_index=True, return_inverse=True)
        sizes = np.bincount(inverse)
        mean_a = np.bincount(inverse, weights=a) / sizes
        expected = []
        for j in range(10):
            lo, hi = edges[j], edges[j + 1]
            overlap = np.clip(np.minimum(start + sizes, hi) - np.maximum(start, lo), 0, None)
            expected.append(float(overlap @ mean_a))
        mine = got.deciles[got.deciles["model"] == model]["actual_total"].to_numpy()
        np.testing.assert_allclose(mine, expected, rtol=1e-9)


def test_tracking_from_transactions_without_tracking_columns(cdnow_sdf, cdnow_models,
                                                             evaluations):
    """Without tracking columns, transactions= gives the same tracking series."""
    bg, _, _ = cdnow_models
    split = cs.calibration_holdout(cdnow_sdf, "1997-09-30", "1998-06-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_tx = cs.evaluate(split, bg, None, None, transactions=cdnow_sdf)
    pd.testing.assert_frame_equal(with_tx.tracking, evaluations[0].tracking)
    assert np.isnan(with_tx.metrics["value_mae"]).all()  # no spend model, no value


def test_spearman_on_a_sample_is_stated(cdnow_split, cdnow_models, evaluations):
    """Above spearman_sample customers rho comes from a sample, said in the notes, close."""
    bg, gg, base = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampled = cs.evaluate(cdnow_split, bg, gg, base, spearman_sample=5_000)
    assert any("uniform random sample" in n for n in sampled.notes)
    exact = evaluations[0].metrics["purchases_spearman"]
    np.testing.assert_allclose(sampled.metrics["purchases_spearman"], exact, atol=0.05)
    np.testing.assert_allclose(sampled.metrics["purchases_mae"],
                               evaluations[0].metrics["purchases_mae"], rtol=1e-12)
