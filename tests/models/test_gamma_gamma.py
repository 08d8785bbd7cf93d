"""Tests of clvlab.GammaGammaFitter."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvlab.exceptions import (
    AssumptionWarning,
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    ModelWarning,
    NotFittedError,
)
from clvlab.models.gamma_gamma import CORRELATION_WARNING_THRESHOLD, GammaGammaFitter
from clvlab.models.likelihoods import gg_loglik_and_grad
from clvlab.persistence import load_model


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    """Gamma-Gamma fitted on the CDNOW sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssumptionWarning)
        return GammaGammaFitter().fit(cdnow_summary)


def _simulate(rng, n, p, q, v, max_x=20):
    """Repeat buyers drawn from the Gamma-Gamma model itself."""
    x = rng.integers(1, max_x, size=n).astype(float)
    nu = rng.gamma(q, 1.0 / v, size=n)
    m = rng.gamma(p * x, 1.0 / (nu * x))
    return pd.DataFrame(
        {"frequency": x, "monetary_value": m},
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )


def test_params_match_hardie_on_cdnow(fitted):
    """p, q, v equal 6.2488, 3.7446, 15.4477 (Hardie note 025; lifetimes test suite), rtol 1e-4."""
    np.testing.assert_allclose(
        fitted.params_[["p", "q", "v"]].to_numpy(), [6.2488, 3.7446, 15.4477], rtol=1e-4
    )
    assert fitted.converged_


def test_params_and_loglik_match_lifetimes_fit(cdnow_summary, fitted):
    """Estimates and log-likelihood equal lifetimes' fit on the same buyers (lifetimes run here)."""
    from lifetimes import GammaGammaFitter as LifetimesGG

    rep = cdnow_summary[cdnow_summary["frequency"] > 0]
    lg = LifetimesGG().fit(rep["frequency"], rep["monetary_value"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), lg.params_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        fitted.log_likelihood_ / 946, -lg._negative_log_likelihood_, rtol=1e-10
    )


def test_fit_on_many_rows_matches_per_customer_likelihood_and_keeps_no_cache(rng):
    """Large fits (subsample warm start, cached statistics) reach the per-customer optimum."""
    data = _simulate(rng, 30_000, 6.0, 4.0, 15.0)
    model = GammaGammaFitter().fit(data)
    assert not hasattr(model, "_statistics_cache") and model.converged_
    x, m = data["frequency"].to_numpy(), data["monetary_value"].to_numpy()
    ll, grad = gg_loglik_and_grad(model.params_.to_numpy(), x, m)
    np.testing.assert_allclose(model.log_likelihood_, ll.sum(), rtol=1e-12)
    # the per-customer gradient vanishes at the estimate (mean over customers, natural scale)
    assert np.max(np.abs(grad.mean(axis=0) * model.params_.to_numpy())) < 1e-7


def test_counts_exclusions_on_cdnow(fitted):
    """946 repeat buyers are fitted and the 1,411 one-time buyers counted as excluded (CDNOW)."""
    assert fitted.n_customers_ == 946
    assert fitted.n_excluded_ == 1411
    assert "946 repeat buyers of 2357" in fitted.exclusion_note_
    assert fitted.time_unit_ == "W"


def test_frequency_spend_correlation_on_cdnow(cdnow_summary, fitted):
    """The stored correlation is Pearson's r among repeat buyers, 0.11 on CDNOW (FHL 2005)."""
    rep = cdnow_summary[cdnow_summary["frequency"] > 0]
    r = np.corrcoef(rep["frequency"], rep["monetary_value"])[0, 1]
    np.testing.assert_allclose(fitted.frequency_spend_correlation_, r, rtol=1e-12)
    np.testing.assert_allclose(fitted.frequency_spend_correlation_, 0.11, atol=0.005)
    assert abs(r) < CORRELATION_WARNING_THRESHOLD


def test_expected_spend_equals_lifetimes_for_every_customer(cdnow_summary, fitted):
    """expected_spend equals lifetimes' conditional_expected_average_profit (rtol 1e-6)."""
    from lifetimes import GammaGammaFitter as LifetimesGG

    rep = cdnow_summary[cdnow_summary["frequency"] > 0]
    lg = LifetimesGG().fit(rep["frequency"], rep["monetary_value"])
    theirs = lg.conditional_expected_average_profit(
        cdnow_summary["frequency"], cdnow_summary["monetary_value"]
    )
    ours = fitted.expected_spend(cdnow_summary)
    assert ours.name == "expected_spend"
    assert ours.index.equals(cdnow_summary.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-6)


def test_expected_spend_first_customers_and_population_mean(cdnow_summary, fitted):
    """Customers 1-3 get 24.65, 18.91, 35.17 (Hardie); one-timers get p v / (q - 1)."""
    spend = fitted.expected_spend(cdnow_summary.head(5))
    np.testing.assert_allclose(spend.iloc[:3], [24.65, 18.91, 35.17], rtol=0, atol=0.01)
    p, q, v = fitted.params_
    np.testing.assert_allclose(fitted.population_mean_spend(), p * v / (q - 1), rtol=1e-14)
    np.testing.assert_allclose(spend.iloc[3:], fitted.population_mean_spend(), rtol=1e-14)


def test_prediction_does_not_mutate_input(cdnow_summary, fitted):
    """expected_spend leaves its input untouched."""
    before = cdnow_summary.copy()
    fitted.expected_spend(cdnow_summary)
    pd.testing.assert_frame_equal(cdnow_summary, before)


def test_parameter_recovery(rng):
    """Simulated buyers (p=4, q=5, v=30; 20,000 customers) give back the parameters within 10%."""
    data = _simulate(rng, 20_000, 4.0, 5.0, 30.0)
    gg = GammaGammaFitter().fit(data, time_unit="W")
    np.testing.assert_allclose(gg.params_.to_numpy(), [4.0, 5.0, 30.0], rtol=0.1)
    np.testing.assert_allclose(gg.population_mean_spend(), 4 * 30 / 4, rtol=0.05)
    assert np.isfinite(gg.summary["se"]).all()


def test_q_stays_above_one_on_heavy_tailed_spend(rng):
    """Spend so heavy-tailed that lifetimes finds q < 1: ours stays > 1, warns; spend finite."""
    data = _simulate(rng, 3000, 3.0, 0.6, 10.0, max_x=4)
    from lifetimes import GammaGammaFitter as LifetimesGG

    assert LifetimesGG().fit(data["frequency"], data["monetary_value"]).params_["q"] < 1.0
    with pytest.warns(ModelWarning, match="q is at its lower bound"):
        gg = GammaGammaFitter().fit(data, time_unit="D")
    assert gg.params_["q"] > 1.0
    spend = gg.expected_spend(data)
    assert np.isfinite(spend).all() and (spend > 0).all()
    assert np.isfinite(gg.population_mean_spend())


def test_summary_intervals_respect_q_above_one(fitted):
    """summary has estimate/se/lower/upper and q's lower bound is above 1."""
    s = fitted.summary
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    assert list(s.index) == ["p", "q", "v"]
    assert s.loc["q", "lower"] > 1.0
    assert (s["lower"] < s["estimate"]).all() and (s["estimate"] < s["upper"]).all()


def test_weights_equal_duplicated_rows(rng):
    """Fitting with weights 2 gives the same estimates as duplicating every customer."""
    data = _simulate(rng, 300, 3.0, 4.0, 20.0)
    dup = pd.concat([data, data.set_axis([f"{i}b" for i in data.index])])
    dup.index.name = "customer_id"
    a = GammaGammaFitter().fit(data, weights=np.full(len(data), 2.0), time_unit="W")
    b = GammaGammaFitter().fit(dup, time_unit="W")
    np.testing.assert_allclose(a.params_.to_numpy(), b.params_.to_numpy(), rtol=1e-7)


def test_assumption_warning_when_spend_tracks_frequency(rng):
    """Spend rising with frequency (nu ~ x^-0.8, r = 0.58) raises an AssumptionWarning."""
    x = rng.integers(1, 30, size=500).astype(float)
    nu = rng.gamma(4.0, 1 / 20.0, size=500) / x**0.8
    m = rng.gamma(3.0 * x, 1.0 / (nu * x))
    data = pd.DataFrame({"frequency": x, "monetary_value": m})
    with pytest.warns(AssumptionWarning, match=r"correlation is 0\.58"):
        gg = GammaGammaFitter().fit(data, time_unit="W")
    assert gg.frequency_spend_correlation_ > CORRELATION_WARNING_THRESHOLD


def test_no_repeat_buyers_is_a_clear_error():
    """Only one-time buyers raise EmptyInputError that counts them."""
    data = pd.DataFrame({"frequency": [0.0, 0.0], "monetary_value": [0.0, 0.0]})
    with pytest.raises(
        EmptyInputError, match=r"none of the 2 customers qualify \(2 have frequency 0"
    ):
        GammaGammaFitter().fit(data, time_unit="W")


def test_zero_spend_repeat_buyers_are_excluded_with_counted_warning(rng):
    """Repeat buyers with monetary_value 0 are left out with a DataQualityWarning naming them."""
    data = _simulate(rng, 200, 3.0, 4.0, 20.0)
    data.loc[["c3", "c7"], "monetary_value"] = 0.0
    with pytest.warns(DataQualityWarning, match=r"2 customers .* \(customer_id 'c3', 'c7'\)"):
        gg = GammaGammaFitter().fit(data, time_unit="W")
    assert gg.n_customers_ == 198 and gg.n_excluded_ == 2
    with pytest.warns(DataQualityWarning, match="population mean"):
        spend = gg.expected_spend(data.loc[["c3", "c4"]])
    np.testing.assert_allclose(spend["c3"], gg.population_mean_spend(), rtol=1e-14)


def test_negative_spend_and_missing_column_are_rejected():
    """Negative monetary_value and a missing column raise clvlab errors naming the column."""
    bad = pd.DataFrame({"frequency": [1.0, 2.0], "monetary_value": [3.0, -1.0]})
    with pytest.raises(InvalidValueError, match="monetary_value: must be >= 0; 1 customer"):
        GammaGammaFitter().fit(bad, time_unit="W")
    with pytest.raises(MissingColumnsError, match="monetary_value"):
        GammaGammaFitter().fit(pd.DataFrame({"frequency": [1.0]}), time_unit="W")


def test_not_fitted_error():
    """Predicting before fit raises NotFittedError."""
    with pytest.raises(NotFittedError, match="not fitted"):
        GammaGammaFitter().expected_spend(
            pd.DataFrame({"frequency": [1.0], "monetary_value": [2.0]})
        )


def test_time_unit_unknown_is_none():
    """Without attrs or an explicit unit, time_unit_ is None (spend has no time dimension)."""
    data = pd.DataFrame(
        {"frequency": [1.0, 2.0, 5.0, 3.0], "monetary_value": [3.0, 10.0, 4.0, 7.0]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gg = GammaGammaFitter().fit(data)
    assert gg.time_unit_ is None


def test_save_load_round_trip(tmp_path, cdnow_summary, fitted):
    """JSON round trip restores parameters, counts, correlation and identical predictions."""
    path = tmp_path / "gg.json"
    fitted.save(path)
    payload = json.loads(path.read_text())
    assert payload["class"] == "GammaGammaFitter"
    assert payload["state"]["n_excluded"] == 1411
    loaded = load_model(path)
    assert isinstance(loaded, GammaGammaFitter)
    pd.testing.assert_series_equal(loaded.params_, fitted.params_)
    assert loaded.n_excluded_ == 1411 and loaded.time_unit_ == "W"
    assert loaded.frequency_spend_correlation_ == fitted.frequency_spend_correlation_
    pd.testing.assert_series_equal(
        loaded.expected_spend(cdnow_summary), fitted.expected_spend(cdnow_summary)
    )
    assert GammaGammaFitter.load(path).exclusion_note_ == fitted.exclusion_note_


def test_fit_on_a_million_rows(rng):
    """A million repeat buyers fit (compressed to unique rows) and predictions stay finite."""
    x = rng.integers(1, 10, size=1_000_000).astype(float)
    m = np.round(rng.gamma(3.0, 10.0, size=1_000_000), 0) + 1.0
    data = pd.DataFrame({"frequency": x, "monetary_value": m})
    gg = GammaGammaFitter().fit(data, time_unit="W")
    assert gg.n_customers_ == 1_000_000
    assert np.isfinite(gg.expected_spend(data)).all()


_FIT = {}


def _cdnow_model():
    if "gg" not in _FIT:
        from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

        _FIT["gg"] = GammaGammaFitter().fit(
            load_cdnow_summary_data_with_monetary_value(), time_unit="W"
        )
    return _FIT["gg"]


@settings(max_examples=100, deadline=None)
@given(
    x=st.lists(st.integers(0, 50_000), min_size=1, max_size=20),
    m=st.floats(1e-6, 1e9),
)
def test_expected_spend_finite_positive_on_any_valid_input(x, m):
    """Fitted expected_spend is finite and > 0 for any frequency >= 0 and spend > 0 (hypothesis)."""
    gg = _cdnow_model()
    data = pd.DataFrame({"frequency": np.asarray(x, float), "monetary_value": m})
    data.loc[data["frequency"] == 0, "monetary_value"] = 0.0
    spend = gg.expected_spend(data)
    assert np.isfinite(spend).all() and (spend > 0).all()


def test_fit_on_clvlab_rfm_summary_of_cdnow():
    """clvlab's RFM of CDNOW (to 1997-09-30): 946 buyers; Hardie's p, q, v to 1e-3."""
    import clvlab

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rfm = clvlab.rfm_summary(
            clvlab.datasets.load_cdnow(sample=True), observation_end="1997-09-30"
        )
    gg = GammaGammaFitter().fit(rfm)
    assert gg.n_customers_ == 946 and gg.n_excluded_ == 1411 and gg.time_unit_ == "W"
    np.testing.assert_allclose(gg.params_.to_numpy(), [6.2488, 3.7446, 15.4477], rtol=1e-3)
    np.testing.assert_allclose(gg.frequency_spend_correlation_, 0.11, atol=0.005)


def test_summary_table_reports_exclusions_and_correlation(fitted):
    """summary_table shows the excluded count, the correlation and its threshold, the mean spend."""
    text = fitted.summary_table().as_text()
    assert "1,411" in text
    assert "0.114 (warning above |r| > 0.3)" in text
    assert "35.17" in text


def test_expected_spend_accepts_any_time_unit(cdnow_summary, fitted):
    """Spend has no time dimension: data in days are scored by a model fitted on weeks."""
    daily = cdnow_summary.head(5).copy()
    daily.attrs["time_unit"] = "D"
    pd.testing.assert_series_equal(
        fitted.expected_spend(daily), fitted.expected_spend(cdnow_summary.head(5))
    )
