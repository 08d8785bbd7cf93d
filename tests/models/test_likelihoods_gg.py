"""Tests of the pure Gamma-Gamma functions in clvlab.models.likelihoods."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from clvlab.models.likelihoods import (
    gg_expected_spend,
    gg_loglik,
    gg_loglik_and_grad,
    gg_population_mean_spend,
    gg_total_loglik_and_grad,
)

# Hardie note 025 / lifetimes tests: MLE on the 946 repeat buyers of the CDNOW sample.
HARDIE = (6.2488, 3.7446, 15.4477)


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW 1/10 sample summary in weeks (lifetimes' copy, the test oracle's data)."""
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    return load_cdnow_summary_data_with_monetary_value()


def test_loglik_matches_lifetimes_on_cdnow(cdnow):
    """Summed log-likelihood equals lifetimes' objective at the same parameters (run here)."""
    from lifetimes import GammaGammaFitter as LifetimesGG

    rep = cdnow[cdnow["frequency"] > 0]
    x, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    ours = gg_loglik(HARDIE, x, m)
    theirs = LifetimesGG._negative_log_likelihood(
        np.log(HARDIE), x, m, np.ones_like(x), penalizer_coef=0.0
    )
    assert ours.shape == (946,)
    np.testing.assert_allclose(-ours.sum() / len(x), theirs, rtol=1e-12)


def test_loglik_is_the_mixture_density_from_first_principles():
    """exp(loglik) equals the integral over nu of Gamma(px, nu x) x Gamma(q, v) (quadrature)."""
    p, q, v = 2.5, 3.2, 12.0
    for x, m in [(1.0, 7.0), (4.0, 30.0), (12.0, 2.5)]:

        def integrand(nu, x=x, m=m):
            return stats.gamma.pdf(m, a=p * x, scale=1 / (nu * x)) * stats.gamma.pdf(
                nu, a=q, scale=1 / v
            )

        expected, _ = integrate.quad(integrand, 0, np.inf, limit=200)
        np.testing.assert_allclose(np.exp(gg_loglik((p, q, v), [x], [m]))[0], expected, rtol=1e-7)


def test_density_integrates_to_one_over_m():
    """For fixed x the likelihood is a density in m: it integrates to 1 (quadrature, rtol 1e-8)."""
    params = (6.2488, 3.7446, 15.4477)
    for x in (1.0, 3.0, 25.0):
        total, _ = integrate.quad(
            lambda m, x=x: np.exp(gg_loglik(params, [x], [m]))[0], 0, np.inf, limit=200
        )
        np.testing.assert_allclose(total, 1.0, rtol=1e-8)


def test_gradient_matches_central_differences(rng):
    """The analytic gradient equals central finite differences of the log-likelihood (rtol 1e-6)."""
    x = rng.integers(1, 50, size=40).astype(float)
    m = rng.gamma(2.0, 20.0, size=40)
    params = np.array([3.1, 2.4, 9.7])
    _, grad = gg_loglik_and_grad(params, x, m)
    for j in range(3):
        h = 1e-6 * params[j]
        up, dn = params.copy(), params.copy()
        up[j] += h
        dn[j] -= h
        numeric = (gg_loglik(up, x, m) - gg_loglik(dn, x, m)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-8)


def test_loglik_and_grad_agrees_with_loglik_and_scalar_with_vector():
    """gg_loglik_and_grad's value equals gg_loglik; one-customer calls equal the vector call."""
    x = np.array([1.0, 2.0, 7.0])
    m = np.array([10.0, 3.5, 80.0])
    ll, grad = gg_loglik_and_grad(HARDIE, x, m)
    np.testing.assert_allclose(ll, gg_loglik(HARDIE, x, m), rtol=0)
    for i in range(3):
        np.testing.assert_allclose(gg_loglik(HARDIE, x[i], m[i]), ll[i], rtol=1e-15)
    assert grad.shape == (3, 3)


@pytest.mark.parametrize("kind", ["small whole", "large whole", "fractional"])
def test_total_by_sufficient_statistics_equals_weighted_per_customer_sum(rng, kind):
    """gg_total_loglik_and_grad equals weights @ gg_loglik_and_grad (rtol 1e-12), every path."""
    n = 5_000
    if kind == "small whole":  # the per-frequency lookup table
        x = rng.integers(1, 60, n).astype(float)
    elif kind == "large whole":  # beyond the table's range: per-customer special functions
        x = rng.integers(1, 20_000, n).astype(float) * 3.0
    else:
        x = rng.uniform(0.5, 40.0, n)
    m = rng.gamma(2.0, 20.0, n) + 0.01
    w = rng.integers(0, 4, n).astype(float)
    params = (5.7, 3.7, 17.4)
    total, grad = gg_total_loglik_and_grad(params, x, m, w)
    ll, g = gg_loglik_and_grad(params, x, m)
    # at x ~ 60,000 both lose ~2e-11 to lnG(px+q) - lnG(px) (checked against mpmath)
    np.testing.assert_allclose(total, w @ ll, rtol=1e-10 if kind == "large whole" else 1e-12)
    np.testing.assert_allclose(grad, w @ g, rtol=1e-10, atol=1e-9 * np.abs(w @ np.abs(g)).max())


def test_expected_spend_first_customers_match_hardie_spreadsheet(cdnow):
    """Customers 1-3 get 24.65, 18.91, 35.17 (Hardie note 025 spreadsheet, to the cent)."""
    head = cdnow.head(3)
    spend = gg_expected_spend(
        (6.24880, 3.74459, 15.44775), head["frequency"], head["monetary_value"]
    )
    np.testing.assert_allclose(spend, [24.65, 18.91, 35.17], rtol=0, atol=0.01)


def test_expected_spend_equals_lifetimes_for_every_customer(cdnow):
    """Equals lifetimes' conditional_expected_average_profit at the same parameters (rtol 1e-12)."""
    import pandas as pd
    from lifetimes import GammaGammaFitter as LifetimesGG

    lg = LifetimesGG()
    lg.params_ = pd.Series(HARDIE, index=["p", "q", "v"])
    theirs = lg.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    ours = gg_expected_spend(HARDIE, cdnow["frequency"], cdnow["monetary_value"])
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-12)


def test_expected_spend_at_zero_frequency_is_population_mean():
    """With no repeat purchases the conditional expectation is p v / (q - 1), whatever m says."""
    pop = gg_population_mean_spend(HARDIE)
    np.testing.assert_allclose(pop, 6.2488 * 15.4477 / 2.7446, rtol=1e-14)
    np.testing.assert_allclose(
        gg_expected_spend(HARDIE, [0.0, 0.0], [0.0, 99.0]), [pop, pop], rtol=1e-14
    )


def test_population_mean_is_infinite_without_q_above_one():
    """The population mean spend is infinite when q <= 1 (why the fitter forces q > 1)."""
    assert gg_population_mean_spend((2.0, 1.0, 3.0)) == np.inf
    assert gg_population_mean_spend((2.0, 0.5, 3.0)) == np.inf


@pytest.mark.parametrize("x", [1.0, 300.0, 2_000.0, 20_000.0])
@pytest.mark.parametrize("m", [1e-9, 1.0, 1e9])
def test_loglik_and_spend_are_finite_at_extremes(x, m):
    """Log-likelihood, gradient, spend finite at frequency 1/300/2,000/20,000, tiny/huge spend."""
    ll, grad = gg_loglik_and_grad(HARDIE, [x], [m])
    assert np.isfinite(ll).all() and np.isfinite(grad).all()
    spend = gg_expected_spend(HARDIE, [x], [m])[0]
    assert np.isfinite(spend) and spend > 0


def test_expected_spend_tends_to_own_mean_for_heavy_buyers():
    """At frequency 20,000 the customer's own mean dominates the prior (within 0.1%)."""
    spend = gg_expected_spend(HARDIE, [20_000.0], [123.0])[0]
    np.testing.assert_allclose(spend, 123.0, rtol=1e-3)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(1e-3, 1e3),
    q_minus_1=st.floats(1e-9, 1e3),
    v=st.floats(1e-3, 1e6),
    x=st.integers(0, 100_000),
    m=st.floats(1e-8, 1e8),
)
def test_expected_spend_finite_positive_and_between_prior_and_own_mean(p, q_minus_1, v, x, m):
    """Any q > 1, valid input: spend finite, > 0, between the population and own mean."""
    params = (p, 1.0 + q_minus_1, v)
    spend = gg_expected_spend(params, [float(x)], [m])[0]
    assert np.isfinite(spend) and spend > 0
    if x > 0:
        pop = p * v / q_minus_1 if np.isfinite(p * v / q_minus_1) else np.inf
        lo, hi = min(pop, m), max(pop, m)
        assert lo * (1 - 1e-9) <= spend <= hi * (1 + 1e-9)
