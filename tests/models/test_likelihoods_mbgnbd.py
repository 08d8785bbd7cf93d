"""Pure MBG/NBD functions: references, lifetimes parity, mpmath at extremes, simulation."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from clvlab.models.likelihoods import modified_beta_geo as lk

#: MBG/NBD on the CDNOW 1/10 sample (39 weeks to 1997-09-30, weeks): the estimates issue 11
#: attributes to BTYDplus (mbgnbd.EstimateParameters on cdnow.sample()); the same four
#: values are the reference of pymc-marketing's tests/clv/models/test_modified_beta_geo.py.
BTYDPLUS = np.array([0.525, 6.183, 0.891, 1.614])
NAMES = ["r", "alpha", "a", "b"]

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

#: parameter sets for the mpmath comparisons: CDNOW, a > 1, tiny a with large b,
#: a within 3e-7 of 1, a = 1 exactly (0/0 in the closed form), a just outside the band
#: in which a - 1 is interpolated
OTHER_PARAMS = [
    (2.0, 1.0, 3.0, 0.5),
    (0.1, 100.0, 0.2, 50.0),
    (0.25, 4.0, 1.0 + 3e-7, 2.5),
    (0.25, 4.0, 1.0, 2.5),
    (0.25, 4.0, 1.0011, 2.5),
]


def _lifetimes_mbgnbd(params):
    import lifetimes

    model = lifetimes.ModifiedBetaGeoFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=NAMES)
    return model


def _mp_params(params, dps):
    """mpmath parameters; a = 1 exactly becomes 1 + 1e-40 (the function is smooth in a)."""
    r, al, a, b = (mp.mpf(float(v)) for v in params)
    if a == 1:
        a = a + mp.mpf("1e-40")
    return r, al, a, b


def _mp_loglik(params, x, tx, T, dps=60):
    """Log of the MBG/NBD likelihood written out directly, in mpmath."""
    with mp.workdps(dps):
        r, al, a, b = _mp_params(params, dps)
        x, tx, T = (mp.mpf(float(v)) for v in (x, tx, T))
        front = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(al) - mp.log(mp.beta(a, b))
        alive = mp.beta(a, b + x + 1) * (al + T) ** (-(r + x))
        gone = mp.beta(a + 1, b + x) * (al + tx) ** (-(r + x))
        return float(front + mp.log(alive + gone))


def _mp_p_alive(params, x, tx, T, dps=60):
    """P(alive) as the share of the 'alive at T' term of the likelihood, in mpmath."""
    with mp.workdps(dps):
        r, al, a, b = _mp_params(params, dps)
        x, tx, T = (mp.mpf(float(v)) for v in (x, tx, T))
        alive = mp.beta(a, b + x + 1) * (al + T) ** (-(r + x))
        gone = mp.beta(a + 1, b + x) * (al + tx) ** (-(r + x))
        return alive / (alive + gone)


def _mp_expected(params, t, x, tx, T, dps=60):
    """E[X(T, T+t] | x, t_x, T] by the closed form with the 2F1 evaluated directly."""
    with mp.workdps(dps):
        r, al, a, b = _mp_params(params, dps)
        t, x, T_ = (mp.mpf(float(v)) for v in (t, x, T))
        z = t / (al + T_ + t)
        hyp = mp.hyp2f1(r + x, b + x + 1, a + b + x, z, maxterms=10**6)
        bracket = 1 - ((al + T_) / (al + T_ + t)) ** (r + x) * hyp
        return float((a + b + x) / (a - 1) * bracket * _mp_p_alive(params, x, tx, T, dps))


def _mp_pmf_new(params, n, t, dps=80):
    """P(X(t) = n) of a new customer, with the NB tail as a regularised incomplete beta."""
    with mp.workdps(dps):
        r, al, a, b = _mp_params(params, dps)
        t = mp.mpf(float(t))
        p0, q = al / (al + t), t / (al + t)
        nb = mp.exp(mp.loggamma(r + n) - mp.loggamma(r) - mp.loggamma(n + 1)
                    + r * mp.log(p0) + n * mp.log(q))
        tail = 1 if n == 0 else mp.betainc(n, r, 0, q, regularized=True)
        return (mp.beta(a, b + n + 1) * nb + mp.beta(a + 1, b + n) * tail) / mp.beta(a, b)


# -- log-likelihood -------------------------------------------------------------------
def test_log_likelihood_total_at_btydplus_estimates(cdnow_rfm):
    """Total LL at the BTYDplus estimates on clvlab's CDNOW summary is -9582.1358."""
    d = cdnow_rfm
    total = lk.mbgnbd_log_likelihood(BTYDPLUS, d["frequency"], d["recency"], d["T"]).sum()
    # -9582.13572 at the unrounded maximum; the 3-decimal estimates lose 1.1e-4 of it
    np.testing.assert_allclose(total, -9582.1358, atol=1e-4)


def test_log_likelihood_matches_lifetimes_per_customer(cdnow_rfm_lifetimes):
    """Per-customer LL equals lifetimes' ModifiedBetaGeoFitter objective (rtol 1e-12)."""
    from lifetimes import ModifiedBetaGeoFitter as LtMBG

    d = cdnow_rfm_lifetimes.drop_duplicates(["frequency", "recency", "T"]).iloc[:300]
    x, tx, T = (d[c].to_numpy() for c in ("frequency", "recency", "T"))
    ours = lk.mbgnbd_log_likelihood(BTYDPLUS, x, tx, T)
    theirs = np.array([
        -LtMBG._negative_log_likelihood(np.log(BTYDPLUS), x[i:i + 1], tx[i:i + 1], T[i:i + 1],
                                        np.ones(1), 0.0)
        for i in range(len(x))
    ])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("params", [tuple(BTYDPLUS), *OTHER_PARAMS])
@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES)
def test_log_likelihood_matches_mpmath_at_extremes(params, x, tx, T):
    """LL is finite and equals the likelihood written out in 60-digit mpmath (rtol 1e-8)."""
    ours = float(lk.mbgnbd_log_likelihood(params, x, tx, T))
    assert np.isfinite(ours)
    np.testing.assert_allclose(ours, _mp_loglik(params, x, tx, T), rtol=1e-8, atol=1e-12)


def test_log_likelihood_scalar_equals_vector_entry():
    """A scalar call returns the same value as the corresponding entry of a vector call."""
    x, tx, T = [0, 3, 7], [0.0, 12.5, 30.0], [40.0, 40.0, 35.0]
    vec = lk.mbgnbd_log_likelihood(BTYDPLUS, x, tx, T)
    for i in range(3):
        scalar = lk.mbgnbd_log_likelihood(BTYDPLUS, x[i], tx[i], T[i])
        assert np.ndim(scalar) == 0
        np.testing.assert_allclose(scalar, vec[i], rtol=1e-14)


def test_log_likelihood_table_path_equals_direct_path(rng):
    """The per-frequency lookup (large inputs) gives the values of direct evaluation."""
    n = 5000
    x = rng.integers(0, 40, n).astype(float)
    T = rng.uniform(1, 60, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    ll_big, g_big = lk.mbgnbd_log_likelihood_grad(BTYDPLUS, x, tx, T)  # table path
    parts = [lk.mbgnbd_log_likelihood_grad(BTYDPLUS, x[i:i + 500], tx[i:i + 500], T[i:i + 500])
             for i in range(0, n, 500)]  # < 1024 rows: direct path
    np.testing.assert_allclose(ll_big, np.concatenate([p[0] for p in parts]), rtol=1e-13)
    np.testing.assert_allclose(g_big, np.concatenate([p[1] for p in parts]), rtol=1e-12,
                               atol=1e-15)


def test_gradient_matches_central_differences():
    """The analytic gradient agrees with 4-point central differences (rtol 1e-6)."""
    x = np.array([0, 0, 1, 2, 5, 30, 300, 2000, 20000], dtype=float)
    T = np.array([0, 40, 40, 10, 52, 52, 52, 52, 52], dtype=float)
    tx = np.array([0, 0, 0, 9.5, 20, 51, 50, 52, 1], dtype=float)
    for params in (BTYDPLUS, *map(np.array, OTHER_PARAMS)):
        _, grad = lk.mbgnbd_log_likelihood_grad(params, x, tx, T)
        for j in range(4):
            h = 1e-4 * params[j]

            def ll(step, j=j, h=h, params=params):
                moved = params.copy()
                moved[j] += step * h
                return lk.mbgnbd_log_likelihood(moved, x, tx, T)

            # O(h^4) stencil: rounding of LL values near 1e5 (x = 20,000) stays below 1e-6
            num = (-ll(2) + 8 * ll(1) - 8 * ll(-1) + ll(-2)) / (12 * h)
            np.testing.assert_allclose(grad[:, j], num, rtol=1e-6, atol=1e-6)


def test_likelihood_integrates_to_one_over_histories():
    """The likelihood is a proper distribution of (x, t_x) at fixed T (sum + integral = 1)."""
    from scipy import integrate

    params, T = np.array([0.8, 3.0, 0.9, 1.6]), 5.0
    total = float(np.exp(lk.mbgnbd_log_likelihood(params, 0, 0.0, T)))
    for x in range(1, 80):  # P(X(5) >= 80) < 1e-15 here
        # density of the x ordered purchase ages; integrating out t_1..t_{x-1} gives
        # t_x^(x-1) / (x-1)! times the likelihood at (x, t_x)
        def f(s, x=x):
            return float(np.exp(lk.mbgnbd_log_likelihood(params, x, s, T)
                                + (x - 1) * np.log(s) - special.gammaln(x)))
        total += integrate.quad(f, 0.0, T, epsabs=1e-14, epsrel=1e-12)[0]
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)


# -- P(alive) -------------------------------------------------------------------------
def test_probability_alive_below_one_without_repeat_purchases():
    """frequency 0: P(alive) = b/(a+b) at T = 0 and falls with T (BG/NBD would give 1)."""
    r, alpha, a, b = BTYDPLUS
    T = np.array([0.0, 1.0, 10.0, 39.0, 500.0])
    p = lk.mbgnbd_probability_alive(BTYDPLUS, 0, 0.0, T)
    np.testing.assert_allclose(p[0], b / (a + b), rtol=1e-15)
    np.testing.assert_allclose(p, 1 / (1 + a / b * ((alpha + T) / alpha) ** r), rtol=1e-14)
    assert np.all(p < 1) and np.all(np.diff(p) < 0)


def test_probability_alive_matches_lifetimes(cdnow_rfm_lifetimes):
    """P(alive) equals lifetimes' for every CDNOW customer (rtol 1e-12)."""
    d = cdnow_rfm_lifetimes
    theirs = _lifetimes_mbgnbd(BTYDPLUS).conditional_probability_alive(
        d["frequency"].to_numpy(), d["recency"].to_numpy(), d["T"].to_numpy())
    ours = lk.mbgnbd_probability_alive(BTYDPLUS, d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("params", [tuple(BTYDPLUS), *OTHER_PARAMS])
@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES)
def test_probability_alive_in_range_and_matches_mpmath(params, x, tx, T):
    """P(alive) is in [0, 1] and equals the Bayes share in 60-digit mpmath (rtol 1e-10)."""
    ours = float(lk.mbgnbd_probability_alive(params, x, tx, T))
    assert 0.0 <= ours <= 1.0
    np.testing.assert_allclose(ours, float(_mp_p_alive(params, x, tx, T)), rtol=1e-10,
                               atol=1e-300)


# -- E[X(t) | history] ----------------------------------------------------------------
def test_expected_purchases_match_lifetimes_for_every_customer(cdnow_rfm_lifetimes):
    """Conditional E[X(t)] equals lifetimes' for every CDNOW customer (rtol 1e-9)."""
    d = cdnow_rfm_lifetimes
    model = _lifetimes_mbgnbd(BTYDPLUS)
    f, r, T = (d[c].to_numpy() for c in ("frequency", "recency", "T"))
    for t in (1.0, 10.0, 52.0, 104.0):
        theirs = model.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        assert np.all(np.isfinite(theirs))
        np.testing.assert_allclose(lk.mbgnbd_expected_purchases(BTYDPLUS, t, f, r, T), theirs,
                                   rtol=1e-9)


@pytest.mark.parametrize(
    "x, tx, T",
    [pytest.param(*h, marks=pytest.mark.slow) if h[0] >= 20000 else h for h in EXTREME_HISTORIES],
)
@pytest.mark.parametrize("t", [0.5, 52.0, 1000.0])
def test_expected_purchases_match_mpmath_at_extremes(x, tx, T, t):
    """E[X(t) | x, t_x, T] equals the closed form in 60-digit mpmath (rtol 1e-8), >= 0."""
    ours = float(lk.mbgnbd_expected_purchases(BTYDPLUS, t, x, tx, T))
    assert np.isfinite(ours) and ours >= 0
    np.testing.assert_allclose(ours, _mp_expected(BTYDPLUS, t, x, tx, T), rtol=1e-8,
                               atol=1e-300)


@pytest.mark.parametrize("params", OTHER_PARAMS)
@pytest.mark.parametrize(
    "x, tx, T",
    [pytest.param(*h, marks=pytest.mark.slow) if h[0] >= 20000 else h for h in EXTREME_HISTORIES],
)
@pytest.mark.parametrize("t", [1e-6, 52.0, 1000.0])
def test_expected_purchases_other_parameters_match_mpmath(params, x, tx, T, t):
    """E[X(t)|history] matches mpmath (rtol 1e-8) for a > 1, tiny a, a next to and at 1."""
    ours = float(lk.mbgnbd_expected_purchases(params, t, x, tx, T))
    np.testing.assert_allclose(ours, _mp_expected(params, t, x, tx, T), rtol=1e-8,
                               atol=1e-300)


def test_expected_purchases_continuous_at_the_band_edges():
    """No jump where the evaluation switches method (|a - 1| = 1e-3): below 1e-10 relative."""
    x, tx, T = np.array([0, 3, 500]), np.array([0, 20.0, 50.0]), np.array([40.0, 40.0, 52.0])

    def e(a):
        return lk.mbgnbd_expected_purchases((0.25, 4.0, a, 2.5), 1000.0, x, tx, T)

    delta = 1e-8
    for edge in (1.0 - 1e-3, 1.0 + 1e-3):
        slope = (e(edge + 5e-4) - e(edge - 5e-4)) / 1e-3
        jump = e(edge + delta) - e(edge - delta)
        np.testing.assert_allclose(jump, slope * 2 * delta, rtol=0, atol=1e-10 * e(edge).max())


def test_lifetimes_returns_nan_where_ours_matches_mpmath():
    """lifetimes gives NaN at 300 purchases (t = 1000) and 2,000 (t = 52); ours is exact."""
    model = _lifetimes_mbgnbd(BTYDPLUS)
    for x, t in ((300, 1000.0), (2000, 52.0)):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = model.conditional_expected_number_of_purchases_up_to_time(
                t, np.array([float(x)]), np.array([52.0]), np.array([52.0]))
        ours = lk.mbgnbd_expected_purchases(BTYDPLUS, t, x, 52.0, 52.0)
        assert not np.all(np.isfinite(theirs))
        np.testing.assert_allclose(ours, _mp_expected(BTYDPLUS, t, x, 52.0, 52.0), rtol=1e-8)


def test_lifetimes_diverges_at_a_equal_one():
    """At a = 1 lifetimes' E[X(t)] is -inf (0/0); ours is the limit, as mpmath gives it."""
    params = (0.25, 4.0, 1.0, 2.5)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _lifetimes_mbgnbd(params).expected_number_of_purchases_up_to_time(52.0)
    ours = lk.mbgnbd_expected_purchases_new_customer(params, 52.0)
    assert not np.isfinite(theirs)
    np.testing.assert_allclose(ours, _mp_expected(params, 52.0, 0, 0.0, 0.0), rtol=1e-8)


def test_expected_purchases_distinct_row_path_equals_direct(rng):
    """Large inputs (evaluated once per distinct (t, x, T)) equal row-by-row evaluation."""
    n = 20_000
    x = rng.integers(0, 60, n).astype(float)
    T = rng.integers(0, 40 * 7, n) / 7
    tx = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7) / 7, 0.0)
    t = rng.choice([1.0, 13.0, 52.0], n)
    for horizon in (52.0, t):
        big = lk.mbgnbd_expected_purchases(BTYDPLUS, horizon, x, tx, T)
        h = np.broadcast_to(horizon, (n,))
        small = np.concatenate([
            lk.mbgnbd_expected_purchases(BTYDPLUS, h[i:i + 1000], x[i:i + 1000],
                                         tx[i:i + 1000], T[i:i + 1000])
            for i in range(0, n, 1000)
        ])
        np.testing.assert_allclose(big, small, rtol=1e-13, atol=0)


def test_expected_purchases_zero_at_t_zero_and_nondecreasing():
    """E[X(t)|history] is 0 at t = 0 and never decreases in t."""
    t = np.linspace(0, 500, 401)[:, None]
    x, tx, T = np.array([0, 0, 1, 5, 300]), np.array([0, 0, 3.0, 30.0, 38.0]), \
        np.array([0.0, 40.0, 40.0, 40.0, 40.0])
    e = lk.mbgnbd_expected_purchases(BTYDPLUS, t, x, tx, T)
    np.testing.assert_array_equal(e[0], 0.0)
    assert np.all(np.diff(e, axis=0) >= -1e-12)


def test_new_customer_expectation_matches_lifetimes_and_history_000():
    """E[X(t)] of a new customer equals lifetimes' (rtol 1e-9) and the (0, 0, 0) history."""
    t = np.array([0.5, 1.0, 10.0, 39.0, 52.0, 78.0, 500.0])
    theirs = _lifetimes_mbgnbd(BTYDPLUS).expected_number_of_purchases_up_to_time(t)
    ours = lk.mbgnbd_expected_purchases_new_customer(BTYDPLUS, t)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    np.testing.assert_allclose(ours, lk.mbgnbd_expected_purchases(BTYDPLUS, t, 0, 0.0, 0.0),
                               rtol=1e-15)


# -- P(X(t) = n) ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 5, 20, 50])
def test_probability_of_purchases_matches_lifetimes(n):
    """P(X(t)=n) of a new customer equals lifetimes' for moderate n (rtol 1e-9)."""
    theirs = _lifetimes_mbgnbd(BTYDPLUS).probability_of_n_purchases_up_to_time(52.0, n)
    ours = np.exp(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, n, 52.0))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@pytest.mark.parametrize("n, t", [(0, 52.0), (1, 52.0), (170, 52.0), (200, 52.0), (200, 0.5),
                                  (1000, 52.0), (5000, 100.0), (3, 1e-3), (0, 1e4)])
def test_probability_of_purchases_matches_mpmath(n, t):
    """log P(X(t)=n) equals the closed form in 80-digit mpmath (rtol 1e-9), any n."""
    ours = float(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, n, t))
    with mp.workdps(80):
        ref = float(mp.log(_mp_pmf_new(BTYDPLUS, n, t)))
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_lifetimes_pmf_loses_digits_then_fails():
    """lifetimes' P(X(52)=n): 1e-9-level error at n = 170 (1 - finite sum), NaN at 200."""
    model = _lifetimes_mbgnbd(BTYDPLUS)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at_170 = model.probability_of_n_purchases_up_to_time(52.0, 170)
        at_200 = model.probability_of_n_purchases_up_to_time(52.0, 200)
    ref_170 = float(_mp_pmf_new(BTYDPLUS, 170, 52.0))
    ours_170 = float(np.exp(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, 170, 52.0)))
    assert abs(at_170 / ref_170 - 1) > 1e-9  # lifetimes: cancellation in 1 - sum_{j<n}
    np.testing.assert_allclose(ours_170, ref_170, rtol=1e-11)
    assert not np.isfinite(at_200)


def test_probability_of_purchases_sums_to_one_with_mean_e_x():
    """sum_n P(X(t)=n) = 1 and sum_n n P(X(t)=n) = E[X(t)] (rtol 1e-9)."""
    n = np.arange(0, 5000)
    for t in (1.0, 52.0, 200.0):
        p = np.exp(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, n, t))
        np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-9)
        mean = lk.mbgnbd_expected_purchases_new_customer(BTYDPLUS, t)
        np.testing.assert_allclose((n * p).sum(), mean, rtol=1e-9)


def test_probability_of_purchases_at_t_zero_and_gone_at_zero():
    """t = 0: P(0) = 1; for t > 0, P(0) > a/(a+b), the share gone right after the 1st purchase."""
    r, alpha, a, b = BTYDPLUS
    p = np.exp(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, [0, 1, 7], 0.0))
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])
    p0 = np.exp(lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, 0, [1.0, 1e3, 1e9]))
    assert np.all(p0 > a / (a + b))
    np.testing.assert_allclose(p0[-1], a / (a + b), rtol=1e-3)  # t -> inf: only they remain


def test_conditional_pmf_is_a_distribution_with_the_conditional_mean():
    """P(X(T,T+t]=n | history) sums to 1 over n and its mean is E[X(T,T+t] | history]."""
    n = np.arange(0, 3000)[:, None]
    x, tx, T = np.array([0, 0, 1, 7, 40]), np.array([0, 0, 5.0, 30.0, 38.0]), \
        np.array([0.0, 40.0, 40.0, 40.0, 40.0])
    p = np.exp(lk.mbgnbd_log_conditional_probability_of_purchases(BTYDPLUS, n, 52.0, x, tx, T))
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose((n * p).sum(axis=0),
                               lk.mbgnbd_expected_purchases(BTYDPLUS, 52.0, x, tx, T), rtol=1e-9)



@pytest.mark.parametrize("horizon", ["scalar", "per_row"])
def test_conditional_pmf_on_many_rows_equals_row_by_row(horizon, check_pmf_on_many_rows):
    """On >= 4,096 pairs the new-customer part is evaluated once per distinct (n, t, x, T)
    (it does not depend on t_x): the same numbers, bit for bit, as small calls."""
    check_pmf_on_many_rows(lk.mbgnbd_log_conditional_probability_of_purchases, BTYDPLUS, horizon,
                           seed=5)

def test_conditional_pmf_at_history_000_is_the_new_customer_pmf():
    """A customer observed for no time at all is a new customer: the two pmfs coincide."""
    n = np.arange(0, 50)
    new = lk.mbgnbd_log_probability_of_purchases(BTYDPLUS, n, 39.0)
    cond = lk.mbgnbd_log_conditional_probability_of_purchases(BTYDPLUS, n, 39.0, 0, 0.0, 0.0)
    np.testing.assert_allclose(cond, new, rtol=1e-13)


def _mp_conditional_pmf(params, n, t, x, tx, T, dps=80):
    """P(alive) x BG/NBD pmf at (r+x, alpha+T, a, b+x+1) + (1 - P(alive)) [n = 0], mpmath."""
    with mp.workdps(dps):
        r, al, a, b = _mp_params(params, dps)
        alive = _mp_p_alive(params, x, tx, T, dps)
        r1, al1, b1 = r + x, al + mp.mpf(float(T)), b + x + 1
        t = mp.mpf(float(t))
        q = t / (al1 + t)
        nb = mp.exp(mp.loggamma(r1 + n) - mp.loggamma(r1) - mp.loggamma(n + 1)
                    + r1 * mp.log(al1 / (al1 + t)) + n * mp.log(q))
        bg = mp.beta(a, b1 + n) / mp.beta(a, b1) * nb
        if n > 0:
            bg += (mp.beta(a + 1, b1 + n - 1) / mp.beta(a, b1)
                   * mp.betainc(n, r1, 0, q, regularized=True))
        return alive * bg + (1 - alive) * (1 if n == 0 else 0)


@pytest.mark.parametrize("params", [tuple(BTYDPLUS), OTHER_PARAMS[0], OTHER_PARAMS[3]])
@pytest.mark.parametrize(
    "x, tx, T",
    [pytest.param(*h, marks=pytest.mark.slow) if h[0] >= 20000 else h for h in EXTREME_HISTORIES],
)
@pytest.mark.parametrize("n", [0, 1, 5, 52])
def test_conditional_pmf_matches_mpmath_at_extremes(params, x, tx, T, n):
    """log P(X(T,T+52]=n | history) equals its closed form in 80-digit mpmath (rtol 1e-8)."""
    ours = float(lk.mbgnbd_log_conditional_probability_of_purchases(params, n, 52.0, x, tx, T))
    ref = _mp_conditional_pmf(params, n, 52.0, x, tx, T)
    if ref == 0:
        assert ours == -np.inf
        return
    with mp.workdps(80):
        log_ref = float(mp.log(ref))
    np.testing.assert_allclose(ours, log_ref, rtol=1e-8, atol=1e-12)


def test_conditional_probability_of_no_purchase_includes_dropouts():
    """P(no purchase | history) >= 1 - P(alive) (a customer who left never buys), x = 0 too."""
    x, tx, T = np.array([0, 1, 5, 20]), np.array([0, 1.0, 5.0, 10.0]), np.array([40.0] * 4)
    p0 = np.exp(lk.mbgnbd_log_conditional_probability_of_purchases(BTYDPLUS, 0, 10.0, x, tx, T))
    assert np.all(p0 >= 1 - lk.mbgnbd_probability_alive(BTYDPLUS, x, tx, T) - 1e-15)


@pytest.mark.parametrize("x, tx, T", EXTREME_HISTORIES)
def test_conditional_pmf_finite_at_extremes(x, tx, T):
    """log P(X(T,T+52]=n | history) is finite or -inf, never NaN; P(0) in [0, 1]."""
    n = np.array([0, 1, 52, 2000])
    lp = lk.mbgnbd_log_conditional_probability_of_purchases(BTYDPLUS, n, 52.0, x, tx, T)
    assert not np.any(np.isnan(lp))
    assert 0.0 <= np.exp(lp[0]) <= 1.0


# -- the story, simulated event by event ----------------------------------------------
def _simulate_event_by_event(params, T, horizon, rng):
    """Follow every customer purchase by purchase (an independent check of the algebra).

    Returns frequency, recency, alive at T and the purchases in (T, T + horizon].
    """
    r, alpha, a, b = params
    n = T.shape[0]
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    alive = rng.random(n) >= p  # the coin right after the first purchase
    clock = np.zeros(n)
    x = np.zeros(n)
    tx = np.zeros(n)
    future = np.zeros(n)
    alive_at_T = alive.copy()
    active = np.flatnonzero(alive)
    while active.size:
        clock[active] += rng.exponential(1 / lam[active])
        inside = clock[active] <= T[active] + horizon
        active = active[inside]
        calib = clock[active] <= T[active]
        x[active[calib]] += 1
        tx[active[calib]] = clock[active[calib]]
        future[active[~calib]] += 1
        stays = rng.random(active.size) >= p[active]
        alive_at_T[active[calib & ~stays]] = False
        active = active[stays]
    return x, tx, alive_at_T, future


def test_formulas_agree_with_the_story_simulated_event_by_event():
    """On 60,000 simulated customers: P(alive), E[X(T,T+t]|history], P(X(T)=n) and
    P(no future purchase | history) match the simulated outcomes (4 standard errors)."""
    params = np.array([0.8, 5.0, 0.9, 1.6])
    rng = np.random.default_rng(2007)
    n, horizon = 60_000, 26.0
    T = rng.uniform(0, 40, n)
    x, tx, alive, future = _simulate_event_by_event(params, T, horizon, rng)

    def close(simulated, predicted):
        se = np.std(simulated - predicted) / np.sqrt(len(simulated))
        assert abs(np.mean(simulated) - np.mean(predicted)) < 4 * se, (
            np.mean(simulated), np.mean(predicted), se)

    p_alive = lk.mbgnbd_probability_alive(params, x, tx, T)
    close(alive.astype(float), p_alive)
    one_time = x == 0
    close(alive[one_time].astype(float), p_alive[one_time])  # P(alive) < 1 is right
    close(future, lk.mbgnbd_expected_purchases(params, horizon, x, tx, T))
    p_none = np.exp(lk.mbgnbd_log_conditional_probability_of_purchases(
        params, 0, horizon, x, tx, T))
    close((future == 0).astype(float), p_none)
    for k in (0, 1, 2, 5):
        close((x == k).astype(float),
              np.exp(lk.mbgnbd_log_probability_of_purchases(params, k, T)))


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
    """For any valid parameters and history: LL finite, P(alive) in [0,1] (< 1 at x = 0 and
    T > 0), E[X(t)] finite >= 0, log P(n | history) never NaN."""
    x, frac, T = history
    tx = frac * T if x > 0 else 0.0
    assert np.isfinite(lk.mbgnbd_log_likelihood(params, x, tx, T))
    p = float(lk.mbgnbd_probability_alive(params, x, tx, T))
    assert 0.0 <= p <= 1.0
    if x == 0:
        assert p < 1.0
    e = float(lk.mbgnbd_expected_purchases(params, t, x, tx, T))
    assert np.isfinite(e) and e >= 0.0
    lp = lk.mbgnbd_log_conditional_probability_of_purchases(params, np.array([0, 1, 5]), t,
                                                            x, tx, T)
    assert not np.any(np.isnan(lp)) and np.all(lp <= 1e-12)


@settings(max_examples=100, deadline=None)
@given(params=parameter_sets, history=histories, t=st.floats(0.0, 1000.0))
def test_scalar_equals_vector(params, history, t):
    """Every function gives for one customer what it gives for that customer in a vector."""
    x, frac, T = history
    tx = frac * T if x > 0 else 0.0
    xs, txs, Ts = np.array([x, 1]), np.array([tx, 0.5]), np.array([T, 1.0])
    for f, args in (
        (lk.mbgnbd_log_likelihood, ()),
        (lk.mbgnbd_probability_alive, ()),
    ):
        np.testing.assert_allclose(f(params, x, tx, T, *args), f(params, xs, txs, Ts)[0],
                                   rtol=1e-14)
    np.testing.assert_allclose(lk.mbgnbd_expected_purchases(params, t, x, tx, T),
                               lk.mbgnbd_expected_purchases(params, t, xs, txs, Ts)[0],
                               rtol=1e-12)
    np.testing.assert_allclose(
        lk.mbgnbd_log_conditional_probability_of_purchases(params, 2, t, x, tx, T),
        lk.mbgnbd_log_conditional_probability_of_purchases(params, 2, t, xs, txs, Ts)[0],
        rtol=1e-12)
