"""clvlab.spark.fit: every registered model fitted from counted rows equals the pandas fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clvlab
from clvlab.models.contract import fit_columns
from clvlab.models.registry import get_model_class, registered

cs = pytest.importorskip("clvlab.spark")


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def weekly_splits(cdnow_sdf, cdnow_tx):
    """Spark and pandas splits with purchases merged per week (for discrete-time models)."""
    args = ("1997-09-30", "1998-06-30")
    return (cs.calibration_holdout(cdnow_sdf, *args, merge_period="W"),
            clvlab.calibration_holdout(cdnow_tx, *args, merge_period="W"))


@pytest.mark.parametrize("key", registered())
def test_every_registered_model_fits_from_counts_like_pandas(key, cdnow_split, cdnow_split_pd,
                                                             request):
    """Spark counts + driver fit == pandas fit on all 23,570 customers (rtol 1e-8).

    Discrete-time models (BG/BB) are fitted on the per-week splits their data need.
    """
    cls = get_model_class(key)
    if getattr(cls.capabilities(), "time", None) == "discrete":
        cdnow_split, cdnow_split_pd = request.getfixturevalue("weekly_splits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = cs.fit(cls(), cdnow_split)
    want = _quiet_fit(cls(), cdnow_split_pd)
    np.testing.assert_allclose(got.params_.to_numpy(), want.params_.to_numpy(), rtol=1e-8)
    assert got.n_customers_ == want.n_customers_
    assert got.time_unit_ == want.time_unit_
    if hasattr(want, "log_likelihood_"):
        np.testing.assert_allclose(got.log_likelihood_, want.log_likelihood_, rtol=1e-10)


def test_only_distinct_rows_reach_the_driver(cdnow_split, cdnow_split_pd):
    """fit_rows holds one row per distinct (frequency, recency, T), weights sum to customers."""
    rows = cs.fit_rows(cdnow_split, clvlab.BetaGeoFitter())
    keys = list(fit_columns(clvlab.BetaGeoFitter).keys)
    assert len(rows) == len(cdnow_split_pd[keys].drop_duplicates()) == 8_685
    assert rows["n_customers"].sum() == len(cdnow_split_pd) == 23_570
    assert not rows.duplicated(keys).any()
    # each row's representative id is a real customer with exactly those values
    sample = rows.head(50)
    np.testing.assert_array_equal(cdnow_split_pd.loc[sample.index, keys].to_numpy(),
                                  sample[keys].to_numpy())


def test_the_counts_matter(cdnow_split):
    """Fitting the distinct rows with weight 1 (the Databricks-accelerator mistake) is wrong."""
    rows = cs.fit_rows(cdnow_split, clvlab.BetaGeoFitter())
    data = rows.drop(columns="n_customers")
    data.attrs["time_unit"] = "W"
    right = _quiet_fit(clvlab.BetaGeoFitter(), data, weights=rows["n_customers"].to_numpy())
    wrong = _quiet_fit(clvlab.BetaGeoFitter(), data)
    rel = np.abs(wrong.params_ / right.params_ - 1)
    assert rel.max() > 0.2, rel  # r, alpha, a, b move by tens of percent
    assert wrong.n_customers_ == len(rows) != right.n_customers_


def test_gamma_gamma_counts_customers_not_rows(cdnow_split, cdnow_split_pd):
    """Exclusion counts and the note count customers when fitted from counted rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = cs.fit(clvlab.GammaGammaFitter(), cdnow_split)
    want = _quiet_fit(clvlab.GammaGammaFitter(), cdnow_split_pd)
    assert got.n_excluded_ == want.n_excluded_
    assert got.exclusion_note_ == want.exclusion_note_


def test_fit_refuses_a_pandas_frame(cdnow_split_pd):
    """fit is for Spark frames; a pandas frame gets a clear TypeError."""
    with pytest.raises(TypeError, match="Spark DataFrame"):
        cs.fit(clvlab.BetaGeoFitter(), cdnow_split_pd)


def test_one_aggregation_serves_models_that_share_keys(cdnow_split):
    """count_rows with the baseline's means gives, column for column, each model's fit_rows."""
    import pandas as pd

    import clvlab
    import clvlab.spark as cs
    from clvlab.spark._fit import count_rows

    shared = count_rows(cdnow_split, ("frequency", "recency", "T"),
                        ("total_spend", "monetary_value"))
    for model in (clvlab.BetaGeoFitter(), clvlab.FormulaCLVBaseline()):
        own = cs.fit_rows(cdnow_split, model)
        pd.testing.assert_frame_equal(shared[list(own.columns)], own)
