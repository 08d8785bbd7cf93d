"""Tests of the seed formula: formula_clv and FormulaCLVBaseline."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvlab
from clvlab.clv import customer_lifetime_value
from clvlab.exceptions import (
    EmptyInputError,
    InvalidValueError,
    ModelWarning,
    NotFittedError,
)
from clvlab.models.baseline import FormulaCLVBaseline, formula_clv
from clvlab.persistence import load_model

WEEKS_PER_YEAR = 365.2425 / 7


@pytest.fixture
def rfm():
    """Four customers in weeks: regular, one-time, just acquired (T = 0), lapsed."""
    df = pd.DataFrame(
        {
            "frequency": [9.0, 0.0, 0.0, 3.0],
            "recency": [50.0, 0.0, 0.0, 10.0],
            "T": [52.0, 40.0, 0.0, 60.0],
            "monetary_value": [100.0, 0.0, 0.0, 20.0],
            "total_spend": [1000.0, 30.0, 55.0, 90.0],
        },
        index=pd.Index(["reg", "once", "new", "lapsed"], name="customer_id"),
    )
    df.attrs["time_unit"] = "W"
    return df


@pytest.fixture(scope="module")
def cdnow_rfm():
    """clvlab RFM summary of the CDNOW sample, calibration to 1997-09-30, in weeks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvlab.rfm_summary(
            clvlab.datasets.load_cdnow(sample=True), observation_end="1997-09-30"
        )


# ----------------------------------------------------------------------------------------
# formula_clv
# ----------------------------------------------------------------------------------------
def test_formula_clv_textbook_example():
    """100 per order x 10 orders a year x 2 years = 2000 (the issue's example)."""
    assert formula_clv(100, 10, 2) == 2000.0
    assert isinstance(formula_clv(100, 10, 2), float)


def test_formula_clv_broadcasts_arrays():
    """Arrays broadcast elementwise."""
    np.testing.assert_allclose(formula_clv([100, 50], 10, [2, 1]), [2000.0, 500.0], rtol=0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_formula_clv_rejects_negative_and_non_finite(bad):
    """Negative, NaN or infinite inputs raise InvalidValueError naming the argument and count."""
    with pytest.raises(
        InvalidValueError, match=r"purchases_per_year must be finite and >= 0; 1 value"
    ):
        formula_clv(100, [10, bad], 2)


# ----------------------------------------------------------------------------------------
# FormulaCLVBaseline: definitions
# ----------------------------------------------------------------------------------------
def test_given_lifespan_without_discount_is_the_formula(rfm):
    """Lifespan 2 years, d = 0, horizon = lifespan: predict equals formula_clv per customer."""
    base = FormulaCLVBaseline(lifespan=2).fit(rfm)
    comp = base.predict(rfm, components=True)
    ppy = comp["purchase_rate"] * WEEKS_PER_YEAR
    np.testing.assert_allclose(comp["clv_baseline"], formula_clv(comp["aov"], ppy, 2.0), rtol=1e-12)
    # regular customer: AOV 1000/10 = 100, 9 repeats in 52 weeks
    np.testing.assert_allclose(
        comp.loc["reg", "clv_baseline"], 100 * 9 / 52 * 2 * WEEKS_PER_YEAR, rtol=1e-12
    )


def test_per_customer_definitions(rfm):
    """AOV = total_spend/(x+1), rate = x/T; T = 0 takes the cohort rate sum(x)/sum(T)."""
    base = FormulaCLVBaseline(lifespan=1).fit(rfm)
    comp = base.predict(rfm, horizon=10, components=True)
    np.testing.assert_allclose(comp["aov"], [100.0, 30.0, 55.0, 22.5], rtol=1e-14)
    cohort_rate = 12.0 / 152.0
    np.testing.assert_allclose(
        comp["purchase_rate"], [9 / 52, 0.0, cohort_rate, 3 / 60], rtol=1e-14
    )
    np.testing.assert_allclose(base.params_["purchase_rate"], cohort_rate, rtol=1e-14)
    np.testing.assert_allclose(base.params_["aov"], 1175.0 / 16.0, rtol=1e-14)
    np.testing.assert_allclose(comp["expected_purchases"], comp["purchase_rate"] * 10, rtol=1e-14)


def test_cohort_mode_gives_everyone_the_averages(rfm):
    """mode='cohort' values every customer at cohort AOV x cohort rate x lifespan."""
    base = FormulaCLVBaseline(mode="cohort", lifespan=1).fit(rfm)
    clv = base.predict(rfm)
    expected = (1175.0 / 16.0) * (12.0 / 152.0) * WEEKS_PER_YEAR
    np.testing.assert_allclose(clv.to_numpy(), np.full(4, expected), rtol=1e-12)


def test_without_total_spend_uses_monetary_value(rfm):
    """Without total_spend, AOV is monetary_value; one-time buyers take the cohort's repeat AOV."""
    base = FormulaCLVBaseline(lifespan=1).fit(rfm.drop(columns="total_spend"))
    comp = base.predict(rfm.drop(columns="total_spend"), horizon=1, components=True)
    cohort = (9 * 100 + 3 * 20) / 12
    np.testing.assert_allclose(comp["aov"], [100.0, cohort, cohort, 20.0], rtol=1e-14)


def test_horizon_truncates_at_lifespan(rfm):
    """Value grows linearly with the horizon up to the lifespan and is flat beyond (d = 0)."""
    base = FormulaCLVBaseline(lifespan=20, lifespan_unit="W").fit(rfm)
    v10, v20, v40 = (base.predict(rfm, horizon=h).to_numpy() for h in (10, 20, 40))
    np.testing.assert_allclose(v20, 2 * v10, rtol=1e-14)
    np.testing.assert_allclose(v40, v20, rtol=1e-14)


def test_discounting_matches_probabilistic_clv_number_for_number(rfm):
    """At a constant purchase rate, baseline and customer_lifetime_value agree (rtol 1e-10)."""

    class ConstantRate:
        time_unit_ = "W"

        def expected_purchases(self, data, t):
            return pd.Series(9 / 52 * t, index=data.index)

    class FixedSpend:
        def expected_spend(self, data):
            return pd.Series(100.0, index=data.index)

    base = FormulaCLVBaseline(lifespan=10).fit(rfm)  # lifespan beyond the horizon
    reg = rfm.loc[["reg"]]
    for method in ("continuous", "periods"):
        b = base.predict(reg, horizon=52, discount_rate=0.003, margin=0.3, method=method)
        p = customer_lifetime_value(
            ConstantRate(), FixedSpend(), reg, 52, 0.003, 0.3, method=method
        )
        np.testing.assert_allclose(b.to_numpy(), p.to_numpy(), rtol=1e-10)
    b = base.predict(reg, horizon=1, discount_rate=0.1, time_unit="Y")
    p = customer_lifetime_value(ConstantRate(), FixedSpend(), reg, 1, 0.1, time_unit="Y")
    np.testing.assert_allclose(b.to_numpy(), p.to_numpy(), rtol=1e-10)


def test_discount_closed_form(rfm):
    """Continuous discounting is AOV x rate x (1 - (1+d)^-M) / ln(1+d), M = min(L, H)."""
    base = FormulaCLVBaseline(lifespan=30, lifespan_unit="W").fit(rfm)
    got = base.predict(rfm.loc[["reg"]], horizon=52, discount_rate=0.01).iloc[0]
    exact = 100 * 9 / 52 * -math.expm1(-math.log1p(0.01) * 30) / math.log1p(0.01)
    np.testing.assert_allclose(got, exact, rtol=1e-12)


# ----------------------------------------------------------------------------------------
# lifespan estimate
# ----------------------------------------------------------------------------------------
def test_lifespan_estimate_from_retention(rfm):
    """Silent > churn_window => churned at recency; lifespan = observed active time / churned."""
    base = FormulaCLVBaseline(churn_window=26, lifespan_unit="W").fit(rfm)
    # silences T - recency: reg 2, once 40, new 0, lapsed 50 -> once and lapsed churned
    # active time: once 0 + lapsed 10 (churned at recency) + reg 52 + new 0 (censored at T)
    np.testing.assert_allclose(base.params_["lifespan"], 62.0 / 2, rtol=1e-14)
    assert base.n_churned_ == 2 and base.lifespan_estimated_
    np.testing.assert_allclose(base.lifespan_years_, 31.0 / WEEKS_PER_YEAR, rtol=1e-14)


def test_no_churn_gives_unbounded_lifespan_with_warning(rfm):
    """Nobody lapsed: infinite lifespan with a ModelWarning; predict then needs a horizon."""
    with pytest.warns(ModelWarning, match="estimated lifespan is unbounded"):
        base = FormulaCLVBaseline(churn_window=5, lifespan_unit="Y").fit(rfm)
    assert math.isinf(base.params_["lifespan"])
    with pytest.raises(ValueError, match="pass a horizon"):
        base.predict(rfm)
    np.testing.assert_allclose(base.predict(rfm, horizon=52).loc["reg"], 100 * 9, rtol=1e-12)


def test_cdnow_estimate_is_finite_and_documented_figures(cdnow_rfm):
    """CDNOW to 1997-09-30: 1,629 churned, AOV 35.96, 1.66 repeat purchases a year."""
    base = FormulaCLVBaseline().fit(cdnow_rfm)
    assert base.n_churned_ == 1629
    np.testing.assert_allclose(base.params_["aov"], 35.96, rtol=1e-3)
    np.testing.assert_allclose(base.purchases_per_year_, 1.6625, rtol=1e-3)
    clv = base.predict(cdnow_rfm, horizon=52, discount_rate=0.002)
    assert np.isfinite(clv).all() and (clv >= 0).all() and clv.name == "clv_baseline"


# ----------------------------------------------------------------------------------------
# surface: summary, persistence, inputs, errors
# ----------------------------------------------------------------------------------------
def test_summary_and_summary_table(rfm):
    """summary has the fitted-model columns; summary_table says how the lifespan was set."""
    base = FormulaCLVBaseline(lifespan=2).fit(rfm)
    s = base.summary
    assert list(s.index) == ["aov", "purchase_rate", "lifespan"]
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    np.testing.assert_allclose(s.loc["lifespan", "estimate"], 2 * WEEKS_PER_YEAR, rtol=1e-14)
    text = base.summary_table().as_text()
    assert "lifespan (years)" in text and "given" in text
    assert "<table" in base.summary_table().as_html()


@pytest.mark.parametrize("lifespan", ["estimate", 2.0])
def test_save_load_round_trip(tmp_path, rfm, lifespan):
    """JSON round trip (finite or unbounded lifespan) restores identical predictions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        base = FormulaCLVBaseline(lifespan=lifespan, churn_window=5).fit(rfm)
    path = tmp_path / "base.json"
    base.save(path)
    assert json.loads(path.read_text())["class"] == "FormulaCLVBaseline"
    loaded = load_model(path)
    assert isinstance(loaded, FormulaCLVBaseline) and loaded.time_unit_ == "W"
    pd.testing.assert_series_equal(loaded.params_, base.params_)
    pd.testing.assert_series_equal(
        loaded.predict(rfm, horizon=30, discount_rate=0.01),
        base.predict(rfm, horizon=30, discount_rate=0.01),
    )
    assert loaded.n_churned_ == base.n_churned_


def test_fit_on_transactions_equals_fit_on_rfm():
    """Given a transaction log, fit summarises it with rfm_summary first (same parameters)."""
    tx = clvlab.datasets.load_cdnow(sample=True)
    a = FormulaCLVBaseline().fit(tx, time_unit="W")
    b = FormulaCLVBaseline().fit(clvlab.rfm_summary(tx, time_unit="W"))
    pd.testing.assert_series_equal(a.params_, b.params_)


def test_time_unit_mismatch_and_not_fitted(rfm):
    """Predicting daily data with a weekly baseline, or before fit, raises clear errors."""
    with pytest.raises(NotFittedError):
        FormulaCLVBaseline().predict(rfm)
    base = FormulaCLVBaseline(lifespan=1).fit(rfm)
    daily = rfm.copy()
    daily.attrs["time_unit"] = "D"
    with pytest.raises(InvalidValueError, match="time unit 'D' but the baseline was fitted in 'W'"):
        base.predict(daily)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"mode": "segment"}, "mode must be"),
        ({"lifespan": -1}, "lifespan must be a finite number > 0"),
        ({"lifespan": "forever"}, "lifespan must be"),
        ({"churn_window": 0}, "churn_window must be"),
        ({"lifespan_unit": "months"}, "lifespan_unit must be one of"),
    ],
)
def test_bad_options_are_rejected_at_fit(rfm, options, match):
    """Invalid constructor options raise ValueError at fit naming the option."""
    with pytest.raises(ValueError, match=match):
        FormulaCLVBaseline(**options).fit(rfm)


def test_no_spend_information_is_an_error():
    """Only one-time buyers and no total_spend: EmptyInputError pointing to rfm_summary."""
    data = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [3.0], "monetary_value": [0.0]})
    with pytest.raises(EmptyInputError, match="needs spend"):
        FormulaCLVBaseline(lifespan=1).fit(data, time_unit="W")


@settings(max_examples=60, deadline=None)
@given(
    h1=st.floats(0, 500, exclude_min=True),
    h2=st.floats(0, 500, exclude_min=True),
    d1=st.floats(0, 0.1),
    d2=st.floats(0, 0.1),
)
def test_value_monotone_in_horizon_and_rate(h1, h2, d1, d2):
    """Baseline CLV never falls with a longer horizon nor rises with a higher rate (hypothesis)."""
    df = pd.DataFrame(
        {
            "frequency": [4.0, 0.0],
            "recency": [20.0, 0.0],
            "T": [30.0, 10.0],
            "total_spend": [250.0, 40.0],
        }
    )
    base = FormulaCLVBaseline(lifespan=3).fit(df, time_unit="W")
    (ha, hb), (da, db) = sorted((h1, h2)), sorted((d1, d2))
    a = base.predict(df, horizon=ha, discount_rate=da).to_numpy()
    b = base.predict(df, horizon=hb, discount_rate=da).to_numpy()
    c = base.predict(df, horizon=ha, discount_rate=db).to_numpy()
    assert (a >= 0).all() and (b >= a * (1 - 1e-12)).all() and (c <= a * (1 + 1e-12)).all()


def test_lifetimes_method_on_a_yearly_model_is_a_clear_error():
    """method='lifetimes' on a model fitted in years names the supported units (not a KeyError)."""
    rfm = pd.DataFrame(
        {"frequency": [2.0, 0.0], "recency": [1.0, 0.0], "T": [2.0, 1.5],
         "monetary_value": [10.0, 0.0], "total_spend": [30.0, 5.0]},
        index=pd.Index(["a", "b"], name="customer_id"),
    )
    base = FormulaCLVBaseline(lifespan=3.0).fit(rfm, time_unit="Y")
    with pytest.raises(ValueError, match=r"supports models fitted in 'D', 'W' or 'M'"):
        base.predict(rfm, horizon=12, method="lifetimes")
