"""Transaction log to RFM summary, and the calibration/holdout split.

Definitions (used by :func:`rfm_summary` and :func:`calibration_holdout` alike)
-------------------------------------------------------------------------------
*Window.* ``observation_end`` (and ``calibration_end``) are calendar days; the window
includes the whole of that day (a transaction's time of day is ignored). Transactions
after ``observation_end`` are excluded with a counted
:class:`~clvlab.exceptions.DataQualityWarning`.

*Purchase.* Each transaction's calendar day is floored to the start of its
``merge_period``: ``"D"`` the day, ``"W"`` the Monday of its Monday-to-Sunday week (the
pandas ``W``/``W-SUN`` period), ``"M"`` the first of its calendar month, ``"Y"`` 1 January.
All transactions of a customer within one merge period form **one purchase**, whose value
is the sum of their amounts.

*Ages.* ``recency`` is the age of the customer at the last purchase and ``T`` the age at
``observation_end``, both measured from the first purchase, on floored timestamps
(``observation_end`` is floored to its merge period too):

- if ``merge_period == time_unit``: the difference of period ordinals, a whole number of
  periods (calendar months/years for ``"M"``/``"Y"``); this is what lifetimes'
  ``summary_data_from_transaction_data(freq=...)`` computes;
- otherwise: the difference of the floored days divided by the unit length of
  :mod:`clvlab._time` (7 days for ``"W"``, 365.2425/12 days for ``"M"`` ...), fractional.

For ``"D"`` and ``"W"`` both rules give the same numbers; they differ only for the
calendar units, whose lengths vary.

*Counts and values.* ``frequency`` is the number of purchases minus one (the first
purchase is not a repeat), stored as float holding whole numbers; ``monetary_value`` is
the mean value of the repeat purchases (0 when there are none). With
``include_first_transaction=True`` frequency counts every purchase and monetary value
averages all of them (lifetimes' semantics; BG/NBD and Gamma-Gamma expect ``False``).

The computation is a set of per-customer group-by aggregations (count, sum, min, max,
count of distinct periods, and the sum over rows outside the first period), done locally
with one hash of the ids, one in-place sort of an int64 key and ``numpy`` bincounts, so it
ports directly to a Spark ``groupBy``. Customers appear in order of first appearance in
the log.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab import _time
from clvlab._checks import check_date
from clvlab._memory import release_unused
from clvlab.exceptions import (
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
    describe_offenders,
)
from clvlab.validation import text_increasing, text_neighbours_differ

__all__ = ["rfm_summary", "calibration_holdout", "MERGE_PERIODS"]

#: Supported merge periods (same codes as the time units).
MERGE_PERIODS = ("D", "W", "M", "Y")

#: Extra attrs key: whether frequency/monetary value count the first purchase.
ATTR_INCLUDE_FIRST = "include_first_transaction"

_EPOCH_WEEKDAY_SHIFT = 3  # 1970-01-01 is a Thursday; +3 days puts Mondays on multiples of 7


# --------------------------------------------------------------------------------------
# input checks
# (``_check_unit``, ``_check_transactions``, ``_parse_day``, ``_iso`` and
# ``_period_ordinal`` are also clvlab.evaluation's, for tracking: one definition each)
# --------------------------------------------------------------------------------------
def _check_unit(value: object, name: str) -> str:
    try:
        return _time.check_time_unit(value, name)
    except ValueError as exc:
        raise InvalidValueError(str(exc), column=None, rule=f"{name} in D, W, M, Y") from None


def _fail_rows(index: pd.Index, mask: np.ndarray, column: str, rule: str, hint: str) -> None:
    rows = list(index[np.flatnonzero(mask)[:5]])
    n_bad = int(mask.sum())
    raise InvalidValueError(
        f"{column}: {rule}; {n_bad} row(s) violate this (index "
        f"{describe_offenders(rows, n_bad)}). {hint}",
        column=column,
        rule=rule,
        offenders=rows,
        n_offending=n_bad,
    )


@dataclass
class _Log:
    """Checked transaction arrays (positional, same length)."""

    codes: np.ndarray  # int64 customer code, index into ``ids``
    ids: pd.Index  # customer ids (str, or integers as given), in order of first appearance
    day: np.ndarray  # int64 calendar day (days since 1970-01-01)
    raw: np.ndarray  # datetime64 timestamps, original resolution
    amount: np.ndarray  # float64

    def release_rows(self) -> None:
        """Drop the per-row arrays this module made (the ids and the input's own stay)."""
        self.codes = self.day = np.empty(0, dtype=np.int64)


def _check_transactions(tx: Any, *, integer_ids: bool = False) -> _Log:
    """Check a transaction log and return its arrays.

    With ``integer_ids``, integer customer ids stay integers (the summaries' index);
    otherwise every id becomes text (what clvlab.evaluation's tracking matches against).
    """
    if not isinstance(tx, pd.DataFrame):
        raise NotATableError(
            "tx must be a pandas DataFrame of transactions with columns customer_id, date, "
            f"amount; got {type(tx).__name__}. Load files with clvlab.load_transactions.",
            rule="DataFrame",
        )
    required = (C.CUSTOMER_ID, C.DATE, C.AMOUNT)
    missing = [c for c in required if c not in tx.columns]
    if missing:
        present = ", ".join(map(str, tx.columns)) or "(none)"
        raise MissingColumnsError(
            f"transactions lack column(s) {', '.join(missing)}; columns present: {present}. "
            "Load the log with clvlab.load_transactions(src, customer_id=..., date=..., "
            "amount=...) or rename the columns.",
            column=missing[0],
            rule="required column",
        )
    if len(tx) == 0:
        raise EmptyInputError(
            "transactions hold no rows; an RFM summary needs at least one transaction.",
            rule="at least one row",
        )
    dates = tx[C.DATE]
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        raise InvalidValueError(
            f"date must be tz-naive datetime64; found {dates.dtype}. Convert to local "
            "calendar time first, e.g. tx['date'] = tx['date'].dt.tz_convert('Europe/Paris')"
            ".dt.tz_localize(None).",
            column=C.DATE,
            rule="tz-naive datetime64",
        )
    if not pd.api.types.is_datetime64_dtype(dates.dtype):
        raise InvalidValueError(
            f"date must be datetime64; found dtype {dates.dtype}. Parse it with "
            "clvlab.load_transactions or pd.to_datetime(tx['date'], format=...).",
            column=C.DATE,
            rule="datetime64",
        )
    raw = dates.to_numpy()
    nat = np.isnat(raw)
    if nat.any():
        _fail_rows(tx.index, nat, C.DATE, "must not be missing (NaT)",
                   "Drop or repair these rows (clvlab.load_transactions reports them).")
    amounts = tx[C.AMOUNT]
    if not (pd.api.types.is_numeric_dtype(amounts.dtype)
            and not pd.api.types.is_bool_dtype(amounts.dtype)):
        raise InvalidValueError(
            f"amount must be numeric; found dtype {amounts.dtype}. Convert it with "
            "pd.to_numeric(tx['amount']) after fixing the offending entries.",
            column=C.AMOUNT,
            rule="numeric",
        )
    amount = amounts.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(amount)
    if bad.any():
        _fail_rows(tx.index, bad, C.AMOUNT, "must be finite (no NaN or infinity)",
                   "Drop or fill these rows before summarising.")
    # codes in order of first appearance (hashing only; sorting millions of distinct string
    # ids would cost as much again). A log from load_transactions is sorted by customer,
    # so its summary comes out in customer order.
    id_col = tx[C.CUSTOMER_ID]
    if integer_ids and isinstance(id_col.dtype, np.dtype) and id_col.dtype.kind in "iu":
        # integer ids stay integers (no text conversion, no object arrays): factorize
        # hashes the int64 values, and an already sorted column needs no hashing at all
        codes, ids = _factorize_integers(id_col.to_numpy())
        day = raw.astype("datetime64[D]").view(np.int64)
        return _Log(codes, ids, day, raw, amount)
    grouped = _factorize_sorted_text(id_col)
    codes, uniques = grouped if grouped is not None else pd.factorize(id_col)
    bad = codes < 0
    if bad.any():
        _fail_rows(tx.index, bad, C.CUSTOMER_ID, "must not be missing",
                   "Drop these rows or give them an id.")
    ids = pd.Index(uniques)
    if ids.dtype == object or not pd.api.types.is_string_dtype(ids.dtype):
        all_text = ids.inferred_type == "string"
        ids = ids.astype(str)
        if not all_text and not ids.is_unique:  # e.g. 1 and "1" in one object column
            dup = ids[ids.duplicated()].unique()
            raise InvalidValueError(
                f"customer_id: distinct ids become equal as text ({len(dup)} case(s): "
                f"{describe_offenders(list(dup[:5]), len(dup))}). Give every customer one "
                "spelling, e.g. tx['customer_id'] = tx['customer_id'].astype(str).",
                column=C.CUSTOMER_ID, rule="unique as text", offenders=list(dup[:5]),
                n_offending=len(dup),
            )
    day = raw.astype("datetime64[D]").view(np.int64)
    return _Log(codes.astype(np.int64, copy=False), ids, day, raw, amount)


def _factorize_integers(values: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes (int64, order of first appearance) and distinct ids of an integer id column.

    A column sorted by id (as exported by customer, or from ``load_transactions``) is
    coded by one pass over its changes; any other order is hashed by ``pd.factorize``.
    Both give the same codes.
    """
    n = values.size
    if n and bool(np.all(values[1:] >= values[:-1])):
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(values[1:], values[:-1], out=change[1:])
        uniques = values[change]
        codes = change.astype(np.int64)
        del change
        np.cumsum(codes, out=codes)  # in place: no second row-sized array
        codes -= 1
    else:
        codes, uniques = pd.factorize(values)
        codes = codes.astype(np.int64, copy=False)
    return codes, pd.Index(uniques)


def _factorize_sorted_text(values: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """``pd.factorize`` of Arrow-backed text ids sorted by id, without hashing; else None.

    A log from ``load_transactions`` is sorted by customer (as text, or numerically for
    digit ids). When the runs of equal ids are strictly increasing, in text order or in
    (length, text) order, every id forms one run, so numbering the runs gives exactly
    the codes of ``pd.factorize``; one vectorised comparison of neighbours finds them.
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pandas' str dtype is Arrow-backed here
        return None
    if getattr(values.dtype, "storage", None) != "pyarrow" or len(values) < 2:
        return None
    arr = values.array.__arrow_array__() if hasattr(values.array, "__arrow_array__") else None
    if arr is None:
        return None
    if isinstance(arr, pa.ChunkedArray):  # (combine_chunks copies even a single chunk)
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if arr.null_count:
        return None
    change = np.empty(len(arr), dtype=bool)
    change[0] = True
    change[1:] = text_neighbours_differ(arr)
    runs = pc.filter(arr, pa.array(change), memory_pool=pa.system_memory_pool())
    if len(runs) > 1 and not text_increasing(runs):
        return None
    codes = change.astype(np.int64)
    del change
    np.cumsum(codes, out=codes)  # in place: no second row-sized array
    codes -= 1
    return codes, pd.Index(pd.array(runs, dtype=values.dtype))


def _parse_day(value: Any, name: str) -> int:
    """Calendar day (days since epoch) of a date-like argument."""
    # ISO 8601 text or a datetime only: '01/06/2024' is refused, never read as 6 January
    ts = check_date(value, name, error=InvalidValueError)
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidValueError(
            f"{name} must be a date (e.g. '1997-09-30'); got {value!r}.",
            column=name,
            rule="parseable date",
        )
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


# --------------------------------------------------------------------------------------
# periods and ages
# --------------------------------------------------------------------------------------
def _period_ordinal(day: np.ndarray, merge_period: str, *,
                    overwrite: bool = False) -> np.ndarray:
    """Ordinal of the merge period containing each calendar day (int64).

    ``overwrite``: ``day`` is not needed again, so weekly ordinals are computed in its
    place (one row-sized array less).
    """
    if merge_period == "D":
        return day
    if merge_period == "W":
        out = day if overwrite else day.copy()
        out += _EPOCH_WEEKDAY_SHIFT
        return np.floor_divide(out, 7, out=out)
    unit = "datetime64[M]" if merge_period == "M" else "datetime64[Y]"
    return day.astype("datetime64[D]").astype(unit).astype(np.int64)


def _period_start_day(ordinal: np.ndarray, merge_period: str) -> np.ndarray:
    """First calendar day (days since epoch) of each period ordinal."""
    if merge_period == "D":
        return ordinal
    if merge_period == "W":
        return ordinal * 7 - _EPOCH_WEEKDAY_SHIFT
    unit = "datetime64[M]" if merge_period == "M" else "datetime64[Y]"
    return ordinal.astype(unit).astype("datetime64[D]").astype(np.int64)


def _age(later: np.ndarray, earlier: np.ndarray, merge_period: str, time_unit: str) -> np.ndarray:
    """Age between two period ordinals in ``time_unit`` (see the module docstring)."""
    later = np.asarray(later, dtype=np.int64)
    earlier = np.asarray(earlier, dtype=np.int64)
    if merge_period == time_unit:
        return (later - earlier).astype(np.float64)
    days = _period_start_day(later, merge_period) - _period_start_day(earlier, merge_period)
    return days / _time.unit_days(time_unit)


# --------------------------------------------------------------------------------------
# the one aggregation, shared by the summary, the calibration and the holdout periods
# --------------------------------------------------------------------------------------
@dataclass
class _Aggregate:
    """Per-customer aggregates of one window (arrays aligned on ``code``, ascending)."""

    code: np.ndarray  # customer codes present in the window
    n_purchases: np.ndarray  # merged purchases
    first_period: np.ndarray  # period ordinal of the first purchase
    last_period: np.ndarray  # period ordinal of the last purchase
    total_spend: np.ndarray  # all spend in the window
    repeat_spend: np.ndarray  # spend of purchases after the first
    n_rows: np.ndarray  # raw transactions
    first_raw: np.ndarray  # earliest raw timestamp
    last_raw: np.ndarray  # latest raw timestamp


#: Rows per chunk where a per-row temporary would otherwise span the whole log.
_ROW_CHUNK = 1 << 20


def _pairs_sorted(codes: np.ndarray, period: np.ndarray) -> bool:
    """Whether the rows are sorted by customer code, then period (chunk by chunk)."""
    for lo in range(0, codes.size - 1, _ROW_CHUNK):
        hi = min(lo + _ROW_CHUNK + 1, codes.size)
        c0, c1 = codes[lo : hi - 1], codes[lo + 1 : hi]
        later = c1 > c0
        later |= (c1 == c0) & (period[lo + 1 : hi] >= period[lo : hi - 1])
        if not bool(later.all()):
            return False
    return True


def _runs_per_customer(new_run: np.ndarray, r_start: np.ndarray) -> np.ndarray:
    """Count the ``True`` of ``new_run`` between consecutive ``r_start`` rows (int64).

    ``np.add.reduceat`` per block of customers, so that its int64 copy of the flags
    spans one block of rows, not the whole log.
    """
    out = np.empty(r_start.size, dtype=np.int64)
    step = 1 << 17
    for j0 in range(0, r_start.size, step):
        j1 = min(j0 + step, r_start.size)
        lo = int(r_start[j0])
        hi = int(r_start[j1]) if j1 < r_start.size else new_run.size
        out[j0:j1] = np.add.reduceat(new_run[lo:hi], r_start[j0:j1] - lo, dtype=np.int64)
    return out


def _aggregate(log: _Log, rows: np.ndarray | slice, merge_period: str, *,
               last_use: bool = False) -> _Aggregate:
    """Per-customer aggregates of the given rows, purchases merged per ``merge_period``.

    Every quantity is a group-by aggregation, so the step ports to Spark as is::

        per_customer = rows.groupBy(customer).agg(
            count(*), sum(amount), min(ts), max(ts),
            min(period), max(period), countDistinct(period))
        repeat_spend = rows.join(per_customer, customer)
                           .where(period != first_period).groupBy(customer).agg(sum(amount))

    Locally the distinct (customer, period) pairs come from one in-place ``np.sort`` of
    an int64 key (no argsort, no gathers of the rows); sums are ``np.bincount`` and
    extremes ``np.minimum.at``/``np.maximum.at`` over the rows in input order.

    ``last_use``: the caller needs ``log.day`` no more, so with all rows the weekly
    periods are computed in its place (one row-sized array less).
    """
    codes = log.codes[rows]
    in_place = last_use and isinstance(rows, slice)  # log.day[rows] is then a view
    period = _period_ordinal(log.day[rows], merge_period, overwrite=in_place)
    if in_place:
        log.day = np.empty(0, dtype=np.int64)
    amount = log.amount[rows]
    raw = log.raw[rows].view(np.int64)
    m = log.ids.size
    if codes.size == 0:
        empty_i = np.empty(0, np.int64)
        empty_f = np.empty(0, np.float64)
        return _Aggregate(empty_i, empty_i, empty_i, empty_i, empty_f, empty_f, empty_i,
                          empty_i, empty_i)
    # distinct purchases = distinct (customer, period) pairs, sorted by customer then period
    pmin = int(period.min())
    span = int(period.max()) - pmin + 1
    if _pairs_sorted(codes, period):  # a log in customer-then-date order: no key, no sort
        # each customer is one run of rows and each purchase a run within it: the first
        # and last purchase are the periods of the customer's first and last row, and
        # the purchases are counted per run (no per-purchase arrays)
        new_pair = np.empty(codes.size, dtype=bool)
        new_pair[0] = True
        np.not_equal(codes[1:], codes[:-1], out=new_pair[1:])
        r_start = np.flatnonzero(new_pair)  # first row of each customer
        new_pair[1:] |= period[1:] != period[:-1]
        n_purchases = _runs_per_customer(new_pair, r_start)
        del new_pair
        present = codes[r_start]  # customers in these rows, ascending
        first_p = period[r_start]
        r_start[:-1] = r_start[1:]  # now the last row of each customer
        r_start[-1] = codes.size
        r_start -= 1
        last_p = period[r_start]
        del r_start
    else:
        p_period: np.ndarray | None
        if int(codes.max()) < (2**62) // span:
            key = codes * span  # built and sorted in place
            key += period
            key -= pmin
            key.sort()
            distinct = np.empty(key.size, dtype=bool)
            distinct[0] = True
            np.not_equal(key[1:], key[:-1], out=distinct[1:])
            p_key = key[distinct]
            del key, distinct
            p_code = p_key // span
            p_period = None  # derived from p_key where needed
        else:  # pragma: no cover - astronomically many customers x periods
            order = np.lexsort((period, codes))
            c_s, t_s = codes[order], period[order]
            del order
            distinct = np.r_[True, (c_s[1:] != c_s[:-1]) | (t_s[1:] != t_s[:-1])]
            p_code, p_period = c_s[distinct], t_s[distinct]
            del c_s, t_s, distinct
        n_p = p_code.size
        new_customer = np.empty(n_p, dtype=bool)
        new_customer[0] = True
        np.not_equal(p_code[1:], p_code[:-1], out=new_customer[1:])
        c_start = np.flatnonzero(new_customer)
        del new_customer
        c_last = np.append(c_start[1:], n_p) - 1
        present = p_code[c_start]  # customers in these rows, ascending
        del p_code
        if p_period is None:
            first_p = p_key[c_start] - present * span + pmin
            last_p = p_key[c_last] - present * span + pmin
            del p_key
        else:
            first_p, last_p = p_period[c_start], p_period[c_last]
            del p_period
        n_purchases = np.diff(c_start, append=n_p)
        del c_start, c_last
    all_present = present.size == m  # then every per-code array is already aligned
    first_period = first_p if all_present else np.zeros(m, dtype=np.int64)
    if not all_present:
        first_period[present] = first_p
    # per-customer sums over the rows (bincount adds in input order)
    # spend outside the first period, in chunks of rows so the temporaries stay small;
    # each bin still adds its rows in input order, so the sums are those of one pass
    repeat = np.zeros(m)
    for lo in range(0, codes.size, _ROW_CHUNK):
        c = codes[lo : lo + _ROW_CHUNK]
        is_repeat = period[lo : lo + _ROW_CHUNK] != first_period[c]
        repeat += np.bincount(c, weights=np.where(is_repeat, amount[lo : lo + _ROW_CHUNK], 0.0),
                              minlength=m)
    del c, is_repeat, period
    total = np.bincount(codes, weights=amount, minlength=m)
    n_rows = np.bincount(codes, minlength=m)
    first_raw = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_raw, codes, raw)
    last_raw = np.full(m, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_raw, codes, raw)
    if not all_present:
        total, repeat, n_rows = total[present], repeat[present], n_rows[present]
        first_raw, last_raw = first_raw[present], last_raw[present]
    return _Aggregate(
        code=present,
        n_purchases=n_purchases,
        first_period=first_p,
        last_period=last_p,
        total_spend=total,
        repeat_spend=repeat,
        n_rows=n_rows,
        first_raw=first_raw,
        last_raw=last_raw,
    )


def finish_summary(
    n_purchases: np.ndarray,
    first_period: np.ndarray,
    last_period: np.ndarray,
    total_spend: np.ndarray,
    repeat_spend: np.ndarray,
    end_day: int,
    merge_period: str,
    time_unit: str,
    include_first_transaction: bool = False,
) -> dict[str, np.ndarray]:
    """Row-wise finish of the RFM summary: per-customer aggregates to RFM columns.

    The second half of the summary (the first is the group-by aggregation): a pure
    function of each customer's aggregates, shared by this module and the Spark engine
    (:mod:`clvlab.spark`, which runs it on Arrow batches), so both give the same numbers.

    Parameters
    ----------
    n_purchases : ndarray of int
        Merged purchases of each customer in the window.
    first_period, last_period : ndarray of int
        Period ordinals (of ``merge_period``) of the first and last purchase.
    total_spend, repeat_spend : ndarray of float
        All spend, and the spend of the purchases after the first.
    end_day : int
        ``observation_end`` as days since 1970-01-01.
    merge_period, time_unit : str
        Checked codes (``"D"``, ``"W"``, ``"M"``, ``"Y"``).
    include_first_transaction : bool, default=False
        As in :func:`rfm_summary`.

    Returns
    -------
    dict of str to ndarray
        ``frequency``, ``recency``, ``T``, ``monetary_value`` (float64), aligned with the
        inputs.
    """
    end_period = _period_ordinal(np.array([end_day], dtype=np.int64), merge_period)[0]
    first_period = np.asarray(first_period, dtype=np.int64)
    if include_first_transaction:
        frequency = np.asarray(n_purchases).astype(np.float64)
        spend = np.asarray(total_spend, dtype=np.float64)
    else:
        frequency = (np.asarray(n_purchases) - 1).astype(np.float64)
        spend = np.asarray(repeat_spend, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, spend / np.where(frequency > 0, frequency, 1.0), 0.0)
    recency = _age(last_period, first_period, merge_period, time_unit)
    age_T = _age(np.full_like(first_period, end_period), first_period, merge_period, time_unit)
    return {C.FREQUENCY: frequency, C.RECENCY: recency, C.T: age_T, C.MONETARY_VALUE: monetary}


def finish_holdout(n_purchases: np.ndarray, total_spend: np.ndarray) -> dict[str, np.ndarray]:
    """Row-wise finish of the holdout columns (shared with :mod:`clvlab.spark`).

    Returns ``frequency_holdout`` (every holdout purchase counts) and
    ``monetary_value_holdout`` (mean value per holdout purchase, 0 if none), float64.
    """
    freq_h = np.asarray(n_purchases).astype(np.float64)
    spend_h = np.asarray(total_spend, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mon_h = np.where(freq_h > 0, spend_h / np.where(freq_h > 0, freq_h, 1.0), 0.0)
    return {C.FREQUENCY_HOLDOUT: freq_h, C.MONETARY_VALUE_HOLDOUT: mon_h}


def holdout_duration(cal_day: int, end_day: int, merge_period: str, time_unit: str) -> float:
    """Length of the holdout in ``time_unit``, by the same rule as ``T``."""
    p_cal, p_end = _period_ordinal(np.array([cal_day, end_day], dtype=np.int64), merge_period)
    return float(_age(np.array([p_end]), np.array([p_cal]), merge_period, time_unit)[0])


def _summary_frame(
    log: _Log,
    agg: _Aggregate,
    end_day: int,
    merge_period: str,
    time_unit: str,
    include_first_transaction: bool,
) -> pd.DataFrame:
    rfm = finish_summary(agg.n_purchases, agg.first_period, agg.last_period, agg.total_spend,
                         agg.repeat_spend, end_day, merge_period, time_unit,
                         include_first_transaction)
    raw_dtype = log.raw.dtype
    if agg.code.size == log.ids.size:  # every customer present: codes are 0..m-1
        index = log.ids.rename(C.CUSTOMER_ID)
    else:
        index = pd.Index(log.ids[agg.code], name=C.CUSTOMER_ID)
    # copy=False: the columns are fresh arrays, so the frame takes them as they are
    # (no consolidation into 2-D blocks, which would hold every float column twice)
    return pd.DataFrame(
        {
            **rfm,
            C.TOTAL_SPEND: agg.total_spend,
            C.N_TRANSACTIONS: agg.n_rows.astype(np.int64, copy=False),
            C.FIRST_PURCHASE: agg.first_raw.view(raw_dtype),
            C.LAST_PURCHASE: agg.last_raw.view(raw_dtype),
        },
        index=index,
        copy=False,
    )


def _excluded_warning(log: _Log, kept: np.ndarray, end_day: int, what: str) -> None:
    """Warn (counted) about transactions after ``end_day`` and customers lost entirely."""
    n_after = int(kept.size - np.count_nonzero(kept))
    if n_after == 0:
        return
    seen = np.zeros(log.ids.size, dtype=bool)
    seen[log.codes[kept]] = True
    lost_codes = np.flatnonzero(~seen)
    n_lost = int(lost_codes.size)
    msg = (
        f"{n_after} of {kept.size} transactions are dated after {what} {_iso(end_day)} and "
        "were excluded from the summary"
    )
    if n_lost:
        msg += (
            f"; {n_lost} customer(s) whose first purchase is after {what} are therefore not "
            f"in it (customer_id {describe_offenders(list(log.ids[lost_codes[:5]]), n_lost)})"
        )
    msg += f". Pass a later {what} to keep them."
    warnings.warn(msg, DataQualityWarning, stacklevel=3)


def _set_attrs(df: pd.DataFrame, time_unit: str, merge_period: str, end_day: int,
               include_first: bool) -> None:
    df.attrs[C.ATTR_TIME_UNIT] = time_unit
    df.attrs[C.ATTR_MERGE_PERIOD] = merge_period
    df.attrs[C.ATTR_OBSERVATION_END] = _iso(end_day)
    df.attrs[ATTR_INCLUDE_FIRST] = bool(include_first)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def rfm_summary(
    tx: pd.DataFrame,
    time_unit: str = "W",
    merge_period: str = "D",
    observation_end: Any = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    See the module docstring for the exact definitions of window, purchase and ages.

    Parameters
    ----------
    tx : DataFrame
        Canonical transactions: ``customer_id``, ``date`` (tz-naive datetime64),
        ``amount`` (finite numbers); extra columns are ignored.
    time_unit : {"D", "W", "M", "Y"}, default="W"
        Unit of ``recency`` and ``T`` (fixed lengths from :mod:`clvlab._time`).
    merge_period : {"D", "W", "M", "Y"}, default="D"
        Transactions of a customer within one such period count as one purchase.
    observation_end : date-like, optional
        Last calendar day observed (inclusive). Default: the day of the last transaction.
        Later transactions are excluded with a counted ``DataQualityWarning``.
    include_first_transaction : bool, default=False
        Count the first purchase in ``frequency`` and ``monetary_value`` (lifetimes'
        option of the same name). Keep ``False`` for BG/NBD and Gamma-Gamma.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (str; integer ids stay int64), customers in order of first
        appearance in ``tx`` (so in customer order for a log from ``load_transactions``,
        which sorts by customer; the values never depend on row order). Columns
        ``frequency`` (float, whole numbers), ``recency`` and ``T`` (float, in
        ``time_unit``), ``monetary_value`` (mean repeat-purchase value, 0 if none),
        ``total_spend`` (all spend in the window), ``n_transactions`` (int, raw rows),
        ``first_purchase`` and ``last_purchase`` (raw timestamps of the earliest and
        latest transaction in the window). ``attrs``: ``time_unit``, ``merge_period``,
        ``observation_end`` (ISO date), ``include_first_transaction``.

    Raises
    ------
    MissingColumnsError, InvalidValueError, EmptyInputError, NotATableError

    Examples
    --------
    >>> from clvlab.datasets import load_cdnow
    >>> rfm = rfm_summary(load_cdnow(sample=True), time_unit="W")
    >>> rfm.loc["1", ["frequency", "recency", "T"]].round(2).tolist()
    [3.0, 49.29, 77.86]
    """
    time_unit = _check_unit(time_unit, "time_unit")
    merge_period = _check_unit(merge_period, "merge_period")
    log = _check_transactions(tx, integer_ids=True)
    release_unused()  # the coding's temporaries: their pages are not needed again
    end_day = int(log.day.max()) if observation_end is None else _parse_day(
        observation_end, "observation_end")
    kept = log.day <= end_day
    if not kept.any():
        raise EmptyInputError(
            f"no transaction is on or before observation_end {_iso(end_day)} (the first is "
            f"on {_iso(int(log.day.min()))}). Pass a later observation_end.",
            column=C.DATE,
            rule="transactions before observation_end",
        )
    if kept.all():
        rows: np.ndarray | slice = slice(None)
    else:
        _excluded_warning(log, kept, end_day, "observation_end")
        rows = np.flatnonzero(kept)
    agg = _aggregate(log, rows, merge_period, last_use=True)
    del kept, rows
    log.release_rows()  # the per-row arrays are done with: free them before the output
    release_unused()
    out = _summary_frame(log, agg, end_day, merge_period, time_unit, include_first_transaction)
    del agg
    release_unused()
    _set_attrs(out, time_unit, merge_period, end_day, include_first_transaction)
    return out


def calibration_holdout(
    tx: pd.DataFrame,
    calibration_end: Any,
    observation_end: Any,
    time_unit: str = "W",
    merge_period: str = "D",
) -> pd.DataFrame:
    """Split a log at ``calibration_end``: RFM of the calibration period plus holdout counts.

    The calibration part is exactly ``rfm_summary(tx, time_unit, merge_period,
    observation_end=calibration_end)`` restricted to customers whose first purchase is on
    or before ``calibration_end``. The holdout covers the days after ``calibration_end``
    up to and including ``observation_end``. Both periods use one aggregation; a
    transaction belongs to the period of its calendar day and purchases are merged
    *within* each period, so with ``merge_period="W"`` a week straddling
    ``calibration_end`` can give one calibration purchase and one holdout purchase (as in
    lifetimes' ``calibration_and_holdout_data``). ``duration_holdout`` is the age of
    ``observation_end`` measured from ``calibration_end`` by the same rule as ``T``.

    Parameters
    ----------
    tx : DataFrame
        Canonical transactions (see :func:`rfm_summary`).
    calibration_end : date-like
        Last calendar day of the calibration period (inclusive).
    observation_end : date-like
        Last calendar day of the holdout period (inclusive); must be after
        ``calibration_end``. Later transactions are excluded with a warning.
    time_unit : {"D", "W", "M", "Y"}, default="W"
        Unit of ``recency``, ``T`` and ``duration_holdout``.
    merge_period : {"D", "W", "M", "Y"}, default="D"
        Transactions within one such period count as one purchase.

    Returns
    -------
    DataFrame
        The calibration columns of :func:`rfm_summary` plus ``frequency_holdout``
        (float, merged purchases in the holdout -- every purchase counts, there is no
        "first" one), ``monetary_value_holdout`` (mean value per holdout purchase, 0 if
        none), ``duration_holdout`` (float, ``time_unit``), ``total_spend_holdout`` and
        ``n_transactions_holdout`` (int, raw rows). ``attrs``: as :func:`rfm_summary`,
        with ``observation_end`` the end of the holdout, plus ``calibration_end``.

    Raises
    ------
    InvalidValueError
        ``calibration_end`` not before ``observation_end``, or an unparseable date.
    EmptyInputError
        No customer made a purchase by ``calibration_end``.
    """
    time_unit = _check_unit(time_unit, "time_unit")
    merge_period = _check_unit(merge_period, "merge_period")
    cal_day = _parse_day(calibration_end, "calibration_end")
    end_day = _parse_day(observation_end, "observation_end")
    if cal_day >= end_day:
        raise InvalidValueError(
            f"calibration_end ({_iso(cal_day)}) must be before observation_end "
            f"({_iso(end_day)}); the holdout period would be empty. Swap or correct the dates.",
            column="calibration_end",
            rule="calibration_end < observation_end",
        )
    log = _check_transactions(tx, integer_ids=True)
    in_window = log.day <= end_day
    if not in_window.all():
        _excluded_warning(log, in_window, end_day, "observation_end")
    cal_rows = np.flatnonzero(log.day <= cal_day)
    if cal_rows.size == 0:
        raise EmptyInputError(
            f"no transaction is on or before calibration_end {_iso(cal_day)} (the first is on "
            f"{_iso(int(log.day.min()))}), so the calibration period has no customers. Pass a "
            "later calibration_end.",
            column=C.DATE,
            rule="transactions before calibration_end",
        )
    hold_mask = in_window & (log.day > cal_day)
    cal = _aggregate(log, cal_rows, merge_period)
    in_cal = np.zeros(log.ids.size, dtype=bool)
    in_cal[cal.code] = True
    hold_rows = np.flatnonzero(hold_mask & in_cal[log.codes])
    n_new_rows = int(np.count_nonzero(hold_mask)) - hold_rows.size
    if n_new_rows:
        new_codes = np.unique(log.codes[hold_mask & ~in_cal[log.codes]])
        warnings.warn(
            f"{new_codes.size} customer(s) with {n_new_rows} holdout transaction(s) made their "
            f"first purchase after calibration_end {_iso(cal_day)} and are not in the "
            "calibration/holdout frame (customer_id "
            f"{describe_offenders(list(log.ids[new_codes[:5]]), new_codes.size)}). This is "
            "expected when customers keep being acquired; model them as a later cohort.",
            DataQualityWarning,
            stacklevel=2,
        )
    hold = _aggregate(log, hold_rows, merge_period)
    del hold_rows, cal_rows, hold_mask, in_window
    log.release_rows()
    release_unused()
    out = _summary_frame(log, cal, cal_day, merge_period, time_unit, False)
    # align holdout aggregates (codes ascending, a subset of the calibration codes)
    pos = np.searchsorted(cal.code, hold.code)
    n = cal.code.size
    n_h = np.zeros(n, dtype=np.int64)
    spend_h = np.zeros(n)
    rows_h = np.zeros(n, dtype=np.int64)
    n_h[pos] = hold.n_purchases
    spend_h[pos] = hold.total_spend
    rows_h[pos] = hold.n_rows
    for col, values in finish_holdout(n_h, spend_h).items():
        out[col] = values
    out[C.DURATION_HOLDOUT] = holdout_duration(cal_day, end_day, merge_period, time_unit)
    out[C.TOTAL_SPEND_HOLDOUT] = spend_h
    out[C.N_TRANSACTIONS_HOLDOUT] = rows_h
    _set_attrs(out, time_unit, merge_period, end_day, False)
    out.attrs[C.ATTR_CALIBRATION_END] = _iso(cal_day)
    del cal, hold, pos
    release_unused()
    return out
