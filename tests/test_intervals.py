"""Tests of clvlab.intervals: prediction and confidence intervals (behaviour and maths)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import InvalidValueError, ModelWarning, NotFittedError
from clvlab.intervals import (
    INTERVAL_COLUMNS,
    PARAMETER_SHARE_THRESHOLD,
    _CountTable,
    _factorize,
    _grid_tops,
    _ragged_cumsum,
    _spend_quantiles,
    _truncate,
    _walk_counts,
    forecast_intervals,
    predict_intervals,
)
from clvlab.models.beta_geo import BetaGeoFitter
from clvlab.models.purchase import PurchaseFitter

HORIZON = 39.0
RATE = 0.002


@pytest.fixture(scope="module")
def sample_rfm() -> pd.DataFrame:
    """Calibration RFM summary of the CDNOW 1/10 sample (weeks, to 1997-09-30)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvlab.rfm_summary(
            clvlab.datasets.load_cdnow(sample=True), observation_end="1997-09-30"
        )


@pytest.fixture(scope="module")
def models(sample_rfm: pd.DataFrame) -> tuple[BetaGeoFitter, clvlab.GammaGammaFitter]:
    """BG/NBD and Gamma-Gamma fitted on the CDNOW sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (clvlab.BetaGeoFitter().fit(sample_rfm),
                clvlab.GammaGammaFitter().fit(sample_rfm))


@pytest.fixture(scope="module")
def predictive(models, sample_rfm):
    """80% predictive intervals with discounting, seed 7."""
    bg, gg = models
    return predict_intervals(bg, gg, sample_rfm, HORIZON, discount_rate=RATE, margin=0.3,
                             random_state=7)


def _pmf_matrix(model, data: pd.DataFrame, horizon: float, n_max: int = 200) -> np.ndarray:
    """P(X = n | history) for n = 0..n_max through the public contract (rows: n)."""
    return np.vstack([
        model.conditional_probability_of_purchases(data, n=n, t=horizon).to_numpy()
        for n in range(n_max + 1)
    ])


# -- point estimates and shape -------------------------------------------------------------
def test_columns_and_index(predictive, sample_rfm):
    """One row per customer, in the input's order, with the documented columns."""
    cust = predictive.customers
    assert list(cust.columns) == list(INTERVAL_COLUMNS)
    assert cust.index.equals(sample_rfm.index)
    assert not cust.isna().any().any()
    assert list(predictive.totals.index) == ["purchases", "value", "clv"]


def test_point_estimates_are_the_models(predictive, models, sample_rfm):
    """expected_purchases and clv are exactly the contract's and customer_lifetime_value's."""
    bg, gg = models
    np.testing.assert_allclose(
        predictive.customers["expected_purchases"],
        bg.expected_purchases(sample_rfm, t=HORIZON), rtol=1e-13,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clv = clvlab.customer_lifetime_value(bg, gg, sample_rfm, HORIZON, RATE, margin=0.3)
    np.testing.assert_allclose(predictive.customers["clv"], clv, rtol=1e-13)
    np.testing.assert_allclose(predictive.totals.loc["clv", "estimate"], clv.sum(), rtol=1e-12)


def test_deterministic_for_a_seed(models, sample_rfm, predictive):
    """The same random_state gives identical results."""
    bg, gg = models
    again = predict_intervals(bg, gg, sample_rfm, HORIZON, discount_rate=RATE, margin=0.3,
                              random_state=7)
    pd.testing.assert_frame_equal(again.customers, predictive.customers)
    pd.testing.assert_frame_equal(again.totals, predictive.totals)


def test_row_order_does_not_matter(models, sample_rfm, predictive):
    """Shuffling the customers shuffles the rows and changes no customer's numbers."""
    bg, gg = models
    shuffled = sample_rfm.sample(frac=1.0, random_state=3)
    other = predict_intervals(bg, gg, shuffled, HORIZON, discount_rate=RATE, margin=0.3,
                              random_state=11)
    cols = ["purchases_lower", "purchases_upper", "purchases_interval_probability",
            "probability_no_purchase"]
    pd.testing.assert_frame_equal(other.customers.loc[sample_rfm.index, cols],
                                  predictive.customers[cols])
    # per-customer CLV bounds involve no simulation either
    assert predictive.details["spend_mixed_customers"] > 0  # both CLV paths are exercised
    for col in ("clv_lower", "clv_upper"):
        np.testing.assert_allclose(other.customers.loc[sample_rfm.index, col],
                                   predictive.customers[col], rtol=1e-9)


def test_identical_histories_identical_rows(models):
    """Customers with the same history get the same intervals."""
    bg, gg = models
    data = pd.DataFrame({"frequency": [2.0, 2.0, 0.0, 0.0], "recency": [10.0, 10.0, 0, 0],
                         "T": [30.0, 30.0, 30.0, 30.0], "monetary_value": [20.0, 20.0, 0, 0]},
                        index=pd.Index(list("abcd"), name="customer_id"))
    out = predict_intervals(bg, gg, data, HORIZON, random_state=0).customers
    pd.testing.assert_series_equal(out.loc["a"], out.loc["b"], check_names=False)
    pd.testing.assert_series_equal(out.loc["c"], out.loc["d"], check_names=False)


# -- counts: the integer-set convention ----------------------------------------------------
def test_count_interval_convention(models, sample_rfm, predictive):
    """[L, U] is the equal-tailed integer set of the model's pmf, probability >= level."""
    bg, _ = models
    cust = predictive.customers
    pmf = _pmf_matrix(bg, sample_rfm, HORIZON)
    cdf = np.cumsum(pmf, axis=0)
    lo_t, hi_t = 0.1, 0.9
    lower = (cdf < lo_t - 1e-12).sum(axis=0)
    upper = (cdf < hi_t - 1e-12).sum(axis=0)
    # customers whose distribution mixes parameter uncertainty may differ by one
    assert np.mean(cust["purchases_lower"].to_numpy() == lower) > 0.99
    assert np.mean(cust["purchases_upper"].to_numpy() == upper) > 0.99
    assert (cust["purchases_interval_probability"] >= 0.8 - 1e-12).all()
    assert (cust["purchases_lower"] <= cust["purchases_upper"]).all()
    assert cust["purchases_lower"].dtype.kind == "i"


def test_probability_no_purchase_is_the_pmf_at_zero(models, sample_rfm, predictive):
    """P(no purchase) equals conditional_probability_of_purchases(n=0) (to the mixture)."""
    bg, _ = models
    p0 = bg.conditional_probability_of_purchases(sample_rfm, n=0, t=HORIZON)
    np.testing.assert_allclose(predictive.customers["probability_no_purchase"], p0, atol=0.01)
    exact = np.isclose(predictive.customers["probability_no_purchase"], p0, rtol=1e-13, atol=0)
    assert exact.sum() == len(p0) - predictive.details["mixed_customers"]


def test_wider_level_wider_interval(models, sample_rfm, predictive):
    """A 95% interval contains the 80% interval of every customer."""
    bg, gg = models
    wide = predict_intervals(bg, gg, sample_rfm, HORIZON, level=0.95, discount_rate=RATE,
                             margin=0.3, random_state=7).customers
    narrow = predictive.customers
    assert (wide["purchases_lower"] <= narrow["purchases_lower"]).all()
    assert (wide["purchases_upper"] >= narrow["purchases_upper"]).all()
    assert (wide["clv_upper"] >= narrow["clv_upper"] * (1 - 1e-9)).all()
    assert (wide["clv_lower"] <= narrow["clv_lower"] * (1 + 1e-9)).all()


def test_walk_counts_mixture_and_targets():
    """The walk stops at the target and mixes parameter sets with their weights."""
    lam = np.array([0.5, 3.0, 40.0])

    def log_pmf(j, n, rows):
        from scipy import stats

        return stats.poisson.logpmf(n, lam[rows] * (1.0 + j))

    table = _walk_counts(log_pmf, np.array([0.25, 0.75]), np.full(3, 0.999),
                         np.ones(3, dtype=np.int64), np.full(3, 1000))
    from scipy import stats

    for h in range(3):
        n = np.arange(table.n_max[h] + 1)
        want = 0.25 * stats.poisson.pmf(n, lam[h]) + 0.75 * stats.poisson.pmf(n, 2 * lam[h])
        got = table.pmf[table.offsets[h]:table.offsets[h + 1]]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert table.cdf[table.offsets[h + 1] - 1] >= 0.999
        assert table.cdf[table.offsets[h + 1] - 2] < 0.999  # stops at the first count
    assert isinstance(table, _CountTable)


def test_inverse_cdf_draws_follow_the_pmf(rng):
    """Inverse-cdf draws from a table have the table's distribution."""
    def log_pmf(j, n, rows):
        from scipy import stats

        return stats.nbinom.logpmf(n, 2.0, np.array([0.3, 0.6])[rows])

    table = _walk_counts(log_pmf, np.ones(1), np.full(2, 1 - 1e-12), np.ones(2, dtype=np.int64),
                         np.full(2, 10_000))
    rows = np.repeat([0, 1], 100_000)
    draws = table.inverse(rows, rng.random(rows.size))
    from scipy import stats

    for h, p in ((0, 0.3), (1, 0.6)):
        np.testing.assert_allclose(draws[rows == h].mean(), stats.nbinom.mean(2.0, p), rtol=0.02)


# -- spend and CLV -------------------------------------------------------------------------
def test_clv_quantiles_match_direct_simulation(models, sample_rfm, predictive, rng):
    """CLV bounds equal quantiles of a direct simulation of count and order values (1%)."""
    bg, gg = models
    cust = predictive.customers
    picks = ["1", "18", "1019", "2133"]  # no repeat, light, medium, heavy buyers
    data = sample_rfm.loc[picks]
    pmf = _pmf_matrix(bg, data, HORIZON, n_max=400)
    comps = clvlab.customer_lifetime_value(bg, gg, data, HORIZON, RATE, margin=0.3,
                                           components=True)
    disc = comps["discounted_purchases"] / comps["expected_purchases"]
    p, q, v = gg.params_.to_numpy()
    draws = 400_000
    for j, cid in enumerate(picks):
        x, m = data.loc[cid, "frequency"], data.loc[cid, "monetary_value"]
        n = rng.choice(pmf.shape[0], size=draws, p=pmf[:, j] / pmf[:, j].sum())
        nu = rng.gamma(q + p * x, 1.0 / (v + x * m), size=draws)
        value = rng.gamma(n * p) / nu
        clv = 0.3 * disc.iloc[j] * value
        lo, hi = np.quantile(clv, [0.1, 0.9])
        got_lo, got_hi = cust.loc[cid, ["clv_lower", "clv_upper"]]
        np.testing.assert_allclose(got_hi, hi, rtol=0.01)
        if lo > 0:
            np.testing.assert_allclose(got_lo, lo, rtol=0.02)
        else:
            assert got_lo == 0.0


def test_clv_mean_of_predictive_equals_point(models, sample_rfm):
    """Without discounting the CLV interval brackets the point estimate for most customers."""
    bg, gg = models
    out = predict_intervals(bg, gg, sample_rfm, HORIZON, random_state=1).customers
    inside = (out["clv"] >= out["clv_lower"]) & (out["clv"] <= out["clv_upper"])
    assert inside.mean() > 0.95
    assert (out["clv_lower"] >= 0).all()


def test_no_spend_model_gives_purchases_only(models, sample_rfm):
    """spend_model=None: purchase columns and the purchases total only."""
    bg, _ = models
    out = predict_intervals(bg, None, sample_rfm, HORIZON, random_state=1)
    assert "clv" not in out.customers.columns
    assert list(out.totals.index) == ["purchases"]


def test_horizon_zero(models, sample_rfm):
    """A zero horizon is refused with the shared rule of clvlab._checks (issue 12: a
    non-positive horizon is a clear error, as in customer_lifetime_value and scoring)."""
    bg, gg = models
    with pytest.raises(ValueError, match=r"horizon must be a finite number > 0"):
        predict_intervals(bg, gg, sample_rfm, 0.0, random_state=1)


# -- totals --------------------------------------------------------------------------------
def test_total_variance_decomposition(predictive):
    """se^2 = parameter variance + process variance, and the interval is estimate +- z se."""
    tot = predictive.totals
    np.testing.assert_allclose(tot["se"] ** 2, tot["se_parameters"] ** 2 + tot["se_process"] ** 2,
                               rtol=1e-12)
    z = 1.2815515655446004
    for name in ("value", "clv"):
        np.testing.assert_allclose(tot.loc[name, "upper"] - tot.loc[name, "estimate"],
                                   z * tot.loc[name, "se"], rtol=1e-12)
    assert tot.loc["purchases", "lower"] == np.floor(tot.loc["purchases", "lower"])


def test_total_interval_is_not_a_sum_of_bounds(predictive):
    """The total's interval is far narrower than the sum of the per-customer bounds."""
    cust, tot = predictive.customers, predictive.totals
    assert tot.loc["purchases", "upper"] < cust["purchases_upper"].sum() / 2
    assert tot.loc["clv", "upper"] - tot.loc["clv", "lower"] < (
        cust["clv_upper"].sum() - cust["clv_lower"].sum()) / 5


def test_process_variance_matches_exact_sum(models, sample_rfm, predictive):
    """Simulated process variance of total purchases equals sum of Var(X) (3%)."""
    bg, _ = models
    pmf = _pmf_matrix(bg, sample_rfm, HORIZON, n_max=300)
    n = np.arange(pmf.shape[0])[:, None]
    mean = (pmf * n).sum(axis=0)
    var = (pmf * n**2).sum(axis=0) - mean**2
    np.testing.assert_allclose(predictive.totals.loc["purchases", "se_process"] ** 2, var.sum(),
                               rtol=0.03)


def test_parameter_variance_matches_monte_carlo(models, sample_rfm, predictive, rng):
    """Cubature variance of the expected total equals the spread over parameter draws (5%)."""
    bg, _ = models
    theta = np.log(bg.params_.to_numpy())
    cov = bg.variance_matrix_.to_numpy() / np.outer(np.exp(theta), np.exp(theta))
    draws = rng.multivariate_normal(theta, cov, size=1500)
    hist = sample_rfm.groupby(["frequency", "recency", "T"]).size().reset_index()
    x, tx, T, w = (hist[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", 0))
    totals = [w @ bg._expected(np.exp(d), np.float64(HORIZON), x, tx, T) for d in draws]
    np.testing.assert_allclose(predictive.totals.loc["purchases", "se_parameters"],
                               np.std(totals), rtol=0.05)


# -- confidence intervals ------------------------------------------------------------------
def test_confidence_intervals_match_parameter_draws(models, sample_rfm, rng):
    """Confidence bounds: the cubature's sd of log E[X] equals the draws' (4%) for everyone."""
    bg, gg = models
    out = predict_intervals(bg, gg, sample_rfm, HORIZON, kind="confidence").customers
    theta = np.log(bg.params_.to_numpy())
    cov = bg.variance_matrix_.to_numpy() / np.outer(np.exp(theta), np.exp(theta))
    draws = rng.multivariate_normal(theta, cov, size=1500)
    hist = sample_rfm[["frequency", "recency", "T"]].drop_duplicates()
    out = out.loc[hist.index]
    x, tx, T = (hist[c].to_numpy() for c in ("frequency", "recency", "T"))
    sims = np.vstack([bg._expected(np.exp(d), np.float64(HORIZON), x, tx, T) for d in draws])
    est = out["expected_purchases"].to_numpy()
    z = 1.2815515655446004
    sd_cubature = np.log(out["purchases_upper"].to_numpy() / est) / z
    np.testing.assert_allclose(sd_cubature, np.std(np.log(sims), axis=0), rtol=0.04)
    np.testing.assert_allclose(np.log(est / out["purchases_lower"].to_numpy()) / z, sd_cubature,
                               rtol=1e-10)
    # the bounds themselves: log-normal vs the draws' quantiles (log E[X] is a little
    # skewed for some customers); half-widths within 10% for 95% of them, 20% for all
    lo, hi = np.quantile(sims, [0.1, 0.9], axis=0)
    for got, want in ((out["purchases_upper"] - est, hi - est),
                      (est - out["purchases_lower"], est - lo)):
        rel = np.abs(got.to_numpy() - want) / np.maximum(want, 1e-12)
        assert np.mean(rel < 0.10) > 0.95
        assert rel.max() < 0.2


def test_confidence_narrower_than_predictive(models, sample_rfm, predictive):
    """Confidence intervals of CLV and totals are inside the predictive ones."""
    bg, gg = models
    conf = predict_intervals(bg, gg, sample_rfm, HORIZON, kind="confidence",
                             discount_rate=RATE, margin=0.3)
    for name in ("purchases", "value", "clv"):
        assert conf.totals.loc[name, "lower"] >= predictive.totals.loc[name, "lower"]
        assert conf.totals.loc[name, "upper"] <= predictive.totals.loc[name, "upper"]


# -- parameter uncertainty in the per-customer distributions -------------------------------
def test_parameter_mixture_on_a_small_fit():
    """On a small fit the distributions of customers with material parameter share are mixed."""
    from clvlab.models.beta_geo import simulate_bgnbd_rfm

    rfm = simulate_bgnbd_rfm([0.243, 4.414, 0.793, 2.426],
                             np.random.default_rng(0).uniform(30, 60, 1000),
                             random_state=0, time_unit="W")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    out = predict_intervals(bg, None, rfm, HORIZON, random_state=1)
    assert out.details["mixed_customers"] > 0
    assert out.details["purchase_parameter_share_max"] > PARAMETER_SHARE_THRESHOLD
    # mixed pmf at 0 = the cubature mixture of the pmfs at the points (a joint-rule check)
    from clvlab.intervals import _ParamUncertainty

    unc = _ParamUncertainty.of(bg, [])
    pts = unc.cubature_points()
    x, tx, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    p0 = np.mean([np.exp(bg._log_pmf_conditional(p, np.float64(0), np.float64(HORIZON), x, tx, T))
                  for p in pts], axis=0)
    plain = np.exp(bg._log_pmf_conditional(bg._params_array(), np.float64(0),
                                           np.float64(HORIZON), x, tx, T))
    got = out.customers["probability_no_purchase"].to_numpy()
    mixed = ~np.isclose(got, plain, rtol=1e-12, atol=0)
    assert mixed.any()
    np.testing.assert_allclose(got[mixed], p0[mixed], rtol=1e-10)


def test_missing_covariance_warns_and_drops_parameter_uncertainty(models, sample_rfm):
    """A model without a usable variance matrix gives process-only intervals, with a warning."""
    bg, _ = models
    broken = clvlab.BetaGeoFitter.from_dict(bg.to_dict())
    broken.variance_matrix_ = broken.variance_matrix_ * np.nan
    with pytest.warns(ModelWarning, match="parameter uncertainty is left out"):
        out = predict_intervals(broken, None, sample_rfm, HORIZON, random_state=1)
    assert out.totals.loc["purchases", "se_parameters"] == 0.0
    assert any("left out" in n for n in out.notes)


# -- forecast fan --------------------------------------------------------------------------
def test_forecast_intervals_agree_with_predict_intervals(models, sample_rfm):
    """The fan at t equals predict_intervals' purchases total at horizon t (process sim aside)."""
    bg, _ = models
    fan = forecast_intervals(bg, sample_rfm, [0.0, 13.0, HORIZON], random_state=3)
    assert list(fan.index) == [0.0, 13.0, HORIZON]
    assert fan.loc[0.0, "upper"] == 0.0
    tot = predict_intervals(bg, None, sample_rfm, HORIZON, random_state=3).totals
    np.testing.assert_allclose(fan.loc[HORIZON, "estimate"], tot.loc["purchases", "estimate"],
                               rtol=1e-12)
    np.testing.assert_allclose(fan.loc[HORIZON, "se_parameters"],
                               tot.loc["purchases", "se_parameters"], rtol=1e-12)
    np.testing.assert_allclose(fan.loc[HORIZON, "se_process"],
                               tot.loc["purchases", "se_process"], rtol=0.05)
    assert fan["upper"].is_monotonic_increasing
    conf = forecast_intervals(bg, sample_rfm, [HORIZON], kind="confidence")
    assert conf.loc[HORIZON, "se_process"] == 0.0


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"level": 1.0}, ValueError, "level must be"),
        ({"level": 0}, ValueError, "level must be"),
        ({"kind": "credible"}, ValueError, "kind must be"),
        ({"n_draws": 0}, ValueError, "n_draws"),
        ({"n_draws": 2.5}, ValueError, "n_draws"),
        ({"discount_rate": -0.1}, ValueError, "discount_rate"),
        ({"horizon": float("nan")}, ValueError, "horizon"),
        ({"margin": "1"}, TypeError, "margin must be a number"),
    ],
)
def test_bad_arguments(models, sample_rfm, kwargs, error, match):
    """Out-of-range arguments fail with a message naming the argument."""
    bg, gg = models
    args = {"horizon": HORIZON, **kwargs}
    horizon = args.pop("horizon")
    with pytest.raises(error, match=match):
        predict_intervals(bg, gg, sample_rfm, horizon, **args)


def test_swapped_models(models, sample_rfm):
    """Passing the spend model first is a TypeError that says which argument is wrong."""
    bg, gg = models
    with pytest.raises(TypeError, match="purchase_model must be"):
        predict_intervals(gg, bg, sample_rfm, HORIZON)


def test_unfitted_model(sample_rfm):
    """An unfitted purchase model raises NotFittedError."""
    with pytest.raises(NotFittedError):
        predict_intervals(clvlab.BetaGeoFitter(), None, sample_rfm, HORIZON)


def test_time_unit_mismatch(models, sample_rfm):
    """Data in days with a model in weeks are refused."""
    bg, _ = models
    days = sample_rfm.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(ValueError, match="time unit"):
        predict_intervals(bg, None, days, HORIZON)


def test_model_without_conditional_pmf(models, sample_rfm):
    """Predictive intervals need the conditional pmf; the error says so and what to do."""
    bg, _ = models

    class NoPmf(BetaGeoFitter):
        _log_pmf_conditional = PurchaseFitter._log_pmf_conditional

    model = NoPmf()
    model.__dict__.update(bg.__dict__)  # the fitted state, in a class without the hook
    with pytest.raises(NotImplementedError, match="kind='confidence'"):
        predict_intervals(model, None, sample_rfm, HORIZON)
    out = predict_intervals(model, None, sample_rfm, HORIZON, kind="confidence")
    assert "probability_no_purchase" not in out.customers.columns
    assert not out.customers.isna().any().any()
    assert any("P(no purchase) is left out" in n for n in out.notes)


def test_purchase_coverage_on_own_simulation(models, sample_rfm, predictive, rng):
    """Counts drawn from the model's own pmf are covered at the stated rate (3 points)."""
    bg, _ = models
    pmf = _pmf_matrix(bg, sample_rfm, HORIZON)
    cdf = np.cumsum(pmf, axis=0)
    y = (cdf < rng.random(cdf.shape[1])[None, :]).sum(axis=0)
    cov = predictive.purchase_coverage(pd.Series(y, index=sample_rfm.index))
    row = cov.loc["all"]
    assert row["n_customers"] == len(sample_rfm)
    assert abs(row["realised"] - row["stated"]) < 0.03
    assert abs(row["randomised"] - 0.8) < 0.03
    with pytest.raises(ValueError, match="one finite count"):
        predictive.purchase_coverage(np.full(3, 1.0))


# -- scoring and export ----------------------------------------------------------------------
def test_score_customers_adds_ranges(models, sample_rfm):
    """score_customers(interval=0.8) inserts the range columns and the totals in attrs."""
    bg, gg = models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = clvlab.score_customers(sample_rfm, bg, gg, horizon=52.0, discount_rate=RATE,
                                        interval=0.8)
        plain = clvlab.score_customers(sample_rfm, bg, gg, horizon=52.0, discount_rate=RATE)
    cols = list(scores.columns)
    assert cols[cols.index("expected_purchases") + 1:][:2] == ["purchases_lower",
                                                               "purchases_upper"]
    assert cols[cols.index("clv") + 1:][:2] == ["clv_lower", "clv_upper"]
    pd.testing.assert_frame_equal(scores[list(plain.columns)], plain, check_like=False)
    ranges = predict_intervals(bg, gg, sample_rfm, 52.0, discount_rate=RATE, random_state=0)
    np.testing.assert_allclose(scores["clv_upper"], ranges.customers["clv_upper"], rtol=1e-12)
    totals = scores.attrs["intervals"]["totals"]
    assert set(totals) == {"purchases", "value", "clv"}
    np.testing.assert_allclose(totals["clv"]["estimate"], scores["clv"].sum(), rtol=1e-12)
    assert totals["clv"]["lower"] < totals["clv"]["estimate"] < totals["clv"]["upper"]


def test_score_customers_skips_ranges_without_a_pmf(models, sample_rfm):
    """A purchase model without a conditional pmf scores without ranges, with the reason."""
    bg, gg = models

    class NoPmf(BetaGeoFitter):
        _log_pmf_conditional = PurchaseFitter._log_pmf_conditional

    model = NoPmf()
    model.__dict__.update(bg.__dict__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = clvlab.score_customers(sample_rfm, model, gg, horizon=52.0, discount_rate=RATE,
                                        interval=0.8)
    assert "clv_lower" not in scores.columns
    assert "prediction intervals" in scores.attrs["intervals"]["skipped"]


def test_export_labels_name_the_range():
    """Spreadsheet headers of the range columns name the level and the horizon."""
    from clvlab.export import prediction_labels

    labels = prediction_labels(["purchases_lower", "clv_upper"], time_unit="W", horizon=52,
                               level=0.8)
    assert labels == ["Purchases: 80% range, low (next 52 weeks)",
                      "CLV: 80% range, high (next 52 weeks)"]
    assert prediction_labels(["clv_lower"])[0] == "CLV: range, low"


def test_totals_by_groups(predictive, sample_rfm):
    """Group totals: one group equals the totals; parts add up; intervals per group."""
    one = predictive.totals_by(np.zeros(len(sample_rfm)))
    pd.testing.assert_frame_equal(one.xs(0.0, level="group"), predictive.totals,
                                  check_names=False, rtol=1e-12)
    groups = pd.Series(np.where(sample_rfm["frequency"] > 0, "repeat", "one-time"),
                       index=sample_rfm.index)
    by = predictive.totals_by(groups.sample(frac=1.0, random_state=1))  # aligned by id
    assert list(by.index.get_level_values("group").unique()) == ["one-time", "repeat"]
    for name in ("purchases", "value", "clv"):
        part = by.xs(name, level="total")
        np.testing.assert_allclose(part["estimate"].sum(), predictive.totals.loc[name, "estimate"],
                                   rtol=1e-12)
        np.testing.assert_allclose((part["se_process"] ** 2).sum(),
                                   predictive.totals.loc[name, "se_process"] ** 2, rtol=1e-12)
        assert (part["lower"] <= part["estimate"]).all()
        assert (part["estimate"] <= part["upper"]).all()
    with pytest.raises(ValueError, match="label to every customer"):
        predictive.totals_by(groups.iloc[:10])


def test_score_customers_segment_ranges(models, sample_rfm):
    """Scoring with intervals records each segment's total ranges in attrs."""
    bg, gg = models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = clvlab.score_customers(sample_rfm, bg, gg, horizon=52.0, discount_rate=RATE,
                                        interval=0.8)
    segs = scores.attrs["intervals"]["segments"]
    present = set(scores["segment"].astype(str).unique())
    assert set(segs) == present
    total = sum(segs[s]["clv"]["estimate"] for s in segs)
    np.testing.assert_allclose(total, scores["clv"].sum(), rtol=1e-12)
    champions = scores[scores["segment"] == "Champions"]
    np.testing.assert_allclose(segs["Champions"]["clv"]["estimate"], champions["clv"].sum(),
                               rtol=1e-12)


def test_plain_language_note_names_the_level():
    """The report note states the level and that ranges assume the model is right."""
    from clvlab.intervals import plain_language_note

    text = plain_language_note(0.9)
    assert "90% prediction ranges" in text and "assume the model is right" in text


# -- bands and holdout check (report helpers) -----------------------------------------------
def test_interval_band_reproduces_the_fan_and_nests(models, sample_rfm):
    """interval_band at the fan's own level gives its bounds; the 50% band lies inside."""
    from clvlab.intervals import interval_band

    bg, _ = models
    fan = forecast_intervals(bg, sample_rfm, [6.0, 26.0, HORIZON], random_state=2)
    same = interval_band(fan, 0.8)
    np.testing.assert_array_equal(same["lower"], fan["lower"])
    np.testing.assert_array_equal(same["upper"], fan["upper"])
    half = interval_band(fan, 0.5)
    assert (half["lower"] >= fan["lower"]).all() and (half["upper"] <= fan["upper"]).all()
    assert (half["upper"] - half["lower"] < fan["upper"] - fan["lower"]).all()
    conf = forecast_intervals(bg, sample_rfm, [HORIZON], kind="confidence")
    np.testing.assert_allclose(interval_band(conf, 0.8).to_numpy(),
                               conf[["lower", "upper"]].to_numpy(), rtol=1e-12)
    with pytest.raises(InvalidValueError, match="lacks column"):
        interval_band(fan.drop(columns="se"), 0.5)
    with pytest.raises(ValueError, match="level must be"):
        interval_band(fan, 1.0)


@pytest.fixture(scope="module")
def sample_split():
    """FHL 2005 split of the CDNOW sample with BG/NBD and Gamma-Gamma fitted on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = clvlab.calibration_holdout(clvlab.datasets.load_cdnow(sample=True),
                                           "1997-09-30", "1998-06-30", time_unit="W")
        return (split, clvlab.BetaGeoFitter().fit(split),
                clvlab.GammaGammaFitter().fit(split))


def test_holdout_coverage_is_predict_intervals_scored(sample_split):
    """Without subsampling the check equals predict_intervals' coverage and totals."""
    from clvlab.intervals import holdout_coverage

    split, bg, gg = sample_split
    y = split["frequency_holdout"].to_numpy()
    v = split["total_spend_holdout"].to_numpy()
    out = holdout_coverage(bg, gg, split, y, v, horizon=39.0, random_state=5)
    assert out["n_checked"] == out["n_customers"] == len(split)
    ref = predict_intervals(bg, gg, split, 39.0, random_state=np.random.default_rng(5))
    cov = ref.purchase_coverage(split["frequency_holdout"]).loc["all"]
    for key in ("realised", "stated", "randomised"):
        assert out["purchases"][key] == pytest.approx(cov[key], abs=1e-12)
    cust = ref.customers
    inside = (v >= cust["clv_lower"] - 1e-9) & (v <= cust["clv_upper"])
    assert out["value"]["realised"] == pytest.approx(inside.mean(), abs=1e-12)
    assert out["value"]["stated"] >= 0.8
    for name, row in (("purchases", "purchases"), ("value", "clv")):
        tot = out["totals"][name]
        np.testing.assert_allclose(tot["estimate"], ref.totals.loc[row, "estimate"], rtol=1e-9)
        np.testing.assert_allclose(tot["se"], ref.totals.loc[row, "se"], rtol=1e-9)
        assert tot["covered"] == (tot["lower"] <= tot["actual"] <= tot["upper"])
    assert out["totals"]["purchases"]["actual"] == y.sum()
    assert out["totals"]["purchases"]["lower"] == ref.totals.loc["purchases", "lower"]


def test_holdout_coverage_subsample_scales_the_totals(sample_split):
    """With a subsample the totals keep the full estimate; their se is scaled up (25%)."""
    from clvlab.intervals import holdout_coverage

    split, bg, _ = sample_split
    y = split["frequency_holdout"].to_numpy()
    full = holdout_coverage(bg, None, split, y, horizon=39.0, max_customers=None)
    part = holdout_coverage(bg, None, split, y, horizon=39.0, max_customers=800,
                            random_state=1)
    assert part["n_checked"] == 800 and part["value"] is None
    assert set(part["totals"]) == {"purchases"}
    tot, ref = part["totals"]["purchases"], full["totals"]["purchases"]
    assert tot["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    np.testing.assert_allclose(tot["se"], ref["se"], rtol=0.25)
    assert abs(part["purchases"]["randomised"] - full["purchases"]["randomised"]) < 0.05


def test_holdout_coverage_rejects_bad_actuals(sample_split):
    """Actuals of the wrong length or with NaN give a clear error naming the argument."""
    from clvlab.intervals import holdout_coverage

    split, bg, gg = sample_split
    with pytest.raises(InvalidValueError, match="actual_purchases must hold one"):
        holdout_coverage(bg, None, split, [1.0, 2.0], horizon=39.0)
    bad = split["total_spend_holdout"].to_numpy().copy()
    bad[3] = np.nan
    with pytest.raises(InvalidValueError, match="actual_value must hold one"):
        holdout_coverage(bg, gg, split, split["frequency_holdout"], bad, horizon=39.0)
    with pytest.raises(ValueError, match="max_customers"):
        holdout_coverage(bg, None, split, split["frequency_holdout"], horizon=39.0,
                         max_customers=0)


def test_illinois_finds_each_rows_root_to_the_tolerance():
    """The CLV quantile search (Illinois false position) narrows every row's bracket to the
    root of its own increasing function, to 1e-13 in log value, and leaves other rows be."""
    from scipy.optimize import brentq

    from clvlab.intervals import _illinois

    target = np.array([-30.0, -1e-3, 0.0, 2.5, 17.0, 44.0, 3.0])
    calls = []

    def g(u, sel):
        calls.append(sel.size)
        # a mixture cdf minus its level, in log value, as the CLV quantiles search it
        z = np.exp(u - target[sel])
        return 0.7 * z / (1.0 + z) + 0.3 * (1.0 - np.exp(-z)) - 0.5

    z0 = brentq(lambda z: 0.7 * z / (1 + z) + 0.3 * (1 - np.exp(-z)) - 0.5, 1e-3, 10,
                xtol=1e-15)

    lo = np.full(target.size, -60.0)
    hi = np.full(target.size, 50.0)
    todo = np.ones(target.size, dtype=bool)
    todo[-1] = False
    every = np.arange(target.size)
    root = _illinois(g, lo, hi, g(lo, every), g(hi, every), todo)
    np.testing.assert_allclose(root[:-1], target[:-1] + np.log(z0), rtol=0, atol=1e-11)
    assert np.all(g(root[:-1], every[:-1]) >= 0)  # the upper end: g >= 0 there
    assert root[-1] == 50.0  # not asked: untouched
    assert len(calls) <= 2 + 30  # bisection would need 2 + 50


def test_aligned_intervals_keep_no_hash_table_on_the_customer_index(models, sample_rfm):
    """Scoring in customer order builds no pandas lookup table on the RFM index."""
    bg, gg = models
    rfm = sample_rfm.copy()
    rfm.index = pd.Index(rfm.index.astype(str), name=rfm.index.name)  # text ids, fresh index
    iv = predict_intervals(bg, gg, rfm, HORIZON, discount_rate=RATE, random_state=3)
    # (np.where on a Series would build the table itself: numpy probes it through the index)
    groups = pd.Series(np.where(rfm["frequency"].to_numpy() > 0, "repeat", "one-time"),
                       index=rfm.index)
    in_order = iv.totals_by(groups)
    assert "_engine" not in rfm.index._cache
    shuffled = iv.totals_by(groups.sample(frac=1.0, random_state=2))  # aligned by id
    pd.testing.assert_frame_equal(in_order, shuffled, check_exact=True)


# -- the same numbers through the faster paths -------------------------------------------
@pytest.mark.parametrize("key", ["bgnbd", "pnbd", "mbgnbd", "bgbb"])
def test_expected_at_several_horizons_is_bit_identical(key, sample_rfm):
    """Each purchase model's ``_expected`` with ``t`` of shape (k, 1) (how the ranges ask
    for several horizons at once: the discount schedule, the holdout fan) gives, row by
    row, exactly the numbers of one call per horizon, on >= 4,096 histories."""
    from clvlab.models.registry import get_model_class

    data = sample_rfm[["frequency", "recency", "T"]]
    data = data.round() if key == "bgbb" else data  # (BG/BB: whole periods)
    reps = int(np.ceil(5000 / len(data)))  # enough rows for the distinct-row paths
    big = pd.concat([data] * reps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_data = (data.assign(frequency=np.minimum(data.frequency, data.recency))
                    if key == "bgbb" else data)
        model = get_model_class(key)().fit(fit_data)
    params = model.params_.to_numpy(dtype=float)
    x, tx, T = (big[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    if key == "bgbb":
        x = np.minimum(x, tx)
    times = np.array([0.0, 1.0, 4.5, 13.0, 39.0])
    many = np.asarray(model._expected(params, times[:, None], x, tx, T))
    one_by_one = np.stack([np.asarray(model._expected(params, np.float64(t), x, tx, T))
                           for t in times])
    assert many.shape == (times.size, x.size)
    np.testing.assert_array_equal(many, one_by_one)


def test_first_at_least_one_level_equals_per_row_levels():
    """``_CountTable.first_at_least`` with one level (no table-sized row index) gives the
    counts of the per-row form at that level, including rows that never reach it."""
    pmf = np.array([0.5, 0.3, 0.2, 0.9, 0.05, 1.0, 0.1, 0.1])
    offsets = np.array([0, 3, 5, 6, 8])
    table = _CountTable(offsets, pmf, _ragged_cumsum(pmf, offsets))
    for tau in (0.0, 0.5, 0.8, 0.95, 0.99):
        np.testing.assert_array_equal(table.first_at_least(tau),
                                      table.first_at_least(np.full(4, tau)))
    np.testing.assert_array_equal(table.first_at_least(0.8), [1, 0, 0, 1])


def test_spend_quantiles_read_in_place_equal_a_truncated_table(predictive, models, sample_rfm):
    """``_spend_quantiles(..., n_end=d)`` (counts 0..d[h] read in the full table) gives the
    quantiles of the table cut there by ``_truncate``, bit for bit, and so do the grid tops."""
    bg, gg = models
    table = predictive._counts
    rows = np.arange(table.n_rows)
    x = sample_rfm["frequency"].to_numpy(dtype=float)[:table.n_rows]
    m = sample_rfm["monetary_value"].to_numpy(dtype=float)[:table.n_rows]
    shape, post_shape, _ = (np.asarray(v, dtype=float) for v in gg._order_value_posterior(
        gg.params_.to_numpy(dtype=float), x, m))
    depth = np.minimum(table.first_at_least(0.99), np.maximum(table.n_max - 1, 0))
    assert np.any(depth < table.n_max)  # some rows are cut
    taus = (0.1, 0.9)
    cut = _truncate(table, depth)
    np.testing.assert_array_equal(
        np.stack(_spend_quantiles(table, rows, shape, post_shape, taus, n_end=depth)),
        np.stack(_spend_quantiles(cut, rows, shape, post_shape, taus)))
    assert (_grid_tops(table, rows, shape, post_shape, n_end=depth)
            == _grid_tops(cut, rows, shape, post_shape))


def test_factorize_numbers_rows_in_first_seen_order():
    """``_factorize`` numbers distinct rows in order of first appearance and returns each
    code's first row (as pandas' factorize of the row tuples), for float and whole-number
    columns."""
    rng = np.random.default_rng(4)
    a = rng.integers(0, 5, 3000).astype(float)
    b = np.round(rng.random(3000) * 3, 1)
    codes, first = _factorize(a, b)
    want, _ = pd.factorize(pd.Series(list(zip(a, b, strict=True))), sort=False)
    np.testing.assert_array_equal(codes, want)
    np.testing.assert_array_equal(codes[first], np.arange(first.size))
    np.testing.assert_array_equal(first, [int(np.flatnonzero(want == k)[0])
                                          for k in range(first.size)])
    empty_codes, empty_first = _factorize(np.zeros(0))
    assert empty_codes.size == 0 and empty_first.size == 0
