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
