"""Tests of clvlab.simulate.simulate_transactions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1

from clvlab import _columns as C
from clvlab.exceptions import InvalidValueError
from clvlab.rfm import rfm_summary
from clvlab.simulate import simulate_transactions

R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426
P, Q, V = 6.25, 3.74, 15.44


def expected_repeat_purchases(t: float, r=R, alpha=ALPHA, a=A, b=B) -> float:
    """BG/NBD E[X(t)], eq. (9) of Fader, Hardie & Lee (2005)."""
    return (a + b - 1) / (a - 1) * (
        1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t))
    )


def repeats_within(tx: pd.DataFrame, t: float, unit_days: float = 7.0) -> pd.Series:
    """Repeat purchases of each customer within t units of the first purchase."""
    first = tx.groupby(C.CUSTOMER_ID)[C.DATE].transform("first")
    age = (tx[C.DATE] - first) / pd.Timedelta(days=unit_days)
    rank = tx.groupby(C.CUSTOMER_ID).cumcount()
    return ((rank > 0) & (age <= t)).groupby(tx[C.CUSTOMER_ID]).sum()


@pytest.fixture(scope="module")
def big_cohort() -> pd.DataFrame:
    """200,000 customers all acquired at the start, observed 78 weeks."""
    return simulate_transactions(200_000, acquisition_period=0.0, random_state=20050101)


@pytest.mark.parametrize("t", [5.0, 39.0, 77.0])
def test_mean_repeat_purchases_matches_bgnbd_closed_form(big_cohort, t):
    """Mean X(t) equals BG/NBD E[X(t)] within 4 Monte-Carlo standard errors."""
    x = repeats_within(big_cohort, t)
    se = x.std(ddof=1) / np.sqrt(len(x))
    expected = expected_repeat_purchases(t)
    assert abs(x.mean() - expected) < 4 * se, (x.mean(), expected, se)


@pytest.mark.parametrize("t", [5.0, 39.0, 77.0])
def test_share_without_repeat_matches_bgnbd(big_cohort, t):
    """P(X(t)=0) = (alpha/(alpha+t))**r (no dropout at time 0) within 4 standard errors."""
    zero = (repeats_within(big_cohort, t) == 0).to_numpy()
    expected = (ALPHA / (ALPHA + t)) ** R
    se = np.sqrt(expected * (1 - expected) / zero.size)
    assert abs(zero.mean() - expected) < 4 * se


def test_mean_spend_matches_gamma_gamma(big_cohort):
    """Mean first-purchase value equals p*v/(q-1) = 35.22 within 4 standard errors."""
    first = big_cohort.groupby(C.CUSTOMER_ID)[C.AMOUNT].first()
    se = first.std(ddof=1) / np.sqrt(len(first))
    assert abs(first.mean() - P * V / (Q - 1)) < 4 * se
    # all purchases: purchase counts are independent of spend, so the same mean holds
    all_mean = big_cohort[C.AMOUNT].mean()
    np.testing.assert_allclose(all_mean, P * V / (Q - 1), rtol=0.02)


def test_same_seed_same_log_and_generator_accepted():
    """An int seed reproduces the log exactly; a Generator works; another seed differs."""
    one = simulate_transactions(500, random_state=7)
    two = simulate_transactions(500, random_state=7)
    pd.testing.assert_frame_equal(one, two)
    three = simulate_transactions(500, random_state=np.random.default_rng(7))
    pd.testing.assert_frame_equal(one, three)
    other = simulate_transactions(500, random_state=8)
    assert not one[C.AMOUNT].equals(other[C.AMOUNT])


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 300),
    unit=st.sampled_from("DWM"),
    acq=st.floats(0.0, 10.0),
    extra_days=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_log_invariants(n, unit, acq, extra_days, seed):
    """Every customer has a first purchase in the window; dates, order and amounts are valid."""
    unit_days = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12}[unit]
    start = pd.Timestamp("2020-03-01")
    end = start + pd.Timedelta(days=int(np.ceil(acq * unit_days)) + extra_days)
    tx = simulate_transactions(n, start=start, acquisition_period=acq, observation_end=end,
                               time_unit=unit, random_state=seed)
    assert list(tx.columns) == [C.CUSTOMER_ID, C.DATE, C.AMOUNT]
    assert tx[C.DATE].dtype == "datetime64[ns]" and tx[C.AMOUNT].dtype == np.float64
    assert tx[C.CUSTOMER_ID].nunique() == n
    assert tx[C.CUSTOMER_ID].is_monotonic_increasing
    assert tx.groupby(C.CUSTOMER_ID)[C.DATE].apply(lambda s: s.is_monotonic_increasing).all()
    assert (tx[C.AMOUNT] > 0).all() and np.isfinite(tx[C.AMOUNT]).all()
    assert tx[C.DATE].min() >= start
    assert tx[C.DATE].max() < end + pd.Timedelta(days=1)
    first = tx.groupby(C.CUSTOMER_ID)[C.DATE].min()
    assert (first <= start + pd.Timedelta(days=acq * unit_days)).all()


def test_simulated_log_feeds_rfm_summary():
    """The log is canonical: rfm_summary accepts it and T spans the observation window."""
    tx = simulate_transactions(2000, random_state=3)
    rfm = rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    assert len(rfm) == 2000
    assert rfm.attrs["observation_end"] == "1998-06-30"
    assert rfm[C.T].max() <= 546 / 7 and rfm[C.T].min() >= (546 - 84) / 7 - 1 / 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 0}, "n_customers must be a positive whole number"),
        ({"n_customers": 2.5}, "n_customers must be a positive whole number"),
        ({"r": -1.0}, "r must be a finite number > 0"),
        ({"q": np.nan}, "q must be a finite number > 0"),
        ({"time_unit": "weeks"}, "time_unit must be one of"),
        ({"start": "soon"}, "start must be a date"),
        ({"acquisition_period": -2.0}, "acquisition_period must be a finite length >= 0"),
        ({"observation_end": "1997-02-01"}, "must be after the end of the acquisition window"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    """Invalid arguments raise InvalidValueError (a ValueError) with a clear message."""
    args = {"n_customers": 10, **kwargs}
    with pytest.raises(InvalidValueError, match=match):
        simulate_transactions(**args)


# -- any registered purchase model ----------------------------------------------------------
def test_bgnbd_log_is_unchanged_by_the_model_hooks():
    """Seed 1 gives exactly the log of clvlab before simulation moved into the model hooks."""
    tx = simulate_transactions(30, random_state=1)
    assert len(tx) == 67
    assert tx[C.CUSTOMER_ID].head(8).tolist() == ["01", "01", "01", "02", "03", "03", "04", "05"]
    assert str(tx[C.DATE].iloc[2]) == "1997-07-04 15:25:02"
    assert tx[C.AMOUNT].iloc[0] == 26.087269851069138
    assert tx[C.AMOUNT].sum() == 2759.305353244703
    assert int(tx[C.DATE].astype("int64").sum()) == 2508989893871345152
    same = simulate_transactions(30, model="bgnbd", params={"r": R, "alpha": ALPHA, "a": A,
                                                            "b": B}, random_state=1)
    pd.testing.assert_frame_equal(tx, same)


PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


@pytest.fixture(scope="module")
def pnbd_cohort() -> pd.DataFrame:
    """200,000 customers from the Pareto/NBD story, all acquired at the start, 78 weeks."""
    return simulate_transactions(200_000, model="pnbd", acquisition_period=0.0,
                                 random_state=20050102)


@pytest.mark.parametrize("t", [5.0, 39.0, 77.0])
def test_pnbd_log_matches_pareto_nbd_moments(pnbd_cohort, t):
    """Mean X(t) and the share with X(t) = 0 match Pareto/NBD's E[X(t)], P(X(t)=0) (4 SE)."""
    from clvlab.models.likelihoods import pareto_nbd as lk

    params = list(PNBD.values())
    x = repeats_within(pnbd_cohort, t)
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert abs(x.mean() - lk.pnbd_expected_purchases_new_customer(params, t)) < 4 * se
    p0 = float(np.exp(lk.pnbd_log_probability_of_purchases(params, 0, t)))
    zero = (x == 0).mean()
    assert abs(zero - p0) < 4 * np.sqrt(p0 * (1 - p0) / len(x))


def test_model_defaults_params_and_fitted_models():
    """Defaults: published estimates; params override some; a fitted model gives its own."""
    from clvlab.models.pareto_nbd import ParetoNBDFitter

    a = simulate_transactions(500, model="pnbd", random_state=4)
    b = simulate_transactions(500, model="pnbd", params=PNBD, random_state=4)
    pd.testing.assert_frame_equal(a, b)
    c = simulate_transactions(500, model="pnbd", params={"s": 0.9}, random_state=4)
    assert not c.equals(a)
    fitted = ParetoNBDFitter()
    fitted.params_ = pd.Series(list(PNBD.values()), index=list(PNBD))
    fitted.time_unit_ = "W"
    pd.testing.assert_frame_equal(simulate_transactions(500, model=fitted, random_state=4), a)
    with pytest.raises(InvalidValueError, match="fitted in time unit 'W'"):
        simulate_transactions(10, model=fitted, time_unit="D")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "gg"}, "registered purchase model"),
        ({"model": "nope"}, "registered purchase model"),
        ({"model": "pnbd", "a": 0.5}, "a is not Pareto/NBD parameter"),
        ({"model": "pnbd", "params": {"s": -1.0}}, "s must be a finite number > 0"),
        ({"params": {"r": 0.3}, "r": 0.4}, "r is given twice"),
    ],
)
def test_bad_model_arguments_raise(kwargs, match):
    """Unknown models or parameter names, bad values and double values are clear errors."""
    with pytest.raises(InvalidValueError, match=match):
        simulate_transactions(10, **kwargs)


def test_any_model_with_the_hook_simulates():
    """MBG/NBD simulates from its CDNOW defaults or given params; a model without defaults
    names the parameters that are missing."""
    from clvlab.models.modified_beta_geo import ModifiedBetaGeoFitter

    params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    tx = simulate_transactions(300, model="mbgnbd", params=params, random_state=2)
    assert tx[C.CUSTOMER_ID].nunique() == 300
    default = simulate_transactions(300, model="mbgnbd", random_state=2)
    pd.testing.assert_frame_equal(default, tx)

    class NoDefaults(ModifiedBetaGeoFitter):
        _reference_params = {}  # noqa: RUF012

    with pytest.raises(InvalidValueError, match="no default for alpha, a, b"):
        simulate_transactions(10, model=NoDefaults(), params={"r": 0.5})
