"""Tests of clvlab.clv: discounted CLV, acquisition-cost ceiling, historical CLV."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import clvlab
from clvlab.clv import (
    acquisition_cost_ceiling,
    customer_lifetime_value,
    discount_schedule,
    historical_clv,
    per_period_rate,
)
from clvlab.exceptions import DataQualityWarning, InvalidValueError, NotFittedError
from clvlab.models.beta_geo import BetaGeoFitter
from clvlab.models.gamma_gamma import GammaGammaFitter


@pytest.fixture(scope="module")
def models(cdnow_summary):
    """BG/NBD on all 2,357 customers and Gamma-Gamma on the 946 repeat buyers (no penalty)."""
    return BetaGeoFitter().fit(cdnow_summary), GammaGammaFitter().fit(cdnow_summary)


@pytest.fixture(scope="module")
def cdnow_tx():
    """The CDNOW 1/10 sample transaction log."""
    return clvlab.datasets.load_cdnow(sample=True)


class _LinearPurchases:
    """Duck-typed purchase model with E[X(t)] = rate * t for everyone (closed-form checks)."""

    time_unit_ = "W"

    def __init__(self, rate, shape=None):
        self.rate, self.shape = rate, shape

    def _e(self, t):
        t = np.asarray(t, dtype=float)
        return self.rate * t if self.shape is None else 1.0 - np.exp(-self.shape * t)

    def expected_purchases(self, data, t):
        return pd.Series(self._e(t) * np.ones(len(data)), index=data.index)

    def expected_purchases_new_customer(self, t):
        return self._e(t)


class _UnitSpend:
    def expected_spend(self, data):
        return pd.Series(1.0, index=data.index)

    def population_mean_spend(self):
        return 1.0


# ----------------------------------------------------------------------------------------
# lifetimes compatibility (the issue's reference figures)
# ----------------------------------------------------------------------------------------
def test_lifetimes_mode_reproduces_the_issue_figures(cdnow_summary, models):
    """Issue figures: BG+GG unpenalised on lifetimes' weekly CDNOW, 12 x 4.345 weeks, 1%/month."""
    bg, gg = models
    clv = customer_lifetime_value(
        bg, gg, cdnow_summary, horizon=12, discount_rate=0.01, method="lifetimes"
    )
    np.testing.assert_allclose(
        clv.iloc[:5], [36.2785, 4.63747, 8.34409, 8.34409, 8.34409], rtol=2e-6
    )


def test_lifetimes_mode_equals_lifetimes_for_every_customer(cdnow_summary, models):
    """Equals lifetimes' customer_lifetime_value(freq='W'): own fits 1e-5, same params 1e-9."""
    from lifetimes import BetaGeoFitter as LBG
    from lifetimes import GammaGammaFitter as LGG

    bg, gg = models
    f, r, T, m = (cdnow_summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    lbg = LBG().fit(f, r, T)
    lgg = LGG().fit(f[f > 0], m[f > 0])
    theirs = lgg.customer_lifetime_value(lbg, f, r, T, m, time=12, discount_rate=0.01, freq="W")
    ours = customer_lifetime_value(bg, gg, cdnow_summary, 12, 0.01, method="lifetimes")
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-5)
    lbg.params_ = bg.params_.copy()
    lgg.params_ = gg.params_.copy()
    theirs = lgg.customer_lifetime_value(lbg, f, r, T, m, time=12, discount_rate=0.01, freq="W")
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9)


def test_lifetimes_mode_daily_uses_30_day_months(cdnow_tx):
    """Daily data: lifetimes' 30-day month; lifetimes (freq='D', same params) agrees to 1e-9."""
    from lifetimes import BetaGeoFitter as LBG
    from lifetimes import GammaGammaFitter as LGG

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rfm = clvlab.rfm_summary(cdnow_tx, time_unit="D", observation_end="1997-09-30")
        bg, gg = BetaGeoFitter().fit(rfm), GammaGammaFitter().fit(rfm)
    ours = customer_lifetime_value(bg, gg, rfm, 6, 0.02, method="lifetimes")
    lbg, lgg = LBG(), LGG()
    lbg.params_, lgg.params_ = bg.params_.copy(), gg.params_.copy()
    lbg.predict = (
        lbg.conditional_expected_number_of_purchases_up_to_time
    )  # what lifetimes' fit sets
    f, r, T, m = (rfm[c] for c in ("frequency", "recency", "T", "monetary_value"))
    theirs = lgg.customer_lifetime_value(lbg, f, r, T, m, time=6, discount_rate=0.02, freq="D")
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9)


# ----------------------------------------------------------------------------------------
# identities
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["continuous", "periods"])
def test_zero_discount_is_purchases_times_spend_times_margin(cdnow_summary, models, method):
    """discount 0 => CLV = E[purchases over horizon] x E[spend] x margin (rtol 1e-12)."""
    bg, gg = models
    clv = customer_lifetime_value(bg, gg, cdnow_summary, 39, 0.0, margin=0.3, method=method)
    expected = bg.expected_purchases(cdnow_summary, 39) * gg.expected_spend(cdnow_summary) * 0.3
    np.testing.assert_allclose(clv.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_clv_falls_with_rate_and_grows_with_horizon(cdnow_summary, models):
    """CLV strictly falls as the rate rises and grows with the horizon, for every customer."""
    bg, gg = models
    sub = cdnow_summary.iloc[::50]
    by_rate = [
        customer_lifetime_value(bg, gg, sub, 52, d).to_numpy() for d in (0, 0.002, 0.01, 0.05)
    ]
    assert all((a > b).all() for a, b in zip(by_rate, by_rate[1:], strict=False))
    by_h = [customer_lifetime_value(bg, gg, sub, h, 0.002).to_numpy() for h in (4, 26, 52, 520)]
    assert (by_h[0] > 0).all()
    assert all((a < b).all() for a, b in zip(by_h, by_h[1:], strict=False))


def test_margin_scales_clv(cdnow_summary, models):
    """CLV is proportional to the margin."""
    bg, gg = models
    full = customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.002)
    part = customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.002, margin=0.25)
    np.testing.assert_allclose(part.to_numpy(), 0.25 * full.to_numpy(), rtol=1e-14)


def test_output_shape_index_and_no_mutation(cdnow_summary, models):
    """Returns a Series 'clv' indexed like the data, finite and >= 0, leaving the data untouched."""
    bg, gg = models
    before = cdnow_summary.copy()
    clv = customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.002)
    pd.testing.assert_frame_equal(cdnow_summary, before)
    assert clv.name == "clv" and clv.index.equals(cdnow_summary.index)
    assert np.isfinite(clv).all() and (clv >= 0).all()


def test_components_are_consistent(cdnow_summary, models):
    """components=True gives purchases, discounted purchases and spend whose product is clv."""
    bg, gg = models
    comp = customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.002, margin=0.5, components=True)
    assert list(comp.columns) == [
        "expected_purchases",
        "discounted_purchases",
        "expected_spend",
        "clv",
    ]
    np.testing.assert_allclose(
        comp["clv"], 0.5 * comp["discounted_purchases"] * comp["expected_spend"], rtol=1e-14
    )
    assert (comp["discounted_purchases"] < comp["expected_purchases"]).all()
    np.testing.assert_allclose(
        comp["expected_purchases"], bg.expected_purchases(cdnow_summary, 52), rtol=1e-14
    )


def test_continuous_matches_fine_stieltjes_sum(cdnow_summary, models):
    """Continuous discounting equals a 20,000-step midpoint Riemann-Stieltjes sum (rtol 1e-7)."""
    bg, gg = models
    head = cdnow_summary.head(6)
    from clvlab.models.likelihoods import bgnbd_expected_purchases

    ts = np.linspace(0, 52, 20_001)
    E = np.column_stack(
        [
            bgnbd_expected_purchases(bg.params_.to_numpy(), ts, *(np.full_like(ts, v) for v in row))
            for row in head[["frequency", "recency", "T"]].to_numpy()
        ]
    )
    mid = (ts[1:] + ts[:-1]) / 2
    ref = ((E[1:] - E[:-1]) * (1.01**-mid)[:, None]).sum(axis=0)
    ref *= gg.expected_spend(head).to_numpy()
    clv = customer_lifetime_value(bg, gg, head, 52, 0.01)
    np.testing.assert_allclose(clv.to_numpy(), ref, rtol=1e-7)


@pytest.mark.parametrize("d,horizon", [(0.01, 52.0), (0.05, 520.0), (0.5, 300.0), (1e-6, 3.0)])
def test_continuous_schedule_is_exact_on_closed_forms(d, horizon):
    """Quadrature is exact (1e-10) for E = t and E = 1 - exp(-kt) (closed-form integrals)."""
    times, w = discount_schedule(horizon, d)
    delta = math.log1p(d)
    np.testing.assert_allclose(w @ times, -math.expm1(-delta * horizon) / delta, rtol=1e-10)
    k = 0.07
    exact = k / (k + delta) * -math.expm1(-(k + delta) * horizon)
    np.testing.assert_allclose(w @ (1 - np.exp(-k * times)), exact, rtol=1e-10)


def test_periods_schedule_is_end_of_period_sum():
    """method='periods' is sum_k [E(k)-E(k-1)] (1+d)^-k, last step at a fractional horizon."""
    times, w = discount_schedule(3.5, 0.1, "periods")
    np.testing.assert_allclose(times, [1, 2, 3, 3.5])
    E = lambda t: np.sqrt(t)  # noqa: E731
    pts = np.array([0, 1, 2, 3, 3.5])
    direct = np.sum(np.diff(E(pts)) * 1.1 ** -pts[1:])
    np.testing.assert_allclose(w @ E(times), direct, rtol=1e-14)


def test_time_unit_converts_horizon_and_rate(cdnow_summary, models):
    """1 year at 10% a year equals 52.1775 weeks at 1.1**(1/52.1775)-1 a week (rtol 1e-12)."""
    bg, gg = models
    yearly = customer_lifetime_value(bg, gg, cdnow_summary.head(20), 1, 0.10, time_unit="Y")
    weeks = 365.2425 / 7
    weekly = customer_lifetime_value(bg, gg, cdnow_summary.head(20), weeks, 1.1 ** (1 / weeks) - 1)
    np.testing.assert_allclose(yearly.to_numpy(), weekly.to_numpy(), rtol=1e-12)


def test_edge_frequencies_stay_finite(models):
    """Customers with frequency 0, 1, 300, 2,000 and 20,000, recency = T and T = 0 get finite,
    non-negative CLV, and heavier buyers are worth more."""
    bg, gg = models
    data = pd.DataFrame(
        {
            "frequency": [0.0, 1.0, 300.0, 2_000.0, 20_000.0, 5.0, 0.0],
            "recency": [0.0, 10.0, 70.0, 52.0, 77.9, 78.0, 0.0],
            "T": [78.0, 78.0, 78.0, 52.0, 78.0, 78.0, 0.0],
            "monetary_value": [0.0, 1e-6, 25.0, 30.0, 1e7, 40.0, 0.0],
        },
        index=pd.Index(["f0", "f1", "f300", "f2000", "f20000", "recency_eq_T", "T0"],
                       name="customer_id"),
    )
    clv = customer_lifetime_value(bg, gg, data, 52, 0.002)
    assert np.isfinite(clv).all() and (clv >= 0).all()
    assert clv["f20000"] > clv["f2000"] > clv["f300"] > 0
    # a customer seen today for the first time (T = 0) is worth what a new customer is,
    # without the first purchase the ceiling adds
    ceiling_repeat = acquisition_cost_ceiling(bg, gg, 52, 0.002, include_first_purchase=False)
    np.testing.assert_allclose(clv["T0"], ceiling_repeat, rtol=1e-9)


def test_swapped_or_wrong_models_are_clear_type_errors(cdnow_summary, models):
    """Passing the spend model where the purchase model goes (or any object) names the
    missing method and the expected order, instead of an AttributeError from inside."""
    bg, gg = models
    with pytest.raises(TypeError, match=r"purchase_model must be a fitted model with "
                                        r"expected_purchases\(\).*GammaGammaFitter.*order"):
        customer_lifetime_value(gg, bg, cdnow_summary, 52, 0.002)
    with pytest.raises(TypeError, match=r"spend_model must be .*expected_spend"):
        customer_lifetime_value(bg, "gg", cdnow_summary, 52, 0.002)
    with pytest.raises(TypeError, match=r"purchase_model .*expected_purchases_new_customer"):
        acquisition_cost_ceiling(gg, bg, 52, 0.002)


@settings(max_examples=40, deadline=None)
@given(d1=st.floats(0, 0.2), d2=st.floats(0, 0.2), h=st.floats(0.5, 200),
       m=st.floats(0, 1, exclude_min=True))
def test_clv_monotone_in_rate_property(d1, d2, h, m):
    """For any horizon and margin, a higher discount rate never gives a higher CLV (hypothesis)."""
    model = _LinearPurchases(0.3)
    data = pd.DataFrame({"frequency": [1.0], "recency": [1.0], "T": [2.0], "monetary_value": [5.0]})
    lo, hi = sorted((d1, d2))
    a = customer_lifetime_value(model, _UnitSpend(), data, h, lo, m).iloc[0]
    b = customer_lifetime_value(model, _UnitSpend(), data, h, hi, m).iloc[0]
    assert b <= a * (1 + 1e-12) + 1e-15


# ----------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------
def test_bad_arguments_are_clear_errors(cdnow_summary, models):
    """Negative rate, NaN horizon, text margin, unknown method: messages name the argument."""
    bg, gg = models
    with pytest.raises(ValueError, match="discount_rate must be a finite number >= 0"):
        customer_lifetime_value(bg, gg, cdnow_summary, 52, -0.1)
    with pytest.raises(ValueError, match="horizon must be a finite number"):
        customer_lifetime_value(bg, gg, cdnow_summary, float("nan"), 0.01)
    with pytest.raises(TypeError, match="margin must be a number"):
        customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.01, margin="30%")
    with pytest.raises(ValueError, match="method must be one of"):
        customer_lifetime_value(bg, gg, cdnow_summary, 52, 0.01, method="monthly")


def test_time_unit_mismatch_is_rejected(cdnow_summary, models):
    """Data in days scored by a weekly model raise InvalidValueError naming both units."""
    bg, gg = models
    daily = cdnow_summary.copy()
    daily.attrs["time_unit"] = "D"
    with pytest.raises(
        InvalidValueError, match="time unit 'D' but the purchase model was fitted in 'W'"
    ):
        customer_lifetime_value(bg, gg, daily, 52, 0.01)


def test_lifetimes_mode_limits(cdnow_summary, models):
    """method='lifetimes' refuses fractional months and an explicit time_unit."""
    bg, gg = models
    with pytest.raises(ValueError, match="whole number of months"):
        customer_lifetime_value(bg, gg, cdnow_summary, 12.5, 0.01, method="lifetimes")
    with pytest.raises(ValueError, match="do not pass time_unit"):
        customer_lifetime_value(bg, gg, cdnow_summary, 12, 0.01, method="lifetimes", time_unit="M")


def test_unfitted_models_raise(cdnow_summary, models):
    """An unfitted purchase or spend model raises NotFittedError."""
    bg, gg = models
    with pytest.raises(NotFittedError):
        customer_lifetime_value(BetaGeoFitter(), gg, cdnow_summary, 52, 0.01)
    with pytest.raises(NotFittedError):
        customer_lifetime_value(bg, GammaGammaFitter(), cdnow_summary, 52, 0.01)


def test_bad_rfm_values_are_reported(cdnow_summary, models):
    """A negative monetary_value is reported with the column and the customer id."""
    bg, gg = models
    bad = cdnow_summary.head(3).copy()
    bad.loc["2", "monetary_value"] = -5.0
    with pytest.raises(InvalidValueError, match=r"monetary_value: must be >= 0; 1 customer .*'2'"):
        customer_lifetime_value(bg, gg, bad, 52, 0.01)


def test_spend_model_warning_points_at_the_callers_line(cdnow_summary, models):
    """A warning of expected_spend during customer_lifetime_value names this test file."""
    bg, gg = models
    data = cdnow_summary.head(3).copy()
    data.loc[data.index[1], ["frequency", "monetary_value"]] = [2, 0.0]  # repeat, no spend
    with pytest.warns(DataQualityWarning, match="monetary_value 0") as record:
        customer_lifetime_value(bg, gg, data, 52, 0.01)
    assert [w.filename for w in record] == [__file__]


def test_score_customers_shows_the_spend_warning_once_at_the_callers_line(
    cdnow_summary, models
):
    """score_customers (expected_spend, then the CLV): one warning, naming this test file."""
    from clvlab.scoring import score_customers

    bg, gg = models
    data = cdnow_summary.head(3).copy()
    data.loc[data.index[1], ["frequency", "monetary_value"]] = [2, 0.0]
    with pytest.warns(DataQualityWarning, match="monetary_value 0") as record:
        score_customers(data, bg, gg, horizon=52, discount_rate=0.01)
    assert [w.filename for w in record if "monetary_value 0" in str(w.message)] == [__file__]


# ----------------------------------------------------------------------------------------
# annual to per-period discount rate
# ----------------------------------------------------------------------------------------
def test_per_period_rate_hand_value_for_weeks():
    """10 % a year is 1.1 ** (7 / 365.2425) - 1 = 0.0018283222 a week (mpmath, rtol 1e-13)."""
    np.testing.assert_allclose(per_period_rate(0.10, "W"), 0.00182832221049189, rtol=1e-13)


@pytest.mark.parametrize("unit", ["D", "W", "M", "Y"])
def test_per_period_rate_compounds_back_to_the_annual_rate(unit):
    """Compounding the per-unit rate over one mean Gregorian year gives the annual rate (1e-12)."""
    periods_per_year = 365.2425 / {"D": 1.0, "W": 7.0, "M": 365.2425 / 12, "Y": 365.2425}[unit]
    rate = per_period_rate(0.10, unit)
    np.testing.assert_allclose((1 + rate) ** periods_per_year - 1, 0.10, rtol=1e-12)
    assert per_period_rate(0.0, unit) == 0.0


@given(annual=st.floats(0.0, 1.0), unit=st.sampled_from(["D", "W", "M", "Y"]))
@example(annual=6.758493694968732e-10, unit="Y")  # once lost digits to cancellation
@settings(max_examples=60, deadline=None)
def test_per_period_rate_is_between_zero_and_the_annual_rate(annual, unit):
    """A rate per unit of at most a year is >= 0 and <= the annual rate (Y: equal, rtol 1e-12)."""
    rate = per_period_rate(annual, unit)
    assert 0.0 <= rate <= annual * (1 + 1e-12)
    if unit == "Y":
        np.testing.assert_allclose(rate, annual, rtol=1e-12, atol=1e-15)


def test_per_period_rate_rejects_bad_arguments():
    """Negative or NaN rates and unknown units are clvlab errors naming the argument."""
    with pytest.raises(InvalidValueError, match="annual_rate must be a finite number >= 0"):
        per_period_rate(-0.1, "W")
    with pytest.raises(InvalidValueError, match="annual_rate must be a finite number"):
        per_period_rate(float("nan"), "W")
    with pytest.raises(InvalidValueError, match="time_unit must be one of"):
        per_period_rate(0.1, "week")
    with pytest.raises(TypeError, match="annual_rate must be a number"):
        per_period_rate("10%", "W")


# ----------------------------------------------------------------------------------------
# acquisition-cost ceiling
# ----------------------------------------------------------------------------------------
def test_ceiling_at_zero_discount_is_first_plus_repeat_purchases(models):
    """d = 0: ceiling = margin x S x (1 + E[X(H)]) with S the population mean spend (rtol 1e-12)."""
    bg, gg = models
    s = gg.population_mean_spend()
    got = acquisition_cost_ceiling(bg, gg, 52, 0.0, margin=0.4)
    np.testing.assert_allclose(
        got, 0.4 * s * (1 + bg.expected_purchases_new_customer(52)), rtol=1e-12
    )
    without = acquisition_cost_ceiling(bg, gg, 52, 0.0, margin=0.4, include_first_purchase=False)
    np.testing.assert_allclose(got - without, 0.4 * s, rtol=1e-12)
    custom = acquisition_cost_ceiling(bg, gg, 52, 0.0, margin=0.4, first_purchase_value=50.0)
    np.testing.assert_allclose(custom - without, 0.4 * 50.0, rtol=1e-12)


def test_ceiling_equals_clv_of_a_just_acquired_customer(models):
    """Without the first purchase the ceiling is the CLV of x=0, t_x=0, T=0 (rtol 1e-10)."""
    bg, gg = models
    newcomer = pd.DataFrame(
        {"frequency": [0.0], "recency": [0.0], "T": [0.0], "monetary_value": [0.0]}
    )
    clv = customer_lifetime_value(bg, gg, newcomer, 104, 0.003).iloc[0]
    ceiling = acquisition_cost_ceiling(bg, gg, 104, 0.003, include_first_purchase=False)
    np.testing.assert_allclose(ceiling, clv, rtol=1e-10)


def test_ceiling_falls_with_rate_and_matches_closed_form():
    """With E[X(t)] = 0.5 t and S = 1 the ceiling is 1 + 0.5 (1-(1+d)^-H)/ln(1+d)."""
    got = acquisition_cost_ceiling(_LinearPurchases(0.5), _UnitSpend(), 10, 0.05)
    exact = 1 + 0.5 * -math.expm1(-math.log1p(0.05) * 10) / math.log1p(0.05)
    np.testing.assert_allclose(got, exact, rtol=1e-12)
    assert acquisition_cost_ceiling(_LinearPurchases(0.5), _UnitSpend(), 10, 0.10) < got


# ----------------------------------------------------------------------------------------
# historical CLV
# ----------------------------------------------------------------------------------------
def test_historical_clv_whole_log_matches_direct_sums(cdnow_tx):
    """Whole-log total_spend equals a direct groupby sum of amounts and rfm_summary's column."""
    hist = historical_clv(cdnow_tx, margin=0.5)
    direct = cdnow_tx.groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(hist["total_spend"], direct.loc[hist.index], rtol=1e-12)
    np.testing.assert_allclose(hist["historical_clv"], 0.5 * hist["total_spend"], rtol=1e-15)
    assert len(hist) == 2357
    assert hist["n_transactions"].sum() == len(cdnow_tx) == 6919
    rfm = clvlab.rfm_summary(cdnow_tx)
    pd.testing.assert_series_equal(hist["total_spend"], rfm["total_spend"])


def test_historical_clv_split_matches_direct_sums(cdnow_tx):
    """Calibration and holdout spend equal direct sums on each side of 1997-09-30."""
    hist = historical_clv(cdnow_tx, calibration_end="1997-09-30")
    cal = cdnow_tx[cdnow_tx["date"] <= "1997-09-30"].groupby("customer_id")["amount"].sum()
    hold = cdnow_tx[cdnow_tx["date"] > "1997-09-30"].groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(hist["total_spend"], cal.loc[hist.index], rtol=1e-12)
    np.testing.assert_allclose(
        hist["total_spend_holdout"], hold.reindex(hist.index, fill_value=0.0), rtol=1e-12
    )
    np.testing.assert_allclose(hist["historical_clv_holdout"], hist["total_spend_holdout"])
    np.testing.assert_allclose(hist["duration_holdout"], 273 / 7, rtol=1e-12)
    assert hist.attrs["calibration_end"].startswith("1997-09-30")


def test_predicted_and_historical_holdout_value_are_comparable(cdnow_tx):
    """Holdout CLV (d = 0) and realised holdout spend share index and scale (total within 25%)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rfm = clvlab.calibration_holdout(cdnow_tx, "1997-09-30", "1998-06-30")
    bg, gg = BetaGeoFitter().fit(rfm), GammaGammaFitter().fit(rfm)
    hist = historical_clv(cdnow_tx, calibration_end="1997-09-30", observation_end="1998-06-30")
    pred = customer_lifetime_value(bg, gg, rfm, float(rfm["duration_holdout"].iloc[0]), 0.0)
    assert pred.index.equals(hist.index)
    ratio = pred.sum() / hist["historical_clv_holdout"].sum()
    assert 0.75 < ratio < 1.25


# ----------------------------------------------------------------------------------------
# residual CLV: horizon = np.inf (DERT)
# ----------------------------------------------------------------------------------------
WEEKLY_10PCT = per_period_rate(0.10, "W")


@pytest.fixture(scope="module")
def residual(cdnow_summary, models):
    """Every 16th CDNOW customer and their residual CLV at 10% a year (weeks)."""
    bg, gg = models
    sub = cdnow_summary.iloc[::16]
    return sub, customer_lifetime_value(bg, gg, sub, np.inf, WEEKLY_10PCT)


@pytest.mark.parametrize("horizon", [260.0, 1040.0, 2080.0, 5200.0])
def test_long_horizons_converge_to_the_residual_clv(residual, models, horizon):
    """0 <= CLV(inf) - CLV(H) <= (1+d)^-H CLV(inf) per customer (rtol 1e-5 of quadrature).

    The purchase intensity given the history never increases (BG/NBD), so the value beyond
    H is at most the discount factor at H times the value from now on.
    """
    bg, gg = models
    sub, inf_clv = residual
    finite = customer_lifetime_value(bg, gg, sub, horizon, WEEKLY_10PCT).to_numpy()
    gap = inf_clv.to_numpy() - finite
    tol = 1e-5 * inf_clv.to_numpy()
    assert np.all(gap >= -tol)
    assert np.all(gap <= (1 + WEEKLY_10PCT) ** -horizon * inf_clv.to_numpy() + tol)


def test_residual_clv_equals_adaptive_quadrature(residual, models):
    """DERT x spend equals scipy.integrate.quad of the discounted expectation (rtol 1e-10)."""
    from scipy import integrate

    bg, gg = models
    sub, inf_clv = residual
    delta = math.log1p(WEEKLY_10PCT)
    spend = gg.expected_spend(sub).to_numpy()
    params = bg.params_.to_numpy()
    for i in (0, 7, 40, 100, 147):
        x, tx, T = (np.array([sub[c].iloc[i]]) for c in ("frequency", "recency", "T"))

        def e(t, x=x, tx=tx, T=T):  # the pure function behind expected_purchases
            return float(bg._expected(params, np.asarray(t), x, tx, T)[0])

        edges = np.r_[0.0, np.geomspace(1e-4, 40 / delta, 40)]
        ref = math.exp(-40) * e(40 / delta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quad's round-off notice near its tolerance
            ref += sum(integrate.quad(lambda t: delta * math.exp(-delta * t) * e(t), a, b,
                                      epsabs=0, epsrel=1e-12)[0]
                       for a, b in zip(edges[:-1], edges[1:], strict=True))
        np.testing.assert_allclose(inf_clv.iloc[i], spend[i] * ref, rtol=1e-10)


def test_residual_clv_is_exact_for_a_model_that_never_leaves(cdnow_summary, models):
    """NBD stand-in: E(t) = (r+x) t / (alpha+T), so DERT = (r+x) / ((alpha+T) ln(1+d))."""
    import stand_in_models

    _, gg = models
    nbd = stand_in_models.BareNBDFitter().fit(cdnow_summary)
    r, alpha = nbd.params_
    sub = cdnow_summary.iloc[::5]
    want = ((r + sub["frequency"]) / (alpha + sub["T"]) / math.log1p(WEEKLY_10PCT)
            * gg.expected_spend(sub))
    got = customer_lifetime_value(nbd, gg, sub, np.inf, WEEKLY_10PCT)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)


def test_residual_clv_components_and_time_units(residual, models):
    """Components leave out the unbounded expected purchases; yearly inputs convert exactly."""
    bg, gg = models
    sub, inf_clv = residual
    comp = customer_lifetime_value(bg, gg, sub, np.inf, WEEKLY_10PCT, components=True)
    assert list(comp.columns) == ["discounted_purchases", "expected_spend", "clv"]
    np.testing.assert_allclose(comp["clv"], inf_clv, rtol=1e-15)
    yearly = customer_lifetime_value(bg, gg, sub, np.inf, 0.10, time_unit="Y")
    np.testing.assert_allclose(yearly, inf_clv, rtol=1e-9)


def test_residual_clv_needs_a_rate_continuous_discounting_and_dert(cdnow_summary, models):
    """horizon=inf without a rate, with period discounting or a duck-typed model: clear errors."""
    bg, gg = models
    with pytest.raises(ValueError, match=r"horizon=np.inf needs discount_rate > 0"):
        customer_lifetime_value(bg, gg, cdnow_summary, np.inf, 0.0)
    with pytest.raises(ValueError, match=r"needs method='continuous'"):
        customer_lifetime_value(bg, gg, cdnow_summary, np.inf, 0.01, method="periods")
    with pytest.raises(ValueError, match=r"needs method='continuous'"):
        customer_lifetime_value(bg, gg, cdnow_summary, np.inf, 0.01, method="lifetimes")
    with pytest.raises(ValueError, match="discounted expected residual purchases"):
        customer_lifetime_value(_LinearPurchases(0.1), _UnitSpend(), cdnow_summary, np.inf, 0.01)
    with pytest.raises(ValueError, match=r"horizon must be a finite number > 0 \(or np.inf"):
        customer_lifetime_value(bg, gg, cdnow_summary, -np.inf, 0.01)


def test_ceiling_over_an_unbounded_horizon(models):
    """Ceiling at horizon=inf: rate x S / ln(1+d) for linear E; adaptive quadrature (1e-10)."""
    spend = type("S", (), {"population_mean_spend": lambda self: 2.0})()
    d = 0.01
    got = acquisition_cost_ceiling(_LinearPurchases(0.5), spend, np.inf, d, margin=0.5)
    np.testing.assert_allclose(got, 0.5 * (2.0 + 2.0 * 0.5 / math.log1p(d)), rtol=1e-12)
    from scipy import integrate

    bg, gg = models
    inf = acquisition_cost_ceiling(bg, gg, np.inf, WEEKLY_10PCT, include_first_purchase=False)
    delta = math.log1p(WEEKLY_10PCT)

    def e(t):
        return float(bg.expected_purchases_new_customer(t))

    edges = np.r_[0.0, np.geomspace(1e-5, 40 / delta, 60)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quad's round-off notice near its tolerance
        ref = math.exp(-40) * e(40 / delta) + sum(
            integrate.quad(lambda t: delta * math.exp(-delta * t) * e(t), a, b, epsabs=0,
                           epsrel=1e-13)[0]
            for a, b in zip(edges[:-1], edges[1:], strict=True))
    np.testing.assert_allclose(inf, gg.population_mean_spend() * ref, rtol=1e-10)
    with pytest.raises(ValueError, match="needs discount_rate > 0"):
        acquisition_cost_ceiling(bg, gg, np.inf, 0.0)
