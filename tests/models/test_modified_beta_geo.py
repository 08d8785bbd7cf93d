"""ModifiedBetaGeoFitter: fit against BTYDplus's CDNOW estimates and lifetimes, predictors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import clvlab
from clvlab.exceptions import InvalidValueError, NotFittedError
from clvlab.models.contract import supports
from clvlab.models.modified_beta_geo import ModifiedBetaGeoFitter, simulate_mbgnbd_rfm

#: MBG/NBD on the CDNOW 1/10 sample (2,357 customers, 39 weeks to 1997-09-30, weeks):
#: r 0.525, alpha 6.183, a 0.891, b 1.614 -- the estimates issue 11 attributes to BTYDplus
#: (mbgnbd.EstimateParameters on cdnow.sample()). BTYDplus's repository (tests, demos,
#: vignette) prints no MBG/NBD estimates for CDNOW, so the figures could not be checked
#: against a BTYDplus file; the same four values are the reference of pymc-marketing's
#: tests/clv/models/test_modified_beta_geo.py ("the CDNOW_sample research data"), and
#: lifetimes 0.11.3 reaches them on the same data (test below). Published to 3 decimals.
BTYDPLUS_PARAMS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
#: our log-likelihood at the maximum on clvlab's summary of the raw log (no published LL)
CDNOW_LOG_LIKELIHOOD = -9582.1357
NAMES = ["r", "alpha", "a", "b"]


@pytest.fixture(scope="module")
def cdnow_mbgnbd(cdnow_rfm: pd.DataFrame) -> ModifiedBetaGeoFitter:
    """ModifiedBetaGeoFitter fitted on the CDNOW sample (shared; tests must not modify it)."""
    return ModifiedBetaGeoFitter().fit(cdnow_rfm)


def _lifetimes_at(params):
    import lifetimes

    model = lifetimes.ModifiedBetaGeoFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=NAMES)
    return model


def _model_at(params, time_unit="W"):
    model = ModifiedBetaGeoFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=NAMES)
    model.time_unit_ = time_unit
    return model


# -- fit --------------------------------------------------------------------------------
def test_fit_reproduces_btydplus_cdnow_estimates(cdnow_mbgnbd):
    """On clvlab's CDNOW summary the estimates are BTYDplus's to their 3 decimals."""
    np.testing.assert_allclose(cdnow_mbgnbd.params_[NAMES].to_numpy(),
                               list(BTYDPLUS_PARAMS.values()), rtol=0, atol=5e-4)
    np.testing.assert_allclose(cdnow_mbgnbd.log_likelihood_, CDNOW_LOG_LIKELIHOOD, atol=1e-4)
    assert cdnow_mbgnbd.converged_
    assert cdnow_mbgnbd.n_customers_ == 2357
    assert cdnow_mbgnbd.time_unit_ == "W"


def test_fit_equals_lifetimes_fit_on_the_same_data(cdnow_rfm):
    """Estimates equal lifetimes' ModifiedBetaGeoFitter fit (rtol 1e-5), SEs its autograd
    Hessian's (rtol 1e-3), and the maximum is higher or equal."""
    import lifetimes

    d = cdnow_rfm
    ours = ModifiedBetaGeoFitter().fit(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.ModifiedBetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(), theirs.params_[NAMES].to_numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(ours.standard_errors_[NAMES].to_numpy(),
                               theirs.standard_errors_[NAMES].to_numpy(), rtol=1e-3)
    x, tx, T = (d[c].to_numpy() for c in ("frequency", "recency", "T"))
    from clvlab.models.likelihoods import modified_beta_geo as lk

    ll_theirs = lk.mbgnbd_log_likelihood(theirs.params_[NAMES].to_numpy(), x, tx, T).sum()
    assert ours.log_likelihood_ >= ll_theirs - 1e-9


def test_fit_on_lifetimes_summary_matches_lifetimes(cdnow_rfm_lifetimes):
    """On lifetimes' rounded CDNOW summary our fit equals lifetimes' (rtol 1e-5)."""
    import lifetimes

    d = cdnow_rfm_lifetimes
    ours = ModifiedBetaGeoFitter().fit(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.ModifiedBetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(), theirs.params_[NAMES].to_numpy(),
                               rtol=1e-5)


def test_penalizer_matches_lifetimes(cdnow_rfm_lifetimes):
    """penalizer_coef=0.1 gives lifetimes' penalised estimates (same run, rtol 1e-4)."""
    import lifetimes

    d = cdnow_rfm_lifetimes
    ours = ModifiedBetaGeoFitter(penalizer_coef=0.1).fit(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.ModifiedBetaGeoFitter(penalizer_coef=0.1).fit(
            d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(),
                               theirs.params_[NAMES].to_numpy(), rtol=1e-4)


def test_variance_matrix_and_summary(cdnow_mbgnbd):
    """variance_matrix_ is symmetric positive definite; summary bounds bracket the estimate."""
    v = cdnow_mbgnbd.variance_matrix_.to_numpy()
    np.testing.assert_allclose(v, v.T, rtol=0, atol=0)
    assert np.all(np.linalg.eigvalsh(v) > 0)
    s = cdnow_mbgnbd.summary
    assert list(s.index) == NAMES
    assert np.all((s["lower"] > 0) & (s["lower"] < s["estimate"]) & (s["estimate"] < s["upper"]))
    ll = cdnow_mbgnbd.log_likelihood_
    np.testing.assert_allclose(cdnow_mbgnbd.aic_, 8 - 2 * ll, rtol=1e-14)


def test_good_fit_raises_no_warning(cdnow_rfm):
    """A well-posed fit (CDNOW) emits no warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ModifiedBetaGeoFitter().fit(cdnow_rfm)


@pytest.mark.parametrize("params", [(0.5, 6.0, 0.9, 1.6), (2.0, 10.0, 3.0, 0.8),
                                    (5.0, 1.0, 1.5, 20.0)])
def test_no_false_convergence_alarm_on_simulated_data(params):
    """Well-posed simulated data (5,000 customers) fit without any warning, converged_."""
    T = np.random.default_rng(0).integers(7, 52 * 7, 5000) / 7
    rfm = simulate_mbgnbd_rfm(params, T, random_state=10, time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ModifiedBetaGeoFitter().fit(rfm)
    assert model.converged_


@pytest.mark.slow
def test_parameter_recovery_on_simulated_data():
    """On 50,000 customers simulated from known parameters every estimate is within 3 SE."""
    truth = np.array([0.5, 6.0, 0.9, 1.6])
    T = np.random.default_rng(7).integers(20 * 7, 52 * 7, 50_000) / 7
    rfm = simulate_mbgnbd_rfm(truth, T, random_state=11, time_unit="W")
    fit = ModifiedBetaGeoFitter().fit(rfm)
    z = (fit.params_.to_numpy() - truth) / fit.standard_errors_.to_numpy()
    assert fit.converged_
    assert np.all(np.abs(z) < 3), z


@pytest.mark.slow
def test_parameter_recovery_from_simulated_purchase_times():
    """Histories built from _draw_purchase_times (as simulate_transactions uses them) give
    back the parameters (100,000 customers, 3 SE)."""
    truth = np.array([0.8, 4.0, 1.2, 2.5])
    model = _model_at(truth)
    T = np.random.default_rng(3).uniform(10, 60, 100_000)
    counts, ages = model._draw_purchase_times(truth, T, np.random.default_rng(4))
    last = np.cumsum(counts) - 1
    rfm = pd.DataFrame({"frequency": counts.astype(float),
                        "recency": np.where(counts > 0, ages[np.maximum(last, 0)], 0.0),
                        "T": T})
    fit = ModifiedBetaGeoFitter().fit(rfm, time_unit="W")
    z = (fit.params_.to_numpy() - truth) / fit.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3), z


# -- predictions ------------------------------------------------------------------------
def test_predictions_equal_lifetimes_for_every_customer(cdnow_mbgnbd, cdnow_rfm):
    """Every predictor lifetimes has equals lifetimes' at the same parameters (rtol 1e-9)."""
    lt = _lifetimes_at(cdnow_mbgnbd.params_[NAMES].to_numpy())
    f, r, T = (cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    for t in (1.0, 39.0, 52.0):
        np.testing.assert_allclose(
            cdnow_mbgnbd.expected_purchases(cdnow_rfm, t).to_numpy(),
            lt.conditional_expected_number_of_purchases_up_to_time(t, f, r, T), rtol=1e-9)
    np.testing.assert_allclose(cdnow_mbgnbd.probability_alive(cdnow_rfm).to_numpy(),
                               lt.conditional_probability_alive(f, r, T), rtol=1e-12)
    t = np.array([1.0, 10.0, 78.0])
    np.testing.assert_allclose(cdnow_mbgnbd.expected_purchases_new_customer(t),
                               lt.expected_number_of_purchases_up_to_time(t), rtol=1e-9)
    for n in (0, 1, 3, 10, 50):
        np.testing.assert_allclose(cdnow_mbgnbd.probability_of_purchases(n=n, t=52.0),
                                   lt.probability_of_n_purchases_up_to_time(52.0, n), rtol=1e-9)


def test_one_time_buyers_are_not_certainly_alive(cdnow_mbgnbd, cdnow_rfm):
    """CDNOW's 1,411 one-time buyers: P(alive) 0.39-0.43 under MBG/NBD, 1.00 under BG/NBD."""
    p = cdnow_mbgnbd.probability_alive(cdnow_rfm)
    one_time = cdnow_rfm["frequency"] == 0
    assert one_time.sum() == 1411
    assert p[one_time].between(0.38, 0.43).all()
    bg = clvlab.BetaGeoFitter().fit(cdnow_rfm)
    assert (bg.probability_alive(cdnow_rfm)[one_time] == 1.0).all()
    # the longer the silence, the lower P(alive)
    order = cdnow_rfm.loc[one_time, "T"].sort_values().index
    assert np.all(np.diff(p[order].to_numpy()) <= 0)


def test_predictions_are_series_indexed_by_customer_id(cdnow_mbgnbd, cdnow_rfm):
    """Predictors return Series indexed like the input and never modify it."""
    before = cdnow_rfm.copy()
    e = cdnow_mbgnbd.expected_purchases(cdnow_rfm, 52)
    p = cdnow_mbgnbd.probability_alive(cdnow_rfm)
    c = cdnow_mbgnbd.conditional_probability_of_purchases(cdnow_rfm, n=2, t=52)
    for s, name in ((e, "expected_purchases"), (p, "probability_alive"),
                    (c, "probability_of_purchases")):
        assert isinstance(s, pd.Series) and s.name == name
        assert s.index.equals(cdnow_rfm.index)
    pd.testing.assert_frame_equal(cdnow_rfm, before)


def test_heavy_buyers_and_edges_stay_finite(cdnow_mbgnbd):
    """Predictions at frequency 0, 1, 300, 2,000, 20,000, recency = T, T = 0 are finite."""
    d = pd.DataFrame(
        {"frequency": [0, 0, 1, 300, 2000, 20000, 2000],
         "recency": [0, 0, 39.0, 39.0, 39.0, 39.0, 5.0],
         "T": [0, 39.0, 39.0, 39.0, 39.0, 39.0, 39.0]},
        index=pd.Index(list("abcdefg"), name="customer_id"),
    )
    e = cdnow_mbgnbd.expected_purchases(d, 52)
    p = cdnow_mbgnbd.probability_alive(d)
    c = cdnow_mbgnbd.conditional_probability_of_purchases(d, n=0, t=52)
    dert = cdnow_mbgnbd.expected_residual_purchases(d, discount_rate=0.002)
    for s in (e, p, c, dert):
        assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert np.all(p < 1) and np.all(c <= 1)
    r, alpha, a, b = cdnow_mbgnbd.params_[NAMES]
    np.testing.assert_allclose(p["a"], b / (a + b), rtol=1e-14)  # T = 0: survived the first coin?
    assert e["f"] > e["e"] > e["d"]  # more purchases, alive: more expected


def test_probability_of_purchases_shapes(cdnow_mbgnbd):
    """Scalar n and t give a float; arrays broadcast; values sum to 1 over n."""
    assert isinstance(cdnow_mbgnbd.probability_of_purchases(n=0, t=52), float)
    p = cdnow_mbgnbd.probability_of_purchases(n=np.arange(3000), t=52)
    assert p.shape == (3000,)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-9)


def test_new_customer_identities(cdnow_mbgnbd):
    """E[X(0)] = 0, E[X(t)] increases in t, and equals the mean of P(X(t) = n)."""
    t = np.linspace(0, 200, 101)
    e = cdnow_mbgnbd.expected_purchases_new_customer(t)
    assert e[0] == 0.0 and np.all(np.diff(e) > 0)
    n = np.arange(4000)
    mean = float(n @ cdnow_mbgnbd.probability_of_purchases(n=n, t=52.0))
    np.testing.assert_allclose(mean, cdnow_mbgnbd.expected_purchases_new_customer(52.0),
                               rtol=1e-9)


def test_conditional_pmf_mean_equals_expected_purchases(cdnow_mbgnbd, cdnow_rfm):
    """For every CDNOW customer sum_n n P(X(T,T+t]=n | history) = E[X(T,T+t] | history]."""
    x, tx, T = (cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    n = np.arange(200.0)[:, None]  # CDNOW: at most 29 repeat purchases in 39 weeks
    p = np.exp(cdnow_mbgnbd._log_pmf_conditional(cdnow_mbgnbd._params_array(), n, 26.0,
                                                 x, tx, T))
    np.testing.assert_allclose(p[2], cdnow_mbgnbd.conditional_probability_of_purchases(
        cdnow_rfm, n=2, t=26.0), rtol=1e-14)  # the public method is this hook
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose((n * p).sum(axis=0),
                               cdnow_mbgnbd.expected_purchases(cdnow_rfm, 26.0), rtol=1e-8)


def test_scalar_horizon_equals_per_customer_horizon(cdnow_mbgnbd, cdnow_rfm):
    """A per-customer horizon array gives each customer its own t (scalar == vector)."""
    t = np.where(np.arange(len(cdnow_rfm)) % 2 == 0, 10.0, 52.0)
    mixed = cdnow_mbgnbd.expected_purchases(cdnow_rfm, t)
    np.testing.assert_allclose(mixed.iloc[::2], cdnow_mbgnbd.expected_purchases(cdnow_rfm, 10)
                               .iloc[::2], rtol=1e-14)
    np.testing.assert_allclose(mixed.iloc[1::2], cdnow_mbgnbd.expected_purchases(cdnow_rfm, 52)
                               .iloc[1::2], rtol=1e-14)


def test_dert_equals_the_discounted_integral_and_long_finite_sums(cdnow_mbgnbd, cdnow_rfm):
    """DERT equals delta * int_0^inf e^(-delta t) E[X(t)|history] dt (scipy quad, rtol 1e-8)
    and lies between end- and start-of-week discounted sums over 4,000 weeks (1.01^-4000
    = 5e-18)."""
    d = 0.01  # per week
    delta = math.log1p(d)
    sample = cdnow_rfm.iloc[[0, 5, 17, 2000]]
    dert = cdnow_mbgnbd.expected_residual_purchases(sample, discount_rate=d)
    assert np.all(np.isfinite(dert)) and np.all(dert > 0)
    params = cdnow_mbgnbd.params_[NAMES].to_numpy()
    for (_, row), value in zip(sample.iterrows(), dert, strict=True):
        def integrand(t, row=row):
            return delta * math.exp(-delta * t) * float(cdnow_mbgnbd._expected(
                params, np.asarray(t), row["frequency"], row["recency"], row["T"]))
        ref = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=500)[0]
        np.testing.assert_allclose(value, ref, rtol=1e-8)
    k = np.arange(0, 4_001, dtype=float)
    cumulative = cdnow_mbgnbd._expected(params, k[:, None], sample["frequency"].to_numpy(),
                                        sample["recency"].to_numpy(), sample["T"].to_numpy())
    step = np.diff(cumulative, axis=0)
    end_of_week = (step * (1 + d) ** -k[1:, None]).sum(axis=0)
    start_of_week = (step * (1 + d) ** -k[:-1, None]).sum(axis=0)
    assert np.all(end_of_week < dert.to_numpy()) and np.all(dert.to_numpy() < start_of_week)


def test_long_finite_horizon_clv_approaches_dert(cdnow_mbgnbd, cdnow_rfm):
    """CLV over 5,000 weeks at 1% a week equals DERT x expected spend (rtol 1e-9)."""
    gg = clvlab.GammaGammaFitter().fit(cdnow_rfm)
    sample = cdnow_rfm.iloc[:50]
    long = clvlab.customer_lifetime_value(cdnow_mbgnbd, gg, sample, horizon=5000,
                                          discount_rate=0.01)
    dert = cdnow_mbgnbd.expected_residual_purchases(sample, discount_rate=0.01)
    np.testing.assert_allclose(long, dert * gg.expected_spend(sample), rtol=1e-9)


def test_cohort_tracking_and_p_alive_path(cdnow_mbgnbd):
    """Tracking sums E[X(age)] over cohorts; the P(alive) path starts at b/(a+b) and decays."""
    a = cdnow_mbgnbd.expected_cumulative_purchases([0.0, 0.0, 2.0], [0.0, 10.0, 40.0])
    e = cdnow_mbgnbd.expected_purchases_new_customer(np.array([10.0, 8.0, 40.0, 38.0]))
    np.testing.assert_allclose(a.to_numpy(), [0.0, 2 * e[0] + e[1], 2 * e[2] + e[3]],
                               rtol=1e-13)
    path = cdnow_mbgnbd.probability_alive_history([0.0], end=30.0, n_points=31)
    _, _, a_, b_ = cdnow_mbgnbd.params_[NAMES]
    np.testing.assert_allclose(path["probability_alive"].iloc[0], b_ / (a_ + b_), rtol=1e-14)
    assert np.all(np.diff(path["probability_alive"].to_numpy()) < 0)


# -- simulation -------------------------------------------------------------------------
def test_simulated_moments_match_model():
    """Simulated share of one-time buyers and mean frequency at age T equal P(X(T)=0) and
    E[X(T)] (4 SE); recency <= T and recency = 0 when frequency = 0."""
    params = np.array([0.5, 6.0, 0.9, 1.6])
    rfm = simulate_mbgnbd_rfm(params, np.full(100_000, 30.0), random_state=3)
    model = _model_at(params)
    freq = rfm["frequency"].to_numpy()
    se = freq.std() / np.sqrt(len(freq))
    assert abs(freq.mean() - model.expected_purchases_new_customer(30.0)) < 4 * se
    p0 = model.probability_of_purchases(n=0, t=30.0)
    assert abs((freq == 0).mean() - p0) < 4 * math.sqrt(p0 * (1 - p0) / len(freq))
    assert np.all(rfm["recency"] <= rfm["T"])
    assert np.all(rfm.loc[rfm["frequency"] == 0, "recency"] == 0)


def test_purchase_times_hook_is_the_same_story_as_simulate():
    """_draw_purchase_times: same counts as _simulate for one seed, ages sorted in (0, T],
    and the last age has _simulate's recency distribution (KS test)."""
    params = np.array([0.8, 4.0, 0.9, 1.6])
    model = _model_at(params)
    T = np.random.default_rng(1).uniform(0, 50, 40_000)
    counts, ages = model._draw_purchase_times(params, T, np.random.default_rng(9))
    freq, rec = model._simulate(params, T, np.random.default_rng(9))
    np.testing.assert_array_equal(counts, freq)
    owner = np.repeat(np.arange(T.size), counts)
    assert ages.shape == (counts.sum(),)
    assert np.all((ages > 0) & (ages <= T[owner]))
    same = owner[1:] == owner[:-1]
    assert np.all(np.diff(ages)[same] > 0)
    last = np.cumsum(counts) - 1
    has = counts > 0
    ratio_hook = ages[last[has]] / T[has]
    ratio_sim = rec[has] / T[has]
    assert stats.ks_2samp(ratio_hook, ratio_sim).pvalue > 1e-3
    assert model.capabilities().predictions >= {"sample"}


def test_sample_uses_fitted_parameters(cdnow_mbgnbd):
    """sample() draws an RFM frame in the model's time unit, reproducible by seed."""
    a = cdnow_mbgnbd.sample(np.full(100, 39.0), random_state=1)
    b = cdnow_mbgnbd.sample(np.full(100, 39.0), random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["time_unit"] == "W"


def test_extreme_dropout_probabilities_do_not_break_simulation():
    """Beta draws of p at 0 or 1 (a, b tiny) give finite, valid histories."""
    rfm = simulate_mbgnbd_rfm([1.0, 1.0, 1e-3, 1e-3], np.full(20_000, 20.0), random_state=0)
    assert np.all(np.isfinite(rfm)) and np.all(rfm["recency"] <= rfm["T"])
    assert (rfm["frequency"] == 0).mean() > 0.3  # half draw p ~ 1: gone at once


# -- contract, registry, persistence ----------------------------------------------------
def test_contract_description_and_registry(cdnow_mbgnbd):
    """Registered as 'mbgnbd', exported as clvlab.ModifiedBetaGeoFitter, full capabilities,
    description with story, glossary and Gamma/Beta heterogeneity."""
    from clvlab.models import registry

    assert clvlab.ModifiedBetaGeoFitter is ModifiedBetaGeoFitter
    assert registry.get_model_class("mbgnbd") is ModifiedBetaGeoFitter
    assert registry.model_key(cdnow_mbgnbd) == "mbgnbd"
    assert "mbgnbd" in registry.registered("purchase")
    for prediction in ("expected_purchases", "probability_alive", "probability_of_purchases",
                       "conditional_probability_of_purchases", "expected_purchases_new_customer",
                       "expected_cumulative_purchases", "probability_alive_history",
                       "expected_residual_purchases", "sample"):
        assert supports(cdnow_mbgnbd, prediction), prediction
    desc = cdnow_mbgnbd.describe()
    assert desc.key == "mbgnbd" and desc.name == "MBG/NBD"
    assert "first purchase" in desc.story and set(desc.parameters) == set(NAMES)
    rate, dropout = desc.heterogeneity
    r, alpha, a, b = cdnow_mbgnbd.params_[NAMES]
    np.testing.assert_allclose(rate.distribution.mean(), r / alpha, rtol=1e-14)
    np.testing.assert_allclose(dropout.distribution.mean(), a / (a + b), rtol=1e-14)
    assert dropout.support == "unit" and "week" in rate.unit
    assert any("Batislam" in ref for ref in desc.references)


def test_json_round_trip_identical_predictions(cdnow_mbgnbd, cdnow_rfm, tmp_path):
    """save / load_model give the same class, parameters and predictions bit for bit."""
    path = tmp_path / "mbgnbd.json"
    cdnow_mbgnbd.save(path)
    loaded = clvlab.load_model(path)
    assert type(loaded) is ModifiedBetaGeoFitter
    pd.testing.assert_series_equal(loaded.params_, cdnow_mbgnbd.params_)
    pd.testing.assert_series_equal(loaded.expected_purchases(cdnow_rfm, 52),
                                   cdnow_mbgnbd.expected_purchases(cdnow_rfm, 52))
    pd.testing.assert_series_equal(loaded.probability_alive(cdnow_rfm),
                                   cdnow_mbgnbd.probability_alive(cdnow_rfm))


def test_summary_table_names_the_model(cdnow_mbgnbd):
    """summary_table() names MBG/NBD and shows the log-likelihood."""
    text = cdnow_mbgnbd.summary_table().as_text()
    assert "MBG/NBD (ModifiedBetaGeoFitter)" in text and "-9582.1357" in text


# -- errors -----------------------------------------------------------------------------
def test_not_fitted_predictors_raise():
    """Predictors before fit raise NotFittedError naming the fix."""
    with pytest.raises(NotFittedError, match="not fitted"):
        ModifiedBetaGeoFitter().probability_alive({"frequency": [0], "recency": [0], "T": [1]})
    with pytest.raises(NotFittedError):
        ModifiedBetaGeoFitter().expected_purchases_new_customer(1.0)


def test_invalid_rows_name_column_and_customers(cdnow_mbgnbd):
    """recency > T is rejected with the column, the rule and the customer ids."""
    bad = pd.DataFrame({"frequency": [1.0, 2.0], "recency": [5.0, 9.0], "T": [6.0, 8.0]},
                       index=pd.Index(["c1", "c2"], name="customer_id"))
    with pytest.raises(InvalidValueError, match=r"recency.*<= T.*'c2'"):
        cdnow_mbgnbd.expected_purchases(bad, 10)
    with pytest.raises(InvalidValueError, match="recency"):
        ModifiedBetaGeoFitter().fit(bad, time_unit="W")


def test_bad_horizons_and_counts_rejected(cdnow_mbgnbd, cdnow_rfm):
    """t must be finite and >= 0, n whole, and the DERT discount rate > 0."""
    with pytest.raises(ValueError, match="t must be finite and >= 0"):
        cdnow_mbgnbd.expected_purchases(cdnow_rfm, -1)
    with pytest.raises(ValueError, match="whole number"):
        cdnow_mbgnbd.probability_of_purchases(n=1.5, t=10)
    with pytest.raises(ValueError, match="discount_rate must be > 0"):
        cdnow_mbgnbd.expected_residual_purchases(cdnow_rfm, discount_rate=0.0)


def test_degeneracy_limits_are_recognised_from_the_parameters():
    """BG/NBD's limits, named for MBG/NBD: a/(a+b) < 1e-6 is no churn, a Beta(a, b)
    coefficient of variation < 0.03 one dropout probability, 1/sqrt(r) < 0.03 one rate."""
    model = ModifiedBetaGeoFitter()
    model.time_unit_ = "W"
    data = (np.array([1.0, 3.0]), np.array([5.0, 20.0]), np.array([30.0, 40.0]))
    w = np.ones(2)
    assert model._degeneracy(np.array([0.5, 10.0, 0.8, 2.5]), data, w) is None
    no_churn = model._degeneracy(np.array([0.5, 10.0, 1e-7, 1.0]), data, w)
    assert "MBG/NBD reduces to the NBD" in no_churn
    common = model._degeneracy(np.array([0.5, 10.0, 3e3, 7e3]), data, w)
    assert "one dropout probability p = 0.3 at the first purchase" in common
    poisson = model._degeneracy(np.array([2e3, 4e3, 0.8, 2.5]), data, w)
    assert "Poisson process with one rate" in poisson and "0.5 per week" in poisson
    none = model._degeneracy(np.array([0.5, 10.0, 0.8, 2.5]), (np.zeros(2), np.zeros(2),
                                                                 data[2]), w)
    assert "none of the 2 customers made a repeat purchase" in none


def test_fit_on_nbd_data_warns_once_and_reduces_to_the_nbd():
    """Customers who never leave: MBG/NBD warns once that it reduced to the NBD and its
    expected purchases are the NBD's, (r + x) t / (alpha + T), within 1e-5."""
    from clvlab.exceptions import DegenerateFitWarning

    rng = np.random.default_rng(3)
    n = 1000
    T = rng.integers(10, 60, n).astype(float)
    x = rng.poisson(rng.gamma(4.0, 1 / 8.0, n) * T).astype(float)
    rfm = pd.DataFrame({"frequency": x, "recency": np.where(
        x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0), "T": T})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ModifiedBetaGeoFitter().fit(rfm, time_unit="W")
    assert [w.category for w in caught] == [DegenerateFitWarning]
    assert "MBG/NBD reduces to the NBD" in model.degeneracy_
    r, alpha = model.params_["r"], model.params_["alpha"]
    np.testing.assert_allclose(model.expected_purchases(rfm, 52),
                               (r + x) * 52 / (alpha + T), rtol=1e-5)
    assert np.isfinite(model.probability_alive(rfm)).all()
