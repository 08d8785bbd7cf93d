"""Validation of RFM summaries, shared by :mod:`clvlab.rfm` and every model.

Validate once, at the boundary, before any cast: models call :func:`validate_rfm` in
``fit`` and in their predictors, so a bad frame fails with a message that names the
column, the rule, the first offending customers and a next step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import (
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    describe_offenders,
)

__all__ = ["validate_rfm", "as_rfm_frame"]


def as_rfm_frame(data: Any, columns: Iterable[str]) -> pd.DataFrame:
    """Return ``data`` as a DataFrame with at least ``columns`` (no copy of a DataFrame).

    Parameters
    ----------
    data : DataFrame or mapping of column name to array-like
        RFM data. A mapping (e.g. ``{"frequency": f, "recency": r, "T": t}``) is
        turned into a DataFrame indexed ``0..n-1``.
    columns : iterable of str
        Required columns.

    Returns
    -------
    DataFrame
    """
    columns = tuple(columns)
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, Mapping):
        try:
            frame = pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidValueError(
                f"RFM arrays must all have the same length; {exc}. Pass equal-length arrays "
                "or a DataFrame.",
                rule="equal lengths",
            ) from None
        frame.index.name = C.CUSTOMER_ID
    else:
        raise TypeError(
            "RFM data must be a pandas DataFrame (e.g. from clvlab.rfm_summary) or a mapping "
            f"of column name to array; got {type(data).__name__}."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = ", ".join(map(str, frame.columns)) or "(none)"
        raise MissingColumnsError(
            f"RFM data lack column(s) {', '.join(missing)}; columns present: {present}. "
            "Build the summary with clvlab.rfm_summary, or rename your columns to "
            f"{', '.join(columns)}.",
            column=missing[0],
            rule="required column",
        )
    return frame


def _fail(frame: pd.DataFrame, mask: np.ndarray, column: str, rule: str, hint: str) -> None:
    n_bad = int(mask.sum())
    ids = list(frame.index[mask][:5])
    what = "customer violates" if n_bad == 1 else "customers violate"
    raise InvalidValueError(
        f"{column}: {rule}; {n_bad} {what} this "
        f"(customer_id {describe_offenders(ids, n_bad)}). {hint}",
        column=column,
        rule=rule,
        offenders=ids,
        n_offending=n_bad,
    )


def validate_rfm(
    data: Any,
    require: Iterable[str] = (C.FREQUENCY, C.RECENCY, C.T),
    *,
    model: str = "the model",
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Check an RFM summary and return it as a DataFrame (never modified).

    Rules checked, for the columns in ``require``: present; numeric; finite (no NaN or
    infinity); non-negative; ``frequency`` whole; ``recency <= T``; ``recency == 0`` when
    ``frequency == 0``; ``monetary_value > 0`` is *not* required here (Gamma-Gamma checks
    it itself); ``customer_id`` (the index) unique.

    Parameters
    ----------
    data : DataFrame or mapping
        RFM summary, index ``customer_id``.
    require : iterable of str, default=("frequency", "recency", "T")
        Columns that must be present and valid.
    model : str, default="the model"
        Name used in messages (e.g. ``"BG/NBD"``).
    allow_empty : bool, default=False
        Accept a frame with no rows.

    Returns
    -------
    DataFrame
        ``data`` itself (or a DataFrame built from a mapping).

    Raises
    ------
    MissingColumnsError, InvalidValueError, EmptyInputError
    """
    require = tuple(require)
    frame = as_rfm_frame(data, require)
    if len(frame) == 0 and not allow_empty:
        raise EmptyInputError(
            f"RFM data for {model} hold no customers. Check the filters applied before fitting.",
            rule="at least one customer",
        )
    for col in require:
        values = frame[col]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            raise InvalidValueError(
                f"{col} must be numeric; found dtype {values.dtype}. Convert it with "
                f"pd.to_numeric(df[{col!r}]) after fixing the offending entries.",
                column=col,
                rule="numeric",
            )
        if values.dtype == np.float64:  # no copy (NaN is caught as non-finite below)
            arr = values.to_numpy()
        else:
            arr = values.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(arr)
        if bad.any():
            _fail(frame, bad, col, "must be finite (no NaN or infinity)",
                  "Drop or fill these customers before using " + model + ".")
        bad = arr < 0
        if bad.any():
            hint = (
                "Spend per purchase cannot be negative: net returns against purchases when "
                "loading (clvlab.load_transactions does by default)."
                if col == C.MONETARY_VALUE
                else "Ages and counts cannot be negative."
            )
            _fail(frame, bad, col, "must be >= 0", hint)
    if C.FREQUENCY in require:
        f = frame[C.FREQUENCY].to_numpy(dtype=float)
        bad = f != np.floor(f)
        if bad.any():
            _fail(frame, bad, C.FREQUENCY, "must be a whole number of repeat purchases",
                  "frequency counts repeat purchases; round or recompute it with rfm_summary.")
    if C.RECENCY in require and C.T in require:
        r = frame[C.RECENCY].to_numpy(dtype=float)
        t = frame[C.T].to_numpy(dtype=float)
        # tolerate float noise of a few ulps from unit conversion
        limit = t * (1 + 1e-12)
        limit += 1e-12  # (in place: one temporary)
        bad = r > limit
        del limit
        if bad.any():
            _fail(frame, bad, C.RECENCY, "must be <= T",
                  "Is observation_end before their last purchase?")
        if C.FREQUENCY in require:
            f = frame[C.FREQUENCY].to_numpy(dtype=float)
            bad = (f == 0) & (r != 0)
            if bad.any():
                _fail(frame, bad, C.RECENCY, "must be 0 when frequency is 0",
                      "recency is the age at the last repeat purchase; with none it is 0.")
    if not index_is_unique(frame.index):
        dup = frame.index[frame.index.duplicated()].unique()
        raise InvalidValueError(
            f"customer_id (the index) must be unique; {len(dup)} "
            f"{'id repeats' if len(dup) == 1 else 'ids repeat'} "
            f"({describe_offenders(list(dup[:5]), len(dup))}). One row per customer: "
            "aggregate with clvlab.rfm_summary.",
            column=C.CUSTOMER_ID,
            rule="unique",
            offenders=list(dup[:5]),
            n_offending=len(dup),
        )
    return frame


def aligned_to(values: pd.Series, index: pd.Index) -> pd.Series:
    """``values.reindex(index)``, without pandas' lookup table when the labels are equal.

    ``Series.reindex`` builds the hash table of ``index`` even when the labels are the
    same, and pandas keeps it on the index: about 85 MiB for a million text ids, held as
    long as the index lives. A Series already on ``index``'s labels is returned as is.
    """
    if values.index is index or values.index.equals(index):
        return values
    return values.reindex(index)


def index_is_unique(index: pd.Index) -> bool:
    """``index.is_unique``, without pandas' lookup table where a cheaper check exists.

    pandas answers ``is_unique`` from the index's hash table, which it keeps on the index
    for good: for a million text ids (Arrow-backed) that is a million Python strings plus
    the table, about 90 MiB held as long as the frame lives. Ids in increasing order (an
    RFM summary of a log sorted by customer) are unique, which one comparison of
    neighbours shows; otherwise Arrow text is counted with Arrow's hash (temporary
    memory) and integers through a sorted copy. Same answer as ``is_unique``.
    """
    if len(index) < 2 or isinstance(index, pd.MultiIndex):
        return bool(index.is_unique)
    cache = getattr(index, "_cache", None)
    if isinstance(cache, dict):
        if "_engine" in cache:  # pandas has built its table already
            return bool(index.is_unique)
        if _UNIQUE_KEY in cache:  # an index is immutable: checked once per object
            return bool(cache[_UNIQUE_KEY])
    found = _index_is_unique(index)
    if isinstance(cache, dict):
        cache[_UNIQUE_KEY] = found
    return found


#: Where :func:`index_is_unique` keeps its answer in an index's own cache (validate_rfm
#: checks the same million-id index once per prediction: each check compares every id).
_UNIQUE_KEY = "_clvlab_is_unique"


def _index_is_unique(index: pd.Index) -> bool:
    """:func:`index_is_unique` of an index of two or more ids, not cached."""
    chunked = getattr(index.array, "_pa_array", None)
    if chunked is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
            return bool(index.is_unique)
        arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        if arr.null_count == 0 and text_increasing(arr):
            return True
        pool = pa.system_memory_pool()  # the hash table is freed, not kept by the pool
        return pc.count_distinct(arr, mode="all", memory_pool=pool).as_py() == len(index)
    if isinstance(index.dtype, np.dtype) and index.dtype.kind in "iu":
        values = index.to_numpy()
        if bool(np.all(values[1:] > values[:-1])):
            return True
        values = np.sort(values)
        return not bool(np.any(values[1:] == values[:-1]))
    return bool(index.is_unique)


#: Elements per Arrow comparison: Arrow's string kernels take temporary memory in
#: proportion to their input, so long columns are compared a slice at a time.
_TEXT_CHUNK = 1 << 18


def text_neighbours_differ(arr: Any) -> np.ndarray:
    """``arr[i + 1] != arr[i]`` for Arrow text without nulls, as a numpy bool array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pool = pa.system_memory_pool()
    out = np.empty(max(len(arr) - 1, 0), dtype=bool)
    for lo in range(0, out.size, _TEXT_CHUNK):
        hi = min(lo + _TEXT_CHUNK, out.size)
        out[lo:hi] = pc.not_equal(arr[lo + 1 : hi + 1], arr[lo:hi], memory_pool=pool).to_numpy(
            zero_copy_only=False)
    return out


def text_equal(a: Any, b: Any) -> bool:
    """Whether two Arrow texts without nulls, of the same length, are equal element-wise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pool = pa.system_memory_pool()
    return all(
        pc.all(pc.equal(a[lo:lo + _TEXT_CHUNK], b[lo:lo + _TEXT_CHUNK], memory_pool=pool),
               memory_pool=pool).as_py() is True
        for lo in range(0, len(a), _TEXT_CHUNK)
    )


def text_increasing(arr: Any) -> bool:
    """Whether Arrow text strictly increases, in text order or in (length, text) order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pool = pa.system_memory_pool()
    n = len(arr) - 1
    slices = [(arr[lo : min(lo + _TEXT_CHUNK, n)], arr[lo + 1 : min(lo + _TEXT_CHUNK, n) + 1])
              for lo in range(0, n, _TEXT_CHUNK)]
    if all(pc.all(pc.less(a, b, memory_pool=pool)).as_py() for a, b in slices):
        return True
    for a, b in slices:
        la = pc.binary_length(a, memory_pool=pool)
        lb = pc.binary_length(b, memory_pool=pool)
        by_length = pc.or_(pc.less(la, lb, memory_pool=pool),
                           pc.and_(pc.equal(la, lb, memory_pool=pool),
                                   pc.less(a, b, memory_pool=pool), memory_pool=pool),
                           memory_pool=pool)
        if not pc.all(by_length).as_py():
            return False
    return True
