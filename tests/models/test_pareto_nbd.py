"""ParetoNBDFitter: fit against FHL (2005) and lifetimes, predictors, simulation, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import DegenerateFitWarning, InvalidValueError, NotFittedError
from clvlab.models.contract import supports
from clvlab.models.likelihoods import pareto_nbd as lk
from clvlab.models.pareto_nbd import ParetoNBDFitter, simulate_pnbd_rfm

#: Fader, Hardie & Lee (2005), "RFM and CLV: Using iso-value curves for customer base
#: analysis", Journal of Marketing Research 42(4), Table 2: Pareto/NBD on the 2,357-customer
#: CDNOW sample, weeks (published to 3-5 significant digits)
FHL_PARAMS = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
FHL_LOG_LIKELIHOOD = -9595.0
NAMES = ["r", "alpha", "s", "beta"]


@pytest.fixture(scope="module")
def cdnow_pnbd(cdnow_rfm: pd.DataFrame) -> ParetoNBDFitter:
    """ParetoNBDFitter fitted on the CDNOW sample (shared; tests must not modify it)."""
    return ParetoNBDFitter().fit(cdnow_rfm)


def _lifetimes_at(params):
    import lifetimes

    model = lifetimes.ParetoNBDFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=NAMES)
    return model


def _arrays(frame):
    return tuple(frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))


# -- fit --------------------------------------------------------------------------------
def test_fit_reproduces_fhl_table_2(cdnow_pnbd):
    """CDNOW sample: FHL (2005) Table 2's estimates (rtol 1e-3, their rounding) and LL."""
    np.testing.assert_allclose(cdnow_pnbd.params_[NAMES].to_numpy(),
                               list(FHL_PARAMS.values()), rtol=1e-3)
    # published as -9,595.0; the exact optimum is -9,594.976
    np.testing.assert_allclose(cdnow_pnbd.log_likelihood_, FHL_LOG_LIKELIHOOD, atol=0.05)
    assert cdnow_pnbd.converged_
    assert cdnow_pnbd.n_customers_ == 2357 and cdnow_pnbd.time_unit_ == "W"


def test_fit_on_lifetimes_summary_matches_fhl(cdnow_rfm_lifetimes):
    """lifetimes' rounded copy of the summary gives the same estimates (rtol 1e-3)."""
    model = ParetoNBDFitter().fit(cdnow_rfm_lifetimes)
    np.testing.assert_allclose(model.params_[NAMES].to_numpy(), list(FHL_PARAMS.values()),
                               rtol=1e-3)
    np.testing.assert_allclose(model.log_likelihood_, FHL_LOG_LIKELIHOOD, atol=0.05)


def test_estimate_beats_lifetimes_fit_on_its_own_objective(cdnow_rfm_lifetimes):
    """lifetimes' Nelder-Mead estimate is within 1e-2 of ours and has a lower likelihood."""
    import lifetimes

    x, tx, T = _arrays(cdnow_rfm_lifetimes)
    ours = ParetoNBDFitter().fit(cdnow_rfm_lifetimes)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = lifetimes.ParetoNBDFitter().fit(x, tx, T)
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(),
                               theirs.params_[NAMES].to_numpy(), rtol=1e-2)
    ll_theirs = lk.pnbd_log_likelihood(theirs.params_[NAMES].to_numpy(), x, tx, T).sum()
    assert ours.log_likelihood_ >= ll_theirs - 1e-9


def test_standard_errors_equal_inverse_observed_information(cdnow_pnbd, cdnow_rfm):
    """SEs = sqrt(diag(H^-1)), H the Hessian of -LL by Richardson-extrapolated differences.

    The reference Hessian is computed here from log-likelihood values only (second
    differences in the natural parameters, steps h and h/2 combined), independently of
    the fitter's finite differences of the analytic gradient; agreement to 1e-5.
    """
    x, tx, T = _arrays(cdnow_rfm)
    p0 = cdnow_pnbd.params_[NAMES].to_numpy()
    rows = lk.pnbd_rows(x, tx, T)

    def nll(p):
        return -lk.pnbd_log_likelihood(p, x, tx, T, rows=rows).sum()

    def hessian(h):
        k = len(p0)
        out = np.empty((k, k))
        step = h * p0
        for i in range(k):
            for j in range(k):
                e_i, e_j = np.eye(k)[i] * step[i], np.eye(k)[j] * step[j]
                out[i, j] = (nll(p0 + e_i + e_j) - nll(p0 + e_i - e_j)
                             - nll(p0 - e_i + e_j) + nll(p0 - e_i - e_j)) / (4 * step[i] * step[j])
        return out

    h1, h2 = hessian(2e-3), hessian(1e-3)
    hess = (4 * h2 - h1) / 3  # Richardson: O(h^4)
    se_ref = np.sqrt(np.diag(np.linalg.inv(hess)))
    np.testing.assert_allclose(cdnow_pnbd.standard_errors_[NAMES].to_numpy(), se_ref, rtol=1e-5)
    cov = cdnow_pnbd.variance_matrix_.to_numpy()
    np.testing.assert_allclose(cov, np.linalg.inv(hess), rtol=1e-4, atol=1e-8)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_summary_has_estimates_and_positive_bounds(cdnow_pnbd):
    """summary: estimate, se, lower < estimate < upper, all bounds positive."""
    s = cdnow_pnbd.summary
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    assert list(s.index) == NAMES
    assert np.all(s["lower"] > 0)
    assert np.all((s["lower"] < s["estimate"]) & (s["estimate"] < s["upper"]))
    assert "Pareto/NBD (ParetoNBDFitter)" in cdnow_pnbd.summary_table().as_text()


def test_aic_bic(cdnow_pnbd):
    """AIC = 8 - 2 LL and BIC = 4 ln(2357) - 2 LL."""
    ll = cdnow_pnbd.log_likelihood_
    np.testing.assert_allclose(cdnow_pnbd.aic_, 8 - 2 * ll, rtol=1e-14)
    np.testing.assert_allclose(cdnow_pnbd.bic_, 4 * np.log(2357) - 2 * ll, rtol=1e-14)


def test_good_fit_raises_no_warning_and_keeps_no_data(cdnow_rfm):
    """CDNOW fits silently, the input is unchanged and the model holds no training data."""
    before = cdnow_rfm.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ParetoNBDFitter().fit(cdnow_rfm)
    pd.testing.assert_frame_equal(cdnow_rfm, before)
    assert getattr(model, "_rows_cache", None) is None


def test_duplicated_rows_equal_weights(cdnow_rfm):
    """Rows repeated twice fit exactly like weight 2 (compression), LL doubles."""
    cols = ["frequency", "recency", "T"]
    doubled = pd.concat([cdnow_rfm[cols], cdnow_rfm[cols]], ignore_index=True)
    doubled.attrs["time_unit"] = "W"
    a = ParetoNBDFitter().fit(doubled)
    b = ParetoNBDFitter().fit(cdnow_rfm, weights=np.full(len(cdnow_rfm), 2.0))
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-8)
    np.testing.assert_allclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-10)


def test_penalizer_is_lifetimes_objective_per_customer(cdnow_rfm_lifetimes):
    """Our penalised objective x N is lifetimes' ParetoNBDFitter objective (1e-12)."""
    from lifetimes import ParetoNBDFitter as LifetimesPNBD

    x, tx, T = _arrays(cdnow_rfm_lifetimes)
    n = len(x)
    model = ParetoNBDFitter(penalizer_coef=0.1 / n).fit(cdnow_rfm_lifetimes)
    scale = 1.0 / T.max()
    p = model.params_[NAMES].to_numpy()
    theirs = LifetimesPNBD._negative_log_likelihood(
        p * [1, scale, 1, scale], x.astype(int), tx * scale, T * scale, np.ones(n), 0.1)
    ours = (-lk.pnbd_log_likelihood(p, x, tx, T).sum()
            + 0.1 * float(np.sum((p * [1, scale, 1, scale]) ** 2)))
    # lifetimes rescales time (alpha, beta and the data by 1 / max T): its LL differs by
    # the Jacobian x ln(scale) per purchase
    jac = np.sum(x) * math.log(scale)
    np.testing.assert_allclose(theirs, ours + jac, rtol=1e-12)
    unpenalised = ParetoNBDFitter().fit(cdnow_rfm_lifetimes)
    assert (p**2).sum() < (unpenalised.params_.to_numpy() ** 2).sum()


def test_heavy_buyer_data_fit_and_stay_finite():
    """Data with 2,000- and 20,000-purchase customers fit, converge and predict finitely."""
    T = np.random.default_rng(4).integers(20 * 7, 39 * 7, 3000) / 7
    rfm = simulate_pnbd_rfm([0.55, 10.6, 0.61, 11.7], T, random_state=5, time_unit="W")
    extra = pd.DataFrame({"frequency": [2000.0, 20000.0, 300.0], "recency": [38.0, 38.9, 39.0],
                          "T": [39.0, 39.0, 39.0]})
    data = pd.concat([rfm, extra], ignore_index=True)
    data.attrs["time_unit"] = "W"
    model = ParetoNBDFitter().fit(data)
    assert model.converged_
    for out in (model.probability_alive(data), model.expected_purchases(data, t=52),
                model.conditional_probability_of_purchases(data, n=0, t=10),
                model.expected_residual_purchases(data, discount_rate=0.002)):
        assert np.all(np.isfinite(out.to_numpy()))


@pytest.mark.slow
def test_parameter_recovery_on_simulated_data():
    """50,000 customers simulated from known parameters: every estimate within 3 SE."""
    truth = np.array([0.55, 10.6, 0.61, 11.7])
    T = np.random.default_rng(7).integers(20 * 7, 52 * 7, 50_000) / 7
    rfm = simulate_pnbd_rfm(truth, T, random_state=11, time_unit="W")
    fit = ParetoNBDFitter().fit(rfm)
    z = (fit.params_.to_numpy() - truth) / fit.standard_errors_.to_numpy()
    assert fit.converged_
    assert np.all(np.abs(z) < 3), z


@pytest.mark.slow
def test_simulate_transactions_rfm_fit_recovers_parameters():
    """simulate_transactions(model='pnbd') -> rfm_summary -> fit: estimates within 3 SE."""
    truth = {"r": 0.8, "alpha": 8.0, "s": 0.7, "beta": 15.0}
    tx = clvlab.simulate_transactions(40_000, model="pnbd", params=truth, random_state=12)
    rfm = clvlab.rfm_summary(tx, time_unit="W")
    fit = ParetoNBDFitter().fit(rfm)
    z = (fit.params_[NAMES].to_numpy() - list(truth.values())) / fit.standard_errors_.to_numpy()
    assert fit.converged_
    assert np.all(np.abs(z) < 3), z


def test_simulated_moments_match_model():
    """Simulated mean frequency and share of zeros at age T match E[X(T)] and P(X(T)=0)."""
    params = np.array([0.55, 10.6, 0.61, 11.7])
    rfm = simulate_pnbd_rfm(params, np.full(100_000, 39.0), random_state=3)
    x = rfm["frequency"].to_numpy()
    mean = lk.pnbd_expected_purchases_new_customer(params, 39.0)
    assert abs(x.mean() - mean) < 4 * x.std() / math.sqrt(x.size)
    p0 = math.exp(lk.pnbd_log_probability_of_purchases(params, 0, 39.0))
    assert abs((x == 0).mean() - p0) < 4 * math.sqrt(p0 * (1 - p0) / x.size)
    assert np.all(rfm["recency"] <= rfm["T"])
    assert np.all(rfm.loc[rfm["frequency"] == 0, "recency"] == 0)


def test_purchase_times_hook_is_the_same_story_as_sample():
    """_draw_purchase_times: sorted ages in (0, T], counts with the model's mean and zeros."""
    model = ParetoNBDFitter()
    params = np.array([0.55, 10.6, 0.61, 11.7])
    T = np.full(100_000, 39.0)
    counts, ages = model._draw_purchase_times(params, T, np.random.default_rng(8))
    assert counts.sum() == ages.size
    assert np.all((ages > 0) & (ages <= 39.0))
    starts = np.cumsum(counts) - counts
    within = np.diff(ages)
    boundary = np.zeros(ages.size, dtype=bool)
    boundary[starts[counts > 0]] = True
    assert np.all(within[~boundary[1:]] >= 0)  # sorted within each customer
    mean = lk.pnbd_expected_purchases_new_customer(params, 39.0)
    assert abs(counts.mean() - mean) < 4 * counts.std() / math.sqrt(counts.size)


# -- predictions -------------------------------------------------------------------------
def test_predictions_equal_lifetimes_for_every_customer(cdnow_pnbd, cdnow_rfm):
    """Per customer at the same parameters, wherever lifetimes is finite (rtol 1e-10).

    E[X(t) | history], P(alive), E[X(t)] of a new customer and the conditional pmf
    (lifetimes' has no unconditional pmf). lifetimes' conditional pmf subtracts terms of
    order 1, so it is exact only to about 1e-16 absolute: rtol 1e-10 where it exceeds
    1e-4, atol 1e-12 everywhere.
    """
    lt = _lifetimes_at(cdnow_pnbd.params_[NAMES])
    x, tx, T = _arrays(cdnow_rfm)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for t in (1.0, 10.0, 52.0):
            theirs = lt.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
            ours = cdnow_pnbd.expected_purchases(cdnow_rfm, t=t).to_numpy()
            finite = np.isfinite(theirs)
            assert finite.all()
            np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-10)
        theirs = lt.conditional_probability_alive(x, tx, T)
        np.testing.assert_allclose(cdnow_pnbd.probability_alive(cdnow_rfm), theirs, rtol=1e-10)
        t = np.array([1.0, 10.0, 52.0, 200.0])
        np.testing.assert_allclose(cdnow_pnbd.expected_purchases_new_customer(t),
                                   lt.expected_number_of_purchases_up_to_time(t), rtol=1e-12)
        for n in (0, 1, 2, 5):
            for t in (1.0, 10.0, 39.0):
                theirs = lt.conditional_probability_of_n_purchases_up_to_time(n, t, x, tx, T)
                ours = cdnow_pnbd.conditional_probability_of_purchases(cdnow_rfm, n=n,
                                                                       t=t).to_numpy()
                finite = np.isfinite(theirs)
                big = finite & (theirs > 1e-4)
                np.testing.assert_allclose(ours[big], theirs[big], rtol=1e-10)
                np.testing.assert_allclose(ours[finite], theirs[finite], rtol=0, atol=1e-12)


def test_loglik_equals_lifetimes_per_customer(cdnow_pnbd, cdnow_rfm):
    """Per-customer LL equals lifetimes' at the estimate (atol 1e-10)."""
    from lifetimes import ParetoNBDFitter as LifetimesPNBD

    x, tx, T = _arrays(cdnow_rfm)
    p = cdnow_pnbd.params_[NAMES].to_numpy()
    np.testing.assert_allclose(lk.pnbd_log_likelihood(p, x, tx, T),
                               LifetimesPNBD._conditional_log_likelihood(p, x, tx, T),
                               rtol=0, atol=1e-10)


def test_one_time_buyers_are_not_certainly_alive(cdnow_pnbd, cdnow_rfm):
    """Unlike BG/NBD, customers without a repeat purchase get P(alive) < 1 (falling in T)."""
    pa = cdnow_pnbd.probability_alive(cdnow_rfm)
    zero = cdnow_rfm["frequency"] == 0
    assert (pa[zero] < 1).all() and (pa[zero] > 0).all()
    young = cdnow_pnbd.probability_alive(
        pd.DataFrame({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [5.0, 30.0]}))
    assert young.iloc[0] > young.iloc[1]


def test_predictions_are_series_indexed_by_customer_id(cdnow_pnbd, cdnow_rfm):
    """Every per-customer predictor returns a named Series indexed like the input."""
    for out, name in [
        (cdnow_pnbd.expected_purchases(cdnow_rfm, t=10), "expected_purchases"),
        (cdnow_pnbd.probability_alive(cdnow_rfm), "probability_alive"),
        (cdnow_pnbd.conditional_probability_of_purchases(cdnow_rfm, n=1, t=10),
         "probability_of_purchases"),
        (cdnow_pnbd.expected_residual_purchases(cdnow_rfm, discount_rate=0.002),
         "expected_residual_purchases"),
    ]:
        assert isinstance(out, pd.Series) and out.name == name
        assert out.index.equals(cdnow_rfm.index)


def test_unconditional_pmf_sums_to_one_and_matches_expectation(cdnow_pnbd):
    """probability_of_purchases(n=, t=) sums to 1 over n and has mean E[X(t)]."""
    n = np.arange(0, 2000)
    p = cdnow_pnbd.probability_of_purchases(n=n, t=39.0)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose((n * p).sum(), cdnow_pnbd.expected_purchases_new_customer(39.0),
                               rtol=1e-10)
    assert isinstance(cdnow_pnbd.probability_of_purchases(n=2, t=10.0), float)


def test_conditional_pmf_mean_equals_expected_purchases(cdnow_pnbd, cdnow_rfm):
    """sum_n n P(X(T, T+t] = n | history) = E[X(T, T+t] | history] for every customer."""
    sub = cdnow_rfm.iloc[::50]
    mean = sum(n * cdnow_pnbd.conditional_probability_of_purchases(sub, n=n, t=20.0)
               for n in range(0, 400))
    np.testing.assert_allclose(mean, cdnow_pnbd.expected_purchases(sub, t=20.0), rtol=1e-9)


def test_dert_closed_form_equals_generic_quadrature(cdnow_pnbd, cdnow_rfm):
    """Closed-form DERT (FHL 2005b) = PurchaseFitter's numeric DERT (rtol 1e-10).

    At 10% a week the generic quadrature's panels resolve the curvature of E[X(t)];
    ``test_likelihoods_pnbd`` also checks realistic rates against adaptive quadrature.
    """
    x, tx, T = _arrays(cdnow_rfm)
    p = cdnow_pnbd.params_.to_numpy()
    delta = math.log1p(0.1)
    closed = cdnow_pnbd.expected_residual_purchases(cdnow_rfm, discount_rate=0.1).to_numpy()
    numeric = cdnow_pnbd._dert_numeric(p, delta, x, tx, T)
    np.testing.assert_allclose(closed, numeric, rtol=1e-10)


@pytest.mark.xfail(
    not hasattr(clvlab.clv, "residual_schedule"), strict=True,
    reason="PurchaseFitter's uniform quadrature panels miss the curvature of E[X(t)] at "
           "small rates (1.6e-6 off at 0.19% a week); the graded schedule fixes it",
)
@pytest.mark.parametrize("rate", [0.0001, 0.0019, 0.01])
def test_dert_closed_form_equals_generic_quadrature_at_everyday_rates(cdnow_pnbd, cdnow_rfm,
                                                                      rate):
    """Closed-form DERT = the generic quadrature at 0.01% to 1% a week (rtol 1e-12)."""
    x, tx, T = _arrays(cdnow_rfm)
    closed = cdnow_pnbd.expected_residual_purchases(cdnow_rfm, discount_rate=rate).to_numpy()
    numeric = cdnow_pnbd._dert_numeric(cdnow_pnbd.params_.to_numpy(), math.log1p(rate),
                                       x, tx, T)
    np.testing.assert_allclose(closed, numeric, rtol=1e-12)


def test_dert_exceeds_long_finite_horizon(cdnow_pnbd, cdnow_rfm):
    """DERT is at least the discounted purchases of the next 20 years (and close to them)."""
    from clvlab.clv import discount_schedule

    d = 0.002
    dert = cdnow_pnbd.expected_residual_purchases(cdnow_rfm, discount_rate=d)
    times, weights = discount_schedule(1040.0, d, "continuous")
    finite = sum(w * cdnow_pnbd.expected_purchases(cdnow_rfm, t=t) for t, w in
                 zip(times, weights, strict=True))
    assert np.all(dert >= finite * (1 - 1e-9))
    assert np.all(dert <= finite * 1.2)


def test_capabilities_and_description(cdnow_pnbd):
    """All purchase predictions are offered; the description names the two gamma mixtures."""
    for prediction in ("expected_purchases", "probability_alive", "probability_of_purchases",
                       "conditional_probability_of_purchases", "expected_purchases_new_customer",
                       "expected_cumulative_purchases", "probability_alive_history",
                       "expected_residual_purchases", "sample"):
        assert supports(cdnow_pnbd, prediction)
    desc = cdnow_pnbd.describe()
    assert desc.key == "pnbd" and desc.name == "Pareto/NBD"
    assert set(desc.parameters) == set(NAMES)
    rate, dropout = desc.heterogeneity
    np.testing.assert_allclose(rate.distribution.mean(), 0.553 / 10.578, rtol=1e-3)
    np.testing.assert_allclose(dropout.distribution.mean(), 0.606 / 11.669, rtol=1e-3)
    assert "Gamma(s, β)" in dropout.description
    assert clvlab.ParetoNBDFitter is ParetoNBDFitter
    assert clvlab.models.registry.get_model_class("pnbd") is ParetoNBDFitter


def test_json_round_trip_identical_predictions(cdnow_pnbd, cdnow_rfm, tmp_path):
    """save/load_model gives the same parameters and bit-identical predictions."""
    path = tmp_path / "pnbd.json"
    cdnow_pnbd.save(path)
    loaded = clvlab.load_model(path)
    assert isinstance(loaded, ParetoNBDFitter)
    pd.testing.assert_series_equal(loaded.params_, cdnow_pnbd.params_)
    pd.testing.assert_series_equal(loaded.expected_purchases(cdnow_rfm, t=52),
                                   cdnow_pnbd.expected_purchases(cdnow_rfm, t=52))


def test_cohort_tracking_and_p_alive_path(cdnow_pnbd):
    """Cumulative tracking is a sum of E[X(t)]; the P(alive) path jumps to 1 at purchases."""
    track = cdnow_pnbd.expected_cumulative_purchases([0.0, 0.0, 5.0], [10.0, 20.0])
    e = cdnow_pnbd.expected_purchases_new_customer(np.array([10.0, 20.0, 5.0, 15.0]))
    np.testing.assert_allclose(track.to_numpy(), [2 * e[0] + e[2], 2 * e[1] + e[3]], rtol=1e-13)
    path = cdnow_pnbd.probability_alive_history([0.0, 3.0, 10.0], end=30.0)
    at = path.loc[[3.0, 10.0], "probability_alive"]
    np.testing.assert_array_equal(at.to_numpy(), [1.0, 1.0])
    assert path["probability_alive"].iloc[-1] < 1.0


def test_sample_uses_fitted_parameters(cdnow_pnbd):
    """sample() draws an RFM frame in the model's time unit, reproducible by seed."""
    a = cdnow_pnbd.sample(np.full(200, 39.0), random_state=1)
    b = cdnow_pnbd.sample(np.full(200, 39.0), random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["time_unit"] == "W"
    assert np.all(a["recency"] <= a["T"])


# -- errors -----------------------------------------------------------------------------
def test_not_fitted_predictors_raise():
    """Predictors before fit raise NotFittedError naming the class."""
    with pytest.raises(NotFittedError, match="ParetoNBDFitter is not fitted"):
        ParetoNBDFitter().probability_alive(pd.DataFrame({"frequency": [1.0], "recency": [1.0],
                                                          "T": [2.0]}))


def test_invalid_rows_name_column_and_customers(cdnow_pnbd):
    """recency > T is rejected with the column, the rule and the customer id."""
    bad = pd.DataFrame({"frequency": [1.0, 2.0], "recency": [5.0, 9.0], "T": [6.0, 8.0]},
                       index=pd.Index(["a", "b"], name="customer_id"))
    with pytest.raises(InvalidValueError, match="recency") as err:
        cdnow_pnbd.expected_purchases(bad, t=1.0)
    assert "b" in str(err.value)


def test_bad_horizons_and_counts_rejected(cdnow_pnbd, cdnow_rfm):
    """Negative horizons, fractional counts and non-positive discount rates are errors."""
    with pytest.raises(ValueError, match="t must be finite and >= 0"):
        cdnow_pnbd.expected_purchases(cdnow_rfm, t=-1.0)
    with pytest.raises(ValueError, match="whole number"):
        cdnow_pnbd.probability_of_purchases(n=1.5, t=1.0)
    with pytest.raises(ValueError, match="discount_rate must be > 0"):
        cdnow_pnbd.expected_residual_purchases(cdnow_rfm, discount_rate=0.0)


# -- degenerate data: the fit names the limit it reached (DegenerateFitWarning) ----------


def _nbd_log(n: int, seed: int) -> pd.DataFrame:
    """RFM of customers who never leave: Gamma(2, 4)-Poisson purchases over 20-80 weeks,
    ages on a daily grid (as from dated transactions)."""
    rng = np.random.default_rng(seed)
    T = rng.integers(20 * 7, 80 * 7, n) / 7.0
    x = rng.poisson(rng.gamma(2.0, 1 / 4.0, n) * T)
    # the last of x uniform purchase times in (0, T]: T * U^(1/x), on the day grid
    tx = np.where(x > 0, np.ceil(7 * T * rng.uniform(size=n) ** (1 / np.maximum(x, 1))) / 7,
                  0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": T})


def test_degeneracy_limits_are_recognised_from_the_parameters():
    """The check itself: s/beta x longest age below 1e-6 is no churn, 1/sqrt(s) < 0.03 one
    common dropout rate, 1/sqrt(r) < 0.03 one purchase rate, otherwise regular."""
    model = ParetoNBDFitter()
    model.time_unit_ = "W"
    data = (np.array([1.0, 3.0]), np.array([5.0, 20.0]), np.array([30.0, 40.0]))
    w = np.ones(2)
    assert model._degeneracy(np.array([0.5, 10.0, 0.5, 10.0]), data, w) is None
    no_churn = model._degeneracy(np.array([0.5, 10.0, 1e-6, 1e3]), data, w)
    assert "reduces to the NBD" in no_churn and "per week" in no_churn
    # 1e-6 / 1e2 per week x 40 weeks = 4e-7 < 1e-6; x 400 weeks it is churn again
    assert model._degeneracy(np.array([0.5, 10.0, 1e-6, 1e2]), data, w) is not None
    longer = (data[0], data[1], np.array([30.0, 400.0]))
    assert model._degeneracy(np.array([0.5, 10.0, 1e-6, 1e2]), longer, w) is None
    common = model._degeneracy(np.array([0.5, 10.0, 2e3, 4e4]), data, w)
    assert "one dropout rate" in common and "mean 20 weeks" in common
    poisson = model._degeneracy(np.array([2e3, 4e3, 0.5, 10.0]), data, w)
    assert "Poisson process with one rate" in poisson and "0.5 per week" in poisson


@pytest.mark.slow  # a Pareto/NBD fit walking to s/beta -> 0 (about 10 s)
def test_no_churn_is_named_and_predictions_stay_finite():
    """Customers who never leave: Pareto/NBD warns it reduced to the NBD (s/beta -> 0),
    with one warning (no separate non-convergence or Hessian warnings), P(alive) ~ 1."""
    rfm = _nbd_log(800, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ParetoNBDFitter().fit(rfm, time_unit="W")
    assert [w.category for w in caught] == [DegenerateFitWarning]
    assert "reduces to the NBD" in model.degeneracy_
    assert "per week" in model.degeneracy_
    p = model.probability_alive(rfm)
    assert np.isfinite(p).all() and p.min() > 1 - 1e-6
    e = model.expected_purchases(rfm, 52)
    assert np.isfinite(e).all()
    # the NBD limit: E[X(t) | x, T] = (r + x) / (alpha + T) * t
    r, alpha = model.params_["r"], model.params_["alpha"]
    np.testing.assert_allclose(e, (r + rfm["frequency"]) / (alpha + rfm["T"]) * 52,
                               rtol=1e-5)


def test_no_repeat_purchases_is_named():
    """Nobody bought twice: the warning says so and expected purchases are about 0."""
    rfm = pd.DataFrame({"frequency": [0.0] * 200, "recency": [0.0] * 200,
                        "T": np.linspace(5, 50, 200)})
    with pytest.warns(DegenerateFitWarning, match=r"none of the 200 customers made a repeat"):
        model = ParetoNBDFitter().fit(rfm, time_unit="W")
    e = model.expected_purchases(rfm, 52)
    assert np.isfinite(e).all() and e.max() < 1e-3


def test_homogeneous_purchase_rates_are_named():
    """Every customer buys at one rate and nobody leaves: the warning names the Poisson
    process with one rate (r -> inf)."""
    rng = np.random.default_rng(5)
    T = rng.integers(20, 60, 2000).astype(float)
    x = rng.poisson(0.5 * T).astype(float)
    rfm = pd.DataFrame({"frequency": x, "recency": np.where(x > 0, T * 0.99, 0.0), "T": T})
    with pytest.warns(DegenerateFitWarning, match=r"Poisson process with one rate"):
        model = ParetoNBDFitter().fit(rfm, time_unit="W")
    assert np.isfinite(model.expected_purchases(rfm, 5200)).all()
