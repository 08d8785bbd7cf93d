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
        bad = r > t * (1 + 1e-12) + 1e-12
        if bad.any():
            _fail(frame, bad, C.RECENCY, "must be <= T",
                  "Is observation_end before their last purchase?")
        if C.FREQUENCY in require:
            f = frame[C.FREQUENCY].to_numpy(dtype=float)
            bad = (f == 0) & (r != 0)
            if bad.any():
                _fail(frame, bad, C.RECENCY, "must be 0 when frequency is 0",
                      "recency is the age at the last repeat purchase; with none it is 0.")
    if not frame.index.is_unique:
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
