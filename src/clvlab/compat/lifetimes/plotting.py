"""lifetimes' ``lifetimes.plotting``: the same functions, arguments and returned Axes.

Each function takes a fitted compat model (any object with lifetimes' methods works) and
returns the matplotlib Axes it drew on, like lifetimes. Where clvlab has the same plot it
draws it (:func:`clvlab.plotting.plot_frequency_histogram` for
:func:`plot_period_transactions`, the heterogeneity plots), with lifetimes' titles and
labels applied; the others draw lifetimes' layout from the compat model's predictions.

Differences on purpose: :func:`plot_period_transactions` shows the model's *expected*
number of customers per frequency (exact, the same every time) instead of one random
simulation, with a last ``"7+"`` bin; the heterogeneity plots show the density of the log
of the rate or probability on a log axis (finite where the plain density is infinite at 0);
:func:`plot_expected_repeat_purchases` works with current matplotlib (lifetimes' used a
matplotlib attribute that no longer exists).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from clvlab.compat.lifetimes._checks import LifetimesCompatWarning
from clvlab.compat.lifetimes.utils import calculate_alive_path, expected_cumulative_transactions

__all__ = [
    "plot_period_transactions",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_expected_repeat_purchases",
    "plot_history_alive",
    "plot_cumulative_transactions",
    "plot_incremental_transactions",
    "plot_transaction_rate_heterogeneity",
    "plot_dropout_rate_heterogeneity",
]


def _pyplot() -> Any:
    from matplotlib import pyplot as plt

    return plt


def _training_data(model: Any) -> pd.DataFrame:
    data = getattr(model, "data", None)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(
            f"This plot reads the training data of the model (model.data), which this "
            f"{type(model).__name__} does not hold (loaded without data?)."
        )
    return data


class _ClvlabView:
    """A compat purchase fitter seen through clvlab's names, for :mod:`clvlab.plotting`."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._param_names = tuple(getattr(model, "_param_names", ()))
        self._model_name = "Model"
        self.time_unit_ = None

    def probability_of_purchases(self, *, n: Any, t: Any) -> Any:
        model = self._model
        if hasattr(model, "_hooks"):
            model._require("probability_of_purchases")
            return np.exp(model._hooks._log_pmf_new(model._params_array(),
                                                    np.asarray(n, float), np.asarray(t, float)))
        return model.probability_of_n_purchases_up_to_time(t, n)


def _ignored(function: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        warnings.warn(
            f"{function}: clvlab draws this plot itself, so the matplotlib options "
            f"{', '.join(sorted(kwargs))} are not applied.",
            LifetimesCompatWarning,
            stacklevel=3,
        )


def plot_period_transactions(
    model: Any,
    max_frequency: int = 7,
    title: str = "Frequency of Repeat Transactions",
    xlabel: str = "Number of Calibration Period Transactions",
    ylabel: str = "Customers",
    **kwargs: Any,
) -> Any:
    """Plot customers by number of repeat purchases: actual vs the model's expectation.

    Drawn by :func:`clvlab.plotting.plot_frequency_histogram`: the model bars are the
    expected counts ``sum_i P(X(T_i) = x)`` (lifetimes drew one random simulation), and
    the last bin holds ``max_frequency`` and more.

    Parameters
    ----------
    model : fitted purchase model
        With ``data`` (the training frame) and new-customer purchase probabilities.
    max_frequency : int, default=7
        Last bin ``"7+"``.
    title, xlabel, ylabel : str
        As lifetimes.
    **kwargs
        ``ax`` and ``label`` (two legend labels) are used; other options are not.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from clvlab.plotting import plot_frequency_histogram

    plt = _pyplot()
    labels = kwargs.pop("label", ["Actual", "Model"])
    ax = kwargs.pop("ax", None) or plt.subplot(111)
    _ignored("plot_period_transactions", kwargs)
    data = _training_data(model)
    weights = data["weights"].to_numpy() if "weights" in data.columns else None
    frame = data[["frequency", "T"]].astype(float)
    if weights is not None and not np.all(weights == 1):
        if not np.all(weights == np.floor(weights)):
            raise ValueError("plot_period_transactions needs whole-number weights (customers "
                             "per row).")
        frame = frame.loc[frame.index.repeat(weights.astype(np.int64))]
    frame = frame.reset_index(drop=True)
    plot_frequency_histogram(_ClvlabView(model), frame, max_frequency=max_frequency, ax=ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(ax.containers[-2:], labels)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any, calibration_holdout_matrix: pd.DataFrame, kind: str = "frequency_cal",
    n: int = 7, **kwargs: Any,
) -> Any:
    """Mean holdout purchases, actual vs predicted, by a calibration-period quantity.

    Parameters
    ----------
    model : fitted purchase model
    calibration_holdout_matrix : DataFrame
        From :func:`clvlab.compat.lifetimes.utils.calibration_and_holdout_data`.
    kind : {"frequency_cal", "recency_cal", "T_cal", "time_since_last_purchase"}
        Grouping on the x axis.
    n : int, default=7
        Number of groups shown.
    **kwargs
        Passed to ``DataFrame.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    x_labels = {
        "frequency_cal": "Purchases in calibration period",
        "recency_cal": "Age of customer at last purchase",
        "T_cal": "Age of customer at the end of calibration period",
        "time_since_last_purchase": "Time since user made last purchase",
    }
    if kind not in x_labels:
        raise ValueError(f"kind must be one of {', '.join(map(repr, x_labels))}; got {kind!r}.")
    summary = calibration_holdout_matrix.copy()
    duration_holdout = summary.iloc[0]["duration_holdout"]
    summary["model_predictions"] = model.conditional_expected_number_of_purchases_up_to_time(
        duration_holdout, summary["frequency_cal"], summary["recency_cal"], summary["T_cal"])
    if kind == "time_since_last_purchase":
        summary["time_since_last_purchase"] = summary["T_cal"] - summary["recency_cal"]
    ax = (summary.groupby(kind)[["frequency_holdout", "model_predictions"]].mean().iloc[:n]
          .plot(**kwargs))
    plt.title("Actual Purchases in Holdout Period vs Predicted Purchases")
    plt.xlabel(x_labels[kind])
    plt.ylabel("Average of Purchases in Holdout Period")
    plt.legend()
    return ax


def _draw_matrix(z: np.ndarray, title: str, xlabel: str, ylabel: str, kwargs: dict[str, Any]
                 ) -> Any:
    plt = _pyplot()
    interpolation = kwargs.pop("interpolation", "none")
    ax = plt.subplot(111)
    image = ax.imshow(z, interpolation=interpolation, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    extent = image.get_extent()
    ax.set_aspect(abs((extent[1] - extent[0]) / (extent[3] - extent[2])))
    plt.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    T: float = 1,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str | None = None,
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Any:
    """Plot expected purchases in the next ``T`` by frequency (columns) and recency (rows).

    Parameters
    ----------
    model : fitted purchase model
    T : float, default=1
        Horizon of the prediction.
    max_frequency, max_recency : int, optional
        Largest frequency and recency (also the customers' age); default the largest in
        ``model.data``.
    title, xlabel, ylabel : str, optional
    **kwargs
        Passed to ``imshow``.

    Returns
    -------
    matplotlib.axes.Axes
        With the matrix as its image, rows = recency 0..max_recency.
    """
    if max_frequency is None:
        max_frequency = int(_training_data(model)["frequency"].max())
    if max_recency is None:
        max_recency = int(_training_data(model)["T"].max())
    rec, freq = np.meshgrid(np.arange(max_recency + 1, dtype=float),
                            np.arange(max_frequency + 1, dtype=float), indexing="ij")
    with warnings.catch_warnings():  # the frequency-0 column has recency > 0, as lifetimes'
        warnings.simplefilter("ignore", LifetimesCompatWarning)
        z = np.asarray(model.conditional_expected_number_of_purchases_up_to_time(
            T, freq, rec, float(max_recency)), dtype=float).reshape(rec.shape)
    if title is None:
        title = (f"Expected Number of Future Purchases for {T} Unit{'s'[T == 1:]} of Time,"
                 "\nby Frequency and Recency of a Customer")
    return _draw_matrix(z, title, xlabel, ylabel, kwargs)


def plot_probability_alive_matrix(
    model: Any,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Any:
    """P(alive) by frequency (columns) and recency (rows), from the model's matrix.

    Parameters
    ----------
    model : fitted purchase model
        With ``conditional_probability_alive_matrix``.
    max_frequency, max_recency : int, optional
    title, xlabel, ylabel : str
    **kwargs
        Passed to ``imshow``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    z = model.conditional_probability_alive_matrix(max_frequency, max_recency)
    return _draw_matrix(np.asarray(z, dtype=float), title, xlabel, ylabel, kwargs)


def plot_expected_repeat_purchases(
    model: Any,
    title: str = "Expected Number of Repeat Purchases per Customer",
    xlabel: str = "Time Since First Purchase",
    ax: Any = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    """Plot expected repeat purchases of a new customer over time (dashed beyond the data).

    Parameters
    ----------
    model : fitted purchase model
    title, xlabel : str
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label of the curve.
    **kwargs
        Passed to ``ax.plot`` (``color``/``c`` set the colour of both segments).

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    if ax is None:
        ax = plt.subplot(111)
    color = kwargs.pop("c", None) or kwargs.pop("color", None)
    max_t = float(_training_data(model)["T"].max())
    times = np.linspace(0, max_t, 100)
    (line,) = ax.plot(times, model.expected_number_of_purchases_up_to_time(times), color=color,
                      label=label, **kwargs)
    times = np.linspace(max_t, 1.5 * max_t, 100)
    ax.plot(times, model.expected_number_of_purchases_up_to_time(times),
            color=line.get_color(), ls="--", **kwargs)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if label is not None:
        ax.legend(loc="lower right")
    return ax


def plot_history_alive(
    model: Any, t: int, transactions: pd.DataFrame, datetime_col: str, freq: str = "D",
    start_date: Any = None, ax: Any = None, **kwargs: Any,
) -> Any:
    """One customer's P(alive) over time, with the purchases marked.

    Parameters
    ----------
    model : fitted purchase model
    t : int
        Number of periods after the first purchase to draw.
    transactions : DataFrame
        The customer's transactions.
    datetime_col : str
    freq : str, default="D"
        Period of the path (as the model's time unit).
    start_date : date-like, optional
        Left end of the x axis; default the first purchase.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the P(alive) ``plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    dates = pd.to_datetime(transactions[datetime_col])
    if start_date is None:
        start_date = dates.min()
    if ax is None:
        ax = plt.subplot(111)
    path = calculate_alive_path(model, transactions, datetime_col, t, freq)
    first = pd.Period(dates.min(), freq=freq)
    path_dates = pd.period_range(first, periods=len(path), freq=freq).to_timestamp()
    ax.plot(path_dates, path.to_numpy(), "-", label="P_alive", **kwargs)
    purchases = pd.PeriodIndex(pd.DatetimeIndex(dates), freq=freq).unique().to_timestamp()
    ax.vlines(purchases, ymin=0, ymax=1, colors="r", linestyles="dashed", label="purchases")
    ax.set_ylim(0, 1.0)
    ax.set_yticks(np.arange(0, 1.1, 0.1))
    ax.set_xlim(pd.Timestamp(start_date), path_dates[-1])
    ax.legend(loc=3)
    ax.set_ylabel("P_alive")
    ax.set_title("History of P_alive")
    return ax


def _tracking(
    incremental: bool, model: Any, transactions: pd.DataFrame, datetime_col: str,
    customer_id_col: str, t: int, t_cal: float, datetime_format: str | None, freq: str,
    set_index_date: bool, title: str, xlabel: str, ylabel: str, ax: Any, kwargs: dict[str, Any],
) -> Any:
    plt = _pyplot()
    if ax is None:
        ax = plt.subplot(111)
    frame = expected_cumulative_transactions(
        model, transactions, datetime_col, customer_id_col, t,
        datetime_format=datetime_format, freq=freq, set_index_date=set_index_date)
    if incremental:
        frame = frame - frame.shift(1)
    ax = frame.plot(ax=ax, title=title, **kwargs)
    if set_index_date:
        x_vline = frame.index[int(t_cal)]
        xlabel = "date"
    else:
        x_vline = t_cal
    ax.axvline(x=x_vline, color="r", linestyle="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Cumulative Transactions",
    xlabel: str = "day",
    ylabel: str = "Cumulative Transactions",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Actual vs predicted cumulative repeat transactions, with the calibration end marked.

    Parameters
    ----------
    model : fitted purchase model
    transactions : DataFrame
    datetime_col, customer_id_col : str
    t : int
        Periods from the first transaction.
    t_cal : float
        Position of the vertical line (end of calibration).
    datetime_format : str, optional
    freq : str, default="D"
    set_index_date : bool, default=False
    title, xlabel, ylabel : str
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``DataFrame.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _tracking(False, model, transactions, datetime_col, customer_id_col, t, t_cal,
                     datetime_format, freq, set_index_date, title, xlabel, ylabel, ax, kwargs)


def plot_incremental_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Daily Transactions",
    xlabel: str = "day",
    ylabel: str = "Transactions",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Actual vs predicted repeat transactions per period, with the calibration end marked.

    Parameters
    ----------
    model : fitted purchase model
    transactions : DataFrame
    datetime_col, customer_id_col : str
    t : int
    t_cal : float
    datetime_format : str, optional
    freq : str, default="D"
    set_index_date : bool, default=False
    title, xlabel, ylabel : str
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``DataFrame.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _tracking(True, model, transactions, datetime_col, customer_id_col, t, t_cal,
                     datetime_format, freq, set_index_date, title, xlabel, ylabel, ax, kwargs)


def _heterogeneity(model: Any, which: str, suptitle: str, xlabel: str, ylabel: str,
                   suptitle_fontsize: float, kwargs: dict[str, Any]) -> Any:
    from clvlab import plotting

    plt = _pyplot()
    fig, ax = plt.subplots(1)
    draw = (plotting.plot_purchase_rate_heterogeneity if which == "rate"
            else plotting.plot_dropout_heterogeneity)
    # clvlab's plot reads the model's own description (the clvlab model behind this one)
    draw(getattr(model, "clvlab_model_", model), ax=ax)
    fig.suptitle(suptitle, fontsize=suptitle_fontsize, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if kwargs and ax.lines:
        ax.lines[0].set(**kwargs)
    return ax


def plot_transaction_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Transaction Rate",
    xlabel: str = "Transaction Rate",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    **kwargs: Any,
) -> Any:
    """Gamma(r, alpha) distribution of purchase rates across customers.

    Drawn by :func:`clvlab.plotting.plot_purchase_rate_heterogeneity` (density of the log
    rate on a log axis, mean and median marked).

    Parameters
    ----------
    model : fitted model with parameters ``r`` and ``alpha``
    suptitle, xlabel, ylabel : str
    suptitle_fontsize : float, default=14
    **kwargs
        Line properties of the density curve (e.g. ``color``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _heterogeneity(model, "rate", suptitle, xlabel, ylabel, suptitle_fontsize, kwargs)


def plot_dropout_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Dropout Probability",
    xlabel: str = "Dropout Probability p",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    **kwargs: Any,
) -> Any:
    """Beta(a, b) distribution of the dropout probability after a purchase (BG/NBD, MBG/NBD).

    Drawn by :func:`clvlab.plotting.plot_dropout_heterogeneity`.

    Parameters
    ----------
    model : fitted model with parameters ``a`` and ``b``
    suptitle, xlabel, ylabel : str
    suptitle_fontsize : float, default=14
    **kwargs
        Line properties of the density curve.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _heterogeneity(model, "dropout", suptitle, xlabel, ylabel, suptitle_fontsize,
                          kwargs)
