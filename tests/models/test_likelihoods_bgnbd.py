"""Pure BG/NBD functions of clvlab.models.likelihoods: references, identities, extremes."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvlab.models import likelihoods as lk

HARDIE_027 = (0.25, 4.0, 0.8, 2.5)  # r, alpha, a, b of Hardie note 027
CDNOW = np.array([0.2426, 4.4135, 0.7929, 2.4258])  # FHL (2005) Table 2

# histories (x, t_x, T) named in the issue: frequency 0, 1, 300, 2,000, 20,000, recency = T, T = 0
EXTREME_HISTORIES = [
    (0, 0.0, 52.0),
    (0, 0.0, 0.0),
    (1, 30.0, 52.0),
    (1, 0.0, 0.0),
    (1, 52.0, 52.0),
    (300, 50.0, 52.0),
    (300, 52.0, 52.0),
    (2000, 52.0, 52.0),
    (2000, 10.0, 52.0),
    (20000, 52.0, 52.0),
    (20000, 1.0, 52.0),
]


def _lifetimes_bgnbd(params):
    import lifetimes

    model = lifetimes.BetaGeoFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=["r", "alpha", "a", "b"])
    return model


def _mp_expected(params, t, x, tx, T, dps=60):
    """E[X(t) | x, t_x, T] by eq. (10) of FHL, directly, in mpmath at ``dps`` digits."""
    with mp.workdps(dps):
        r, al, a, b = (mp.mpf(float(v)) for v in params)
        t, x, tx, T = (mp.mpf(float(v)) for v in (t, x, tx, T))
        z = t / (al + T + t)
        hyp = mp.hyp2f1(r + x, b + x, a + b + x - 1, z, maxterms=10**6)
        bracket = 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp
        denom = 1 + (a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x) if x > 0 else 0)
        return float((a + b + x - 1) / (a - 1) * bracket / denom)


# -- log-likelihood -------------------------------------------------------------------
def test_log_likelihood_matches_hardie_note_027():
    """LL at (x, t_x) = (0, 0) and (200, 38) with T = 40 equals Hardie note 027's values."""
    ll = lk.bgnbd_log_likelihood(HARDIE_027, [0, 200], [0.0, 38.0], [40.0, 40.0])
    # Hardie note 027 (and pymc-marketing test_numerically_stable_logp): -0.59947382, 100.7957
    np.testing.assert_allclose(ll, [-0.59947382, 100.7957], rtol=1e-6)


def test_log_likelihood_total_matches_fhl_table_2(cdnow_rfm_lifetimes):
    """Total LL at FHL's estimates on their CDNOW summary is -9582.43 (FHL 2005, Table 2)."""
    d = cdnow_rfm_lifetimes
    total = lk.bgnbd_log_likelihood(CDNOW, d["frequency"], d["recency"], d["T"]).sum()
    np.testing.assert_allclose(total, -9582.43, atol=0.01)


def test_log_likelihood_matches_lifetimes_per_customer(cdnow_rfm_lifetimes):
    """Per-customer LL equals lifetimes' (negated mean x n) at the same parameters (same run)."""
    from lifetimes import BetaGeoFitter as LtBG

    d = cdnow_rfm_lifetimes
    ours = lk.bgnbd_log_likelihood(CDNOW, d["frequency"], d["recency"], d["T"])
    theirs = -LtBG._negative_log_likelihood(
        np.log(CDNOW), d["frequency"].to_numpy(), d["recency"].to_numpy(), d["T"].to_numpy(),
        np.ones(len(d)), 0.0,
    ) * len(d)
    np.testing.assert_allclose(ours.sum(), theirs, rtol=1e-10)


def test_log_likelihood_scalar_equals_vector_entry():
    """A scalar call returns the same value as the corresponding entry of a vector call."""
    x, tx, T = [0, 3, 7], [0.0, 12.5, 30.0], [40.0, 40.0, 35.0]
    vec = lk.bgnbd_log_likelihood(CDNOW, x, tx, T)
    for i in range(3):
        np.testing.assert_allclose(lk.bgnbd_log_likelihood(CDNOW, x[i], tx[i], T[i]), vec[i],
                                   rtol=1e-14)


def test_log_likelihood_table_path_equals_direct_path(rng):
    """The per-frequency lookup (large inputs) gives the same values as direct evaluation."""
    n = 5000
    x = rng.integers(0, 40, n).astype(float)
    T = rng.uniform(1, 60, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    ll_big, g_big = lk.bgnbd_log_likelihood_grad(CDNOW, x, tx, T)  # table path
    ll_small = np.concatenate([lk.bgnbd_log_likelihood_grad(CDNOW, x[i:i + 500], tx[i:i + 500],
                                                            T[i:i + 500])[0]
                               for i in range(0, n, 500)])  # < 1024 rows: direct path
    np.testing.assert_allclose(ll_big, ll_small, rtol=1e-13)
    assert g_big.shape == (n, 4)


@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES)
def test_log_likelihood_finite_for_extreme_histories(x, tx, T):
    """The log-likelihood is finite at frequency up to 20,000, recency = T and T = 0."""
    assert np.isfinite(lk.bgnbd_log_likelihood(CDNOW, x, tx, T))


def test_gradient_matches_central_differences():
    """The analytic gradient agrees with central differences of the log-likelihood."""
    x = np.array([0, 1, 2, 5, 30, 300, 2000, 20000], dtype=float)
    T = np.array([40, 40, 10, 52, 52, 52, 52, 52], dtype=float)
    tx = np.array([0, 0, 9.5, 20, 51, 50, 52, 1], dtype=float)
    for params in (CDNOW, np.array(HARDIE_027), np.array([2.0, 1.0, 3.0, 0.5])):
        _, grad = lk.bgnbd_log_likelihood_grad(params, x, tx, T)
        for j in range(4):
            h = 1e-6 * params[j]
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            num = (lk.bgnbd_log_likelihood(up, x, tx, T)
                   - lk.bgnbd_log_likelihood(down, x, tx, T)) / (2 * h)
            np.testing.assert_allclose(grad[:, j], num, rtol=1e-5, atol=1e-5)


# -- P(alive) -------------------------------------------------------------------------
def test_probability_alive_is_one_without_repeat_purchases():
    """P(alive) = 1 exactly when frequency = 0, whatever T."""
    np.testing.assert_array_equal(lk.bgnbd_probability_alive(CDNOW, 0, 0.0, [0.0, 5, 500]), 1.0)


def test_probability_alive_matches_lifetimes(cdnow_rfm_lifetimes):
    """P(alive) equals lifetimes' for every CDNOW customer (rtol 1e-6; lifetimes same run)."""
    d = cdnow_rfm_lifetimes
    theirs = _lifetimes_bgnbd(CDNOW).conditional_probability_alive(
        d["frequency"].to_numpy(), d["recency"].to_numpy(), d["T"].to_numpy())
    ours = lk.bgnbd_probability_alive(CDNOW, d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES)
def test_probability_alive_in_range_and_matches_mpmath(x, tx, T):
    """P(alive) is in [0, 1] and equals eq. (11) of FHL evaluated in mpmath (rtol 1e-10)."""
    ours = float(lk.bgnbd_probability_alive(CDNOW, x, tx, T))
    with mp.workdps(50):
        r, al, a, b = (mp.mpf(float(v)) for v in CDNOW)
        ref = 1 if x == 0 else 1 / (1 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x))
    assert 0.0 <= ours <= 1.0
    np.testing.assert_allclose(ours, float(ref), rtol=1e-10, atol=1e-300)


# -- E[X(t) | history] ---------------------------------------------------------------
def test_expected_purchases_match_lifetimes_for_every_customer(cdnow_rfm_lifetimes):
    """Conditional E[X(t)] equals lifetimes' for every CDNOW customer, t = 1, 10, 52, 104."""
    d = cdnow_rfm_lifetimes
    model = _lifetimes_bgnbd(CDNOW)
    for t in (1.0, 10.0, 52.0, 104.0):
        theirs = model.conditional_expected_number_of_purchases_up_to_time(
            t, d["frequency"].to_numpy(), d["recency"].to_numpy(), d["T"].to_numpy())
        ours = lk.bgnbd_expected_purchases(CDNOW, t, d["frequency"], d["recency"], d["T"])
        assert np.all(np.isfinite(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize(
    "x, tx, T",
    [pytest.param(*h, marks=pytest.mark.slow) if h[0] >= 20000 else h for h in EXTREME_HISTORIES],
)
@pytest.mark.parametrize("t", [0.5, 52.0, 1000.0])
def test_expected_purchases_match_mpmath_at_extremes(x, tx, T, t):
    """E[X(t) | x, t_x, T] equals eq. (10) in 60-digit mpmath (rtol 1e-9), finite, >= 0."""
    ours = float(lk.bgnbd_expected_purchases(CDNOW, t, x, tx, T))
    assert np.isfinite(ours) and ours >= 0
    np.testing.assert_allclose(ours, _mp_expected(CDNOW, t, x, tx, T), rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("params", [(2.0, 1.0, 3.0, 0.5), (0.1, 100.0, 0.2, 50.0),
                                    (0.25, 4.0, 1.0 + 3e-7, 2.5), (0.25, 4.0, 1.5, 2.5)])
@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES[::2])
def test_expected_purchases_other_parameters_match_mpmath(params, x, tx, T):
    """E[X(t)|history] matches mpmath for a > 1, tiny a, a next to 1 (rtol 1e-7 there)."""
    ours = float(lk.bgnbd_expected_purchases(params, 1000.0, x, tx, T))
    rtol = 1e-7 if abs(params[2] - 1) < 1e-6 else 1e-9
    np.testing.assert_allclose(ours, _mp_expected(params, 1000.0, x, tx, T), rtol=rtol,
                               atol=1e-300)


def test_expected_purchases_defined_at_a_equal_one():
    """At a = 1 exactly (0/0 in eq. 10) E[X(t)] is the limit: between a = 1 -+ 1e-4 values."""
    x, tx, T = np.array([0, 3, 500]), np.array([0, 20.0, 50.0]), np.array([40.0, 40.0, 52.0])
    at_one = lk.bgnbd_expected_purchases((0.25, 4.0, 1.0, 2.5), 52.0, x, tx, T)
    below = lk.bgnbd_expected_purchases((0.25, 4.0, 1.0 - 1e-4, 2.5), 52.0, x, tx, T)
    above = lk.bgnbd_expected_purchases((0.25, 4.0, 1.0 + 1e-4, 2.5), 52.0, x, tx, T)
    assert np.all(np.isfinite(at_one))
    np.testing.assert_allclose(at_one, 0.5 * (below + above), rtol=1e-7)


def test_direct_formula_overflows_where_ours_is_finite():
    """The direct 2F1 of eq. (10) is inf at 2,000 purchases in 52 weeks; ours matches mpmath."""
    from scipy import special

    r, alpha, a, b = CDNOW
    x, T, t = 2000.0, 52.0, 52.0
    with np.errstate(all="ignore"):
        direct = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    ours = lk.bgnbd_expected_purchases(CDNOW, t, x, 52.0, T)
    assert not np.isfinite(direct)
    np.testing.assert_allclose(ours, _mp_expected(CDNOW, t, x, 52.0, T), rtol=1e-9)


def test_lifetimes_returns_nan_where_ours_matches_mpmath():
    """lifetimes gives NaN for 300 purchases (r=2, alpha=1, a=3, b=0.5, t=1000); ours is exact."""
    params = (2.0, 1.0, 3.0, 0.5)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _lifetimes_bgnbd(params).conditional_expected_number_of_purchases_up_to_time(
            1000.0, np.array([300.0]), np.array([52.0]), np.array([52.0]))
    ours = lk.bgnbd_expected_purchases(params, 1000.0, 300, 52.0, 52.0)
    assert not np.all(np.isfinite(theirs))
    np.testing.assert_allclose(ours, _mp_expected(params, 1000.0, 300, 52.0, 52.0), rtol=1e-9)


def test_expected_purchases_distinct_row_path_equals_direct(rng):
    """Large inputs (evaluated once per distinct (t, x, T)) equal row-by-row evaluation."""
    n = 20_000
    x = rng.integers(0, 60, n).astype(float)
    T = rng.integers(0, 40 * 7, n) / 7
    tx = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7) / 7, 0.0)
    t = rng.choice([1.0, 13.0, 52.0], n)
    for horizon in (52.0, t):
        big = lk.bgnbd_expected_purchases(CDNOW, horizon, x, tx, T)
        h = np.broadcast_to(horizon, (n,))
        small = np.concatenate([
            lk.bgnbd_expected_purchases(CDNOW, h[i:i + 1000], x[i:i + 1000], tx[i:i + 1000],
                                        T[i:i + 1000])
            for i in range(0, n, 1000)
        ])
        np.testing.assert_allclose(big, small, rtol=1e-13, atol=0)


def test_expected_purchases_zero_at_t_zero_and_nondecreasing():
    """E[X(t)|history] is 0 at t = 0 and never decreases in t."""
    t = np.linspace(0, 500, 401)[:, None]
    x, tx, T = np.array([0, 1, 5, 300]), np.array([0, 3.0, 30.0, 38.0]), np.array([40.0] * 4)
    e = lk.bgnbd_expected_purchases(CDNOW, t, x, tx, T)
    np.testing.assert_array_equal(e[0], 0.0)
    assert np.all(np.diff(e, axis=0) >= -1e-12)


def test_new_customer_expectation_matches_lifetimes_eq_9():
    """E[X(t)] of a new customer equals lifetimes' eq. (9) (rtol 1e-9) and x=0,T=0 history."""
    t = np.array([0.5, 1.0, 10.0, 39.0, 52.0, 78.0, 500.0])
    theirs = _lifetimes_bgnbd(CDNOW).expected_number_of_purchases_up_to_time(t)
    ours = lk.bgnbd_expected_purchases_new_customer(CDNOW, t)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    np.testing.assert_allclose(ours, lk.bgnbd_expected_purchases(CDNOW, t, 0, 0.0, 0.0),
                               rtol=1e-15)


# -- P(X(t) = n) ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 5, 20, 50])
def test_probability_of_purchases_matches_lifetimes(n):
    """P(X(t)=n) of a new customer equals lifetimes' eq. (8) for moderate n (rtol 1e-9)."""
    theirs = _lifetimes_bgnbd(CDNOW).probability_of_n_purchases_up_to_time(52.0, n)
    ours = np.exp(lk.bgnbd_log_probability_of_purchases(CDNOW, n, 52.0))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@pytest.mark.parametrize("n, t", [(200, 52.0), (200, 0.5), (1000, 52.0), (5000, 100.0),
                                  (3, 1e-3), (0, 1e4)])
def test_probability_of_purchases_matches_mpmath_for_large_n(n, t):
    """log P(X(t)=n) matches eq. (8) in mpmath (rtol 1e-9) where lifetimes overflows."""
    ours = float(lk.bgnbd_log_probability_of_purchases(CDNOW, n, t))
    with mp.workdps(80):
        ref = float(mp.log(mp.mpf(_mp_pmf_exact(CDNOW, n, t))))
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def _mp_pmf_exact(params, n, t):
    with mp.workdps(80):
        r, al, a, b = (mp.mpf(float(v)) for v in params)
        t = mp.mpf(float(t))
        p0, q = al / (al + t), t / (al + t)
        first = mp.exp(mp.log(mp.beta(a, b + n)) - mp.log(mp.beta(a, b)) + mp.loggamma(r + n)
                       - mp.loggamma(r) - mp.loggamma(n + 1) + r * mp.log(p0) + n * mp.log(q))
        if n == 0:
            return first
        # 1 - sum_{j<n} NB pmf = regularised incomplete beta I_q(n, r)
        tail = mp.betainc(n, r, 0, q, regularized=True)
        return first + mp.beta(a + 1, b + n - 1) / mp.beta(a, b) * tail


def test_lifetimes_pmf_fails_at_200_where_ours_is_finite():
    """lifetimes' P(X(52)=200) is NaN (gamma overflow); ours is finite and in (0, 1)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _lifetimes_bgnbd(CDNOW).probability_of_n_purchases_up_to_time(52.0, 200)
    ours = np.exp(lk.bgnbd_log_probability_of_purchases(CDNOW, 200, 52.0))
    assert not np.isfinite(theirs)
    assert 0.0 < ours < 1.0


def test_probability_of_purchases_sums_to_one_with_mean_eq_9():
    """sum_n P(X(t)=n) = 1 and sum_n n P(X(t)=n) = E[X(t)] (rtol 1e-9)."""
    n = np.arange(0, 5000)
    for t in (1.0, 52.0, 200.0):
        p = np.exp(lk.bgnbd_log_probability_of_purchases(CDNOW, n, t))
        np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-9)
        mean = lk.bgnbd_expected_purchases_new_customer(CDNOW, t)
        np.testing.assert_allclose((n * p).sum(), mean, rtol=1e-9)


def test_probability_of_purchases_at_t_zero():
    """At t = 0 a new customer has made no repeat purchase: P(0) = 1, P(n>0) = 0."""
    p = np.exp(lk.bgnbd_log_probability_of_purchases(CDNOW, [0, 1, 7], 0.0))
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])


def test_conditional_probability_of_purchases_is_a_distribution_with_eq_10_mean():
    """P(X(T,T+t]=n | history) sums to 1 over n and its mean is eq. (10)."""
    n = np.arange(0, 3000)[:, None]
    x, tx, T = np.array([0, 1, 7, 40]), np.array([0, 5.0, 30.0, 38.0]), np.array([40.0] * 4)
    p = np.exp(lk.bgnbd_log_conditional_probability_of_purchases(CDNOW, n, 52.0, x, tx, T))
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose((n * p).sum(axis=0),
                               lk.bgnbd_expected_purchases(CDNOW, 52.0, x, tx, T), rtol=1e-9)


def test_conditional_probability_of_no_purchase_includes_dropouts():
    """P(no purchase | history) >= 1 - P(alive) (a dropped-out customer never buys)."""
    x, tx, T = np.array([1, 5, 20]), np.array([1.0, 5.0, 10.0]), np.array([40.0] * 3)
    p0 = np.exp(lk.bgnbd_log_conditional_probability_of_purchases(CDNOW, 0, 10.0, x, tx, T))
    assert np.all(p0 >= 1 - lk.bgnbd_probability_alive(CDNOW, x, tx, T) - 1e-15)



@pytest.mark.parametrize("horizon", ["scalar", "per_row"])
def test_conditional_pmf_on_many_rows_equals_row_by_row(horizon, check_pmf_on_many_rows):
    """On >= 4,096 pairs the new-customer part is evaluated once per distinct (n, t, x, T)
    and scattered back: the same numbers, bit for bit, as small calls (direct evaluation),
    for one horizon and for a horizon per row, with t_x varying within each (x, T)."""
    check_pmf_on_many_rows(lk.bgnbd_log_conditional_probability_of_purchases, CDNOW, horizon,
                           seed=3)

# -- properties -----------------------------------------------------------------------
histories = st.tuples(
    st.integers(0, 30000),
    st.floats(0.0, 1.0),
    st.floats(0.0, 500.0),
)
parameter_sets = st.tuples(
    st.floats(0.01, 20), st.floats(0.01, 200), st.floats(0.05, 20), st.floats(0.05, 50)
)


@settings(max_examples=200, deadline=None)
@given(params=parameter_sets, history=histories, t=st.floats(0.0, 1000.0))
def test_predictions_finite_and_in_range(params, history, t):
    """For any valid parameters and history: LL finite, P(alive) in [0,1], E[X(t)] finite >= 0."""
    x, frac, T = history
    tx = frac * T if x > 0 else 0.0
    assert np.isfinite(lk.bgnbd_log_likelihood(params, x, tx, T))
    p = float(lk.bgnbd_probability_alive(params, x, tx, T))
    assert 0.0 <= p <= 1.0
    e = float(lk.bgnbd_expected_purchases(params, t, x, tx, T))
    assert np.isfinite(e) and e >= 0.0


@pytest.mark.parametrize(("t", "want"), [
    (700.0, 2362.4610373342780), (865.0, 2768.7647612507492)])
def test_expected_purchases_where_the_direct_series_does_not_settle(t, want):
    """r = 20, alpha = a = b = 0.25, a new customer over 700-865 periods: the untransformed
    series needs too many terms (NaN before, found by hypothesis); Euler's form takes over.
    Reference: mpmath at 50 digits of eq. (10) of FHL 2005."""
    got = lk.bgnbd_expected_purchases((20.0, 0.25, 0.25, 0.25), t, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("n", [10_000, 20_000])
def test_log_pmf_deep_tail_with_scalar_n(n):
    """A scalar n deep in the tail (10,000 and 20,000 purchases in 52 weeks) gives a finite
    log-probability equal to the array evaluation and a scalar result (regression: a 0-d
    array once broke the deep-tail branch)."""
    scalar = lk.bgnbd_log_probability_of_purchases(CDNOW, n, 52.0)
    vector = lk.bgnbd_log_probability_of_purchases(CDNOW, np.array([n, 3]), 52.0)
    assert np.ndim(scalar) == 0
    assert np.isfinite(scalar) and scalar < -500
    np.testing.assert_allclose(scalar, vector[0], rtol=1e-12)
    x, tx, T = np.array([2.0]), np.array([30.0]), np.array([39.0])
    cond = lk.bgnbd_log_conditional_probability_of_purchases(CDNOW, n, 52.0, x, tx, T)
    assert cond.shape == (1,) and np.isfinite(cond[0])
