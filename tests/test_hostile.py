"""The hostile input corpus (issue 12): every case ends in a correct load, a clear clvlab
error or a counted warning, and the whole pipeline never yields NaN, inf or a wrong total.

Files are in ``tests/data/hostile/`` (written by ``make_corpus.py`` from one base log, so
"correct load" means: exactly the base log's transactions); cases that are about the file
system itself (symbolic links, directories, devices) are made here. ``CASES`` gives each
case's expected outcome; ``test_pipeline_*`` then runs load -> RFM -> BG/NBD, Gamma-Gamma
and the baseline -> scores and CLV -> CSV and XLSX on every case that loads.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import clvlab
from clvlab.exceptions import (
    ClvlabError,
    ClvlabWarning,
    DataQualityWarning,
    DegenerateFitWarning,
    EmptyInputError,
    InvalidValueError,
    NotATableError,
)
from clvlab.export import TRUNCATION_MARKER, write_csv, write_workbook
from clvlab.scoring import SCORE_COLUMNS, score_customers

HOSTILE = Path(__file__).parent / "data" / "hostile"


def _load(src: Any, **kwargs: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return clvlab.load_transactions(src, **kwargs)


BASE = _load(HOSTILE / "base.csv")


def _same_as_base(tx: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(tx[["customer_id", "date", "amount"]], BASE)


def _base_with(**changes: Callable[[pd.Series], pd.Series]) -> Callable[[pd.DataFrame], None]:
    """The base log with some columns transformed (e.g. float32 amounts, shifted times)."""
    def check(tx: pd.DataFrame) -> None:
        expected = BASE.copy()
        for col, func in changes.items():
            expected[col] = func(expected[col])
        pd.testing.assert_frame_equal(tx[["customer_id", "date", "amount"]], expected,
                                      check_exact=False, rtol=1e-6)
    return check


def _recorded(check: str) -> Callable[[pd.DataFrame], None]:
    def has(tx: pd.DataFrame) -> None:
        assert check in [r["check"] for r in tx.attrs["data_quality"]], tx.attrs["data_quality"]
    return has


@dataclass
class Case:
    """One hostile input and what must come of it."""

    name: str  # file in tests/data/hostile, or a case made by the test (see _made)
    outcome: str  # "load", "warn" (a counted ClvlabWarning, then a load) or "error"
    error: type[Exception] | None = None
    match: str = ""  # regex on the error or warning message
    checks: list[Callable[[pd.DataFrame], None]] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    then: dict[str, Any] | None = None  # options with which an "error" case loads


CASES = [
    # -- encodings
    Case("base.csv", "load", checks=[_same_as_base, lambda tx: tx.attrs["data_quality"] == []]),
    Case("enc_utf8_bom.csv", "load", checks=[_same_as_base]),
    Case("enc_utf16_bom.csv", "load", checks=[_same_as_base, _recorded("text encoding")]),
    Case("enc_utf16le_nobom.csv", "load", checks=[_same_as_base, _recorded("text encoding")]),
    Case("enc_utf16be_nobom.csv", "load", checks=[_same_as_base, _recorded("text encoding")]),
    Case("enc_utf32_bom.csv", "load", checks=[_same_as_base, _recorded("text encoding")]),
    Case("enc_latin1.csv", "error", NotATableError, r"not valid utf-8 text.*encoding='latin-1'",
         then={"encoding": "latin-1"}),
    # -- delimiters, quoting, line ends
    Case("sep_semicolon_decimal_comma.csv", "load",
         checks=[_same_as_base, _recorded("amounts written as text")]),
    Case("sep_tab.tsv", "load", checks=[_same_as_base]),
    Case("sep_pipe.txt", "load", checks=[_same_as_base]),
    Case("quote_thousands_quoted.csv", "load", checks=[_same_as_base]),
    Case("quote_thousands_unquoted.csv", "error", NotATableError,
         r"9 lines have more fields than the header \(line 6 has 4: '7,2023-08-28,2,500.00'"
         r".*thousands separator"),
    Case("quote_unquoted_comma_in_id.csv", "error", NotATableError,
         r"1 line has more fields than the header \(line 4 has 4"),
    Case("eol_crlf.csv", "load", checks=[_same_as_base]),
    Case("eol_trailing_delimiter.csv", "error", NotATableError, r"trailing ','"),
    Case("blank_lines.csv", "warn", DataQualityWarning, r"skipped 3 blank lines",
         checks=[_same_as_base]),
    Case("empty_header_only.csv", "error", EmptyInputError, r"0 data rows"),
    Case("empty_zero_bytes.csv", "error", EmptyInputError, r"empty \(0 bytes"),
    Case("header_repeated_amount.csv", "error", InvalidValueError,
         r"'amount' appears 2 times .*\(positions 3, 4\)"),
    # -- numbers
    Case("num_decimal_comma_three_decimals.csv", "load",
         checks=[lambda tx: np.testing.assert_allclose(
             sorted(tx["amount"]), sorted([0.99, 2.104, 12.5, 1.0, 3.333, 0.5]), rtol=1e-15)]),
    Case("num_ambiguous_thousands.csv", "error", InvalidValueError,
         r"can be read two ways.*decimal=','.*--decimal", then={"decimal": "."}),
    Case("num_mixed_formats.csv", "error", InvalidValueError,
         r"mixes two number formats: 22 values .* '.' .* 21 values .* ','"),
    Case("num_euro_suffix.csv", "load",
         checks=[_same_as_base, lambda tx: "'€' removed" in tx.attrs["data_quality"][0]["action"]]),
    Case("num_currency_mixed.csv", "error", InvalidValueError, r"one currency; found .*\$, €"),
    Case("num_currency_code.csv", "load", checks=[_same_as_base]),
    Case("num_nbsp_thousands.csv", "load", checks=[_same_as_base]),
    Case("num_parentheses_negative.csv", "error", InvalidValueError, r"line 45: '\(12.50\)'"),
    Case("num_scientific.csv", "load", checks=[_same_as_base]),
    Case("num_nan_amount.csv", "error", InvalidValueError, r"finite number; 1 value .*line 45"),
    Case("num_trailing_minus_return.csv", "warn", DataQualityWarning,
         r"Netted 1 negative amount",
         checks=[lambda tx: math.isclose(tx["amount"].sum(), BASE["amount"].sum() - 12.5)]),
    # -- dates
    Case("date_dmy_first_ambiguous.csv", "load",
         checks=[_same_as_base, _recorded("date format")]),
    Case("date_all_ambiguous.csv", "error", InvalidValueError,
         r"'12/10/2023' is 2023-12-10 read month first.*or 2023-10-12 read day first"
         r".*date_format='%d/%m/%Y'", then={"date_format": "dayfirst"}),
    Case("date_mdy.csv", "load", checks=[_same_as_base]),
    Case("date_two_digit_year.csv", "load", checks=[_same_as_base]),
    Case("date_dotted.csv", "load", checks=[_same_as_base]),
    Case("date_yyyymmdd.csv", "load", checks=[_same_as_base]),
    Case("date_mixed_formats.csv", "error", InvalidValueError,
         r"one format .*'Dec 30 2023'.*date_format='mixed'", then={"date_format": "mixed"}),
    Case("date_out_of_range.csv", "error", InvalidValueError, r"1677-09-22 and 2262-04-11"),
    Case("date_with_offsets.csv", "warn", DataQualityWarning, r"43 values carried a time zone",
         checks=[_base_with(date=lambda d: d + pd.Timedelta(hours=21, minutes=30))]),
    # -- compressed and other files
    Case("file_good.csv.xz", "load", checks=[_same_as_base]),
    Case("file_good.csv.bz2", "load", checks=[_same_as_base]),
    Case("file_one_csv.csv.zip", "load", checks=[_same_as_base]),
    Case("file_truncated.csv.gz", "error", NotATableError, r"truncated or corrupt.*gzip"),
    Case("file_corrupt.csv.bz2", "error", NotATableError, r"truncated or corrupt.*bzip2"),
    Case("file_two_files.zip", "error", NotATableError, r"ZIP archive with 2 files"),
    Case("file_png_renamed.csv", "error", NotATableError, r"binary file"),
    Case("made:symlink_loop", "error", NotATableError, r"symbolic link loop"),
    Case("made:dangling_symlink", "error", FileNotFoundError,
         r"symbolic link to .*gone.csv.*does not exist"),
    Case("made:directory", "error", NotATableError, r"is a directory"),
    Case("made:device", "error", NotATableError, r"not a regular file"),
    # -- Excel
    Case("xlsx_real.xlsx", "load", checks=[_same_as_base], kwargs={"sheet_name": "orders"}),
    Case("xlsx_text_amounts.xlsx", "load", checks=[_same_as_base]),
    Case("xlsx_serial_dates.xlsx", "error", InvalidValueError, r"Excel serial dates"),
    Case("xlsx_repeated_header.xlsx", "error", InvalidValueError, r"'amount' appears 2 times"),
    Case("xlsx_trailing_empty_rows.xlsx", "load", checks=[_same_as_base]),
    # -- Parquet dtypes
    Case("parquet_decimal_amounts.parquet", "load", checks=[_same_as_base]),
    Case("parquet_dictionary_float32.parquet", "load",
         checks=[_base_with(amount=lambda a: a.astype(np.float32).astype(float))]),
    Case("parquet_date32_large_string.parquet", "load", checks=[_same_as_base]),
    Case("parquet_tz_timestamps.parquet", "warn", DataQualityWarning, r"converted to UTC",
         checks=[_base_with(date=lambda d: d.dt.tz_localize("Europe/Amsterdam")
                            .dt.tz_convert("UTC").dt.tz_localize(None))]),
    Case("parquet_int_ids.parquet", "load",
         checks=[lambda tx: sorted(set(tx["customer_id"])) == ["7"]]),
    Case("parquet_repeated_names.parquet", "error", InvalidValueError, r"appears 2 times"),
    # -- customer ids
    Case("id_oddities.csv", "load", checks=[
        lambda tx: {"=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "NA", "null",
                    "<script>alert(1)</script>", "顧客 ☕ é", "007", "7"}
        == set(tx["customer_id"])]),
    Case("id_padded.csv", "load", checks=[_same_as_base]),
    Case("made:long_id", "load", checks=[lambda tx: tx["customer_id"].str.len().max() == 40_000]),
    # -- extreme values and degenerate logs
    Case("extreme_huge_and_tiny_amounts.csv", "load",
         checks=[lambda tx: sorted(set(tx["amount"])) == [1e-4, 1e12]]),
    Case("extreme_all_returns.csv", "error", EmptyInputError, r"no transactions are left"),
    Case("degenerate_one_day.csv", "load", checks=[lambda tx: tx["date"].nunique() == 1]),
    Case("degenerate_no_repeat.csv", "load",
         checks=[lambda tx: tx["customer_id"].is_unique]),
    Case("degenerate_no_churn_constant_spend.csv", "load",
         checks=[lambda tx: set(tx["amount"]) == {20.0}]),
]


def _made(name: str, tmp_path: Path) -> Path:
    """Build the file-system cases."""
    kind = name.split(":", 1)[1]
    if kind == "symlink_loop":
        a, b = tmp_path / "a.csv", tmp_path / "b.csv"
        os.symlink(b, a)
        os.symlink(a, b)
        return a
    if kind == "dangling_symlink":
        link = tmp_path / "link.csv"
        os.symlink(tmp_path / "gone.csv", link)
        return link
    if kind == "directory":
        (tmp_path / "folder.csv").mkdir()
        return tmp_path / "folder.csv"
    if kind == "device":
        return Path(os.devnull)
    if kind == "long_id":
        path = tmp_path / "long.csv"
        text = (HOSTILE / "base.csv").read_text().replace("\nb,", "\n" + "x" * 40_000 + ",", 1)
        path.write_text(text)
        return path
    raise ValueError(name)


def _source(case: Case, tmp_path: Path) -> Path:
    return _made(case.name, tmp_path) if case.name.startswith("made:") else HOSTILE / case.name


def test_corpus_has_at_least_forty_cases_and_every_file_is_used():
    """The corpus holds >= 40 cases; every file in tests/data/hostile is one of them."""
    assert len(CASES) >= 40
    files = {p.name for p in HOSTILE.iterdir() if p.suffix != ".py"}
    assert files == {c.name for c in CASES if not c.name.startswith("made:")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_ends_in_a_load_a_clear_error_or_a_counted_warning(case, tmp_path):
    """Each case has exactly its documented outcome; loads are the right transactions."""
    src = _source(case, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case.outcome == "error":
            with pytest.raises(case.error, match=case.match):
                clvlab.load_transactions(src, **case.kwargs)
            assert case.error is FileNotFoundError or issubclass(case.error, ClvlabError)
            if case.then is None:
                return
            tx = clvlab.load_transactions(src, **case.then)
            assert len(tx) > 0
            return
        tx = clvlab.load_transactions(src, **case.kwargs)
    stray = [w for w in caught if not issubclass(w.category, ClvlabWarning)]
    assert not stray, [str(w.message) for w in stray]
    if case.outcome == "warn":
        assert any(issubclass(w.category, case.error) and
                   re.search(case.match, str(w.message)) for w in caught), \
            [str(w.message) for w in caught]
        assert tx.attrs["data_quality"], "a warning is always counted in data_quality"
    else:
        assert not [w for w in caught if issubclass(w.category, DataQualityWarning)]
    for check in case.checks:
        assert check(tx) is not False


def _pipeline(tx: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    """Load result -> RFM -> fits -> scores (CLV) -> CSV + XLSX, with every invariant checked.

    Returns what happened: ``{"error": exc}`` for a clear clvlab error on the way, else the
    scores and the warnings.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rfm = clvlab.rfm_summary(tx, time_unit="W")
        numeric = rfm.select_dtypes("number")
        assert np.isfinite(numeric.to_numpy(dtype=float)).all()
        # nothing lost silently: every row and every unit of money is in the summary
        assert int(rfm["n_transactions"].sum()) == len(tx)
        np.testing.assert_allclose(rfm["total_spend"].sum(), tx["amount"].sum(), rtol=1e-12)
        try:
            bg = clvlab.BetaGeoFitter().fit(rfm)
            gg = clvlab.GammaGammaFitter().fit(rfm)
        except ClvlabError as exc:
            return {"error": exc, "warnings": caught}
        base = clvlab.FormulaCLVBaseline().fit(rfm)
        rate = clvlab.per_period_rate(0.10, "W")
        scores = score_customers(rfm, bg, gg, base, horizon=52, discount_rate=rate, margin=0.3)
        values = scores[[c for c in SCORE_COLUMNS if c != "segment"]].to_numpy(dtype=float)
        assert np.isfinite(values).all(), scores[~np.isfinite(values).all(axis=1)]
        assert (scores["clv"] >= 0).all()
        csv_path = write_csv(tmp_path / "p.csv", scores)
        back = pd.read_csv(csv_path, dtype={"customer_id": str}, keep_default_na=False)
        assert len(back) == len(scores)
        np.testing.assert_allclose(back["clv"].sum(), scores["clv"].sum(), rtol=1e-12)
        xlsx = write_workbook(tmp_path / "p.xlsx", scores, parameters={"BG/NBD": bg,
                              "Gamma-Gamma": gg}, data_quality=tx.attrs["data_quality"],
                              metadata={"time_unit": "W", "horizon": 52})
        book = load_workbook(xlsx, read_only=True)
        rows = list(book["Predictions"].iter_rows(min_row=2, values_only=True))
        assert len(rows) == len(scores)
        clv_col = list(scores.columns).index("clv") + 1
        np.testing.assert_allclose(sum(r[clv_col] for r in rows), scores["clv"].sum(),
                                   rtol=1e-12)
    stray = [w for w in caught if not issubclass(w.category, ClvlabWarning)]
    assert not stray, [f"{w.filename}:{w.lineno}: {w.message}" for w in stray]
    return {"scores": scores, "warnings": caught, "rows": rows}


_LOADING = [c for c in CASES if c.outcome != "error" or c.then is not None]
_FAST = {"base.csv", "sep_semicolon_decimal_comma.csv", "id_oddities.csv", "made:long_id",
         "extreme_huge_and_tiny_amounts.csv", "degenerate_one_day.csv",
         "degenerate_no_churn_constant_spend.csv", "num_ambiguous_thousands.csv"}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=() if c.name in _FAST else pytest.mark.slow) for c in _LOADING],
    ids=lambda c: c.name,
)
def test_pipeline_never_yields_nan_or_a_wrong_total(case, tmp_path):
    """load -> RFM -> fits -> CLV -> CSV + XLSX: finite numbers, totals kept, or a clear
    clvlab error (the degenerate logs: Gamma-Gamma without repeat buyers)."""
    src = _source(case, tmp_path)
    tx = _load(src, **(case.then or case.kwargs))
    out = _pipeline(tx, tmp_path)
    if case.name in ("degenerate_one_day.csv", "degenerate_no_repeat.csv"):
        assert isinstance(out.get("error"), EmptyInputError)
        assert "Gamma-Gamma needs repeat buyers" in str(out["error"])
        assert any(issubclass(w.category, DegenerateFitWarning) and "BG/NBD" in str(w.message)
                   for w in out["warnings"])
        return
    assert "error" not in out, out.get("error")
    if case.name == "degenerate_no_churn_constant_spend.csv":
        degenerate = [str(w.message) for w in out["warnings"]
                      if issubclass(w.category, DegenerateFitWarning)]
        assert any("NBD" in m for m in degenerate) and any("Gamma-Gamma" in m
                                                              for m in degenerate)
        np.testing.assert_allclose(out["scores"]["expected_spend"], 20.0, rtol=1e-6)
    if case.name == "id_oddities.csv":
        ids = {r[0] for r in out["rows"]}
        assert "'=HYPERLINK(\"http://x\")" in ids and "'+1" in ids and "'@SUM(A1)" in ids
    if case.name == "made:long_id":
        assert any(isinstance(r[0], str) and r[0].endswith(TRUNCATION_MARKER)
                   for r in out["rows"])
        assert any("32,767" in str(w.message) for w in out["warnings"])
