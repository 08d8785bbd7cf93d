"""lifetimes' ``lifetimes.utils``: summaries from transactions, tracking, P(alive) paths.

The summaries are computed by :func:`clvlab.rfm_summary` and
:func:`clvlab.calibration_holdout` (so they run on pandas 3, where lifetimes'
``calibration_and_holdout_data`` and ``calculate_alive_path`` break) and returned in
lifetimes' layout: index named ``customer_id_col`` with the original ids (integers stay
integers), sorted by id, float columns, recency and T divided by ``freq_multiplier``.

``freq`` may be ``"D"``, ``"W"`` (Monday-to-Sunday weeks, as pandas' ``"W"`` periods),
``"M"`` (calendar months) or ``"Y"``; clvlab merges purchases per calendar day at the
finest, so sub-daily frequencies (``"h"``...) are not offered.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from clvlab.compat.lifetimes.fitters._purchase import ConvergenceError
from clvlab.exceptions import InvalidValueError, MissingColumnsError, reissue_warnings

__all__ = [
    "calibration_and_holdout_data",
    "summary_data_from_transaction_data",
    "calculate_alive_path",
    "expected_cumulative_transactions",
    "ConvergenceError",
]

#: lifetimes ``freq`` -> clvlab time unit (and merge period) of the summaries.
SUMMARY_FREQS = {"D": "D", "W": "W", "M": "M", "Y": "Y"}


def _unit(freq: Any) -> str:
    if freq in SUMMARY_FREQS:
        return SUMMARY_FREQS[freq]
    raise ValueError(
        f"freq must be one of {', '.join(map(repr, SUMMARY_FREQS))} here; got {freq!r}. clvlab "
        "merges purchases per calendar day at the finest, so hourly or finer summaries are "
        "not available: summarise in days ('D') and multiply recency and T by 24 for hours."
    )


def _multiplier(freq_multiplier: Any) -> float:
    if isinstance(freq_multiplier, bool) or not isinstance(
            freq_multiplier, (int, float, np.number)) or not (
            math.isfinite(float(freq_multiplier)) and float(freq_multiplier) > 0):
        raise ValueError(f"freq_multiplier must be a number > 0; got {freq_multiplier!r}.")
    return float(freq_multiplier)


def _parse_dates(values: Any, datetime_format: str | None, what: str) -> Any:
    if datetime_format is not None:  # e.g. 19970101 with "%Y%m%d": the digits are the date
        if isinstance(values, pd.Series) and pd.api.types.is_integer_dtype(values.dtype):
            values = values.astype(str)
        elif isinstance(values, (int, np.integer)) and not isinstance(values, bool):
            values = str(values)
    try:
        return pd.to_datetime(values, format=datetime_format)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{what}: could not be read as dates"
            + (f" with datetime_format={datetime_format!r}" if datetime_format else "")
            + f" ({exc}).",
            column=what, rule="parseable date",
        ) from None


def _canonical(
    transactions: Any, customer_id_col: str, datetime_col: str,
    monetary_value_col: str | None, datetime_format: str | None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Build clvlab's canonical log; return it and the customer-id column as given."""
    if not isinstance(transactions, pd.DataFrame):
        raise TypeError(f"transactions must be a pandas DataFrame; got "
                        f"{type(transactions).__name__}.")
    needed = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col
                                                 else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise MissingColumnsError(
            f"transactions lack column(s) {', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(map(str, transactions.columns))}.",
            column=str(missing[0]), rule="required column",
        )
    ids = transactions[customer_id_col]
    absent = ids.isna().to_numpy()
    if absent.any():
        rows = list(transactions.index[absent][:5])
        raise InvalidValueError(
            f"{customer_id_col}: must not be missing; {int(absent.sum())} row(s) have no id "
            f"(index {rows}). lifetimes dropped them silently; drop or fill them first.",
            column=customer_id_col, rule="not missing",
        )
    dates = _parse_dates(transactions[datetime_col], datetime_format, datetime_col)
    amount = (transactions[monetary_value_col].to_numpy(dtype=float) if monetary_value_col
              else np.zeros(len(transactions)))
    # the ids go in as given, so clvlab's messages name the customers' own ids
    canonical = pd.DataFrame({
        "customer_id": ids.to_numpy(),
        "date": np.asarray(dates, dtype="datetime64[ns]"),
        "amount": amount,
    })
    return canonical, ids


def _with_ids(frame: pd.DataFrame, ids: pd.Series, customer_id_col: str) -> pd.DataFrame:
    """Give a clvlab summary (ids as text) the original ids, sorted like lifetimes'."""
    if pd.api.types.is_integer_dtype(ids.dtype) and not pd.api.types.is_bool_dtype(ids.dtype):
        index = frame.index.astype(ids.dtype)
    elif pd.api.types.is_string_dtype(ids.dtype) and ids.map(type).eq(str).all():
        index = frame.index
    else:  # mixed or other types: look the text up
        uniques = pd.Index(pd.unique(ids.to_numpy()))
        index = uniques.take(uniques.astype(str).get_indexer(frame.index))
    out = frame.set_axis(pd.Index(index, name=customer_id_col))
    try:
        return out.sort_index(kind="stable")  # lifetimes' summaries are sorted by customer
    except TypeError:  # ids that cannot be ordered: first appearance
        return out


def _observation_end(canonical: pd.DataFrame, observation_period_end: Any,
                     datetime_format: str | None) -> pd.Timestamp:
    if observation_period_end is None:
        return pd.Timestamp(canonical["date"].max())
    return pd.Timestamp(_parse_dates(observation_period_end, datetime_format,
                                     "observation_period_end"))


def summary_data_from_transaction_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """One row per customer: frequency, recency, T [, monetary_value] (lifetimes' layout).

    Computed by :func:`clvlab.rfm_summary` with ``time_unit = merge_period = freq``:
    purchases within one period count once (their values summed), ages are whole periods
    between period starts.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction.
    customer_id_col, datetime_col : str
        Columns of the customer id and the transaction time.
    monetary_value_col : str, optional
        Column of the transaction value; adds ``monetary_value`` (mean value of the repeat
        purchases, 0 without one).
    datetime_format : str, optional
        ``strftime`` format of ``datetime_col`` (and of ``observation_period_end``).
    observation_period_end : date-like, optional
        Last day observed (inclusive); default the last transaction. Later transactions
        are left out with a counted warning (lifetimes dropped them silently).
    freq : {"D", "W", "M", "Y"}, default="D"
        Period and unit of recency and T.
    freq_multiplier : float, default=1
        recency and T are divided by it (e.g. ``freq="D", freq_multiplier=7`` for weeks
        measured in days).
    include_first_transaction : bool, default=False
        Count the first purchase in frequency and monetary_value (keep False for the
        models).

    Returns
    -------
    DataFrame
        Index ``customer_id_col`` (the ids as given, sorted); float columns ``frequency``,
        ``recency``, ``T`` [, ``monetary_value``].
    """
    from clvlab.rfm import rfm_summary

    unit = _unit(freq)
    fm = _multiplier(freq_multiplier)
    canonical, ids = _canonical(transactions, customer_id_col, datetime_col,
                                monetary_value_col, datetime_format)
    end = _observation_end(canonical, observation_period_end, datetime_format)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rfm = rfm_summary(canonical, time_unit=unit, merge_period=unit, observation_end=end,
                          include_first_transaction=include_first_transaction)
    reissue_warnings(caught, stacklevel=2)
    columns = ["frequency", "recency", "T"] + (["monetary_value"] if monetary_value_col
                                               else [])
    out = _with_ids(rfm[columns].astype(float), ids, customer_id_col)
    out["recency"] = out["recency"] / fm
    out["T"] = out["T"] / fm
    out.attrs = {}
    return out


def calibration_and_holdout_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    calibration_period_end: Any,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    datetime_format: str | None = None,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Summary of a calibration period plus purchases in the holdout period after it.

    Computed by :func:`clvlab.calibration_holdout`. Customers are those who bought by
    ``calibration_period_end``. Both dates are calendar days, included whole (lifetimes
    compared timestamps, so a transaction at 14:00 on ``calibration_period_end`` fell in its
    holdout).

    Parameters
    ----------
    transactions : DataFrame
    customer_id_col, datetime_col : str
    calibration_period_end : date-like
        Last day of the calibration period.
    observation_period_end : date-like, optional
        Last day of the holdout period; default the last transaction.
    freq : {"D", "W", "M", "Y"}, default="D"
    freq_multiplier : float, default=1
    datetime_format : str, optional
    monetary_value_col : str, optional
        Adds ``monetary_value_cal`` (mean value of the repeat purchases) and
        ``monetary_value_holdout`` (mean value of the holdout *transactions*, as lifetimes
        computed it, 0 without one).
    include_first_transaction : bool, default=False
        Count the first purchase in ``frequency_cal`` and ``monetary_value_cal``.

    Returns
    -------
    DataFrame
        Index ``customer_id_col``; columns ``frequency_cal, recency_cal, T_cal``
        [, ``monetary_value_cal``], ``frequency_holdout`` [, ``monetary_value_holdout``],
        ``duration_holdout`` (all float).
    """
    from clvlab.rfm import calibration_holdout

    unit = _unit(freq)
    fm = _multiplier(freq_multiplier)
    canonical, ids = _canonical(transactions, customer_id_col, datetime_col,
                                monetary_value_col, datetime_format)
    end = _observation_end(canonical, observation_period_end, datetime_format)
    cal_end = pd.Timestamp(_parse_dates(calibration_period_end, datetime_format,
                                        "calibration_period_end"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = calibration_holdout(canonical, calibration_end=cal_end, observation_end=end,
                                    time_unit=unit, merge_period=unit)
    reissue_warnings(caught, stacklevel=2)
    frequency = split["frequency"].to_numpy(dtype=float)
    out = pd.DataFrame(index=split.index)
    out["frequency_cal"] = frequency + (1.0 if include_first_transaction else 0.0)
    out["recency_cal"] = split["recency"].to_numpy(dtype=float) / fm
    out["T_cal"] = split["T"].to_numpy(dtype=float) / fm
    if monetary_value_col:
        out["monetary_value_cal"] = (
            split["total_spend"].to_numpy(dtype=float) / (frequency + 1.0)
            if include_first_transaction else split["monetary_value"].to_numpy(dtype=float)
        )
    out["frequency_holdout"] = split["frequency_holdout"].to_numpy(dtype=float)
    if monetary_value_col:
        rows = split["n_transactions_holdout"].to_numpy(dtype=float)
        spend = split["total_spend_holdout"].to_numpy(dtype=float)
        out["monetary_value_holdout"] = np.divide(spend, rows, out=np.zeros_like(spend),
                                                  where=rows > 0)
    out["duration_holdout"] = split["duration_holdout"].to_numpy(dtype=float) / fm
    return _with_ids(out, ids, customer_id_col)


def _period_ordinals(values: Any, freq: str, datetime_format: str | None, what: str) -> Any:
    dates = _parse_dates(values, datetime_format, what)
    try:
        return pd.PeriodIndex(pd.DatetimeIndex(dates), freq=freq).asi8
    except (TypeError, ValueError) as exc:
        raise ValueError(f"freq={freq!r} is not a pandas period frequency ({exc}).") from None


def calculate_alive_path(
    model: Any, transactions: pd.DataFrame, datetime_col: str, t: int, freq: str = "D"
) -> pd.Series:
    """P(alive) of one customer at each period since the first purchase.

    Parameters
    ----------
    model : fitted purchase model
        With ``conditional_probability_alive(frequency, recency, T)``.
    transactions : DataFrame
        The customer's transactions.
    datetime_col : str
        Column of the transaction time.
    t : int
        Last age (in periods) to evaluate; the path also covers every purchase.
    freq : str, default="D"
        Period (pandas period frequency); purchases in one period count once.

    Returns
    -------
    Series
        P(alive) as floats (lifetimes returned one-element arrays for BG/NBD), index 0, 1,
        ..., the customer's age in periods.
    """
    if len(transactions) == 0:
        raise ValueError("transactions is empty: pass the transactions of one customer.")
    ordinals = _period_ordinals(transactions[datetime_col], freq, None, datetime_col)
    offset = ordinals - ordinals.min()
    length = max(int(offset.max()) + 1, int(t) + 1)
    bought = np.zeros(length, dtype=bool)
    bought[offset] = True
    age = np.arange(length, dtype=float)
    frequency = np.cumsum(bought) - 1.0
    recency = np.maximum.accumulate(np.where(bought, age, 0.0))
    p_alive = model.conditional_probability_alive(frequency, recency, age)
    return pd.Series(np.asarray(p_alive, dtype=float).reshape(-1), index=pd.RangeIndex(length))


def expected_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    datetime_format: str | None = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    set_index_date: bool = False,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat transactions of the whole base over time.

    Expected: every customer contributes the model's ``expected_number_of_purchases_up_to_time``
    at their age (Fader, Hardie & Lee's tracking plot). Actual: repeat purchases (one per
    customer and period), cumulated.

    Parameters
    ----------
    model : fitted purchase model
        With ``expected_number_of_purchases_up_to_time(t)``.
    transactions : DataFrame
    datetime_col, customer_id_col : str
    t : int
        Number of periods from the first transaction.
    datetime_format : str, optional
    freq : str, default="D"
        Period (pandas period frequency).
    freq_multiplier : int, default=1
        Evaluate every ``freq_multiplier`` periods, with ages divided by it (e.g. days
        grouped into weeks).
    set_index_date : bool, default=False
        Index by period (the last period of each step) instead of 0, 1, ...

    Returns
    -------
    DataFrame
        Columns ``actual`` (int) and ``predicted`` (float), ``t // freq_multiplier`` rows.
    """
    if isinstance(freq_multiplier, bool) or int(freq_multiplier) != freq_multiplier or \
            freq_multiplier < 1:
        raise ValueError(f"freq_multiplier must be a whole number >= 1; got {freq_multiplier!r}.")
    fm = int(freq_multiplier)
    t = int(t)
    ordinals = _period_ordinals(transactions[datetime_col], freq, datetime_format, datetime_col)
    codes, _ = pd.factorize(transactions[customer_id_col])
    start = int(ordinals.min())
    keep = (ordinals <= start + t) & (codes >= 0)
    offset = ordinals[keep] - start
    code = codes[keep].astype(np.int64)
    pairs = np.sort(code * (t + 1) + offset)  # one purchase per customer and period
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    pair_code, pair_offset = pairs // (t + 1), pairs % (t + 1)
    first = np.full(int(code.max()) + 1 if code.size else 0, t + 1, dtype=np.int64)
    np.minimum.at(first, pair_code, pair_offset)
    is_first = pair_offset == first[pair_code]
    new_customers = np.bincount(pair_offset[is_first], minlength=t + 1)
    repeats = np.bincount(pair_offset[~is_first], minlength=t + 1)
    steps = np.arange(1, t // fm + 1) * fm  # period offsets at which the totals are taken
    ages = np.arange(1, t + 1, dtype=float) / fm
    expected = np.concatenate(
        [[0.0], np.asarray(model.expected_number_of_purchases_up_to_time(ages), dtype=float)])
    predicted = np.convolve(new_customers.astype(float), expected)[steps]
    actual = np.cumsum(repeats)[steps - 1]
    if set_index_date:
        periods = pd.period_range(start=pd.Period(ordinal=start, freq=freq), periods=t + 1,
                                  freq=freq)
        index: Any = periods[fm - 1:-1:fm]
    else:
        index = pd.RangeIndex(t // fm)
    return pd.DataFrame({"actual": actual.astype(np.int64), "predicted": predicted},
                        index=index)


def _customer_lifetime_value(
    transaction_prediction_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    time: float = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
) -> pd.Series:
    """Compute lifetimes' discounted CLV with ``monetary_value`` used as given (no Gamma-Gamma).

    See :meth:`clvlab.compat.lifetimes.GammaGammaFitter.customer_lifetime_value`, which
    calls this with the Gamma-Gamma expected spend.
    """
    from clvlab.compat.lifetimes.fitters.gamma_gamma_fitter import _discounted_value

    return _discounted_value(transaction_prediction_model, frequency, recency, T,
                             monetary_value, time, discount_rate, freq, stacklevel=3)
