"""Gamma-Gamma fitted where its rows are (SparkRows): equal to the pandas fit, counts kept."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import DataQualityWarning

cs = pytest.importorskip("clvlab.spark")

from clvlab.spark._fit import SparkRows, fit_counted  # noqa: E402


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _simulated_spend(n: int, seed: int) -> pd.DataFrame:
    """Repeat buyers' mean spend drawn from Gamma-Gamma near the CDNOW estimates.

    Continuous amounts, so nearly every repeat buyer is a distinct row (as in the
    benchmark's simulated logs, the case the fit in Spark is for); a third buy once.
    """
    rng = np.random.default_rng(seed)
    p, q, v = 6.25, 3.74, 15.44
    x = rng.poisson(1.5, n).astype(float)
    nu = rng.gamma(q, 1.0 / v, n)
    xs = np.maximum(x, 1.0)
    m = np.where(x > 0, rng.gamma(p * xs, 1.0 / (nu * xs)), 0.0)
    ids = pd.Index([f"c{i:07d}" for i in range(n)], name="customer_id")
    return pd.DataFrame({"frequency": x, "monetary_value": m}, index=ids)


def _spark(spark, frame: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame.reset_index())


def _assert_same_fit(got, want, rtol: float = 1e-8) -> None:
    np.testing.assert_allclose(got.params_.to_numpy(), want.params_.to_numpy(), rtol=rtol)
    np.testing.assert_allclose(got.log_likelihood_, want.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(got.standard_errors_.to_numpy(),
                               want.standard_errors_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(got.frequency_spend_correlation_,
                               want.frequency_spend_correlation_, rtol=1e-9)
    assert got.n_customers_ == want.n_customers_
    assert got.n_excluded_ == want.n_excluded_
    assert got.exclusion_note_ == want.exclusion_note_
    assert got.converged_ and want.converged_


def test_fit_in_spark_equals_pandas_on_cdnow(cdnow_split, cdnow_split_pd):
    """CDNOW calibration: the fit on rows kept in Spark == pandas fit (params rtol 1e-8)."""
    want = _quiet(clvlab.GammaGammaFitter().fit, cdnow_split_pd)
    got = clvlab.GammaGammaFitter()
    with pytest.warns(DataQualityWarning, match="'10244'"):  # the same zero-spend customer
        info = fit_counted(got, cdnow_split, "W", driver_rows=0)
    # summary pass + one pass at the (exact) warm start: value, gradient and Hessian; the
    # convergence check and the log-likelihood reuse its points
    assert info.in_spark and info.n_rows == 6_046 and info.n_passes == 2
    _assert_same_fit(got, want)
    assert got.n_unique_rows_ == want.n_unique_rows_ == 6_044  # the repeat buyers' rows
    # the public entry point takes the same route
    again = _quiet(cs.fit, clvlab.GammaGammaFitter(), cdnow_split, driver_rows=0)
    np.testing.assert_array_equal(again.params_.to_numpy(), got.params_.to_numpy())


@pytest.mark.slow
def test_fit_in_spark_equals_pandas_on_a_simulated_log(spark):
    """60,000 customers, ~40,000 distinct rows (warm start on a subsample): rtol 1e-8."""
    frame = _simulated_spend(60_000, seed=17)
    want = _quiet(clvlab.GammaGammaFitter().fit, frame, time_unit="W")
    assert want.n_unique_rows_ > 2 * 20_000  # the warm start subsamples (stride >= 2)
    got = clvlab.GammaGammaFitter()
    info = _quiet(fit_counted, got, _spark(spark, frame), "W", driver_rows=0)
    assert info.in_spark
    assert info.n_collected < want.n_unique_rows_ // 2  # a subsample, not the rows
    _assert_same_fit(got, want)


def test_fit_in_spark_keeps_the_counts(spark):
    """Duplicated customers weigh as many: equal to pandas on all of them, not to weight 1.

    High spenders are copied five times (new ids, same values), so their distinct rows
    carry count 5; a fit that dropped the counts would move the estimates.
    """
    base = _simulated_spend(6_000, seed=3)
    high = base[base["monetary_value"] > base["monetary_value"].quantile(0.7)]
    copies = [high.set_axis([f"{i}-{k}" for i in high.index], axis=0) for k in range(4)]
    frame = pd.concat([base, *copies])
    frame.index.name = "customer_id"
    want = _quiet(clvlab.GammaGammaFitter().fit, frame, time_unit="W")
    got = clvlab.GammaGammaFitter()
    _quiet(fit_counted, got, _spark(spark, frame), "W", driver_rows=0)
    _assert_same_fit(got, want)
    unweighted = _quiet(clvlab.GammaGammaFitter().fit,
                        frame.drop_duplicates(), time_unit="W")
    assert unweighted.n_customers_ < got.n_customers_
    assert np.max(np.abs(unweighted.params_ / got.params_ - 1)) > 0.05


def test_small_rows_are_collected_and_models_without_the_option_too(cdnow_split):
    """Below driver_rows the rows are collected; purchase models always collect."""
    info = _quiet(fit_counted, clvlab.GammaGammaFitter(), cdnow_split, "W")
    assert not info.in_spark and info.n_collected == info.n_rows == 6_046
    assert "reached the driver" in info.note("Gamma-Gamma")
    info = _quiet(fit_counted, clvlab.BetaGeoFitter(), cdnow_split, "W", driver_rows=0)
    assert not info.in_spark and info.n_rows == 8_685


def test_spark_rows_reduce_sums_every_row_once(spark):
    """reduce adds the per-batch results of all rows (here: count and total weight)."""
    frame = _simulated_spend(1_000, seed=5)
    sdf = _spark(spark, frame).groupBy("frequency", "monetary_value").count() \
        .withColumnRenamed("count", "n_customers")
    rows = SparkRows(sdf.repartition(3), ("frequency", "monetary_value"), sdf.count(), {})

    def count_and_weight(arrays, weights):  # local: shipped by value to the workers
        return np.array([float(len(weights)), float(weights.sum())])

    sums = rows.reduce(count_and_weight)
    np.testing.assert_array_equal(sums, [rows.n_rows, 1_000.0])
    assert rows.n_passes == 1
    arrays, weights, heavy = rows.subsample(1, 10)
    assert len(weights) == rows.n_rows and heavy.sum() == 10  # stride 1: every row
    assert weights[:10].min() >= weights[10:].max()  # the heaviest first
