"""Holdout evaluation: how good is the forecast, customer by customer.

:func:`evaluate` compares what fitted models predict for a holdout period with what the
customers actually did in it, on a calibration/holdout split built by
:func:`clvlab.calibration_holdout`. It never fits: the caller fits the models on the
calibration columns (``frequency``, ``recency``, ``T``, ``monetary_value``) first.

The building blocks are public too, so a notebook can compute one diagnostic alone:
metric functions on arrays (:func:`mean_absolute_error`, :func:`root_mean_squared_error`,
:func:`mean_bias`, :func:`pearson_correlation`, :func:`spearman_correlation`,
:func:`aggregate_percent_error`, :func:`top_decile_capture`), the binned conditional
expectations (:func:`frequency_bins`, :func:`recency_bins`,
:func:`conditional_expectations`), the calibration-histogram goodness of fit
(:func:`frequency_histogram`, :func:`chi_square_test`) and the repeat-transaction
tracking series (:func:`actual_tracking`, :func:`tracking`).

Every computation is vectorised (bincount, sort, rank); a million customers take seconds.
How to read each number and plot: ``docs/evaluation.md``.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the
   easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from clvlab import _columns as C
from clvlab._checks import check_discount_rate, check_horizon, check_margin
from clvlab._memory import release_unused
from clvlab._time import UNIT_NAMES, unit_days
from clvlab.clv import customer_lifetime_value
from clvlab.exceptions import (
    ClvlabWarning,
    DataQualityWarning,
    InvalidValueError,
    MissingColumnsError,
    ModelWarning,
    describe_offenders,
    reissue_warnings,
)
from clvlab.models.contract import describe, missing_note, offers
from clvlab.rfm import _check_transactions, _check_unit, _iso, _parse_day, _period_ordinal
from clvlab.validation import validate_rfm

__all__ = [
    "Evaluation",
    "ChiSquareResult",
    "evaluate",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_bias",
    "pearson_correlation",
    "spearman_correlation",
    "aggregate_percent_error",
    "top_decile_capture",
    "regression_metrics",
    "frequency_bins",
    "recency_bins",
    "conditional_expectations",
    "frequency_histogram",
    "chi_square_test",
    "actual_tracking",
    "tracking",
    "decile_table",
    "log_predictive_score",
    "fitted_parameter_count",
]

#: Column names of :attr:`Evaluation.customers`.
ACTUAL_PURCHASES = "actual_purchases"
ACTUAL_VALUE = "actual_value"
PREDICTED_PURCHASES = "predicted_purchases"
PREDICTED_SPEND = "predicted_spend"
PREDICTED_VALUE = "predicted_value"
BASELINE_PURCHASES = "baseline_purchases"
BASELINE_VALUE = "baseline_value"
PROBABILITY_ALIVE = "probability_alive"

_METRIC_NAMES = ("mae", "rmse", "bias", "pearson", "spearman", "aggregate_pct_error")


# ======================================================================================
# metric functions on arrays
# ======================================================================================


def _pair(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as finite 1-d floats of equal length, or a clear error."""
    a = np.asarray(actual, dtype=float).reshape(-1)
    p = np.asarray(predicted, dtype=float).reshape(-1)
    if a.shape != p.shape:
        raise InvalidValueError(
            f"actual and predicted must have the same length; got {a.shape[0]} and "
            f"{p.shape[0]}. Pass one value per customer for both.",
            rule="equal lengths",
        )
    for name, arr in (("actual", a), ("predicted", p)):
        bad = ~np.isfinite(arr)
        if bad.any():
            pos = np.flatnonzero(bad)
            raise InvalidValueError(
                f"{name} must be finite; {pos.size} values are NaN or infinite (positions "
                f"{describe_offenders(pos[:5].tolist(), pos.size)}). Drop or fill these "
                "customers before evaluating.",
                column=name,
                rule="finite",
                offenders=pos[:5].tolist(),
                n_offending=int(pos.size),
            )
    return a, p


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), as ``scipy.stats.rankdata``.

    The same numbers as scipy's default ``method="average"`` (every rank is a whole or
    half number, exact in floating point), from one unstable ``argsort``: the tie
    structure, not the order inside a tie, decides each rank.
    """
    return _ranks_and_descending(values, descending=False)[0]


def _ranks_and_descending(
    values: np.ndarray, *, descending: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_average_ranks` and (with ``descending``) :func:`_descending`, one argsort.

    The descending order (highest first, ties in row order) comes from the ascending
    argsort the ranks need: its tie groups in reverse, each group's rows in increasing
    row number -- found by sorting one integer key (group from the top, row), which is
    much cheaper than a second, stable float argsort. Same arrays as the two functions.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    n = v.size
    order = np.argsort(v)
    s = v[order]
    starts = np.r_[True, s[1:] != s[:-1]] if n else np.zeros(0, dtype=bool)
    del s
    dense = np.cumsum(starts)  # 1-based number of each sorted value's tie group
    count = np.r_[np.flatnonzero(starts), n]
    out = np.empty(n)
    out[order] = 0.5 * (count[dense] + count[dense - 1] + 1)
    if not descending:
        return out, None
    n_groups = count.size - 1
    if n_groups == n:  # no ties: the order is unique, highest first is its reverse
        return out, order[::-1].copy()
    key = n_groups - dense  # 0 for the highest group
    key *= n
    key += order  # (group from the top, row): distinct, so any sort gives one order
    key.sort()
    np.remainder(key, n, out=key)
    return out, key


class _Memo:
    """Results derived from arrays that recur across evaluations of one holdout.

    :func:`clvlab.compare_models` evaluates every candidate on the same split: the actual
    holdout values, their ranks, the baseline's predictions and metrics, the distinct
    histories of the log score and the actual tracking series are the same for each. An
    entry is reused only when its key arrays are *equal* (checked), so a result never
    depends on whether it came from here.
    """

    def __init__(self) -> None:
        self._items: list[tuple[str, tuple[np.ndarray, ...], tuple[Any, ...], Any]] = []
        self.by_identity: dict[tuple[Any, ...], Any] = {}

    @staticmethod
    def _sig(arrays: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
        return tuple((a.shape, a.dtype.str, float(a[0]) if a.size else 0.0,
                      float(a[-1]) if a.size else 0.0) for a in arrays)

    def _find(self, kind: str, arrays: tuple[np.ndarray, ...]) -> tuple[bool, Any]:
        sig = self._sig(arrays)
        for k, arrs, s, result in self._items:
            if k == kind and s == sig and all(
                a is b or np.array_equal(a, b) for a, b in zip(arrs, arrays, strict=True)
            ):
                return True, result
        return False, None

    def has(self, kind: str, arrays: tuple[np.ndarray, ...]) -> bool:
        """Whether a result for equal ``arrays`` is kept."""
        return self._find(kind, arrays)[0]

    def get(self, kind: str, arrays: tuple[np.ndarray, ...], compute: Any) -> Any:
        """Return ``compute()``, or its earlier result for equal ``arrays``."""
        found, result = self._find(kind, arrays)
        if found:
            return result
        result = compute()
        self._items.append((kind, arrays, self._sig(arrays), result))
        return result


def mean_absolute_error(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Mean of ``|predicted - actual|`` (NaN for empty input).

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer, same units.

    Returns
    -------
    float
    """
    a, p = _pair(actual, predicted)
    return float(np.mean(np.abs(p - a))) if a.size else math.nan


def root_mean_squared_error(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Square root of the mean of ``(predicted - actual)**2`` (NaN for empty input).

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    float
    """
    a, p = _pair(actual, predicted)
    return float(np.sqrt(np.mean((p - a) ** 2))) if a.size else math.nan


def mean_bias(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Mean of ``predicted - actual``: positive means the model over-predicts.

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    float
    """
    a, p = _pair(actual, predicted)
    return float(np.mean(p - a)) if a.size else math.nan


def pearson_correlation(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Pearson correlation of ``actual`` and ``predicted``.

    NaN (without a warning) when either has zero variance or fewer than two values, since
    the correlation is undefined there.

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    float
    """
    a, p = _pair(actual, predicted)
    if a.size < 2:
        return math.nan
    da, dp = a - a.mean(), p - p.mean()
    denom = math.sqrt(float(da @ da) * float(dp @ dp))
    if denom == 0.0:
        return math.nan
    return float(np.clip(float(da @ dp) / denom, -1.0, 1.0))


def spearman_correlation(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks (ties share rank).

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    float
        NaN when either input is constant.
    """
    a, p = _pair(actual, predicted)
    if a.size < 2:
        return math.nan
    return pearson_correlation(_average_ranks(a), _average_ranks(p))


def aggregate_percent_error(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Error of the total, in percent: ``100 * (sum(predicted) - sum(actual)) / sum(actual)``.

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    float
        NaN when the actual total is 0.
    """
    a, p = _pair(actual, predicted)
    total = float(a.sum())
    if total == 0.0:
        return math.nan
    return 100.0 * (float(p.sum()) - total) / total


def top_decile_capture(
    actual: npt.ArrayLike, predicted: npt.ArrayLike, share: float = 0.10
) -> float:
    """Share of the actual total earned by the customers ranked top ``share`` by prediction.

    Customers are ranked by ``predicted`` (highest first) and the top
    ``share * n_customers`` of them (a fractional count is allowed) are selected. Customers
    tied with the last one selected are taken *pro rata*: each tied customer counts with the
    same weight, which is the expected capture under a random tie-break. So the result does
    not depend on the order of the rows, and a constant prediction captures exactly
    ``share`` of the total.

    Parameters
    ----------
    actual : array-like of shape (n_customers,)
        Observed value per customer in the holdout (e.g. spend), the thing to capture.
    predicted : array-like of shape (n_customers,)
        Score used for the ranking (predicted CLV or predicted purchases).
    share : float, default=0.10
        Fraction of customers selected, in (0, 1].

    Returns
    -------
    float
        In [0, 1] for non-negative ``actual``; NaN when the actual total is 0.
    """
    if not (isinstance(share, (int, float)) and 0 < share <= 1):
        raise ValueError(f"share must be in (0, 1], e.g. 0.10 for the top decile; got {share!r}.")
    a, p = _pair(actual, predicted)
    return _top_capture(a, p, _descending(p), share)


def _descending(p: np.ndarray) -> np.ndarray:
    """Order of ``p`` from the highest, ties in row order (deciles, top-decile capture)."""
    return np.argsort(-p, kind="stable")


def _top_capture(a: np.ndarray, p: np.ndarray, order: np.ndarray, share: float = 0.10) -> float:
    """:func:`top_decile_capture` of checked arrays, ``order = _descending(p)``."""
    total = float(a.sum())
    if a.size == 0 or total == 0.0:
        return math.nan
    k = share * a.size  # number of customers selected (may be fractional)
    p_sorted, a_sorted = p[order], a[order]
    # group equal predictions: weight of a tie group = selected slots falling in it / size
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    sizes = np.diff(np.r_[starts, a.size])
    group_sum = np.add.reduceat(a_sorted, starts)
    taken = np.clip(k - starts, 0.0, sizes)
    return float((group_sum * taken / sizes).sum() / total)


def regression_metrics(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, float]:
    """All per-customer accuracy metrics of one prediction, as a dict.

    Parameters
    ----------
    actual, predicted : array-like of shape (n_customers,)
        Observed and predicted values per customer.

    Returns
    -------
    dict
        Keys ``mae``, ``rmse``, ``bias``, ``pearson``, ``spearman``,
        ``aggregate_pct_error`` (see the functions of the same meaning).
    """
    a, p = _pair(actual, predicted)
    return _metrics_from_ranks(a, p, _average_ranks(a), _average_ranks(p))


def _metrics_from_ranks(
    actual: np.ndarray, predicted: np.ndarray, rank_actual: np.ndarray, rank_pred: np.ndarray
) -> dict[str, float]:
    """:func:`regression_metrics` with precomputed average ranks (for repeated use)."""
    a, p = _pair(actual, predicted)
    return {
        "mae": mean_absolute_error(a, p),
        "rmse": root_mean_squared_error(a, p),
        "bias": mean_bias(a, p),
        "pearson": pearson_correlation(a, p),
        "spearman": pearson_correlation(rank_actual, rank_pred) if a.size >= 2 else math.nan,
        "aggregate_pct_error": aggregate_percent_error(a, p),
    }


# ======================================================================================
# binned conditional expectations
# ======================================================================================


def frequency_bins(frequency: npt.ArrayLike, max_frequency: int = 7) -> pd.Categorical:
    """Bin calibration frequencies as ``"0", "1", ..., "<max>+"`` (FHL 2005 Figure 3 uses 7+).

    Parameters
    ----------
    frequency : array-like of shape (n_customers,)
        Whole numbers of repeat purchases.
    max_frequency : int, default=7
        Frequencies at or above this value share the last bin.

    Returns
    -------
    pandas.Categorical
        Ordered categories ``"0" .. str(max_frequency - 1), f"{max_frequency}+"``.
    """
    if not (isinstance(max_frequency, (int, np.integer)) and max_frequency >= 1):
        raise ValueError(f"max_frequency must be an integer >= 1; got {max_frequency!r}.")
    f = np.asarray(frequency, dtype=float).reshape(-1)
    codes = np.minimum(f, max_frequency).astype(np.int64)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def recency_bins(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    *,
    n_bins: int = 6,
    upper: float | None = None,
) -> pd.Categorical:
    """Bin customers by calibration recency, with one-time buyers in their own bin.

    Customers with no repeat purchase (frequency 0, recency 0 by definition) go to the bin
    ``"no repeat"``; the others fall in ``n_bins`` equal-width bins of recency over
    ``[0, upper]``, labelled by their edges (``"[0, 6.5)"`` ... the last closed).

    Parameters
    ----------
    frequency, recency : array-like of shape (n_customers,)
        Calibration frequency and recency (recency in the split's time unit).
    n_bins : int, default=6
        Number of recency bins for repeat buyers.
    upper : float, optional
        Upper edge of the last bin; defaults to the largest recency.

    Returns
    -------
    pandas.Categorical
        Ordered categories ``"no repeat"`` then the recency bins.
    """
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}.")
    f = np.asarray(frequency, dtype=float).reshape(-1)
    r = np.asarray(recency, dtype=float).reshape(-1)
    top = float(np.max(r)) if upper is None and r.size else float(upper or 0.0)
    top = top if top > 0 else 1.0
    edges = np.linspace(0.0, top, n_bins + 1)
    codes = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_bins - 1) + 1
    codes = np.where(f > 0, codes, 0)
    labels = ["no repeat"] + [
        f"[{edges[i]:.3g}, {edges[i + 1]:.3g}{']' if i == n_bins - 1 else ')'}"
        for i in range(n_bins)
    ]
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def conditional_expectations(
    bins: pd.Categorical,
    actual: npt.ArrayLike,
    predicted: Mapping[str, npt.ArrayLike],
    *,
    name: str = "bin",
) -> pd.DataFrame:
    """Mean actual and predicted holdout values per bin (empty bins are kept, with NaN means).

    Parameters
    ----------
    bins : pandas.Categorical of length n_customers
        Bin of each customer (see :func:`frequency_bins`, :func:`recency_bins`).
    actual : array-like of shape (n_customers,)
        Observed holdout value (e.g. purchases) per customer.
    predicted : mapping of str to array-like
        Column name -> predicted holdout value per customer, e.g.
        ``{"predicted_purchases": ...}``.
    name : str, default="bin"
        Name of the index.

    Returns
    -------
    DataFrame
        Index: the bin labels; columns ``n_customers``, ``actual_purchases`` (named after
        nothing but the mean of ``actual``) and one column per entry of ``predicted``.
    """
    codes = np.asarray(bins.codes)
    k = len(bins.categories)
    n = np.bincount(codes, minlength=k).astype(float)
    out: dict[str, np.ndarray] = {"n_customers": n.astype(np.int64)}
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.asarray(actual, dtype=float).reshape(-1)
        out[ACTUAL_PURCHASES] = np.bincount(codes, weights=a, minlength=k) / n
        for col, values in predicted.items():
            v = np.asarray(values, dtype=float).reshape(-1)
            out[col] = np.bincount(codes, weights=v, minlength=k) / n
    frame = pd.DataFrame(out, index=pd.Index(list(bins.categories), name=name))
    return frame


# ======================================================================================
# calibration-period goodness of fit
# ======================================================================================


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson χ² test of the calibration frequency histogram.

    Attributes
    ----------
    statistic : float
        ``sum((observed - expected)**2 / expected)`` over the bins.
    dof : int
        Degrees of freedom: number of bins - 1 - number of fitted parameters.
    p_value : float
        Upper-tail probability of ``statistic`` under χ²(``dof``).
    table : DataFrame
        Index the frequency bins (``"0"`` .. ``"7+"``); columns ``observed``,
        ``expected`` (customers) and ``contribution`` (each bin's term of the statistic).
    """

    statistic: float
    dof: int
    p_value: float
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (for reports and JSON)."""
        return {
            "statistic": self.statistic,
            "dof": self.dof,
            "p_value": self.p_value,
            "table": _frame_records(self.table),
        }


def frequency_histogram(model: Any, data: Any, max_frequency: int = 7) -> pd.DataFrame:
    """Observed vs model-expected number of customers by calibration frequency.

    The expected count in bin ``x`` is ``sum_i P(X(T_i) = x)`` over the customers, with
    ``P(X(t) = x)`` the model's unconditional probability for a customer observed for ``t``
    (eq. (8) in FHL 2005 for BG/NBD); customers differ in ``T``, so each contributes its own
    probability. The last bin ``"<max>+"`` holds the rest, so observed and expected both sum
    to the number of customers.

    Parameters
    ----------
    model : fitted purchase model
        Must offer ``probability_of_purchases`` (see :func:`clvlab.models.contract.offers`).
    data : DataFrame
        RFM summary (columns ``frequency``, ``T``), e.g. the calibration columns of a split.
    max_frequency : int, default=7
        Frequencies at or above this value share the last bin.

    Returns
    -------
    DataFrame
        Index ``frequency`` (bin labels); columns ``observed`` and ``expected``.

    Raises
    ------
    NotImplementedError
        The model does not offer ``probability_of_purchases``.
    """
    if not offers(model, "probability_of_purchases"):
        raise NotImplementedError(
            missing_note(model, "probability_of_purchases", "the frequency histogram")
        )
    frame = validate_rfm(data, require=(C.FREQUENCY, C.T), model="frequency_histogram")
    bins = frequency_bins(frame[C.FREQUENCY].to_numpy(), max_frequency)
    observed = np.bincount(np.asarray(bins.codes), minlength=max_frequency + 1)
    t_unique, t_count = np.unique(frame[C.T].to_numpy(dtype=float), return_counts=True)
    expected = np.empty(max_frequency + 1)
    for x in range(max_frequency):
        prob = np.asarray(model.probability_of_purchases(n=x, t=t_unique), dtype=float)
        prob = np.broadcast_to(prob, t_unique.shape)
        expected[x] = float(t_count @ prob)
    expected[max_frequency] = len(frame) - expected[:max_frequency].sum()
    return pd.DataFrame(
        {"observed": observed.astype(np.int64), "expected": expected},
        index=pd.Index(list(bins.categories), name=C.FREQUENCY),
    )


def chi_square_test(histogram: pd.DataFrame, n_params: int = 4) -> ChiSquareResult:
    """Pearson χ² goodness-of-fit test of an observed vs expected histogram.

    Parameters
    ----------
    histogram : DataFrame
        Columns ``observed`` and ``expected`` (e.g. from :func:`frequency_histogram`).
    n_params : int, default=4
        Number of parameters estimated from the same data (4 for BG/NBD); they are
        subtracted from the degrees of freedom.

    Returns
    -------
    ChiSquareResult
        A warning of class :class:`~clvlab.exceptions.ModelWarning` is issued when some
        bin expects fewer than 5 customers (the χ² approximation is then unreliable; use a
        smaller ``max_frequency``).
    """
    for col in ("observed", "expected"):
        if col not in histogram.columns:
            raise MissingColumnsError(
                f"histogram lacks column {col!r}; columns present: "
                f"{', '.join(map(str, histogram.columns))}. Build it with frequency_histogram.",
                column=col,
                rule="required column",
            )
    obs = histogram["observed"].to_numpy(dtype=float)
    exp = histogram["expected"].to_numpy(dtype=float)
    dof = len(obs) - 1 - int(n_params)
    if dof < 1:
        raise ValueError(
            f"The χ² test needs more bins than fitted parameters + 1; got {len(obs)} bins and "
            f"{n_params} parameters. Use a larger max_frequency."
        )
    small = exp < 5
    if small.any():
        labels = [str(x) for x in histogram.index[small]]
        warnings.warn(
            f"χ² test: {int(small.sum())} frequency bins expect fewer than 5 customers "
            f"({describe_offenders(labels, len(labels))}); the p-value is unreliable. Use a "
            "smaller max_frequency to pool sparse bins.",
            ModelWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        contribution = np.where(exp > 0, (obs - exp) ** 2 / exp, np.where(obs > 0, np.inf, 0.0))
    statistic = float(contribution.sum())
    table = histogram[["observed", "expected"]].copy()
    table["contribution"] = contribution
    return ChiSquareResult(
        statistic=statistic,
        dof=dof,
        p_value=float(special.chdtrc(dof, statistic)),
        table=table,
    )


# ======================================================================================
# tracking of repeat transactions over calendar time
# ======================================================================================


def _user_stacklevel() -> int:
    """Stack level of the first caller outside this module (for ``warnings.warn``)."""
    import sys
    from types import FrameType

    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level += 1
        frame = frame.f_back
    return level


def _split_days(split: pd.DataFrame) -> tuple[int, int]:
    """Calendar days (since 1970-01-01) of calibration_end and observation_end."""
    attrs = getattr(split, "attrs", {}) or {}
    missing = [k for k in (C.ATTR_CALIBRATION_END, C.ATTR_OBSERVATION_END) if k not in attrs]
    if missing:
        raise InvalidValueError(
            f"The split carries no {' or '.join(missing)} in split.attrs, which tracking "
            "needs. Build it with clvlab.calibration_holdout (it records both), or set "
            "split.attrs['calibration_end'] and split.attrs['observation_end'].",
            column=missing[0],
            rule="split.attrs",
        )
    cal = _parse_day(attrs[C.ATTR_CALIBRATION_END], C.ATTR_CALIBRATION_END)
    end = _parse_day(attrs[C.ATTR_OBSERVATION_END], C.ATTR_OBSERVATION_END)
    return cal, end


def _purchase_days(
    transactions: pd.DataFrame, split: pd.DataFrame, merge_period: str, cal_day: int, end_day: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days of the split customers' purchases, merged as :func:`calibration_holdout` does.

    Transactions of one customer within one merge period *and* one of the two periods
    (calibration, holdout) form one purchase, dated by its first transaction's day.

    Returns
    -------
    first_day : ndarray of int, aligned with ``split.index``
        Day of each customer's first purchase.
    repeat_day : ndarray of int
        Days of all repeat purchases up to ``end_day``.
    repeat_holdout : ndarray of bool
        Whether each repeat purchase falls in the holdout.
    """
    log = _check_transactions(transactions)
    wanted = pd.Index(split.index).astype(str)
    # the split of a log holds its customers in the log's order, usually all of them:
    # then the positions are 0..n-1, found without hashing a million ids
    pos = (np.arange(len(wanted)) if _same_text_ids(log.ids, wanted)
           else log.ids.get_indexer(wanted))
    if (pos < 0).any():
        missing = wanted[pos < 0]
        raise InvalidValueError(
            f"transactions hold no purchase for {len(missing)} customers of the split "
            f"(customer_id {describe_offenders(list(missing[:5]), len(missing))}). Pass the "
            "same transaction log the split was built from.",
            column=C.CUSTOMER_ID,
            rule="every split customer in transactions",
            offenders=list(missing[:5]),
            n_offending=len(missing),
        )
    member = np.zeros(log.ids.size, dtype=bool)
    member[pos] = True
    in_split = member[log.codes]
    in_window = log.day <= end_day
    keep = in_split & in_window
    n_out = int(keep.size - np.count_nonzero(keep))
    if n_out:
        n_new = int(np.count_nonzero(~in_split))
        n_late = int(np.count_nonzero(in_split & ~in_window))
        n_new_customers = int(np.count_nonzero(~member))
        reasons = []
        if n_new:
            reasons.append(f"{n_new:,} by {n_new_customers:,} customer(s) first seen after "
                           "calibration_end, not in the split")
        if n_late:
            reasons.append(f"{n_late:,} dated after observation_end")
        warnings.warn(
            f"tracking: {n_out:,} of {keep.size:,} transactions left out "
            f"({'; '.join(reasons)}); tracking follows the calibration cohort over the "
            "split's window.",
            DataQualityWarning,
            stacklevel=_user_stacklevel(),
        )
    code = log.codes[keep]
    day = log.day[keep]
    del member, in_split, in_window, keep
    hold = (day > cal_day).astype(np.int64)
    period = _period_ordinal(day, merge_period)
    # one purchase per (customer, calibration/holdout, merge period): a single int64 key
    # (a group-by in Spark terms), dated by its earliest day
    span = int(period.max() - period.min()) + 1 if period.size else 1
    key = code * 2
    key += hold
    key *= span
    key += period
    if period.size:
        key -= period.min()  # (period may be ``day`` itself: it is not changed)
    del period
    if _sorted_by(key, day):  # a log from load_transactions: by customer, then date
        first_rows = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else (
            np.zeros(0, dtype=np.intp))
    else:
        order = np.lexsort((day, key))
        key_sorted = key[order]
        starts = (np.r_[True, key_sorted[1:] != key_sorted[:-1]] if key.size
                  else np.zeros(0, bool))
        first_rows = order[starts]
        del order, key_sorted, starts
    del key
    p_code, p_hold, p_day = code[first_rows], hold[first_rows].astype(bool), day[first_rows]
    # sorted by code, hold (False first), period: the first row of each code is its first
    # calibration purchase (every split customer bought in calibration)
    is_first = np.r_[True, p_code[1:] != p_code[:-1]]
    first_by_code = np.zeros(log.ids.size, dtype=np.int64)
    first_by_code[p_code[is_first]] = p_day[is_first]
    return first_by_code[pos], p_day[~is_first], p_hold[~is_first]


def _same_text_ids(ids: pd.Index, wanted: pd.Index) -> bool:
    """Whether two Arrow-backed text indexes hold the same ids in the same order.

    Compared a slice at a time (no hash table); False, so the caller looks the ids up,
    for any other kind of index or any null.
    """
    if len(ids) != len(wanted):
        return False
    if ids is wanted:
        return True
    arrays = [getattr(x.array, "_pa_array", None) for x in (ids, wanted)]
    if any(a is None or a.null_count for a in arrays):
        return False
    import pyarrow as pa

    from clvlab.validation import text_equal

    a, b = arrays
    if not all(pa.types.is_string(x.type) or pa.types.is_large_string(x.type) for x in (a, b)):
        return False
    return text_equal(a, b)


def _sorted_by(key: np.ndarray, day: np.ndarray) -> bool:
    """Whether rows are in ``np.lexsort((day, key))`` order already (key, then day)."""
    if key.size < 2:
        return True
    up = key[1:] > key[:-1]
    same = key[1:] == key[:-1]
    same &= day[1:] >= day[:-1]
    up |= same
    return bool(up.all())


def actual_tracking(
    transactions: pd.DataFrame,
    split: pd.DataFrame,
    *,
    origin: Any = None,
) -> pd.DataFrame:
    """Actual repeat transactions of the split's customers per period of calendar time.

    Periods are consecutive lengths of the split's time unit from ``origin`` (default: the
    day of the earliest first purchase): period ``k`` covers ages ``[k-1, k)`` units after
    the origin. A purchase (transactions merged per ``merge_period`` as in
    :func:`clvlab.calibration_holdout`) has the age of the start of the day of its first
    transaction; so "the end of period 39" in weeks is the end of day 273 after the origin.
    The last period ends with ``observation_end``'s day; it may be shorter than one unit.
    The counts add up to the split's ``frequency`` (calibration) and ``frequency_holdout``;
    an error is raised if they don't (a different log).

    Parameters
    ----------
    transactions : DataFrame
        The transaction log (columns ``customer_id``, ``date``, ``amount``) the split was
        built from.
    split : DataFrame
        Output of :func:`clvlab.calibration_holdout` (its ``attrs`` give time unit, merge
        period, calibration and observation end).
    origin : date-like, optional
        Start of period 1; on or before the first purchase.

    Returns
    -------
    DataFrame
        Index ``period`` (1, 2, ...); columns ``period_end`` (age at the end of the period,
        in time units since ``origin``), ``date_end`` (last day of the period),
        ``actual_incremental``, ``actual_cumulative`` (repeat transactions) and
        ``in_holdout`` (the period ends after calibration_end). ``attrs`` hold ``origin``
        (ISO date), ``time_unit`` and ``calibration_boundary`` (age of the end of
        calibration_end in time units since ``origin``).
    """
    return _actual_tracking(transactions, split, origin)[0]


def _actual_tracking(
    transactions: pd.DataFrame, split: pd.DataFrame, origin: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return :func:`actual_tracking` and each customer's first-purchase age (time units)."""
    unit = _split_time_unit(split)
    merge = _check_unit((split.attrs or {}).get(C.ATTR_MERGE_PERIOD, "D"), "merge_period")
    cal_day, end_day = _split_days(split)
    first_day, rep_day, rep_hold = _purchase_days(transactions, split, merge, cal_day, end_day)
    start = int(first_day.min()) if origin is None else _parse_day(origin, "origin")
    if start > int(first_day.min()):
        raise InvalidValueError(
            f"origin {_iso(start)} is after the first purchase ({_iso(int(first_day.min()))}); "
            "choose an origin on or before it.",
            column="origin",
            rule="origin <= first purchase",
        )
    udays = unit_days(unit)
    horizon_age = (end_day + 1 - start) / udays
    n_periods = max(1, int(math.ceil(horizon_age - 1e-9)))
    ages = (rep_day - start) / udays
    idx = np.minimum(np.floor(ages + 1e-9).astype(np.int64), n_periods - 1)
    incremental = np.bincount(idx, minlength=n_periods)
    period_end = np.minimum(np.arange(1, n_periods + 1, dtype=float), horizon_age)
    boundary = (cal_day + 1 - start) / udays
    end_days = start + np.ceil(period_end * udays - 1e-9).astype(np.int64) - 1
    out = pd.DataFrame(
        {
            "period_end": period_end,
            "date_end": pd.to_datetime(end_days.astype("datetime64[D]")),
            "actual_incremental": incremental.astype(np.int64),
            "actual_cumulative": np.cumsum(incremental).astype(np.int64),
            "in_holdout": period_end > boundary + 1e-9,
        },
        index=pd.RangeIndex(1, n_periods + 1, name="period"),
    )
    out.attrs = {
        "origin": _iso(start),
        C.ATTR_TIME_UNIT: unit,
        "calibration_boundary": float(boundary),
    }
    # consistency with the split: the log must give the split's repeat counts
    checks = [(int(np.count_nonzero(~rep_hold)), float(split[C.FREQUENCY].sum()), "frequency")]
    if C.FREQUENCY_HOLDOUT in split.columns:
        checks.append(
            (int(np.count_nonzero(rep_hold)), float(split[C.FREQUENCY_HOLDOUT].sum()),
             "frequency_holdout")
        )
    for found, expected, what in checks:
        if found != int(round(expected)):
            raise InvalidValueError(
                f"transactions give {found} repeat purchases where the split counts "
                f"{int(round(expected))} ({what} summed). Pass the same transaction log the "
                "split was built from.",
                column=what,
                rule="transactions consistent with split",
            )
    return out, (first_day - start) / udays


def _expected_cumulative(model: Any, first_ages: np.ndarray, times: np.ndarray,
                         memo: _Memo | None = None) -> np.ndarray:
    """Return the expected cumulative repeat transactions of a cohort at ``times``.

    A model whose ``expected_cumulative_purchases`` takes ``weights`` gets the distinct
    first-purchase ages and their counts (computed once per cohort in ``memo``): the same
    numbers as one entry per customer -- the method groups equal ages into the same
    counts -- without sorting a million ages per model.
    """
    method = model.expected_cumulative_purchases
    try:
        weighted = "weights" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        weighted = False
    if not weighted or first_ages.size < 1024:
        return np.asarray(method(first_ages, times), dtype=float)
    key = ("first_age_counts", id(first_ages))
    cache = memo.by_identity if memo is not None else {}
    if key not in cache:
        uniq, counts = np.unique(first_ages, return_counts=True)
        cache[key] = (first_ages, uniq, counts.astype(float))
    _, uniq, counts = cache[key]
    return np.asarray(method(uniq, times, weights=counts), dtype=float)


def tracking(
    transactions: pd.DataFrame,
    split: pd.DataFrame,
    purchase_model: Any,
    *,
    origin: Any = None,
) -> pd.DataFrame:
    """Actual and expected repeat transactions per period, across calibration and holdout.

    The expected series is the model's forecast for the cohort: each customer starts
    buying at their first purchase, and the expected cumulative repeat transactions at
    calendar age ``s`` are ``sum_i E[X(s - a_i)]`` over customers with first-purchase age
    ``a_i < s`` (FHL 2005, Figure 4). The calibration part is in-sample, the holdout part a
    forecast.

    Parameters
    ----------
    transactions : DataFrame
        The transaction log the split was built from.
    split : DataFrame
        Output of :func:`clvlab.calibration_holdout`.
    purchase_model : fitted purchase model
        Must offer ``expected_cumulative_purchases`` (``NotImplementedError`` otherwise).
    origin : date-like, optional
        Start of period 1 (default: the earliest first purchase).

    Returns
    -------
    DataFrame
        :func:`actual_tracking` plus ``expected_incremental`` and ``expected_cumulative``.
    """
    return _tracking(transactions, split, purchase_model, origin, None)


def _memo_actual_tracking(
    transactions: pd.DataFrame, split: pd.DataFrame, memo: _Memo
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`_actual_tracking` (default origin), once per (log, split) in ``memo``."""
    key = ("actual_tracking", id(transactions), id(split))
    if key not in memo.by_identity:
        memo.by_identity[key] = (transactions, split,
                                 _actual_tracking(transactions, split, None))
        # the log-sized temporaries are freed: hand their pages back before the
        # predictions allocate theirs
        release_unused()
    return memo.by_identity[key][2]


class _Prefetch:
    """What every evaluation of one split computes first, computed in a second thread.

    :func:`clvlab.compare_models` starts this before it fits its models and hands the
    results to the evaluations' memo afterwards (:meth:`into`): the actual tracking series,
    the distinct histories of the log score and the sorts of the actual holdout purchases
    and value depend on the split (and the log) only, and their array work (sorts, hashing,
    Arrow) releases the GIL, so it runs beside the fits on the second core. The thread
    touches no shared state: it computes into its own dictionary, and only the caller's
    thread puts the results into the memo, as the evaluation would have (same keys, same
    arrays). A part that fails is left out (the evaluation then computes it, and raises
    its error where it always did).
    """

    def __init__(
        self, split: pd.DataFrame, transactions: pd.DataFrame | None, margin: float
    ) -> None:
        import threading

        self._found: dict[str, Any] = {}
        self._split, self._transactions = split, transactions
        self._thread = threading.Thread(
            target=self._run, args=(split, transactions, margin), name="clvlab-prefetch",
            daemon=True,
        )
        self._thread.start()

    def _run(
        self, split: pd.DataFrame, transactions: pd.DataFrame | None, margin: float
    ) -> None:
        found = self._found
        try:  # the sorts first: the fits beside them hold the GIL least at the start
            observed = split[C.FREQUENCY_HOLDOUT].to_numpy(dtype=float)
            found["ranks"] = (observed, _ranks_and_descending(observed, descending=False))
            spend = holdout_spend(split, observed)
            if spend is not None:
                value = _series_values(spend, split.index, "total_spend_holdout")
                value = value * check_margin(margin, "margin")
                found["ranks+descending"] = (value, _ranks_and_descending(value))
            key = tuple(split[c].to_numpy(dtype=float) for c in (C.FREQUENCY, C.RECENCY, C.T))
            key += (observed,)
            found["histories"] = (key, _distinct_histories(key))
        except Exception:  # noqa: BLE001 - the evaluation recomputes it and raises
            pass
        if transactions is not None:
            try:
                found["actual_tracking"] = _actual_tracking(transactions, split, None)
            except Exception:  # noqa: BLE001 - the evaluation recomputes it and raises
                pass

    def into(self, memo: _Memo) -> None:
        """Wait for the thread and put what it found into ``memo``."""
        self._thread.join()
        found = self._found
        for kind in ("ranks", "ranks+descending"):
            if kind in found:
                arr, result = found[kind]
                memo.get(kind, (arr,), lambda result=result: result)
        if "histories" in found:
            key, result = found["histories"]
            memo.get("histories", key, lambda result=result: result)
        if "actual_tracking" in found:
            memo.by_identity[("actual_tracking", id(self._transactions), id(self._split))] = (
                self._transactions, self._split, found["actual_tracking"])
        found.clear()


def _tracking(
    transactions: pd.DataFrame, split: pd.DataFrame, purchase_model: Any, origin: Any,
    memo: _Memo | None,
) -> pd.DataFrame:
    """:func:`tracking`; the actual series is computed once per (log, split) in ``memo``."""
    if not offers(purchase_model, "expected_cumulative_purchases"):
        raise NotImplementedError(missing_note(
            purchase_model, "expected_cumulative_purchases", "the tracking series"
        ))
    if memo is None or origin is not None:
        out, first_ages = _actual_tracking(transactions, split, origin)
    else:
        # the same objects (compare_models): the log and the split are not changed between
        # evaluations, and the cached frame is copied before the expected series is added
        out, first_ages = _memo_actual_tracking(transactions, split, memo)
        attrs = dict(out.attrs)
        out = out.copy()
        out.attrs = attrs
    cum = _expected_cumulative(purchase_model, first_ages, out["period_end"].to_numpy(), memo)
    out["expected_cumulative"] = cum
    out["expected_incremental"] = np.diff(np.r_[0.0, cum])
    cols = [
        "period_end",
        "date_end",
        "actual_incremental",
        "expected_incremental",
        "actual_cumulative",
        "expected_cumulative",
        "in_holdout",
    ]
    attrs = out.attrs
    out = out[cols]
    out.attrs = attrs
    return out


# ======================================================================================
# deciles
# ======================================================================================


def decile_table(
    actual: npt.ArrayLike, predicted: npt.ArrayLike, n_groups: int = 10
) -> pd.DataFrame:
    """Rank customers by prediction into ``n_groups`` equal groups; predicted vs actual.

    Group 1 holds the customers with the highest predictions. Customers are ranked by
    ``predicted`` (ties in row order) and split by position, so groups differ in size by at
    most one customer.

    Parameters
    ----------
    actual : array-like of shape (n_customers,)
        Observed holdout value per customer.
    predicted : array-like of shape (n_customers,)
        Predicted holdout value per customer.
    n_groups : int, default=10
        Number of groups.

    Returns
    -------
    DataFrame
        Index ``decile`` (1 = top); columns ``n_customers``, ``predicted_mean``,
        ``actual_mean``, ``predicted_total``, ``actual_total``, ``actual_share`` (share
        of the actual total).
    """
    a, p = _pair(actual, predicted)
    return _decile_table(a, p, _descending(p), n_groups)


def _decile_table(a: np.ndarray, p: np.ndarray, order: np.ndarray,
                  n_groups: int = 10) -> pd.DataFrame:
    """:func:`decile_table` of checked arrays, ``order = _descending(p)``."""
    group = np.empty(a.size, dtype=np.int64)
    group[order] = (np.arange(a.size) * n_groups) // max(a.size, 1)
    n = np.bincount(group, minlength=n_groups)
    p_tot = np.bincount(group, weights=p, minlength=n_groups)
    a_tot = np.bincount(group, weights=a, minlength=n_groups)
    total = a.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "n_customers": n,
                "predicted_mean": p_tot / n,
                "actual_mean": a_tot / n,
                "predicted_total": p_tot,
                "actual_total": a_tot,
                "actual_share": a_tot / total if total != 0 else np.full(n_groups, np.nan),
            },
            index=pd.RangeIndex(1, n_groups + 1, name="decile"),
        )
    return out


# ======================================================================================
# log predictive score
# ======================================================================================

#: Probabilities that underflow to 0 enter the log score as this (log = -708.4), counted.
_TINY = float(np.finfo(float).tiny)


def fitted_parameter_count(model: Any) -> int:
    """Count a model's fitted parameters (for the χ² degrees of freedom).

    ``len(params_)``; for a model-like object without ``params_``, its description's
    parameters or its ``_param_names``.
    """
    params = getattr(model, "params_", None)
    if params is not None:
        return len(params)
    return (len(describe(model, distributions=False).parameters)
            or len(getattr(model, "_param_names", ())))


def _distinct_histories(
    columns: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``columns`` in sorted (lexicographic) order and each row's number.

    The rows and numbering of ``np.unique(np.column_stack(columns), axis=0,
    return_inverse=True)``, found by hashing (linear) and sorting only the distinct rows.
    """
    from clvlab.models.likelihoods._numerics import _distinct_rows

    inverse, rep = _distinct_rows(columns)
    uniq = np.column_stack([np.asarray(c, dtype=float)[rep] for c in columns])
    order = np.lexsort(uniq.T[::-1])  # first column most significant
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse]


def _holdout_log_pmf(
    model: Any, frame: pd.DataFrame, observed: np.ndarray, t: float,
    memo: _Memo | None = None,
) -> tuple[np.ndarray, int]:
    """``log P(X(T, T+t] = observed_i | history_i)`` per customer and the count floored.

    Customers with the same ``(frequency, recency, T, observed)`` share one evaluation
    (unless the model takes covariates); the model is asked once per distinct observed
    count, through its public ``conditional_probability_of_purchases``.
    """
    uniq_frame, uniq_obs, inverse = _log_pmf_histories(model, frame, observed, memo)
    logp_uniq, floored = _log_pmf_of_histories(model, frame, uniq_frame, uniq_obs, t)
    return logp_uniq[inverse], int(floored[inverse].sum())


def _log_pmf_histories(
    model: Any, frame: pd.DataFrame, observed: np.ndarray, memo: _Memo | None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Find the histories :func:`_holdout_log_pmf` asks the model about.

    Returns ``(histories, their observed counts, each customer's history)``: the distinct
    ``(frequency, recency, T, observed)`` rows, or every row for a model with covariates.
    """
    caps = getattr(model, "capabilities", None)
    covariates = bool(callable(caps) and getattr(caps(), "covariates", False))
    cols = [C.FREQUENCY, C.RECENCY, C.T]
    if covariates:
        return frame, np.asarray(observed, dtype=float), np.arange(len(frame))
    key = tuple(frame[c].to_numpy(dtype=float) for c in cols) + (
        np.asarray(observed, dtype=float),)
    memo = memo if memo is not None else _Memo()
    uniq, inverse = memo.get("histories", key, lambda: _distinct_histories(key))
    return pd.DataFrame(uniq[:, :3], columns=cols), uniq[:, 3], inverse


def _log_pmf_of_histories(
    model: Any, frame: pd.DataFrame, uniq_frame: pd.DataFrame, uniq_obs: np.ndarray,
    t: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Log probability of each history's observed count and whether it underflowed."""
    unit = (frame.attrs or {}).get(C.ATTR_TIME_UNIT)
    prob = np.empty(len(uniq_obs))
    for n in np.unique(uniq_obs):
        rows = np.flatnonzero(uniq_obs == n)
        sub = uniq_frame.iloc[rows]
        if unit is not None:
            sub.attrs[C.ATTR_TIME_UNIT] = unit
        values = model.conditional_probability_of_purchases(sub, n=int(n), t=t)
        prob[rows] = np.asarray(values, dtype=float).reshape(-1)
    bad = ~np.isfinite(prob)
    if bad.any():
        raise InvalidValueError(
            f"{describe(model, distributions=False).name} "
            "conditional_probability_of_purchases is not finite for "
            f"{int(bad.sum())} histories; the log predictive score cannot be computed.",
            rule="finite predictions",
        )
    return np.log(np.maximum(prob, _TINY)), prob <= 0.0


def _log_score_total(
    model: Any, frame: pd.DataFrame, observed: np.ndarray, t: float,
    memo: _Memo | None = None,
) -> tuple[float, int]:
    logp, n_floor = _holdout_log_pmf(model, frame, observed, t, memo)
    return float(logp.sum()), n_floor


def log_predictive_score(
    purchase_model: Any, split: pd.DataFrame, *, horizon: float | None = None
) -> pd.Series:
    """Each customer's log probability of the holdout count they actually made.

    ``log P(X(T, T + t] = x_holdout | x, t_x, T)`` from the model's
    ``conditional_probability_of_purchases``, with ``t`` the holdout length. Its sum over
    customers is the log predictive score: higher is better, and it is a *proper* score
    -- a model maximises its expected value only by forecasting the true distribution of
    each customer's count, not just a convenient summary of it (mean absolute error, by
    contrast, is minimised by the median, which is 0 for most customers; see
    ``docs/evaluation.md``).

    Parameters
    ----------
    purchase_model : fitted purchase model
        Must offer ``conditional_probability_of_purchases``; fitted on the calibration
        columns of ``split``.
    split : DataFrame
        :func:`clvlab.calibration_holdout` output (``frequency``, ``recency``, ``T``,
        ``frequency_holdout``, ``duration_holdout``).
    horizon : float, optional
        Holdout length in the split's time unit; defaults to ``duration_holdout``.

    Returns
    -------
    Series
        ``log_score`` per customer (<= 0), indexed by ``customer_id``. A probability that
        underflows to 0 counts as ``log(2.2e-308) = -708.4`` (with a warning).

    Raises
    ------
    NotImplementedError
        The model does not offer ``conditional_probability_of_purchases``.
    """
    if not offers(purchase_model, "conditional_probability_of_purchases"):
        raise NotImplementedError(missing_note(
            purchase_model, "conditional_probability_of_purchases",
            "the log predictive score",
        ))
    frame = validate_rfm(
        split, require=(C.FREQUENCY, C.RECENCY, C.T, C.FREQUENCY_HOLDOUT, C.DURATION_HOLDOUT),
        model="log_predictive_score",
    )
    unit = _split_time_unit(split)
    _check_model_unit(purchase_model, unit, "purchase_model")
    t = _holdout_horizon(frame, horizon)
    observed = frame[C.FREQUENCY_HOLDOUT].to_numpy(dtype=float)
    logp, n_floor = _holdout_log_pmf(purchase_model, frame, observed, t)
    if n_floor:
        warnings.warn(
            f"log predictive score: {n_floor} customers' probability of their holdout count "
            f"underflows to 0; their terms are counted at log({_TINY:.3g}).",
            ModelWarning,
            stacklevel=2,
        )
    return pd.Series(logp, index=frame.index, name="log_score")


# ======================================================================================
# Evaluation
# ======================================================================================


def _frame_records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if frame is None:
        return None
    out = frame.reset_index()
    records = out.to_dict(orient="records")
    clean: list[dict[str, Any]] = []
    for rec in records:
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, (pd.Timestamp,)):
                v = v.isoformat()
            elif hasattr(v, "item") and callable(v.item):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            row[str(k)] = v
        clean.append(row)
    return clean


@dataclass
class Evaluation:
    """Holdout evaluation of fitted models: metrics, binned expectations, tracking, deciles.

    Built by :func:`evaluate`. Every table is a DataFrame with snake_case columns.

    Attributes
    ----------
    metrics : DataFrame
        One row per model (index ``model``). Columns, for holdout purchases (``purchases_``)
        and holdout value (``value_``; spend x margin, or CLV): ``_mae``, ``_rmse``,
        ``_bias`` (mean predicted - actual), ``_pearson``, ``_spearman``,
        ``_aggregate_pct_error`` (100 (sum predicted - sum actual) / sum actual); then
        ``top_decile_capture`` (share of the actual holdout value earned by the 10% of
        customers the model ranks highest, by predicted value, else predicted purchases),
        ``predicted_total_purchases``, ``actual_total_purchases``,
        ``predicted_total_value``, ``actual_total_value``, ``n_customers``. NaN where a
        model does not predict the quantity.
    by_frequency : DataFrame
        Index ``frequency`` (calibration frequency bins ``"0"`` .. ``"7+"``); columns
        ``n_customers``, ``actual_purchases`` (mean holdout purchases),
        ``predicted_purchases`` (mean conditional expectation) and, with a baseline that
        predicts purchases, ``baseline_purchases``.
    by_recency : DataFrame
        The same by calibration recency bins (``"no repeat"`` then equal-width bins).
    tracking : DataFrame or None
        Per period of calendar time (index ``period``): ``period_end``, ``date_end``,
        ``actual_incremental``, ``expected_incremental``, ``actual_cumulative``,
        ``expected_cumulative``, ``in_holdout``. ``None`` without ``transactions``.
        ``attrs["calibration_boundary"]`` marks the end of calibration (time units since
        ``attrs["origin"]``).
    deciles : DataFrame
        Customers ranked by each model's predicted holdout value into 10 groups: columns
        ``model``, ``decile`` (1 = top), ``n_customers``, ``predicted_mean``,
        ``actual_mean``, ``predicted_total``, ``actual_total``, ``actual_share``.
    chi_square : ChiSquareResult or None
        χ² goodness of fit of the calibration frequency histogram; ``None`` when the
        purchase model does not offer ``probability_of_purchases`` (a note says so).
    customers : DataFrame
        Per customer (index ``customer_id``): ``frequency``, ``recency``, ``T``
        (calibration), ``monetary_value`` (when the split has it), ``actual_purchases``,
        ``actual_value``, ``predicted_purchases``,
        ``probability_alive`` and, when available, ``predicted_spend``,
        ``predicted_value``, ``baseline_purchases``, ``baseline_value``.
    horizon : float
        Length of the holdout period the predictions cover, in ``time_unit``.
    time_unit : str
        ``"D"``, ``"W"``, ``"M"`` or ``"Y"``.
    discount_rate : float
        Per-period discount rate applied to predicted value (0: undiscounted).
    margin : float
        Margin applied to spend (value = spend x margin) for actual and predicted.
    notes : list of str
        Remarks, among them one sentence for every diagnostic left out because the
        purchase model lacks the prediction it needs (see
        :func:`clvlab.models.contract.missing_note`).
    log_score : float or None
        Holdout log predictive score of the purchase model,
        ``sum_i log P(X_holdout = observed_i | history_i)``
        (:func:`log_predictive_score`); ``None`` when the model does not offer
        ``conditional_probability_of_purchases`` (a note says so).
    """

    metrics: pd.DataFrame
    by_frequency: pd.DataFrame
    by_recency: pd.DataFrame
    tracking: pd.DataFrame | None
    deciles: pd.DataFrame
    chi_square: ChiSquareResult | None
    customers: pd.DataFrame
    horizon: float
    time_unit: str
    discount_rate: float = 0.0
    margin: float = 1.0
    notes: list[str] = field(default_factory=list)
    log_score: float | None = None

    # -- views -------------------------------------------------------------------------
    def summary(self) -> str:
        """Plain-text summary: the metrics table, χ² test and tracking end point."""
        unit = UNIT_NAMES.get(self.time_unit, self.time_unit)
        lines = [
            f"Holdout evaluation over {self.horizon:g} {unit} "
            f"({len(self.customers):,} customers)",
            "",
            _metrics_text(self.metrics),
            "",
        ]
        if self.chi_square is not None:
            lines.append(
                f"Calibration frequency histogram: chi2 = {self.chi_square.statistic:.2f}, "
                f"dof = {self.chi_square.dof}, p = {self.chi_square.p_value:.3g}"
            )
        if self.log_score is not None:
            n = len(self.customers)
            lines.append(
                f"Holdout log predictive score: {self.log_score:,.2f} "
                f"({self.log_score / n if n else math.nan:.4f} per customer)"
            )
        if self.tracking is not None and len(self.tracking):
            last = self.tracking.iloc[-1]
            act, exp = float(last["actual_cumulative"]), float(last["expected_cumulative"])
            pct = 100 * (exp - act) / act if act else math.nan
            lines.append(
                f"Cumulative repeat transactions at {float(last['period_end']):g} {unit}: "
                f"actual {act:,.0f}, expected {exp:,.1f} ({pct:+.1f}%)"
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        models = ", ".join(map(str, self.metrics.index))
        unit = UNIT_NAMES.get(self.time_unit, self.time_unit)
        has_tracking = "yes" if self.tracking is not None else "no"
        return (
            f"Evaluation(models=[{models}], customers={len(self.customers)}, "
            f"horizon={self.horizon:g} {unit}, tracking={has_tracking})"
        )

    def _repr_html_(self) -> str:
        from html import escape

        unit = UNIT_NAMES.get(self.time_unit, self.time_unit)
        parts = [
            f"<h4>Holdout evaluation over {self.horizon:g} {unit} "
            f"({len(self.customers):,} customers)</h4>",
            self.metrics.to_html(float_format=lambda v: f"{v:.4g}", na_rep="—"),
        ]
        if self.chi_square is not None:
            parts.append(
                f"<p>Calibration frequency histogram: χ² = {self.chi_square.statistic:.2f}, "
                f"dof = {self.chi_square.dof}, p = {self.chi_square.p_value:.3g}</p>"
            )
        if self.log_score is not None:
            parts.append(f"<p>Holdout log predictive score: {self.log_score:,.2f}</p>")
        parts += [
            "<h5>Mean holdout purchases by calibration frequency</h5>",
            self.by_frequency.to_html(float_format=lambda v: f"{v:.3f}", na_rep="—"),
        ]
        parts += [f"<p>{escape(n)}</p>" for n in self.notes]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Every table as a list of records (JSON-compatible), plus scalars.

        Returns
        -------
        dict
            Keys ``horizon``, ``time_unit``, ``discount_rate``, ``margin``, ``metrics``,
            ``by_frequency``, ``by_recency``, ``tracking``, ``deciles``, ``chi_square``
            (``None`` when skipped), ``log_score`` (``None`` when skipped), ``notes``.
            Per-customer rows are left out (use :attr:`customers`).
        """
        tracking_records = _frame_records(self.tracking)
        return {
            "horizon": self.horizon,
            "time_unit": self.time_unit,
            "discount_rate": self.discount_rate,
            "margin": self.margin,
            "metrics": _frame_records(self.metrics),
            "by_frequency": _frame_records(self.by_frequency),
            "by_recency": _frame_records(self.by_recency),
            "tracking": tracking_records,
            "tracking_calibration_boundary": (
                None if self.tracking is None else self.tracking.attrs.get("calibration_boundary")
            ),
            "deciles": _frame_records(self.deciles),
            "chi_square": None if self.chi_square is None else self.chi_square.to_dict(),
            "log_score": self.log_score,
            "notes": list(self.notes),
        }


def _metrics_text(metrics: pd.DataFrame) -> str:
    show = {
        "purchases_mae": "MAE purch.",
        "purchases_rmse": "RMSE purch.",
        "purchases_pearson": "r purch.",
        "purchases_aggregate_pct_error": "agg % purch.",
        "value_mae": "MAE value",
        "value_rmse": "RMSE value",
        "value_spearman": "rho value",
        "value_aggregate_pct_error": "agg % value",
        "top_decile_capture": "top 10%",
    }
    cols = [c for c in show if c in metrics.columns]
    table = metrics[cols].rename(columns=show)
    return table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")


# ======================================================================================
# evaluate
# ======================================================================================


def _split_time_unit(split: pd.DataFrame) -> str:
    attrs = getattr(split, "attrs", {}) or {}
    if C.ATTR_TIME_UNIT not in attrs:
        raise InvalidValueError(
            "The split carries no time unit (split.attrs['time_unit']). Build it with "
            "clvlab.calibration_holdout(..., time_unit='W'), or set split.attrs['time_unit'].",
            column=C.ATTR_TIME_UNIT,
            rule="split.attrs",
        )
    return _check_unit(attrs[C.ATTR_TIME_UNIT], "time_unit")


def _model_label(model: Any) -> str:
    """Name of a model in the tables: its description's name (e.g. "BG/NBD")."""
    return describe(model, distributions=False).name


def _check_model_unit(model: Any, unit: str, role: str) -> None:
    model_unit = getattr(model, "time_unit_", None)
    if model_unit is not None and model_unit != unit:
        raise InvalidValueError(
            f"{role} was fitted with time_unit {model_unit!r} but the split is in {unit!r}; "
            "its predictions would be read in the wrong unit. Fit it on the split's "
            "calibration columns, or rebuild the split with the model's time unit.",
            column=C.ATTR_TIME_UNIT,
            rule="same time unit",
        )


def _series_values(values: Any, index: pd.Index, what: str) -> np.ndarray:
    """Model output aligned to ``index`` as floats; non-finite values are an error."""
    if isinstance(values, pd.Series):
        if not values.index.equals(index):
            values = values.reindex(index)
        arr = values.to_numpy(dtype=float)
    else:
        arr = np.asarray(values, dtype=float).reshape(-1)
        arr = np.broadcast_to(arr, (len(index),)) if arr.size == 1 else arr
    if arr.shape[0] != len(index):
        raise InvalidValueError(
            f"{what} returned {arr.shape[0]} values for {len(index)} customers.",
            rule="one value per customer",
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        ids = list(index[bad][:5])
        raise InvalidValueError(
            f"{what} is not finite for {int(bad.sum())} customers (customer_id "
            f"{describe_offenders(ids, int(bad.sum()))}). Check these customers' data.",
            rule="finite predictions",
            offenders=ids,
            n_offending=int(bad.sum()),
        )
    return np.array(arr, dtype=float)


def _holdout_horizon(split: pd.DataFrame, horizon: float | None, stacklevel: int = 3) -> float:
    duration = split[C.DURATION_HOLDOUT].to_numpy(dtype=float)
    uniq = np.unique(duration)
    if horizon is None:
        if uniq.size != 1:
            raise InvalidValueError(
                f"duration_holdout takes {uniq.size} different values; pass horizon= "
                "explicitly (in the split's time unit).",
                column=C.DURATION_HOLDOUT,
                rule="one holdout length",
            )
        return float(uniq[0])
    horizon = check_horizon(horizon, "horizon")
    if uniq.size and not np.allclose(uniq, horizon):
        warnings.warn(
            f"horizon={horizon:g} differs from the holdout length ({uniq[0]:g}); predictions "
            "cover a different period than the actual holdout values they are compared with.",
            ClvlabWarning,
            stacklevel=stacklevel,
        )
    return float(horizon)


#: Per model: (name, predicted holdout purchases or None, predicted holdout value or None).
_Rows = list[tuple[str, np.ndarray | None, np.ndarray | None]]


def _holdout_predictions(
    frame: pd.DataFrame,
    purchase_model: Any,
    spend_model: Any,
    baseline: Any,
    *,
    horizon: float,
    discount_rate: float,
    margin: float,
    actual_purchases: np.ndarray,
    actual_value: np.ndarray | None,
    memo: _Memo | None = None,
) -> tuple[pd.DataFrame, _Rows]:
    """Each model's holdout predictions: the per-customer table and one row per model.

    With ``memo`` (the evaluations of one comparison), a column equal to one an earlier
    evaluation made (the histories, the actuals, the spend model's and the baseline's
    predictions) is that column: the tables share its memory (copy-on-write Series, so
    editing one table never changes another).

    Returns
    -------
    customers : DataFrame
        :attr:`Evaluation.customers`.
    rows : list of (name, predicted purchases or None, predicted value or None)
        One entry per model (purchase model; + spend model; baseline), the arrays shared
        with ``customers`` (the metrics memoise on them).
    """
    index = frame.index
    p_name = _model_label(purchase_model)
    pred_purchases = _series_values(
        purchase_model.expected_purchases(frame, horizon), index, f"{p_name} expected_purchases"
    )
    p_alive = _series_values(
        purchase_model.probability_alive(frame), index, f"{p_name} probability_alive"
    )
    def column(kind: str, values: np.ndarray) -> pd.Series:
        """Return the column as a Series on ``index`` (an earlier equal one when memoised)."""
        if memo is None:
            return pd.Series(values, index=index, copy=True)
        return memo.get("column:" + kind, (values,),
                        lambda: pd.Series(values, index=index, copy=True))

    def once(kind: str, model: Any, compute: Any) -> Any:
        """``compute()``, once per (model, frame, horizon, rate, margin) within ``memo``.

        The spend model's and the baseline's predictions do not depend on the purchase
        model: the evaluations of one comparison compute them once.
        """
        if memo is None:
            return compute()
        key = (kind, id(model), id(frame), horizon, discount_rate, margin)
        if key not in memo.by_identity:  # (the objects are kept: their ids stay theirs)
            memo.by_identity[key] = (model, frame, compute())
        return memo.by_identity[key][2]

    cols: dict[str, Any] = {
        C.FREQUENCY: column(C.FREQUENCY, frame[C.FREQUENCY].to_numpy(dtype=float)),
        C.RECENCY: column(C.RECENCY, frame[C.RECENCY].to_numpy(dtype=float)),
        C.T: column(C.T, frame[C.T].to_numpy(dtype=float)),
    }
    if C.MONETARY_VALUE in frame.columns:  # the spend history (holdout ranges need it)
        cols[C.MONETARY_VALUE] = column(C.MONETARY_VALUE,
                                        frame[C.MONETARY_VALUE].to_numpy(dtype=float))
    cols[ACTUAL_PURCHASES] = column(ACTUAL_PURCHASES, actual_purchases)
    cols[ACTUAL_VALUE] = (column(ACTUAL_VALUE, actual_value) if actual_value is not None
                          else np.nan)
    cols[PREDICTED_PURCHASES] = pd.Series(pred_purchases, index=index, copy=True)
    cols[PROBABILITY_ALIVE] = pd.Series(p_alive, index=index, copy=True)
    rows: _Rows = [(p_name, pred_purchases, None)]
    if spend_model is not None:
        s_name = _model_label(spend_model)
        spend = once("expected_spend", spend_model, lambda: _series_values(
            spend_model.expected_spend(frame), index, f"{s_name} expected_spend"))
        if discount_rate > 0:
            value = _series_values(
                customer_lifetime_value(
                    purchase_model, spend_model, frame, horizon=horizon,
                    discount_rate=discount_rate, margin=margin,
                ),
                index,
                "customer_lifetime_value",
            )
        else:
            value = pred_purchases * spend * margin
        cols[PREDICTED_SPEND] = column(PREDICTED_SPEND, spend)
        cols[PREDICTED_VALUE] = pd.Series(value, index=index, copy=True)
        rows.append((f"{p_name} + {s_name}", pred_purchases, value))
    if baseline is not None:
        b_name = _model_label(baseline)

        def baseline_predictions() -> tuple[np.ndarray | None, np.ndarray]:
            b_out = baseline.predict(
                frame, horizon=horizon, discount_rate=discount_rate, margin=margin,
                components=True,
            )
            if not isinstance(b_out, pd.DataFrame):
                return None, _series_values(b_out, index, f"{b_name} predict")
            value_col = "clv_baseline" if "clv_baseline" in b_out.columns else b_out.columns[-1]
            b_value = _series_values(b_out[value_col], index, f"{b_name} predict")
            if "expected_purchases" not in b_out.columns:
                return None, b_value
            return _series_values(b_out["expected_purchases"], index,
                                  f"{b_name} expected purchases"), b_value

        b_purchases, b_value = once("baseline", baseline, baseline_predictions)
        if b_purchases is not None:
            cols[BASELINE_PURCHASES] = column(BASELINE_PURCHASES, b_purchases)
        cols[BASELINE_VALUE] = column(BASELINE_VALUE, b_value)
        rows.append((b_name, b_purchases, b_value))
    # one construction from Series on ``index``: no alignment, no consolidated copy
    customers = pd.DataFrame(cols, index=index, copy=False)
    return customers, rows


def _own_predictions(rows: _Rows, with_baseline: bool) -> list[np.ndarray]:
    """Return the purchase model's own prediction arrays in ``rows`` (not the baseline's)."""
    model_rows = rows[:-1] if with_baseline else rows
    return [arr for _, p, v in model_rows for arr in (p, v) if arr is not None]


def evaluate(
    split: pd.DataFrame,
    purchase_model: Any,
    spend_model: Any = None,
    baseline: Any = None,
    *,
    transactions: pd.DataFrame | None = None,
    horizon: float | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    max_frequency: int = 7,
    recency_bins_count: int = 6,
) -> Evaluation:
    """Compare fitted models' holdout predictions with what customers actually did.

    Parameters
    ----------
    split : DataFrame
        Output of :func:`clvlab.calibration_holdout`: calibration columns ``frequency``,
        ``recency``, ``T``, ``monetary_value`` and holdout columns ``frequency_holdout``,
        ``duration_holdout`` (and ``total_spend_holdout`` for value metrics); ``attrs``
        give the time unit and the two end dates.
    purchase_model : fitted purchase model (:class:`clvlab.models.contract.PurchaseModel`)
        Fitted on the calibration columns. Used: ``expected_purchases(data, t)``,
        ``probability_alive(data)`` and, where the model offers them (see
        :func:`clvlab.models.contract.offers`), ``probability_of_purchases`` (χ² test),
        ``conditional_probability_of_purchases`` (log predictive score) and
        ``expected_cumulative_purchases`` (tracking). A diagnostic whose prediction the
        model lacks is skipped, with a sentence in :attr:`Evaluation.notes`.
    spend_model : fitted GammaGammaFitter, optional
        Gives ``expected_spend(data)``; predicted value = expected purchases over
        ``horizon`` x expected spend x ``margin`` (or discounted CLV if ``discount_rate``
        > 0, via :func:`clvlab.customer_lifetime_value`).
    baseline : fitted FormulaCLVBaseline, optional
        ``predict(data, horizon=..., discount_rate=..., margin=..., components=True)``
        gives the baseline's predicted value (``clv_baseline``) and purchases
        (``expected_purchases``: rate x min(lifespan, horizon)), both scored.
    transactions : DataFrame, optional
        The transaction log the split was built from; needed for :attr:`Evaluation.tracking`
        (``None`` without it).
    horizon : float, optional
        Prediction horizon in the split's time unit; defaults to ``duration_holdout``.
    discount_rate : float, default=0.0
        Per-period discount rate for predicted value. The default 0 compares like with
        like: actual holdout spend is undiscounted.
    margin : float, default=1.0
        Share of spend that is value; applied to actual and predicted value alike.
    max_frequency : int, default=7
        Last frequency bin (``"7+"``) for :attr:`Evaluation.by_frequency` and the χ² test.
    recency_bins_count : int, default=6
        Number of recency bins of repeat buyers in :attr:`Evaluation.by_recency`.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> import clvlab
    >>> tx = clvlab.datasets.load_cdnow(sample=True)
    >>> split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    >>> bg = clvlab.BetaGeoFitter().fit(split)
    >>> ev = clvlab.evaluate(split, bg, transactions=tx)  # doctest: +SKIP
    >>> ev.metrics.loc[:, "purchases_pearson"]  # doctest: +SKIP
    """
    return _evaluate(
        split, purchase_model, spend_model, baseline, transactions=transactions,
        horizon=horizon, discount_rate=discount_rate, margin=margin,
        max_frequency=max_frequency, recency_bins_count=recency_bins_count, memo=_Memo(),
        stacklevel=3,
    )


def holdout_spend(frame: pd.DataFrame, purchases: np.ndarray) -> np.ndarray | None:
    """Each customer's holdout spend: ``total_spend_holdout``, else purchases x mean.

    ``purchases`` is the frame's ``frequency_holdout`` as floats; ``None`` when the frame
    has neither spend column.
    """
    if C.TOTAL_SPEND_HOLDOUT in frame.columns:
        return frame[C.TOTAL_SPEND_HOLDOUT].to_numpy(dtype=float)
    if C.MONETARY_VALUE_HOLDOUT in frame.columns:
        return purchases * frame[C.MONETARY_VALUE_HOLDOUT].to_numpy(dtype=float)
    return None


def _evaluate(
    split: pd.DataFrame,
    purchase_model: Any,
    spend_model: Any = None,
    baseline: Any = None,
    *,
    transactions: pd.DataFrame | None = None,
    horizon: float | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    max_frequency: int = 7,
    recency_bins_count: int = 6,
    memo: _Memo,
    stacklevel: int = 2,
) -> Evaluation:
    """:func:`evaluate`, reusing from ``memo`` what earlier evaluations of the split found.

    ``stacklevel``: of the user's line, for warnings (3 when called through evaluate).
    """
    if not isinstance(split, pd.DataFrame):
        raise TypeError(
            "split must be the DataFrame returned by clvlab.calibration_holdout; got "
            f"{type(split).__name__}."
        )
    frame = validate_rfm(split, require=(C.FREQUENCY, C.RECENCY, C.T), model="evaluate")
    validate_rfm(
        split, require=(C.FREQUENCY_HOLDOUT, C.DURATION_HOLDOUT), model="evaluate"
    )
    unit = _split_time_unit(split)
    margin = check_margin(margin, "margin")
    discount_rate = check_discount_rate(discount_rate, "discount_rate",
                                        per=UNIT_NAMES[unit][:-1])
    for model, role in (
        (purchase_model, "purchase_model"), (spend_model, "spend_model"), (baseline, "baseline")
    ):
        if model is not None:
            _check_model_unit(model, unit, role)
    t = _holdout_horizon(frame, horizon, stacklevel + 1)
    index = frame.index
    notes: list[str] = []
    if transactions is not None and offers(purchase_model, "expected_cumulative_purchases"):
        # the actual tracking series first: its log-sized work then runs while the
        # least memory is held (the predictions below hold a few customer-sized arrays)
        _memo_actual_tracking(transactions, split, memo)

    # -- actuals -----------------------------------------------------------------------
    actual_purchases = frame[C.FREQUENCY_HOLDOUT].to_numpy(dtype=float)
    actual_spend = holdout_spend(frame, actual_purchases)
    if actual_spend is not None:
        actual_spend = _series_values(actual_spend, index, "total_spend_holdout")
    actual_value = None if actual_spend is None else actual_spend * margin

    # -- predictions -------------------------------------------------------------------
    # the models' warnings (e.g. repeat buyers without spend, seen by expected_spend and
    # again by customer_lifetime_value) are shown once, at the caller's line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        customers, rows = _holdout_predictions(
            frame, purchase_model, spend_model, baseline, horizon=t,
            discount_rate=discount_rate, margin=margin,
            actual_purchases=actual_purchases, actual_value=actual_value, memo=memo,
        )
    reissue_warnings(caught, stacklevel=stacklevel)
    pred_purchases = customers[PREDICTED_PURCHASES].to_numpy()

    # -- metrics -----------------------------------------------------------------------
    # (the same arrays recur across rows: compute each metric set and each rank once)
    # (and across the models of compare_models: the actuals and the baseline's rows are
    # kept in ``memo``; this purchase model's own predictions never recur, so what is
    # derived from them -- ranks, orders -- is kept for this evaluation only)
    own = {id(arr) for arr in _own_predictions(rows, baseline is not None)}
    local = _Memo()

    def get(kind: str, arrays: tuple[np.ndarray, ...], compute: Any) -> Any:
        cache = local if any(id(arr) in own for arr in arrays) else memo
        return cache.get(kind, arrays, compute)

    # each array is sorted once: its ranks and, for a ranking score, its descending order
    ranked = {id(v if v is not None else p) for _, p, v in rows}
    if actual_value is not None:
        ranked.add(id(actual_value))

    def ordering_kind(arr: np.ndarray) -> str:
        return "ranks+descending" if id(arr) in ranked else "ranks"

    def ordering(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return get(ordering_kind(arr), (arr,),
                   lambda: _ranks_and_descending(arr, descending=id(arr) in ranked))

    # the arrays the metrics below rank, sorted two at a time: numpy's sorts release the
    # GIL, so a second thread halves the wall time of this, the evaluation's largest part
    # (the results go into the caches here, in this thread, as ``ordering`` would put them)
    wanted: dict[int, np.ndarray] = {id(actual_purchases): actual_purchases}
    for _, p, v in rows:
        for actual, pred in ((actual_purchases, p), (actual_value, v)):
            if actual is not None and pred is not None:
                wanted.setdefault(id(actual), actual)
                wanted.setdefault(id(pred), pred)
    todo = [a for a in wanted.values()
            if not (local if id(a) in own else memo).has(ordering_kind(a), (a,))]
    # meanwhile this thread computes what needs no ranks and little memory (the χ² and
    # the tracking); their notes join the others in the usual order
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2) if todo else None
    try:
        pending = [pool.submit(_ranks_and_descending, a, descending=id(a) in ranked)
                   for a in todo] if pool is not None else []
        # -- χ² of the calibration histogram ----------------------------------------------
        chi: ChiSquareResult | None = None
        chi_notes: list[str] = []
        if offers(purchase_model, "probability_of_purchases"):
            hist = frequency_histogram(purchase_model, frame, max_frequency)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ModelWarning)
                chi = chi_square_test(hist, n_params=fitted_parameter_count(purchase_model))
            reissue_warnings(caught, stacklevel=stacklevel)
        else:
            chi_notes.append(missing_note(
                purchase_model, "probability_of_purchases",
                "the χ² test of the calibration frequency histogram",
            ))

        # -- tracking ---------------------------------------------------------------------
        track = None
        track_notes: list[str] = []
        if transactions is None:
            track_notes.append("tracking: not computed (pass transactions= to evaluate).")
        elif offers(purchase_model, "expected_cumulative_purchases"):
            track = _tracking(transactions, split, purchase_model, None, memo)
        else:
            track_notes.append(missing_note(
                purchase_model, "expected_cumulative_purchases",
                "the tracking of cumulative repeat transactions",
            ))

        for arr, job in zip(todo, pending, strict=True):
            result = job.result()
            get(ordering_kind(arr), (arr,), lambda result=result: result)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def rank(arr: np.ndarray) -> np.ndarray:
        return ordering(arr)[0]

    def scored(actual: np.ndarray | None, pred: np.ndarray | None) -> dict[str, float]:
        if actual is None or pred is None:
            return {}
        return get("metrics", (actual, pred), lambda: _metrics_from_ranks(
            actual, pred, rank(actual), rank(pred)))

    def descending(arr: np.ndarray) -> np.ndarray:
        order = ordering(arr)[1]
        assert order is not None  # every array a score ranks is in ``ranked``
        return order

    def capture(actual: np.ndarray, pred: np.ndarray) -> float:
        a, p = _pair(actual, pred)
        return get("capture", (actual, pred), lambda: _top_capture(a, p, descending(pred)))

    records = []
    for _name, purch_pred, value_pred in rows:
        rec: dict[str, float] = {}
        for prefix, actual, pred in (
            ("purchases", actual_purchases, purch_pred), ("value", actual_value, value_pred)
        ):
            found = scored(actual, pred)
            rec.update({f"{prefix}_{m}": found.get(m, math.nan) for m in _METRIC_NAMES})
        score = value_pred if value_pred is not None else purch_pred
        rec["top_decile_capture"] = (
            capture(actual_value, score)
            if actual_value is not None and score is not None
            else math.nan
        )
        rec["predicted_total_purchases"] = (
            float(purch_pred.sum()) if purch_pred is not None else math.nan
        )
        rec["actual_total_purchases"] = float(actual_purchases.sum())
        rec["predicted_total_value"] = (
            float(value_pred.sum()) if value_pred is not None else math.nan
        )
        rec["actual_total_value"] = (
            float(actual_value.sum()) if actual_value is not None else math.nan
        )
        rec["n_customers"] = float(len(index))
        records.append(rec)
    metrics = pd.DataFrame(records, index=pd.Index([r[0] for r in rows], name="model"))
    metrics["n_customers"] = metrics["n_customers"].astype(np.int64)
    if actual_value is not None:
        notes.append(
            "top_decile_capture of a perfect ranking (customers ranked by their actual "
            f"holdout value): {capture(actual_value, actual_value):.3f}"
        )

    # -- binned conditional expectations -------------------------------------------------
    pred_cols = {PREDICTED_PURCHASES: pred_purchases}
    if baseline is not None and BASELINE_PURCHASES in customers.columns:
        pred_cols[BASELINE_PURCHASES] = customers[BASELINE_PURCHASES].to_numpy()
    f_bins = frequency_bins(customers[C.FREQUENCY].to_numpy(), max_frequency)
    by_frequency = conditional_expectations(
        f_bins, actual_purchases, pred_cols, name=C.FREQUENCY
    )
    r_bins = recency_bins(
        customers[C.FREQUENCY].to_numpy(),
        customers[C.RECENCY].to_numpy(),
        n_bins=recency_bins_count,
        upper=float(customers[C.T].max()),
    )
    by_recency = conditional_expectations(r_bins, actual_purchases, pred_cols, name=C.RECENCY)

    # -- deciles ---------------------------------------------------------------------------
    decile_frames = []
    if actual_value is not None:
        for name, purch_pred, value_pred in rows:
            score = value_pred if value_pred is not None else purch_pred
            if score is None:
                continue
            a, p = _pair(actual_value, score)
            d = get("deciles", (actual_value, score), lambda a=a, p=p, score=score:
                    _decile_table(a, p, descending(score))).reset_index()
            d.insert(0, "model", name)
            decile_frames.append(d)
    deciles = (
        pd.concat(decile_frames, ignore_index=True)
        if decile_frames
        else pd.DataFrame(
            columns=["model", "decile", "n_customers", "predicted_mean", "actual_mean",
                     "predicted_total", "actual_total", "actual_share"]
        )
    )

    notes += chi_notes

    # -- log predictive score ----------------------------------------------------------------
    log_score: float | None = None
    if offers(purchase_model, "conditional_probability_of_purchases"):
        log_score, n_floor = _log_score_total(purchase_model, frame, actual_purchases, t,
                                              memo)
        if n_floor:
            notes.append(
                f"log predictive score: {n_floor} customers' probability of their holdout "
                f"count underflows to 0; their terms are counted at log({_TINY:.3g}) = "
                f"{math.log(_TINY):.1f}."
            )
    else:
        notes.append(missing_note(
            purchase_model, "conditional_probability_of_purchases",
            "the holdout log predictive score",
        ))
    notes += track_notes

    return Evaluation(
        metrics=metrics,
        by_frequency=by_frequency,
        by_recency=by_recency,
        tracking=track,
        deciles=deciles,
        chi_square=chi,
        customers=customers,
        horizon=t,
        time_unit=unit,
        discount_rate=float(discount_rate),
        margin=float(margin),
        notes=notes,
        log_score=log_score,
    )
