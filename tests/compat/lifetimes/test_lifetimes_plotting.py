"""clvlab.compat.lifetimes.plotting: lifetimes' functions return Axes with the right content."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clvlab.compat.lifetimes import BetaGeoFitter, LifetimesCompatWarning, plotting, utils  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def dated_log(cdnow_log):
    log = cdnow_log.copy()
    log["date"] = pd.to_datetime(log["date"].astype(str))
    return log


def test_period_transactions_shows_actual_and_expected_counts(bgf):
    """Bars: observed customers per frequency and the model's expected counts (sum = n)."""
    ax = plotting.plot_period_transactions(bgf)
    actual, model = ax.containers
    heights = [b.get_height() for b in actual]
    observed = np.bincount(np.minimum(bgf.data["frequency"], 7), minlength=8)
    np.testing.assert_array_equal(heights, observed)
    assert sum(b.get_height() for b in model) == pytest.approx(len(bgf.data), rel=1e-9)
    assert ax.get_title() == "Frequency of Repeat Transactions"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Actual", "Model"]
    with pytest.warns(LifetimesCompatWarning, match="figsize"):
        plotting.plot_period_transactions(bgf, figsize=(3, 3))


def test_matrices_hold_the_models_predictions(bgf):
    """Frequency-recency and P(alive) matrices are the model's values, rows = recency."""
    ax = plotting.plot_probability_alive_matrix(bgf, max_frequency=5, max_recency=10)
    np.testing.assert_array_equal(ax.images[0].get_array(),
                                  bgf.conditional_probability_alive_matrix(5, 10))
    plt.figure()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the grid's impossible corner must not warn
        ax = plotting.plot_frequency_recency_matrix(bgf, T=4, max_frequency=3, max_recency=6)
    z = ax.images[0].get_array()
    assert z.shape == (7, 4)
    assert z[6, 2] == pytest.approx(
        bgf.conditional_expected_number_of_purchases_up_to_time(4, 2, 6, 6), rel=1e-12)
    assert "for 4 Units of Time" in ax.get_title()


def test_expected_repeat_purchases_draws_fitted_and_extrapolated_parts(bgf):
    """Two segments (solid to max T, dashed beyond) of the new-customer expectation."""
    ax = plotting.plot_expected_repeat_purchases(bgf, label="BG/NBD")
    solid, dashed = ax.lines
    x, y = solid.get_data()
    np.testing.assert_allclose(y, bgf.expected_number_of_purchases_up_to_time(x), rtol=1e-12)
    assert dashed.get_linestyle() == "--" and solid.get_color() == dashed.get_color()


def test_heterogeneity_plots_use_clvlab_with_lifetimes_labels(bgf):
    """Rate and dropout plots come from clvlab.plotting, with lifetimes' suptitle and labels."""
    ax = plotting.plot_transaction_rate_heterogeneity(bgf, color="red")
    assert ax.figure._suptitle.get_text() == "Heterogeneity in Transaction Rate"
    assert ax.get_xlabel() == "Transaction Rate" and ax.lines[0].get_color() == "red"
    ax = plotting.plot_dropout_rate_heterogeneity(bgf)
    assert "Beta(a = 0.793" in ax.get_title()


def test_calibration_vs_holdout_plot(bgf, dated_log):
    """Mean holdout purchases per calibration group: two lines, n groups at most."""
    summary = utils.calibration_and_holdout_data(dated_log, "id_sample", "date", "1997-09-30",
                                                 "1998-06-30")
    for kind in ("frequency_cal", "recency_cal", "T_cal", "time_since_last_purchase"):
        plt.figure()
        ax = plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, summary, kind=kind)
        assert len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) <= 7
    with pytest.raises(ValueError, match="kind must be one of"):
        plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, summary, kind="x")


def test_tracking_and_history_plots(dated_log):
    """Cumulative/incremental tracking and one customer's P(alive) history draw their data."""
    from clvlab.exceptions import DataQualityWarning

    with pytest.warns(DataQualityWarning, match="1959 of 6919 transactions"):
        summary = utils.summary_data_from_transaction_data(dated_log, "id_sample", "date",
                                                           observation_period_end="1997-09-30")
    model = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    ax = plotting.plot_cumulative_transactions(model, dated_log, "date", "id_sample", 546, 272)
    frame = utils.expected_cumulative_transactions(model, dated_log, "date", "id_sample", 546)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), frame["predicted"], rtol=1e-12)
    plt.figure()
    ax = plotting.plot_incremental_transactions(model, dated_log, "date", "id_sample", 546, 272,
                                                set_index_date=True)
    assert ax.get_xlabel() == "date"
    plt.figure()
    rows = dated_log[dated_log["id_sample"] == 1]
    ax = plotting.plot_history_alive(model, 500, rows, "date")
    path = utils.calculate_alive_path(model, rows, "date", 500)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), path, rtol=1e-12)
