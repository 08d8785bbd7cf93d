"""Tests of clvlab.io.load_transactions: formats, errors, policies, properties."""

from __future__ import annotations

import builtins
import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvlab.datasets import load_cdnow
from clvlab.exceptions import (
    ClvlabWarning,
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
)
from clvlab.io import load_transactions

DATA = Path(__file__).parent / "data" / "io"

CLEAN_CSV = """customer_id,date,amount
b,2024-01-03,10.0
a,2024-01-05,7.5
a,2024-01-02,5.25
c,2024-02-01,0.99
"""


def _clean_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["b", "a", "a", "c"],
            "date": ["2024-01-03", "2024-01-05", "2024-01-02", "2024-02-01"],
            "amount": [10.0, 7.5, 5.25, 0.99],
        }
    )


def _write(tmp_path: Path, text: str, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_quiet(src, *args, **kwargs) -> pd.DataFrame:
    """Load and fail on any clvlab warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClvlabWarning)
        return load_transactions(src, *args, **kwargs)


# --------------------------------------------------------------------------- output shape
def test_clean_csv_canonical_output(tmp_path):
    """A clean CSV gives canonical dtypes, sorted rows, RangeIndex and empty data_quality."""
    tx = _load_quiet(_write(tmp_path, CLEAN_CSV))
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    assert pd.api.types.is_string_dtype(tx["customer_id"])
    assert tx["date"].dtype == np.dtype("datetime64[ns]")
    assert tx["amount"].dtype == np.float64
    assert tx["customer_id"].tolist() == ["a", "a", "b", "c"]
    assert tx["date"].tolist() == pd.to_datetime(
        ["2024-01-02", "2024-01-05", "2024-01-03", "2024-02-01"]
    ).tolist()
    assert isinstance(tx.index, pd.RangeIndex) and tx.index[0] == 0
    assert tx.attrs["data_quality"] == []
    assert tx.attrs["n_rows_read"] == 4
    assert tx.attrs["source"] == "tx.csv"


def test_committed_fixture_loads():
    """The tiny committed semicolon fixture loads with sep auto-detected."""
    tx = _load_quiet(DATA / "semicolon.csv")
    assert len(tx) == 3
    assert tx["amount"].tolist() == [12.5, 3.0, 8.0]


def test_round_trip_formats_identical(tmp_path):
    """CSV, CSV.gz, TSV, Parquet, XLSX and DataFrame sources of one log give identical output."""
    frame = _clean_frame()
    csv = _write(tmp_path, CLEAN_CSV)
    gz = tmp_path / "tx.csv.gz"
    gz.write_bytes(gzip.compress(CLEAN_CSV.encode()))
    tsv = _write(tmp_path, CLEAN_CSV.replace(",", "\t"), "tx.tsv")
    pq = tmp_path / "tx.parquet"
    frame.to_parquet(pq)
    xlsx = tmp_path / "tx.xlsx"
    frame.to_excel(xlsx, index=False)
    expected = _load_quiet(frame)
    for src in (csv, str(csv), gz, tsv, pq, xlsx):
        got = _load_quiet(src)
        pd.testing.assert_frame_equal(got, expected)


def test_xlsx_with_real_dates_and_named_sheet(tmp_path):
    """An XLSX sheet with datetime cells and numeric ids loads by sheet name."""
    frame = pd.DataFrame(
        {"cust": [101, 7], "when": pd.to_datetime(["2024-03-01", "2024-02-01"]), "value": [1, 2.5]}
    )
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        frame.to_excel(writer, sheet_name="orders", index=False)
    tx = _load_quiet(path, "cust", "when", "value", sheet_name="orders")
    assert tx["customer_id"].tolist() == ["7", "101"]
    assert tx["date"].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")]
    assert tx["amount"].tolist() == [2.5, 1.0]


def test_dataframe_not_mutated():
    """The input DataFrame (values, dtypes, index, attrs) is left untouched."""
    frame = _clean_frame()
    frame.index = [10, 20, 30, 40]
    frame.loc[20, "customer_id"] = "  a  "
    before = frame.copy(deep=True)
    tx = _load_quiet(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert frame.attrs == {}
    assert tx["customer_id"].tolist()[:2] == ["a", "a"]


def test_custom_column_names_and_date_format_and_keep_extra():
    """Columns are renamed, date_format is used, extras are dropped unless keep_extra=True."""
    frame = pd.DataFrame(
        {"Cust": [" x1", "x2"], "Day": ["03/02/2024", "01/02/2024"], "Val": [1, 2],
         "store": ["s", "t"]}
    )
    tx = _load_quiet(frame, "Cust", "Day", "Val", "%d/%m/%Y")
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    assert tx["date"].tolist() == [pd.Timestamp("2024-02-03"), pd.Timestamp("2024-02-01")]
    kept = _load_quiet(frame, "Cust", "Day", "Val", "%d/%m/%Y", keep_extra=True)
    assert list(kept.columns) == ["customer_id", "date", "amount", "store"]
    assert kept["store"].tolist() == ["s", "t"]


def test_numeric_ids_sort_numerically_and_keep_leading_zeros(tmp_path):
    """Digit ids sort as numbers; leading zeros in a CSV survive as text."""
    text = "customer_id,date,amount\n10,2024-01-01,1\n9,2024-01-01,1\n007,2024-01-01,1\n"
    path = _write(tmp_path, text)
    tx = _load_quiet(path)
    assert tx["customer_id"].tolist() == ["007", "9", "10"]


@pytest.mark.parametrize("ids", [[10, 9, 10, 7, 9, 0], [-1, 12, -1, 3, 12, 3],
                                 [10**18, 5, 5, 10**18 + 1, 7, 7]],
                         ids=["non-negative", "negative", "19 digits"])
@pytest.mark.parametrize("presorted", [False, True], ids=["shuffled", "presorted"])
def test_integer_ids_load_as_their_text(ids, presorted):
    """Integer ids (coded without text) give exactly the frame their text ids give."""
    frame = pd.DataFrame({
        "customer_id": np.array(ids, dtype=np.int64),
        "date": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-05",
                                "2024-01-01", "2024-01-04"]),
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    if presorted:  # already in the output order: the sort is skipped
        frame = _load_quiet(frame.assign(customer_id=frame["customer_id"].astype(str)))
        frame["customer_id"] = frame["customer_id"].astype(np.int64)
    as_int = _load_quiet(frame)
    as_text = _load_quiet(frame.assign(customer_id=frame["customer_id"].astype(str)))
    pd.testing.assert_frame_equal(as_int, as_text)
    assert as_int["customer_id"].dtype == as_text["customer_id"].dtype


def test_integer_yyyymmdd_dates_are_not_nanoseconds():
    """Integer dates like 19970101 are read as YYYYMMDD, not nanoseconds since 1970."""
    frame = pd.DataFrame({"customer_id": [1, 2], "date": [19970101, 19970215], "amount": [1.0, 2]})
    tx = _load_quiet(frame)
    assert tx["date"].tolist() == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-02-15")]
    assert tx["customer_id"].tolist() == ["1", "2"]


def test_cdnow_loads_unchanged():
    """The bundled CDNOW log loads unchanged: 69,659 rows, 23,570 customers, no warnings."""
    cdnow = load_cdnow()
    tx = _load_quiet(cdnow)
    assert len(tx) == 69_659
    assert tx["customer_id"].nunique() == 23_570
    expected = cdnow[["customer_id", "date", "amount"]].astype({"date": "datetime64[ns]"})
    pd.testing.assert_frame_equal(tx, expected, check_dtype=False)
    # its same-day repeats and free orders are recorded, not changed
    checks = {r["check"]: r["count"] for r in tx.attrs["data_quality"]}
    assert checks == {
        "possible duplicate rows (same customer, date and amount)": 255,
        "zero amounts": 80,
    }
    extra = _load_quiet(cdnow, keep_extra=True)
    assert extra["quantity"].tolist() == cdnow["quantity"].tolist()


# --------------------------------------------------------------------------- errors
def test_missing_column_lists_present_and_suggests(tmp_path):
    """A misspelt column raises MissingColumnsError with the present columns and a suggestion."""
    path = _write(tmp_path, "customer_id,Date,ammount\na,2024-01-01,1\n")
    expected = (
        r"'amount' \(did you mean 'ammount'\? pass amount='ammount'\)"
    )
    with pytest.raises(MissingColumnsError, match=expected) as info:
        load_transactions(path)
    msg = str(info.value)
    assert "'date' (did you mean 'Date'? pass date='Date')" in msg
    assert "columns present: 'customer_id', 'Date', 'ammount'" in msg


def test_wrong_delimiter_detected(tmp_path):
    """An explicit wrong sep leaves one column; the error says which delimiter to pass."""
    path = _write(tmp_path, "customer_id;date;amount\na;2024-01-01;1\n")
    expected = r"missing: 'customer_id'.*the data look like ';'-separated; pass sep=';'\."
    with pytest.raises(MissingColumnsError, match=expected):
        load_transactions(path, sep=",")
    frame = pd.read_csv(path)  # the user read it with the wrong sep
    expected = (
        r"'customer_id'.*';'-separated; pass sep=';' to pd.read_csv"
    )
    with pytest.raises(MissingColumnsError, match=expected):
        load_transactions(frame)


def test_repeated_column_name_rejected():
    """A DataFrame with the amount column twice raises InvalidValueError naming it."""
    frame = pd.DataFrame([["a", "2024-01-01", 1, 2]],
                         columns=["customer_id", "date", "amount", "amount"])
    with pytest.raises(InvalidValueError, match="Column 'amount' appears 2 times"):
        load_transactions(frame)


def test_categorical_columns_load():
    """Categorical id and date columns load like their text values."""
    frame = _clean_frame().astype({"customer_id": "category", "date": "category"})
    pd.testing.assert_frame_equal(_load_quiet(frame), _load_quiet(_clean_frame()))


def test_tab_separated_txt_autodetected(tmp_path):
    """A tab-separated .txt file is read without sep= (delimiter guessed from the header)."""
    path = _write(tmp_path, CLEAN_CSV.replace(",", "\t"), "tx.txt")
    assert len(_load_quiet(path)) == 4


@pytest.mark.parametrize("date_format", [None, "%Y-%m-%d"])
def test_unparseable_dates(tmp_path, date_format):
    """Bad dates raise InvalidValueError naming the column, the rule, line numbers and values."""
    text = "customer_id,date,amount\na,2024-01-01,1\nb,2024-13-01,2\nc,yesterday,3\n"
    path = _write(tmp_path, text)
    expected = (
        r"'date' \(date\): values must parse .*2 values could not \(line 3: "
        r"'2024-13-01', line 4: 'yesterday'\)"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(path, date_format=date_format)


@pytest.mark.parametrize("dates", [["2024-01-01", "9999-01-01"],
                                   ["2024-01-01 10:00", "2024-01-02", "9999-01-01"]])
def test_out_of_range_date_is_an_error_not_an_overflow(dates):
    """A date past 2262 raises InvalidValueError instead of silently wrapping around."""
    frame = pd.DataFrame({"customer_id": list("abc")[: len(dates)], "date": dates, "amount": 1.0})
    expected = (
        r"'date' \(date\): dates must lie between .*1 value does not "
        rf"\(index label {len(dates) - 1}: '9999-01-01'\)"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(frame)


def test_blank_date(tmp_path):
    """A missing date raises InvalidValueError with its line number."""
    path = _write(tmp_path, "customer_id,date,amount\na,2024-01-01,1\nb,,2\n")
    expected = (
        r"'date' \(date\): must not be blank; 1 row has no date \(line 3\)"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(path)


def test_blank_customer_ids(tmp_path):
    """Missing or whitespace-only ids raise InvalidValueError with line numbers."""
    text = "customer_id,date,amount\na,2024-01-01,1\n,2024-01-02,2\n   ,2024-01-03,3\n"
    path = _write(tmp_path, text)
    expected = (
        r"'customer_id' \(customer id\): must not be blank; 2 rows .*\(line 3, "
        r"line 4\)"
    )
    with pytest.raises(InvalidValueError, match=expected) as info:
        load_transactions(path)
    assert info.value.offenders == [3, 4]
    assert info.value.column == "customer_id"


def test_blank_customer_id_in_dataframe_names_index_label():
    """For a DataFrame the offending row is named by its index label."""
    frame = _clean_frame()
    frame.index = ["r1", "r2", "r3", "r4"]
    frame.loc["r3", "customer_id"] = None
    with pytest.raises(InvalidValueError, match=r"must not be blank; 1 row has .*index label 'r3'"):
        load_transactions(frame)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("abc", "'abc'"), ("", r"\(blank or NaN\)"), ("inf", "'inf'"), ("nan", r"\(blank or NaN\)"),
     ("1,5.0", "'1,5.0'"), ("(12.50)", r"'\(12.50\)'"),
     ("$1$", r"'\$1\$'")],
)
def test_bad_amounts(tmp_path, bad, shown):
    """Non-numeric, blank, NaN, infinite or malformed amounts raise with line and raw value."""
    path = _write(tmp_path, f'customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02,"{bad}"\n')
    expected = (
        rf"'amount' \(amount\): must be a finite number; 1 value .*\(line 3: "
        rf"{shown}\)"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(path)


def test_nan_and_inf_amounts_in_dataframe():
    """Float NaN and inf amounts in a DataFrame raise with their index labels."""
    frame = _clean_frame()
    frame["amount"] = [1.0, np.nan, np.inf, 2.0]
    expected = (
        r"finite number; 2 values are .*index label 1: \(blank or NaN\), index "
        r"label 2: inf"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(frame)


def test_currency_and_thousands_amounts(tmp_path):
    """'$1,234.50', '-$3' and '12 €'-style amounts are read; the parse is recorded, not warned."""
    text = 'customer_id,date,amount\na,2024-01-01,"$1,234.50"\na,2024-01-02,$3\nb,2024-01-01,7\n'
    path = _write(tmp_path, text)
    tx = _load_quiet(path)
    assert tx["amount"].tolist() == [1234.5, 3.0, 7.0]
    (rec,) = tx.attrs["data_quality"]
    assert rec["check"] == "amounts written as text" and rec["count"] == 2


def test_mixed_currencies_rejected(tmp_path):
    """Amounts in two currencies raise InvalidValueError naming the symbols."""
    path = _write(tmp_path, "customer_id,date,amount\na,2024-01-01,$3\nb,2024-01-01,4€\n")
    expected = (
        r"'amount' \(amount\): must be in one currency; found the symbols \$, €"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(path)


@pytest.mark.parametrize(
    "content", ["", "customer_id,date,amount\n", "customer_id,date,amount\n\n\n"]
)
def test_empty_inputs(tmp_path, content):
    """0-byte files, header-only files and header plus blank lines raise EmptyInputError."""
    path = _write(tmp_path, content)
    with pytest.raises(EmptyInputError, match=r"empty|no transactions"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            load_transactions(path)


def test_empty_dataframe():
    """A DataFrame with the columns but no rows raises EmptyInputError."""
    with pytest.raises(EmptyInputError, match="0 data rows"):
        load_transactions(_clean_frame().iloc[:0])


def test_binary_junk_is_not_a_table(tmp_path):
    """An image renamed .csv raises NotATableError."""
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(NotATableError, match=r"photo.csv is a binary file"):
        load_transactions(path)


def test_surplus_field_is_an_error_not_a_silent_split(tmp_path):
    """An unquoted '1,234.50' in a comma-separated file raises instead of reading amount 1."""
    path = _write(tmp_path, "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02,1,234.50\n")
    with pytest.raises(NotATableError,
                       match=r"1 line has more fields than the header \(line 3 has 4: "
                             r"'b,2024-01-02,1,234.50'\).*must be quoted"):
        load_transactions(path)


def test_latin1_text_suggests_encoding(tmp_path):
    """A non-UTF-8 text file raises NotATableError suggesting encoding=; it loads with it."""
    path = tmp_path / "latin.csv"
    path.write_bytes("customer_id,date,amount\nJosé,2024-01-01,1\n".encode("latin-1"))
    with pytest.raises(NotATableError, match=r"not valid utf-8 text.*encoding='latin-1'"):
        load_transactions(path)
    assert _load_quiet(path, encoding="latin-1")["customer_id"].tolist() == ["José"]


def test_corrupt_xlsx_is_not_a_table(tmp_path):
    """A CSV renamed .xlsx raises NotATableError."""
    path = _write(tmp_path, CLEAN_CSV, "book.xlsx")
    with pytest.raises(NotATableError, match=r"book.xlsx could not be opened as an Excel workbook"):
        load_transactions(path)


def test_missing_sheet(tmp_path):
    """An unknown sheet name raises NotATableError listing the sheets."""
    path = tmp_path / "book.xlsx"
    _clean_frame().to_excel(path, index=False, sheet_name="orders")
    with pytest.raises(NotATableError, match=r"no sheet 'Sheet9'; sheets present: 'orders'"):
        load_transactions(path, sheet_name="Sheet9")


def test_xlsx_renamed_csv(tmp_path):
    """A workbook renamed .csv raises NotATableError saying it is a ZIP/Excel file."""
    path = tmp_path / "book.csv"
    _clean_frame().to_excel(path.with_suffix(".xlsx"), index=False)
    path.write_bytes(path.with_suffix(".xlsx").read_bytes())
    with pytest.raises(NotATableError, match="ZIP archive"):
        load_transactions(path)


def test_corrupt_parquet(tmp_path):
    """A text file renamed .parquet raises NotATableError."""
    path = _write(tmp_path, CLEAN_CSV, "tx.parquet")
    with pytest.raises(NotATableError, match=r"tx.parquet could not be read as a Parquet file"):
        load_transactions(path)


def test_unknown_extension(tmp_path):
    """An unknown extension raises NotATableError listing the supported ones."""
    path = _write(tmp_path, "{}", "tx.json")
    with pytest.raises(NotATableError, match=r"unknown file type '.json'.*\.csv"):
        load_transactions(path)


def test_missing_file(tmp_path):
    """A missing path raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_transactions(tmp_path / "nope.csv")


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    """Without pyarrow a Parquet path raises ImportError naming pip install clvlab[parquet]."""
    path = tmp_path / "tx.parquet"
    _clean_frame().to_parquet(path)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install clvlab\[parquet\]"):
        load_transactions(path)


def test_bad_policy_argument():
    """An unknown policy value raises ValueError listing the allowed ones."""
    with pytest.raises(ValueError, match="negative_amounts must be one of 'net', 'drop'"):
        load_transactions(_clean_frame(), negative_amounts="ignore")


def test_wrong_src_type():
    """A non-path, non-DataFrame src raises TypeError."""
    with pytest.raises(TypeError, match="src must be a path"):
        load_transactions([1, 2, 3])


# --------------------------------------------------------------------------- policies
def _returns_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "date": ["2024-01-01", "2024-01-05", "2024-01-06", "2024-01-07",
                     "2024-01-02", "2024-01-03", "2024-01-04"],
            "amount": [100.0, 10.0, -100.0, -4.0, -5.0, 20.0, -30.0],
        }
    )


def test_negative_amounts_net_default():
    """Returns net against the matching-amount or most recent earlier purchase, with counts."""
    expected = (
        r"Netted 4 negative amounts .*1 purchase reduced, 2 purchases fully "
        r"returned and removed, 1 return with no earlier purchase dropped, 1 "
        r"customer left with no purchases"
    )
    with pytest.warns(DataQualityWarning, match=expected) as rec:
        tx = load_transactions(_returns_frame())
    assert len(rec) == 1
    assert rec[0].filename == __file__  # stacklevel=2 points at the caller
    # a: -100 removes the 100 purchase (exact match), -4 reduces the 10 to 6;
    # b: orphan return dropped; c: -30 wipes out the 20 (10 discarded), customer c vanishes
    assert tx["customer_id"].tolist() == ["a"]
    assert tx["amount"].tolist() == [6.0]
    assert tx["date"].tolist() == [pd.Timestamp("2024-01-05")]
    (q,) = tx.attrs["data_quality"]
    assert q["check"] == "negative amounts (returns)" and q["count"] == 4
    assert "of which 15.00 exceeded the purchases" in q["action"]


def test_negative_amounts_same_day_return():
    """A return on the same day as its purchase nets against it."""
    frame = pd.DataFrame({"customer_id": ["a", "a"], "date": ["2024-01-01"] * 2,
                          "amount": [50.0, -20.0]})
    with pytest.warns(DataQualityWarning, match="1 purchase reduced"):
        tx = load_transactions(frame)
    assert tx["amount"].tolist() == [30.0]


@pytest.mark.parametrize("policy", ["drop", "keep", "raise"])
def test_negative_amount_alternatives(policy):
    """drop removes return rows with a warning, keep keeps them silently, raise raises."""
    frame = _returns_frame()
    if policy == "raise":
        expected = (
            r"'amount' \(amount\): must not be negative; 4 rows .*index label 2: "
            r"customer 'a'"
        )
        with pytest.raises(InvalidValueError, match=expected):
            load_transactions(frame, negative_amounts="raise")
        return
    if policy == "drop":
        expected = (
            r"Dropped 4 rows with a negative amount \(total 139.00"
        )
        with pytest.warns(DataQualityWarning, match=expected):
            tx = load_transactions(frame, negative_amounts="drop")
        assert (tx["amount"] > 0).all() and len(tx) == 3
    else:
        tx = _load_quiet(frame, negative_amounts="keep")
        assert len(tx) == 7 and (tx["amount"] < 0).sum() == 4


def test_zero_amounts_policies():
    """Zero amounts are kept by default (recorded), dropped with a warning, or raise."""
    frame = _clean_frame()
    frame.loc[1, "amount"] = 0.0
    tx = _load_quiet(frame)
    assert len(tx) == 4
    assert tx.attrs["data_quality"][0]["check"] == "zero amounts"
    expected = (
        r"Dropped 1 row with a zero amount \(index label 1: customer 'a'"
    )
    with pytest.warns(DataQualityWarning, match=expected):
        tx = load_transactions(frame, zero_amounts="drop")
    assert len(tx) == 3 and (tx["amount"] != 0).all()
    with pytest.raises(InvalidValueError, match=r"'amount' \(amount\): must not be zero; 1 row"):
        load_transactions(frame, zero_amounts="raise")


def test_duplicates_dropped_with_timestamps():
    """Exact duplicates of timestamped rows are dropped by default (auto), first one kept."""
    frame = pd.DataFrame(
        {"customer_id": ["a", "a", "a", "b"],
         "date": ["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:00"],
         "amount": [5.0, 5.0, 6.0, 5.0]}
    )
    expected = (
        r"Dropped 1 exact duplicate row .*index label 1: customer 'a', "
        r"2024-01-01 10:00:00, amount 5"
    )
    with pytest.warns(DataQualityWarning, match=expected):
        tx = load_transactions(frame)
    assert tx["amount"].tolist() == [5.0, 6.0, 5.0]
    assert tx.attrs["data_quality"][0]["count"] == 1


def test_duplicates_day_resolution_kept_by_auto():
    """With day-only dates, auto keeps repeats (recorded without warning); drop removes them."""
    frame = pd.DataFrame({"customer_id": ["a", "a"], "date": ["2024-01-01"] * 2,
                          "amount": [5.0, 5.0]})
    tx = _load_quiet(frame)
    assert len(tx) == 2 and tx.attrs["data_quality"][0]["count"] == 1
    with pytest.warns(DataQualityWarning, match="Dropped 1 exact duplicate row"):
        assert len(load_transactions(frame, duplicates="drop")) == 1
    assert len(_load_quiet(frame, duplicates="keep")) == 2
    expected = (
        r"rows must not repeat; 1 row repeat.*index label 1"
    )
    with pytest.raises(InvalidValueError, match=expected):
        load_transactions(frame, duplicates="raise")


def test_mixed_offsets_converted_to_utc(tmp_path):
    """Mixed UTC offsets and naive dates: aware rows go to UTC, naive rows never shift."""
    path = _write(
        tmp_path,
        "customer_id,date,amount\n"
        "a,2024-03-01 23:30:00+01:00,1\n"   # 22:30 UTC, same day
        "a,2024-03-02 00:30:00+02:00,2\n"   # 2024-03-01 22:30 UTC: day changes
        "b,2024-03-02 00:30:00,3\n"         # naive: untouched
        "b,2024-03-03 12:00:00Z,4\n",       # already UTC
    )
    expected = (
        r"3 values carried a time zone .*2 rows changed clock time, 1 of them "
        r"calendar day; 1 row without a time zone .*left unchanged \(line 2"
    )
    with pytest.warns(DataQualityWarning, match=expected):
        tx = load_transactions(path)
    assert tx["date"].tolist() == pd.to_datetime(
        ["2024-03-01 22:30", "2024-03-01 22:30", "2024-03-02 00:30", "2024-03-03 12:00"]
    ).tolist()
    assert tx["date"].dt.tz is None
    assert tx.attrs["data_quality"][0]["count"] == 2


def test_timezone_argument_and_aware_dataframe():
    """A tz-aware column is converted to timezone= and made naive; naive data never shift."""
    aware = pd.DataFrame({"customer_id": ["a", "b"],
                          "date": pd.to_datetime(["2024-06-01 23:30", "2024-06-02 08:00"],
                                                 utc=True),
                          "amount": [1.0, 2.0]})
    expected = (
        "converted to Europe/Amsterdam; 2 rows changed clock time, 1 of them "
        "calendar day"
    )
    with pytest.warns(DataQualityWarning, match=expected):
        tx = load_transactions(aware, timezone="Europe/Amsterdam")
    assert tx["date"].tolist() == pd.to_datetime(["2024-06-02 01:30", "2024-06-02 10:00"]).tolist()
    naive = _clean_frame()
    assert _load_quiet(naive, timezone="Asia/Tokyo")["date"].tolist() == pd.to_datetime(
        ["2024-01-02", "2024-01-05", "2024-01-03", "2024-02-01"]).tolist()


def test_blank_lines_skipped_with_warning(tmp_path):
    """Blank lines in a CSV are skipped with a counted warning; later line numbers stay right."""
    text = "customer_id,date,amount\na,2024-01-01,1\n\nb,2024-01-02,2\n\nc,2024-01-03,3\n"
    with pytest.warns(DataQualityWarning, match=r"skipped 2 blank lines \(line 3, line 5\)"):
        tx = load_transactions(_write(tmp_path, text))
    assert tx["customer_id"].tolist() == ["a", "b", "c"]
    with pytest.raises(InvalidValueError, match=r"line 6: 'bad'"):
        load_transactions(_write(tmp_path, text.replace("2024-01-03", "bad")))


def test_mixed_aware_and_naive_datetime_objects():
    """An object column mixing tz-aware and naive Timestamps converts only the aware ones."""
    frame = pd.DataFrame({
        "customer_id": ["a", "b"],
        "date": [pd.Timestamp("2024-01-01 23:00", tz="US/Eastern"),
                 pd.Timestamp("2024-01-01 10:00")],
        "amount": [1.0, 2.0],
    })
    with pytest.warns(DataQualityWarning, match="1 row without a time zone was taken to be in UTC"):
        tx = load_transactions(frame)
    assert tx["date"].tolist() == pd.to_datetime(["2024-01-02 04:00", "2024-01-01 10:00"]).tolist()


def test_second_date_format_recorded():
    """Dates in a second format are an error by default (one format per column); with
    date_format='mixed' they are parsed row by row and reported with a warning."""
    frame = pd.DataFrame({"customer_id": ["a", "b"], "date": ["2024-01-05", "Feb 3 2024"],
                          "amount": [1.0, 2.0]})
    with pytest.raises(InvalidValueError, match=r"one format for the whole column \(most are "
                                                r"ISO 8601.*'Feb 3 2024'.*date_format='mixed'"):
        load_transactions(frame)
    expected = r"1 value did not match the ISO 8601 format.*'Feb 3 2024' -> 2024-02-03"
    with pytest.warns(DataQualityWarning, match=expected):
        tx = load_transactions(frame, date_format="mixed")
    assert tx["date"].tolist() == pd.to_datetime(["2024-01-05", "2024-02-03"]).tolist()


def test_all_rows_dropped_is_empty():
    """When no row survives the policies, EmptyInputError says so."""
    frame = pd.DataFrame({"customer_id": ["a"], "date": ["2024-01-01"], "amount": [-1.0]})
    with pytest.raises(EmptyInputError, match="no transactions are left after the data policies"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            load_transactions(frame)


# --------------------------------------------------------------------------- properties
_ids = st.sampled_from(["a", "b", "c", "10", "2"])
_rows = st.lists(
    st.tuples(_ids, st.integers(0, 30), st.sampled_from([-5.0, 0.0, 1.5, 5.0, 20.0])),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, seed=st.integers(0, 2**32 - 1))
def test_property_row_order_irrelevant_and_counts_add_up(rows, seed):
    """Shuffling the input never changes the output; rows out = rows in minus counted drops."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    # one return per (customer, day) at most keeps netting order-free, plus distinct purchases
    frame = frame.drop_duplicates(["customer_id", "date"])
    shuffled = frame.sample(frac=1.0, random_state=seed % 2**31)

    def run(f):
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                return load_transactions(f, negative_amounts="drop", duplicates="drop")
            except EmptyInputError:
                return None

    a, b = run(frame), run(shuffled)
    if a is None:
        assert b is None and (frame["amount"] >= 0).sum() == 0
        return
    pd.testing.assert_frame_equal(a, b)
    dropped = sum(r["count"] for r in a.attrs["data_quality"] if r["action"].startswith("dropped"))
    assert len(a) == len(frame) - dropped
    assert (a["amount"] >= 0).all()
    assert a.attrs["n_rows_read"] == len(frame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows)
def test_property_netting_conserves_value(rows):
    """Netting never adds value: output total lies between purchases minus returns and purchases."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    purchases = frame.loc[frame["amount"] > 0, "amount"].sum()
    returns = -frame.loc[frame["amount"] < 0, "amount"].sum()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            tx = load_transactions(frame, duplicates="keep")
        except EmptyInputError:
            assert purchases <= returns + 1e-9 or purchases == 0
            return
    assert (tx["amount"] >= 0).all()
    total = tx["amount"].sum()
    assert purchases - returns - 1e-9 <= total <= purchases + 1e-9
    assert set(tx["customer_id"]) <= set(frame["customer_id"])


def test_ids_that_look_like_missing_markers_are_kept(tmp_path):
    """Customer ids 'NA' and 'null' are real ids in a CSV, not missing values."""
    path = tmp_path / "na_ids.csv"
    path.write_text(
        "customer_id,date,amount\nNA,2024-01-01,10\nnull,2024-01-02,5\nNA,2024-01-03,NA\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidValueError, match="amount"):
        load_transactions(path)  # the NA amount is still missing
    path.write_text(
        "customer_id,date,amount\nNA,2024-01-01,10\nnull,2024-01-02,5\n", encoding="utf-8"
    )
    tx = load_transactions(path)
    assert sorted(tx["customer_id"]) == ["NA", "null"]
