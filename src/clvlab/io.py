"""Load a transaction log from CSV, Parquet, XLSX or a DataFrame and validate it.

:func:`load_transactions` is the boundary of clvlab: everything downstream (RFM summary,
models, reports) trusts what it returns. Every problem it finds either stops the load with
a :class:`~clvlab.exceptions.DataValidationError` that names the column, the rule, the
offending rows as the user sees them and what to do, or is handled by a documented policy
that is counted in a :class:`~clvlab.exceptions.DataQualityWarning` and recorded in
``tx.attrs["data_quality"]``. The policies are described in ``docs/data-policies.md``.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import difflib
import errno
import gzip
import io
import lzma
import os
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._memory import release_unused
from clvlab.exceptions import (
    DataQualityWarning,
    DataValidationError,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
)
from clvlab.rfm import _factorize_integers

__all__ = ["load_transactions", "SUPPORTED_EXTENSIONS"]

NegativePolicy = Literal["net", "drop", "keep", "raise"]
ZeroPolicy = Literal["keep", "drop", "raise"]
DuplicatePolicy = Literal["auto", "drop", "keep", "raise"]

_CSV_EXT = tuple(
    base + comp for base in (".csv", ".txt", ".tsv") for comp in ("", ".gz", ".bz2", ".xz", ".zip")
) + (".zip",)  # a ZIP archive holding one delimited file
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
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, OSError, lzma.LZMAError, zlib.error, zipfile.BadZipFile, RuntimeError,
)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return "".join(path.suffixes[-2:]).lower() or "(none)"


def _compression(ext: str) -> str | None:
    for end, kind in _COMPRESSION.items():
        if ext.endswith(end):
            return kind
    return None


def _corrupt(path: Path, compression: str | None, exc: BaseException) -> NotATableError:
    what = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz", "zip": "ZIP"}.get(compression or "", "")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return NotATableError(
        f"{path.name} is truncated or corrupt: it could not be read as a {what} "
        f"compressed file ({detail}). Check that the download or copy is complete, or "
        "decompress it yourself and load the CSV.",
        rule="complete compressed file",
    )


@contextlib.contextmanager
def _open_binary(path: Path, compression: str | None) -> Iterator[Any]:
    """Open the file's (decompressed) bytes; a ``.zip`` must hold exactly one file."""
    if compression == "zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise NotATableError(
                    f"{path.name} is a ZIP archive with {len(members)} files "
                    f"({', '.join(m.filename for m in members[:5]) or 'none'}); clvlab reads "
                    "a ZIP holding exactly one CSV. Extract the transaction file and load it.",
                    rule="one file per ZIP archive",
                )
            with zf.open(members[0]) as fh:
                yield fh
        return
    openers: dict[str, Callable[..., Any]] = {"gzip": gzip.open, "bz2": bz2.open,
                                               "xz": lzma.open}
    opener = openers.get(compression or "", open)
    with opener(path, "rb") as fh:
        yield fh


def _head_bytes(path: Path, compression: str | None, n: int = 65536) -> bytes:
    try:
        with _open_binary(path, compression) as fh:
            return bytes(fh.read(n))
    except NotATableError:
        raise
    except PermissionError as exc:
        raise _unreadable(path, exc) from None
    except _DECOMPRESS_ERRORS as exc:
        if compression is None:
            raise _unreadable(path, exc) from None
        raise _corrupt(path, compression, exc) from None


def _unreadable(path: Path, exc: BaseException) -> NotATableError:
    if isinstance(exc, PermissionError):
        return NotATableError(
            f"{str(path)!r} cannot be read: permission denied. Check the file's permissions "
            "(and those of its folders), or copy it to a place this process may read.",
            rule="readable file",
        )
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return NotATableError(
        f"{str(path)!r} cannot be read ({reason}). Check the path and the file.",
        rule="readable file",
    )


_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)


def _sniff_encoding(head: bytes) -> tuple[str, str | None]:
    """Tell a text file's encoding from its first bytes: ``(encoding, how it was found)``.

    A byte-order mark decides; without one, text of mostly ASCII characters in UTF-16 or
    UTF-32 shows NUL bytes at fixed positions (every second or three in four bytes),
    which is checked and confirmed by decoding. Otherwise UTF-8.
    """
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc, None if enc == "utf-8-sig" else "byte-order mark"
    size = len(head)
    if size >= 8 and head.count(0) >= size // 4:
        arr = np.frombuffer(head[: size - size % 4], dtype=np.uint8).reshape(-1, 4)
        nul = arr == 0
        for enc, pattern in (
            ("utf-32-le", (False, True, True, True)), ("utf-32-be", (True, True, True, False)),
        ):
            if nul[:, [i for i, z in enumerate(pattern) if z]].mean() > 0.95:
                if _decodes(head, enc, 4):
                    return enc, "NUL-byte pattern (no byte-order mark)"
        pairs = nul.reshape(-1, 2)
        for enc, col in (("utf-16-le", 1), ("utf-16-be", 0)):
            if pairs[:, col].mean() > 0.9 and pairs[:, 1 - col].mean() < 0.1:
                if _decodes(head, enc, 2):
                    return enc, "NUL-byte pattern (no byte-order mark)"
    return "utf-8", None


def _decodes(head: bytes, encoding: str, unit: int) -> bool:
    try:
        text = head[: len(head) - len(head) % unit].decode(encoding)
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def _check_text(path: Path, head: bytes, encoding: str, compression: str | None) -> None:
    if compression != "zip" and head.startswith(b"PK\x03\x04"):
        raise NotATableError(
            f"{path.name} is a ZIP archive (an Excel workbook?), not a text table. If it is a "
            "workbook, give it the .xlsx extension; if it holds a CSV, name it .csv.zip "
            "(or extract the CSV first).",
            rule="text table",
        )
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    except LookupError:
        raise ValueError(
            f"encoding must be a text encoding Python knows (e.g. 'utf-8', 'latin-1', "
            f"'utf-16'); got {encoding!r}."
        ) from None
    if "\x00" in text:
        raise NotATableError(
            f"{path.name} is a binary file (it holds NUL bytes), not a text table. Export the "
            "transactions as CSV, XLSX or Parquet (if it is text in another encoding, pass "
            "encoding=).",
            rule="text table",
        )


def _read_header(
    path: Path, sep: str, encoding: str, compression: str | None
) -> list[str]:
    """Return the header line's field names as written (pandas would rename repeats)."""
    first = pd.read_csv(path, sep=sep, nrows=1, header=None, dtype=str, encoding=encoding,
                        compression=compression, keep_default_na=False)
    if len(first) == 0:
        return []
    return [str(v) for v in first.iloc[0].tolist()]


def _csv_error(path: Path, exc: BaseException, encoding: str) -> Exception:
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


def _field_count_error(
    path: Path, sep: str, encoding: str, compression: str | None, header: list[str]
) -> NotATableError:
    """Lines with more fields than the header: which, how many, and the likely cause."""
    n_head = len(header)
    bad: list[tuple[int, int, str]] = []
    n_bad = 0
    only_empty_extras = True
    if len(sep) == 1:
        with _open_binary(path, compression) as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            for line_no, fields in enumerate(csv.reader(text, delimiter=sep), start=1):
                if line_no > 1 and len(fields) > n_head:
                    n_bad += 1
                    only_empty_extras &= all(not f.strip() for f in fields[n_head:])
                    if len(bad) < _N_EXAMPLES:
                        shown = sep.join(fields)
                        bad.append((line_no, len(fields), shown[:80] + (
                            "..." if len(shown) > 80 else "")))
    where = "; ".join(f"line {ln} has {k}: {txt!r}" for ln, k, txt in bad)
    more = f" and {n_bad - len(bad):,} more" if n_bad > len(bad) else ""
    sep_name = _SEP_NAMES.get(sep, repr(sep))
    cause = (
        f"Every extra field is empty: the lines end with a trailing {sep_name} (a "
        "delimiter after the last value). Remove it in the export, or give that empty last "
        "column a name in the header."
        if n_bad and only_empty_extras else
        "Likely cause: an unquoted "
        f"{sep_name} inside a value -- in an amount, a thousands separator or decimal "
        "comma (1,234.50 must be quoted as \"1,234.50\" in a comma-separated file, or the "
        "file exported with ';' as delimiter); in a name or address, the field must be "
        "quoted."
        if sep == "," else
        f"Likely cause: an unquoted {sep_name} inside a value; quote such fields, or pass "
        "sep= if the file uses another delimiter."
    )
    lines = (f"{_plural(n_bad, 'line')} {'has' if n_bad == 1 else 'have'} more fields than "
             f"the header ({where}{more})" if n_bad else "lines have more fields than the "
             "header")
    return NotATableError(
        f"{path.name}: {lines}; the header has {n_head} fields "
        f"({', '.join(repr(h) for h in header[:10])}). Values would shift into the wrong "
        f"columns, so nothing was loaded. {cause}",
        rule="fields per line <= header",
        offenders=[ln for ln, _, _ in bad],
        n_offending=n_bad or None,
    )


def _repeated_columns(header: Sequence[Any], need: list[str], keep_extra: bool,
                      source: str) -> None:
    """Refuse a header naming a needed column twice (pandas would silently rename one)."""
    names = [str(h) for h in header]
    counts = pd.Series(names).value_counts()
    repeated = [n for n in counts.index[counts > 1] if n in need or (keep_extra and n)]
    if repeated:
        name = repeated[0]
        where = [i + 1 for i, h in enumerate(names) if h == name]
        raise InvalidValueError(
            f"Column {name!r} appears {len(where)} times in {source} (positions "
            f"{', '.join(map(str, where))}); each column must have one name, or clvlab "
            "cannot know which one holds the values (gross or net amount?). Rename the "
            "copies in the file, or drop the ones not wanted, then load again.",
            column=name,
            rule="unique column names",
            offenders=where,
            n_offending=len(where),
        )


# pandas' default missing-value markers, applied to every column but the customer id
_NA_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)


def _read_csv(
    path: Path, ext: str, sep: str | None, encoding: str | None, need: list[str],
    keep_extra: bool, report: _Report,
) -> tuple[pd.DataFrame, list[str], str | None]:
    """Read a delimited file; returns the frame, its header and the delimiter used."""
    compression = _compression(ext)
    head = _head_bytes(path, compression)
    if encoding is None:
        encoding, how = _sniff_encoding(head)
        if how is not None:
            report.add("text encoding", f"read as {encoding.upper()} (detected from the "
                       f"{how})", 1, [], None)
    _check_text(path, head, encoding, compression)
    try:
        if sep is None:
            if ".tsv" in ext:
                sep, header = "\t", _read_header(path, "\t", encoding, compression)
            else:
                # the candidate that splits the header line into the most fields
                best: tuple[int, str, list[str]] | None = None
                for cand in _SEP_CANDIDATES:
                    cols = _read_header(path, cand, encoding, compression)
                    if best is None or len(cols) > best[0]:
                        best = (len(cols), cand, cols)
                assert best is not None
                _, sep, header = best
        else:
            header = _read_header(path, sep, encoding, compression)
        if not header:
            raise pd.errors.EmptyDataError("no header")
        _repeated_columns(header, need, keep_extra, path.name)
        if not set(need) <= set(header):  # let the caller report the missing columns
            return pd.DataFrame(columns=header), header, sep
        dtype = {c: "str" for c in need}  # ids, dates and amounts stay text: clvlab reads them
        # customer ids are never read as missing values: "NA" or "null" can be real ids
        # (an empty id still fails the blank-id check); other columns keep pandas' markers
        na_values = {c: list(_NA_MARKERS) for c in header if c != need[0]}
        # no usecols: with it pandas silently ignores surplus fields on a line (an unquoted
        # "1,234.50" would become amount 1); without it such a line is an error
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=sep,
                encoding=encoding,
                compression=compression,
                dtype=dtype,
                keep_default_na=False,
                na_values=na_values,
                skip_blank_lines=False,  # keeps row position == line number - 2
            )
    except DataValidationError:
        raise
    except PermissionError as exc:
        raise _unreadable(path, exc) from None
    except pd.errors.ParserError as exc:
        if "Expected" in str(exc) and "fields" in str(exc) and sep is not None:
            raise _field_count_error(path, sep, encoding, compression, header) from None
        raise _csv_error(path, exc, encoding) from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise _csv_error(path, exc, encoding) from None
    except _DECOMPRESS_ERRORS as exc:
        if compression is None:
            raise _unreadable(path, exc) from None
        raise _corrupt(path, compression, exc) from None
    if not isinstance(frame.index, pd.RangeIndex) and sep is not None:
        # every data line has more fields than the header: pandas took the first
        # column(s) as the index and shifted the rest one column to the left
        raise _field_count_error(path, sep, encoding, compression, header)
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
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... on corrupt files
        raise NotATableError(
            f"{path.name} could not be read as a Parquet file ({type(exc).__name__}: {exc}). "
            "Check that the file is complete and really Parquet.",
            rule="Parquet file",
        ) from None
    _repeated_columns(names, need, keep_extra, path.name)
    if not set(need) <= set(names):  # let the caller report the missing columns
        return pd.DataFrame(columns=names)
    try:
        columns = None if keep_extra else [c for c in names if c in need]
        if columns is not None:
            lean = _read_parquet_plain(path, columns)
            if lean is not None:
                return lean
        return pq.read_table(path, columns=columns).to_pandas()
    except Exception as exc:
        raise NotATableError(
            f"{path.name} could not be read as a Parquet file ({type(exc).__name__}: {exc}). "
            "Check that the file is complete and really Parquet.",
            rule="Parquet file",
        ) from None


def _plain_arrow_dtype(typ: Any) -> np.dtype | None:
    """Return the numpy dtype an Arrow column of this type becomes (1:1), else None.

    Integers, floats and time-zone-free timestamps convert to numpy without Python
    objects; every other type (text, decimals, dictionaries, dates, zones) goes through
    ``to_pandas`` as before.
    """
    import pyarrow.types as pat

    if pat.is_integer(typ) or (pat.is_floating(typ) and not pat.is_float16(typ)):
        return np.dtype(typ.to_pandas_dtype())
    if pat.is_timestamp(typ) and typ.tz is None:
        return np.dtype(f"datetime64[{typ.unit}]")
    return None


def _read_parquet_plain(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """Read plain numeric/timestamp columns row group by row group into numpy arrays.

    The common log (integer or float ids, timestamps, float amounts) needs no Arrow
    table of the whole file and no pandas conversion copy: each row group's column is
    decoded and copied into one preallocated array, then released. Returns None (the
    caller reads the file the general way) when a column is of another type or holds
    nulls in an integer or timestamp column (pandas would turn those into floats/NaT).
    The values are those ``read_table(...).to_pandas()`` gives, in numpy dtypes.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, pre_buffer=False)
    schema = pf.schema_arrow
    index_columns = (schema.pandas_metadata or {}).get("index_columns", [])
    if any(name in index_columns for name in columns):  # to_pandas makes it the index
        return None
    dtypes = {}
    for name in columns:
        dtype = _plain_arrow_dtype(schema.field(name).type)
        if dtype is None:
            return None
        dtypes[name] = dtype
    meta = pf.metadata
    n = meta.num_rows
    out = {name: np.empty(n, dtype=dtypes[name]) for name in columns}
    start = 0
    for g in range(meta.num_row_groups):
        stop = start + meta.row_group(g).num_rows
        for name in columns:
            chunk = pf.read_row_group(g, columns=[name], use_threads=False).column(0)
            if chunk.null_count and out[name].dtype.kind != "f":
                return None
            values = chunk.to_numpy(zero_copy_only=False)  # floats: nulls become NaN
            if values.dtype != out[name].dtype or values.size != stop - start:
                return None  # pragma: no cover - a type this mapping does not foresee
            out[name][start:stop] = values
            del chunk, values
        start = stop
    if start != n:  # pragma: no cover - inconsistent metadata
        return None
    del pf
    release_unused()  # the decoding buffers
    return pd.DataFrame(out, copy=False)


def _read_xlsx(path: Path, sheet_name: str | int, need: list[str],
               keep_extra: bool) -> pd.DataFrame:
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
            frame = pd.read_excel(book, sheet_name=sheet_name, dtype=object, header=None)
        except Exception as exc:
            raise NotATableError(
                f"Sheet {sheet_name!r} of {path.name} could not be read as a table "
                f"({type(exc).__name__}: {exc}).",
                rule="XLSX table",
            ) from None
    if len(frame) == 0:
        return pd.DataFrame()
    header = ["" if pd.isna(v) else str(v) for v in frame.iloc[0].tolist()]
    _repeated_columns(header, need, keep_extra, f"sheet {sheet_name!r} of {path.name}")
    names = []
    for i, h in enumerate(header):  # as pandas names them: blank -> "Unnamed: i"
        names.append(h if h else f"Unnamed: {i}")
    seen: dict[str, int] = {}
    for i, h in enumerate(names):  # other repeats (not needed columns): pandas' suffixes
        if h in seen:
            seen[h] += 1
            names[i] = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = names
    return body


def _check_path(path: Path) -> None:
    """Name exactly why a path cannot be used: missing, dangling link, loop, permission."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotATableError(
                f"{str(path)!r} is a symbolic link loop (following its links leads back to "
                "itself), so there is no file to read. Point the link at the real file, or "
                "pass that file's path.",
                rule="readable file",
            ) from None
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                raise FileNotFoundError(
                    f"Transaction file {str(path)!r} is a symbolic link to "
                    f"{os.readlink(path)!r}, which does not exist. Fix the link or pass the "
                    "real file's path."
                ) from None
            raise FileNotFoundError(
                f"Transaction file {str(path)!r} does not exist (working directory: "
                f"{Path.cwd()}). Check the path."
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NotATableError(
                f"{str(path)!r} cannot be reached: permission denied on one of its folders. "
                "Check the folders' permissions, or copy the file somewhere readable.",
                rule="readable file",
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise FileNotFoundError(
                f"Transaction file {str(path)!r} does not exist: a part of the path is a "
                "file, not a folder. Check the path."
            ) from None
        raise _unreadable(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise NotATableError(
            f"{str(path)!r} is a directory, not a file. Pass the path of the transaction file.",
            rule="file",
        )
    if not stat.S_ISREG(st.st_mode):
        raise NotATableError(
            f"{str(path)!r} is not a regular file (a device, pipe or socket). Save the "
            "transactions to a file and pass its path.",
            rule="file",
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _read(
    src: Any,
    need: list[str],
    *,
    sep: str | None,
    sheet_name: str | int,
    encoding: str | None,
    keep_extra: bool,
    report: _Report,
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
    _check_path(path)
    ext = _suffix(path)
    if ext in _CSV_EXT:
        frame, _, used_sep = _read_csv(path, ext, sep, encoding, need, keep_extra, report)
        return frame, _Rows("line"), path.name, used_sep
    if ext in _PARQUET_EXT:
        frame = _read_parquet(path, need, keep_extra)
        return frame, _Rows("row", offset=1), path.name, None
    if ext in _XLSX_EXT:
        frame = _read_xlsx(path, sheet_name, need, keep_extra)
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
        # integers never miss, and their text is plain digits (never blank, nothing to
        # strip): straight to text in one Arrow cast (what astype("str") does), its
        # temporaries in the system allocator so that they are given back when freed
        try:
            import pyarrow as pa
            import pyarrow.compute as pc
        except ImportError:  # pragma: no cover - pandas' own str dtype then
            return raw.astype("str")
        text = pc.cast(pa.array(raw.to_numpy()), pa.large_string(),
                       memory_pool=pa.system_memory_pool())
        return pd.Series(pd.array(text, dtype="str"))
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


#: ``date_format`` values that are not strftime formats.
DATE_FORMAT_CHOICES = ("dayfirst", "monthfirst", "mixed", "ISO8601")

_NUMERIC_DMY = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})(?P<rest>[ T].*)?$")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p")


def _describe_format(fmt: str) -> str:
    if fmt == "ISO8601":
        return "ISO 8601 (year first, e.g. 2024-03-01)"
    d, m = fmt.find("%d"), fmt.find("%m")
    order = ""
    if d >= 0 and m >= 0:
        order = "day first, " if d < m else "month first, "
    return f"{order}{fmt}"


def _year_day_month(fmt: str) -> bool:
    """Year, then day, then month (2024-13-01): no real-world convention, never inferred."""
    y = max(fmt.find("%Y"), fmt.find("%y"))
    d, m = fmt.find("%d"), fmt.find("%m")
    return y >= 0 and d >= 0 and m >= 0 and y < d < m


def _date_candidates(values: np.ndarray) -> list[str]:
    """List the formats (strftime, or "ISO8601") that might read the distinct values."""
    from pandas._libs.tslibs.parsing import guess_datetime_format

    n = len(values)
    sample = values if n <= 200 else values[np.linspace(0, n - 1, 200).astype(np.int64)]
    found: list[str] = ["ISO8601"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for v in sample:
            v = str(v)
            for dayfirst in (False, True):
                try:
                    fmt = guess_datetime_format(v, dayfirst=dayfirst)
                except (ValueError, TypeError):
                    fmt = None
                if fmt and fmt not in found:
                    found.append(fmt)
            m = _NUMERIC_DMY.match(v)
            if m:  # pandas does not guess two-digit years: d/m/yy and m/d/yy, with times
                sep, year = m.group(2), "%Y" if len(m.group(4)) == 4 else "%y"
                rest = m.group("rest") or ""
                times = [""] if not rest else [rest[0] + t for t in _TIME_FORMATS]
                for first, second in (("%d", "%m"), ("%m", "%d")):
                    for tail in times:
                        fmt = f"{first}{sep}{second}{sep}{year}{tail}"
                        if fmt not in found:
                            found.append(fmt)
    return [f for f in found if not _year_day_month(f)]


def _parse_with(values: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(values, format=fmt, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")


def _infer_date_format(
    uniq: pd.Series, counts: np.ndarray, prefer: str | None, name: str
) -> tuple[str | None, pd.Series]:
    """One format for the whole column, decided from all its distinct values.

    Returns ``(format, parsed distinct values)``. When no single format reads every value
    these are the format that reads most rows and its result (NaT elsewhere), for the
    error message. Raises when two formats read every
    value differently (``12/10/2023``: 10 December or 12 October?).
    """
    iso = _parse_with(uniq, "ISO8601")
    if iso.notna().all():
        return "ISO8601", iso
    candidates = _date_candidates(uniq.to_numpy())
    if prefer is not None:
        def keep(fmt: str) -> bool:
            d, m = fmt.find("%d"), fmt.find("%m")
            if d < 0 or m < 0:
                return True
            return d < m if prefer == "dayfirst" else m < d
        candidates = [f for f in candidates if keep(f)]
    results: list[tuple[str, pd.Series, int]] = []
    for fmt in candidates:
        parsed = iso if fmt == "ISO8601" else _parse_with(uniq, fmt)
        ok = parsed.notna().to_numpy()
        results.append((fmt, parsed, int(counts[ok].sum())))
    full = [(fmt, parsed) for fmt, parsed, cover in results if cover == int(counts.sum())]
    if not full:
        best = max(results, key=lambda r: r[2])
        return best[0], best[1]
    first_fmt, first = full[0]
    base = first.to_numpy(dtype="datetime64[ns]").view(np.int64)
    for fmt, parsed in full[1:]:
        other = parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)
        differ = np.flatnonzero(other != base)
        if differ.size:
            shown = "; ".join(
                f"{uniq.iloc[i]!r} is {pd.Timestamp(first.iloc[i]).date()} read "
                f"{_describe_format(first_fmt)} or {pd.Timestamp(parsed.iloc[i]).date()} "
                f"read {_describe_format(fmt)}"
                for i in differ[:3]
            )
            day_fmt = next((f for f in (first_fmt, fmt) if 0 <= f.find("%d") < f.find("%m")),
                           first_fmt)
            raise InvalidValueError(
                f"Column {name!r} (date): the dates can be read in two ways and the column "
                f"does not decide which: every value fits both {first_fmt!r} and {fmt!r}, and "
                f"{_plural(int(counts[differ].sum()), 'row')} would get a different date "
                f"({shown}). clvlab does not guess: pass date_format={day_fmt!r} (strftime "
                "codes) or date_format='dayfirst' / 'monthfirst'.",
                column=name,
                rule="one reading of the dates",
                offenders=[str(uniq.iloc[i]) for i in differ[:_N_EXAMPLES]],
                n_offending=int(counts[differ].sum()),
            )
    return first_fmt, first


_OFFSET_RE = re.compile(
    r"(?:(?P<zulu>[Zz]|UTC|GMT)|(?P<sign>[+-])(?P<hh>\d{2})(?::?(?P<mm>\d{2}))?)\s*$"
)


def _offsets(text: pd.Series) -> np.ndarray:
    """UTC offsets (ns) of zone-carrying values: 'Z', 'UTC', 'GMT', '+01:00', '-0530'."""
    parts = text.str.extract(_OFFSET_RE)
    hh = pd.to_numeric(parts["hh"], errors="coerce").fillna(0).to_numpy()
    mm = pd.to_numeric(parts["mm"], errors="coerce").fillna(0).to_numpy()
    sign = np.where(parts["sign"].to_numpy(dtype=object) == "-", -1, 1)
    return (sign * (hh * 3600 + mm * 60) * 1_000_000_000).astype(np.int64)


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
    elif pd.api.types.is_object_dtype(dtype):
        text = raw.astype(str)  # datetime objects -> ISO text keeps their offsets
    else:
        text = raw
    # everything below works on the distinct values (a log repeats its dates heavily)
    codes0, uniq0 = pd.factorize(text, sort=False)
    stripped = pd.Series(np.asarray(uniq0, dtype=object), dtype=object).astype(str).str.strip()

    def row_text() -> pd.Series:
        """Return the stripped text of every row (for messages)."""
        return pd.Series(stripped.to_numpy(dtype=object)[codes0], dtype=object)

    if fmt is not None and ("%z" in fmt or "%Z" in fmt):
        text = row_text()
        # an explicit format with the zone: pandas parses zone and all
        utc = _parse_with_utc(text, fmt)
        bad = utc.isna().to_numpy()
        if bad.any():
            raise _date_error(name, bad, pos, rows, raw, text, fmt, None)
        local = utc.dt.tz_convert(tz).dt.tz_localize(None)
        wall = _parse_with(text.str.replace(_TZ_STRIP_RE, "", regex=True),
                           fmt.replace("%z", "").replace("%Z", "").strip())
        _record_tz(report, name, tz, wall.fillna(local), local, np.ones(len(text), bool),
                   pos, rows, n_naive=0)
        return _checked_ns(local, text, name, pos, rows)

    aware_u = stripped.str.contains(_TZ_AWARE_RE, regex=True).to_numpy(dtype=bool)
    if aware_u.any():
        wall_u = stripped.where(~aware_u, stripped.str.replace(_TZ_STRIP_RE, "", regex=True))
        codes_w, uniq_values = pd.factorize(wall_u, sort=False)
        codes = codes_w[codes0]
    else:
        codes, uniq_values = codes0, stripped.to_numpy(dtype=object)
    aware = aware_u[codes0]
    uniq = pd.Series(np.asarray(uniq_values, dtype=object), dtype=object)
    counts = np.bincount(codes, minlength=len(uniq))
    guessed_u = np.zeros(len(uniq), dtype=bool)
    used = fmt
    if fmt == "mixed":  # the user asked for row-by-row guessing: done, and counted
        parsed_u, guessed_u = _parse_naive_strings(uniq, None)
        used = None
    elif fmt is not None and fmt not in ("dayfirst", "monthfirst"):
        parsed_u = _parse_with(uniq, fmt)
    else:
        used, parsed_u = _infer_date_format(uniq, counts, fmt, name)
    ok_u = parsed_u.notna().to_numpy()
    if not ok_u.all():
        best = used if ok_u.any() else None
        raise _date_error(name, ~ok_u[codes], pos, rows, raw, row_text(),
                          fmt if fmt not in (None, "dayfirst", "monthfirst") else None, best)
    wall_ns = _ns_by_code(parsed_u, codes, name, pos, rows, raw)
    if used not in (None, "ISO8601") and fmt in (None, "dayfirst", "monthfirst"):
        report.add(
            "date format",
            f"inferred from the whole column: {_describe_format(used)}",
            int(len(text)),
            [f"{uniq.iloc[i]!r} -> {pd.Timestamp(parsed_u.iloc[i]).date()}"
             for i in range(min(_N_EXAMPLES, len(uniq)))],
            None,
        )
    if guessed_u.any():
        guessed = guessed_u[codes]
        n = int(guessed.sum())
        where = rows.describe(pos[guessed][:_N_EXAMPLES])
        text = row_text()
        shown = [f"{w}: {text[guessed].iloc[i]!r} -> {pd.Timestamp(wall_ns[guessed][i]).date()}"
                 for i, w in enumerate(where)]
        report.add(
            "dates in a second format",
            "parsed by guessing the format row by row (date_format='mixed')",
            n,
            shown,
            f"Column {name!r} (date): {_plural(n, 'value')} did not match the ISO 8601 format "
            f"and {'was' if n == 1 else 'were'} parsed by guessing the format row by row, as "
            f"date_format='mixed' asks ({', '.join(shown)}). Check them: a guessed "
            "'01/02/2024' may be read month first.",
        )
    if not aware.any():
        return wall_ns
    # zone-carrying values: wall-clock time minus the offset is UTC, then the target zone
    offsets_u = np.zeros(len(stripped), dtype=np.int64)
    offsets_u[aware_u] = _offsets(stripped[aware_u])
    utc_ns = wall_ns.copy()
    utc_ns[aware] = (wall_ns[aware].view(np.int64) - offsets_u[codes0][aware]).view(
        "datetime64[ns]")
    local = (pd.Series(utc_ns[aware]).dt.tz_localize("UTC").dt.tz_convert(tz)
             .dt.tz_localize(None))
    result = wall_ns.copy()
    result[aware] = local.to_numpy(dtype="datetime64[ns]")
    _record_tz(report, name, tz, pd.Series(wall_ns[aware]), local, np.ones(int(aware.sum()), bool),
               pos[aware], rows, n_naive=int((~aware).sum()))
    return result


def _ns_by_code(parsed_u: pd.Series, codes: np.ndarray, name: str, pos: np.ndarray,
                rows: _Rows, raw: pd.Series) -> np.ndarray:
    """Distinct parsed dates as datetime64[ns], scattered to the rows (range-checked)."""
    try:
        return _to_ns(parsed_u)[codes]
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        arr = np.asarray(parsed_u)  # in a coarser unit than ns, so no overflow here
        bad_u = (arr < np.datetime64("1677-09-22")) | (arr > np.datetime64("2262-04-11"))
        raise _rows_error(
            name, bad_u[codes], pos, rows, "date in range",
            lambda n: "(date): dates must lie between 1677-09-22 and 2262-04-11 "
            f"(the range of datetime64[ns]); {_plural(n, 'value')} "
            f"{'does' if n == 1 else 'do'} not",
            "Fix these dates.", raw=raw,
        ) from None


def _parse_with_utc(text: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
        except (ValueError, TypeError):
            return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")


def _date_error(name: str, bad: np.ndarray, pos: np.ndarray, rows: _Rows, raw: pd.Series,
                text: pd.Series, fmt: str | None, best: str | None) -> InvalidValueError:
    if fmt is not None:
        how = f"with date_format={fmt!r}"
        todo = ("Fix these values, or pass the date_format= that matches them "
                "(strftime codes, e.g. '%d/%m/%Y').")
    else:
        how = ("as dates in one format for the whole column" if best is None
               else f"as dates in one format for the whole column (most are "
                    f"{_describe_format(best)})")
        todo = ("Fix these values, or pass date_format= (strftime codes, e.g. '%d/%m/%Y'); "
                "date_format='mixed' parses each value on its own, guessing, with a counted "
                "warning.")
    bad_text = text[bad]
    if len(bad_text) and bool(bad_text.str.fullmatch(r"\d{5}(?:\.0)?").all()):
        todo += (" Numbers such as " + repr(bad_text.iloc[0]) + " look like Excel serial "
                 "dates (days since 1899-12-30): format the column as dates in Excel and "
                 "save again, or convert them with pd.to_datetime(x, unit='D', "
                 "origin='1899-12-30').")
    return _rows_error(
        name, bad, pos, rows, "parseable date",
        lambda n: f"(date): values must parse {how}; {_plural(n, 'value')} could not",
        todo, raw=raw,
    )


def _parse_naive_strings(
    s: pd.Series, fmt: str | None
) -> tuple[pd.Series, np.ndarray]:
    """Parse tz-naive date strings; returns timestamps and a mask of rows parsed by guessing."""
    out = _parse_with(s, fmt) if fmt is not None else _parse_with(s, "ISO8601")
    guessed = np.zeros(len(s), dtype=bool)
    if fmt is None:
        failed = out.isna().to_numpy()
        if failed.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                retry = pd.to_datetime(s[failed], format="mixed", errors="coerce")
            out = out.astype(retry.dtype) if out.dtype != retry.dtype else out
            out[failed] = retry
            guessed[failed] = retry.notna().to_numpy()
    return out, guessed


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
#: Currency symbols and ISO 4217 codes stripped from text amounts (one per column).
CURRENCY_SYMBOLS = ("$", "€", "£", "¥", "₹", "₩", "₽", "₺", "₪", "₫", "฿", "₴", "₦", "zł", "kr",
                    "CHF", "USD", "EUR", "GBP", "JPY", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK",
                    "PLN", "CZK", "HUF", "INR", "CNY", "BRL", "MXN", "ZAR", "RUB", "TRY")
_CUR = "|".join(re.escape(c) for c in sorted(CURRENCY_SYMBOLS, key=len, reverse=True))
# sign, currency (before or after), number core of digits and separators; spaces inside
# numbers (thousands groups) are normal, non-breaking, narrow no-break or thin spaces
_AMOUNT_TEXT_RE = (
    r"^(?P<s1>[-+]?)\s*(?P<c1>" + _CUR + r")?\s*(?P<s2>[-+]?)\s*"
    r"(?P<num>\d[\d.,' ]*|[.,]\d+)(?P<exp>[eE][-+]?\d+)?\s*(?P<c2>" + _CUR + r")?\s*"
    r"(?P<s3>-?)$"
)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


def _separator_evidence(core: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mark number cores readable only with a decimal point, only with a comma, or either.

    "Either" is one ``,`` or ``.`` after 1-3 leading digits and followed by exactly three
    digits (``'2,104'``, ``'1.500'``): thousands group or decimal, the value cannot say.
    """
    c = core.str.replace(r"[ ']", "", regex=True)
    n_dot = c.str.count(r"\.").to_numpy()
    n_com = c.str.count(",").to_numpy()
    last_dot = c.str.rfind(".").to_numpy()
    last_com = c.str.rfind(",").to_numpy()
    # a single separator: thousands-compatible iff 1-3 leading digits (not a lone 0 group
    # like '0,990', which no one writes for 990) and exactly three after it
    group3 = c.str.fullmatch(r"(?:[1-9]\d{0,2})[.,]\d{3}").to_numpy(dtype=bool)
    dot_dec = (
        ((n_dot > 0) & (n_com > 0) & (last_dot > last_com) & (n_dot == 1))
        | ((n_dot == 1) & (n_com == 0) & ~group3)
        | ((n_com >= 2) & (n_dot == 0))
    )
    com_dec = (
        ((n_dot > 0) & (n_com > 0) & (last_com > last_dot) & (n_com == 1))
        | ((n_com == 1) & (n_dot == 0) & ~group3)
        | ((n_dot >= 2) & (n_com == 0))
    )
    either = group3 & ((n_dot + n_com) == 1)
    return dot_dec, com_dec, either


def _number_from_core(core: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Read number cores with the given decimal mark; invalid grouping gives NaN."""
    other = "," if decimal == "." else "."
    seps = "[ '" + (re.escape(thousands) if thousands else re.escape(other)) + "]"
    # integer part: plain digits, or strict groups of three after 1-3 leading digits
    pattern = (r"(?:\d+|\d{1,3}(?:" + seps + r"\d{3})+)(?:" + re.escape(decimal) + r"\d*)?"
               r"|" + re.escape(decimal) + r"\d+")
    valid = core.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    cleaned = core.str.replace(seps, "", regex=True).str.replace(decimal, ".", regex=False)
    out = pd.to_numeric(cleaned.where(valid), errors="coerce")
    return out


def _parse_amounts(raw: pd.Series, name: str, pos: np.ndarray, rows: _Rows,
                   report: _Report, decimal: str | None = None,
                   thousands: str | None = None) -> np.ndarray:
    raw = raw.reset_index(drop=True)
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InvalidValueError(
            f"Column {name!r} (amount): must be numeric; found booleans (dtype {dtype}). Pass "
            "the column holding the transaction value.",
            column=name,
            rule="numeric amount",
        )
    if isinstance(dtype, pd.CategoricalDtype):
        raw = raw.astype(raw.cat.categories.dtype)
        dtype = raw.dtype
    if pd.api.types.is_numeric_dtype(dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        values = np.full(len(raw), np.nan)
        missing = raw.isna().to_numpy(dtype=bool)
        if pd.api.types.is_object_dtype(dtype):
            is_text = raw.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        else:  # a string column: text wherever it is not missing
            is_text = ~missing
        other = ~is_text & ~missing
        if other.any():  # numbers held as objects (XLSX, Decimal from Parquet)
            values[other] = pd.to_numeric(raw[other], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)
        if is_text.any():
            sub = raw if is_text.all() else raw[is_text]
            values[is_text] = _parse_amount_text(
                sub if pd.api.types.is_string_dtype(sub.dtype) and sub.dtype != object
                else sub.astype(str), np.flatnonzero(is_text), name, pos, rows, report,
                decimal, thousands)
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
            "Plain numbers such as 1234.50, '$1,234.50', '1.234,50 €' or '-12.50' are read; "
            "fix or remove these rows before loading.",
            raw=raw,
        )
    return values


def _parse_amount_text(
    text: pd.Series, where: np.ndarray, name: str, pos: np.ndarray, rows: _Rows,
    report: _Report, decimal: str | None, thousands: str | None,
) -> np.ndarray:
    """Read text amounts with one decimal mark and one currency for the whole column.

    ``where`` gives the rows of ``text`` within the column. Returns NaN for values that
    are blank or not a number (reported by the caller).
    """
    codes, uniq_values = pd.factorize(text.reset_index(drop=True), sort=False)
    uniq = pd.Series(np.asarray(uniq_values, dtype=object), dtype=object).astype(str)
    norm = uniq.str.translate(_SPACES).str.strip()
    plain = norm.str.fullmatch(_PLAIN_NUMBER.pattern).fillna(False).to_numpy(dtype=bool)
    nan_text = norm.str.lower().isin(["nan", "-nan", "+nan", "inf", "-inf", "+inf",
                                      "infinity", "-infinity"]).to_numpy()
    parts = norm.str.extract(_AMOUNT_TEXT_RE)
    matched = parts["num"].notna().to_numpy() & ~nan_text
    n_signs = sum((parts[k].fillna("") != "").to_numpy(dtype=int) for k in ("s1", "s2", "s3"))
    two_cur = ((parts["c1"].fillna("") != "") & (parts["c2"].fillna("") != "")).to_numpy()
    matched &= (n_signs <= 1) & ~two_cur
    core = parts["num"].fillna("").str.rstrip(" '")
    exp = parts["exp"].fillna("")
    matched &= ~((exp != "").to_numpy() & core.str.contains(r"[,' ]").to_numpy(dtype=bool))

    def rows_of(mask_u: np.ndarray) -> np.ndarray:
        return mask_u[codes]

    def examples(mask_u: np.ndarray, k: int = 3) -> str:
        sel = np.flatnonzero(rows_of(mask_u))[:k]
        return ", ".join(f"{w}: {text.iloc[i]!r}" for w, i in
                         zip(rows.describe(pos[where[sel]]), sel, strict=True))

    # -- currency: one symbol for the column
    symbols_u = parts["c1"].fillna("") + parts["c2"].fillna("")
    found = sorted(set(symbols_u[matched]) - {""})
    if len(found) > 1:
        firsts = []
        for sym in found:
            first = np.flatnonzero((symbols_u == sym).to_numpy() & matched)[0]
            firsts.append(first)
        sel = np.flatnonzero(np.isin(codes, firsts))[:_N_EXAMPLES]
        raise InvalidValueError(
            f"Column {name!r} (amount): must be in one currency; found the symbols "
            f"{', '.join(found)} "
            f"({_examples(rows.describe(pos[where[sel]]), list(text.iloc[sel]), len(sel))}). "
            "Convert the amounts to one currency before loading.",
            column=name,
            rule="one currency",
            offenders=found,
        )
    # -- decimal mark: decided by the whole column
    dot_dec, com_dec, either = _separator_evidence(core)
    dot_dec &= matched
    com_dec &= matched
    either &= matched
    if decimal is None:
        if dot_dec.any() and com_dec.any():
            raise InvalidValueError(
                f"Column {name!r} (amount): mixes two number formats: "
                f"{_plural(int(rows_of(dot_dec).sum()), 'value')} can only be read with '.' "
                f"as decimal point ({examples(dot_dec)}) and "
                f"{_plural(int(rows_of(com_dec).sum()), 'value')} only with ',' as decimal "
                f"comma ({examples(com_dec)}). Fix the export so one format is used, or pass "
                "decimal= (and thousands=) to say which one is right.",
                column=name,
                rule="one number format",
                n_offending=int(rows_of(dot_dec | com_dec).sum()),
            )
        if com_dec.any():
            decimal = ","
        elif dot_dec.any():
            decimal = "."
        elif either.any():
            sel = np.flatnonzero(either)[:3]
            shown = "; ".join(
                f"{uniq.iloc[i]!r} is {_fmt_amount(core.iloc[i], '.')} with ',' or '.' "
                f"as thousands separator, or {_fmt_amount(core.iloc[i], ',')} as a decimal mark"
                for i in sel
            )
            raise InvalidValueError(
                f"Column {name!r} (amount): the separator in "
                f"{_plural(int(rows_of(either).sum()), 'value')} can be read two ways and no "
                f"value in the column decides it ({shown}). clvlab does not guess (a wrong "
                "guess is a factor of 1,000): pass decimal=',' for a decimal comma or "
                "decimal='.' for a decimal point (on the command line --decimal).",
                column=name,
                rule="one reading of the amounts",
                n_offending=int(rows_of(either).sum()),
            )
        else:
            decimal = "."
    elif decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ','; got {decimal!r}.")
    if thousands is not None and (thousands == decimal or thousands not in (",", ".", " ", "'")):
        raise ValueError(
            f"thousands must be one of ',', '.', ' ', \"'\" and differ from decimal "
            f"({decimal!r}); got {thousands!r}."
        )
    number = _number_from_core(core, decimal, thousands)
    with_exp = (exp != "").to_numpy()
    if with_exp.any():
        number = number.where(~with_exp, pd.to_numeric(
            core.str.replace(decimal, ".", regex=False) + exp, errors="coerce"))
    negative = ((parts["s1"] == "-") | (parts["s2"] == "-") | (parts["s3"] == "-")).to_numpy()
    values_u = number.to_numpy(dtype=float, na_value=np.nan)
    values_u = np.where(negative, -values_u, values_u)
    values_u[~matched] = np.nan
    # record what was done (a changed notation, not a changed value: no warning)
    changed = matched & ~plain & np.isfinite(values_u)
    if decimal == ",":
        changed |= matched & plain & (norm.str.contains(",").to_numpy(dtype=bool))
    if changed.any():
        n = int(rows_of(changed).sum())
        notes = []
        if found:
            notes.append(f"currency symbol {found[0]!r} removed")
        if decimal == "," and (com_dec | either).any():
            notes.append("decimal comma")
        has_groups = core.str.contains(
            r"[ ']" if decimal == "," and not thousands else
            (r"[ '.]" if decimal == "," else r"[ ',]")).to_numpy(dtype=bool) & changed
        if has_groups.any():
            sep_used = thousands or ("." if decimal == "," else ",")
            notes.append(f"thousands separators ('{sep_used}', spaces) removed")
        sel = np.flatnonzero(rows_of(changed))[:_N_EXAMPLES]
        report.add(
            "amounts written as text",
            "read as numbers (" + ("; ".join(notes) or "number notation") + ")",
            n,
            [f"{w}: {text.iloc[i]!r} -> {values_u[codes[i]]:g}"
             for w, i in zip(rows.describe(pos[where[sel]]), sel, strict=True)],
            None,
        )
    return values_u[codes]


def _fmt_amount(core: str, decimal: str) -> str:
    value = _number_from_core(pd.Series([core]), decimal, None).iloc[0]
    return "not a number" if pd.isna(value) else f"{value:,.{3 if decimal == ',' else 0}f}"


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
    encoding: str | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
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
        default one format is decided from all the distinct values of the column: ISO 8601
        if it reads them all, otherwise the format that reads every value -- and when both
        a day-first and a month-first format do (every day <= 12) and give different
        dates, an :class:`~clvlab.exceptions.InvalidValueError` shows both readings.
        ``"dayfirst"`` / ``"monthfirst"`` decide that ambiguity and otherwise infer;
        ``"ISO8601"`` requires ISO 8601; ``"mixed"`` parses each value on its own (ISO
        8601, else guessing), with a counted warning (see Warns). Integer dates such as
        ``19970101`` are read as text (``"%Y%m%d"``), never as nanoseconds since 1970.
    sep : str, optional
        Delimiter of a text file. By default ``"\t"`` for ``.tsv`` files, otherwise the one
        of ``,``, tab, ``;``, ``|`` that splits the header line into the most fields. Use
        ``sep=r"\s+"`` for whitespace-aligned files.
    sheet_name : str or int, default=0
        Sheet of an Excel workbook (name or 0-based position).
    encoding : str, optional
        Text encoding of a CSV file. By default UTF-8, or UTF-16 / UTF-32 when a
        byte-order mark or the NUL-byte pattern of ASCII text says so (recorded in
        ``attrs["data_quality"]``). A given encoding is used as is (before any check for
        binary content).
    decimal : {".", ","}, optional
        Decimal mark of amounts written as text. By default decided from the whole column:
        a value such as ``"12,5"`` or ``"0,990"`` (a group of three after a lone ``0`` is
        no thousands group) can only have a decimal comma, ``"12.50"`` only a decimal
        point; when no value decides it (only ``"2,104"``-like values) an
        :class:`~clvlab.exceptions.InvalidValueError` asks for ``decimal=``. Values that
        contradict each other are an error too.
    thousands : {",", ".", " ", "'"}, optional
        Thousands separator of text amounts; by default the mark that is not the decimal
        one, spaces and apostrophes (groups of exactly three digits).
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
        A required column named twice in the header, blank customer ids, blank or
        unparseable dates, dates the column reads two ways (day or month first), amounts
        that are not finite numbers, amounts whose decimal mark the column does not
        decide or contradicts, several currencies, or a policy set to ``"raise"`` that
        fired.
    EmptyInputError
        No data rows (0-byte file, header only), or none left after the policies.
    NotATableError
        The file is not a table: binary, truncated or corrupt (also compressed files),
        lines with more fields than the header, unknown extension, missing sheet; or it
        cannot be read: a symbolic-link loop, no permission, a directory or device.
    FileNotFoundError
        ``src`` does not exist (or is a symbolic link to a file that does not).
    ImportError
        A Parquet file is given and pyarrow is not installed (``pip install clvlab[parquet]``).

    Warns
    -----
    DataQualityWarning
        Whenever rows are dropped, netted or changed (duplicates dropped, returns netted or
        dropped, zero amounts dropped, time zones converted, blank lines skipped, dates
        parsed by per-row guessing with ``date_format="mixed"``), with counts and first
        examples. Notation that is read without changing a value (currency symbols,
        decimal commas, an inferred date format, a UTF-16 file) is recorded in
        ``attrs["data_quality"]`` without a warning.

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
    if decimal is not None and decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ','; got {decimal!r}.")
    if date_format is not None and not isinstance(date_format, str):
        raise TypeError(f"date_format must be a string; got {type(date_format).__name__}.")
    need = [customer_id, date, amount]
    report = _Report()
    frame, rows, source, used_sep = _read(
        src, need, sep=sep, sheet_name=sheet_name, encoding=encoding, keep_extra=keep_extra,
        report=report,
    )
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
    amounts = _parse_amounts(frame[amount], amount, pos, rows, report, decimal, thousands)
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
            discarded = max(discarded, 0.0)  # sums of floats: never print "-0.00"
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

    if isinstance(order, slice) and keep.all():  # already in output order
        if rows.kind == "index":  # the caller's DataFrame: never share its memory
            columns = {C.CUSTOMER_ID: ids.array.copy(), C.DATE: dates.copy(),
                       C.AMOUNT: np.array(amounts, copy=True)}
        else:  # arrays read from the file here: the output takes them as they are
            columns = {C.CUSTOMER_ID: ids.array, C.DATE: dates, C.AMOUNT: amounts}
    else:
        if isinstance(order, slice):
            order = np.arange(len(ids))
        order = order[keep[order]]
        columns = {C.CUSTOMER_ID: ids.array.take(order), C.DATE: dates[order],
                   C.AMOUNT: amounts[order]}
    out = pd.DataFrame(columns, copy=False)  # fresh (or file-owned) arrays: no second copy
    if extras:
        for col in extras:  # ``order`` indexes the rows of ``frame`` (after blank lines)
            out[col] = frame[col].iloc[order].to_numpy()
    del frame, columns, ids, dates, amounts, codes, keep, order
    release_unused()  # the raw frame and the checks' temporaries
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
        # sorted ids (as exported by customer) are coded from their runs, without hashing
        codes, uniques = _factorize_integers(values)
        n_uniq = len(uniques)
        u = uniques.to_numpy()
        if bool(np.all(u[1:] > u[:-1])):  # numbered in increasing order: codes are ranks
            key = codes
        else:
            rank = np.empty(n_uniq, dtype=np.int64)
            rank[np.argsort(u, kind="stable")] = np.arange(n_uniq)
            key = rank[codes]
    else:
        codes, uniques = pd.factorize(ids)
        n_uniq = len(uniques)
        key = _id_rank(uniques)[codes]
    t = dates.view(np.int64)
    in_order = bool(np.all(key[1:] >= key[:-1]))
    if in_order:  # and by date within each customer (masks only, no gathered copies)
        back = key[1:] == key[:-1]
        back &= t[1:] < t[:-1]
        in_order = not bool(back.any())
        del back
    if in_order:
        return codes, n_uniq, slice(None)
    return codes, n_uniq, np.lexsort((t, key))


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
