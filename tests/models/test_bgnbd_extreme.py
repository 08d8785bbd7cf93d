"""BG/NBD predictions at extreme (boundary) parameters, checked against mpmath.

The closed form of E[X(T, T+t] | history] (FHL 2005, eq. (10)) goes through a Gauss
hypergeometric function whose series needs about ``a z`` terms, or alternates with terms
of size ``exp(r z)``: at boundary estimates (a ~ 8e8, b ~ 1e10 on a log without churn;
r ~ 1e6 when every customer buys at the same rate) it returned NaN after tens of seconds.
clvlab now uses Gauss quadrature over the Beta dropout probability for large ``a`` (and
when the dropout probabilities are far too small to bend the integrand) and the one-sign
series summed in log space for large ``r``. References: 40-digit mpmath, either the
hypergeometric closed form or the integral over p (an independent representation).
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import DegenerateFitWarning
from clvlab.models.likelihoods import beta_geo as lk
from clvlab.models.likelihoods._numerics import _beta_gauss_rule

mp.mp.dps = 40


def _alive_reference_closed_form(r, alpha, a, b, t, x, T) -> float:
    """E[X(T, T+t] | alive] = c/(a-1) [1 - (1-z)^(r+x) 2F1(r+x, b+x; c; z)] in mpmath."""
    rp, bp, a = mp.mpf(r) + x, mp.mpf(b) + x, mp.mpf(a)
    c = a + bp - 1
    z = mp.mpf(t) / (mp.mpf(alpha) + T + t)
    return float(c / (a - 1) * (1 - (1 - z) ** rp * mp.hyp2f1(rp, bp, c, z)))


def _alive_reference_integral(r, alpha, a, b, t, x, T) -> float:
    """The same as E_p[(1 - (alpha'/(alpha'+p t))^(r+x)) / p], p ~ Beta(a, b+x), in mpmath."""
    a, c = mp.mpf(a), mp.mpf(b) + x
    rx, ap, t = mp.mpf(r) + x, mp.mpf(alpha) + T, mp.mpf(t)
    log_beta = mp.loggamma(a) + mp.loggamma(c) - mp.loggamma(a + c)

    def f(p):
        density = mp.exp((a - 1) * mp.log(p) + (c - 1) * mp.log1p(-p) - log_beta)
        return density * (-mp.expm1(-rx * mp.log1p(p * t / ap))) / p

    m = a / (a + c)
    s = mp.sqrt(m * (1 - m) / (a + c + 1))
    lo, hi = max(mp.mpf(0), m - 60 * s), min(1 - mp.mpf(10) ** -30, m + 60 * s)
    return float(mp.quad(f, [lo + (hi - lo) * k / 12 for k in range(13)]))


def _alive(params, t, x, T) -> np.ndarray:
    """clvlab's E[X(T, T+t] | alive at T] (expected purchases / P(alive)), recency = T."""
    x = np.asarray(x, dtype=float)
    tx = np.where(x > 0, T, 0.0)
    T = np.full_like(x, T)
    expected = lk.bgnbd_expected_purchases(params, t, x, tx, T)
    return expected / lk.bgnbd_probability_alive(params, x, tx, T)


_CONCENTRATED = [
    pytest.param(a, b, T, t, marks=() if (a, T) == (8e8, 60.0) else pytest.mark.slow)
    for a, b in [(8e8, 1e10), (1e13, 1e13), (300.0, 3750.0), (5e4, 1.0)]
    for T, t in [(0.0, 52.0), (60.0, 52.0), (60.0, 520.0)]
]


@pytest.mark.parametrize(("a", "b", "T", "t"), _CONCENTRATED)
def test_concentrated_beta_matches_mpmath(a, b, T, t):
    """Large a (the issue's a = 8e8, b = 1e10 included): finite, and equal to the mpmath
    integral over p to rtol 1e-9, for frequency 0, 1, 5 and 300 (the full grid is slow)."""
    params = (2.2, 3.4, a, b)
    x = [0.0, 1.0, 5.0, 300.0]
    got = _alive(params, t, x, T)
    ref = [_alive_reference_integral(2.2, 3.4, a, b, t, xi, T) for xi in x]
    np.testing.assert_allclose(got, ref, rtol=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.1, 0.1), (1.5, 18.75), (0.7, 0.2), (1.00000001, 3.0)])
@pytest.mark.parametrize("x", [0.0, 5.0, 300.0])
def test_homogeneous_rates_over_long_horizons_match_mpmath(a, b, x):
    """r = 1e6 (rates all alike) over 5,200 weeks: finite and equal to mpmath's closed form
    (rtol 1e-8; 1e-6 within 1e-4 of a = 1, where the value is interpolated in a)."""
    got = _alive((1e6, 1e6, a, b), 5200.0, [x], 60.0)[0]
    ref = _alive_reference_closed_form(1e6, 1e6, a, b, 5200.0, x, 60.0)
    np.testing.assert_allclose(got, ref, rtol=1e-6 if abs(a - 1) < 1e-4 else 1e-8)


@pytest.mark.parametrize(("a", "b"), [(100.0, 100.0), (100.0, 1250.0), (300.0, 300.0),
                                      (300.0, 3750.0)])
@pytest.mark.parametrize(("r", "alpha"), [(0.24, 4.4), (2.2, 3.4), (10.0, 1.0)])
def test_quadrature_agrees_with_the_closed_form_where_both_work(a, b, r, alpha):
    """Just above the switch (a >= 100) the quadrature equals the hypergeometric form
    (rtol 1e-9) for horizons up to a year (at a = 1000 that form already gives NaN)."""
    x = np.array([0.0, 1.0, 2.0, 5.0, 20.0, 100.0])
    for T, t in ((0.0, 1.0), (5.0, 52.0), (60.0, 52.0)):
        tt, TT = np.full_like(x, t), np.full_like(x, T)
        quad = lk._expected_alive_quadrature(r, alpha, a, b, tt, x, TT)
        closed = (a + b + x - 1.0) * lk._hyp_bracket(r, alpha, a, b, tt, x, TT)
        np.testing.assert_allclose(quad, closed, rtol=1e-9)


def test_no_dropout_limit_is_the_nbd():
    """At a -> 0 (no churn) E[X(t) | history] is the NBD's (r+x) t / (alpha+T), rtol 1e-9,
    and P(alive) is 1 to 1e-9."""
    r, alpha = 2.0, 3.0
    params = (r, alpha, 1e-13, 5e5)
    x = np.array([0.0, 1.0, 7.0, 300.0])
    T = np.array([10.0, 20.0, 30.0, 52.0])
    tx = np.where(x > 0, T - 1.0, 0.0)
    for t in (1.0, 52.0, 520.0):
        np.testing.assert_allclose(lk.bgnbd_expected_purchases(params, t, x, tx, T),
                                   (r + x) * t / (alpha + T), rtol=1e-9)
    np.testing.assert_allclose(lk.bgnbd_probability_alive(params, x, tx, T), 1.0, atol=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.7, 2.3), (0.5, 0.5), (0.25, 0.75), (100.0, 1250.0),
                                      (8e8, 1e10)])
def test_beta_gauss_rule_reproduces_beta_moments(a, b):
    """The Golub-Welsch rule integrates p^k exactly (k <= 20; rtol 1e-13) even at a, b ~ 1e10
    and at a + b = 1 (where the recurrence has a removable 0/0)."""
    nodes, weights = _beta_gauss_rule(a, [b], 24)
    for k in (1, 2, 3, 7, 20):
        exact = np.prod([(a + i) / (a + b + i) for i in range(k)])
        np.testing.assert_allclose(weights[0] @ nodes[0] ** k, exact, rtol=1e-13)


def _simulated_no_churn(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    """RFM of customers who never leave (NBD): every one buys at their own steady rate."""
    rng = np.random.default_rng(seed)
    T = rng.integers(10, 60, n).astype(float)
    lam = rng.gamma(4.0, 1 / 8.0, n)
    x = rng.poisson(lam * T).astype(float)
    rec = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    frame = pd.DataFrame({"frequency": x, "recency": rec, "T": T},
                         index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def test_fit_on_nbd_data_reduces_to_the_nbd_and_persists_the_note(tmp_path):
    """BG/NBD on data simulated without dropout warns that it reduced to the NBD; the fitted
    predictions equal the NBD's (rtol 1e-6); the note survives save/load."""
    rfm = _simulated_no_churn()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bg = clvlab.BetaGeoFitter().fit(rfm)
    assert [w.category for w in caught] == [DegenerateFitWarning]
    assert "reduces to the NBD" in str(caught[0].message)
    r, alpha, a, b = bg.params_
    assert a / (a + b) < 1e-6
    nbd = (r + rfm["frequency"]) * 52 / (alpha + rfm["T"])
    np.testing.assert_allclose(bg.expected_purchases(rfm, 52), nbd, rtol=1e-6)
    bg.save(tmp_path / "bg.json")
    loaded = clvlab.load_model(tmp_path / "bg.json")
    assert loaded.degeneracy_ == bg.degeneracy_
    assert "Degenerate fit" in bg.summary_table().as_text()


def test_homogeneous_rates_are_named():
    """Customers who all buy at one rate (r -> inf) get a warning naming Poisson purchases."""
    rng = np.random.default_rng(5)
    T = rng.integers(20, 60, 2000).astype(float)
    x = rng.poisson(0.5 * T).astype(float)
    rfm = pd.DataFrame({"frequency": x, "recency": np.where(x > 0, T * 0.99, 0.0), "T": T})
    with pytest.warns(DegenerateFitWarning, match=r"Poisson process with one rate"):
        bg = clvlab.BetaGeoFitter().fit(rfm, time_unit="W")
    assert np.isfinite(bg.expected_purchases(rfm, 5200)).all()


def test_one_purchase_day_is_named():
    """A log of one day (T = 0 for all) warns that it covers one purchase day."""
    rfm = pd.DataFrame({"frequency": [0.0] * 50, "recency": [0.0] * 50, "T": [0.0] * 50})
    with pytest.warns(DegenerateFitWarning, match=r"one purchase day"):
        bg = clvlab.BetaGeoFitter().fit(rfm, time_unit="D")
    assert np.isfinite(bg.expected_purchases(rfm, 365)).all()


def test_gamma_gamma_without_spread_between_customers_is_named():
    """Every customer's purchases drawn from one spend distribution: Gamma-Gamma warns that
    it reduced to one expected spend for all; constant spend gives exactly that spend."""
    rng = np.random.default_rng(7)
    x = rng.integers(1, 12, 300).astype(float)
    m = np.array([rng.gamma(60.0, 25 / 60.0, int(k)).mean() for k in x])
    rfm = pd.DataFrame({"frequency": x, "monetary_value": m})
    with pytest.warns(DegenerateFitWarning, match=r"one expected spend per purchase"):
        gg = clvlab.GammaGammaFitter().fit(rfm)
    assert np.isfinite(gg.expected_spend(rfm)).all()
    const = rfm.assign(monetary_value=20.0)
    with pytest.warns(DegenerateFitWarning):
        gg = clvlab.GammaGammaFitter().fit(const)
    np.testing.assert_allclose(gg.expected_spend(const), 20.0, rtol=1e-6)


@pytest.mark.parametrize(("a", "b", "t"), [
    pytest.param(a, b, t, marks=() if (a, t) == (0.5, 52.0) else pytest.mark.slow)
    for a, b in [(0.5, 0.5), (0.3, 0.7), (0.3, 0.7 + 4e-4)] for t in (0.5, 52.0, 520.0)
])
def test_pole_of_the_closed_form_at_a_plus_b_plus_x_equal_one(a, b, t):
    """At a + b + x = 1 the closed form is 0 x inf (NaN before); the value there equals the
    mpmath integral over p to rtol 1e-5 (extrapolated across a 1e-3 band)."""
    got = _alive((0.24, 4.4, a, b), t, [0.0], 60.0)[0]
    ref = _alive_reference_integral(0.24, 4.4, a, b, t, 0.0, 60.0)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
