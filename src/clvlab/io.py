"""Load a transaction log from CSV, Parquet, XLSX or a DataFrame and validate it.

:func:`load_transactions` is the boundary of clvlab: everything downstream (RFM summary,
models, reports) trusts what it returns. Every problem it finds either stops the load with
a :class:`~clvlab.exceptions.DataValidationError` that names the column, the rule, the
offending rows as the user sees them and what to do, or is handled by a documented policy
that is counted in a :class:`~clvlab.exceptions.DataQualityWarning` and recorded in
``tx.attrs["data_quality"]``. The policies are described in ``docs/data-policies.md``.
"""

from __future__ import annotations

import difflib
import gzip
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import (
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
)

__all__ = ["load_transactions", "SUPPORTED_EXTENSIONS"]

NegativePolicy = Literal["net", "drop", "keep", "raise"]
ZeroPolicy = Literal["keep", "drop", "raise"]
DuplicatePolicy = Literal["auto", "drop", "keep", "raise"]

_CSV_EXT = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")
_PARQUET_EXT = (".parquet", ".pq")
_XLSX_EXT = (".xlsx", ".xlsm")
#: File name endings load_transactions reads.
SUPPORTED_EXTENSIONS = _CSV_EXT + _PARQUET_EXT + _XLSX_EXT

_SEP_CANDIDATES = (",", "\t", ";", "|")
_SEP_NAMES = {",": "','", "\t": "'\\t'", ";": "';'", "|": "'|'"}
_N_EXAMPLES = 5

# a time of day followed by a UTC offset or zone marker: "10:00+02:00", "10:00:00Z", "10:00 UTC"
_TZ_SUFFIX = r"(?:[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_TZ_AWARE_RE = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*" + _TZ_SUFFIX + r"\s*$"
_TZ_STRIP_RE = r"\s*" + _TZ_SUFFIX + r"\s*$"
# "$1,234.50", "-12.50 €", "£3": one optional sign, one optional currency symbol, thousands
# separators only in strict groups of three (so the European "1,5" is never read as 15)
_AMOUNT_RE = (
    r"^\s*(?P<s1>[-+]?)\s*(?P<c1>[$€£]?)\s*(?P<s2>[-+]?)"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*(?P<c2>[$€£]?)\s*$"
)


# --------------------------------------------------------------------------- bookkeeping
@dataclass
class _Rows:
    """Where each working row came from, to name rows the way the user sees them."""

    kind: str  # "line" (CSV), "row" (XLSX / Parquet) or "index" (DataFrame)
    index: pd.Index | None = None  # DataFrame index labels
    offset: int = 2  # file position 0 is line/row ``offset``

    def labels(self, pos: np.ndarray) -> list[Any]:
        """User-facing numbers (or index labels) of the original positions ``pos``."""
        pos = np.asarray(pos, dtype=np.int64)
        if self.index is not None:
            return [_plain(v) for v in self.index[pos]]
        return [int(p) + self.offset for p in pos]

    def describe(self, pos: np.ndarray) -> list[str]:
        """``["line 3", "line 7"]`` or ``["index 'a'", ...]`` for the positions ``pos``."""
        word = "index label" if self.kind == "index" else self.kind
        return [f"{word} {v!r}" if isinstance(v, str) else f"{word} {v}" for v in self.labels(pos)]


@dataclass
class _Report:
    """Data-quality records and the warnings to issue once loading succeeds."""

    records: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(
        self, check: str, action: str, count: int, examples: list[str], warn: str | None
    ) -> None:
        self.records.append(
            {"check": check, "action": action, "count": int(count), "examples": list(examples)}
        )
        if warn is not None:
            self.warnings.append(warn)


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the equivalent Python object (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _ts(value: Any) -> str:
    """Format a timestamp, without the time when it is midnight."""
    t = pd.Timestamp(value)
    return str(t.date()) if t == t.normalize() else str(t)


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "(blank or NaN)"
    if isinstance(value, pd.Timestamp):
        return str(value)
    return repr(_plain(value))


def _examples(where: list[str], values: Sequence[Any] | None, n_total: int) -> str:
    """``"line 3: 'x', line 7: 'y' and 4 more"``; ``values`` may be None (positions only)."""
    if values is None:
        items = list(where)
    else:
        items = [f"{w}: {_show(v)}" for w, v in zip(where, values, strict=False)]
    text = ", ".join(items[:_N_EXAMPLES])
    rest = n_total - min(_N_EXAMPLES, len(items))
    return f"{text} and {rest} more" if rest > 0 else text


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _rows_error(
    column: str,
    mask: np.ndarray,
    pos: np.ndarray,
    rows: _Rows,
    rule: str,
    problem: Callable[[int], str],
    todo: str,
    raw: Any = None,
) -> InvalidValueError:
    """Build the error for the rows in ``mask``: column, rule, count, first rows, what to do.

    The first rows are shown with their raw values when ``raw`` is given; ``problem(n)``
    words the finding for ``n`` rows.
    """
    n = int(mask.sum())
    first = pos[mask][:_N_EXAMPLES]
    values = None if raw is None else list(raw[mask][:_N_EXAMPLES])
    return InvalidValueError(
        f"Column {column!r} {problem(n)} ({_examples(rows.describe(first), values, n)}). {todo}",
        column=column,
        rule=rule,
        offenders=rows.labels(first),
        n_offending=n,
    )


# --------------------------------------------------------------------------- reading
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return "".join(path.suffixes[-2:]).lower() or "(none)"


def _head_bytes(path: Path, ext: str, n: int = 8192) -> bytes:
    try:
        if ext.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        with open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise NotATableError(
            f"{path.name} could not be read as a compressed file ({exc}). Check that the file "
            "is complete, or decompress it and load the CSV directly.",
            rule="readable file",
        ) from None


def _check_text(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise NotATableError(
            f"{path.name} is a ZIP archive (an Excel workbook?), not a text table. If it is a "
            "workbook, give it the .xlsx extension; otherwise extract the CSV first.",
            rule="text table",
        )
    if b"\x00" in head:
        raise NotATableError(
            f"{path.name} is a binary file (it holds NUL bytes), not a text table. Export the "
            "transactions as CSV, XLSX or Parquet.",
            rule="text table",
        )


def _read_header(path: Path, sep: str, encoding: str) -> list[str]:
    return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0, encoding=encoding).columns]


def _csv_error(path: Path, exc: Exception, encoding: str) -> Exception:
    if isinstance(exc, pd.errors.EmptyDataError):
        return EmptyInputError(
            f"{path.name} is empty (0 bytes, no header). Check the export that produced it.",
            rule="at least one row",
        )
    if isinstance(exc, UnicodeDecodeError):
        return NotATableError(
            f"{path.name} is not valid {encoding} text ({exc.reason} at byte {exc.start}). If it "
            "is a text table saved in another encoding, pass encoding='latin-1' (or the right "
            "one); otherwise export the data as CSV, XLSX or Parquet.",
            rule=f"{encoding} text",
        )
    return NotATableError(
        f"{path.name} could not be parsed as a delimited table: {' '.join(str(exc).split())}. "
        "Check the delimiter "
        "(sep=) and the quoting around that line (an amount such as 1,234.50 must be quoted "
        "in a comma-separated file).",
        rule="delimited table",
    )


# pandas' default missing-value markers, applied to every column but the customer id
_NA_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)


def _read_csv(
    path: Path, ext: str, sep: str | None, encoding: str, need: list[str], keep_extra: bool
) -> tuple[pd.DataFrame, list[str], str | None]:
    """Read a delimited file; returns the frame, its header and the delimiter used."""
    _check_text(path, _head_bytes(path, ext))
    try:
        if sep is None:
            if ".tsv" in ext:
                sep, header = "\t", _read_header(path, "\t", encoding)
            else:
                # the candidate that splits the header line into the most fields
                best: tuple[int, str, list[str]] | None = None
                for cand in _SEP_CANDIDATES:
                    cols = _read_header(path, cand, encoding)
                    if best is None or len(cols) > best[0]:
                        best = (len(cols), cand, cols)
                assert best is not None
                _, sep, header = best
        else:
            header = _read_header(path, sep, encoding)
        if not set(need) <= set(header):  # let the caller report the missing columns
            return pd.DataFrame(columns=header), header, sep
        dtype = {c: "str" for c in need[:2]}  # ids and dates stay text
        # customer ids are never read as missing values: "NA" or "null" can be real ids
        # (an empty id still fails the blank-id check); other columns keep pandas' markers
        na_values = {c: list(_NA_MARKERS) for c in header if c != need[0]}
        # no usecols: with it pandas silently ignores surplus fields on a line (an unquoted
        # "1,234.50" would become amount 1); without it such a line is an error
        frame = pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            dtype=dtype,
            keep_default_na=False,
            na_values=na_values,
            skip_blank_lines=False,  # keeps row position == line number - 2
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise _csv_error(path, exc, encoding) from None
    if not keep_extra:
        frame = frame[[c for c in frame.columns if c in need]]
    return frame, header, sep


def _read_parquet(path: Path, need: list[str], keep_extra: bool) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            f"Reading Parquet ({path.name}) needs the optional dependency pyarrow. Install it "
            "with `pip install clvlab[parquet]` (or `pip install pyarrow`), or load a CSV."
        ) from None
    try:
        names = pq.read_schema(path).names
        if not set(need) <= set(names):  # let the caller report the missing columns
            return pd.DataFrame(columns=names)
        columns = None if keep_extra else [c for c in names if c in need]
        return pq.read_table(path, columns=columns).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... on corrupt files
        raise NotATableError(
            f"{path.name} could not be read as a Parquet file ({type(exc).__name__}: {exc}). "
            "Check that the file is complete and really Parquet.",
            rule="Parquet file",
        ) from None


def _read_xlsx(path: Path, sheet_name: str | int) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise NotATableError(
            f"{path.name} could not be opened as an Excel workbook ({type(exc).__name__}: "
            f"{exc}). Check that the file is a complete .xlsx file, or export it as CSV.",
            rule="XLSX workbook",
        ) from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        if isinstance(sheet_name, int):
            ok = -len(sheets) <= sheet_name < len(sheets)
        else:
            ok = sheet_name in sheets
        if not ok:
            raise NotATableError(
                f"{path.name} has no sheet {sheet_name!r}; sheets present: "
                f"{', '.join(repr(s) for s in sheets)}. Pass sheet_name= one of these.",
                rule="sheet exists",
            )
        try:
            return pd.read_excel(book, sheet_name=sheet_name, dtype=object)
        except Exception as exc:
            raise NotATableError(
                f"Sheet {sheet_name!r} of {path.name} could not be read as a table "
                f"({type(exc).__name__}: {exc}).",
                rule="XLSX table",
            ) from None


def _read(
    src: Any,
    need: list[str],
    *,
    sep: str | None,
    sheet_name: str | int,
    encoding: str,
    keep_extra: bool,
) -> tuple[pd.DataFrame, _Rows, str, str | None]:
    """Return the raw frame, the row locator, a description of the source and the delimiter."""
    if isinstance(src, pd.DataFrame):
        return src, _Rows("index", index=src.index), f"DataFrame ({len(src):,} rows)", None
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(
            "src must be a path (str or os.PathLike) to a CSV, Parquet or XLSX file, or a pandas "
            f"DataFrame; got {type(src).__name__}."
        )
    path = Path(src).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"Transaction file {str(path)!r} does not exist (working directory: {Path.cwd()}). "
            "Check the path."
        )
    if path.is_dir():
        raise NotATableError(
            f"{str(path)!r} is a directory, not a file. Pass the path of the transaction file.",
            rule="file",
        )
    ext = _suffix(path)
    if ext in _CSV_EXT:
        frame, _, used_sep = _read_csv(path, ext, sep, encoding, need, keep_extra)
        return frame, _Rows("line"), path.name, used_sep
    if ext in _PARQUET_EXT:
        frame = _read_parquet(path, need, keep_extra)
        return frame, _Rows("row", offset=1), path.name, None
    if ext in _XLSX_EXT:
        frame = _read_xlsx(path, sheet_name)
        return frame, _Rows("row"), f"{path.name} (sheet {sheet_name!r})", None
    hint = " Save the workbook as .xlsx." if ext == ".xls" else ""
    raise NotATableError(
        f"{path.name}: unknown file type {ext!r}; load_transactions reads "
        f"{', '.join(SUPPORTED_EXTENSIONS)}.{hint} Export the transactions in one of these "
        "formats, or read the file yourself and pass a DataFrame.",
        rule="supported file type",
    )


# --------------------------------------------------------------------------- columns
def _check_columns(
    frame: pd.DataFrame, wanted: dict[str, str], sep: str | None, is_frame: bool
) -> None:
    present = [str(c) for c in frame.columns]
    missing = [(role, name) for role, name in wanted.items() if name not in frame.columns]
    if not missing:
        repeated = [name for name in wanted.values() if (frame.columns == name).sum() > 1]
        if repeated:
            raise InvalidValueError(
                f"Column {repeated[0]!r} appears {int((frame.columns == repeated[0]).sum())} "
                "times; each of the customer id, date and amount columns must appear once. "
                "Rename or drop the extra copies.",
                column=repeated[0],
                rule="unique column names",
            )
        return
    parts = []
    lowered = {p.lower().strip(): p for p in present}
    for role, name in missing:
        hint = ""
        exact_ci = lowered.get(str(name).lower().strip())
        close = difflib.get_close_matches(str(name), present, n=1, cutoff=0.6)
        guess = exact_ci or (close[0] if close else None)
        if guess is not None:
            hint = f" (did you mean {guess!r}? pass {role}={guess!r})"
        parts.append(f"{name!r}{hint}")
    sep_hint = ""
    if len(present) == 1:
        for cand in _SEP_CANDIDATES:
            if cand != sep and cand in present[0]:
                where = " to pd.read_csv when you read the file" if is_frame else ""
                sep_hint = (
                    f" The only column is {present[0]!r}: the data look like "
                    f"{_SEP_NAMES[cand]}-separated; pass sep={_SEP_NAMES[cand]}{where}."
                )
                break
    shown = ", ".join(repr(p) for p in present[:30]) or "(none)"
    if len(present) > 30:
        shown += f" and {len(present) - 30} more"
    raise MissingColumnsError(
        f"Required column(s) missing: {', '.join(parts)}; columns present: {shown}.{sep_hint} "
        "Name the columns holding the customer id, date and amount with customer_id=, date= "
        "and amount=.",
        column=missing[0][1],
        rule="required column",
        offenders=[m[1] for m in missing],
        n_offending=len(missing),
    )


def _blank_mask(values: pd.Series) -> np.ndarray:
    """Mark raw values that are missing or only whitespace."""
    mask = np.array(values.isna(), dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = values[~mask]
        is_str = text.map(lambda v: isinstance(v, str)) if values.dtype == object else None
        if is_str is None:
            blank = text.str.strip().eq("").to_numpy(dtype=bool)
        else:
            blank = np.zeros(len(text), dtype=bool)
            sub = text[is_str.to_numpy(dtype=bool)]
            blank[is_str.to_numpy(dtype=bool)] = sub.str.strip().eq("").to_numpy(dtype=bool)
        mask[~mask] = blank
    return mask


# --------------------------------------------------------------------------- customer ids
def _parse_ids(raw: pd.Series, name: str, pos: np.ndarray, rows: _Rows) -> pd.Series:
    raw = raw.reset_index(drop=True)
    missing = raw.isna().to_numpy()
    if pd.api.types.is_float_dtype(raw.dtype):
        # ids read as floats (a numeric column with gaps): 17.0 -> "17"
        arr = raw.to_numpy(dtype=float, na_value=np.nan)
        fin = np.isfinite(arr)
        if np.all(arr[fin] == np.round(arr[fin])) and np.all(np.abs(arr[fin]) < 2**53):
            text = np.where(fin, arr, 0).astype(np.int64).astype(str).astype(object)
        else:
            text = arr.astype(str).astype(object)
        text[~fin] = None
        ids = pd.Series(text, dtype="str")
    elif pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object:
        ids = raw
    elif isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "iu":
        ids = raw.astype("str")  # integers never miss: straight to text (Arrow cast)
    else:
        text = raw.astype(str).to_numpy(dtype=object)
        text[missing] = None
        ids = pd.Series(text, dtype="str")
    ids = ids.str.strip()
    bad = ids.isna().to_numpy() | ids.eq("").fillna(True).to_numpy(dtype=bool)
    if bad.any():
        raise _rows_error(
            name, bad, pos, rows, "customer id not blank",
            lambda n: f"(customer id): must not be blank; {_plural(n, 'row')} "
            f"{'has' if n == 1 else 'have'} a missing or empty customer id",
            "Fill in the customer id or remove these rows before loading.",
        )
    return ids


# --------------------------------------------------------------------------- dates
def _to_ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    # pandas checks the bounds; np.asarray(..., "datetime64[ns]") would silently overflow
    return pd.Series(values, copy=False).astype("datetime64[ns]").to_numpy()


def _parse_naive_strings(
    s: pd.Series, fmt: str | None
) -> tuple[pd.Series, np.ndarray]:
    """Parse tz-naive date strings; returns timestamps and a mask of rows parsed by guessing."""
    out = pd.to_datetime(s, format=fmt, errors="coerce")
    guessed = np.zeros(len(s), dtype=bool)
    if fmt is None:
        for fallback in ("ISO8601", "mixed"):
            failed = out.isna().to_numpy()
            if not failed.any():
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                retry = pd.to_datetime(s[failed], format=fallback, errors="coerce")
            out = out.astype(retry.dtype) if out.dtype != retry.dtype else out
            out[failed] = retry
            if fallback == "mixed":
                guessed[failed] = retry.notna().to_numpy()
    return out, guessed


def _parse_aware_strings(s: pd.Series, fmt: str | None) -> pd.Series:
    out = pd.to_datetime(s, format=fmt, utc=True, errors="coerce")
    if fmt is None:
        failed = out.isna().to_numpy()
        if failed.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                out[failed] = pd.to_datetime(s[failed], format="mixed", utc=True, errors="coerce")
    return out


def _parse_dates(
    raw: pd.Series,
    name: str,
    fmt: str | None,
    tz: str,
    pos: np.ndarray,
    rows: _Rows,
    report: _Report,
) -> np.ndarray:
    """Parse the date column to tz-naive datetime64[ns] (see ``load_transactions``)."""
    raw = raw.reset_index(drop=True)
    blank = _blank_mask(raw)
    if blank.any():
        raise _rows_error(
            name, blank, pos, rows, "date not blank",
            lambda n: f"(date): must not be blank; {_plural(n, 'row')} "
            f"{'has' if n == 1 else 'have'} no date",
            "Fill in the dates or remove these rows before loading.",
        )
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(raw.cat.categories.dtype)
    dtype = raw.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        local = raw.dt.tz_convert(tz).dt.tz_localize(None)
        _record_tz(report, name, tz, raw.dt.tz_localize(None), local, np.ones(len(raw), bool),
                   pos, rows, n_naive=0)
        return _checked_ns(local, raw, name, pos, rows)
    if pd.api.types.is_datetime64_dtype(dtype):
        return _checked_ns(raw, raw, name, pos, rows)
    if pd.api.types.is_bool_dtype(dtype) or not (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    ):
        raise InvalidValueError(
            f"Column {name!r} (date): must hold dates; found dtype {dtype}. Pass a column of "
            "date strings or datetimes.",
            column=name,
            rule="dates",
        )
    if pd.api.types.is_integer_dtype(dtype):
        text = raw.astype(str)  # 19970101 -> "19970101", never nanoseconds since 1970
    elif pd.api.types.is_float_dtype(dtype):
        arr = raw.to_numpy(dtype=float)
        text = pd.Series(np.where(arr == np.round(arr), np.round(arr).astype(np.int64), arr)
                         .astype(str)) if np.isfinite(arr).all() else raw.astype(str)
    else:
        text = raw.astype(str)  # datetime objects -> ISO text keeps their offsets
    text = text.str.strip()

    # fast path: one format, no offsets
    parsed: pd.Series | None
    try:
        first = pd.to_datetime(text, format=fmt, errors="coerce")
        parsed = first if (not isinstance(first.dtype, pd.DatetimeTZDtype)
                           and first.notna().all()) else None
    except (ValueError, TypeError):
        parsed = None
    if parsed is not None:
        return _checked_ns(parsed, text, name, pos, rows)

    aware = text.str.contains(_TZ_AWARE_RE, regex=True).to_numpy(dtype=bool)
    result = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.zeros(len(text), dtype=bool)
    guessed = np.zeros(len(text), dtype=bool)
    if (~aware).any():
        naive_vals, guessed_naive = _parse_naive_strings(text[~aware], fmt)
        good = naive_vals.notna().to_numpy()
        idx = np.flatnonzero(~aware)
        result[idx[good]] = _checked_ns(naive_vals[good], text[~aware][good], name,
                                        pos[idx[good]], rows)
        ok[idx[good]] = True
        guessed[idx] = guessed_naive
    if aware.any():
        sub = text[aware]
        utc = _parse_aware_strings(sub, fmt)
        good = utc.notna().to_numpy()
        idx = np.flatnonzero(aware)
        local = utc[good].dt.tz_convert(tz).dt.tz_localize(None)
        result[idx[good]] = _checked_ns(local, sub[good], name, pos[idx[good]], rows)
        ok[idx[good]] = True
        wall, _ = _parse_naive_strings(sub[good].str.replace(_TZ_STRIP_RE, "", regex=True), None)
        _record_tz(report, name, tz, wall, local, np.ones(int(good.sum()), bool), pos[idx[good]],
                   rows, n_naive=int((~aware).sum()))
    if not ok.all():
        how = f"with date_format={fmt!r}" if fmt else "as dates"
        todo = ("Fix these values, or pass the date_format= that matches them "
                "(strftime codes, e.g. '%d/%m/%Y')." if fmt else
                "Fix these values, or pass date_format= (strftime codes, e.g. '%d/%m/%Y').")
        raise _rows_error(
            name, ~ok, pos, rows, "parseable date",
            lambda n: f"(date): values must parse {how}; {_plural(n, 'value')} could not",
            todo, raw=raw,
        )
    if guessed.any():
        n = int(guessed.sum())
        where = rows.describe(pos[guessed][:_N_EXAMPLES])
        shown = [f"{w}: {text[guessed].iloc[i]!r} -> {pd.Timestamp(result[guessed][i]).date()}"
                 for i, w in enumerate(where)]
        report.add(
            "dates in a second format",
            "parsed by guessing the format row by row",
            n,
            shown,
            f"Column {name!r} (date): {_plural(n, 'value')} did not match the format of the "
            f"first date and {'was' if n == 1 else 'were'} parsed by guessing the format row by "
            f"row ({', '.join(shown)}). Check them; pass date_format= to parse strictly.",
        )
    return result


def _checked_ns(values: pd.Series, raw: pd.Series, name: str, pos: np.ndarray,
                rows: _Rows) -> np.ndarray:
    """Cast to datetime64[ns], reporting dates outside its range (years 1677-2262)."""
    try:
        return _to_ns(values)
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        arr = np.asarray(values)  # in a coarser unit than ns, so no overflow here
        bad = (arr < np.datetime64("1677-09-22")) | (arr > np.datetime64("2262-04-11"))
        raise _rows_error(
            name, bad, pos, rows, "date in range",
            lambda n: "(date): dates must lie between 1677-09-22 and 2262-04-11 "
            f"(the range of datetime64[ns]); {_plural(n, 'value')} "
            f"{'does' if n == 1 else 'do'} not",
            "Fix these dates.", raw=raw,
        ) from None


def _record_tz(report: _Report, name: str, tz: str, wall: pd.Series, local: pd.Series,
               _mask: np.ndarray, pos: np.ndarray, rows: _Rows, n_naive: int) -> None:
    w = _to_ns(wall)
    loc = _to_ns(local)
    shifted = w != loc
    day = w.astype("datetime64[D]") != loc.astype("datetime64[D]")
    n_aware = len(w)
    n = int(shifted.sum())
    if n == 0 and n_naive == 0:
        report.add("time zones", f"already {tz}; zone information dropped", n_aware, [], None)
        return
    ex = [f"{d}: {pd.Timestamp(a)} -> {pd.Timestamp(b)}" for d, a, b in zip(
        rows.describe(pos[shifted][:_N_EXAMPLES]), w[shifted][:_N_EXAMPLES],
        loc[shifted][:_N_EXAMPLES], strict=True)]
    naive_note = (f"; {_plural(n_naive, 'row')} without a time zone "
                  f"{'was' if n_naive == 1 else 'were'} taken to be in {tz} already and left "
                  "unchanged" if n_naive else "")
    report.add(
        "time zones",
        f"converted to {tz}, then zone information dropped",
        n,
        ex,
        f"Column {name!r} (date): {_plural(n_aware, 'value')} carried a time zone and "
        f"{'was' if n_aware == 1 else 'were'} converted to {tz}; {_plural(n, 'row')} changed "
        f"clock time, {int(day.sum()):,} of them calendar day{naive_note}"
        f"{' (' + ', '.join(ex) + ')' if ex else ''}. Pass timezone= the zone your business "
        "days are in to convert to it instead.",
    )


# --------------------------------------------------------------------------- amounts
def _parse_amounts(raw: pd.Series, name: str, pos: np.ndarray, rows: _Rows,
                   report: _Report) -> np.ndarray:
    raw = raw.reset_index(drop=True)
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InvalidValueError(
            f"Column {name!r} (amount): must be numeric; found booleans (dtype {dtype}). Pass "
            "the column holding the transaction value.",
            column=name,
            rule="numeric amount",
        )
    if pd.api.types.is_numeric_dtype(dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        values = np.array(
            pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        )
        retry = np.isnan(values) & ~_blank_mask(raw)
        if pd.api.types.is_object_dtype(dtype):  # numbers held as objects (XLSX) are fine
            retry &= ~raw.map(lambda v: isinstance(v, (int, float, np.number))).to_numpy(bool)
        if retry.any():
            sub = raw[retry].astype(str)
            nan_text = sub.str.strip().str.lower().isin(["nan", "-nan", "+nan"]).to_numpy()
            parts = sub.str.extract(_AMOUNT_RE)
            matched = parts["num"].notna().to_numpy() & ~nan_text
            two_signs = (parts["s1"].fillna("") != "") & (parts["s2"].fillna("") != "")
            two_cur = (parts["c1"].fillna("") != "") & (parts["c2"].fillna("") != "")
            matched &= ~(two_signs | two_cur).to_numpy()
            num = pd.to_numeric(parts["num"].str.replace(",", "", regex=False), errors="coerce")
            negative = (parts["s1"] == "-") | (parts["s2"] == "-")
            num = num.where(~negative, -num).to_numpy(dtype=float, na_value=np.nan)
            idx = np.flatnonzero(retry)
            values[idx[matched]] = num[matched]
            if matched.any():
                symbols = pd.concat([parts["c1"][matched], parts["c2"][matched]])
                symbols = sorted(set(symbols.dropna()) - {""})
                if len(symbols) > 1:
                    ex_idx = idx[matched][:_N_EXAMPLES]
                    raise InvalidValueError(
                        f"Column {name!r} (amount): must be in one currency; found the "
                        f"symbols {', '.join(symbols)} "
                        f"({_examples(rows.describe(pos[ex_idx]), list(raw[ex_idx]), len(ex_idx))}"
                        "). Convert the amounts to one currency before loading.",
                        column=name,
                        rule="one currency",
                        offenders=symbols,
                    )
                n = int(matched.sum())
                what = f"currency symbol {symbols[0]!r}" if symbols else "thousands separators"
                ex_idx = idx[matched][:_N_EXAMPLES]
                report.add(
                    "amounts written as text",
                    f"read as numbers ({what} and ',' thousands separators removed)",
                    n,
                    [f"{w}: {raw[i]!r} -> {values[i]:g}" for w, i in
                     zip(rows.describe(pos[ex_idx]), ex_idx, strict=True)],
                    None,
                )
    else:
        raise InvalidValueError(
            f"Column {name!r} (amount): must be numeric; found dtype {dtype}. Pass the column "
            "holding the transaction value.",
            column=name,
            rule="numeric amount",
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise _rows_error(
            name, bad, pos, rows, "finite number",
            lambda n: f"(amount): must be a finite number; {_plural(n, 'value')} "
            f"{'is' if n == 1 else 'are'} blank, NaN, infinite or not a number",
            "Plain numbers such as 1234.50, '$1,234.50' or '-12.50' are read; fix or remove "
            "these rows before loading.",
            raw=raw,
        )
    return values


# --------------------------------------------------------------------------- policies
def _check_choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}."
        )
    return value


def _row_examples(rows: _Rows, pos: np.ndarray, ids: pd.Series, dates: np.ndarray,
                  amounts: np.ndarray, mask: np.ndarray) -> list[str]:
    sel = np.flatnonzero(mask)[:_N_EXAMPLES]
    return [
        f"{w}: customer {ids.iloc[i]!r}, {_ts(dates[i])}, amount {amounts[i]:g}"
        for w, i in zip(rows.describe(pos[sel]), sel, strict=True)
    ]


def _net_returns(
    codes: np.ndarray, dates: np.ndarray, amounts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match each return (amount < 0) to one purchase (amount > 0) of the same customer.

    Returns the index of the matched purchase per return (-1 if none), the netted amounts
    and the mask of purchases fully returned (net <= 0).
    """
    ret = np.flatnonzero(amounts < 0)
    returning = np.bincount(codes[ret], minlength=int(codes.max()) + 1) > 0
    pur = np.flatnonzero((amounts > 0) & returning[codes])  # only customers with returns
    t = dates.view(np.int64)
    left = pd.DataFrame({"code": codes[ret], "t": t[ret], "amt": -amounts[ret], "r": ret})
    right = pd.DataFrame({"code": codes[pur], "t": t[pur], "amt": amounts[pur], "p": pur})
    left = left.sort_values("t", kind="stable")
    right = right.sort_values("t", kind="stable")
    # 1. the most recent purchase on or before the return with exactly the returned amount
    exact = pd.merge_asof(left, right, on="t", by=["code", "amt"], direction="backward")
    match = pd.Series(exact["p"].to_numpy(), index=exact["r"].to_numpy())
    # 2. otherwise the most recent purchase on or before the return
    todo = left[left["r"].isin(match.index[match.isna()])]
    if len(todo):
        recent = pd.merge_asof(todo, right.drop(columns="amt"), on="t", by="code",
                               direction="backward")
        match.loc[recent["r"].to_numpy()] = recent["p"].to_numpy()
    target = np.full(len(amounts), -1, dtype=np.int64)
    m = match.reindex(ret).to_numpy(dtype=float)
    target[ret] = np.where(np.isnan(m), -1, m).astype(np.int64)
    matched = ret[target[ret] >= 0]
    reduction = np.bincount(target[matched], weights=-amounts[matched], minlength=len(amounts))
    netted = amounts - reduction
    tol = 1e-9 * np.maximum(1.0, np.abs(amounts))
    gone = (amounts > 0) & (reduction > 0) & (netted <= tol)
    return target, netted, gone


def _exact_duplicates(
    codes: np.ndarray, dates: np.ndarray, amounts: np.ndarray, order: np.ndarray | slice
) -> np.ndarray:
    """Mark rows repeating an earlier row's customer, date and amount (first one unmarked).

    ``order`` sorts the rows by customer then date, so candidates are the (usually few)
    rows that share customer and timestamp with a neighbour; only those are hashed.
    """
    t = dates.view(np.int64)
    cs, ts = codes[order], t[order]
    same = np.zeros(len(cs), dtype=bool)
    same[1:] = (cs[1:] == cs[:-1]) & (ts[1:] == ts[:-1])
    run = same.copy()
    run[:-1] |= same[1:]
    # input order, so "first" is the first in the source
    cand = np.flatnonzero(run) if isinstance(order, slice) else np.sort(order[run])
    dup = np.zeros(len(codes), dtype=bool)
    if cand.size:
        key = pd.DataFrame({"c": codes[cand], "t": t[cand], "a": amounts[cand]})
        dup[cand] = key.duplicated(keep="first").to_numpy()
    return dup


# --------------------------------------------------------------------------- public
def load_transactions(
    src: str | os.PathLike[str] | pd.DataFrame,
    customer_id: str = C.CUSTOMER_ID,
    date: str = C.DATE,
    amount: str = C.AMOUNT,
    date_format: str | None = None,
    *,
    sep: str | None = None,
    sheet_name: str | int = 0,
    encoding: str = "utf-8",
    negative_amounts: NegativePolicy = "net",
    zero_amounts: ZeroPolicy = "keep",
    duplicates: DuplicatePolicy = "auto",
    timezone: str = "UTC",
    keep_extra: bool = False,
) -> pd.DataFrame:
    r"""Load a transaction log, validate it and apply the data policies.

    Parameters
    ----------
    src : str, os.PathLike or DataFrame
        A CSV file (``.csv``, ``.txt``, ``.tsv``, optionally ``.gz``-compressed), a Parquet
        file (``.parquet``, ``.pq``; needs pyarrow), an Excel workbook (``.xlsx``, ``.xlsm``)
        or a DataFrame. A DataFrame is never modified.
    customer_id, date, amount : str, default="customer_id", "date", "amount"
        Names of the columns holding the customer id, the transaction date (or timestamp)
        and the transaction value.
    date_format : str, optional
        strftime format of the dates (e.g. ``"%d/%m/%Y"``); every date must match it. By
        default the format is inferred from the first date; dates in another format are
        tried as ISO 8601 and then by guessing row by row, which is reported (see Warns).
        Integer dates such as ``19970101`` are read as text (``"%Y%m%d"``), never as
        nanoseconds since 1970.
    sep : str, optional
        Delimiter of a text file. By default ``"\t"`` for ``.tsv`` files, otherwise the one
        of ``,``, tab, ``;``, ``|`` that splits the header line into the most fields. Use
        ``sep=r"\s+"`` for whitespace-aligned files.
    sheet_name : str or int, default=0
        Sheet of an Excel workbook (name or 0-based position).
    encoding : str, default="utf-8"
        Text encoding of a CSV file.
    negative_amounts : {"net", "drop", "keep", "raise"}, default="net"
        Returns. ``"net"``: each negative amount is subtracted from one purchase of the same
        customer dated on or before it -- the most recent one with exactly the returned
        amount, else the most recent one; a purchase netted to <= 0 is removed, return value
        beyond it is discarded, returns with no earlier purchase are dropped, and the return
        rows themselves are removed. ``"drop"`` removes negative rows; ``"keep"`` keeps them
        (downstream RFM code may reject them); ``"raise"`` raises
        :class:`~clvlab.exceptions.InvalidValueError`.
    zero_amounts : {"keep", "drop", "raise"}, default="keep"
        A free order is still an order, so zero amounts are kept by default.
    duplicates : {"auto", "drop", "keep", "raise"}, default="auto"
        Exact duplicates are rows with the same customer id, date(-time) and amount (other
        columns are not compared). ``"drop"`` keeps the first of each set. ``"auto"`` drops
        them when the dates carry a time of day (a repeated timestamp is a double record),
        and keeps them when every date is at midnight (day resolution), where two equal
        orders on one day are plausible -- this is recorded in ``attrs["data_quality"]``
        without a warning.
    timezone : str, default="UTC"
        Dates with a UTC offset or zone (``"2024-03-01 23:30+01:00"``, tz-aware datetime
        columns) are converted to this zone and the zone information is dropped. Dates
        without a zone are taken to be in this zone already and never shifted.
    keep_extra : bool, default=False
        Keep the other columns of the source (after the three canonical ones). By default
        they are dropped. Extra columns named ``customer_id``, ``date`` or ``amount`` are
        always dropped.

    Returns
    -------
    DataFrame
        A new frame with columns ``customer_id`` (str, stripped of surrounding
        whitespace), ``date`` (datetime64[ns], tz-naive) and ``amount`` (float), sorted by
        customer id (numerically when every id is written in digits, otherwise as text),
        then date, ties in input order, with a fresh RangeIndex. ``attrs`` holds
        ``data_quality`` (list of dicts with keys ``check``, ``action``, ``count``,
        ``examples``; one per check that found something, empty when the log is clean),
        ``n_rows_read`` (data rows in the source) and ``source`` (a short description).

    Raises
    ------
    MissingColumnsError
        A required column is absent (the message lists those present, suggests close
        names and spots a wrong delimiter).
    InvalidValueError
        Blank customer ids, blank or unparseable dates, amounts that are not finite
        numbers, several currencies, or a policy set to ``"raise"`` that fired.
    EmptyInputError
        No data rows (0-byte file, header only), or none left after the policies.
    NotATableError
        The file is not a table: binary, corrupt, unknown extension, missing sheet.
    FileNotFoundError
        ``src`` does not exist.
    ImportError
        A Parquet file is given and pyarrow is not installed (``pip install clvlab[parquet]``).

    Warns
    -----
    DataQualityWarning
        Whenever rows are dropped, netted or changed (duplicates dropped, returns netted or
        dropped, zero amounts dropped, time zones converted, blank lines skipped, dates
        parsed by per-row guessing), with counts and first examples.

    Notes
    -----
    Row numbers in messages are those the user sees: for CSV the line number counting the
    header as line 1 (assuming one record per line); for XLSX the worksheet row; for Parquet
    the 1-based row; for a DataFrame the index label. Policies run in the order duplicates,
    zero amounts, negative amounts. See ``docs/data-policies.md``.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvlab.io import load_transactions
    >>> raw = pd.DataFrame({"customer_id": ["b", "a"], "date": ["2024-01-02", "2024-01-01"],
    ...                     "amount": [5.0, 7.5]})
    >>> load_transactions(raw)
      customer_id       date  amount
    0           a 2024-01-01     7.5
    1           b 2024-01-02     5.0
    """
    _check_choice(negative_amounts, "negative_amounts", ("net", "drop", "keep", "raise"))
    _check_choice(zero_amounts, "zero_amounts", ("keep", "drop", "raise"))
    _check_choice(duplicates, "duplicates", ("auto", "drop", "keep", "raise"))
    try:
        pd.Timestamp("2000-01-01", tz=timezone)
    except Exception:
        raise ValueError(
            f"timezone must be a time zone name such as 'UTC' or 'Europe/Amsterdam'; got "
            f"{timezone!r}."
        ) from None
    wanted = {"customer_id": customer_id, "date": date, "amount": amount}
    if len(set(wanted.values())) < 3:
        raise ValueError(
            f"customer_id, date and amount must name three different columns; got {wanted}."
        )
    need = [customer_id, date, amount]
    frame, rows, source, used_sep = _read(
        src, need, sep=sep, sheet_name=sheet_name, encoding=encoding, keep_extra=keep_extra
    )
    report = _Report()
    n_read = len(frame)
    _check_columns(frame, wanted, used_sep, isinstance(src, pd.DataFrame))
    canonical = (C.CUSTOMER_ID, C.DATE, C.AMOUNT)
    extras = (
        [c for c in frame.columns if c not in need and c not in canonical] if keep_extra else []
    )

    pos = np.arange(n_read, dtype=np.int64)
    if rows.kind != "index" and n_read:
        # blank lines / empty worksheet rows: every column missing
        # (an id column read with keep_default_na=False holds "" there instead of NaN)
        empty = np.ones(len(frame), dtype=bool)
        for col in frame.columns:
            values = frame[col]
            missing = values.isna().to_numpy(dtype=bool)
            if not (pd.api.types.is_numeric_dtype(values)
                    or pd.api.types.is_datetime64_any_dtype(values)):
                missing = missing | values.eq("").to_numpy(dtype=bool, na_value=True)
            empty &= missing
            if not empty.any():
                break
        if empty.any():
            n = int(empty.sum())
            where = rows.describe(pos[empty][:_N_EXAMPLES])
            report.add("blank lines", "skipped", n, where,
                       f"{source}: skipped {_plural(n, 'blank line')} "
                       f"({_examples(where, None, n)}).")
            frame = frame[~empty]
            pos = pos[~empty]
    if len(frame) == 0:
        raise EmptyInputError(
            f"{source} holds no transactions (columns {', '.join(map(str, frame.columns))}; "
            "0 data rows). Check the export or the filter that produced it.",
            rule="at least one row",
        )

    ids = _parse_ids(frame[customer_id], customer_id, pos, rows)
    dates = _parse_dates(frame[date], date, date_format, timezone, pos, rows, report)
    amounts = _parse_amounts(frame[amount], amount, pos, rows, report)
    codes, n_uniq, order = _customer_order(frame[customer_id], ids, dates)
    keep = np.ones(len(ids), dtype=bool)

    # ---- duplicates
    dup = _exact_duplicates(codes, dates, amounts, order)
    if dup.any():
        n = int(dup.sum())
        ex = _row_examples(rows, pos, ids, dates, amounts, dup)
        has_time = bool((dates != dates.astype("datetime64[D]")).any())
        action = duplicates
        if duplicates == "auto":
            action = "drop" if has_time else "keep"
        if action == "raise":
            raise InvalidValueError(
                f"Columns {customer_id!r}, {date!r}, {amount!r}: rows must not repeat; "
                f"{_plural(n, 'row')} repeat an earlier row's customer, date and amount "
                f"({'; '.join(ex)}{' and more' if n > len(ex) else ''}). Remove them, or pass "
                "duplicates='drop' or 'keep'.",
                column=customer_id,
                rule="no exact duplicates",
                offenders=rows.labels(pos[dup][:_N_EXAMPLES]),
                n_offending=n,
            )
        if action == "drop":
            report.add("exact duplicate rows (same customer, date and amount)",
                       "dropped (first of each kept)", n, ex,
                       f"Dropped {_plural(n, 'exact duplicate row')} (same customer, date and "
                       f"amount as an earlier row; {'; '.join(ex)}). Pass duplicates='keep' to "
                       "keep them.")
            keep &= ~dup
        else:
            why = ("dates have no time of day, so these can be separate orders on one day"
                   if duplicates == "auto" else "duplicates='keep'")
            report.add("possible duplicate rows (same customer, date and amount)",
                       f"kept ({why}); pass duplicates='drop' to remove", n, ex, None)

    # ---- zero amounts
    zero = keep & (amounts == 0)
    if zero.any():
        n = int(zero.sum())
        ex = _row_examples(rows, pos, ids, dates, amounts, zero)
        if zero_amounts == "raise":
            raise InvalidValueError(
                f"Column {amount!r} (amount): must not be zero; {_plural(n, 'row')} "
                f"{'has' if n == 1 else 'have'} a zero amount ({'; '.join(ex)}). Remove them, "
                "or pass zero_amounts='keep' or 'drop'.",
                column=amount, rule="amount != 0",
                offenders=rows.labels(pos[zero][:_N_EXAMPLES]), n_offending=n,
            )
        if zero_amounts == "drop":
            report.add("zero amounts", "dropped", n, ex,
                       f"Dropped {_plural(n, 'row')} with a zero amount ({'; '.join(ex)}). "
                       "Pass zero_amounts='keep' to count free orders as purchases.")
            keep &= ~zero
        else:
            report.add("zero amounts", "kept (a free order is still a purchase)", n, ex, None)

    # ---- negative amounts
    neg = keep & (amounts < 0)
    if neg.any():
        n = int(neg.sum())
        ex = _row_examples(rows, pos, ids, dates, amounts, neg)
        total = float(-amounts[neg].sum())
        if negative_amounts == "raise":
            raise InvalidValueError(
                f"Column {amount!r} (amount): must not be negative; {_plural(n, 'row')} "
                f"{'has' if n == 1 else 'have'} a negative amount (returns?) ({'; '.join(ex)}). "
                "Remove them, or pass negative_amounts='net', 'drop' or 'keep'.",
                column=amount, rule="amount >= 0",
                offenders=rows.labels(pos[neg][:_N_EXAMPLES]), n_offending=n,
            )
        if negative_amounts == "drop":
            report.add("negative amounts (returns)", "dropped", n, ex,
                       f"Dropped {_plural(n, 'row')} with a negative amount (total "
                       f"{total:,.2f}; {'; '.join(ex)}). Pass negative_amounts='net' to "
                       "subtract returns from purchases.")
            keep &= ~neg
        elif negative_amounts == "keep":
            report.add("negative amounts (returns)", "kept as negative rows", n, ex, None)
        else:
            sel = np.flatnonzero(keep)
            target, netted, gone = _net_returns(codes[sel], dates[sel], amounts[sel])
            orphan_local = (amounts[sel] < 0) & (target < 0)
            reduced_local = (amounts[sel] > 0) & (netted != amounts[sel]) & ~gone
            matched_local = (amounts[sel] < 0) & (target >= 0)
            reduction = amounts[sel] - netted  # >= 0 on purchases
            absorbed = float(np.minimum(reduction, np.where(amounts[sel] > 0,
                                                            amounts[sel], 0)).sum())
            returned_matched = float(-amounts[sel][matched_local].sum())
            discarded = returned_matched - absorbed + float(-amounts[sel][orphan_local].sum())
            had = np.bincount(codes[sel][amounts[sel] > 0], minlength=n_uniq) > 0
            amounts = amounts.copy()
            amounts[sel] = np.where(amounts[sel] > 0, netted, amounts[sel])
            drop_local = (amounts[sel] < 0) | gone
            keep[sel[drop_local]] = False
            lost = int((had & ~(np.bincount(codes[keep], minlength=n_uniq) > 0)).sum())
            n_orphan, n_gone, n_red = int(orphan_local.sum()), int(gone.sum()), int(
                reduced_local.sum())
            detail = (f"{_plural(n_red, 'purchase')} reduced, {_plural(n_gone, 'purchase')} "
                      f"fully returned and removed, {_plural(n_orphan, 'return')} with no "
                      f"earlier purchase dropped, {_plural(lost, 'customer')} left with no "
                      f"purchases; return value {total:,.2f}, of which {discarded:,.2f} "
                      "exceeded the purchases and was discarded")
            report.add("negative amounts (returns)",
                       "netted against the same customer's earlier purchase; " + detail, n, ex,
                       f"Netted {_plural(n, 'negative amount')} (returns) against earlier "
                       f"purchases of the same customer: {detail} ({'; '.join(ex)}). Pass "
                       "negative_amounts='drop', 'keep' or 'raise' for another policy.")

    if not keep.any():
        raise EmptyInputError(
            f"{source}: no transactions are left after the data policies "
            f"({'; '.join(r['check'] + ': ' + r['action'] for r in report.records)}). Check the "
            "amounts, or choose other policies (negative_amounts=, zero_amounts=, duplicates=).",
            rule="at least one row",
        )

    if isinstance(order, slice) and keep.all():  # already in output order: plain copies
        columns = {C.CUSTOMER_ID: ids.array.copy(), C.DATE: dates.copy(),
                   C.AMOUNT: np.array(amounts, copy=True)}
    else:
        if isinstance(order, slice):
            order = np.arange(len(ids))
        order = order[keep[order]]
        columns = {C.CUSTOMER_ID: ids.array.take(order), C.DATE: dates[order],
                   C.AMOUNT: amounts[order]}
    out = pd.DataFrame(columns)
    if extras:
        for col in extras:  # ``order`` indexes the rows of ``frame`` (after blank lines)
            out[col] = frame[col].iloc[order].to_numpy()
    out.attrs["data_quality"] = report.records
    out.attrs["n_rows_read"] = int(n_read)
    out.attrs["source"] = source
    for message in report.warnings:
        warnings.warn(message, DataQualityWarning, stacklevel=2)
    return out


def _customer_order(
    raw: pd.Series, ids: pd.Series, dates: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray | slice]:
    """Return the customer codes, the number of customers and the output row order.

    Codes number the customers in order of first appearance; the order sorts by customer
    (see :func:`_id_rank`), then date, ties in input order (a stable sort). It is
    ``slice(None)`` when the rows are in that order already (a log exported by customer),
    and the sort is skipped. Integer ids (0 to 10**18 - 1, whose text is plain digits and
    so sorts numerically) are coded from the integers themselves, without hashing text.
    """
    is_int = isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "iu"
    values = raw.to_numpy() if is_int else None
    if values is not None and values.size and 0 <= values.min() and values.max() < 10**18:
        codes, uniques = pd.factorize(values)  # the same codes as factorizing their text
        rank = np.empty(len(uniques), dtype=np.int64)
        rank[np.argsort(uniques, kind="stable")] = np.arange(len(uniques))
    else:
        codes, uniques = pd.factorize(ids)
        rank = _id_rank(uniques)
    key = rank[codes]
    t = dates.view(np.int64)
    same = key[1:] == key[:-1]
    in_order = bool(np.all(key[1:] >= key[:-1])) and bool(
        np.all(t[1:][same] >= t[:-1][same]))
    if in_order:
        return codes, len(uniques), slice(None)
    return codes, len(uniques), np.lexsort((t, key))


def _id_rank(uniques: Any) -> np.ndarray:
    """Sort rank of each unique id: numeric if all are digit strings, else text order."""
    u = pd.Series(uniques, dtype="str")
    if len(u) and bool(u.str.fullmatch(r"\d{1,18}").all()):
        # numeric order; equal numbers ("7", "007") differ only in leading zeros
        order = np.lexsort((u.str.len().to_numpy(dtype=np.int64), u.astype(np.int64).to_numpy()))
    else:
        order = u.argsort(kind="stable").to_numpy()
    rank = np.empty(len(u), dtype=np.int64)
    rank[order] = np.arange(len(u))
    return rank
