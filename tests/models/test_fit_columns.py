"""FitColumns: every model fits the same from counted rows as from its customers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.models.contract import FitColumns, fit_columns
from clvlab.models.registry import get_model_class, registered


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    """The FHL calibration period of the CDNOW 1/10 sample (2,357 customers, weeks)."""
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    return clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30")


def _counted(frame: pd.DataFrame, spec: FitColumns) -> tuple[pd.DataFrame, np.ndarray]:
    """Group customers by the key columns: counts as weights, the means columns averaged."""
    means = [c for c in spec.means if c in frame.columns]
    grouped = frame.groupby(list(spec.keys), sort=True).agg(
        **{c: (c, "mean") for c in means}, n=(spec.keys[0], "size")).reset_index()
    grouped.attrs = dict(frame.attrs)
    return grouped[[*spec.keys, *means]], grouped["n"].to_numpy(dtype=float)


@pytest.mark.parametrize("key", registered())
def test_every_model_declares_its_fit_columns(key):
    """fit_columns(model) names columns of the RFM summary; keys are never empty."""
    spec = fit_columns(get_model_class(key))
    assert isinstance(spec, FitColumns) and spec.keys
    assert set(spec.keys) | set(spec.means) <= {"frequency", "recency", "T", "monetary_value",
                                                "total_spend"}


@pytest.fixture(scope="module")
def weekly_split() -> pd.DataFrame:
    """The same split with purchases merged per week (whole weeks, for discrete models)."""
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    return clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", merge_period="W")


@pytest.mark.parametrize("key", registered())
def test_counted_rows_give_the_same_fit(key, split, weekly_split):
    """Fitting the counted distinct rows with their counts as weights == fitting customers."""
    cls = get_model_class(key)
    if cls.capabilities().time == "discrete":  # whole periods: the per-week summary
        split = weekly_split
    rows, weights = _counted(split, fit_columns(cls))
    assert len(rows) < len(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = cls().fit(split)
        got = cls().fit(rows, weights=weights)
    # rtol 1e-8, or 1e-5 of a standard error: where the likelihood is flat (BG/BB's
    # dropout shapes on weekly CDNOW) the optimum is fixed only to the rounding of the
    # objective, and summing the same rows in another order moves it by ~1e-7 relative
    want_p, got_p = want.params_.to_numpy(), got.params_.to_numpy()
    se = getattr(want, "standard_errors_", None)
    se = np.zeros_like(want_p) if se is None else np.nan_to_num(se.to_numpy(), nan=0.0)
    tol = np.maximum(1e-8 * np.abs(want_p), 1e-5 * se)
    assert np.all(np.abs(got_p - want_p) <= tol), (got_p, want_p, tol)
    assert got.n_customers_ == want.n_customers_


def test_gamma_gamma_exclusions_count_customers_with_weights(split):
    """With counted rows, one-time buyers and the note are counted in customers, not rows."""
    rows, weights = _counted(split, fit_columns(clvlab.GammaGammaFitter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = clvlab.GammaGammaFitter().fit(split)
        got = clvlab.GammaGammaFitter().fit(rows, weights=weights)
    assert got.n_excluded_ == want.n_excluded_ == int((split["frequency"] == 0).sum())
    assert got.exclusion_note_ == want.exclusion_note_


def test_baseline_weights_are_checked(split):
    """A negative or misshapen weight vector is refused by the baseline too."""
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        clvlab.FormulaCLVBaseline().fit(split, weights=-np.ones(len(split)))
    with pytest.raises(ValueError, match="one entry per customer"):
        clvlab.FormulaCLVBaseline().fit(split, weights=np.ones(3))


def test_fit_columns_of_a_stranger_is_a_type_error():
    """An object outside the contract gets a TypeError naming it."""
    with pytest.raises(TypeError, match="dict does not declare the columns"):
        fit_columns({})
