"""Tests of clvlab.plotting: each plot's Axes carries the right data, labels and units.

Plots are checked through the returned Axes (lines, bars, images, labels), never pixels.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import clvlab  # noqa: E402
from clvlab import evaluation as ev  # noqa: E402
from clvlab import plotting as P  # noqa: E402
from clvlab.exceptions import ClvlabWarning, InvalidValueError, NotFittedError  # noqa: E402


@pytest.fixture(scope="module")
def study():
    """FHL 2005 CDNOW split with BG/NBD, Gamma-Gamma, the formula baseline and evaluate()."""
    tx = clvlab.datasets.load_cdnow(sample=True)
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        bg = clvlab.BetaGeoFitter().fit(split)
        gg = clvlab.GammaGammaFitter().fit(split)
        base = clvlab.FormulaCLVBaseline().fit(split)
        result = ev.evaluate(split, bg, gg, base, transactions=tx)
    return {"tx": tx, "split": split, "bg": bg, "gg": gg, "base": base, "ev": result}


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test opened."""
    yield
    plt.close("all")


def test_frequency_histogram_bars_hold_observed_and_expected(study):
    """Bars are the observed and expected customers per bin 0..6, 7+; χ² in the title."""
    ax = P.plot_frequency_histogram(study["bg"], study["split"])
    observed, expected = ax.containers
    table = study["ev"].chi_square.table
    np.testing.assert_array_equal([b.get_height() for b in observed], table["observed"])
    np.testing.assert_allclose([b.get_height() for b in expected], table["expected"], rtol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.index)
    assert "χ² = 4.8" in ax.get_title()
    assert ax.get_ylabel() == "Customers"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Actual", "BG/NBD"]


def test_frequency_recency_matrix_image_equals_model(study):
    """The image array is expected_purchases on the (frequency, recency) grid at T = max T."""
    bg, split = study["bg"], study["split"]
    ax = P.plot_frequency_recency_matrix(bg, split, t=1)
    z = ax.images[0].get_array()
    T = split["T"].max()
    assert z.shape[0] == int(split["frequency"].max()) + 1
    # row 5, last column: frequency 5, recency = T
    cell = bg.expected_purchases(pd.DataFrame({"frequency": [5.0], "recency": [T], "T": [T]}), 1)
    np.testing.assert_allclose(z[5, -1], cell.iloc[0], rtol=1e-12)
    assert "1 week" in ax.get_title() and "weeks" in ax.get_xlabel()


def test_probability_alive_matrix_is_bounded_and_one_without_repeats(study):
    """P(alive) values lie in [0, 1] and the frequency-0 row is exactly 1."""
    ax = P.plot_probability_alive_matrix(study["bg"], T=39.0, max_frequency=10)
    z = np.asarray(ax.images[0].get_array())
    assert z.shape[0] == 11
    assert np.all((z >= 0) & (z <= 1))
    np.testing.assert_array_equal(z[0], 1.0)
    assert ax.images[0].get_clim() == (0.0, 1.0)


def test_matrix_needs_data_or_grid_size(study):
    """Without data, T and max_frequency are required (clear ValueError)."""
    with pytest.raises(ValueError, match="Pass data .* or both T and max_frequency"):
        P.plot_probability_alive_matrix(study["bg"])


def test_tracking_lines_and_boundary(study):
    """Cumulative plot: actual and expected series, boundary at week 39, units in the label."""
    result = study["ev"]
    ax = P.plot_tracking(result)
    actual, expected, boundary = ax.lines[:3]
    np.testing.assert_array_equal(actual.get_ydata(), result.tracking["actual_cumulative"])
    np.testing.assert_allclose(expected.get_ydata(), result.tracking["expected_cumulative"])
    assert actual.get_ydata()[-1] == 4339
    assert list(boundary.get_xdata()) == [39.0, 39.0]
    assert ax.get_xlabel() == "Weeks since 1997-01-01"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Actual", "BG/NBD", "End of calibration"]


def test_tracking_incremental(study):
    """Incremental plot shows the per-week counts."""
    result = study["ev"]
    ax = P.plot_tracking(result, kind="incremental")
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), result.tracking["actual_incremental"])
    assert ax.get_ylabel() == "Repeat transactions per week"
    with pytest.raises(ValueError, match="kind must be"):
        P.plot_tracking(result, kind="weekly")


def test_tracking_needs_transactions(study):
    """An evaluation without transactions cannot draw tracking: the error says what to pass."""
    result = ev.evaluate(study["split"], study["bg"])
    with pytest.raises(InvalidValueError, match="transactions=tx"):
        P.plot_tracking(result)
    with pytest.raises(TypeError, match="takes the Evaluation"):
        P.plot_tracking(result.tracking)


def test_conditional_expectations_by_frequency_and_recency(study):
    """Lines are the by_frequency / by_recency means; the baseline gets its own line."""
    result = study["ev"]
    ax = P.plot_conditional_expectations(result)
    assert len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.by_frequency["actual_purchases"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), result.by_frequency["predicted_purchases"])
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "7+"
    assert "39-week holdout" in ax.get_ylabel()
    ax2 = P.plot_conditional_expectations(result, by="recency")
    assert [t.get_text() for t in ax2.get_xticklabels()][0] == "no repeat"
    assert "(weeks)" in ax2.get_xlabel()


def test_clv_scatter_offsets_are_predicted_and_actual(study):
    """Scatter points are (predicted value, actual value) per customer on symlog axes."""
    result = study["ev"]
    ax = P.plot_clv_scatter(result)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], result.customers["predicted_value"])
    np.testing.assert_allclose(offsets[:, 1], result.customers["actual_value"])
    assert ax.get_xscale() == "symlog" and ax.get_yscale() == "symlog"
    assert "BG/NBD + Gamma-Gamma" in ax.get_title()
    ax_b = P.plot_clv_scatter(result, model="Formula CLV baseline")
    np.testing.assert_allclose(ax_b.collections[0].get_offsets()[:, 0],
                               result.customers["baseline_value"])
    with pytest.raises(ValueError, match="model must be one of"):
        P.plot_clv_scatter(result, model="Pareto/NBD")


def test_decile_bars_heights(study):
    """Two bar series of 10: predicted and actual mean value per decile."""
    result = study["ev"]
    ax = P.plot_decile_bars(result)
    predicted, actual = ax.containers
    table = result.deciles[result.deciles["model"] == "BG/NBD + Gamma-Gamma"]
    np.testing.assert_allclose([b.get_height() for b in predicted], table["predicted_mean"])
    np.testing.assert_allclose([b.get_height() for b in actual], table["actual_mean"])
    assert "top decile earns 50%" in ax.get_title()


def test_decile_bars_need_value_predictions(study):
    """Without spend model or baseline there is no value to rank: a clear error."""
    result = ev.evaluate(study["split"], study["bg"])
    with pytest.raises(InvalidValueError, match="spend_model="):
        P.plot_decile_bars(result)


def test_clv_distribution_counts_every_customer(study):
    """The histogram holds all customers (small values folded into the first bar)."""
    clv = study["ev"].customers["predicted_value"]
    ax = P.plot_clv_distribution(clv)
    total = sum(p.get_height() for p in ax.patches)
    assert total == len(clv)
    assert ax.get_xscale() == "log"
    ax_lin = P.plot_clv_distribution(study["ev"], log=False)
    assert sum(p.get_height() for p in ax_lin.patches) == len(clv)
    mean_line = ax_lin.lines[0]
    np.testing.assert_allclose(mean_line.get_xdata()[0], clv.mean(), rtol=1e-12)


def test_heterogeneity_curves_integrate_to_the_plotted_share(study):
    """The ln-density curves integrate (over ln x) to ~99% of customers, as drawn."""
    bg = study["bg"]
    for plot, dist in (
        (P.plot_purchase_rate_heterogeneity,
         stats.gamma(a=bg.params_["r"], scale=1 / bg.params_["alpha"])),
        (P.plot_dropout_heterogeneity, stats.beta(bg.params_["a"], bg.params_["b"])),
    ):
        ax = plot(bg)
        x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
        np.testing.assert_allclose(np.trapezoid(y, np.log(x)), 0.99, rtol=1e-3)
        np.testing.assert_allclose(ax.lines[1].get_xdata()[0], dist.mean(), rtol=1e-12)
        assert ax.get_xscale() == "log"
    assert "per week" in P.plot_purchase_rate_heterogeneity(bg).get_xlabel()


def test_heterogeneity_needs_a_fitted_model():
    """An unfitted model raises NotFittedError (plots never fit)."""
    with pytest.raises(NotFittedError):
        P.plot_purchase_rate_heterogeneity(clvlab.BetaGeoFitter())


def test_probability_alive_history_line_and_purchases(study):
    """The line is the model's P(alive) history; one marker per purchase day."""
    bg, tx = study["bg"], study["tx"]
    dates = tx.loc[tx["customer_id"] == "1011", "date"]
    ax = P.plot_probability_alive_history(bg, dates, end="1998-06-30")
    hist = bg.probability_alive_history(dates, end="1998-06-30")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), hist["probability_alive"])
    n_days = dates.dt.normalize().nunique()
    assert len(ax.lines) == 1 + n_days
    assert ax.get_ylim() == (0.0, 1.05)


def test_probability_alive_history_with_ages(study):
    """With ages instead of dates the x axis is in weeks since the first purchase."""
    ax = P.plot_probability_alive_history(study["bg"], [0.0, 2.0, 10.0], end=20.0)
    assert ax.get_xlabel() == "Weeks since the first purchase"
    assert ax.lines[0].get_xdata()[-1] == pytest.approx(20.0)


def test_plots_draw_on_a_given_axes(study):
    """A given Axes is used and returned (subplots work)."""
    fig, axes = plt.subplots(1, 2)
    out = P.plot_tracking(study["ev"], ax=axes[1])
    assert out is axes[1]
    assert len(axes[0].lines) == 0 and len(axes[1].lines) >= 3


def test_plot_heterogeneity_picks_traits_by_position_or_name(study):
    """Traits come from describe(): by index or by a word of the name; bad ones listed."""
    bg = study["bg"]
    by_name = P.plot_heterogeneity(bg, "dropout")
    by_index = P.plot_heterogeneity(bg, 1)
    np.testing.assert_array_equal(by_name.lines[0].get_ydata(), by_index.lines[0].get_ydata())
    assert by_name.get_xlabel() == "Dropout probability p (per purchase, log scale)"
    assert "Beta(a = 0.793, b = 2.43)" in by_name.get_title()  # fitted values in the title
    with pytest.raises(ValueError, match="0: 'purchase rate', 1: 'dropout probability'"):
        P.plot_heterogeneity(bg, "spend")
    with pytest.raises(ValueError, match="trait must be one of"):
        P.plot_heterogeneity(bg, 2)
    with pytest.raises(NotFittedError):
        P.plot_heterogeneity(clvlab.BetaGeoFitter())


def test_clv_scatter_max_points_draws_a_systematic_sample(study):
    """max_points draws that many customers, evenly spaced by predicted value, and says so."""
    result = study["ev"]
    ax = P.plot_clv_scatter(result, max_points=100)
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == 100
    pred = np.sort(result.customers["predicted_value"].to_numpy(dtype=float))
    np.testing.assert_allclose(np.sort(np.asarray(offsets)[:, 0]),
                               pred[(np.arange(100) * pred.size) // 100], rtol=0)
    assert "100 shown" in ax.get_legend().get_texts()[0].get_text()
