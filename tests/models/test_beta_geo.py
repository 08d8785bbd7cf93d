"""BetaGeoFitter: fit against FHL (2005) and lifetimes, predictors, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import (
    DegenerateFitWarning,
    InvalidValueError,
    NotFittedError,
)
from clvlab.models.beta_geo import BetaGeoFitter, simulate_bgnbd_rfm

#: FHL (2005), Table 2: BG/NBD on the 2,357-customer CDNOW sample, weeks
FHL_PARAMS = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
FHL_LOG_LIKELIHOOD = -9582.43
NAMES = ["r", "alpha", "a", "b"]


def _lifetimes_at(params):
    import lifetimes

    model = lifetimes.BetaGeoFitter()
    model.params_ = pd.Series(np.asarray(params, dtype=float), index=NAMES)
    return model


# -- fit --------------------------------------------------------------------------------
def test_fit_reproduces_fhl_table_2(cdnow_bgnbd):
    """On clvlab's CDNOW summary the estimates and LL are FHL (2005) Table 2's (4 digits)."""
    np.testing.assert_allclose(cdnow_bgnbd.params_[NAMES].to_numpy(),
                               list(FHL_PARAMS.values()), rtol=2e-4)
    np.testing.assert_allclose(cdnow_bgnbd.log_likelihood_, FHL_LOG_LIKELIHOOD, atol=0.01)
    assert cdnow_bgnbd.converged_
    assert cdnow_bgnbd.n_customers_ == 2357
    assert cdnow_bgnbd.time_unit_ == "W"


def test_fit_on_lifetimes_summary_matches_fhl_and_lifetimes(cdnow_rfm_lifetimes):
    """On lifetimes' rounded summary: FHL's values (rtol 2e-4) and lifetimes' fit (rtol 1e-4)."""
    import lifetimes

    d = cdnow_rfm_lifetimes
    ours = BetaGeoFitter().fit(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(), list(FHL_PARAMS.values()),
                               rtol=2e-4)
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(), theirs.params_[NAMES].to_numpy(),
                               rtol=1e-4)
    np.testing.assert_allclose(ours.log_likelihood_, -9582.43, atol=0.01)
    # lifetimes' standard errors come from autograd's exact Hessian
    np.testing.assert_allclose(ours.standard_errors_[NAMES].to_numpy(),
                               theirs.standard_errors_[NAMES].to_numpy(), rtol=1e-3)


def test_variance_matrix_symmetric_positive_definite(cdnow_bgnbd):
    """variance_matrix_ is symmetric, positive definite, and its diagonal gives the SEs."""
    v = cdnow_bgnbd.variance_matrix_.to_numpy()
    np.testing.assert_allclose(v, v.T, rtol=0, atol=0)
    assert np.all(np.linalg.eigvalsh(v) > 0)
    np.testing.assert_allclose(np.sqrt(np.diag(v)), cdnow_bgnbd.standard_errors_, rtol=1e-12)


def test_summary_table_has_estimates_and_bounds(cdnow_bgnbd):
    """summary: estimate, se, lower < estimate < upper, all bounds positive."""
    s = cdnow_bgnbd.summary
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    assert list(s.index) == NAMES
    assert np.all(s["lower"] > 0)
    assert np.all((s["lower"] < s["estimate"]) & (s["estimate"] < s["upper"]))


def test_ci_level_widens_intervals(cdnow_rfm):
    """A 99% interval is wider than the default 95% interval for every parameter."""
    wide = BetaGeoFitter(ci_level=0.99).fit(cdnow_rfm).summary
    narrow = BetaGeoFitter().fit(cdnow_rfm).summary
    assert np.all(wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"])


def test_aic_bic(cdnow_bgnbd):
    """AIC = 8 - 2 LL and BIC = 4 ln(2357) - 2 LL."""
    ll = cdnow_bgnbd.log_likelihood_
    np.testing.assert_allclose(cdnow_bgnbd.aic_, 8 - 2 * ll, rtol=1e-14)
    np.testing.assert_allclose(cdnow_bgnbd.bic_, 4 * np.log(2357) - 2 * ll, rtol=1e-14)


def test_fit_is_deterministic_and_does_not_mutate_input(cdnow_rfm):
    """Two fits give identical parameters and the input frame is left unchanged."""
    before = cdnow_rfm.copy()
    p1 = BetaGeoFitter().fit(cdnow_rfm).params_
    p2 = BetaGeoFitter().fit(cdnow_rfm).params_
    pd.testing.assert_series_equal(p1, p2)
    pd.testing.assert_frame_equal(cdnow_rfm, before)


def test_duplicated_rows_equal_weights(cdnow_rfm):
    """Fitting on rows repeated twice equals fitting with weight 2 (rows are compressed)."""
    cols = ["frequency", "recency", "T"]
    doubled = pd.concat([cdnow_rfm[cols], cdnow_rfm[cols]], ignore_index=True)
    doubled.attrs["time_unit"] = "W"
    a = BetaGeoFitter().fit(doubled)
    b = BetaGeoFitter().fit(cdnow_rfm, weights=np.full(len(cdnow_rfm), 2.0))
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-8)
    np.testing.assert_allclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(a.log_likelihood_, 2 * BetaGeoFitter().fit(cdnow_rfm)
                               .log_likelihood_, rtol=1e-9)
    assert a.n_unique_rows_ == b.n_unique_rows_ < len(cdnow_rfm)
    assert a.n_customers_ == 2 * len(cdnow_rfm)


def test_fit_accepts_mapping_of_arrays(cdnow_rfm):
    """fit takes a mapping of arrays with an explicit time unit, same result as the frame."""
    data = {c: cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T")}
    a = BetaGeoFitter().fit(data, time_unit="W")
    np.testing.assert_allclose(a.params_, BetaGeoFitter().fit(cdnow_rfm).params_, rtol=1e-10)


def test_penalizer_matches_lifetimes(cdnow_rfm_lifetimes):
    """penalizer_coef=0.1 gives lifetimes' penalised estimates (same run, rtol 1e-4)."""
    import lifetimes

    d = cdnow_rfm_lifetimes
    ours = BetaGeoFitter(penalizer_coef=0.1).fit(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.BetaGeoFitter(penalizer_coef=0.1).fit(
            d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(ours.params_[NAMES].to_numpy(),
                               theirs.params_[NAMES].to_numpy(), rtol=1e-4)


def test_penalizer_shrinks_parameters(cdnow_rfm):
    """penalizer_coef > 0 lowers the sum of squared parameters and the log-likelihood."""
    plain = BetaGeoFitter().fit(cdnow_rfm)
    pen = BetaGeoFitter(penalizer_coef=0.1).fit(cdnow_rfm)
    assert (pen.params_**2).sum() < (plain.params_**2).sum()
    assert pen.log_likelihood_ < plain.log_likelihood_


@pytest.mark.slow
def test_parameter_recovery_on_simulated_data():
    """On 50,000 customers simulated from known parameters every estimate is within 3 SE."""
    truth = np.array([0.5, 6.0, 0.9, 3.0])
    T = np.random.default_rng(7).integers(20 * 7, 52 * 7, 50_000) / 7
    rfm = simulate_bgnbd_rfm(truth, T, random_state=11, time_unit="W")
    fit = BetaGeoFitter().fit(rfm)
    z = (fit.params_.to_numpy() - truth) / fit.standard_errors_.to_numpy()
    assert fit.converged_
    assert np.all(np.abs(z) < 3), z


def test_simulated_moments_match_model():
    """Simulated mean frequency at age T equals E[X(T)] of eq. (9) (4 SE of the mean)."""
    params = np.array([0.3, 5.0, 0.8, 2.5])
    rfm = simulate_bgnbd_rfm(params, np.full(100_000, 30.0), random_state=3)
    model = BetaGeoFitter()
    model.params_ = pd.Series(params, index=NAMES)
    model.time_unit_ = "W"
    expected = model.expected_purchases_new_customer(30.0)
    se = rfm["frequency"].std() / np.sqrt(len(rfm))
    assert abs(rfm["frequency"].mean() - expected) < 4 * se
    assert np.all(rfm["recency"] <= rfm["T"])
    assert np.all(rfm.loc[rfm["frequency"] == 0, "recency"] == 0)


def test_degenerate_data_warn_instead_of_false_convergence():
    """With no repeat purchases at all the fit warns DegenerateFitWarning naming the cause
    and the limit (no convergence warning on top), converged_ False."""
    d = pd.DataFrame({"frequency": 0.0, "recency": 0.0, "T": np.linspace(1, 50, 100)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BetaGeoFitter().fit(d, time_unit="W")
    assert [w.category for w in caught] == [DegenerateFitWarning]
    assert "none of the 100 customers made a repeat purchase" in str(caught[0].message)
    assert "per week" in str(caught[0].message)
    assert not model.converged_
    assert model.degeneracy_ == model.optimizer_result_["degeneracy"]


@pytest.mark.parametrize("params", [(0.24, 4.4, 0.79, 2.4), (2.0, 10.0, 3.0, 0.8),
                                    (5.0, 1.0, 1.5, 20.0), (0.5, 0.5, 0.5, 0.5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_no_false_convergence_alarm_on_simulated_data(params, seed):
    """Well-posed simulated data (5,000 customers) fit without any warning, converged_."""
    T = np.random.default_rng(seed).integers(7, 52 * 7, 5000) / 7
    rfm = simulate_bgnbd_rfm(params, T, random_state=seed + 10, time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BetaGeoFitter().fit(rfm)
    assert model.converged_


def test_boundary_estimate_tries_all_starts_and_warns():
    """When the Beta collapses (a, b -> inf) every start is tried and the fit warns that it
    reduced to one common dropout probability (DegenerateFitWarning)."""
    T = np.random.default_rng(0).integers(7, 52 * 7, 5000) / 7
    rfm = simulate_bgnbd_rfm((0.1, 50.0, 0.3, 10.0), T, random_state=10, time_unit="W")
    with pytest.warns(DegenerateFitWarning, match=r"Beta\(a, b\) collapsed.*one dropout"):
        model = BetaGeoFitter().fit(rfm)
    assert not model.converged_
    assert model.optimizer_result_["n_starts"] == 3


def test_good_fit_raises_no_warning(cdnow_rfm):
    """A well-posed fit (CDNOW) emits no warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BetaGeoFitter().fit(cdnow_rfm)


# -- predictions ------------------------------------------------------------------------
def test_predictions_equal_lifetimes_for_every_customer(cdnow_bgnbd, cdnow_rfm):
    """E[X(t)|history], P(alive), E[X(t)] and P(X(t)=n) equal lifetimes' (rtol 1e-6)."""
    lt = _lifetimes_at(cdnow_bgnbd.params_[NAMES].to_numpy())
    f, r, T = (cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    for t in (1.0, 39.0, 52.0):
        np.testing.assert_allclose(
            cdnow_bgnbd.expected_purchases(cdnow_rfm, t).to_numpy(),
            lt.conditional_expected_number_of_purchases_up_to_time(t, f, r, T), rtol=1e-6)
    np.testing.assert_allclose(cdnow_bgnbd.probability_alive(cdnow_rfm).to_numpy(),
                               lt.conditional_probability_alive(f, r, T), rtol=1e-6)
    t = np.array([1.0, 10.0, 78.0])
    np.testing.assert_allclose(cdnow_bgnbd.expected_purchases_new_customer(t),
                               lt.expected_number_of_purchases_up_to_time(t), rtol=1e-6)
    for n in (0, 1, 3, 10):
        np.testing.assert_allclose(cdnow_bgnbd.probability_of_purchases(n=n, t=52.0),
                                   lt.probability_of_n_purchases_up_to_time(52.0, n), rtol=1e-6)


def test_predictions_are_series_indexed_by_customer_id(cdnow_bgnbd, cdnow_rfm):
    """Predictors return Series indexed like the input and never modify it."""
    before = cdnow_rfm.copy()
    e = cdnow_bgnbd.expected_purchases(cdnow_rfm, 52)
    p = cdnow_bgnbd.probability_alive(cdnow_rfm)
    c = cdnow_bgnbd.conditional_probability_of_purchases(cdnow_rfm, n=2, t=52)
    for s, name in ((e, "expected_purchases"), (p, "probability_alive"),
                    (c, "probability_of_purchases")):
        assert isinstance(s, pd.Series) and s.name == name
        assert s.index.equals(cdnow_rfm.index)
    pd.testing.assert_frame_equal(cdnow_rfm, before)


def test_expected_purchases_per_customer_horizon(cdnow_bgnbd, cdnow_rfm):
    """A per-customer horizon array gives each customer its own t."""
    t = np.where(np.arange(len(cdnow_rfm)) % 2 == 0, 10.0, 52.0)
    mixed = cdnow_bgnbd.expected_purchases(cdnow_rfm, t)
    np.testing.assert_allclose(mixed.iloc[::2], cdnow_bgnbd.expected_purchases(cdnow_rfm, 10)
                               .iloc[::2], rtol=1e-14)
    np.testing.assert_allclose(mixed.iloc[1::2], cdnow_bgnbd.expected_purchases(cdnow_rfm, 52)
                               .iloc[1::2], rtol=1e-14)


def test_heavy_buyers_stay_finite(cdnow_bgnbd):
    """Predictions at frequency 0, 1, 300, 2,000, 20,000, recency = T, T = 0 are finite."""
    d = pd.DataFrame(
        {"frequency": [0, 0, 1, 300, 2000, 20000, 2000],
         "recency": [0, 0, 39.0, 39.0, 39.0, 39.0, 5.0],
         "T": [0, 39.0, 39.0, 39.0, 39.0, 39.0, 39.0]},
        index=pd.Index(list("abcdefg"), name="customer_id"),
    )
    e = cdnow_bgnbd.expected_purchases(d, 52)
    p = cdnow_bgnbd.probability_alive(d)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all((p >= 0) & (p <= 1))
    assert p["a"] == 1.0 and p["b"] == 1.0
    assert e["f"] > e["e"] > e["d"]  # more purchases, alive: more expected


def test_probability_of_purchases_shapes(cdnow_bgnbd):
    """Scalar n and t give a float; arrays broadcast; values sum to 1 over n."""
    assert isinstance(cdnow_bgnbd.probability_of_purchases(n=0, t=52), float)
    p = cdnow_bgnbd.probability_of_purchases(n=np.arange(3000), t=52)
    assert p.shape == (3000,)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-9)


def test_cohort_tracking_week_78_is_about_4_percent_under(cdnow_bgnbd, cdnow_transactions):
    """Cumulative repeat purchases at week 78 ~ 4% below the actual 4,339 (FHL 2005, Fig. 3)."""
    full = clvlab.rfm_summary(cdnow_transactions, observation_end="1998-06-30")
    actual = full["frequency"].sum()
    assert actual == 4339
    first = full["first_purchase"].to_numpy()
    track = cdnow_bgnbd.expected_cumulative_purchases(first, [39.0, 78.0],
                                                      origin="1997-01-01")
    under = 1 - track.loc[78.0] / actual
    assert 0.03 < under < 0.05
    # by date gives the same curve
    by_date = cdnow_bgnbd.expected_cumulative_purchases(
        first, pd.to_datetime(["1997-01-01"]) + pd.to_timedelta([78 * 7], unit="D"),
        origin="1997-01-01")
    np.testing.assert_allclose(by_date.iloc[0], track.loc[78.0], rtol=1e-12)


def test_cohort_tracking_weights_equal_repeated_rows(cdnow_bgnbd):
    """Cohort counts as weights equal listing each customer; 0 before anyone is acquired."""
    starts = np.array([0.0, 0.0, 0.0, 2.0, 5.0])
    times = np.array([0.0, 1.0, 10.0, 40.0])
    a = cdnow_bgnbd.expected_cumulative_purchases(starts, times)
    b = cdnow_bgnbd.expected_cumulative_purchases([0.0, 2.0, 5.0], times, weights=[3, 1, 1])
    np.testing.assert_allclose(a, b, rtol=1e-14)
    assert a.iloc[0] == 0.0
    assert np.all(np.diff(a.to_numpy()) > 0)


def test_probability_alive_history_matches_cut_histories(cdnow_bgnbd):
    """Each point of the P(alive) path equals probability_alive of the history cut there."""
    dates = pd.to_datetime(["1997-01-03", "1997-02-10", "1997-02-10", "1997-05-01"])
    path = cdnow_bgnbd.probability_alive_history(dates, end="1997-09-30")
    assert list(path.columns) == ["frequency", "recency", "T", "probability_alive", "date"]
    assert path.index.is_monotonic_increasing
    assert path["frequency"].max() == 2  # same-day purchases merged
    np.testing.assert_allclose(path["probability_alive"],
                               cdnow_bgnbd.probability_alive(path.reset_index(drop=True)),
                               rtol=1e-14)
    assert path["probability_alive"].iloc[0] == 1.0
    last = path.iloc[-1]
    np.testing.assert_allclose(last["T"], (pd.Timestamp("1997-09-30") - dates[0]).days / 7)
    np.testing.assert_allclose(last["recency"], (dates[-1] - dates[0]).days / 7)


def test_probability_alive_history_rejects_bad_end(cdnow_bgnbd):
    """end before the last purchase, or a number with dates, is rejected."""
    dates = pd.to_datetime(["1997-01-03", "1997-05-01"])
    with pytest.raises(ValueError, match="before the last purchase"):
        cdnow_bgnbd.probability_alive_history(dates, end="1997-02-01")
    with pytest.raises(TypeError, match="end must be a date"):
        cdnow_bgnbd.probability_alive_history(dates, end=30.0)


def test_probability_alive_history_numeric_ages(cdnow_bgnbd):
    """Numeric ages work, P(alive) jumps up at a purchase and decays in between."""
    path = cdnow_bgnbd.probability_alive_history([0.0, 5.0, 6.0], end=30.0, n_points=61)
    p = path["probability_alive"]
    assert p.loc[6.0] > p.loc[5.5]
    assert np.all(np.diff(p.loc[6.0:].to_numpy()) <= 0)
    assert "date" not in path


def test_sample_uses_fitted_parameters(cdnow_bgnbd):
    """sample() draws an RFM frame in the model's time unit, reproducible by seed."""
    a = cdnow_bgnbd.sample(np.full(100, 39.0), random_state=1)
    b = cdnow_bgnbd.sample(np.full(100, 39.0), random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["time_unit"] == "W"


def test_summary_table_text_and_html(cdnow_bgnbd):
    """summary_table() renders the estimates and the log-likelihood as text and HTML."""
    table = cdnow_bgnbd.summary_table()
    text, html = table.as_text(), table.as_html()
    assert "BetaGeoFitter" in text and "-9582.4" in text and "alpha" in text
    assert "<table" in html and "-9582.4" in html
    assert table._repr_html_() == html


# -- errors -----------------------------------------------------------------------------
def test_not_fitted_predictors_raise():
    """Predictors before fit raise NotFittedError naming the fix."""
    with pytest.raises(NotFittedError, match="not fitted"):
        BetaGeoFitter().probability_alive({"frequency": [0], "recency": [0], "T": [1]})
    with pytest.raises(NotFittedError):
        BetaGeoFitter().expected_purchases_new_customer(1.0)


def test_invalid_rows_name_column_and_customers(cdnow_bgnbd):
    """recency > T is rejected with the column, the rule and the customer ids."""
    bad = pd.DataFrame({"frequency": [1.0, 2.0], "recency": [5.0, 9.0], "T": [6.0, 8.0]},
                       index=pd.Index(["c1", "c2"], name="customer_id"))
    with pytest.raises(InvalidValueError, match=r"recency.*<= T.*'c2'"):
        cdnow_bgnbd.expected_purchases(bad, 10)
    with pytest.raises(InvalidValueError, match="recency"):
        BetaGeoFitter().fit(bad, time_unit="W")


def test_negative_or_nan_horizon_rejected(cdnow_bgnbd, cdnow_rfm):
    """t must be finite and >= 0."""
    with pytest.raises(ValueError, match="t must be finite and >= 0"):
        cdnow_bgnbd.expected_purchases(cdnow_rfm, -1)
    with pytest.raises(ValueError, match="t must be finite"):
        cdnow_bgnbd.expected_purchases_new_customer(np.nan)
    with pytest.raises(ValueError, match="whole number"):
        cdnow_bgnbd.probability_of_purchases(n=1.5, t=10)
    with pytest.raises(ValueError, match="one value per customer"):
        cdnow_bgnbd.expected_purchases(cdnow_rfm, [1.0, 2.0])


def test_time_unit_mismatch_rejected(cdnow_bgnbd, cdnow_rfm):
    """Data summarised in days cannot be scored by a model fitted in weeks."""
    days = cdnow_rfm.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(ValueError, match="time unit 'D'.*fitted in 'W'"):
        cdnow_bgnbd.probability_alive(days)


def test_fit_without_time_unit_rejected():
    """A frame without attrs['time_unit'] and no time_unit argument is rejected."""
    with pytest.raises(ValueError, match="time_unit is unknown"):
        BetaGeoFitter().fit(pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [3.0]}))


def test_count_and_time_are_keyword_only(cdnow_bgnbd, cdnow_rfm):
    """n and t are keywords; positional (n, t) still answers, with a FutureWarning naming both."""
    keyword = cdnow_bgnbd.probability_of_purchases(n=0, t=39.0)
    with pytest.warns(FutureWarning, match=r"probability_of_purchases\(n=\.\.\., t=\.\.\.\)"):
        positional = cdnow_bgnbd.probability_of_purchases(0, 39.0)
    assert positional == keyword
    with pytest.warns(FutureWarning, match="conditional_probability_of_purchases"):
        old = cdnow_bgnbd.conditional_probability_of_purchases(cdnow_rfm, 1, 10.0)
    new = cdnow_bgnbd.conditional_probability_of_purchases(cdnow_rfm, n=1, t=10.0)
    pd.testing.assert_series_equal(old, new)
    with pytest.raises(TypeError, match="needs t"):
        cdnow_bgnbd.probability_of_purchases(n=1)
    with pytest.raises(TypeError, match="takes n and t as keywords"):
        cdnow_bgnbd.probability_of_purchases(1, n=1)
