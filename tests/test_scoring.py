"""Tests of clvlab.scoring: the per-customer scoring table and the segments."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvlab
from clvlab.exceptions import InvalidValueError, MissingColumnsError, NotFittedError
from clvlab.scoring import (
    SCORE_COLUMNS,
    SEGMENTS,
    assign_segments,
    score_customers,
    segment_summary,
)

HORIZON = 52.0
RATE = 1.1 ** (7 / 365.2425) - 1  # 10% a year, per week


@pytest.fixture(scope="module")
def fitted():
    """CDNOW sample: models fitted on the FHL calibration period; RFM of the whole window."""
    tx = clvlab.datasets.load_cdnow(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
        bg = clvlab.BetaGeoFitter().fit(split)
        gg = clvlab.GammaGammaFitter().fit(split)
        base = clvlab.FormulaCLVBaseline().fit(split)
        rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    return rfm, bg, gg, base


@pytest.fixture(scope="module")
def scores(fitted):
    rfm, bg, gg, base = fitted
    return score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=RATE, margin=1.0)


# -- score_customers -----------------------------------------------------------------


def test_columns_and_index(fitted, scores):
    """The table has the documented columns, in order, and one row per RFM customer."""
    rfm = fitted[0]
    assert tuple(scores.columns) == SCORE_COLUMNS
    assert scores.index.equals(rfm.index)
    assert scores.index.name == "customer_id"
    assert len(scores) == 2357


def test_numbers_equal_the_api(fitted, scores):
    """Every column equals the model/API call it documents (same code path, rtol=1e-12)."""
    rfm, bg, gg, base = fitted
    tol = {"rtol": 1e-12}
    np.testing.assert_allclose(scores["probability_alive"], bg.probability_alive(rfm), **tol)
    np.testing.assert_allclose(
        scores["expected_purchases"], bg.expected_purchases(rfm, HORIZON), **tol
    )
    np.testing.assert_allclose(scores["expected_spend"], gg.expected_spend(rfm), **tol)
    clv = clvlab.customer_lifetime_value(bg, gg, rfm, horizon=HORIZON, discount_rate=RATE)
    np.testing.assert_allclose(scores["clv"], clv, **tol)
    np.testing.assert_allclose(
        scores["clv_baseline"], base.predict(rfm, horizon=HORIZON, discount_rate=RATE), **tol
    )
    np.testing.assert_allclose(scores["historical_spend"], rfm["total_spend"], **tol)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(scores[col], rfm[col])


def test_predictions_match_lifetimes(fitted, scores):
    """P(alive), E[purchases] and expected spend equal lifetimes 0.11.3 run in this test
    with the same parameters (rtol=1e-6)."""
    from lifetimes import BetaGeoFitter as LtBG
    from lifetimes import GammaGammaFitter as LtGG

    rfm, bg, gg, _ = fitted
    lt_bg = LtBG()
    lt_bg.params_ = pd.Series(bg.params_.to_dict())
    lt_gg = LtGG()
    lt_gg.params_ = pd.Series(gg.params_.to_dict())
    f, r, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_alive = lt_bg.conditional_probability_alive(f, r, T)
        purchases = lt_bg.conditional_expected_number_of_purchases_up_to_time(HORIZON, f, r, T)
        spend = lt_gg.conditional_expected_average_profit(rfm["frequency"], rfm["monetary_value"])
    np.testing.assert_allclose(scores["probability_alive"], p_alive, rtol=1e-6)
    np.testing.assert_allclose(scores["expected_purchases"], purchases, rtol=1e-6)
    np.testing.assert_allclose(scores["expected_spend"], spend.to_numpy(), rtol=1e-6)


def test_zero_discount_clv_is_purchases_times_spend(fitted):
    """With no discounting, CLV = expected purchases x expected spend x margin."""
    rfm, bg, gg, base = fitted
    s = score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=0.0, margin=0.3)
    np.testing.assert_allclose(
        s["clv"], s["expected_purchases"] * s["expected_spend"] * 0.3, rtol=1e-10
    )


def test_margin_scales_clv_and_baseline(fitted, scores):
    """CLV and baseline CLV are proportional to the margin; spend columns are not."""
    rfm, bg, gg, base = fitted
    half = score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=RATE, margin=0.5)
    np.testing.assert_allclose(half["clv"], 0.5 * scores["clv"], rtol=1e-12)
    np.testing.assert_allclose(half["clv_baseline"], 0.5 * scores["clv_baseline"], rtol=1e-12)
    np.testing.assert_array_equal(half["historical_spend"], scores["historical_spend"])


def test_without_baseline_the_column_is_missing_values(fitted):
    """No baseline model: clv_baseline is NaN, everything else is still computed."""
    rfm, bg, gg, _ = fitted
    s = score_customers(rfm, bg, gg, horizon=HORIZON, discount_rate=RATE)
    assert s["clv_baseline"].isna().all()
    assert np.isfinite(s["clv"]).all()


def test_attrs_record_the_settings(scores):
    """attrs hold horizon, discount rate, margin, time unit and segment thresholds."""
    assert scores.attrs["horizon"] == HORIZON
    assert scores.attrs["discount_rate"] == pytest.approx(RATE, rel=1e-15)
    assert scores.attrs["margin"] == 1.0
    assert scores.attrs["time_unit"] == "W"
    assert set(scores.attrs["segment_thresholds"]) >= {"clv_high", "clv_low", "probability_alive"}


def test_explicit_historical_spend_is_aligned_by_id(fitted):
    """A historical Series is matched to customers by id, not by position."""
    rfm, bg, gg, _ = fitted
    hist = pd.Series(np.arange(len(rfm), dtype=float), index=rfm.index)[::-1]
    s = score_customers(rfm, bg, gg, horizon=HORIZON, discount_rate=RATE, historical=hist)
    np.testing.assert_array_equal(s["historical_spend"], np.arange(len(rfm), dtype=float))


def test_historical_spend_missing_customers_is_an_error(fitted):
    """Historical values that lack customers raise InvalidValueError naming them."""
    rfm, bg, gg, _ = fitted
    hist = pd.Series(1.0, index=rfm.index[1:])
    with pytest.raises(InvalidValueError, match=r"lacks 1 of the customers.*customer_id 1\b"):
        score_customers(rfm, bg, gg, horizon=HORIZON, discount_rate=RATE, historical=hist)


def test_bad_rfm_is_rejected_with_the_column(fitted):
    """RFM rows with recency > T raise InvalidValueError naming the column and customer."""
    rfm, bg, gg, _ = fitted
    bad = rfm.copy()
    bad.iloc[0, bad.columns.get_loc("recency")] = bad["T"].iloc[0] + 5
    with pytest.raises(InvalidValueError, match="recency.*<= T"):
        score_customers(bad, bg, gg, horizon=HORIZON, discount_rate=RATE)


def test_missing_monetary_value_is_reported(fitted):
    """An RFM frame without monetary_value raises MissingColumnsError."""
    rfm, bg, gg, _ = fitted
    with pytest.raises(MissingColumnsError, match="monetary_value"):
        score_customers(rfm.drop(columns="monetary_value"), bg, gg, horizon=52, discount_rate=RATE)


@pytest.mark.parametrize("kw", [{"horizon": -1.0}, {"horizon": float("nan")}, {"margin": 0.0}])
def test_bad_settings_are_value_errors(fitted, kw):
    """Negative or NaN horizons and a zero margin raise ValueError."""
    rfm, bg, gg, _ = fitted
    args = {"horizon": HORIZON, "discount_rate": RATE, **kw}
    with pytest.raises(ValueError, match="horizon|margin"):
        score_customers(rfm, bg, gg, **args)


def test_unfitted_model_raises_not_fitted(fitted):
    """Scoring with an unfitted model raises NotFittedError."""
    rfm, _, gg, _ = fitted
    with pytest.raises(NotFittedError):
        score_customers(rfm, clvlab.BetaGeoFitter(), gg, horizon=HORIZON, discount_rate=RATE)


def test_scores_do_not_modify_the_input(fitted):
    """score_customers leaves the RFM frame unchanged."""
    rfm, bg, gg, base = fitted
    before = rfm.copy()
    score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=RATE)
    pd.testing.assert_frame_equal(rfm, before)


# -- assign_segments -----------------------------------------------------------------


def _table(clv, alive, hist=None, freq=None):
    data = {"clv": clv, "probability_alive": alive}
    if hist is not None:
        data["historical_spend"] = hist
    if freq is not None:
        data["frequency"] = freq
    return pd.DataFrame(data, index=pd.Index([f"c{i}" for i in range(len(clv))]))


def test_each_rule_gives_its_segment():
    """Hand-made customers land in the segment the documented rules give."""
    t = _table(
        clv=[500.0, 400.0, 40.0, 30.0, 1.0, 2.0],
        alive=[0.9, 0.2, 0.8, 0.1, 0.9, 0.05],
        hist=[10.0, 20.0, 30.0, 40.0, 50.0, 900.0],
    )
    seg = assign_segments(t, value_quantiles=(0.2, 0.8))
    # np.quantile (linear): clv 0.2 -> 2, clv 0.8 -> 400; historical 0.8 -> 50
    th = seg.attrs["thresholds"]
    assert (th["clv_low"], th["clv_high"], th["historical_spend_high"]) == (2.0, 400.0, 50.0)
    assert seg.tolist() == [
        "Champions",  # top CLV, active
        "High value, at risk",  # top CLV, probably gone
        "Promising",  # middle CLV, active
        "Needs attention",  # middle CLV, probably gone
        "Champions",  # low CLV but top historical spend, active
        "High value, at risk",  # spent the most, probably gone
    ]


def test_segments_without_history_follow_clv_and_alive():
    """Without historical spend: the 2 x 2 grid of value tier and activity."""
    t = _table(clv=[500.0, 400.0, 40.0, 30.0, 1.0], alive=[0.9, 0.2, 0.8, 0.1, 0.9])
    seg = assign_segments(t, value_quantiles=(0.2, 0.6))
    assert seg.tolist() == [
        "Champions",
        "High value, at risk",
        "Promising",
        "Needs attention",
        "Lapsed / low value",
    ]


def test_segments_are_an_ordered_categorical(scores):
    """The segment column is categorical with the six segments, one-time buyers 5th."""
    seg = scores["segment"]
    assert isinstance(seg.dtype, pd.CategoricalDtype)
    assert list(seg.cat.categories) == list(SEGMENTS)
    assert list(SEGMENTS) == [
        "Champions",
        "High value, at risk",
        "Promising",
        "Needs attention",
        "One-time buyers",
        "Lapsed / low value",
    ]
    assert seg.cat.ordered
    assert seg.notna().all()


def test_frequency_zero_customers_are_one_time_buyers():
    """frequency == 0 gives 'One-time buyers' even with top CLV or top historical spend."""
    t = _table(
        clv=[500.0, 400.0, 40.0, 30.0, 1.0, 2.0, 450.0, 3.0, 35.0],
        alive=[0.9, 0.2, 0.8, 0.1, 0.9, 0.05, 1.0, 1.0, 1.0],
        hist=[800.0, 20.0, 30.0, 40.0, 5.0, 900.0, 15.0, 1000.0, 25.0],
        freq=[3.0, 2.0, 1.0, 4.0, 1.0, 5.0, 0.0, 0.0, np.nan],
    )
    seg = assign_segments(t, value_quantiles=(0.25, 0.75))
    # thresholds over all nine customers, one-time buyers included (np.quantile, linear)
    th = seg.attrs["thresholds"]
    assert (th["clv_low"], th["clv_high"], th["historical_spend_high"]) == (3.0, 400.0, 800.0)
    assert th["one_time_buyers"] is True
    assert seg.tolist() == [
        "Champions",
        "High value, at risk",
        "Promising",
        "Needs attention",
        "Lapsed / low value",  # repeat buyer below the low CLV cut, modest history
        "High value, at risk",
        "One-time buyers",  # top-tier CLV, but no repeat purchase
        "One-time buyers",  # the largest historical spend: one big first order
        "Promising",  # missing frequency is not 0: placed by value and activity
    ]


def test_without_frequency_no_one_is_a_one_time_buyer():
    """No frequency column: the one-time category exists but is empty; attrs say so."""
    t = _table(clv=[500.0, 400.0, 40.0, 30.0, 1.0], alive=[1.0, 0.2, 1.0, 0.1, 1.0])
    seg = assign_segments(t, value_quantiles=(0.2, 0.6))
    assert "One-time buyers" in seg.cat.categories
    assert (seg == "One-time buyers").sum() == 0
    assert seg.attrs["thresholds"]["one_time_buyers"] is False
    summary = segment_summary(t.assign(segment=seg))
    assert summary.loc["One-time buyers", "n_customers"] == 0
    assert summary["n_customers"].sum() == 5


def test_one_time_buyers_on_cdnow(scores):
    """CDNOW sample: the 1,218 customers with frequency 0 are exactly the one-time
    buyers, all with P(alive) = 1 (BG/NBD's assumption, rtol=1e-12)."""
    one_time = (scores["segment"] == "One-time buyers").to_numpy()
    np.testing.assert_array_equal(one_time, (scores["frequency"] == 0).to_numpy())
    assert one_time.sum() == 1218
    np.testing.assert_allclose(scores.loc[one_time, "probability_alive"], 1.0, rtol=1e-12)
    # the other segments hold repeat buyers only
    assert (scores.loc[~one_time, "frequency"] >= 1).all()


def test_missing_values_never_meet_a_threshold():
    """NaN CLV and NaN P(alive) never count as high value or active."""
    t = _table(clv=[np.nan, 100.0, 5.0, 1.0], alive=[0.9, np.nan, 0.9, 0.9])
    seg = assign_segments(t, value_quantiles=(0.5, 0.9))
    assert seg["c0"] == "Lapsed / low value"
    assert seg["c1"] == "High value, at risk"


def test_alive_threshold_is_inclusive():
    """P(alive) exactly at the threshold counts as active."""
    t = _table(clv=[10.0, 10.0], alive=[0.5, 0.4999])
    seg = assign_segments(t, value_quantiles=(0.5, 0.5))
    assert seg.tolist() == ["Champions", "High value, at risk"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e4), st.floats(0, 1), st.floats(0, 1e4)),
        min_size=1,
        max_size=60,
    ),
    st.randoms(use_true_random=False),
)
def test_segments_do_not_depend_on_row_order(rows, rnd):
    """Shuffling the customers gives each customer the same segment."""
    clv, alive, hist = (list(x) for x in zip(*rows, strict=True))
    t = _table(clv, alive, hist)
    order = list(range(len(t)))
    rnd.shuffle(order)
    a = assign_segments(t)
    b = assign_segments(t.iloc[order])
    pd.testing.assert_series_equal(a, b.reindex(a.index), check_exact=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 1e4), st.floats(0, 1), st.floats(0, 1e4), st.integers(0, 3)
        ),
        min_size=1,
        max_size=60,
    ),
    st.randoms(use_true_random=False),
)
def test_one_time_rule_is_row_order_free_and_moves_only_one_time_buyers(rows, rnd):
    """With frequency: segments survive shuffling, one-time buyers are exactly the
    frequency-0 rows, and every repeat buyer keeps the segment it gets without frequency."""
    clv, alive, hist, freq = (list(x) for x in zip(*rows, strict=True))
    t = _table(clv, alive, hist, [float(f) for f in freq])
    order = list(range(len(t)))
    rnd.shuffle(order)
    a = assign_segments(t)
    b = assign_segments(t.iloc[order])
    pd.testing.assert_series_equal(a, b.reindex(a.index), check_exact=True)
    zero = (t["frequency"] == 0).to_numpy()
    np.testing.assert_array_equal((a == "One-time buyers").to_numpy(), zero)
    without = assign_segments(t.drop(columns="frequency"))
    assert a[~zero].tolist() == without[~zero].tolist()
    assert a.attrs["thresholds"]["clv_low"] == without.attrs["thresholds"]["clv_low"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 1)), min_size=1, max_size=60))
def test_champions_are_worth_at_least_the_lapsed(rows):
    """Every Champion's CLV is >= every Lapsed customer's CLV (without history)."""
    clv, alive = (np.array(x) for x in zip(*rows, strict=True))
    seg = assign_segments(_table(clv, alive))
    champs = clv[(seg == "Champions").to_numpy()]
    lapsed = clv[(seg == "Lapsed / low value").to_numpy()]
    if champs.size and lapsed.size:
        assert champs.min() >= lapsed.max()


def test_missing_columns_are_reported():
    """A table without probability_alive raises MissingColumnsError naming it."""
    with pytest.raises(MissingColumnsError, match="probability_alive"):
        assign_segments(pd.DataFrame({"clv": [1.0]}))


@pytest.mark.parametrize(
    "kw",
    [
        {"value_quantiles": (0.8, 0.5)},
        {"value_quantiles": (0.5, 1.5)},
        {"value_quantiles": (0.5,)},
        {"alive_threshold": -0.1},
    ],
)
def test_bad_thresholds_are_value_errors(kw):
    """Quantiles out of order or range, and thresholds outside [0, 1], raise ValueError."""
    with pytest.raises(ValueError, match="value_quantiles|alive_threshold"):
        assign_segments(_table([1.0, 2.0], [0.5, 0.5]), **kw)


def test_segment_summary_adds_up(scores):
    """Segment counts add to the customers, shares to 1 and CLV totals to the total CLV."""
    summary = segment_summary(scores)
    assert summary.index.tolist() == list(SEGMENTS)
    assert summary["n_customers"].sum() == len(scores)
    np.testing.assert_allclose(summary["share_customers"].sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(summary["total_clv"].sum(), scores["clv"].sum(), rtol=1e-12)
    counts = scores["segment"].value_counts()
    for name in SEGMENTS:
        assert summary.loc[name, "n_customers"] == counts.get(name, 0)


def test_discounting_never_raises_clv(fitted, scores):
    """CLV at 10% a year is positive and below the undiscounted CLV for every customer."""
    rfm, bg, gg, base = fitted
    flat = score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=0.0)
    assert (scores["clv"] > 0).all()
    assert (scores["clv"] <= flat["clv"]).all()
    # over one year at 10% the discount factor is at most 1 and at least 1/1.1
    assert (scores["clv"] >= flat["clv"] / 1.1 * (1 - 1e-12)).all()
    assert ((scores["probability_alive"] >= 0) & (scores["probability_alive"] <= 1)).all()
