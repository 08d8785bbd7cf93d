"""Spreadsheet export: the per-customer predictions as an XLSX workbook and as CSV.

The workbook is what a marketing team opens; the CSV is what a scheduler or another
program reads. Both hold the same per-customer numbers as :func:`clvlab.scoring.score_customers`.

Workbook layout (:func:`write_workbook`)
----------------------------------------
==================  ==================================================================
sheet               content
==================  ==================================================================
Predictions         one row per customer (the scoring table); with ``rank_by="clv"``
                    (as ``clvlab run`` writes it) highest CLV first, with a rank
                    column; split over "Predictions (2)", "Predictions (3)", ...
                    when there are more customers than an XLSX sheet holds (1,048,575
                    below the header)
Parameters          one row per model parameter: model, parameter, estimate, se,
                    lower, upper (confidence bounds)
Holdout metrics     the holdout evaluation (one row per metric, with its unit), or a
                    note that there was none
Model comparison    the purchase models compared on the holdout (parameters, fit and
                    holdout statistics, one column per model, * = chosen), when
                    ``comparison`` is given
Deciles             holdout *value* by decile of predicted value, predicted beside
                    actual (models that predict no value are left out), or a note
Data quality        what loading did to the input: check, action, count, examples
About               how the numbers were made (horizon, discount rate, time unit,
                    currency, what a blank cell means, ...)
==================  ==================================================================

Every sheet has a formatted header row that stays frozen while scrolling and repeats on
every printed page, an autofilter, number formats (money with the currency symbol when
one is given, ``0.0%`` for probabilities) and column widths fitted to the content; it
prints landscape, one page wide. Numbers are written as numbers; missing or non-finite
numbers become empty cells. A quantity that is undefined for a customer is a blank cell,
not a zero: the average repeat-purchase value of a customer without a repeat purchase.
The header cell of such a column carries a comment saying so, and so does the About
sheet.

Formula injection
-----------------
A text cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would be read as a formula by spreadsheet programs (CSV injection, OWASP). Every
*text* cell written by this module -- customer ids, segment names, data-quality examples,
metadata -- that starts with one of those characters gets a leading apostrophe ``'``, in
the XLSX and in the CSV alike, so ``=HYPERLINK(...)`` arrives as the harmless text
``'=HYPERLINK(...)``. Numeric cells are never altered. Control characters that XLSX
cannot store (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F) are replaced by U+FFFD in the
workbook only; the CSV keeps them.

Cell length
-----------
Excel holds at most :data:`XLSX_MAX_CELL_CHARS` (32,767) characters per cell. Longer text is
cut in the workbook to that length, ending with :data:`TRUNCATION_MARKER`; the number of
such cells is added as a row to the Data quality sheet and reported in a
:class:`~clvlab.exceptions.DataQualityWarning`. The CSV keeps the full text.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import os
import queue
import re
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._money import Currency
from clvlab._time import UNIT_NAMES
from clvlab.exceptions import (
    ClvlabWarning,
    DataQualityWarning,
    InvalidValueError,
    MissingColumnsError,
)
from clvlab.validation import index_is_unique

__all__ = [
    "write_workbook",
    "write_csv",
    "neutralise_text",
    "neutralise_series",
    "prediction_labels",
    "FORMULA_TRIGGERS",
    "XLSX_MAX_ROWS",
    "RANK_COLUMN",
    "COLUMN_NOTES",
    "XLSX_MAX_CELL_CHARS",
    "TRUNCATION_MARKER",
]

#: First characters that make a spreadsheet program treat text as a formula (OWASP).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Prefix that neutralises such text.
SAFE_PREFIX = "'"
#: Rows in one XLSX worksheet (Excel's limit), header included.
XLSX_MAX_ROWS = 1_048_576
#: Characters in one XLSX cell (Excel's limit); longer text is cut to fit, ending with
#: :data:`TRUNCATION_MARKER`, and counted on the Data quality sheet.
XLSX_MAX_CELL_CHARS = 32_767
#: Visible end of a text cut to :data:`XLSX_MAX_CELL_CHARS` in the workbook.
TRUNCATION_MARKER = "…[truncated]"

_ILLEGAL_XLSX_CHARS = "".join(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32)])
_ILLEGAL_XLSX_TABLE = str.maketrans({ch: "\ufffd" for ch in _ILLEGAL_XLSX_CHARS})

# -- column presentation -------------------------------------------------------------

_FMT_COUNT = "#,##0"
_FMT_MONEY = "#,##0.00"
_FMT_AGE = "0.00"
_FMT_PROB = "0.0%"
_FMT_EXPECT = "0.000"
_FMT_FLOAT = "0.0000"
_FMT_DATE = "yyyy-mm-dd"

#: Name of the rank column ``rank_by`` adds before the customer id (1 = highest CLV).
RANK_COLUMN = "rank"

# column -> (label template, number format); {unit} and {horizon} are filled in
_PREDICTION_COLUMNS: dict[str, tuple[str, str | None]] = {
    RANK_COLUMN: ("Rank by CLV", "0"),
    C.CUSTOMER_ID: ("Customer ID", None),
    C.FREQUENCY: ("Repeat purchases", "0"),
    C.RECENCY: ("Recency{unit}", _FMT_AGE),
    C.T: ("Customer age T{unit}", _FMT_AGE),
    C.MONETARY_VALUE: ("Avg. repeat purchase value", _FMT_MONEY),
    "probability_alive": ("P(alive)", _FMT_PROB),
    "expected_purchases": ("Expected purchases{horizon}", _FMT_EXPECT),
    "purchases_lower": ("Purchases: {level}range, low{horizon}", _FMT_COUNT),
    "purchases_upper": ("Purchases: {level}range, high{horizon}", _FMT_COUNT),
    "expected_spend": ("Expected spend per purchase", _FMT_MONEY),
    "clv": ("CLV{horizon}", _FMT_MONEY),
    "clv_lower": ("CLV: {level}range, low{horizon}", _FMT_MONEY),
    "clv_upper": ("CLV: {level}range, high{horizon}", _FMT_MONEY),
    "clv_baseline": ("Baseline CLV{horizon}", _FMT_MONEY),
    "historical_spend": ("Historical spend", _FMT_MONEY),
    "segment": ("Segment", None),
}

#: Columns whose number format is money (the currency format replaces ``#,##0.00``).
_MONEY_COLUMNS = frozenset(c for c, (_, fmt) in _PREDICTION_COLUMNS.items() if fmt == _FMT_MONEY)

#: What a blank or a surprising zero means, per column: shown as a comment on the header
#: cell and on the About sheet.
COLUMN_NOTES: dict[str, str] = {
    C.MONETARY_VALUE: "Blank for customers without a repeat purchase: with no repeat "
    "purchase there is no average repeat-purchase value (the first purchase is left out of "
    "it). Their expected spend per purchase is the population mean.",
    "clv_baseline": "0 for customers without a repeat purchase: the formula multiplies "
    "average order value by the customer's own repeat-purchase rate, which is 0 for them "
    "(the probabilistic CLV does not make that assumption).",
}

_KNOWN_FORMATS: dict[str, str] = {
    "count": _FMT_COUNT,
    "n_customers": _FMT_COUNT,
    "customers": _FMT_COUNT,
    "estimate": _FMT_FLOAT,
    "se": _FMT_FLOAT,
    "lower": _FMT_FLOAT,
    "upper": _FMT_FLOAT,
}


def prediction_labels(
    columns: Iterable[str], *, time_unit: str | None = None, horizon: float | None = None,
    level: float | None = None,
) -> list[str]:
    """Human-readable header labels for the Predictions sheet.

    Parameters
    ----------
    columns : iterable of str
        Column names of the scoring table (with ``customer_id`` first).
    time_unit : str, optional
        Time unit of recency, T and the horizon (``"D"``, ``"W"``, ``"M"``, ``"Y"``).
    horizon : float, optional
        Prediction horizon in ``time_unit``.
    level : float, optional
        Level of the prediction intervals (e.g. 0.8: "Purchases: 80% range, low").

    Returns
    -------
    list of str
        E.g. ``"Expected purchases (next 52 weeks)"``; unknown columns keep their name.
    """
    unit_name = UNIT_NAMES.get(time_unit or "", time_unit)
    unit = f" ({unit_name})" if unit_name else ""
    if horizon is not None and unit_name:
        horizon_txt = f" (next {_fmt_number(horizon)} {unit_name})"
    elif horizon is not None:
        horizon_txt = f" (next {_fmt_number(horizon)} periods)"
    else:
        horizon_txt = ""
    out = []
    for col in columns:
        template = _PREDICTION_COLUMNS.get(col, (col, None))[0]
        level_txt = f"{_fmt_number(round(100 * level, 6))}% " if level else ""
        out.append(template.format(unit=unit, horizon=horizon_txt, level=level_txt))
    return out


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# -- neutralising text ---------------------------------------------------------------


def neutralise_text(value: str) -> str:
    """Return ``value`` with a leading apostrophe if it would start a formula.

    Parameters
    ----------
    value : str
        Text destined for a spreadsheet cell.

    Returns
    -------
    str
        ``"'" + value`` when ``value`` starts with ``=``, ``+``, ``-``, ``@``, tab or
        carriage return; otherwise ``value`` unchanged.

    Examples
    --------
    >>> neutralise_text("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> neutralise_text("C-1042")
    'C-1042'
    """
    if value and value[0] in FORMULA_TRIGGERS:
        return SAFE_PREFIX + value
    return value


def neutralise_series(values: pd.Series | pd.Index) -> pd.Series:
    """Vectorised :func:`neutralise_text` over text values (non-text becomes its ``str``).

    Parameters
    ----------
    values : Series or Index
        Text (or anything, converted with ``str``); missing values stay missing.

    Returns
    -------
    Series of object
        Same length and order; index ``0..n-1`` for an Index input.
    """
    raw = values.to_numpy(dtype=object)
    missing = pd.isna(raw)
    text = [
        None if miss else neutralise_text(v if isinstance(v, str) else str(v))
        for v, miss in zip(raw.tolist(), missing.tolist(), strict=True)
    ]
    index = None if isinstance(values, pd.Index) else values.index
    return pd.Series(text, index=index, dtype=object)


def _plain_text(values: pd.Series | pd.Index) -> tuple[list[Any], np.ndarray | None]:
    """Values as Python objects (``None`` where missing) and, for categoricals, the codes.

    For a categorical the list holds the categories and the codes pick them (``-1``:
    missing), so per-value work is done once per category.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
        return list(cat.categories.to_numpy(dtype=object).tolist()), np.asarray(cat.codes)
    raw = values.to_numpy(dtype=object)
    missing = pd.isna(raw)
    out = raw.tolist()
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            out[i] = None
    return out, None


def _map_text(
    values: pd.Series | pd.Index, fast: str, slow: Any, missing: Any,
    max_fast: int | None = None,
) -> list[Any]:
    """Apply ``slow(neutralise_text(str(v)))`` to each value, ``fast`` to plain ones.

    ``fast`` is a format string applied to values that are alphanumeric ``str`` (no
    neutralising, quoting or escaping can apply to them: the common case of customer
    ids) of at most ``max_fast`` characters, ``missing`` stands for missing values.
    Equal, value by value, to the same functions applied to :func:`neutralise_series`'s
    output.
    """
    plain, codes = _plain_text(values)
    limit = max_fast if max_fast is not None else float("inf")
    out = [
        missing if v is None
        else fast.format(v) if (type(v) is str and v.isalnum() and len(v) <= limit)
        else slow(neutralise_text(v if isinstance(v, str) else str(v)))
        for v in plain
    ]
    if codes is None:
        return out
    return np.array([*out, missing], dtype=object)[codes].tolist()


def _float_texts(arr: np.ndarray) -> list[str]:
    """``repr`` of each float (Python's shortest round-trip form), once per distinct value.

    Scores repeat many values (whole frequencies, ages on a grid, P(alive) = 1 and zero
    spend for one-time buyers), so the distinct values are formatted and gathered; a
    column of mostly distinct values is formatted directly. Negative zero, which hashes
    like zero but prints as ``-0.0``, is formatted directly too.
    """
    values = np.asarray(arr, dtype=float)
    if values.size >= 1024 and not bool(np.any(np.signbit(values) & (values == 0))):
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if uniques.size <= 0.8 * values.size:
            table = np.array(list(map(repr, uniques.tolist())), dtype=object)
            return table[codes].tolist()  # type: ignore[no-any-return]
    return list(map(repr, values.tolist()))


_FEW_MIN = 4096  # shorter columns are formatted value by value
_FEW_SAMPLE = 4096


def _few_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes and distinct values of a numeric column with few distinct values, else None.

    Few: at most an eighth of its length and fewer than 32,768 (the codes are int16), in
    a column of at least ``_FEW_MIN`` values. Such a column (whole frequencies, ages on a
    grid, bounds that are mostly zero) is formatted once per distinct value and its
    texts gathered by code. A sample decides first whether counting them is worth it.
    A float column holding negative zero, which hashes like zero, is never grouped.
    """
    n = values.size
    if n < _FEW_MIN or values.dtype.kind not in "fiu":
        return None
    if values.dtype.kind == "f" and bool(np.any(np.signbit(values) & (values == 0))):
        return None
    sample = values[:: max(1, n // _FEW_SAMPLE)]
    if pd.unique(sample).size > sample.size // 4:
        return None
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    if uniques.size > min(n // 8, np.iinfo(np.int16).max):
        return None
    return codes.astype(np.int16), np.asarray(uniques)


# -- formatting through Arrow (when pyarrow is installed) ------------------------------
#
# Python's float ``repr`` of ten million values and the per-value string joins were most
# of the CSV and XLSX time. Arrow formats floats with the shortest round-trip digits too
# (double-conversion) and joins strings column-wise in C++ without holding the GIL, so a
# writer can run beside other work. Its notation differs from ``repr`` in three places,
# so only the values where both write the same digits go through Arrow's cast: decimals
# of magnitude 1e-4 to 1e10 (Arrow switches to exponents outside 1e-6..1e10, Python
# outside 1e-4..1e16). Whole numbers (Arrow "1", Python "1.0") get Arrow's integer digits
# and ".0"; the rest (tiny and huge magnitudes, negative zero, nan, inf) Python's repr.
# A probe of awkward values, both sides of each bound among them, checks the installed
# Arrow at first use; if it disagrees anywhere, the pure-Python path is used. Numeric
# columns with few distinct values (whole frequencies, ages on a weekly grid) are
# formatted once per value and gathered by code (:func:`_few_values`).

_ARROW_PLAIN = r"^[A-Za-z0-9]+$"  # plain ASCII text: nothing to neutralise, quote or escape
# magnitudes Arrow writes in fixed notation, as Python does (Arrow: 1e-6 up to 1e10)
_ARROW_FIXED = (1e-4, 1e10)
_ARROW_STATE: list[Any] = []


def _arrow() -> Any:
    """``(pyarrow, pyarrow.compute)`` if installed and formatting as Python does, else None."""
    if not _ARROW_STATE:
        _ARROW_STATE.append(_arrow_probe())
    return _ARROW_STATE[0]


def _arrow_probe() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is optional
        return None
    rng = np.random.default_rng(13)
    probe = np.concatenate([
        [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-4, 9.99e-5, 1e-5, 1.5e-7, 1e15, 1e16, 9.5e15,
         123456.75, 2.5e-5, 1 / 3, 2 / 3, 100.0, 1e22, 5e-324, 1.7976931348623157e308,
         np.nan, np.inf, -np.inf, 9007199254740993.0, 4503599627370497.5, 0.30000000000000004],
        rng.standard_normal(400) * 10.0 ** rng.uniform(-6, 18, 400),
        # both sides of the fixed-notation bounds, whole and not
        [np.nextafter(1e10, 0), 1e10 + 0.5, 9999999999.5, 1e10 - 1, np.nextafter(1e-4, 1)],
        rng.uniform(1, 10, 200) * 10.0 ** rng.integers(-5, 17, 200),
        rng.integers(0, 2**63, 400, dtype=np.uint64).view(np.float64),
    ])
    try:
        texts = _arrow_float_texts_with(pa, pc, probe).to_pylist()
        ints = pc.cast(pa.array(np.array([0, -7, 2**62], dtype=np.int64)), pa.string())
    except Exception:  # pragma: no cover - an Arrow without these kernels
        return None
    if texts != list(map(repr, probe.tolist())) or ints.to_pylist() != ["0", "-7", str(2**62)]:
        return None  # pragma: no cover - an Arrow that formats differently
    return pa, pc


def _arrow_float_texts_with(pa: Any, pc: Any, arr: np.ndarray) -> Any:
    """Python's ``repr`` of each float as an Arrow string array (no nulls).

    Three kinds of value, each formatted once: decimals of magnitude in
    ``[1e-4, 1e10)`` (Arrow's shortest digits, in fixed notation as Python's), whole
    numbers below ``1e16`` (Arrow's integer digits and ``".0"``), and the rest (tiny and
    huge magnitudes, negative zero, nan and infinities: Python's ``repr``, once per
    distinct value). The probe checks this split against ``repr`` at first use.
    """
    values = np.ascontiguousarray(arr, dtype=np.float64)
    mag = np.abs(values)
    with np.errstate(invalid="ignore"):
        whole = np.floor(values) == values
    plain = ~whole & (mag >= _ARROW_FIXED[0]) & (mag < _ARROW_FIXED[1])
    if plain.all():
        return pc.cast(pa.array(values), pa.string())
    whole &= (mag < 1e16) & ~((values == 0) & np.signbit(values))
    rest = ~(plain | whole)
    parts: list[Any] = []
    take = np.empty(values.size, dtype=np.int64)
    start = 0
    for kind, mask in (("plain", plain), ("whole", whole), ("rest", rest)):
        pos = np.flatnonzero(mask)
        if pos.size == 0:
            continue
        picked = values[pos]
        if kind == "plain":
            parts.append(pc.cast(pa.array(picked), pa.string()))
        elif kind == "whole":
            digits = pc.cast(pa.array(picked.astype(np.int64)), pa.string())
            parts.append(pc.binary_join_element_wise(digits, ".0", ""))
        else:
            parts.append(pa.array(_float_texts(picked), type=pa.string()))
        take[pos] = np.arange(start, start + pos.size, dtype=np.int64)
        start += pos.size
    if len(parts) == 1:
        return parts[0]
    return pa.concat_arrays(parts).take(pa.array(take))


def _arrow_float_texts(arr: np.ndarray) -> Any:
    pa, pc = _arrow()
    return _arrow_float_texts_with(pa, pc, arr)


def _arrow_strings(values: pd.Series | pd.Index) -> Any:
    """Return the values as an Arrow string array (nulls where missing); None if not text."""
    pa, pc = _arrow()
    dtype = values.dtype
    try:
        if isinstance(dtype, pd.StringDtype):
            arr = pa.array(values.array)
        elif dtype.kind == "O":
            arr = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        else:
            return None
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return pc.cast(arr, pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _arrow_map_text(
    values: pd.Series | pd.Index, prefix: str, suffix: str, slow: Any,
    max_fast: int | None = None,
) -> Any:
    """Arrow version of :func:`_map_text`: the same texts, nulls for missing values.

    ``prefix + v + suffix`` for plain values (the ``fast`` format), ``slow(...)`` for the
    others. Plain ASCII alphanumeric text is checked in Arrow; a column with any other
    value goes through :func:`_map_text` (categoricals: once per category).
    """
    pa, pc = _arrow()
    fast = prefix + "{}" + suffix
    if isinstance(values.dtype, pd.CategoricalDtype):
        table, codes = _arrow_category_texts(values, prefix, suffix, slow, max_fast)
        return table.take(pa.array(codes))
    arr = _arrow_strings(values)
    if arr is not None and len(arr) and _arrow_all_plain(arr, max_fast):
        if prefix or suffix:
            return pc.binary_join_element_wise(prefix, arr, suffix, "")
        return arr
    return pa.array(_map_text(values, fast, slow, None, max_fast), type=pa.string())


def _arrow_all_plain(arr: Any, max_fast: int | None) -> bool:
    """Return whether every value is plain text: nothing to neutralise, quote or escape.

    Plain: ASCII letters and digits only, at most ``max_fast`` characters; nulls aside.
    """
    _, pc = _arrow()
    plain = pc.match_substring_regex(arr, _ARROW_PLAIN)
    if max_fast is not None:
        plain = pc.and_(plain, pc.less_equal(pc.utf8_length(arr), max_fast))
    return bool(pc.all(pc.fill_null(plain, True)).as_py())


def _arrow_category_texts(
    values: pd.Series | pd.Index, prefix: str, suffix: str, slow: Any,
    max_fast: int | None = None,
) -> tuple[Any, np.ndarray]:
    """:func:`_arrow_map_text` of a categorical's categories (a null last) and its codes.

    ``table.take(codes)`` are the texts of the values (null where missing).
    """
    pa, _ = _arrow()
    cat = values.array
    table = pa.array(
        [*_map_text(pd.Index(cat.categories), prefix + "{}" + suffix, slow, None, max_fast),
         None],
        type=pa.string(),
    )
    codes = np.asarray(cat.codes, dtype=np.int64)
    return table, np.where(codes < 0, len(table) - 1, codes)


def _arrow_bytes(arr: Any) -> memoryview:
    """Return the concatenated UTF-8 bytes of a string array without nulls (no copy)."""
    if len(arr) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return memoryview(arr.buffers()[2])[lo:hi]


# -- CSV -----------------------------------------------------------------------------


def _check_scores(scores: Any) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            "scores must be a pandas DataFrame from clvlab.scoring.score_customers; "
            f"got {type(scores).__name__}."
        )
    if len(scores.columns) == 0:
        raise MissingColumnsError(
            "scores hold no columns; build them with clvlab.scoring.score_customers.",
            rule="at least one column",
        )
    # (not ``scores.index.is_unique``: pandas would build the index's hash table, ~85 MiB
    # for a million text ids, and keep it as long as the scores live)
    if not index_is_unique(scores.index):
        dup = scores.index[scores.index.duplicated()].unique()
        raise InvalidValueError(
            f"customer_id (the index of scores) must be unique; {len(dup)} ids repeat "
            f"({', '.join(map(str, dup[:5]))}). Score each customer once.",
            column=C.CUSTOMER_ID,
            rule="unique",
            offenders=list(dup[:5]),
            n_offending=len(dup),
        )
    return scores


def _safe_table(frame: pd.DataFrame, index_name: str | None) -> pd.DataFrame:
    """Copy of ``frame`` with the index as first column and every text cell neutralised."""
    name = index_name or frame.index.name or C.CUSTOMER_ID
    out = {name: neutralise_series(frame.index)}
    for col in frame.columns:
        s = frame[col]
        if _is_text(s):
            out[str(col)] = neutralise_series(s).reset_index(drop=True)
        else:
            out[str(col)] = s.reset_index(drop=True)
    return pd.DataFrame(out)


def _is_text(s: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(s)
        or pd.api.types.is_bool_dtype(s)
        or pd.api.types.is_datetime64_any_dtype(s)
    )


def write_csv(path: str | os.PathLike[str], scores: pd.DataFrame) -> Path:
    """Write the scoring table as CSV (UTF-8, comma-separated, one row per customer).

    The format is RFC 4180: CRLF line endings, and fields holding a comma, a quote or a
    line break are quoted.

    All customers are written, whatever their number. The first column is
    ``customer_id``; the others keep the snake_case names of the scoring table, so the
    file reads back with ``pd.read_csv(path, index_col="customer_id")``. Numbers keep
    full precision; text cells are neutralised against formula injection (see module
    docstring).

    Parameters
    ----------
    path : str or path-like
        Destination ``.csv`` file; parent folders are created.
    scores : DataFrame
        Scoring table indexed by ``customer_id`` (:func:`clvlab.scoring.score_customers`).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    scores = _check_scores(scores)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    name = scores.index.name or C.CUSTOMER_ID
    header = [name, *(str(c) for c in scores.columns)]
    kinds = [_csv_source_kind(scores.iloc[:, j]) for j in range(scores.shape[1])]
    if len(set(header)) == len(header) and all(k is not None for k in kinds):
        # straight from the scores, chunk by chunk: no neutralised copy of the table
        _write_csv_fast(p, scores, header, ["text", *kinds])  # type: ignore[list-item]
        return p
    table = _safe_table(scores, scores.index.name)
    kinds = [_csv_kind(table.iloc[:, j]) for j in range(table.shape[1])]
    if all(k is not None for k in kinds):
        _write_csv_fast(p, table, [str(c) for c in table.columns], kinds,  # type: ignore[arg-type]
                        with_index=False)
    else:
        # CRLF (RFC 4180): then any field holding a CR or LF is quoted, so ids cannot
        # break rows
        table.to_csv(p, index=False, encoding="utf-8", lineterminator="\r\n")
    return p


_CSV_NEEDS_QUOTES = re.compile(r'[",\r\n]')
_CSV_CHUNK = 50_000


def _csv_kind(s: pd.Series) -> str | None:
    """Column kinds the fast CSV writer handles (else pandas writes the file)."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return "float"
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return "int"
    if dtype.kind == "O" and all(v is None or isinstance(v, str) for v in s.tolist()):
        return "text"  # _safe_table makes every text column object: str or None
    return None


def _csv_source_kind(s: pd.Series) -> str | None:
    """Kind of a scores column for the fast CSV writer.

    The kind :func:`_csv_kind` gives its :func:`_safe_table` copy, where text columns
    become neutralised text.
    """
    if _is_text(s):
        return "text"
    return _csv_kind(s)


def _csv_quote(value: str) -> str:
    if _CSV_NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_column(col: pd.Series | pd.Index, kind: str) -> list[str]:
    """CSV fields of one column (one chunk): the text pandas' ``to_csv`` would write."""
    if kind == "float":
        arr = col.to_numpy()
        txt = _float_texts(arr)  # Python's shortest round-trip repr, as pandas
        if np.isnan(arr).any():
            txt = ["" if v == "nan" else v for v in txt]
        return txt
    if kind == "int":
        return list(map(str, col.to_numpy().tolist()))
    return _map_text(col, "{}", _csv_quote, "")


def _write_csv_fast(
    path: Path, table: pd.DataFrame, header: list[str], kinds: list[str], *, with_index: bool = True
) -> None:
    """Write ``table`` byte for byte as its safe table's ``to_csv``.

    That is ``_safe_table(...).to_csv(index=False, lineterminator="\r\n")``.

    Floats use Python's shortest round-trip ``repr`` (as pandas does), missing values
    are empty fields, text is neutralised and quoted only when it holds a comma, quote,
    CR or LF. Rows are joined by ``str.join`` over whole chunks (no per-row Python code).
    With ``with_index`` the index is the first (text) column. With pyarrow the fields
    and rows are formatted and joined in Arrow (the same bytes).
    """
    if _arrow() is not None:
        _write_csv_arrow(path, table, header, kinds, with_index=with_index)
        return
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_csv_quote(str(c)) for c in header) + "\r\n")
        for lo in range(0, len(table), _CSV_CHUNK):
            part = table.iloc[lo : lo + _CSV_CHUNK]
            sources: list[pd.Series | pd.Index] = [part.index] if with_index else []
            sources += [part.iloc[:, j] for j in range(part.shape[1])]
            columns = [_csv_column(col, kind) for col, kind in zip(sources, kinds, strict=True)]
            fh.write("\r\n".join(map(",".join, zip(*columns, strict=True))))
            fh.write("\r\n")


def _arrow_csv_floats(values: np.ndarray) -> Any:
    """CSV fields of floats as an Arrow string array: ``repr``, empty where missing."""
    pa, pc = _arrow()
    txt = _arrow_float_texts(values)
    missing = np.isnan(values)
    return pc.if_else(pa.array(missing), "", txt) if missing.any() else txt


def _arrow_csv_column(col: pd.Series | pd.Index, kind: str) -> Callable[[int, int], Any]:
    """:func:`_csv_column` in Arrow: the fields of rows ``lo:hi`` (no nulls), by slice.

    A numeric column with few distinct values (:func:`_few_values`) formats each of them
    once and gathers the texts for each slice.
    """
    pa, pc = _arrow()
    if kind == "text":
        def text(lo: int, hi: int) -> Any:
            part = col[lo:hi] if isinstance(col, pd.Index) else col.iloc[lo:hi]
            return pc.fill_null(_arrow_map_text(part, "", "", _csv_quote), "")
        return text
    values = col.to_numpy()
    fmt = _arrow_csv_floats if kind == "float" else (
        lambda v: pc.cast(pa.array(v), pa.string()))
    few = _few_values(values)
    if few is None:
        return lambda lo, hi: fmt(values[lo:hi])
    codes, table = few[0], fmt(few[1])
    return lambda lo, hi: table.take(pa.array(codes[lo:hi]))


def _write_csv_arrow(
    path: Path, table: pd.DataFrame, header: list[str], kinds: list[str], *, with_index: bool
) -> None:
    """:func:`_write_csv_fast` with the fields formatted and joined in Arrow."""
    pa, pc = _arrow()
    sources: list[pd.Series | pd.Index] = [table.index] if with_index else []
    sources += [table.iloc[:, j] for j in range(table.shape[1])]
    columns = [_arrow_csv_column(col, kind) for col, kind in zip(sources, kinds, strict=True)]
    with open(path, "wb") as fh:
        fh.write((",".join(_csv_quote(str(c)) for c in header) + "\r\n").encode("utf-8"))
        for lo in range(0, len(table), _CSV_CHUNK):
            hi = min(lo + _CSV_CHUNK, len(table))
            pieces: list[Any] = []
            for column in columns:
                pieces += [column(lo, hi), ","]
            pieces[-1] = "\r\n"
            fh.write(_arrow_bytes(pc.binary_join_element_wise(*pieces, "")))


# -- XLSX ----------------------------------------------------------------------------


class _SheetSpec:
    """A table to write: header labels, columns (as lists) and number formats."""

    def __init__(
        self,
        title: str,
        labels: Sequence[str],
        columns: Sequence[list[Any]],
        formats: Sequence[str | None],
        note: str | None = None,
        *,
        n_rows_total: int | None = None,
        width_columns: Sequence[list[Any]] | None = None,
        comments: Mapping[int, str] | None = None,
    ) -> None:
        self.title = title
        self.comments = dict(comments or {})  # column position -> header comment
        self.labels = list(labels)
        self.columns = list(columns)
        self.formats = list(formats)
        self.note = note
        # when only a template row is written here and the rest streamed in afterwards
        self.n_rows_total = n_rows_total
        self.width_columns = list(width_columns) if width_columns is not None else self.columns

    @property
    def n_rows(self) -> int:
        if self.n_rows_total is not None:
            return self.n_rows_total
        return len(self.columns[0]) if self.columns else 0


def _cell_values(s: pd.Series) -> list[Any]:
    """Column values as Python objects fit for openpyxl (neutralised text, None for gaps)."""
    if pd.api.types.is_bool_dtype(s):
        return [None if pd.isna(v) else bool(v) for v in s.tolist()]
    if pd.api.types.is_datetime64_any_dtype(s):
        dt = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return [None if pd.isna(v) else v.to_pydatetime() for v in dt.tolist()]
    if pd.api.types.is_numeric_dtype(s):
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        obj = arr.astype(object)
        obj[~np.isfinite(arr)] = None
        if pd.api.types.is_integer_dtype(s):
            ints = s.to_numpy(dtype=float, na_value=np.nan)
            ok = np.isfinite(ints)
            obj[ok] = ints[ok].astype(np.int64).astype(object)
        return obj.tolist()
    text = neutralise_series(s)
    return [
        None if v is None else (_fit_cell(v.translate(_ILLEGAL_XLSX_TABLE))
                                if isinstance(v, str) else v)
        for v in text.tolist()
    ]


def _fit_cell(text: str) -> str:
    """Cut text longer than Excel's cell limit, ending it with the visible marker."""
    if len(text) <= XLSX_MAX_CELL_CHARS:
        return text
    return text[: XLSX_MAX_CELL_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _too_long(values: Any, where: str) -> tuple[int, list[str]]:
    """Count the text values that :func:`_fit_cell` will cut (after neutralising)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        return 0, []  # numbers, booleans, dates: no text value
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(dtype.categories.to_numpy(dtype=object), dtype=object)
        if not cats.map(lambda v: isinstance(v, str) and len(v) + 1 > XLSX_MAX_CELL_CHARS
                        ).any():
            return 0, []  # no category can be cut (whatever the rows hold)
    if isinstance(dtype, pd.StringDtype) and len(values):
        longest = values.str.len().max()  # vectorised; +1 for a neutralising apostrophe
        if pd.isna(longest) or int(longest) + 1 <= XLSX_MAX_CELL_CHARS:
            return 0, []
    s = pd.Series(values.to_numpy(dtype=object) if isinstance(values, pd.Index) else values,
                  dtype=object)
    is_text = s.map(lambda v: isinstance(v, str))
    if not bool(is_text.any()):
        return 0, []
    text = s[is_text].astype(str)
    lengths = text.str.len() + text.str[:1].isin(list(FORMULA_TRIGGERS)).astype(int)
    long = lengths > XLSX_MAX_CELL_CHARS
    n = int(long.sum())
    examples = [f"{where}: {v[:20]!r}... ({len(v):,} characters)"
                for v in text[long].iloc[:3].tolist()]
    return n, examples


def _dtype_probe(table: Any, j: int) -> pd.Series:
    """Column ``j`` for the checks that read its dtype (and, for non-object text, values).

    A :class:`_RankedView` gives the column in the scores' order (no sorted copy): the
    same dtype, and the same answers from :func:`_fast_kind` and :func:`_default_format`
    except for object columns, whose first values are sampled -- those come sorted.
    """
    if isinstance(table, _RankedView):
        s = table.unsorted(j)
        return s if s.dtype != object else table.iloc[:, j]
    return table.iloc[:, j]


def _too_long_in_order(table: Any, j: int, where: str) -> tuple[int, list[str]]:
    """:func:`_too_long` of column ``j`` of the table as written (examples in row order).

    Counted first in any order; only when some cell is too long (then the examples'
    order matters) is the column read in the table's order.
    """
    n, examples = _too_long(_dtype_probe(table, j), where)
    if n == 0 or not isinstance(table, _RankedView):
        return n, examples
    return _too_long(table.iloc[:, j], where)


def _default_format(col: str, s: pd.Series) -> str | None:
    if col in _KNOWN_FORMATS:
        return _KNOWN_FORMATS[col]
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_datetime64_any_dtype(s):
        return _FMT_DATE
    if pd.api.types.is_integer_dtype(s):
        return _FMT_COUNT
    if pd.api.types.is_numeric_dtype(s):
        return _FMT_FLOAT
    return None


def _frame_spec(
    title: str,
    frame: pd.DataFrame,
    *,
    labels: Sequence[str] | None = None,
    formats: Mapping[str, str | None] | None = None,
    include_index: bool = False,
) -> _SheetSpec:
    if include_index:
        frame = frame.reset_index()
    formats = dict(formats or {})
    cols = [str(c) for c in frame.columns]
    columns = [_cell_values(frame.iloc[:, j]) for j in range(frame.shape[1])]
    fmts = [
        formats[c] if c in formats else _default_format(c, frame.iloc[:, j])
        for j, c in enumerate(cols)
    ]
    return _SheetSpec(title, labels if labels is not None else cols, columns, fmts)


def _note_spec(title: str, note: str) -> _SheetSpec:
    return _SheetSpec(title, ["Note"], [[neutralise_text(note)]], [None], note=note)


def _parameters_frame(parameters: Any) -> pd.DataFrame:
    """Normalise ``parameters`` to columns model, parameter, estimate, se, lower, upper."""
    if parameters is None:
        return pd.DataFrame(columns=["model", "parameter", "estimate", "se", "lower", "upper"])
    if isinstance(parameters, pd.DataFrame):
        items: list[tuple[str, Any]] = [("", parameters)]
    elif isinstance(parameters, Mapping):
        items = list(parameters.items())
    else:
        raise TypeError(
            "parameters must be a DataFrame (a model's summary) or a mapping of model name "
            f"to summary DataFrame; got {type(parameters).__name__}."
        )
    parts = []
    for name, table in items:
        if hasattr(table, "summary") and not isinstance(table, pd.DataFrame):
            table = table.summary  # a fitted model
        if not isinstance(table, pd.DataFrame):
            raise TypeError(
                f"parameters[{name!r}] must be a summary DataFrame or a fitted model; got "
                f"{type(table).__name__}."
            )
        t = table.copy()
        t.index = t.index.astype(str)
        t = t.reset_index(names="parameter")
        t.insert(0, "model", str(name))
        parts.append(t)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if (out["model"] == "").all():
        out = out.drop(columns="model")
    return out


#: Readable label and unit of each metric of ``Evaluation.metrics`` ({money}: currency).
_METRIC_LABELS: dict[str, tuple[str, str]] = {
    "purchases_mae": ("Purchases: mean absolute error", "purchases per customer"),
    "purchases_rmse": ("Purchases: root mean squared error", "purchases per customer"),
    "purchases_bias": ("Purchases: mean bias (predicted - actual)", "purchases per customer"),
    "purchases_pearson": ("Purchases: Pearson correlation", "correlation (-1 to 1)"),
    "purchases_spearman": ("Purchases: Spearman rank correlation", "correlation (-1 to 1)"),
    "purchases_aggregate_pct_error": ("Purchases: error of the total", "percent"),
    "predicted_total_purchases": ("Purchases: predicted total", "purchases"),
    "actual_total_purchases": ("Purchases: actual total", "purchases"),
    "value_mae": ("Value: mean absolute error", "{money} per customer"),
    "value_rmse": ("Value: root mean squared error", "{money} per customer"),
    "value_bias": ("Value: mean bias (predicted - actual)", "{money} per customer"),
    "value_pearson": ("Value: Pearson correlation", "correlation (-1 to 1)"),
    "value_spearman": ("Value: Spearman rank correlation", "correlation (-1 to 1)"),
    "value_aggregate_pct_error": ("Value: error of the total", "percent"),
    "predicted_total_value": ("Value: predicted total", "{money}"),
    "actual_total_value": ("Value: actual total", "{money}"),
    "top_decile_capture": ("Share of actual value in the top 10% by prediction", "share"),
    "log_score": ("Log predictive score of holdout purchases (higher is better)",
                  "log-probability (sum)"),
    "log_predictive_score": ("Log predictive score of holdout purchases (higher is better)",
                             "log-probability (sum)"),
    "n_customers": ("Customers", "customers"),
}


def _metrics_frame(metrics: Any, currency: Currency | None = None) -> pd.DataFrame:
    if isinstance(metrics, pd.DataFrame):
        # one row per model (Evaluation.metrics) reads better as one row per metric, with
        # a readable label and the metric's unit (the rows mix purchases and money)
        money = "amount" if currency is None or currency.code is None else currency.code
        table = metrics.T
        table.columns = [str(c) for c in table.columns]
        keys = [str(k) for k in table.index]
        table = table.reset_index(drop=True)
        labels = [_METRIC_LABELS.get(k, (k, ""))[0] for k in keys]
        units = [_METRIC_LABELS.get(k, (k, ""))[1].format(money=money) for k in keys]
        table.insert(0, "Unit", units)
        table.insert(0, "Metric", labels)
        table["Key"] = keys
        return table
    if isinstance(metrics, pd.Series):
        return metrics.rename("value").reset_index(names="metric")
    if isinstance(metrics, Mapping):
        return pd.DataFrame(
            {"metric": [str(k) for k in metrics], "value": [_scalar(v) for v in metrics.values()]}
        )
    raise TypeError(
        "metrics must be a DataFrame, Series or mapping of metric name to value "
        f"(e.g. Evaluation.metrics); got {type(metrics).__name__}."
    )


_DECILE_LABELS: dict[str, str] = {
    "model": "Model",
    "decile": "Decile (1 = highest predicted value)",
    "n_customers": "Customers",
    "predicted_mean": "Predicted value per customer",
    "actual_mean": "Actual value per customer",
    "predicted_total": "Predicted value, total",
    "actual_total": "Actual value, total",
    "actual_share": "Share of all actual value",
}


def _value_deciles(deciles: pd.DataFrame, metrics: Any) -> tuple[pd.DataFrame, list[str]]:
    """Keep the deciles of models that predict value; return them and the models left out.

    ``Evaluation.deciles`` ranks a purchase model without a spend model by its predicted
    *purchases* while the actual column is *value*: two units side by side. With the
    metrics at hand, models without a predicted total value are dropped from the sheet.
    """
    if (
        "model" not in deciles.columns
        or not isinstance(metrics, pd.DataFrame)
        or "predicted_total_value" not in metrics.columns
    ):
        return deciles, []
    has_value = {
        str(name) for name, v in metrics["predicted_total_value"].items()
        if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v))
    }
    names = deciles["model"].astype(str)
    dropped = sorted(set(names) - has_value)
    return deciles[names.isin(has_value)].reset_index(drop=True), dropped


def _scalar(v: Any) -> Any:
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def _has_named_index(frame: pd.DataFrame) -> bool:
    return any(n is not None for n in frame.index.names) or not isinstance(
        frame.index, pd.RangeIndex
    )


def _data_quality_frame(data_quality: Any) -> pd.DataFrame:
    if isinstance(data_quality, pd.DataFrame):
        frame = data_quality.copy()
    else:
        rows = list(data_quality)
        frame = pd.DataFrame(rows)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(_join_examples)
    return frame


def _join_examples(v: Any) -> Any:
    if isinstance(v, (list, tuple, set, np.ndarray)):
        return "; ".join(str(x) for x in v)
    return v


def _metadata_frame(metadata: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": [_item_label(k) for k in metadata],
            "value": [_metadata_value(v) for v in metadata.values()],
        }
    )


def _item_label(key: Any) -> str:
    """Write a snake_case key as words for the About sheet (``time_unit`` -> ``time unit``)."""
    text = str(key)
    return text.replace("_", " ") if re.fullmatch(r"[a-z]+(?:_[a-z]+)+", text) else text


def _metadata_value(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.10g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def _column_width(label: str, values: list[Any], fmt: str | None) -> float:
    sample = values[:2000]
    longest = len(label)
    for v in sample:
        if v is None:
            continue
        if isinstance(v, float):
            n = len(f"{v:,.2f}") if fmt and "0.0000" not in fmt else len(f"{v:.4f}")
        else:
            n = len(str(v))
        longest = max(longest, n)
    return float(min(max(longest + 2, 8), 60))


def _print_setup(ws: Any) -> None:
    """Print landscape, every column on one page width, the header row on every page."""
    from openpyxl.worksheet.properties import PageSetupProperties

    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages as the rows need
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = "1:1"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "&A, page &P of &N"


def _write_sheet(wb: Any, spec: _SheetSpec, header_font: Any, header_fill: Any) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(spec.title)
    n_cols = max(len(spec.labels), 1)
    for j, label in enumerate(spec.labels):
        letter = get_column_letter(j + 1)
        values = spec.width_columns[j] if j < len(spec.width_columns) else []
        width = _column_width(label, values, spec.formats[j] if j < len(spec.formats) else None)
        if spec.note is not None:
            width = 100.0
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    header = []
    for label in spec.labels:
        cell = WriteOnlyCell(ws, value=neutralise_text(str(label)))
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        header.append(cell)
    for j, text in spec.comments.items():
        comment = Comment(text, "clvlab")
        comment.width, comment.height = 320, 110  # points: room for three lines or so
        header[j].comment = comment
    _print_setup(ws)  # before the first row: write-only sheets stream their XML
    ws.append(header)
    if spec.note is None:
        ws.auto_filter.ref = f"A1:{get_column_letter(n_cols)}{spec.n_rows + 1}"
    # one reusable styled cell per column: openpyxl serialises a row on append
    cells = []
    for fmt in spec.formats:
        cell = WriteOnlyCell(ws)
        if fmt:
            cell.number_format = fmt
        if spec.note is not None:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    for row in zip(*spec.columns, strict=True):
        for cell, value in zip(cells, row, strict=True):
            # text was neutralised, so openpyxl never takes a string for a formula
            cell.value = value
        ws.append(cells)


# -- streaming the Predictions rows ----------------------------------------------------
#
# openpyxl builds one XML element per cell, about 15 s per 100,000 customers x 12
# columns on this kind of machine: too slow for a million customers. So openpyxl writes
# the Predictions sheets with their header, column widths, frozen pane, autofilter and
# one styled template row; then the customer rows are streamed into the sheet's XML in
# vectorised chunks, reusing the style ids openpyxl gave the template row. Everything
# else in the package is openpyxl's own output. Number cells are written without
# ``t="n"``: "n" is the attribute's default (ECMA-376 Part 1, 18.3.1.4), and Excel and
# libxlsxwriter write number cells the same way (``<c r="B2" s="3"><v>1.5</v></c>``); it
# saves a tenth of the sheet XML and of its deflate time.

_FAST_CHUNK = 10_000  # rows per streamed chunk (~8 MB of XML; up to four are in flight)
_TEMPLATE_ROW = re.compile(r'<row r="2"[^>]*>.*?</row>', re.DOTALL)
_TEMPLATE_CELL = re.compile(r'<c r="([A-Z]+)2"(?: s="(\d+)")?')
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _fast_kind(s: pd.Series) -> str | None:
    """``"num"`` or ``"text"`` for columns the streaming writer handles, else None."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return None
    if pd.api.types.is_numeric_dtype(s):
        return "num"
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        return "text" if len(cats) == 0 or _is_text(pd.Series(cats)) else None
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        sample = s.dropna().iloc[:1000]
        ok = all(isinstance(v, str) for v in sample) if len(sample) else True
        return "text" if ok else None
    return None


def _xml_text(value: str) -> str:
    text = (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#13;")  # a raw CR would be read back as LF
    )
    if value != value.strip():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _xml_piece(value: str) -> str:
    """``<t>`` element of a neutralised text value (illegal characters replaced)."""
    return _xml_text(_fit_cell(value.translate(_ILLEGAL_XLSX_TABLE)))


def _column_cells(
    s: pd.Series, kind: str, letter: str, style: str | None, rows: list[str]
) -> list[Any]:
    """Build the ``<c>`` elements of one column for one chunk, as pieces for ``_chunk_xml``.

    Returns ``[head, rows, middle, values, tail]`` (constant strings around the row
    numbers and the values, so no string per cell is built) when no value is missing,
    else ``[cells]``: one piece, the list of whole ``<c>`` elements with ``""`` for a
    missing value (no cell). Strings are pieces repeated on every row and lists are
    per-row pieces, so the cells must come as one list, not spliced in one by one.
    """
    s_attr = f' s="{style}"' if style else ""
    if kind == "num":
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(arr)
        txt = _float_texts(arr)  # Python's shortest round-trip repr
        middle, tail = f'"{s_attr}><v>', "</v></c>"
        if ok.all():
            return [f'<c r="{letter}', rows, middle, txt, tail]
        return [[
            f'<c r="{letter}{r}{middle}{v}{tail}' if good else ""
            for r, v, good in zip(rows, txt, ok.tolist(), strict=True)
        ]]
    pieces = _map_text(s, "<t>{}</t>", _xml_piece, None, max_fast=XLSX_MAX_CELL_CHARS)
    middle, tail = f'"{s_attr} t="inlineStr"><is>', "</is></c>"
    if all(v is not None for v in pieces):
        return [f'<c r="{letter}', rows, middle, pieces, tail]
    return [[
        "" if v is None else f'<c r="{letter}{r}{middle}{v}{tail}'
        for r, v in zip(rows, pieces, strict=True)
    ]]


def _numbers(s: pd.Series) -> np.ndarray:
    """Return a numeric column's values as a NumPy array.

    Its own array (no copy); for a nullable column, floats with NaN where missing.
    """
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu":
        return np.asarray(s.to_numpy())
    return s.to_numpy(dtype=float, na_value=np.nan)


def _xml_sources(frame: Any, kinds: list[str]) -> list[Callable[[int, int], Any]]:
    """For each column of ``frame``, what gives its cell values of rows ``lo:hi`` in Arrow.

    Each returns ``(texts, ok)``: the ``<v>`` or ``<t>`` contents (Arrow strings) and a
    mask of the cells to write (None: all). Every column is read once, in the scores'
    order for a :class:`_RankedView` (whose rows are then gathered by position); numbers
    with few distinct values are formatted once per value, text once per value.
    """
    pa, pc = _arrow()
    if isinstance(frame, _RankedView):
        view = frame
        sources = [view.source(j) for j in range(len(view.columns))]
        positions = view.positions
    else:
        sources = [frame.iloc[:, j] for j in range(frame.shape[1])]

        def positions(lo: int, hi: int) -> np.ndarray | slice:
            return slice(lo, hi)

    def gather(arr: Any, pos: np.ndarray | slice) -> Any:
        if isinstance(pos, slice):
            return arr.slice(pos.start, pos.stop - pos.start)
        return arr.take(pa.array(pos))

    out: list[Callable[[int, int], Any]] = []
    for j, (src, kind) in enumerate(zip(sources, kinds, strict=True)):
        if src is None:  # the rank column: the row's position in the sorted table, + 1
            def rank(lo: int, hi: int, first: int = view.lo + 1) -> Any:
                return _arrow_float_texts(np.arange(first + lo, first + hi,
                                                    dtype=np.float64)), None
            out.append(rank)
        elif kind == "num":
            values = _numbers(src)
            blank_at = view.blank_at(j) if isinstance(frame, _RankedView) else None
            few = _few_values(values)
            table = codes = None
            if few is not None:
                codes, table = few[0], _arrow_float_texts(few[1].astype(np.float64))

            def num(lo: int, hi: int, values: np.ndarray = values, table: Any = table,
                    codes: Any = codes, blank_at: Any = blank_at) -> Any:
                pos = positions(lo, hi)
                picked = values[pos].astype(np.float64, copy=False)
                ok = np.isfinite(picked)
                if blank_at is not None:
                    ok &= blank_at[pos] != 0
                texts = (_arrow_float_texts(picked) if table is None
                         else table.take(pa.array(codes[pos])))
                return texts, None if ok.all() else pa.array(ok)
            out.append(num)
        elif isinstance(src.dtype, pd.CategoricalDtype):
            table, codes = _arrow_category_texts(src, "<t>", "</t>", _xml_piece,
                                                 max_fast=XLSX_MAX_CELL_CHARS)

            def category(lo: int, hi: int, table: Any = table, codes: Any = codes) -> Any:
                texts = table.take(pa.array(codes[positions(lo, hi)]))
                return texts, None if texts.null_count == 0 else pc.is_valid(texts)
            out.append(category)
        else:
            arr = _arrow_strings(src)
            plain = arr is not None and _arrow_all_plain(arr, XLSX_MAX_CELL_CHARS)
            series = src if isinstance(src, pd.Series) else pd.Series(src, copy=False)

            def text(lo: int, hi: int, arr: Any = arr if plain else None,
                     series: pd.Series = series) -> Any:
                pos = positions(lo, hi)
                if arr is not None:  # plain ids: nothing to neutralise or escape
                    texts = pc.binary_join_element_wise("<t>", gather(arr, pos), "</t>", "")
                else:
                    texts = _arrow_map_text(series.iloc[pos], "<t>", "</t>", _xml_piece,
                                            max_fast=XLSX_MAX_CELL_CHARS)
                return texts, None if texts.null_count == 0 else pc.is_valid(texts)
            out.append(text)
    return out


def _chunk_xml_arrow(
    columns: list[Callable[[int, int], Any]], kinds: list[str], cells: list[tuple[str, str]],
    lo: int, hi: int, first: int,
) -> memoryview:
    """:func:`_chunk_xml` of rows ``lo:hi`` built in Arrow: the same XML, as UTF-8 bytes.

    ``columns`` are :func:`_xml_sources` of the sheet's table.
    """
    pa, pc = _arrow()
    rows = pc.cast(pa.array(np.arange(first, first + hi - lo, dtype=np.int64)), pa.string())
    pieces: list[Any] = ['<row r="', rows, '">']
    for column, kind, (letter, style) in zip(columns, kinds, cells, strict=True):
        texts, ok = column(lo, hi)
        s_attr = f' s="{style}"' if style else ""
        middle, tail = ('"' + s_attr + "><v>", "</v></c>") if kind == "num" else (
            '"' + s_attr + ' t="inlineStr"><is>', "</is></c>")
        cell = [f'<c r="{letter}', rows, middle, texts, tail]
        if ok is None:
            pieces += cell
        else:
            joined = pc.binary_join_element_wise(*cell, "")
            pieces.append(pc.if_else(ok, pc.fill_null(joined, ""), ""))
    pieces.append("</row>")
    merged: list[Any] = []  # adjacent constant strings merged: fewer arguments to join
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return _arrow_bytes(pc.binary_join_element_wise(*merged, ""))


def _chunk_xml(part: pd.DataFrame, kinds: list[str], cells: list[tuple[str, str]], first: int
               ) -> str:
    """XML of the rows of ``part`` (sheet rows ``first``, ``first + 1``, ...).

    One ``str.join`` over the interleaved pieces of every column: the Python work is one
    ``repr`` per number and one small string per text value.
    """
    rows = list(map(str, range(first, first + len(part))))
    pieces: list[Any] = ['<row r="', rows, '">']
    for j, (letter, style) in enumerate(cells):
        pieces += _column_cells(part.iloc[:, j], kinds[j], letter, style or None, rows)
    pieces.append("</row>")
    merged: list[Any] = []  # adjacent constant strings merged, then repeated per row
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    columns = [itertools.repeat(p) if isinstance(p, str) else p for p in merged]
    # the repeated constants are endless: the row lists end the zip
    return "".join(itertools.chain.from_iterable(zip(*columns, strict=False)))


def _sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> path of its XML part, from workbook.xml and its relationships."""
    from xml.etree import ElementTree as ET

    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_NS_PKG}Relationship")}
    book = ET.fromstring(zf.read("xl/workbook.xml"))
    out = {}
    for sheet in book.iter(f"{_NS_MAIN}sheet"):
        target = targets[sheet.get(f"{_NS_REL}id")] or ""
        target = target.lstrip("/")
        out[sheet.get("name") or ""] = target if target.startswith("xl/") else f"xl/{target}"
    return out


def _stream_rows(path: Path, jobs: list[tuple[str, pd.DataFrame]], kinds: list[str]) -> None:
    """Replace each job sheet's template row by all of its rows, streamed chunk by chunk."""
    tmp = path.with_name(path.name + ".tmp")
    # level 1: deflate dominates the time at this size; the file is ~25% larger than level 6
    with (
        zipfile.ZipFile(path) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        paths = _sheet_paths(src)
        targets = {paths[title]: frame for title, frame in jobs}
        for info in src.infolist():
            if info.filename not in targets:
                dst.writestr(info, src.read(info.filename))
                continue
            frame = targets[info.filename]
            xml = src.read(info.filename).decode("utf-8")
            match = _TEMPLATE_ROW.search(xml)
            cells = _TEMPLATE_CELL.findall(match.group(0)) if match else []
            if match is None or len(cells) != frame.shape[1]:  # pragma: no cover
                raise RuntimeError(
                    f"clvlab could not find the template row of sheet {info.filename}; "
                    "please report this with your openpyxl version."
                )
            with dst.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(xml[: match.start()].encode("utf-8"))
                n = len(frame)
                if _arrow() is not None:
                    columns = _xml_sources(frame, kinds)
                    chunks: Iterator[str | memoryview] = (
                        _chunk_xml_arrow(columns, kinds, cells, lo, min(lo + _FAST_CHUNK, n),
                                         lo + 2)
                        for lo in range(0, n, _FAST_CHUNK)
                    )
                else:
                    chunks = (
                        _chunk_xml(frame.iloc[lo : lo + _FAST_CHUNK], kinds, cells, lo + 2)
                        for lo in range(0, n, _FAST_CHUNK)
                    )
                _write_overlapped(fh, chunks)
                fh.write(xml[match.end() :].encode("utf-8"))
    os.replace(tmp, path)


def _manager_view(
    table: pd.DataFrame, scores: pd.DataFrame, index_name: str, rank_by: str | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Sort by ``rank_by`` (highest first) with a rank column; blank undefined values.

    Returns the table to write and the notes of the columns whose blanks or zeros need
    explaining (column name -> text).
    """
    order = _rank_order(table, scores, rank_by)
    if order is not None:
        table = table.iloc[order].reset_index(drop=True)
        table.insert(0, RANK_COLUMN, np.arange(1, len(table) + 1, dtype=np.int64))
    if C.MONETARY_VALUE in table.columns and C.FREQUENCY in table.columns:
        freq = pd.to_numeric(table[C.FREQUENCY], errors="coerce").to_numpy(dtype=float)
        undefined = freq == 0
        if undefined.any():
            mv = pd.to_numeric(table[C.MONETARY_VALUE], errors="coerce").to_numpy(dtype=float)
            table[C.MONETARY_VALUE] = np.where(undefined, np.nan, mv)
    return table, _view_notes(table.columns)


def _rank_order(table: pd.DataFrame, scores: pd.DataFrame, rank_by: str | None
                ) -> np.ndarray | None:
    """Row order by ``rank_by``: highest first, missing last, ties kept; None: no ranking."""
    if rank_by is None or rank_by not in scores.columns or rank_by == RANK_COLUMN:
        return None
    key = pd.to_numeric(table[rank_by], errors="coerce").to_numpy(dtype=float)
    key = np.where(np.isfinite(key), key, -np.inf)
    return np.argsort(-key, kind="stable")


def _view_notes(columns: Any) -> dict[str, str]:
    """Return the notes of the columns whose blanks or zeros need explaining (name: text)."""
    notes: dict[str, str] = {}
    if C.FREQUENCY in columns:
        for col in (C.MONETARY_VALUE, "clv_baseline"):
            if col in columns:
                notes[col] = COLUMN_NOTES[col]
    return notes


class _RankedView:
    """``_manager_view(scores.reset_index(names=index_name), ...)`` read lazily.

    The same table -- index as first column, rows sorted by ``rank_by`` (highest first,
    missing last, ties in order) with a rank column, ``monetary_value`` blank where
    ``frequency`` is 0 -- but only the sort order is held: a row range or a column is
    built from ``scores`` when asked for (``.iloc[lo:hi]`` gives a view of the rows,
    ``.iloc[rows, j]`` a Series, ``.to_frame()`` a DataFrame), so the spreadsheet holds
    no sorted copy of the table while its rows are written.
    """

    def __init__(self, scores: pd.DataFrame, index_name: str, order: np.ndarray | None,
                 lo: int = 0, hi: int | None = None) -> None:
        self.scores = scores
        self.index_name = index_name
        self.order = order
        self.lo = lo
        self.hi = len(scores) if hi is None else hi
        ranked = order is not None
        self.columns = pd.Index(
            [*([RANK_COLUMN] if ranked else []), index_name, *scores.columns]
        )
        # as _manager_view: monetary_value becomes floats with blanks for frequency 0 when
        # any customer of the whole table has frequency 0
        self.blank_monetary = False
        if C.MONETARY_VALUE in scores.columns and C.FREQUENCY in scores.columns:
            freq = pd.to_numeric(scores[C.FREQUENCY], errors="coerce").to_numpy(dtype=float)
            self.blank_monetary = bool((freq == 0).any())

    @classmethod
    def of(cls, scores: pd.DataFrame, index_name: str, rank_by: str | None
           ) -> tuple[_RankedView, dict[str, str]]:
        """Return the view and the column notes, as :func:`_manager_view` does."""
        order = _rank_order(scores, scores, rank_by)
        # (a shallow copy: its own caches, as the report reads ``scores`` meanwhile)
        return cls(scores.copy(deep=False), index_name, order), _view_notes(scores.columns)

    def __len__(self) -> int:
        return self.hi - self.lo

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), len(self.columns)

    @property
    def iloc(self) -> _RankedView._ILoc:
        return _RankedView._ILoc(self)

    def _rows(self, lo: int, hi: int) -> _RankedView:
        part = _RankedView.__new__(_RankedView)
        part.__dict__.update(self.__dict__)
        part.lo, part.hi = self.lo + lo, self.lo + hi
        return part

    def _positions(self) -> np.ndarray | slice:
        if self.order is None:
            return slice(self.lo, self.hi)
        return self.order[self.lo:self.hi]

    def positions(self, lo: int, hi: int) -> np.ndarray | slice:
        """Positions in ``scores`` of this view's rows ``lo:hi``."""
        a, b = self.lo + lo, self.lo + hi
        return slice(a, b) if self.order is None else self.order[a:b]

    def source(self, j: int) -> pd.Series | pd.Index | None:
        """Column ``j`` of all rows in the scores' order; None: the rank column.

        ``source(j)`` at :meth:`positions` gives the column of those rows: the values of
        ``column(j)``, except where :meth:`blank_at` says a cell is blank.
        """
        name = self.columns[j]
        ranked = self.order is not None
        if name == RANK_COLUMN and ranked:
            return None
        if name == self.index_name and j == ranked:
            return self.scores.index
        return self.scores.iloc[:, j - 1 - ranked]

    def blank_at(self, j: int) -> np.ndarray | None:
        """For the column written blank where ``frequency`` is 0, the frequencies; else None.

        That column's :meth:`source` holds its values before blanking.
        """
        if self.columns[j] != C.MONETARY_VALUE or not self.blank_monetary:
            return None
        return pd.to_numeric(self.scores[C.FREQUENCY], errors="coerce").to_numpy(dtype=float)

    def column(self, j: int) -> pd.Series:
        """Column ``j`` of these rows, as the table of ``_manager_view`` has it."""
        name = self.columns[j]
        index = pd.RangeIndex(self.lo, self.hi)  # as the sorted table sliced by rows
        if name == RANK_COLUMN and self.order is not None:
            return pd.Series(np.arange(self.lo + 1, self.hi + 1, dtype=np.int64),
                             index=index, name=name)
        pos = self._positions()
        if name == self.index_name and j == (self.order is not None):
            values = self.scores.index[pos]
            return pd.Series(values, index=index, name=name)
        s = self.scores.iloc[pos, j - 1 - (self.order is not None)]
        s = s.set_axis(index)
        if name == C.MONETARY_VALUE and self.blank_monetary:
            freq = pd.to_numeric(self.scores[C.FREQUENCY].iloc[pos], errors="coerce"
                                 ).to_numpy(dtype=float)
            mv = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            s = pd.Series(np.where(freq == 0, np.nan, mv), index=index, name=name)
        return s

    def unsorted(self, j: int) -> pd.Series:
        """Column ``j`` of all rows in the scores' order: the dtype and values of column j.

        For checks whose answer does not depend on the row order (dtypes, lengths), so
        they need no sorted copy of the column.
        """
        name = self.columns[j]
        ranked = self.order is not None
        if (name == RANK_COLUMN and ranked) or (name == C.MONETARY_VALUE and self.blank_monetary):
            return self.iloc[:, j]
        if name == self.index_name and j == ranked:
            return pd.Series(self.scores.index, name=name)
        return self.scores.iloc[:, j - 1 - ranked]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({j: self.column(j) for j in range(len(self.columns))}
                            ).set_axis(self.columns, axis=1)

    class _ILoc:
        def __init__(self, view: _RankedView) -> None:
            self.view = view

        def __getitem__(self, key: Any) -> Any:
            rows, col = key if isinstance(key, tuple) else (key, None)
            if not isinstance(rows, slice) or rows.step not in (None, 1):
                raise TypeError("_RankedView.iloc takes a row slice (and a column position)")
            lo, hi, _ = rows.indices(len(self.view))
            part = self.view._rows(lo, max(lo, hi))
            return part if col is None else part.column(int(col))


def _write_overlapped(fh: Any, texts: Iterator[str | memoryview]) -> None:
    """Write ``texts`` (UTF-8) to ``fh`` from a second thread while the next one is built.

    Writing to a deflating zip member is mostly zlib, which releases the GIL, so the
    compression of one chunk overlaps the formatting of the next when a core is free.
    The chunks are written in order; an error in either thread is raised here.
    """
    pending: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            while (data := pending.get()) is not None:
                if not failure:
                    fh.write(data)
        except BaseException as exc:  # pragma: no cover - disk full etc.
            failure.append(exc)
            while pending.get() is not None:  # drain so the producer never blocks
                pass

    worker = threading.Thread(target=consume, name="clvlab-xlsx-writer", daemon=True)
    worker.start()
    try:
        for text in texts:
            if failure:
                break
            pending.put(text.encode("utf-8") if isinstance(text, str) else text)
    finally:
        pending.put(None)
        worker.join()
    if failure:  # pragma: no cover
        raise failure[0]


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    if n == 0:
        yield 0, 0
        return
    for start in range(0, n, size):
        yield start, min(start + size, n)


def write_workbook(
    path: str | os.PathLike[str],
    scores: pd.DataFrame,
    *,
    parameters: Any = None,
    metrics: Any = None,
    deciles: pd.DataFrame | None = None,
    data_quality: Any = None,
    metadata: Mapping[str, Any] | None = None,
    max_rows_per_sheet: int = XLSX_MAX_ROWS,
    currency: str | None = None,
    rank_by: str | None = None,
    progress: Callable[[], Any] | None = None,
    comparison: Any = None,
) -> Path:
    """Write the predictions and their context as a formatted XLSX workbook.

    Sheets, in order: Predictions (split over several sheets if needed), Parameters,
    Holdout metrics, Model comparison (with ``comparison``), Deciles, Data quality,
    About -- see the module docstring. Written
    with openpyxl's streaming (write-only) mode, so memory stays flat for a million
    customers. Every sheet prints landscape, one page wide, with its header row repeated
    on each page.

    Parameters
    ----------
    path : str or path-like
        Destination ``.xlsx`` file; parent folders are created.
    scores : DataFrame
        Scoring table indexed by ``customer_id`` (:func:`clvlab.scoring.score_customers`).
        Known columns get readable labels and number formats; other columns are written
        as they are.
    parameters : DataFrame or mapping, optional
        Parameter estimates: one model's ``summary`` (index parameter; columns estimate,
        se, lower, upper), or a mapping of model name to such a summary or to a fitted
        model (its ``summary`` is used).
    metrics : DataFrame, Series or mapping, optional
        Holdout metrics. A DataFrame with one row per model (``Evaluation.metrics``) is
        written transposed: one row per metric, one column per model. A Series or
        mapping gives metric/value rows. ``None`` writes a note that the models were not
        evaluated on a holdout period.
    deciles : DataFrame, optional
        Predicted vs actual by decile (e.g. ``Evaluation.deciles``); ``None`` writes a note.
    data_quality : list of dict or DataFrame, optional
        The data-quality log of :func:`clvlab.load_transactions`
        (``tx.attrs["data_quality"]``: dicts with check, action, count, examples; a
        list of examples is joined with "; ").
    metadata : mapping, optional
        Facts shown on the About sheet (horizon, discount rate, time unit, source file,
        ...). The keys ``time_unit``, ``horizon`` and ``interval_level``, if present, are
        also used in the Predictions headers (e.g. "CLV (next 52 weeks)", "CLV: 80% range,
        low (next 52 weeks)").
    max_rows_per_sheet : int, default=1048576
        Rows per Predictions sheet including the header (Excel's limit by default).
        Customers beyond it continue on "Predictions (2)", ... with a
        :class:`~clvlab.exceptions.ClvlabWarning` and a note on the About sheet; no
        customer is dropped.
    currency : str, optional
        ISO 4217 code of the amounts (``"EUR"``): money columns get its symbol
        (``"€"#,##0.00``) and the About sheet names it. By default amounts carry no
        symbol.
    rank_by : str, optional
        Sort the Predictions rows by this column, highest first (missing values last,
        ties in the given order), and put a ``Rank by CLV`` column (1, 2, ...) before
        the customer id; ``clvlab run`` passes ``"clv"``. ``None`` (the default) or a
        column the scores lack keeps the given order and adds no rank.
    progress : callable, optional
        Called with no argument after each sheet is written, and once more after the
        customer rows are streamed in (``n_sheets + 1`` calls; e.g. a progress bar).
    comparison : ModelComparison, optional
        Purchase models compared on the holdout (:func:`clvlab.compare_models`): written
        as the Model comparison sheet (its ``labelled_table()``: numbers, one column per
        model), with the choice and its reason on the About sheet.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        ``scores`` is not a DataFrame, or another argument has the wrong type.
    InvalidValueError
        Duplicate customer ids.
    """
    return _start_workbook(
        path, scores, parameters=parameters, metrics=metrics, deciles=deciles,
        data_quality=data_quality, metadata=metadata, max_rows_per_sheet=max_rows_per_sheet,
        currency=currency, rank_by=rank_by, progress=progress, comparison=comparison,
    )()


def _start_workbook(
    path: str | os.PathLike[str],
    scores: pd.DataFrame,
    *,
    parameters: Any = None,
    metrics: Any = None,
    deciles: pd.DataFrame | None = None,
    data_quality: Any = None,
    metadata: Mapping[str, Any] | None = None,
    max_rows_per_sheet: int = XLSX_MAX_ROWS,
    currency: str | None = None,
    rank_by: str | None = None,
    progress: Callable[[], Any] | None = None,
    comparison: Any = None,
) -> Callable[[], Path]:
    """Do :func:`write_workbook` up to the streamed Predictions rows; return what finishes it.

    Everything that checks, warns or ticks ``progress`` per sheet runs here; the returned
    function streams the customer rows into the saved workbook (formatting and deflating,
    mostly outside the GIL with pyarrow), ticks ``progress`` once more and returns the path,
    so a caller can run it in another thread.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    scores = _check_scores(scores)
    tick = progress if progress is not None else (lambda: None)
    if int(max_rows_per_sheet) < 2:
        raise ValueError(f"max_rows_per_sheet must be >= 2; got {max_rows_per_sheet!r}.")
    per_sheet = int(max_rows_per_sheet) - 1
    metadata = dict(metadata or {})
    money = Currency(currency)
    money_format = money.excel_format()
    if money.code is not None:
        metadata.setdefault("currency", money.label)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)

    wb = Workbook(write_only=True)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E78")

    # Predictions
    index_name = scores.index.name or C.CUSTOMER_ID
    table: Any = None
    if index_name in scores.columns:  # an index named like a column: keep both, index first
        table = pd.concat(
            [
                pd.Series(scores.index, name=index_name).reset_index(drop=True),
                scores.reset_index(drop=True),
            ],
            axis=1,
        )
        table, notes = _manager_view(table, scores, index_name, rank_by)
    else:  # the sorted table read from ``scores`` a chunk at a time: no copy of it held
        table, notes = _RankedView.of(scores, index_name, rank_by)
    columns = [str(c) for c in table.columns]
    labels = prediction_labels(
        columns, time_unit=metadata.get("time_unit"), horizon=metadata.get("horizon"),
        level=metadata.get("interval_level"),
    )
    id_pos = 1 if len(columns) > len(scores.columns) + 1 else 0  # after the rank column
    formats: list[str | None] = []
    for j, col in enumerate(columns):
        if j < id_pos:
            fmt = _PREDICTION_COLUMNS[RANK_COLUMN][1]
        elif j == id_pos:
            fmt = None  # the customer id: text
        elif col in _MONEY_COLUMNS:
            fmt = money_format
        else:
            fmt = _PREDICTION_COLUMNS.get(col, (None, None))[1]
            fmt = fmt if fmt is not None else _default_format(col, _dtype_probe(table, j))
        formats.append(fmt)
    comments = {columns.index(c): text for c, text in notes.items()}
    for col, text in notes.items():
        metadata.setdefault(f"column '{labels[columns.index(col)]}'", text)
    kinds = [_fast_kind(_dtype_probe(table, j)) for j in range(table.shape[1])]
    streaming = all(k is not None for k in kinds)
    n = len(scores)
    n_sheets = max(1, math.ceil(n / per_sheet))
    if n_sheets > 1:
        msg = (
            f"{n:,} customers exceed the {per_sheet:,} rows one XLSX sheet holds; the "
            f"predictions continue over {n_sheets} sheets (Predictions, Predictions (2), ...). "
            "The CSV export holds them all in one table."
        )
        warnings.warn(msg, ClvlabWarning, stacklevel=3)
        metadata["Note"] = msg
    jobs: list[tuple[str, pd.DataFrame]] = []
    for k, (lo, hi) in enumerate(_chunks(n, per_sheet)):
        title = "Predictions" if k == 0 else f"Predictions ({k + 1})"
        part = table.iloc[lo:hi]
        sample = [_cell_values(part.iloc[:2000, j]) for j in range(part.shape[1])]
        if streaming and len(part) > 1:
            # openpyxl writes the header and one template row; the rest is streamed in
            spec = _SheetSpec(
                title,
                labels,
                [v[:1] for v in sample],
                formats,
                n_rows_total=len(part),
                width_columns=sample,
                comments=comments,
            )
            jobs.append((title, part))
        else:
            full = [_cell_values(part.iloc[:, j]) for j in range(part.shape[1])]
            spec = _SheetSpec(title, labels, full, formats, width_columns=sample,
                              comments=comments)
        _write_sheet(wb, spec, header_font, header_fill)
        tick()

    # Parameters
    params = _parameters_frame(parameters)
    if len(params):
        _write_sheet(wb, _frame_spec("Parameters", params), header_font, header_fill)
    else:
        _write_sheet(
            wb,
            _note_spec("Parameters", "No parameter estimates were given."),
            header_font,
            header_fill,
        )
    tick()

    # Holdout metrics
    if metrics is None:
        spec = _note_spec(
            "Holdout metrics",
            "No holdout period: the models were fitted on the whole log and not evaluated. "
            "Give a calibration end (clvlab run --calibration-end DATE) to evaluate them.",
        )
    else:
        spec = _frame_spec("Holdout metrics", _metrics_frame(metrics, money))
    _write_sheet(wb, spec, header_font, header_fill)
    tick()

    # Model comparison
    if comparison is not None:
        frame = comparison.labelled_table().reset_index()
        _write_sheet(wb, _frame_spec("Model comparison", frame), header_font, header_fill)
        best = comparison.names.get(comparison.best, comparison.best)
        metadata.setdefault("model comparison",
                            " ".join([f"best by {comparison.criterion}: {best} (marked * on "
                                      "the Model comparison sheet).", comparison.reason,
                                      *comparison.notes]))
        tick()

    # Deciles
    if deciles is None:
        spec = _note_spec("Deciles", "No holdout period, so no decile comparison.")
    else:
        if not isinstance(deciles, pd.DataFrame):
            raise TypeError(
                f"deciles must be a DataFrame (e.g. Evaluation.deciles); got "
                f"{type(deciles).__name__}."
            )
        frame = deciles.reset_index() if _has_named_index(deciles) else deciles
        frame, dropped = _value_deciles(frame, metrics)
        if dropped:
            metadata.setdefault(
                "Deciles sheet",
                f"holdout value by decile of predicted value; {', '.join(dropped)} "
                "predicts purchases, not value, so it is not on that sheet (see the "
                "Holdout metrics sheet for its purchase metrics)",
            )
        if len(frame) == 0:
            spec = _note_spec("Deciles", "No model predicts holdout value, so no decile "
                              "comparison of value.")
        else:
            labels_d = [_DECILE_LABELS.get(str(c), str(c)) for c in frame.columns]
            fmts = {c: money_format for c in ("predicted_mean", "actual_mean",
                                              "predicted_total", "actual_total")}
            fmts["actual_share"] = _FMT_PROB
            spec = _frame_spec("Deciles", frame, labels=labels_d, formats=fmts)
    _write_sheet(wb, spec, header_font, header_fill)
    tick()

    # Data quality (with the text cells this workbook had to cut, if any)
    n_long, long_examples = _too_long_in_order(table, 0, str(columns[0]))
    for j in range(1, table.shape[1]):
        if kinds[j] != "num" and not pd.api.types.is_numeric_dtype(_dtype_probe(table, j)):
            n_j, ex_j = _too_long_in_order(table, j, str(columns[j]))
            n_long += n_j
            long_examples += ex_j
    if data_quality is not None:
        dq_in = _data_quality_frame(data_quality)
        for col in dq_in.columns:
            n_j, ex_j = _too_long(dq_in[col], f"Data quality, {col}")
            n_long += n_j
            long_examples += ex_j
    n_j, ex_j = _too_long(pd.Series([_metadata_value(v) for v in metadata.values()],
                                    dtype=object), "About")
    n_long += n_j
    long_examples += ex_j
    if n_long:
        record = {
            "check": f"text longer than Excel's {XLSX_MAX_CELL_CHARS:,}-character cell limit",
            "action": f"cut in the XLSX to {XLSX_MAX_CELL_CHARS:,} characters ending with "
                      f"{TRUNCATION_MARKER!r}; the CSV keeps the full text",
            "count": n_long,
            "examples": long_examples[:5],
        }
        warnings.warn(
            f"{n_long:,} text cell(s) are longer than Excel's {XLSX_MAX_CELL_CHARS:,}-character "
            f"limit and were cut in {p.name}, ending with {TRUNCATION_MARKER!r} "
            f"({'; '.join(long_examples[:3])}); the count is on its Data quality sheet. The "
            "CSV export keeps the full values.",
            DataQualityWarning,
            stacklevel=3,
        )
        data_quality = (
            pd.concat([_data_quality_frame(data_quality), pd.DataFrame([record])],
                      ignore_index=True)
            if data_quality is not None else [record]
        )
    if data_quality is None:
        spec = _note_spec("Data quality", "No data-quality log was given.")
    else:
        dq = _data_quality_frame(data_quality)
        spec = (
            _frame_spec("Data quality", dq)
            if len(dq)
            else _note_spec("Data quality", "Loading changed nothing: every row passed all checks.")
        )
    _write_sheet(wb, spec, header_font, header_fill)
    tick()

    # About
    about = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "customers": n,
        **metadata,
    }
    _write_sheet(wb, _frame_spec("About", _metadata_frame(about)), header_font, header_fill)
    tick()

    wb.save(p)

    def finish() -> Path:
        if jobs:
            _stream_rows(p, jobs, [k for k in kinds if k is not None])
        tick()
        return p

    return finish
