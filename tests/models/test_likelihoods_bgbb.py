"""BG/BB pure functions (Fader, Hardie & Shang 2010) against mpmath, brute force and lifetimes.

References: FHS (2010), "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6); the donations data (11,104 donors of the 1995 cohort,
6 annual opportunities) are read from lifetimes' copy in the test environment.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvlab.models.likelihoods import beta_geo_beta_binom as lk

#: FHS (2010) estimates on the donations data (Section 4; also lifetimes' test).
PAPER = np.array([1.204, 0.750, 0.657, 2.783])
mp.mp.dps = 40


def _donations() -> pd.DataFrame:
    import lifetimes

    return pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")


# --------------------------------------------------------------------------------------
# mpmath references (the paper's sums, term by term, 40 digits)
# --------------------------------------------------------------------------------------
def _mp_params(params):
    return [mp.mpf(float(v)) for v in params]


def mp_lik(params, x, tx, n):
    """Eq. (5) of FHS (2010), summed term by term."""
    a, b, g, d = _mp_params(params)
    x, tx, n = int(x), int(tx), int(n)
    bab, bgd = mp.beta(a, b), mp.beta(g, d)
    total = mp.beta(a + x, b + n - x) / bab * mp.beta(g, d + n) / bgd
    for i in range(n - tx):
        total += mp.beta(a + x, b + tx - x + i) / bab * mp.beta(g + 1, d + tx + i) / bgd
    return total


def mp_alive(params, x, tx, n, m=1):
    """P(alive in period n + m | history), eq. (11) for m = 1."""
    a, b, g, d = _mp_params(params)
    num = mp.beta(a + x, b + n - x) / mp.beta(a, b) * mp.beta(g, d + n + m) / mp.beta(g, d)
    return num / mp_lik(params, x, tx, n)


def mp_expected(params, t, x, tx, n):
    """Sum over the next t periods of P(alive then) x E[p | history, alive]."""
    a, b, g, d = _mp_params(params)
    front = mp.beta(a + x + 1, b + n - x) / mp.beta(a, b) / mp_lik(params, x, tx, n)
    return front * mp.fsum(mp.beta(g, d + n + k) / mp.beta(g, d) for k in range(1, int(t) + 1))


def mp_pmf_new(params, k, n):
    """Eq. (8) of FHS (2010)."""
    a, b, g, d = _mp_params(params)
    bab, bgd = mp.beta(a, b), mp.beta(g, d)
    total = mp.binomial(n, k) * mp.beta(a + k, b + n - k) / bab * mp.beta(g, d + n) / bgd
    for i in range(k, n):
        total += mp.binomial(i, k) * mp.beta(a + k, b + i - k) / bab * mp.beta(g + 1, d + i) / bgd
    return total


HISTORIES = [  # (x, t_x, n): every kind, including the stability cases of the brief
    (0, 0, 0), (0, 0, 1), (1, 1, 1), (0, 0, 6), (1, 1, 6), (1, 6, 6), (3, 5, 6), (6, 6, 6),
    (0, 0, 300), (1, 1, 300), (1, 300, 300), (150, 290, 300), (300, 300, 300),
    (0, 0, 2000), (1, 7, 2000), (2000, 2000, 2000), (800, 1500, 2000),
    (1, 20000, 20000), (20000, 20000, 20000),
    # 8,000 and 20,000 mpmath terms: a few seconds each
    pytest.param(5000, 12000, 20000, marks=pytest.mark.slow),
    pytest.param(0, 0, 20000, marks=pytest.mark.slow),
]
FAST_HISTORIES = [h for h in HISTORIES if type(h) is tuple]  # not the pytest.param ones


@pytest.mark.parametrize(("x", "tx", "n"), HISTORIES)
def test_log_likelihood_matches_mpmath(x, tx, n):
    """log L is finite and within 1e-11 (relative) of the 40-digit term-by-term sum.

    (scipy's betaln at arguments near 20,000 is good to about 3e-12 relative.)
    """
    got = lk.bgbb_log_likelihood(PAPER, x, tx, n)
    want = float(mp.log(mp_lik(PAPER, x, tx, n)))
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize(("x", "tx", "n"), [h for h in FAST_HISTORIES if h[2] <= 2000])
def test_alive_and_expectation_match_mpmath(x, tx, n):
    """P(alive in n+1), P(alive in n+5) and E[X(n, n+t]] agree with mpmath to 1e-10."""
    for m in (0, 1, 5):
        np.testing.assert_allclose(lk.bgbb_probability_alive(PAPER, x, tx, n, m),
                                   float(mp_alive(PAPER, x, tx, n, m)), rtol=1e-10)
    for t in (1, 5, 52):
        np.testing.assert_allclose(lk.bgbb_expected_purchases(PAPER, t, x, tx, n),
                                   float(mp_expected(PAPER, t, x, tx, n)), rtol=1e-10)


def test_gradient_matches_central_differences():
    """The analytic gradient agrees with central differences (rtol 1e-6) on many histories."""
    x, tx, n = (np.array(v, dtype=float) for v in zip(*FAST_HISTORIES[:14], strict=True))
    params = np.array([0.8, 1.7, 0.4, 3.1])
    _, grad = lk.bgbb_log_likelihood_grad(params, x, tx, n)
    for j in range(4):
        h = 1e-6 * params[j]
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        num = (lk.bgbb_log_likelihood(up, x, tx, n) - lk.bgbb_log_likelihood(down, x, tx, n)) / (
            2 * h)
        np.testing.assert_allclose(grad[:, j], num, rtol=1e-6, atol=1e-8)


def test_total_log_likelihood_on_donations_is_the_papers():
    """At the MLE the donations data give LL = -33,225.6 (FHS 2010, Section 4)."""
    d = _donations()
    params = np.array([1.2035224, 0.7497164, 0.6567182, 2.7834422])  # clvlab's MLE
    ll = lk.bgbb_log_likelihood(params, d["frequency"], d["recency"], d["periods"])
    np.testing.assert_allclose(float(ll @ d["weights"]), -33225.6, atol=0.05)
    # and the paper's rounded estimates are within 0.01 of the optimum
    ll_paper = lk.bgbb_log_likelihood(PAPER, d["frequency"], d["recency"], d["periods"])
    assert -33225.6 - 0.02 < float(ll_paper @ d["weights"]) <= float(ll @ d["weights"])


@pytest.mark.parametrize("n", [0, 1, 6, 40, 300])
def test_new_customer_pmf_matches_mpmath_and_sums_to_one(n):
    """P(X(n) = k) (eq. 8) matches mpmath (1e-10), sums to 1, and its mean is E[X(n)] (eq. 9)."""
    k = np.arange(n + 1, dtype=float)
    p = np.exp(lk.bgbb_log_probability_of_purchases(PAPER, k, n))
    ks = [0, 1, n // 2, n] if n > 10 else range(n + 1)
    for kk in ks:
        np.testing.assert_allclose(p[int(kk)], float(mp_pmf_new(PAPER, int(kk), n)), rtol=1e-10)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p @ k, lk.bgbb_expected_purchases_new_customer(PAPER, n),
                               rtol=1e-11, atol=1e-15)
    assert lk.bgbb_log_probability_of_purchases(PAPER, n + 1, n) == -np.inf


@pytest.mark.parametrize(("x", "tx", "n"), [(0, 0, 6), (2, 4, 6), (6, 6, 6), (1, 1, 300)])
@pytest.mark.parametrize("t", [1, 5, 60])
def test_conditional_pmf_is_a_distribution_with_the_right_mean(x, tx, n, t):
    """P(X(n, n+t] = k | history) sums to 1 over k = 0..t and its mean is eq. (13)."""
    k = np.arange(t + 1, dtype=float)
    p = np.exp(lk.bgbb_log_conditional_probability_of_purchases(PAPER, k, t, x, tx, n))
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p @ k, lk.bgbb_expected_purchases(PAPER, t, x, tx, n), rtol=1e-11)


def test_new_customer_is_the_empty_history():
    """The history (0, 0, 0) is a new customer: L = 1, same expectation, P(alive) = d/(g+d)."""
    t = np.arange(0, 30.0)
    np.testing.assert_allclose(lk.bgbb_log_likelihood(PAPER, 0, 0, 0), 0.0, atol=1e-15)
    np.testing.assert_allclose(lk.bgbb_expected_purchases(PAPER, t, 0, 0, 0),
                               lk.bgbb_expected_purchases_new_customer(PAPER, t), rtol=1e-13)
    np.testing.assert_allclose(lk.bgbb_probability_alive(PAPER, 0, 0, 0),
                               PAPER[3] / (PAPER[2] + PAPER[3]), rtol=1e-13)


@pytest.mark.parametrize("d", [0.001, 0.01, 0.1, 0.5])
@pytest.mark.parametrize(("x", "tx", "n"), [(0, 0, 0), (0, 0, 6), (2, 4, 6), (6, 6, 6),
                                            (40, 90, 100)])
def test_dert_is_the_discounted_sum_of_period_expectations(d, x, tx, n):
    """DERT (eq. 15) equals sum_s (1+d)^-s [E(s) - E(s-1)] summed to the tail (rtol 1e-10)."""
    last = int(math.ceil(40 / math.log1p(d)))
    s = np.arange(0, last + 1, dtype=float)
    e = lk.bgbb_expected_purchases(PAPER, s, x, tx, n)
    want = float(np.sum(np.diff(e) * (1 + d) ** -s[1:]))
    np.testing.assert_allclose(lk.bgbb_dert(PAPER, d, x, tx, n), want, rtol=1e-10)


def test_dert_matches_the_papers_hypergeometric_in_mpmath():
    """DERT against the paper's eq. (15) evaluated with mpmath's 2F1 (rtol 1e-10)."""
    a, b, g, dd = _mp_params(PAPER)
    for x, tx, n, d in [(6, 6, 6, 0.1), (0, 0, 6, 0.1), (3, 5, 6, 0.02), (1, 1, 2000, 0.001)]:
        v = 1 / (1 + mp.mpf(d))
        want = (mp.beta(a + x + 1, b + n - x) / mp.beta(a, b) * mp.beta(g, dd + n + 1)
                / mp.beta(g, dd) * v * mp.hyp2f1(1, dd + n + 1, g + dd + n + 1, v)
                / mp_lik(PAPER, x, tx, n))
        np.testing.assert_allclose(lk.bgbb_dert(PAPER, d, x, tx, n), float(want), rtol=1e-10)


@pytest.mark.parametrize("gamma", [1.0, 1 - 1e-9, 1 + 1e-9, 1 - 1e-3, 1.2499, 1.2501, 0.7501,
                                   0.7499, 3.0])
def test_expectation_is_exact_at_and_near_gamma_one(gamma):
    """E[X(n, n+t]] divides by gamma - 1 in closed form; it stays within 1e-11 of mpmath."""
    params = np.array([1.2, 0.75, gamma, 2.8])
    for t, (x, tx, n) in [(1, (0, 0, 0)), (7, (2, 4, 6)), (500, (1, 1, 300)), (20, (0, 0, 0))]:
        np.testing.assert_allclose(lk.bgbb_expected_purchases(params, t, x, tx, n),
                                   float(mp_expected(params, t, x, tx, n)), rtol=1e-11)


def test_fractional_horizons_count_whole_periods():
    """A horizon counts the opportunities completed by then (floor, tolerant of rounding)."""
    e = lk.bgbb_expected_purchases_new_customer(PAPER, [0.0, 0.99, 1.0, 3 - 1e-12, 3.5])
    np.testing.assert_array_equal(e[:2], 0.0)
    assert e[2] > 0
    np.testing.assert_allclose(e[3], lk.bgbb_expected_purchases_new_customer(PAPER, 3.0),
                               rtol=1e-15)
    np.testing.assert_allclose(e[4], e[3], rtol=1e-15)


def test_long_histories_are_summed_in_chunks_with_the_same_result(monkeypatch):
    """Chunking the ragged sums (memory cap) leaves every value unchanged (rtol 1e-14)."""
    x, tx, n = (np.array(v, dtype=float) for v in zip(*FAST_HISTORIES, strict=True))
    whole, g_whole = lk.bgbb_log_likelihood_grad(PAPER, x, tx, n)
    monkeypatch.setattr(lk, "_CHUNK_TERMS", 1000)
    parts, g_parts = lk.bgbb_log_likelihood_grad(PAPER, x, tx, n)
    np.testing.assert_allclose(parts, whole, rtol=1e-14)
    np.testing.assert_allclose(g_parts, g_whole, rtol=1e-13)


# --------------------------------------------------------------------------------------
# lifetimes parity (BetaGeoBetaBinomFitter 0.11.3) at the same parameters
# --------------------------------------------------------------------------------------
def _lifetimes_model(params):
    from lifetimes import BetaGeoBetaBinomFitter

    model = BetaGeoBetaBinomFitter()
    model.params_ = pd.Series(params, index=["alpha", "beta", "gamma", "delta"])
    return model


def _grid(n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [(x, tx, n) for n in range(0, n_max + 1) for tx in range(n + 1)
            for x in ([0] if tx == 0 else range(1, tx + 1))]
    return tuple(np.array(v, dtype=float) for v in zip(*rows, strict=True))


def test_per_customer_parity_with_lifetimes():
    """Every history with n <= 12: lifetimes' three predictors agree to rtol 1e-9.

    lifetimes adds 1e-15 to the likelihood's sum, so agreement is not exact (the largest
    relative difference is about 1e-13 here).
    """
    x, tx, n = _grid(12)
    theirs = _lifetimes_model(PAPER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in (0, 1, 4):
            np.testing.assert_allclose(
                lk.bgbb_probability_alive(PAPER, x, tx, n, m),
                theirs.conditional_probability_alive(m, x, tx, n), rtol=1e-9)
        for t in (1, 5, 30):
            np.testing.assert_allclose(
                lk.bgbb_expected_purchases(PAPER, t, x, tx, n),
                theirs.conditional_expected_number_of_purchases_up_to_time(t, x, tx, n),
                rtol=1e-9)
        theirs.data = pd.DataFrame({"frequency": np.arange(7), "recency": np.arange(7),
                                    "n_periods": 6, "weights": 1})
        table = theirs.expected_number_of_transactions_in_first_n_periods(6)["model"]
    ours = 7 * np.exp(lk.bgbb_log_probability_of_purchases(PAPER, np.arange(7.0), 6))
    np.testing.assert_allclose(ours, table.to_numpy(), rtol=1e-9)


def test_lifetimes_likelihood_is_wrong_on_long_heavy_histories_where_clvlab_matches_mpmath():
    """Where L < 1e-15 lifetimes' log-likelihood is its 1e-15 floor; clvlab matches mpmath.

    lifetimes adds 1e-15 to the sum of the "gone" terms, which it also evaluates without
    logs, so for long histories with many purchases (here (800, 1500, 2000), log L about
    -1,361) it returns about log(1e-15) - log B(alpha, beta) - log B(gamma, delta) =
    -34.4. A documented difference, tested against mpmath instead of lifetimes.
    """
    from lifetimes import BetaGeoBetaBinomFitter

    x, tx, n = np.array([800.0]), np.array([1500.0]), np.array([2000.0])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = float(np.asarray(BetaGeoBetaBinomFitter._loglikelihood(PAPER, x, tx, n))[0])
    want = float(mp.log(mp_lik(PAPER, 800, 1500, 2000)))
    np.testing.assert_allclose(lk.bgbb_log_likelihood(PAPER, x, tx, n), want, rtol=1e-12)
    assert want < -1000
    from scipy.special import betaln

    floor = math.log(1e-15) - betaln(PAPER[0], PAPER[1]) - betaln(PAPER[2], PAPER[3])
    np.testing.assert_allclose(theirs, floor, rtol=1e-6)


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------
positive = st.floats(min_value=0.02, max_value=50.0)


@st.composite
def histories(draw):
    """A valid discrete history (x, t_x, n) with n <= 400."""
    n = draw(st.integers(0, 400))
    tx = draw(st.integers(0, n))
    x = 0 if tx == 0 else draw(st.integers(1, tx))
    return float(x), float(tx), float(n)


@settings(max_examples=60, deadline=None)
@given(positive, positive, positive, positive, histories())
def test_probability_alive_in_unit_interval_and_falls_ahead(a, b, g, d, hist):
    """P(alive in n+m) lies in [0, 1] and does not increase with m."""
    params = np.array([a, b, g, d])
    p = lk.bgbb_probability_alive(params, *hist, m=np.array([0, 1, 2, 10, 100]))
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) <= 1e-12)


@settings(max_examples=60, deadline=None)
@given(positive, positive, positive, positive, histories())
def test_expectation_grows_with_the_horizon_by_at_most_one_per_period(a, b, g, d, hist):
    """E[X(n, n+t]] is 0 at t = 0, non-decreasing, and rises by at most 1 per period."""
    params = np.array([a, b, g, d])
    t = np.arange(0, 60.0)
    e = lk.bgbb_expected_purchases(params, t, *hist)
    assert np.all(np.isfinite(e)) and e[0] == 0
    steps = np.diff(e)
    assert np.all(steps >= -1e-12 * np.maximum(e[1:], 1e-300)) and np.all(steps <= 1 + 1e-12)
