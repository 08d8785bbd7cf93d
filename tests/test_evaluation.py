"""Tests of clvlab.evaluation: metric functions, binning, χ², tracking and evaluate().

Reference numbers come from Fader, Hardie & Lee (2005), "Counting your customers the easy
way" (FHL 2005), on the CDNOW 1/10 sample split 39 + 39 weeks, and from lifetimes 0.11.3
run in the same test (the archived reference implementation, used only as an oracle).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import clvlab
from clvlab import evaluation as ev
from clvlab.exceptions import (
    ClvlabWarning,
    DataQualityWarning,
    InvalidValueError,
    MissingColumnsError,
    ModelWarning,
)

CAL_END, OBS_END = "1997-09-30", "1998-06-30"


# --------------------------------------------------------------------------------------
# fixtures: the FHL 2005 CDNOW study
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_tx() -> pd.DataFrame:
    """CDNOW 1/10 sample transaction log."""
    return clvlab.datasets.load_cdnow(sample=True)


@pytest.fixture(scope="module")
def cdnow_split(cdnow_tx: pd.DataFrame) -> pd.DataFrame:
    """FHL 2005 split: calibration to 1997-09-30, holdout to 1998-06-30, weeks."""
    return clvlab.calibration_holdout(cdnow_tx, CAL_END, OBS_END, time_unit="W")


@pytest.fixture(scope="module")
def bg(cdnow_split: pd.DataFrame):
    """BG/NBD fitted on the calibration columns."""
    return clvlab.BetaGeoFitter().fit(cdnow_split)


@pytest.fixture(scope="module")
def gg(cdnow_split: pd.DataFrame):
    """Gamma-Gamma fitted on the calibration columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return clvlab.GammaGammaFitter().fit(cdnow_split)


@pytest.fixture(scope="module")
def evaluation(cdnow_split, cdnow_tx, bg, gg) -> ev.Evaluation:
    """evaluate() on the FHL 2005 study with BG/NBD and Gamma-Gamma."""
    return ev.evaluate(cdnow_split, bg, gg, transactions=cdnow_tx)


@pytest.fixture(scope="module")
def lifetimes_bg(bg):
    """lifetimes' BetaGeoFitter carrying clvlab's estimates (no lifetimes fit)."""
    lifetimes = pytest.importorskip("lifetimes")
    model = lifetimes.BetaGeoFitter()
    model.params_ = pd.Series(bg.params_.to_dict())
    return model


# --------------------------------------------------------------------------------------
# metric functions on arrays
# --------------------------------------------------------------------------------------
def test_error_metrics_hand_computed():
    """MAE, RMSE, bias and aggregate % error match values worked out by hand."""
    actual = [0.0, 2.0, 4.0]
    predicted = [1.0, 1.0, 7.0]  # errors +1, -1, +3
    np.testing.assert_allclose(ev.mean_absolute_error(actual, predicted), 5 / 3, rtol=1e-15)
    np.testing.assert_allclose(ev.root_mean_squared_error(actual, predicted), np.sqrt(11 / 3),
                               rtol=1e-15)
    np.testing.assert_allclose(ev.mean_bias(actual, predicted), 1.0, rtol=1e-15)
    np.testing.assert_allclose(ev.aggregate_percent_error(actual, predicted), 50.0, rtol=1e-15)


def test_correlations_match_scipy(rng):
    """Pearson and Spearman (with ties) equal scipy.stats on the same data (rtol 1e-12)."""
    actual = rng.poisson(1.0, size=500).astype(float)  # many ties
    predicted = actual + rng.normal(0, 1, size=500)
    np.testing.assert_allclose(ev.pearson_correlation(actual, predicted),
                               stats.pearsonr(actual, predicted)[0], rtol=1e-12)
    np.testing.assert_allclose(ev.spearman_correlation(actual, predicted),
                               stats.spearmanr(actual, predicted)[0], rtol=1e-12)


def test_correlation_undefined_is_nan_without_warning():
    """A constant input gives NaN correlations and no RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(ev.pearson_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
        assert np.isnan(ev.spearman_correlation([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
        assert np.isnan(ev.aggregate_percent_error([0.0, 0.0], [1.0, 2.0]))


def test_top_decile_capture_hand_computed():
    """The top 10% of 10 customers is the single best-ranked one: its share of the total."""
    actual = np.array([50.0, 0, 0, 0, 0, 0, 0, 0, 0, 50.0])
    predicted = np.arange(10, 0, -1, dtype=float)  # customer 0 ranked first
    assert ev.top_decile_capture(actual, predicted) == pytest.approx(0.5, rel=1e-15)
    assert ev.top_decile_capture(actual, -predicted) == pytest.approx(0.5, rel=1e-15)
    assert ev.top_decile_capture(actual, predicted, share=0.2) == pytest.approx(0.5, rel=1e-15)


def test_top_decile_capture_ties_are_pro_rata():
    """Ties at the cut share the selection evenly; a constant score captures exactly 10%."""
    actual = np.array([10.0, 0.0, 30.0, 60.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert ev.top_decile_capture(actual, np.ones(10)) == pytest.approx(0.10, rel=1e-12)
    # customers 0 and 2 tie at the top: 1 slot shared -> (10 + 30) / 2 / 100
    score = np.array([5.0, 1, 5.0, 1, 1, 1, 1, 1, 1, 1])
    assert ev.top_decile_capture(actual, score) == pytest.approx(0.20, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e4), st.floats(-1e3, 1e3)), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_top_decile_capture_properties(pairs, rnd):
    """Capture is in [0, 1], order-independent, and never beats the perfect ranking."""
    actual = np.array([p[0] for p in pairs])
    score = np.array([p[1] for p in pairs])
    if actual.sum() == 0:
        assert np.isnan(ev.top_decile_capture(actual, score))
        return
    value = ev.top_decile_capture(actual, score)
    assert -1e-12 <= value <= 1 + 1e-12
    perm = list(range(len(pairs)))
    rnd.shuffle(perm)
    np.testing.assert_allclose(ev.top_decile_capture(actual[perm], score[perm]), value,
                               rtol=1e-9, atol=1e-12)
    assert value <= ev.top_decile_capture(actual, actual) + 1e-9


def test_metric_input_errors_name_the_problem():
    """Unequal lengths and NaN raise InvalidValueError (a ValueError) saying what and where."""
    with pytest.raises(InvalidValueError, match="same length; got 2 and 3"):
        ev.mean_absolute_error([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match=r"predicted must be finite; 1 values .*positions 1"):
        ev.regression_metrics([1, 2, 3], [1, np.nan, 3])
    with pytest.raises(ValueError, match="share must be in"):
        ev.top_decile_capture([1.0], [1.0], share=0)


# --------------------------------------------------------------------------------------
# bins, deciles, χ²
# --------------------------------------------------------------------------------------
def test_frequency_bins_and_conditional_expectations_match_groupby(rng):
    """Bins are 0..6, 7+; bin means equal a pandas groupby of the same data."""
    freq = rng.poisson(2.0, size=1000).astype(float)
    actual = rng.poisson(1.0, size=1000).astype(float)
    pred = rng.gamma(1.0, size=1000)
    bins = ev.frequency_bins(freq, 7)
    assert list(bins.categories) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    table = ev.conditional_expectations(bins, actual, {"predicted_purchases": pred})
    ref = pd.DataFrame({"b": np.minimum(freq, 7), "a": actual, "p": pred}).groupby("b").mean()
    present = table["n_customers"].to_numpy() > 0
    np.testing.assert_allclose(table.loc[present, "actual_purchases"], ref["a"], rtol=1e-12)
    np.testing.assert_allclose(table.loc[present, "predicted_purchases"], ref["p"], rtol=1e-12)
    assert table["n_customers"].sum() == 1000


def test_recency_bins_put_one_time_buyers_apart():
    """Frequency-0 customers go to 'no repeat'; repeat buyers to equal-width recency bins."""
    bins = ev.recency_bins([0, 1, 2, 3], [0.0, 1.0, 5.0, 10.0], n_bins=2, upper=10.0)
    assert list(bins.categories) == ["no repeat", "[0, 5)", "[5, 10]"]
    assert list(bins) == ["no repeat", "[0, 5)", "[5, 10]", "[5, 10]"]


def test_decile_table_partitions_customers(rng):
    """Deciles hold every customer once, sizes differ by <= 1, decile 1 predicts highest."""
    pred = rng.gamma(0.5, 10, size=1003)
    actual = pred * rng.gamma(2, 0.5, size=1003)
    table = ev.decile_table(actual, pred)
    assert table["n_customers"].sum() == 1003
    assert table["n_customers"].max() - table["n_customers"].min() <= 1
    np.testing.assert_allclose(table["actual_total"].sum(), actual.sum(), rtol=1e-12)
    np.testing.assert_allclose(table["actual_share"].sum(), 1.0, rtol=1e-12)
    assert np.all(np.diff(table["predicted_mean"].to_numpy()) <= 0)


def test_chi_square_matches_scipy():
    """Statistic and p-value equal scipy.stats.chisquare with ddof = fitted parameters."""
    hist = pd.DataFrame({"observed": [50, 30, 15, 5, 10, 10],
                         "expected": [48.0, 33.0, 14.0, 6.0, 9.0, 10.0]})
    result = ev.chi_square_test(hist, n_params=2)
    ref = stats.chisquare(hist["observed"], hist["expected"], ddof=2)
    np.testing.assert_allclose(result.statistic, ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(result.p_value, ref.pvalue, rtol=1e-12)
    assert result.dof == 3
    np.testing.assert_allclose(result.table["contribution"].sum(), result.statistic, rtol=1e-12)


def test_chi_square_warns_on_sparse_bins_and_rejects_too_few():
    """Expected counts below 5 give a ModelWarning; too few bins a clear ValueError."""
    hist = pd.DataFrame({"observed": [50, 30, 15, 3, 2, 1],
                         "expected": [48.0, 33.0, 14.0, 3.0, 2.0, 1.0]})
    with pytest.warns(ModelWarning, match="3 frequency bins expect fewer than 5"):
        ev.chi_square_test(hist, n_params=1)
    with pytest.raises(ValueError, match="more bins than fitted parameters"):
        ev.chi_square_test(hist.iloc[:4], n_params=4)


# --------------------------------------------------------------------------------------
# FHL 2005 on CDNOW
# --------------------------------------------------------------------------------------
def test_cdnow_correlation_predicted_vs_actual_holdout(evaluation):
    """Correlation of predicted and actual holdout purchases is 0.626 (FHL 2005), rtol 1e-3."""
    r = evaluation.metrics.loc["BG/NBD", "purchases_pearson"]
    np.testing.assert_allclose(r, 0.626, rtol=1e-3)


def test_cdnow_conditional_expectations_by_frequency(evaluation, cdnow_tx, lifetimes_bg):
    """FHL 2005 Figure 3: actual and predicted mean holdout purchases for x = 0..6, 7+.

    Figure 3 is a chart without a table, so its series are reproduced independently in the
    same test: actual means from lifetimes' calibration_and_holdout_data (exact), predicted
    from lifetimes' conditional expectations at the same parameters (rtol 1e-6). The
    printed actual means are the data's (the figure's solid line): 0.237 for x = 0 up to
    6.36 for 7+.
    """
    from lifetimes.utils import calibration_and_holdout_data

    ch = calibration_and_holdout_data(cdnow_tx, "customer_id", "date",
                                      calibration_period_end=CAL_END,
                                      observation_period_end=OBS_END,
                                      freq="D", freq_multiplier=7, monetary_value_col="amount")
    pred = lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(
        39, ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
    ref = pd.DataFrame({"b": np.minimum(ch["frequency_cal"], 7),
                        "actual": ch["frequency_holdout"], "pred": pred}).groupby("b")
    table = evaluation.by_frequency
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    np.testing.assert_array_equal(table["n_customers"], ref.size().to_numpy())
    np.testing.assert_allclose(table["actual_purchases"], ref["actual"].mean(), rtol=1e-12)
    np.testing.assert_allclose(table["predicted_purchases"], ref["pred"].mean(), rtol=1e-6)
    np.testing.assert_allclose(
        table["actual_purchases"],
        [0.2367, 0.6970, 1.3925, 1.5600, 2.5323, 2.9474, 3.8621, 6.3594], atol=5e-5)


def test_cdnow_cumulative_tracking_week_78(evaluation, cdnow_tx, lifetimes_bg):
    """Week 78: actual 4,339 repeat transactions, the model about 4% under (FHL 2005).

    Every week also equals lifetimes' expected_cumulative_transactions (daily dates,
    freq_multiplier=7) run in the same test: actual exactly, expected to rtol 1e-6.
    """
    from lifetimes.utils import expected_cumulative_transactions

    track = evaluation.tracking
    assert len(track) == 78
    last = track.iloc[-1]
    assert last["actual_cumulative"] == 4339
    np.testing.assert_allclose(last["expected_cumulative"] / 4339 - 1, -0.04, atol=0.005)
    ref = expected_cumulative_transactions(lifetimes_bg, cdnow_tx, "date", "customer_id",
                                           78 * 7, freq="D", freq_multiplier=7)
    np.testing.assert_array_equal(track["actual_cumulative"], ref["actual"].to_numpy())
    np.testing.assert_allclose(track["expected_cumulative"], ref["predicted"], rtol=1e-6)


def test_cdnow_tracking_boundary_and_split_totals(evaluation, cdnow_split):
    """Calibration ends at week 39 with sum(frequency) repeat purchases; increments add up."""
    track = evaluation.tracking
    assert track.attrs["calibration_boundary"] == pytest.approx(39.0, abs=1e-12)
    assert track["in_holdout"].sum() == 39
    at_39 = track.loc[39, "actual_cumulative"]
    assert at_39 == cdnow_split["frequency"].sum() == 2457
    np.testing.assert_array_equal(track["actual_incremental"].cumsum(), track["actual_cumulative"])
    np.testing.assert_allclose(track["expected_incremental"].cumsum(),
                               track["expected_cumulative"], rtol=1e-12)
    assert track.loc[78, "date_end"] == pd.Timestamp(OBS_END)
    assert track.loc[39, "date_end"] == pd.Timestamp(CAL_END)


def test_cdnow_chi_square_expected_counts_match_lifetimes(evaluation, cdnow_split, lifetimes_bg):
    """Expected histogram = sum over customers of P(X(T_i) = x), as lifetimes gives (rtol 1e-6)."""
    t_unique, count = np.unique(cdnow_split["T"].to_numpy(), return_counts=True)
    expected = [sum(c * float(lifetimes_bg.probability_of_n_purchases_up_to_time(t, x))
                    for t, c in zip(t_unique, count, strict=True)) for x in range(7)]
    table = evaluation.chi_square.table
    np.testing.assert_allclose(table["expected"].iloc[:7], expected, rtol=1e-6)
    np.testing.assert_allclose(table["expected"].sum(), 2357, rtol=1e-12)
    assert table["observed"].sum() == 2357
    assert table.loc["0", "observed"] == 1411
    assert evaluation.chi_square.dof == 3
    assert 0.0 < evaluation.chi_square.p_value <= 1.0


def test_cdnow_metrics_table_rows_and_consistency(evaluation, cdnow_split):
    """One row per model; totals and metrics agree with the per-customer frame."""
    m = evaluation.metrics
    assert list(m.index) == ["BG/NBD", "BG/NBD + Gamma-Gamma"]
    for col in ("purchases_mae", "purchases_rmse", "purchases_bias", "purchases_pearson",
                "purchases_spearman", "purchases_aggregate_pct_error", "value_mae",
                "value_rmse", "value_bias", "value_pearson", "value_spearman",
                "value_aggregate_pct_error", "top_decile_capture"):
        assert col in m.columns
    assert np.isnan(m.loc["BG/NBD", "value_mae"])
    cust = evaluation.customers
    row = m.loc["BG/NBD + Gamma-Gamma"]
    np.testing.assert_allclose(row["actual_total_value"], cdnow_split["total_spend_holdout"].sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(row["predicted_total_value"], cust["predicted_value"].sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(
        row["value_mae"], np.mean(np.abs(cust["predicted_value"] - cust["actual_value"])),
        rtol=1e-12)
    np.testing.assert_allclose(
        cust["predicted_value"], cust["predicted_purchases"] * cust["predicted_spend"], rtol=1e-12)
    assert row["actual_total_purchases"] == 1882
    assert 0.1 < row["top_decile_capture"] < 1.0
    # the deciles' top group is the same selection as the top-decile capture (no ties there)
    top = evaluation.deciles.query("model == 'BG/NBD + Gamma-Gamma' and decile == 1")
    np.testing.assert_allclose(top["actual_share"].iloc[0], row["top_decile_capture"], atol=2e-3)


def test_evaluation_views_are_serialisable(evaluation):
    """summary() names the key figures; to_dict() is strict JSON; HTML has the table."""
    text = evaluation.summary()
    assert "39 weeks" in text and "4,339" in text and "BG/NBD + Gamma-Gamma" in text
    payload = json.dumps(evaluation.to_dict(), allow_nan=False)
    back = json.loads(payload)
    assert back["time_unit"] == "W" and len(back["tracking"]) == 78
    assert "<table" in evaluation._repr_html_()


def test_evaluate_without_transactions_skips_tracking(cdnow_split, bg):
    """Without a transaction log, tracking is None and a note says why."""
    result = ev.evaluate(cdnow_split, bg)
    assert result.tracking is None
    assert any("transactions=" in n for n in result.notes)
    assert list(result.metrics.index) == ["BG/NBD"]


def test_evaluate_does_not_modify_inputs(cdnow_split, bg, gg, cdnow_tx):
    """evaluate leaves the split and the log unchanged."""
    split = cdnow_split.copy()
    tx = cdnow_tx.copy()
    ev.evaluate(split, bg, gg, transactions=tx)
    pd.testing.assert_frame_equal(split, cdnow_split)
    pd.testing.assert_frame_equal(tx, cdnow_tx)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------
def test_evaluate_requires_holdout_columns(cdnow_split, bg):
    """A plain RFM summary (no holdout columns) is rejected with the missing column named."""
    with pytest.raises(MissingColumnsError, match="frequency_holdout"):
        ev.evaluate(cdnow_split.drop(columns=["frequency_holdout"]), bg)


def test_evaluate_rejects_time_unit_mismatch(cdnow_split, bg):
    """A model fitted in weeks cannot score a split in days."""
    split = cdnow_split.copy()
    split.attrs = {**cdnow_split.attrs, "time_unit": "D"}
    with pytest.raises(InvalidValueError,
                       match="fitted with time_unit 'W' but the split is in 'D'"):
        ev.evaluate(split, bg)


def test_evaluate_rejects_a_different_transaction_log(cdnow_split, cdnow_tx, bg):
    """A log that does not give the split's counts is an error, not a wrong tracking plot."""
    holdout_rows = cdnow_tx.index[cdnow_tx["date"] > pd.Timestamp(CAL_END)][:50]
    tx = cdnow_tx.drop(index=holdout_rows)
    with pytest.raises(InvalidValueError, match="repeat purchases where the split counts"):
        ev.evaluate(cdnow_split, bg, transactions=tx)
    other = cdnow_tx[cdnow_tx["customer_id"] != "1"]
    with pytest.raises(InvalidValueError, match="no purchase for 1 customers.*'1'"):
        ev.evaluate(cdnow_split, bg, transactions=other)


def test_evaluate_counts_left_out_transactions(cdnow_split, cdnow_tx, bg):
    """Transactions of customers outside the split are left out with a counted warning."""
    extra = pd.DataFrame({"customer_id": ["new"] * 2,
                          "date": pd.to_datetime(["1997-11-01", "1997-12-01"]),
                          "amount": [10.0, 20.0], "quantity": [1, 1]})
    tx = pd.concat([cdnow_tx, extra], ignore_index=True)
    with pytest.warns(DataQualityWarning, match=r"2 of 6,921 transactions left out \(2 by 1 "
                      r"customer\(s\) first seen after calibration_end, not in the split\)"):
        result = ev.evaluate(cdnow_split, bg, transactions=tx)
    assert result.tracking["actual_cumulative"].iloc[-1] == 4339


def test_evaluate_warns_when_horizon_differs(cdnow_split, bg):
    """A horizon other than the holdout length is allowed but flagged."""
    with pytest.warns(ClvlabWarning, match="differs from the holdout length"):
        result = ev.evaluate(cdnow_split, bg, horizon=52)
    assert result.horizon == 52
    with pytest.raises(ValueError, match="horizon must be a finite number > 0"):
        ev.evaluate(cdnow_split, bg, horizon=-1)


def test_evaluate_warnings_point_at_the_callers_line(cdnow_split, bg, gg):
    """A repeat buyer without spend is warned about once, at this file's line."""
    split = cdnow_split.copy()
    repeat = split.index[split["frequency"] > 0][0]
    split.loc[repeat, "monetary_value"] = 0.0
    with pytest.warns(DataQualityWarning, match="monetary_value 0") as record:
        ev.evaluate(split, bg, gg, discount_rate=0.002)  # expected_spend, then the CLV
    spend_warnings = [w for w in record if "monetary_value 0" in str(w.message)]
    assert len(spend_warnings) == 1
    assert spend_warnings[0].filename == __file__


def test_evaluate_validates_margin_and_discount(cdnow_split, bg):
    """margin and discount_rate out of range raise ValueError naming the argument (the
    shared rules of clvlab._checks: margin a share in (0, 1], a rate >= 0 per week)."""
    with pytest.raises(ValueError, match="margin must be a share of spend with 0 < margin <= 1"):
        ev.evaluate(cdnow_split, bg, margin=0)
    with pytest.raises(ValueError, match=r"did you mean 0\.30\?"):
        ev.evaluate(cdnow_split, bg, margin=30)
    with pytest.raises(ValueError, match=r"discount_rate must be a finite number >= 0 \(a "
                                         r"discount rate per week\)"):
        ev.evaluate(cdnow_split, bg, discount_rate=-0.1)


def test_evaluate_scores_the_formula_baseline(cdnow_split, bg, gg, cdnow_tx):
    """The baseline gets its own row, scored on its own purchases and value predictions."""
    base = clvlab.FormulaCLVBaseline().fit(cdnow_split)
    result = ev.evaluate(cdnow_split, bg, gg, base, transactions=cdnow_tx)
    assert list(result.metrics.index) == ["BG/NBD", "BG/NBD + Gamma-Gamma", "Formula CLV baseline"]
    ref = base.predict(cdnow_split, horizon=39, components=True)
    cust = result.customers
    np.testing.assert_allclose(cust["baseline_value"], ref["clv_baseline"], rtol=1e-12)
    np.testing.assert_allclose(cust["baseline_purchases"], ref["expected_purchases"], rtol=1e-12)
    row = result.metrics.loc["Formula CLV baseline"]
    np.testing.assert_allclose(
        row["value_rmse"],
        np.sqrt(np.mean((cust["baseline_value"] - cust["actual_value"]) ** 2)), rtol=1e-12)
    assert "baseline_purchases" in result.by_frequency.columns
    # the formula gives one-time buyers no future purchases at all
    assert result.by_frequency.loc["0", "baseline_purchases"] == 0.0


def test_evaluate_applies_margin_to_actual_and_predicted(cdnow_split, bg, gg):
    """margin scales actual and predicted value alike, so % errors and ranks do not change."""
    one = ev.evaluate(cdnow_split, bg, gg)
    half = ev.evaluate(cdnow_split, bg, gg, margin=0.5)
    row1, row2 = one.metrics.iloc[1], half.metrics.iloc[1]
    np.testing.assert_allclose(row2["value_mae"], 0.5 * row1["value_mae"], rtol=1e-12)
    np.testing.assert_allclose(row2["value_aggregate_pct_error"],
                               row1["value_aggregate_pct_error"], rtol=1e-12)
    np.testing.assert_allclose(row2["top_decile_capture"], row1["top_decile_capture"], rtol=1e-12)


def test_evaluate_discounted_value_is_lower(cdnow_split, bg, gg):
    """With a positive discount rate predicted value uses customer_lifetime_value and drops."""
    plain = ev.evaluate(cdnow_split, bg, gg)
    disc = ev.evaluate(cdnow_split, bg, gg, discount_rate=0.01)
    ref = clvlab.customer_lifetime_value(bg, gg, cdnow_split, horizon=39, discount_rate=0.01)
    np.testing.assert_allclose(disc.customers["predicted_value"], ref, rtol=1e-12)
    assert (disc.customers["predicted_value"] < plain.customers["predicted_value"]).all()


def test_tracking_warning_points_at_the_caller(cdnow_split, cdnow_tx, bg):
    """The left-out-transactions warning is attributed to the user's line, not clvlab's."""
    extra = pd.DataFrame({"customer_id": ["new"], "date": pd.to_datetime(["1997-11-01"]),
                          "amount": [10.0], "quantity": [1]})
    tx = pd.concat([cdnow_tx, extra], ignore_index=True)
    with pytest.warns(DataQualityWarning) as record:
        ev.actual_tracking(tx, cdnow_split)
    assert record[0].filename == __file__
    with pytest.warns(DataQualityWarning) as record:
        ev.evaluate(cdnow_split, bg, transactions=tx)
    assert record[0].filename == __file__


def test_evaluate_requires_split_attrs(cdnow_split, bg, cdnow_tx):
    """A split without time unit or dates in attrs is rejected with what to do."""
    bare = cdnow_split.copy()
    bare.attrs = {}
    with pytest.raises(InvalidValueError, match="no time unit"):
        ev.evaluate(bare, bg)
    partial = cdnow_split.copy()
    partial.attrs = {"time_unit": "W"}
    with pytest.raises(InvalidValueError, match="calibration_end or observation_end"):
        ev.evaluate(partial, bg, transactions=cdnow_tx)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.floats(0, 50), st.floats(0, 50)),
             min_size=1, max_size=80),
    st.integers(1, 10),
)
def test_binned_means_and_deciles_preserve_totals(rows, max_frequency):
    """Bins and deciles partition the customers: counts and totals are preserved exactly."""
    freq = np.array([r[0] for r in rows], dtype=float)
    actual = np.array([r[1] for r in rows])
    pred = np.array([r[2] for r in rows])
    table = ev.conditional_expectations(ev.frequency_bins(freq, max_frequency), actual,
                                        {"predicted_purchases": pred})
    n = table["n_customers"].to_numpy()
    assert n.sum() == len(rows) and len(table) == max_frequency + 1
    filled = n > 0
    np.testing.assert_allclose((table["actual_purchases"][filled] * n[filled]).sum(),
                               actual.sum(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose((table["predicted_purchases"][filled] * n[filled]).sum(),
                               pred.sum(), rtol=1e-9, atol=1e-9)
    deciles = ev.decile_table(actual, pred)
    assert deciles["n_customers"].sum() == len(rows)
    np.testing.assert_allclose(deciles["predicted_total"].sum(), pred.sum(), rtol=1e-9,
                               atol=1e-9)


def test_evaluation_repr_is_short(evaluation):
    """repr names models, size and horizon without dumping the tables."""
    text = repr(evaluation)
    assert text.startswith("Evaluation(models=[BG/NBD, BG/NBD + Gamma-Gamma]")
    assert "customers=2357" in text and "horizon=39 weeks" in text and len(text) < 200


# --------------------------------------------------------------------------------------
# log predictive score and skipped diagnostics
# --------------------------------------------------------------------------------------
def test_log_score_is_the_sum_of_each_customers_log_probability(cdnow_split, bg, evaluation):
    """log_predictive_score per customer = log P(X = observed | history) (rtol 1e-12)."""
    scores = ev.log_predictive_score(bg, cdnow_split)
    sub = cdnow_split.iloc[::97]
    for cid, row in sub.iterrows():
        one = cdnow_split.loc[[cid]]
        p = bg.conditional_probability_of_purchases(one, n=int(row["frequency_holdout"]), t=39.0)
        np.testing.assert_allclose(scores[cid], np.log(p.iloc[0]), rtol=1e-12)
    np.testing.assert_allclose(evaluation.log_score, scores.sum(), rtol=1e-12)
    assert np.all(scores <= 0)


def test_log_score_floors_underflow_with_a_warning(cdnow_split):
    """A count the model finds impossible (probability 0.0) counts as log(tiny), warned."""
    import stand_in_models

    nbd = stand_in_models.NBDFitter().fit(cdnow_split)
    odd = cdnow_split.iloc[:3].copy()
    odd.attrs = dict(cdnow_split.attrs)
    odd.iloc[0, odd.columns.get_loc("frequency_holdout")] = 100_000.0
    with pytest.warns(ModelWarning, match="1 customers' probability of their holdout count"):
        scores = ev.log_predictive_score(nbd, odd)
    assert scores.iloc[0] == np.log(np.finfo(float).tiny)
    assert np.all(np.isfinite(scores))


def test_log_score_is_the_sum_to_the_bit(cdnow_split, bg, evaluation):
    """evaluate's log score == the per-customer log scores summed, to the bit."""
    assert evaluation.log_score == float(ev.log_predictive_score(bg, cdnow_split).sum())


def test_log_score_reports_underflow_and_errors(cdnow_split):
    """The floored count becomes a note; a non-finite probability is a clear error."""
    import stand_in_models

    nbd = stand_in_models.NBDFitter().fit(cdnow_split)
    odd = cdnow_split.iloc[:3].copy()
    odd.attrs = dict(cdnow_split.attrs)
    odd.iloc[0, odd.columns.get_loc("frequency_holdout")] = 100_000.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)  # the χ² of 3 customers
        result = ev.evaluate(odd, nbd)
    assert any(n.startswith("log predictive score: 1 customers'") for n in result.notes)
    with pytest.warns(ModelWarning, match="1 customers' probability"):
        alone = ev.log_predictive_score(nbd, odd)
    assert result.log_score == float(alone.sum())

    class NaNPmf(stand_in_models.NBDFitter):
        def _log_pmf_conditional(self, params, counts, t, x, tx, T):
            return np.full(np.shape(x), np.nan)

    broken = NaNPmf().fit(cdnow_split)
    with pytest.raises(InvalidValueError, match="conditional_probability_of_purchases is not"):
        ev.evaluate(cdnow_split, broken)


def test_notes_keep_their_order_while_the_sorts_run(cdnow_split, gg):
    """Capture, χ², log score, tracking: the notes come in the order of the sections."""
    import stand_in_models

    bare = stand_in_models.BareNBDFitter().fit(cdnow_split)
    result = ev.evaluate(cdnow_split, bare, gg)
    assert [n.split(" ")[0] for n in result.notes] == [
        "top_decile_capture", "NBD", "NBD", "tracking:"]
    assert "χ² test" in result.notes[1] and "log predictive score" in result.notes[2]


def test_diagnostics_the_model_lacks_are_skipped_with_notes(cdnow_split, cdnow_tx):
    """A purchase model without the count distributions: no χ², no log score, two notes."""
    import stand_in_models

    bare = stand_in_models.BareNBDFitter().fit(cdnow_split)
    result = ev.evaluate(cdnow_split, bare, transactions=cdnow_tx)
    assert result.chi_square is None and result.log_score is None
    skipped = [n for n in result.notes if "is left out" in n]
    assert len(skipped) == 2 and all(n.startswith("NBD (bare) does not provide") for n in skipped)
    with pytest.raises(NotImplementedError, match="the log predictive score is left out"):
        ev.log_predictive_score(bare, cdnow_split)
    with pytest.raises(NotImplementedError, match="the frequency histogram is left out"):
        ev.frequency_histogram(bare, cdnow_split)


def test_customers_keep_the_calibration_spend(cdnow_split, evaluation):
    """Evaluation.customers carries monetary_value (the holdout check of ranges needs it)."""
    np.testing.assert_array_equal(evaluation.customers["monetary_value"],
                                  cdnow_split["monetary_value"].to_numpy())
    assert list(evaluation.customers.columns[:4]) == ["frequency", "recency", "T",
                                                      "monetary_value"]


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25, 7.0]) | st.floats(0, 100),
                min_size=0, max_size=60))
@settings(max_examples=60, deadline=None)
def test_average_ranks_equal_scipy_rankdata(values):
    """The argsort-based average ranks are scipy's rankdata(method='average'), exactly."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    np.testing.assert_array_equal(ev._average_ranks(v), stats.rankdata(v))


def test_distinct_histories_equal_numpy_unique():
    """Hashed distinct rows come out as np.unique(axis=0): same rows, order and inverse."""
    rng = np.random.default_rng(7)
    cols = (rng.integers(0, 5, 3000).astype(float), rng.integers(0, 4, 3000) * 0.5,
            rng.integers(30, 33, 3000) / 7.0, rng.integers(0, 3, 3000).astype(float))
    uniq, inverse = ev._distinct_histories(cols)
    ref, ref_inv = np.unique(np.column_stack(cols), axis=0, return_inverse=True)
    np.testing.assert_array_equal(uniq, ref)
    np.testing.assert_array_equal(inverse, ref_inv.reshape(-1))


def test_compare_models_evaluations_equal_single_evaluate(cdnow_split, bg, gg):
    """compare_models' shared work gives each model exactly what evaluate gives alone."""
    from clvlab.models.pareto_nbd import ParetoNBDFitter

    pnbd = ParetoNBDFitter().fit(cdnow_split)
    cmp = clvlab.compare_models(cdnow_split, {"bg": bg, "pnbd": pnbd}, gg)
    for key, model in (("bg", bg), ("pnbd", pnbd)):
        alone = ev.evaluate(cdnow_split, model, gg)
        got = cmp.evaluations[key]
        pd.testing.assert_frame_equal(got.metrics, alone.metrics, check_exact=True)
        pd.testing.assert_frame_equal(got.deciles, alone.deciles, check_exact=True)
        assert got.log_score == alone.log_score


def test_tracking_from_distinct_first_ages_is_bit_identical(bg, rng):
    """Tracking from distinct first-purchase ages and counts equals the per-customer sum exactly."""
    from clvlab.evaluation import _expected_cumulative, _Memo

    ages = rng.choice(np.arange(84) / 7.0, size=5_000)
    times = np.arange(1.0, 79.0)
    per_customer = np.asarray(bg.expected_cumulative_purchases(ages, times), dtype=float)
    memo = _Memo()
    got = _expected_cumulative(bg, ages, times, memo)
    np.testing.assert_array_equal(got, per_customer)
    np.testing.assert_array_equal(_expected_cumulative(bg, ages, times, memo), per_customer)


@given(st.lists(st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.0, 7.0]) | st.floats(-50, 50),
                min_size=0, max_size=80))
@settings(max_examples=80, deadline=None)
def test_ranks_and_descending_from_one_sort_equal_the_two_sorts(values):
    """One argsort gives rankdata's average ranks and the stable descending order exactly."""
    v = np.asarray(values, dtype=float)
    ranks, order = ev._ranks_and_descending(v)
    np.testing.assert_array_equal(ranks, stats.rankdata(v) if v.size else np.zeros(0))
    np.testing.assert_array_equal(order, np.argsort(-v, kind="stable"))
    only_ranks, none = ev._ranks_and_descending(v, descending=False)
    assert none is None
    np.testing.assert_array_equal(only_ranks, ranks)


def test_same_text_ids_compares_values_in_order():
    """Equal Arrow text indexes are found equal; any difference, order or length is not."""
    a = pd.Index([f"c{i}" for i in range(600_000)], dtype="str")
    b = pd.Index(list(a), dtype="str")
    assert ev._same_text_ids(a, b)
    c = list(a)
    c[-1] = "other"  # a difference in the last slice
    assert not ev._same_text_ids(a, pd.Index(c, dtype="str"))
    assert not ev._same_text_ids(a, b[:-1])
    assert not ev._same_text_ids(a[:5], b[:5][::-1])
    assert not ev._same_text_ids(pd.Index([1, 2]), pd.Index([1, 2]))  # not text: look up


def test_sorted_by_matches_lexsort_being_the_identity(rng):
    """_sorted_by says True exactly when np.lexsort((day, key)) leaves the rows in place."""
    for _ in range(200):
        n = int(rng.integers(0, 8))
        key = np.sort(rng.integers(0, 3, n)) if rng.random() < 0.7 else rng.integers(0, 3, n)
        day = rng.integers(0, 3, n)
        expected = bool(np.array_equal(np.lexsort((day, key)), np.arange(n)))
        assert ev._sorted_by(key, day) is expected


def test_actual_tracking_same_for_sorted_and_shuffled_logs(cdnow_tx, cdnow_split):
    """Sorted log (no sort, no id lookup) and a shuffled one (lexsort, lookup) agree exactly."""
    sorted_tx = cdnow_tx.sort_values(["customer_id", "date"], kind="stable")
    shuffled = cdnow_tx.sample(frac=1.0, random_state=3)
    a = ev.actual_tracking(sorted_tx, cdnow_split)
    b = ev.actual_tracking(shuffled, cdnow_split)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # a split with fewer customers than the log: ids looked up, rows left out (warned)
    part = cdnow_split.iloc[::2].copy()
    part.attrs = dict(cdnow_split.attrs)
    with pytest.warns(DataQualityWarning, match="left out"):
        c = ev.actual_tracking(sorted_tx, part)
    assert int(c["actual_cumulative"].iloc[-1]) == int(
        part["frequency"].sum() + part["frequency_holdout"].sum())


def test_compare_models_with_baseline_and_log_equal_single_evaluate(cdnow_split, cdnow_tx, bg,
                                                                    gg):
    """Shared spend, baseline and tracking work: each evaluation equals evaluate() alone."""
    from clvlab.models.pareto_nbd import ParetoNBDFitter

    base = clvlab.FormulaCLVBaseline().fit(cdnow_split)
    pnbd = ParetoNBDFitter().fit(cdnow_split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = clvlab.compare_models(cdnow_split, {"bg": bg, "pnbd": pnbd}, gg, base, cdnow_tx)
        for key, model in (("bg", bg), ("pnbd", pnbd)):
            alone = ev.evaluate(cdnow_split, model, gg, base, transactions=cdnow_tx)
            got = cmp.evaluations[key]
            for name in ("metrics", "deciles", "by_frequency", "by_recency", "tracking",
                         "customers"):
                pd.testing.assert_frame_equal(getattr(got, name), getattr(alone, name),
                                              check_exact=True)
            assert got.log_score == alone.log_score
            assert got.notes == alone.notes


def test_comparison_drop_customers_keeps_the_chosen_table(cdnow_split, cdnow_tx, bg, gg):
    """_drop_customers empties every other model's customers; tables and tracking stay."""
    from clvlab.models.pareto_nbd import ParetoNBDFitter

    pnbd = ParetoNBDFitter().fit(cdnow_split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = clvlab.compare_models(cdnow_split, {"bg": bg, "pnbd": pnbd}, gg,
                                    transactions=cdnow_tx)
    before = dict(cmp.evaluations)
    cmp._drop_customers(keep="bg")
    assert cmp.evaluations["bg"] is before["bg"]
    slim = cmp.evaluations["pnbd"]
    assert len(slim.customers) == 0
    assert list(slim.customers.columns) == list(before["pnbd"].customers.columns)
    assert len(before["pnbd"].customers) == len(cdnow_split)  # the original is not changed
    pd.testing.assert_frame_equal(slim.tracking, before["pnbd"].tracking)
    pd.testing.assert_frame_equal(slim.metrics, before["pnbd"].metrics)


def test_memo_has_finds_equal_arrays_of_the_same_kind_only():
    """_Memo.has answers for equal arrays of the kind stored, without computing anything."""
    from clvlab.evaluation import _Memo

    memo = _Memo()
    a = np.array([3.0, 1.0, 2.0])
    assert not memo.has("ranks", (a,))
    assert memo.get("ranks", (a,), lambda: "first") == "first"
    assert memo.has("ranks", (a.copy(),))  # equal, not the same object
    assert not memo.has("ranks+descending", (a,))
    assert not memo.has("ranks", (np.array([3.0, 1.0, 2.5]),))
    assert memo.get("ranks", (a.copy(),), lambda: "second") == "first"
