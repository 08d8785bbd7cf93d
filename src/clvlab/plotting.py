"""Diagnostic plots of fitted models and holdout evaluations (matplotlib).

Every function draws on ``ax`` (a new figure when ``None``), returns the Axes and never
fits a model: pass models already fitted and, for the holdout plots, the
:class:`clvlab.evaluation.Evaluation` that :func:`clvlab.evaluate` returned. Axis labels
carry the time unit of the model or evaluation (``"weeks"``...). How to read each plot:
``docs/evaluation.md``.

=====================================  =============================================
function                               shows
=====================================  =============================================
:func:`plot_frequency_histogram`       calibration frequency: customers, actual vs model
:func:`plot_frequency_recency_matrix`  expected purchases by frequency x recency
:func:`plot_probability_alive_matrix`  P(alive) by frequency x recency
:func:`plot_tracking`                  cumulative / incremental repeat transactions
:func:`plot_conditional_expectations`  mean holdout purchases by frequency or recency bin
:func:`plot_clv_scatter`               predicted vs actual holdout value per customer
:func:`plot_decile_bars`               predicted vs actual value per decile of prediction
:func:`plot_clv_distribution`          distribution of predicted CLV
:func:`plot_tracking_comparison`       cumulative repeat transactions, several models
:func:`plot_heterogeneity`             one latent trait's spread across customers, from
                                       the model's ``describe().heterogeneity``
:func:`plot_purchase_rate_heterogeneity`  the purchase-rate trait (thin wrapper)
:func:`plot_dropout_heterogeneity`     the dropout trait (thin wrapper)
:func:`plot_probability_alive_history`  one customer's P(alive) over time
=====================================  =============================================

Plots talk to models only through :mod:`clvlab.models.contract`: names and distributions
come from ``describe()``, and a plot whose prediction the model lacks raises
``NotImplementedError`` with the contract's note (the report leaves such a plot out and
prints the note).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab._time import UNIT_NAMES
from clvlab.evaluation import (
    ACTUAL_VALUE,
    BASELINE_PURCHASES,
    BASELINE_VALUE,
    PREDICTED_PURCHASES,
    PREDICTED_VALUE,
    Evaluation,
    frequency_histogram,
)
from clvlab.exceptions import InvalidValueError, NotFittedError
from clvlab.models.contract import Heterogeneity, describe, missing_note, offers
from clvlab.validation import validate_rfm

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "plot_frequency_histogram",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_tracking",
    "plot_tracking_comparison",
    "plot_conditional_expectations",
    "plot_clv_scatter",
    "plot_decile_bars",
    "plot_clv_distribution",
    "plot_heterogeneity",
    "plot_purchase_rate_heterogeneity",
    "plot_dropout_heterogeneity",
    "plot_probability_alive_history",
]

#: Colours: actual data in dark grey, the probabilistic model in blue, the baseline orange.
ACTUAL_COLOR = "#333333"
MODEL_COLOR = "#1f77b4"
BASELINE_COLOR = "#ff7f0e"
#: The holdout forecast given the calibration histories (with its ranges).
FORECAST_COLOR = "#08306b"
#: Further models (model comparison), after MODEL_COLOR.
COMPARISON_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def _unit_name(unit: str | None) -> str:
    return UNIT_NAMES.get(unit or "", unit or "time units")


def _count(t: float) -> str:
    """Write a count of time units for a label: whole within 0.05 (``39``), else 1 decimal."""
    return f"{round(t):,}" if abs(t - round(t)) < 0.05 else f"{t:,.1f}"


def _duration(t: float, unit: str) -> str:
    """``"1 week"``, ``"39 weeks"``, ``"26.7 weeks"``."""
    return f"{_count(t)} {unit[:-1] if t == 1 else unit}"


def _model_unit(model: Any) -> str:
    return _unit_name(getattr(model, "time_unit_", None))


def _check_evaluation(evaluation: Any, what: str) -> Evaluation:
    if not isinstance(evaluation, Evaluation):
        raise TypeError(
            f"{what} takes the Evaluation returned by clvlab.evaluate(...); got "
            f"{type(evaluation).__name__}."
        )
    return evaluation


# ======================================================================================
# calibration fit
# ======================================================================================


def plot_frequency_histogram(
    model: Any, data: Any, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Plot customers by number of repeat purchases in calibration: actual vs model.

    Bars of the observed histogram next to the model's expected counts
    (:func:`clvlab.evaluation.frequency_histogram`); the title gives the χ² test.

    Parameters
    ----------
    model : fitted purchase model
        Must offer ``probability_of_purchases`` (``NotImplementedError`` otherwise).
    data : DataFrame
        Calibration RFM summary (``frequency``, ``T``).
    max_frequency : int, default=7
        Last bin ``"7+"``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from clvlab.evaluation import chi_square_test, fitted_parameter_count

    hist = frequency_histogram(model, data, max_frequency)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse-bin caveat is for evaluate(), not the plot
        chi = chi_square_test(hist, n_params=fitted_parameter_count(model))
    ax = _axes(ax)
    x = np.arange(len(hist))
    w = 0.4
    ax.bar(x - w / 2, hist["observed"], w, label="Actual", color=ACTUAL_COLOR)
    ax.bar(x + w / 2, hist["expected"], w, label=_label(model), color=MODEL_COLOR)
    ax.set_xticks(x, list(hist.index))
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Customers")
    ax.set_title(
        f"Frequency of repeat purchases (χ² = {chi.statistic:.1f}, dof {chi.dof}, "
        f"p = {chi.p_value:.2g})"
    )
    ax.legend()
    return ax


def _label(model: Any) -> str:
    return describe(model).name


def _matrix(
    model: Any,
    data: Any,
    quantity: str,
    t: float,
    T: float | None,
    max_frequency: int | None,
    max_recency: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Grid of (frequency, recency) for a customer of age ``T`` and the model's values."""
    if data is not None:
        frame = validate_rfm(data, require=(C.FREQUENCY, C.RECENCY, C.T), model="the plot")
        T = float(frame[C.T].max()) if T is None else T
        if max_frequency is None:
            max_frequency = int(frame[C.FREQUENCY].max())
    if T is None or max_frequency is None:
        raise ValueError(
            "Pass data (the RFM summary the model was fitted on) or both T and max_frequency, "
            "so the grid covers the customers' range."
        )
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive age in the model's time unit; got {T!r}.")
    max_recency = T if max_recency is None else min(float(max_recency), T)
    freqs = np.arange(0, int(max_frequency) + 1, dtype=float)
    n_rec = int(min(max(np.ceil(max_recency), 2) + 1, 121))
    recs = np.linspace(0.0, max_recency, n_rec)
    fg, rg = np.meshgrid(freqs, recs, indexing="ij")
    rg = np.where(fg == 0, 0.0, rg)  # a customer with no repeat purchase has recency 0
    grid = pd.DataFrame({C.FREQUENCY: fg.ravel(), C.RECENCY: rg.ravel(), C.T: T})
    if quantity == "expected_purchases":
        values = model.expected_purchases(grid, t)
    else:
        values = model.probability_alive(grid)
    z = np.asarray(values, dtype=float).reshape(fg.shape)
    return freqs, recs, z, float(T)


def _draw_matrix(
    ax: Axes, freqs: np.ndarray, recs: np.ndarray, z: np.ndarray, cbar_label: str,
    unit: str, vmin: float | None = None, vmax: float | None = None,
) -> Any:
    df = (recs[1] - recs[0]) if recs.size > 1 else 1.0
    extent = (recs[0] - df / 2, recs[-1] + df / 2, freqs[0] - 0.5, freqs[-1] + 0.5)
    im = ax.imshow(z, origin="lower", aspect="auto", extent=extent, cmap="viridis",
                   vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label=cbar_label)
    ax.set_xlabel(f"Recency: age at last purchase ({unit})")
    ax.set_ylabel("Frequency: repeat purchases")
    return im


def plot_frequency_recency_matrix(
    model: Any,
    data: Any = None,
    *,
    t: float = 1.0,
    T: float | None = None,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Plot expected purchases in the next ``t`` by frequency and recency at age ``T``.

    Parameters
    ----------
    model : fitted purchase model
        Provides ``expected_purchases(data, t)``.
    data : DataFrame, optional
        RFM summary; sets ``T`` (its largest age) and ``max_frequency`` (its largest).
    t : float, default=1.0
        Horizon in the model's time unit.
    T : float, optional
        Age of the customers in the grid (``time_unit_``).
    max_frequency : int, optional
        Largest frequency shown.
    max_recency : float, optional
        Largest recency shown (at most ``T``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        With an image (``ax.images[0]``) whose array is the matrix, rows = frequency.
    """
    freqs, recs, z, age = _matrix(model, data, "expected_purchases", t, T, max_frequency,
                                  max_recency)
    ax = _axes(ax)
    unit = _model_unit(model)
    _draw_matrix(ax, freqs, recs, z, f"Expected purchases in the next {_duration(t, unit)}",
                 unit)
    ax.set_title(f"Expected purchases in the next {_duration(t, unit)}\n"
                 f"for a customer of age T = {age:.3g} {unit}")
    return ax


def plot_probability_alive_matrix(
    model: Any,
    data: Any = None,
    *,
    T: float | None = None,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """P(alive) for every (frequency, recency) of a customer of age ``T``.

    Parameters
    ----------
    model : fitted purchase model
        Provides ``probability_alive(data)``.
    data : DataFrame, optional
        RFM summary; sets ``T`` and ``max_frequency``.
    T : float, optional
        Age of the customers in the grid (``time_unit_``).
    max_frequency : int, optional
        Largest frequency shown.
    max_recency : float, optional
        Largest recency shown (at most ``T``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    freqs, recs, z, age = _matrix(model, data, "probability_alive", 0.0, T, max_frequency,
                                  max_recency)
    ax = _axes(ax)
    unit = _model_unit(model)
    _draw_matrix(ax, freqs, recs, z, "P(alive)", unit, vmin=0.0, vmax=1.0)
    ax.set_title(f"Probability a customer is alive\nat age T = {age:.3g} {unit}")
    return ax


# ======================================================================================
# holdout evaluation
# ======================================================================================


def plot_tracking(
    evaluation: Evaluation, *, kind: str = "cumulative", fan: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Actual vs expected repeat transactions over calendar time, calibration | holdout.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`clvlab.evaluate` with ``transactions=`` given.
    kind : {"cumulative", "incremental"}, default="cumulative"
        Running total (FHL 2005 Figure 4) or per-period counts.
    fan : DataFrame, optional
        :func:`clvlab.forecast_intervals` of the calibration customers at times since the
        end of calibration (``kind="cumulative"`` only): the holdout forecast given the
        customers' calibration histories is drawn from the actual count at the end of
        calibration, with its range (``lower``/``upper``, at ``fan.attrs["level"]``) and
        the 50% range inside it (:func:`clvlab.intervals.interval_band`).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Lines labelled ``"Actual"`` and the model's name; a dashed vertical line at the end
        of the calibration period; with ``fan``, a line ``"... forecast given calibration
        histories"`` and shaded bands labelled ``"80% range"`` and ``"50% range"``.
    """
    evaluation = _check_evaluation(evaluation, "plot_tracking")
    if kind not in ("cumulative", "incremental"):
        raise ValueError(f"kind must be 'cumulative' or 'incremental'; got {kind!r}.")
    track = evaluation.tracking
    if track is None:
        raise InvalidValueError(_no_tracking(evaluation), rule="tracking available")
    if fan is not None and kind != "cumulative":
        raise ValueError("fan is drawn on the cumulative tracking plot only (kind='cumulative').")
    unit = _unit_name(evaluation.time_unit)
    model_name = str(evaluation.metrics.index[0])
    ax = _axes(ax)
    x = track["period_end"].to_numpy()
    boundary = track.attrs.get("calibration_boundary")
    ax.plot(x, track[f"actual_{kind}"].to_numpy(), color=ACTUAL_COLOR, lw=2, label="Actual")
    ax.plot(x, track[f"expected_{kind}"].to_numpy(), color=MODEL_COLOR, lw=2, ls="--",
            label=model_name)
    if fan is not None:  # bands below the lines (collections draw first)
        start = float(evaluation.customers[C.FREQUENCY].sum())  # purchases to calibration end
        _draw_fan(ax, track, start, fan, boundary)
    if boundary is not None:
        ax.axvline(boundary, color="grey", ls=":", lw=1.5, label="End of calibration")
        ymax = ax.get_ylim()[1]
        ax.text(boundary, ymax * 0.98, " holdout →", va="top", ha="left", color="grey")
        ax.text(boundary, ymax * 0.98, "← calibration ", va="top", ha="right", color="grey")
    origin = track.attrs.get("origin", "")
    ax.set_xlabel(f"{unit.capitalize()} since {origin}")
    per = f"Repeat transactions per {unit[:-1]}"
    ax.set_ylabel("Cumulative repeat transactions" if kind == "cumulative" else per)
    ax.set_title(("Cumulative repeat transactions" if kind == "cumulative" else per)
                 + f": actual vs {model_name}")
    ax.set_xlim(0, float(x[-1]))
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right" if kind == "cumulative" else "upper right")
    return ax


def _draw_fan(ax: Axes, track: pd.DataFrame, start: float, fan: pd.DataFrame,
              boundary: Any) -> None:
    """Shade the holdout forecast's ranges from the actual count at the calibration end.

    ``track`` is the cumulative tracking table, ``start`` the repeat purchases up to the
    calibration end (the pandas and the Spark reports pass their own).
    """
    from clvlab.intervals import interval_band

    missing = [c for c in ("estimate", "lower", "upper", "se") if c not in fan.columns]
    if missing or boundary is None:
        raise InvalidValueError(
            "fan must be the DataFrame of clvlab.forecast_intervals (columns estimate, "
            f"lower, upper, se; missing: {', '.join(missing) or 'none'}) and the tracking "
            "needs its calibration boundary.",
            column=missing[0] if missing else "fan", rule="forecast_intervals output",
        )
    t = fan.index.to_numpy(dtype=float)
    order = np.argsort(t)
    level = float(fan.attrs.get("level", 0.8))
    inner = interval_band(fan, 0.5)
    xs = np.r_[float(boundary), float(boundary) + t[order]]

    def path(values: pd.Series) -> np.ndarray:
        return np.r_[start, start + values.to_numpy(dtype=float)[order]]

    x_act = track["period_end"].to_numpy(dtype=float)
    after = x_act > float(boundary) + 1e-9
    x_hold = np.r_[float(boundary), x_act[after]]
    y_hold = np.r_[start, track["actual_cumulative"].to_numpy(dtype=float)[after]]
    bands = [(fan["lower"], fan["upper"], 0.18, f"{level:.0%} range")]
    if level > 0.5:
        bands.append((inner["lower"], inner["upper"], 0.35, "50% range"))
    for lower, upper, alpha, label in bands:
        ax.fill_between(xs, path(lower), path(upper), color=MODEL_COLOR, alpha=alpha, lw=0,
                        label=label)
    ax.plot(xs, path(fan["estimate"]), color=FORECAST_COLOR, lw=1.3,
            label="Forecast given calibration histories")
    # a total's range is narrow next to the whole curve: an inset shows the holdout as
    # actual minus forecast, against the ranges around 0
    est = np.interp(x_hold, xs, path(fan["estimate"]))
    inset = ax.inset_axes((0.07, 0.5, 0.34, 0.36))
    inset.axhline(0.0, color=FORECAST_COLOR, lw=1.0)
    for lower, upper, alpha, _ in bands:
        inset.fill_between(xs, path(lower) - path(fan["estimate"]),
                           path(upper) - path(fan["estimate"]), color=MODEL_COLOR,
                           alpha=alpha, lw=0)
    inset.plot(x_hold, y_hold - est, color=ACTUAL_COLOR, lw=1.5)
    inset.set_xlim(float(boundary), float(xs[-1]))
    inset.set_title("Holdout: actual minus forecast", fontsize=8)
    inset.tick_params(labelsize=7)


def _no_tracking(evaluation: Evaluation) -> str:
    """Why an evaluation has no tracking series (the evaluation's own note, if any)."""
    for note in evaluation.notes:
        if "tracking" in note and "left out" in note:
            return f"This evaluation has no tracking series: {note}"
    return (
        "This evaluation has no tracking series: call clvlab.evaluate(..., "
        "transactions=tx) with the transaction log the split was built from."
    )


def plot_tracking_comparison(
    evaluations: Any, *, kind: str = "cumulative", ax: Axes | None = None
) -> Axes:
    """Actual repeat transactions and every model's expectation on one axis.

    Parameters
    ----------
    evaluations : mapping of str to Evaluation, or ModelComparison
        One :func:`clvlab.evaluate` result per purchase model, all on the same split and
        transactions (e.g. ``clvlab.compare_models(...).evaluations``); the keys label
        the lines unless the evaluations name distinct models.
    kind : {"cumulative", "incremental"}, default="cumulative"
        Running total or per-period counts.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` the actual series, then one dashed line per model with tracking
        (in the order given); models without tracking are named in the title.
    """
    if kind not in ("cumulative", "incremental"):
        raise ValueError(f"kind must be 'cumulative' or 'incremental'; got {kind!r}.")
    items = getattr(evaluations, "evaluations", evaluations)
    if not isinstance(items, Mapping) or not items:
        raise TypeError(
            "evaluations must be a non-empty mapping of model label to Evaluation, or the "
            f"ModelComparison of clvlab.compare_models; got {type(evaluations).__name__}."
        )
    evs = {str(k): _check_evaluation(v, "plot_tracking_comparison") for k, v in items.items()}
    names = [str(ev.metrics.index[0]) for ev in evs.values()]
    labels = names if len(set(names)) == len(names) else list(evs)
    with_track = [(lab, ev) for lab, ev in zip(labels, evs.values(), strict=True)
                  if ev.tracking is not None]
    if not with_track:
        raise InvalidValueError(_no_tracking(next(iter(evs.values()))),
                                rule="tracking available")
    first = with_track[0][1]
    track = first.tracking
    assert track is not None
    unit = _unit_name(first.time_unit)
    ax = _axes(ax)
    x = track["period_end"].to_numpy()
    ax.plot(x, track[f"actual_{kind}"].to_numpy(), color=ACTUAL_COLOR, lw=2.5, label="Actual")
    for i, (label, ev) in enumerate(with_track):
        other = ev.tracking
        assert other is not None
        if len(other) != len(track) or not np.allclose(other["period_end"], x):
            raise ValueError(
                f"The evaluations do not share one tracking calendar ({label} differs); "
                "evaluate every model on the same split and transactions."
            )
        ax.plot(x, other[f"expected_{kind}"].to_numpy(),
                color=COMPARISON_COLORS[i % len(COMPARISON_COLORS)], lw=1.8,
                ls=("--", "-.", ":", (0, (5, 1)))[i % 4], label=label)
    boundary = track.attrs.get("calibration_boundary")
    if boundary is not None:
        ax.axvline(boundary, color="grey", ls=":", lw=1.2, label="End of calibration")
    ax.set_xlabel(f"{unit.capitalize()} since {track.attrs.get('origin', '')}")
    per = f"Repeat transactions per {unit[:-1]}"
    what = "Cumulative repeat transactions" if kind == "cumulative" else per
    ax.set_ylabel(what)
    missing = [lab for lab, ev in zip(labels, evs.values(), strict=True) if ev.tracking is None]
    title = f"{what}: actual vs {len(with_track)} model{'s' if len(with_track) > 1 else ''}"
    if missing:
        title += f"\n(no tracking for {', '.join(missing)})"
    ax.set_title(title)
    ax.set_xlim(0, float(x[-1]))
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right" if kind == "cumulative" else "upper right")
    return ax


def plot_conditional_expectations(
    evaluation: Evaluation, *, by: str = "frequency", ax: Axes | None = None
) -> Axes:
    """Mean holdout purchases per customer, actual vs predicted, by calibration bin.

    ``by="frequency"`` is FHL 2005 Figure 3 (bins 0..6, 7+); ``by="recency"`` groups by
    recency (one-time buyers apart).

    Parameters
    ----------
    evaluation : Evaluation
    by : {"frequency", "recency"}, default="frequency"
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    evaluation = _check_evaluation(evaluation, "plot_conditional_expectations")
    if by not in ("frequency", "recency"):
        raise ValueError(f"by must be 'frequency' or 'recency'; got {by!r}.")
    table = evaluation.by_frequency if by == "frequency" else evaluation.by_recency
    unit = _unit_name(evaluation.time_unit)
    ax = _axes(ax)
    x = np.arange(len(table))
    ax.plot(x, table["actual_purchases"].to_numpy(), color=ACTUAL_COLOR, marker="o", lw=2,
            label="Actual")
    ax.plot(x, table[PREDICTED_PURCHASES].to_numpy(), color=MODEL_COLOR, marker="s", lw=2,
            ls="--", label=str(evaluation.metrics.index[0]))
    if BASELINE_PURCHASES in table.columns:
        ax.plot(x, table[BASELINE_PURCHASES].to_numpy(), color=BASELINE_COLOR, marker="^",
                lw=1.5, ls=":", label=str(evaluation.metrics.index[-1]))
    ax.set_xticks(x, list(table.index), rotation=0 if by == "frequency" else 20)
    ax.set_xlabel("Repeat purchases in the calibration period" if by == "frequency"
                  else f"Recency in the calibration period ({unit})")
    ax.set_ylabel(f"Mean purchases in the {_count(evaluation.horizon)}-{unit[:-1]} holdout")
    ax.set_title(f"Conditional expectations by calibration {by}")
    ax.legend(loc="upper left")
    ax.set_ylim(bottom=0)
    return ax


def _value_model(evaluation: Evaluation, model: str | None) -> tuple[str, str]:
    """(model name, customers column) of a model with value predictions."""
    candidates = {}
    names = list(evaluation.metrics.index)
    if PREDICTED_VALUE in evaluation.customers.columns:
        candidates[names[1]] = PREDICTED_VALUE
    if BASELINE_VALUE in evaluation.customers.columns:
        candidates[names[-1]] = BASELINE_VALUE
    if not candidates:
        raise InvalidValueError(
            "This evaluation has no value predictions: pass spend_model= (and/or baseline=) "
            "to clvlab.evaluate.",
            rule="value predictions available",
        )
    if model is None:
        name = next(iter(candidates))
    elif model in candidates:
        name = model
    else:
        raise ValueError(
            f"model must be one of {', '.join(map(repr, candidates))}; got {model!r}."
        )
    return name, candidates[name]


def plot_clv_scatter(
    evaluation: Evaluation, *, model: str | None = None, ax: Axes | None = None,
    max_points: int | None = None,
) -> Axes:
    """Predicted vs actual holdout value, one point per customer, on log axes.

    Both axes are symmetric-log (logarithmic above 1, linear below), so the many
    customers with no holdout purchase stay visible on the zero line. The diagonal is
    a perfect forecast.

    Parameters
    ----------
    evaluation : Evaluation
        With value predictions (``spend_model`` or ``baseline`` given).
    model : str, optional
        Row of ``evaluation.metrics`` to show; default the probabilistic model.
    ax : matplotlib Axes, optional
    max_points : int, optional
        Draw at most this many customers: a systematic sample, evenly spaced in the order
        of predicted value (the same sample every time; the legend says so). Default:
        every customer. Drawing a million markers takes seconds and shows no more.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection (``ax.collections[0]``) with (predicted, actual) offsets.
    """
    evaluation = _check_evaluation(evaluation, "plot_clv_scatter")
    name, col = _value_model(evaluation, model)
    cust = evaluation.customers
    pred = cust[col].to_numpy(dtype=float)
    act = cust[ACTUAL_VALUE].to_numpy(dtype=float)
    unit = _unit_name(evaluation.time_unit)
    ax = _axes(ax, figsize=(6.0, 5.5))
    n_zero = int((act == 0).sum())
    label = f"{len(cust):,} customers ({n_zero:,} bought nothing: on the 0 line)"
    shown_pred, shown_act = pred, act
    if max_points is not None and pred.size > max(int(max_points), 1):
        m = max(int(max_points), 1)
        order = np.argsort(pred, kind="stable")
        pick = order[(np.arange(m, dtype=np.int64) * pred.size) // m]
        shown_pred, shown_act = pred[pick], act[pick]
        label += f";\n{m:,} shown, evenly spaced by predicted value"
    ax.scatter(shown_pred, shown_act, s=8, alpha=0.35,
               color=MODEL_COLOR if col == PREDICTED_VALUE else BASELINE_COLOR,
               edgecolors="none", label=label)
    hi = float(max(np.max(pred, initial=1.0), np.max(act, initial=1.0))) * 1.2
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label="Perfect forecast")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlim(-0.2, hi)
    ax.set_ylim(-0.2, hi * 3)
    r = evaluation.metrics.loc[name, "value_spearman"]
    ax.set_xlabel(f"Predicted value over the {_count(evaluation.horizon)}-{unit[:-1]} holdout")
    ax.set_ylabel("Actual holdout value")
    ax.set_title(f"Predicted vs actual value per customer\n{name}, Spearman ρ = {r:.2f}")
    ax.legend(loc="upper left")
    return ax


def plot_decile_bars(
    evaluation: Evaluation, *, model: str | None = None, ax: Axes | None = None
) -> Axes:
    """Mean predicted and actual holdout value per decile of predicted value.

    Parameters
    ----------
    evaluation : Evaluation
        With value predictions.
    model : str, optional
        Model (row of ``evaluation.metrics``) whose ranking defines the deciles.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Two bar containers: predicted (``ax.containers[0]``) and actual (``[1]``).
    """
    evaluation = _check_evaluation(evaluation, "plot_decile_bars")
    name, _ = _value_model(evaluation, model)
    table = evaluation.deciles[evaluation.deciles["model"] == name]
    ax = _axes(ax)
    x = table["decile"].to_numpy()
    w = 0.4
    ax.bar(x - w / 2, table["predicted_mean"], w, color=MODEL_COLOR, label=f"Predicted ({name})")
    ax.bar(x + w / 2, table["actual_mean"], w, color=ACTUAL_COLOR, label="Actual")
    ax.set_xticks(x, [str(int(d)) for d in x])
    unit = _unit_name(evaluation.time_unit)
    ax.set_xlabel("Decile of predicted value (1 = highest)")
    ax.set_ylabel(f"Mean value per customer, {_count(evaluation.horizon)}-{unit[:-1]} holdout")
    capture = evaluation.metrics.loc[name, "top_decile_capture"]
    ax.set_title(f"Predicted vs actual value by decile\n"
                 f"top decile earns {capture:.0%} of actual holdout value")
    ax.legend()
    return ax


def plot_clv_distribution(
    values: Any, *, bins: int = 50, log: bool = True, ax: Axes | None = None,
    label: str = "Predicted CLV",
) -> Axes:
    """Histogram of predicted CLV across customers, with mean and median marked.

    Parameters
    ----------
    values : Series, array-like or Evaluation
        CLV per customer (e.g. :func:`clvlab.customer_lifetime_value`), or an Evaluation
        (its ``predicted_value`` column).
    bins : int, default=50
    log : bool, default=True
        Log-spaced bins and a log x axis over the positive values (CLV is very skewed).
    ax : matplotlib Axes, optional
    label : str, default="Predicted CLV"
        Axis label.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(values, Evaluation):
        _, col = _value_model(values, None)
        arr = values.customers[col].to_numpy(dtype=float)
    else:
        arr = np.asarray(values, dtype=float).reshape(-1)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError("values hold no finite CLV to plot.")
    ax = _axes(ax)
    positive = arr[arr > 0]
    note = ""
    if log and positive.size:
        # the 0.5% smallest positive values would stretch the log axis over decades
        lo, hi = float(np.quantile(positive, 0.005)), float(positive.max())
        n_below = int((arr < lo).sum())
        edges = np.geomspace(lo, hi * 1.0001 if hi > lo else lo * 2, bins + 1)
        # matplotlib's stub types bins as int | Sequence[float] | str, but hist passes it to
        # np.histogram, which takes an ndarray of edges (the stub omits ndarray)
        ax.hist(
            np.clip(positive, lo, None), bins=edges,  # type: ignore[arg-type]
            color=MODEL_COLOR, alpha=0.85,
        )
        ax.set_xscale("log")
        if n_below:
            note = f"; {n_below:,} below {lo:.3g} counted in the first bar"
    else:
        ax.hist(arr, bins=bins, color=MODEL_COLOR, alpha=0.85)
    mean, median = float(arr.mean()), float(np.median(arr))
    ax.axvline(mean, color=ACTUAL_COLOR, ls="--", lw=1.5, label=f"Mean {mean:,.2f}")
    if median > 0 or not log:
        ax.axvline(median, color=BASELINE_COLOR, ls=":", lw=1.5, label=f"Median {median:,.2f}")
    ax.set_xlabel(label + (" (log scale)" if log and positive.size else "") + note)
    ax.set_ylabel("Customers")
    # "Mean repeat-purchase value" -> "mean ...", but keep acronyms such as "CLV"
    noun = label[:1].lower() + label[1:] if label[1:2].islower() else label
    ax.set_title(f"Distribution of {noun} ({arr.size:,} customers)")
    ax.legend()
    return ax


# ======================================================================================
# model parameters
# ======================================================================================


def _require(model: Any, prediction: str, what: str) -> None:
    if not offers(model, prediction):
        raise NotImplementedError(missing_note(model, prediction, what))


def _check_fitted(model: Any) -> None:
    if getattr(model, "params_", None) is not None:
        return
    checker = getattr(model, "_check_is_fitted", None)
    if callable(checker):
        checker()  # raises NotFittedError with the standard message
    raise NotFittedError(
        f"This {type(model).__name__} has no fitted parameters (params_ is None). "
        "Call fit(rfm) first, or load a saved model with clvlab.load_model(path)."
    )


def _log_density(ax: Axes, dist: Any, label_mean: str) -> None:
    """Draw ``x f(x)`` (the density of ``ln x``) on a log x axis, 0.5% to 99.5% quantiles.

    Gamma and Beta densities with shape < 1 are infinite at 0, so the plain density is a
    spike at the axis; the density of ``ln x`` is finite and the area under the curve
    between two values (on the log axis) is still the share of customers between them.
    """
    x = np.geomspace(dist.ppf(0.005), dist.ppf(0.995), 400)
    ax.plot(x, x * dist.pdf(x), color=MODEL_COLOR, lw=2)
    ax.fill_between(x, x * dist.pdf(x), color=MODEL_COLOR, alpha=0.15)
    ax.set_xscale("log")
    ax.axvline(dist.mean(), color=ACTUAL_COLOR, ls="--", lw=1.2, label=label_mean)
    ax.axvline(dist.median(), color=BASELINE_COLOR, ls=":", lw=1.5,
               label=f"Median {dist.median():.3g}")
    ax.set_ylabel("Density of customers (per unit of ln)")
    ax.set_ylim(bottom=0)
    ax.legend()


def _trait(model: Any, trait: int | str) -> Heterogeneity:
    """Find the model's heterogeneity entry ``trait`` (position, or a word of its name)."""
    _check_fitted(model)
    desc = describe(model)
    traits = desc.heterogeneity
    if not traits:
        raise NotImplementedError(
            f"{desc.name} describes no heterogeneity distribution "
            "(describe().heterogeneity is empty); there is nothing to plot."
        )
    if isinstance(trait, (int, np.integer)) and not isinstance(trait, bool):
        if 0 <= int(trait) < len(traits):
            return traits[int(trait)]
    elif isinstance(trait, str):
        found = [h for h in traits if trait.lower() in h.name.lower()]
        if found:
            return found[0]
    names = ", ".join(f"{i}: {h.name!r}" for i, h in enumerate(traits))
    raise ValueError(f"trait must be one of {desc.name}'s traits ({names}); got {trait!r}.")


def plot_heterogeneity(
    model: Any, trait: int | str = 0, *, ax: Axes | None = None
) -> Axes:
    """Spread of one latent customer trait across customers, as the model describes it.

    The distribution, its name, symbol, unit and description come from the model's
    ``describe().heterogeneity`` (:class:`clvlab.models.contract.Heterogeneity`), so the
    same function draws BG/NBD's Gamma purchase rates and Beta dropout probabilities,
    Pareto/NBD's Gamma dropout rates, or any other model's traits. Drawn on a log axis as
    the density of ``ln x`` (``x f(x)``), from the 0.5% to the 99.5% quantile, with the
    mean and median marked.

    Parameters
    ----------
    model : fitted model
        Any clvlab model whose ``describe().heterogeneity`` is not empty.
    trait : int or str, default=0
        Which trait: its position in ``describe().heterogeneity`` or a word of its name
        (``"purchase"``, ``"dropout"``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` the ln-density curve, ``ax.lines[1]`` the mean.

    Raises
    ------
    NotFittedError
        The model is not fitted.
    NotImplementedError
        The model describes no heterogeneity.
    ValueError
        No trait matches ``trait``.
    """
    h = _trait(model, trait)
    dist = h.distribution
    ax = _axes(ax)
    unit = f" {h.unit}" if h.unit else ""
    _log_density(ax, dist, f"Mean {dist.mean():.3g}{unit}")
    label = h.name[:1].upper() + h.name[1:]
    detail = f"{h.unit}, log scale" if h.unit else "log scale"
    ax.set_xlabel(f"{label} {h.symbol} ({detail})")
    import textwrap

    # wrapped so a long description stays inside the figure (no clipped title)
    detail_text = textwrap.fill(_with_values(h.description, model), width=70)
    ax.set_title(f"Heterogeneity in {h.name} across customers\n{detail_text}")
    return ax


#: Greek letters of descriptions -> parameter names ("Gamma(r, α)" names alpha).
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "θ": "theta", "κ": "kappa",
          "λ": "lambda", "μ": "mu", "ν": "nu", "ρ": "rho", "σ": "sigma", "τ": "tau"}


def _with_values(description: str, model: Any) -> str:
    """Put fitted values into a description's leading ``Dist(p, q)``: ``Dist(p = 0.24, ...)``.

    Only symbols that are parameters of the model (directly or as their Greek letter) get a
    value; any other text is kept as it is.
    """
    import re

    match = re.match(r"^([^(:]+)\(([^)]*)\)", description)
    params = getattr(model, "params_", None)
    if match is None or params is None:
        return description
    parts = []
    for token in (t.strip() for t in match.group(2).split(",")):
        name = token if token in params.index else _GREEK.get(token)
        parts.append(f"{token} = {float(params[name]):.3g}" if name in params.index else token)
    return f"{match.group(1)}({', '.join(parts)}){description[match.end():]}"


def plot_purchase_rate_heterogeneity(model: Any, *, ax: Axes | None = None) -> Axes:
    """Spread of purchase rates across customers: :func:`plot_heterogeneity` of that trait.

    Parameters
    ----------
    model : fitted purchase model
        Its ``describe().heterogeneity`` names a trait with "purchase" in it (else the
        first trait is drawn).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return plot_heterogeneity(model, _pick_trait(model, "purchase", 0), ax=ax)


def plot_dropout_heterogeneity(model: Any, *, ax: Axes | None = None) -> Axes:
    """Spread of dropout across customers: :func:`plot_heterogeneity` of that trait.

    Parameters
    ----------
    model : fitted purchase model
        Its ``describe().heterogeneity`` names a trait with "dropout" in it (else the
        second trait is drawn).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return plot_heterogeneity(model, _pick_trait(model, "dropout", 1), ax=ax)


def _pick_trait(model: Any, word: str, position: int) -> int | str:
    _check_fitted(model)
    desc = describe(model)
    names = [h.name.lower() for h in desc.heterogeneity]
    if any(word in n for n in names):
        return word
    if position < len(names):
        return position
    raise NotImplementedError(
        f"{desc.name} describes no {word} distribution (its traits: "
        f"{', '.join(names) or 'none'}); use plot_heterogeneity(model, trait) for those."
    )


def plot_probability_alive_history(
    model: Any,
    purchases: npt.ArrayLike,
    *,
    end: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """One customer's P(alive) over time: it decays between purchases and jumps at each.

    Parameters
    ----------
    model : fitted purchase model
        Must offer ``probability_alive_history`` (``NotImplementedError`` otherwise).
    purchases : array-like
        The customer's purchase dates (first purchase included) or ages in the model's
        time unit.
    end : date or float, optional
        End of the period shown (e.g. the observation end); default the last purchase.
    ax : matplotlib Axes, optional
    title : str, optional
        Title (e.g. naming the customer).

    Returns
    -------
    matplotlib.axes.Axes
        A line of P(alive) (``ax.lines[0]``) and vertical markers at the purchases.
    """
    _require(model, "probability_alive_history", "the P(alive) history plot")
    hist = model.probability_alive_history(purchases, end=end)
    ax = _axes(ax, figsize=(8.0, 3.8))
    unit = _model_unit(model)
    if "date" in hist.columns:
        x = pd.to_datetime(hist["date"]).to_numpy()
        dates = pd.to_datetime(pd.Series(np.asarray(purchases).reshape(-1))).dt.normalize()
        marks = np.unique(dates.to_numpy())
        ax.set_xlabel("Date")
    else:
        x = hist.index.to_numpy(dtype=float)
        raw = np.asarray(purchases, dtype=float).reshape(-1)
        marks = np.unique(raw - raw.min())
        ax.set_xlabel(f"{unit.capitalize()} since the first purchase")
    ax.plot(x, hist["probability_alive"].to_numpy(), color=MODEL_COLOR, lw=2, label="P(alive)")
    for i, m in enumerate(marks):
        ax.axvline(m, color=ACTUAL_COLOR, ls=":", lw=1, label="Purchase" if i == 0 else None)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("P(alive)")
    ax.set_title(title or f"Probability the customer is alive ({len(marks)} purchases)")
    ax.legend(loc="lower left")
    if "date" in hist.columns:
        ax.figure.autofmt_xdate()
    return ax
