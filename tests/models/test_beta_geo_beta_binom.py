"""BetaGeoBetaBinomFitter (BG/BB): published numbers, data checks, discrete summaries, CLV.

Reference: Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6), 1086-1108, on the donations data (11,104
donors of the 1995 cohort, 6 annual opportunities 1996-2001; read from lifetimes' copy in
the test environment, clvlab does not ship it), and Hardie's accompanying spreadsheet
(brucehardie.com/notes/010), as quoted in lifetimes' tests.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import ClvlabWarning, InvalidValueError
from clvlab.models.beta_geo_beta_binom import BetaGeoBetaBinomFitter, simulate_bgbb_rfm
from clvlab.persistence import model_from_dict


@pytest.fixture(scope="module")
def donations() -> tuple[pd.DataFrame, np.ndarray]:
    """The donations summary as (RFM frame in years, weights)."""
    import lifetimes

    raw = pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")
    rfm = pd.DataFrame({"frequency": raw["frequency"].astype(float),
                        "recency": raw["recency"].astype(float),
                        "T": raw["periods"].astype(float)},
                       index=pd.RangeIndex(len(raw), name="customer_id"))
    rfm.attrs["time_unit"] = "Y"
    return rfm, raw["weights"].to_numpy()


@pytest.fixture(scope="module")
def fitted(donations) -> BetaGeoBetaBinomFitter:
    """BG/BB fitted on the donations data."""
    rfm, w = donations
    return BetaGeoBetaBinomFitter().fit(rfm, weights=w)


def _row(rfm: pd.DataFrame, x: int, tx: int) -> pd.Series:
    return rfm[(rfm["frequency"] == x) & (rfm["recency"] == tx)].index[0]


def test_estimates_and_log_likelihood_are_the_papers(fitted):
    """alpha 1.204, beta 0.750, gamma 0.657, delta 2.783, LL -33,225.6 (FHS 2010, Sec. 4)."""
    np.testing.assert_allclose(fitted.params_.to_numpy(), [1.204, 0.750, 0.657, 2.783],
                               rtol=1e-3)
    np.testing.assert_allclose(fitted.log_likelihood_, -33225.6, atol=0.05)
    assert fitted.converged_ and fitted.n_customers_ == 11104
    assert np.all(np.isfinite(fitted.standard_errors_)) and np.all(fitted.standard_errors_ > 0)


def test_probability_alive_is_the_papers_table_6(fitted, donations):
    """P(alive in 2002): 0.11 (x=0), 0.59 (x=2, last 1999), 0.93 (x=6) (FHS 2010, Table 6)."""
    rfm, _ = donations
    p = fitted.probability_alive(rfm)
    got = [p[_row(rfm, 0, 0)], p[_row(rfm, 2, 4)], p[_row(rfm, 6, 6)]]
    np.testing.assert_allclose(got, [0.11, 0.59, 0.93], atol=0.005)


def test_expectations_are_hardies_spreadsheet(fitted, donations):
    """Sum of E[X in 2002-2006] is 12,884.2; in-sample P(X(6)=0), P(X(6)=6) give 3,454.9, 1,253.1.

    Hardie's BG/BB spreadsheet (notes/010), sheets "Conditional Expectations (II)" and
    "In-Sample Fit", as quoted by lifetimes' tests.
    """
    rfm, w = donations
    total = float(fitted.expected_purchases(rfm, t=5) @ w)
    np.testing.assert_allclose(total, 12884.2, atol=0.1)
    p = fitted.probability_of_purchases(n=np.array([0, 6]), t=6)
    np.testing.assert_allclose(p * 11104, [3454.9, 1253.1], atol=0.1)


def test_weights_give_the_estimate_of_the_exploded_data(fitted, donations):
    """Fitting 11,104 rows gives the estimate of the 22 weighted rows (rtol 1e-6)."""
    rfm, w = donations
    exploded = rfm.loc[rfm.index.repeat(w)].reset_index(drop=True)
    exploded.index.name = "customer_id"
    again = BetaGeoBetaBinomFitter().fit(exploded, time_unit="Y")
    np.testing.assert_allclose(again.params_.to_numpy(), fitted.params_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(again.log_likelihood_, fitted.log_likelihood_, rtol=1e-12)


def test_capabilities_say_discrete_time(fitted):
    """The model declares discrete time and every purchase prediction (it has all hooks)."""
    caps = fitted.capabilities()
    assert caps.time == "discrete" and caps.role == "purchase"
    assert {"probability_of_purchases", "conditional_probability_of_purchases", "sample",
            "expected_residual_purchases"} <= caps.predictions
    desc = fitted.describe()
    assert desc.key == "bgbb" and [h.symbol for h in desc.heterogeneity] == ["p", "θ"]
    np.testing.assert_allclose(desc.heterogeneity[0].distribution.mean(),
                               1.2035 / (1.2035 + 0.7497), rtol=1e-3)


# --------------------------------------------------------------------------------------
# data checks
# --------------------------------------------------------------------------------------
def _frame(x, tx, n, unit="Y"):
    frame = pd.DataFrame({"frequency": x, "recency": tx, "T": n},
                         index=pd.Index([f"c{i}" for i in range(len(x))], name="customer_id"))
    frame.attrs["time_unit"] = unit
    return frame


@pytest.mark.parametrize(("x", "tx", "n", "column", "match"), [
    ([1.5, 1], [2, 1], [3, 3], "frequency", "whole number"),
    ([1, 1], [2.5, 1], [3, 3], "recency", r"whole number of periods for BG/BB \(found 2.5\)"),
    ([1, 1], [2, 1], [3.25, 3], "T", r"whole number of periods for BG/BB \(found 3.25\)"),
    ([3, 1], [2, 1], [3, 3], "frequency", "must be <= recency for BG/BB"),
    ([1, 1], [4, 1], [3, 3], "recency", "must be <= T"),
    ([0, 1], [2, 1], [3, 3], "recency", "must be 0 when frequency is 0"),
])
def test_impossible_discrete_histories_are_refused_with_the_column_and_rule(
        x, tx, n, column, match, fitted):
    """fit and predictors name the column, the rule, the customer and a fix."""
    frame = _frame(x, tx, n)
    with pytest.raises(InvalidValueError, match=match) as info:
        BetaGeoBetaBinomFitter().fit(frame)
    assert info.value.column == column and "c0" in str(info.value)
    with pytest.raises(InvalidValueError, match=match):
        fitted.probability_alive(frame)


def test_a_continuous_summary_is_refused_with_the_recipe(fitted):
    """A day-merged summary in weeks (fractional ages) gets the rfm_summary recipe."""
    tx = clvlab.datasets.load_cdnow(sample=True)
    rfm = clvlab.rfm_summary(tx, time_unit="W")
    with pytest.raises(InvalidValueError, match=r"merge_period=U"):
        BetaGeoBetaBinomFitter().fit(rfm)


def test_zero_opportunities_are_a_new_customer(fitted):
    """n = 0 is defined: the history (0, 0, 0) is a new customer (P(alive) = d/(g+d))."""
    frame = _frame([0], [0], [0])
    gamma, delta = fitted.params_[["gamma", "delta"]]
    np.testing.assert_allclose(fitted.probability_alive(frame), delta / (gamma + delta),
                               rtol=1e-13)
    np.testing.assert_allclose(fitted.expected_purchases(frame, t=10),
                               fitted.expected_purchases_new_customer(10), rtol=1e-13)


@pytest.mark.parametrize("n", [300, 2000, 20000])
def test_long_histories_are_finite_and_in_range(fitted, n):
    """x = 0, 1, n and t_x = n at 300, 2,000 and 20,000 opportunities: finite, in range."""
    frame = _frame([0, 1, 1, n, n // 2], [0, 1, n, n, n], [n] * 5)
    p = fitted.probability_alive(frame).to_numpy()
    e = fitted.expected_purchases(frame, t=52).to_numpy()
    d = fitted.expected_residual_purchases(frame, discount_rate=0.01).to_numpy()
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(e)) and np.all((e >= 0) & (e <= 52))
    assert np.all(np.isfinite(d)) and np.all(d >= 0)
    assert p[3] > 0.5 and p[0] < 1e-3  # bought every period vs never after the first


# --------------------------------------------------------------------------------------
# building discrete summaries from a log
# --------------------------------------------------------------------------------------
def test_rfm_summary_per_period_gives_discrete_histories():
    """rfm_summary(time_unit=U, merge_period=U) counts periods: x, t_x, n as in the paper."""
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
        "date": pd.to_datetime(["1995-03-01", "1995-11-01", "1997-06-01", "1997-07-01",
                                "1995-05-05", "1995-01-01", "2001-12-31"]),
        "amount": 10.0,
    })
    rfm = clvlab.rfm_summary(tx, time_unit="Y", merge_period="Y", observation_end="2001-12-31")
    # a: trial 1995, purchases in 1997 (twice: one period); b: none; c: 2001
    assert rfm.loc["a", ["frequency", "recency", "T"]].tolist() == [1.0, 2.0, 6.0]
    assert rfm.loc["b", ["frequency", "recency", "T"]].tolist() == [0.0, 0.0, 6.0]
    assert rfm.loc["c", ["frequency", "recency", "T"]].tolist() == [1.0, 6.0, 6.0]
    with warnings.catch_warnings():  # three distinct histories identify little
        warnings.simplefilter("ignore", ClvlabWarning)
        model = BetaGeoBetaBinomFitter().fit(rfm)
    assert model.time_unit_ == "Y"


# --------------------------------------------------------------------------------------
# downstream: JSON, CLV
# --------------------------------------------------------------------------------------
def test_json_round_trip(fitted, donations):
    """to_dict -> JSON -> model_from_dict predicts identically."""
    rfm, _ = donations
    again = model_from_dict(json.loads(json.dumps(fitted.to_dict(), allow_nan=False)))
    assert type(again) is BetaGeoBetaBinomFitter and again.time_unit_ == "Y"
    pd.testing.assert_series_equal(again.expected_purchases(rfm, t=5),
                                   fitted.expected_purchases(rfm, t=5))


class _UnitSpend:
    """A spend model worth 1 per purchase (isolates the discounting)."""

    params_ = pd.Series([1.0])

    def expected_spend(self, data):
        return pd.Series(1.0, index=data.index)

    def population_mean_spend(self):
        return 1.0


def test_clv_discounts_whole_periods_exactly(fitted, donations):
    """CLV (continuous method) of a discrete model is the end-of-period sum; inf is DERT."""
    rfm, _ = donations
    data = rfm.assign(monetary_value=1.0)
    clv = clvlab.customer_lifetime_value(fitted, _UnitSpend(), data, horizon=3,
                                         discount_rate=0.1)
    e = [fitted.expected_purchases(rfm, t=k).to_numpy() for k in range(4)]
    want = sum((e[k] - e[k - 1]) * 1.1 ** -k for k in (1, 2, 3))
    np.testing.assert_allclose(clv.to_numpy(), want, rtol=1e-13)
    inf = clvlab.customer_lifetime_value(fitted, _UnitSpend(), data, horizon=np.inf,
                                         discount_rate=0.1)
    long = clvlab.customer_lifetime_value(fitted, _UnitSpend(), data, horizon=2000,
                                          discount_rate=0.1)
    np.testing.assert_allclose(inf.to_numpy(), long.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        inf.to_numpy(), fitted.expected_residual_purchases(rfm, discount_rate=0.1), rtol=1e-13)
    ceiling = clvlab.acquisition_cost_ceiling(fitted, _UnitSpend(), np.inf, 0.1,
                                              include_first_purchase=False)
    new = _frame([0], [0], [0]).assign(monetary_value=1.0)
    np.testing.assert_allclose(
        ceiling, fitted.expected_residual_purchases(new, discount_rate=0.1).iloc[0], rtol=1e-12)


# --------------------------------------------------------------------------------------
# simulation and recovery
# --------------------------------------------------------------------------------------
def test_simulated_frequencies_follow_the_pmf(fitted):
    """200,000 draws at n = 6: the frequency histogram matches P(X(6) = x) (chi2, 7 cells)."""
    from scipy import stats

    sim = fitted.sample(np.full(200_000, 6.0), random_state=7)
    observed = np.bincount(sim["frequency"].astype(int), minlength=7)
    expected = 200_000 * fitted.probability_of_purchases(n=np.arange(7), t=6)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    assert np.all(sim["recency"] >= sim["frequency"]) and np.all(sim["recency"] <= 6)


def test_simulate_transactions_with_bgbb_round_trips_through_rfm_summary():
    """A log simulated from BG/BB, summarised per week, gives back the parameters (4 SE)."""
    true = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    tx = clvlab.simulate_transactions(8000, model="bgbb", params=true, acquisition_period=0.0,
                                      start="1997-01-06", random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        rfm = clvlab.rfm_summary(tx, time_unit="W", merge_period="W")
    assert (rfm["T"] == rfm["T"].iloc[0]).all() and (rfm["recency"] >= rfm["frequency"]).all()
    model = BetaGeoBetaBinomFitter().fit(rfm)
    z = (model.params_ - pd.Series(true)) / model.standard_errors_
    assert np.all(np.abs(z) < 4), z
    # without params: the paper's estimates are the defaults
    default = clvlab.simulate_transactions(50, model="bgbb", random_state=1)
    assert default["customer_id"].nunique() == 50


@pytest.mark.slow
@pytest.mark.parametrize(("true", "periods"), [
    ((1.2, 0.75, 0.66, 2.8), [6] * 20_000),
    ((0.5, 2.5, 2.0, 8.0), list(range(1, 53)) * 400),
])
def test_parameter_recovery(true, periods):
    """Simulated from known parameters, the fit recovers each within 3.5 standard errors."""
    rfm = simulate_bgbb_rfm(true, periods, random_state=11, time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClvlabWarning)
        model = BetaGeoBetaBinomFitter().fit(rfm)
    z = (model.params_.to_numpy() - np.array(true)) / model.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3.5), z


def test_boundary_optimum_without_dropout_is_finite():
    """Data without dropout push delta to its limit: one DegenerateFitWarning, finite values."""
    from clvlab.exceptions import ConvergenceWarning, DegenerateFitWarning

    rfm = simulate_bgbb_rfm([2.0, 1.0, 0.01, 1e6], [10] * 3000, random_state=3, time_unit="W")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BetaGeoBetaBinomFitter().fit(rfm)
    kinds = [w.category for w in caught]
    assert kinds.count(DegenerateFitWarning) == 1 and ConvergenceWarning not in kinds
    assert "no sign of dropout" in model.degeneracy_
    p = model.probability_alive(rfm).to_numpy()
    e = model.expected_purchases(rfm, t=20).to_numpy()
    assert np.all(np.isfinite(p)) and np.all((p >= 0.8) & (p <= 1)) and np.all(np.isfinite(e))
