"""The compat layer is clvlab underneath: same estimates, same predictions, one trap closed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.compat import lifetimes as compat


def _native_frame(cdnow: pd.DataFrame) -> pd.DataFrame:
    frame = cdnow[["frequency", "recency", "T", "monetary_value"]].astype(float)
    frame.index = frame.index.astype(str).rename("customer_id")
    frame.attrs["time_unit"] = "W"
    return frame


def test_compat_fit_is_the_native_estimate(bgf, cdnow):
    """compat BetaGeoFitter.fit(f, r, T) gives exactly clvlab.BetaGeoFitter().fit(rfm)."""
    native = clvlab.BetaGeoFitter().fit(_native_frame(cdnow))
    np.testing.assert_array_equal(bgf.params_.to_numpy(), native.params_.to_numpy())
    np.testing.assert_array_equal(bgf.standard_errors_.to_numpy(),
                                  native.standard_errors_.to_numpy())
    assert isinstance(bgf.clvlab_model_, clvlab.BetaGeoFitter)
    assert bgf.clvlab_model_.time_unit_ is None  # lifetimes' summaries carry no unit


def test_compat_gamma_gamma_is_the_native_estimate(ggf, cdnow):
    """compat GammaGammaFitter.fit on repeat buyers equals the native fit on all customers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # native: one-time buyers excluded (expected)
        native = clvlab.GammaGammaFitter().fit(_native_frame(cdnow))
    np.testing.assert_allclose(ggf.params_.to_numpy(), native.params_.to_numpy(), rtol=1e-12)


def test_compat_predictions_are_the_native_predictions(bgf, ggf, cdnow):
    """Each compat predictor equals its native counterpart (same numbers, other names)."""
    native = bgf.to_clvlab("W")
    frame = _native_frame(cdnow)
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    np.testing.assert_array_equal(
        bgf.conditional_expected_number_of_purchases_up_to_time(52, f, r, T).to_numpy(),
        native.expected_purchases(frame, t=52).to_numpy())
    np.testing.assert_array_equal(bgf.conditional_probability_alive(f, r, T),
                                  native.probability_alive(frame).to_numpy())
    assert bgf.probability_of_n_purchases_up_to_time(39, 2) == native.probability_of_purchases(
        n=2, t=39)
    assert bgf.expected_number_of_purchases_up_to_time(52.0) == (
        native.expected_purchases_new_customer(52.0))
    np.testing.assert_array_equal(
        ggf.conditional_expected_average_profit(f, cdnow["monetary_value"]).to_numpy(),
        ggf.to_clvlab("W").expected_spend(frame).to_numpy())


def test_compat_clv_equals_native_lifetimes_method(bgf, ggf, cdnow):
    """customer_lifetime_value equals clvlab.customer_lifetime_value(method='lifetimes')."""
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    ours = ggf.customer_lifetime_value(bgf, *args, time=12, discount_rate=0.01, freq="W")
    native = clvlab.customer_lifetime_value(bgf.to_clvlab("W"), ggf.to_clvlab("W"),
                                            _native_frame(cdnow), horizon=12,
                                            discount_rate=0.01, method="lifetimes")
    np.testing.assert_allclose(ours.to_numpy(), native.to_numpy(), rtol=1e-12)


def test_to_clvlab_sets_the_unit_and_refuses_edited_parameters(cdnow):
    """to_clvlab returns a copy with time_unit_; after params_ are edited it refuses."""
    model = compat.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    native = model.to_clvlab("W")
    assert native.time_unit_ == "W" and model.clvlab_model_.time_unit_ is None
    model.params_ = model.params_ * 1.1
    with pytest.raises(ValueError, match="changed after fit"):
        model.to_clvlab("W")
    with pytest.raises(ValueError, match="no clvlab fit"):
        hand = compat.BetaGeoFitter()
        hand.params_ = model.params_
        hand.to_clvlab("W")


def test_native_count_and_time_are_keyword_only_the_migration_trap(bgf_at_lifetimes, lt_bgf):
    """lifetimes' (t, n) cannot silently become clvlab's (n, t): keywords, else a FutureWarning.

    The trap of the issue: lifetimes' ``probability_of_n_purchases_up_to_time(39, 0)`` is
    0.574; moved unchanged to clvlab's ``probability_of_purchases(39, 0)`` it would ask for
    39 purchases in no time (0.0). The compat method keeps lifetimes' order; the native one
    takes keywords and warns on positional calls, naming lifetimes' order.
    """
    expected = lt_bgf.probability_of_n_purchases_up_to_time(39, 0)
    assert bgf_at_lifetimes.probability_of_n_purchases_up_to_time(39, 0) == pytest.approx(
        expected, rel=1e-12)
    native = clvlab.BetaGeoFitter()
    native.params_ = lt_bgf.params_.copy()
    assert native.probability_of_purchases(n=0, t=39) == pytest.approx(expected, rel=1e-12)
    with pytest.warns(FutureWarning, match=r"lifetimes' equivalent takes \(t, n\)"):
        swapped = native.probability_of_purchases(39, 0)
    assert swapped == 0.0


def test_compat_runs_without_lifetimes_and_clvlab_does_not_load_it():
    """A compat notebook never imports lifetimes; `import clvlab` does not load the compat layer."""
    import subprocess
    import sys

    code = (
        "import sys, clvlab\n"
        "assert 'clvlab.compat' not in sys.modules\n"
        "from clvlab.compat import lifetimes as lt\n"
        "d = lt.datasets.load_cdnow_summary(index_col=[0])\n"
        "m = lt.BetaGeoFitter().fit(d['frequency'], d['recency'], d['T'])\n"
        "m.conditional_probability_alive(d['frequency'], d['recency'], d['T'])\n"
        "assert not any(k == 'lifetimes' or k.startswith('lifetimes.') for k in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
