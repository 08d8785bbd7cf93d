"""Reproductions of issue 12: inputs that gave wrong numbers (exit 0) or clumsy errors.

Each test first reproduces one case of the issue as it was reported, then states the
behaviour clvlab promises instead (a correct load, a clear clvlab error or a counted
warning).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import clvlab
from clvlab.cli import app
from clvlab.exceptions import (
    ClvlabError,
    DataQualityWarning,
    InvalidArgumentError,
    InvalidValueError,
    ModelWarning,
    NotATableError,
)
from clvlab.io import load_transactions


def _write(tmp_path: Path, text: str, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        return func(*args, **kwargs)


# --------------------------------------------------------------------------- dates
def _dmy_log(n_customers: int = 400, seed: int = 0) -> pd.DataFrame:
    """A day-first log whose first date is ambiguous ('12/10/2023')."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, 3 * n_customers),
                                                        unit="D")
    ids = rng.integers(0, n_customers, days.size)
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in ids], "date": days,
                          "amount": np.round(rng.gamma(4, 5, days.size), 2)})
    first = pd.DataFrame({"customer_id": ["c0"], "date": [pd.Timestamp("2023-10-12")],
                          "amount": [10.0]})
    return pd.concat([first, frame], ignore_index=True)


def test_day_first_log_is_read_day_first_for_every_row(tmp_path):
    """A dd/mm/yyyy log whose first date is ambiguous is read day-first throughout, silently
    only because the column decides it (some days are > 12)."""
    truth = _dmy_log()
    text = truth.assign(date=truth["date"].dt.strftime("%d/%m/%Y"))
    path = tmp_path / "dmy.csv"
    text.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        tx = load_transactions(path)
    expected = _quiet(load_transactions, truth)
    pd.testing.assert_frame_equal(tx, expected, check_like=True)
    fmt = [r for r in tx.attrs["data_quality"] if r["check"] == "date format"]
    assert fmt and "%d/%m/%Y" in fmt[0]["action"]


def test_ambiguous_date_column_is_an_error_showing_both_readings(tmp_path):
    """When every date reads both day-first and month-first the load stops, showing both
    readings and naming date_format= and the dayfirst switch."""
    path = _write(tmp_path, "customer_id,date,amount\na,12/10/2023,1\nb,01/02/2024,2\n")
    with pytest.raises(InvalidValueError) as info:
        load_transactions(path)
    msg = str(info.value)
    assert "'12/10/2023'" in msg and "2023-12-10" in msg and "2023-10-12" in msg
    assert "date_format='%d/%m/%Y'" in msg and "date_format='dayfirst'" in msg
    tx = _quiet(load_transactions, path, date_format="dayfirst")
    assert tx["date"].tolist() == [pd.Timestamp("2023-10-12"), pd.Timestamp("2024-02-01")]


def test_calibration_end_must_be_iso_or_the_explicit_format(tmp_path):
    """calibration_end='01/06/2024' is refused (it could be 6 January or 1 June)."""
    tx = _quiet(load_transactions, pd.DataFrame({
        "customer_id": ["a", "a", "b"], "date": ["2024-01-02", "2024-08-01", "2024-03-01"],
        "amount": [1.0, 2.0, 3.0]}))
    with pytest.raises(InvalidValueError, match=r"calibration_end must be a date.*ISO 8601"):
        clvlab.calibration_holdout(tx, "01/06/2024", "2024-09-01")
    split = _quiet(clvlab.calibration_holdout, tx, "2024-06-01", "2024-09-01")
    assert split.attrs["calibration_end"] == "2024-06-01"


def test_cli_calibration_end_in_another_format_is_refused_or_read_with_date_format(tmp_path):
    """--calibration-end 01/06/2024 exits 2 naming the option; with --date-format %d/%m/%Y it
    is 1 June 2024."""
    from clvlab.cli import _Settings

    settings = _Settings(calibration_end="01/06/2024")
    with pytest.raises(InvalidArgumentError, match="--calibration-end"):
        settings.checked_dates()
    settings = _Settings(calibration_end="01/06/2024", date_format="%d/%m/%Y")
    settings.checked_dates()
    assert settings.calibration_end == "2024-06-01"


# --------------------------------------------------------------------------- numbers
def test_decimal_comma_with_three_decimals_is_not_read_as_thousands(tmp_path):
    """'0,990' cannot be a thousands group, so the ';'-file's '2,104' is 2.104, not 2104."""
    text = "customer_id;date;amount\na;2024-01-01;0,990\nb;2024-01-02;2,104\nc;2024-01-03;12,5\n"
    tx = load_transactions(_write(tmp_path, text))
    assert tx["amount"].tolist() == [0.99, 2.104, 12.5]
    records = [r for r in tx.attrs["data_quality"] if r["check"] == "amounts written as text"]
    assert len(records) == 1
    action = records[0]["action"]
    assert "decimal comma" in action and action.count("thousands") <= 1


def test_undecided_separator_is_an_error_naming_the_option(tmp_path):
    """A column of '1,234' and '2,500' alone does not say whether ',' is decimal or
    thousands: an error names decimal= and --decimal."""
    text = "customer_id;date;amount\na;2024-01-01;1,234\nb;2024-01-02;2,500\n"
    with pytest.raises(InvalidValueError, match=r"decimal=.*--decimal"):
        load_transactions(_write(tmp_path, text))
    tx = load_transactions(_write(tmp_path, text), decimal=",")
    assert tx["amount"].tolist() == [1.234, 2.5]
    tx = load_transactions(_write(tmp_path, text), decimal=".")
    assert tx["amount"].tolist() == [1234.0, 2500.0]


# --------------------------------------------------------------------------- structure
def test_duplicate_column_names_in_a_file_are_an_error(tmp_path):
    """A header with 'amount' twice (gross and net) raises naming the column."""
    text = "customer_id,date,amount,amount\na,2024-01-01,12.0,10.0\n"
    with pytest.raises(InvalidValueError, match=r"'amount' appears 2 times"):
        load_transactions(_write(tmp_path, text))


def test_unquoted_thousands_in_every_row_is_a_field_count_error(tmp_path):
    """'1,234.50' unquoted in every row gives 4 fields under a 3-field header: the error
    says so (lines, likely cause) instead of blaming the dates."""
    text = "customer_id,date,amount\na,2024-01-01,1,234.50\nb,2024-01-02,2,100.00\n"
    with pytest.raises(NotATableError, match=r"more fields than the header.*line 2.*quote"):
        load_transactions(_write(tmp_path, text))


# --------------------------------------------------------------------------- files
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-8-sig"])
def test_utf16_and_utf32_files_load(tmp_path, encoding):
    """UTF-16/32 files, with a byte-order mark or without, load like UTF-8."""
    text = "customer_id,date,amount\nJosé,2024-01-01,1.5\nb,2024-01-02,2\n"
    path = tmp_path / "wide.csv"
    path.write_bytes(text.encode(encoding))
    tx = load_transactions(path)
    assert tx["customer_id"].tolist() == ["José", "b"]


def test_explicit_encoding_is_honoured_before_the_binary_check(tmp_path):
    """encoding='utf-16' reads a UTF-16 file instead of calling it binary."""
    path = tmp_path / "u16.csv"
    path.write_bytes("customer_id,date,amount\na,2024-01-01,1\n".encode("utf-16"))
    assert len(load_transactions(path, encoding="utf-16")) == 1


@pytest.mark.parametrize(("suffix", "compress"), [
    (".csv.gz", gzip.compress), (".csv.bz2", bz2.compress), (".csv.xz", lzma.compress)])
def test_truncated_compressed_file_is_a_clvlab_error(tmp_path, suffix, compress):
    """A truncated compressed file raises NotATableError saying so, not an EOFError."""
    body = ("customer_id,date,amount\n" + "a,2024-01-01,1\n" * 20000).encode()
    data = compress(body)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotATableError, match=r"truncated or corrupt"):
        load_transactions(path)
    path.write_bytes(data)
    assert len(_quiet(load_transactions, path)) == 20000


def test_zip_with_one_csv_loads_and_a_corrupt_zip_is_an_error(tmp_path):
    """A .zip holding one CSV loads; a truncated one is NotATableError."""
    path = tmp_path / "tx.csv.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tx.csv", "customer_id,date,amount\na,2024-01-01,1\n" * 1)
    assert len(load_transactions(path)) == 1
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotATableError, match=r"truncated or corrupt"):
        load_transactions(path)


def test_symlink_loop_is_not_reported_as_missing(tmp_path):
    """A symbolic-link loop is named as such, not as a missing file."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    os.symlink(b, a)
    os.symlink(a, b)
    with pytest.raises(NotATableError, match=r"symbolic link.*loop"):
        load_transactions(a)


def test_unreadable_file_is_a_clvlab_error(tmp_path, monkeypatch):
    """A file the process may not read raises NotATableError naming the permission."""
    path = _write(tmp_path, "customer_id,date,amount\na,2024-01-01,1\n")
    real_open = open

    def deny(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(NotATableError, match=r"[Pp]ermission denied"):
        load_transactions(path)


# --------------------------------------------------------------------------- degenerate fits
def _no_churn_rfm(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    """Customers who all keep buying at steady rates to the end: no sign of churn."""
    rng = np.random.default_rng(seed)
    T = rng.integers(10, 60, n).astype(float)
    lam = rng.gamma(4.0, 1 / 8.0, n)
    x = rng.poisson(lam * T).astype(float)
    rec = np.where(x > 0, T - rng.uniform(0, 0.5, n), 0.0)
    rec = np.clip(rec, 0, T)
    frame = pd.DataFrame({"frequency": x, "recency": rec, "T": T,
                          "monetary_value": np.where(x > 0, rng.gamma(5, 4, n), 0.0)},
                         index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def test_predictions_at_the_reported_boundary_are_finite():
    """At the issue's boundary estimate (a = 8e8, b = 1e10) CLV of 1,000 customers is finite
    (it took 52 s and gave NaN; the time is measured in benchmarks/bench_degenerate.py)."""
    rfm = _no_churn_rfm()
    bg = clvlab.BetaGeoFitter()
    bg.params_ = pd.Series([2.2, 3.4, 8e8, 1e10], index=["r", "alpha", "a", "b"])
    bg.time_unit_ = "W"
    gg = _quiet(clvlab.GammaGammaFitter().fit, rfm)
    clv = clvlab.customer_lifetime_value(bg, gg, rfm, horizon=52, discount_rate=0.0018)
    assert np.isfinite(clv).all() and (clv >= 0).all()


def test_no_churn_fit_warns_naming_the_cause_and_the_nbd_limit():
    """A log without churn makes BG/NBD warn (ModelWarning) that dropout is not identified
    and that the model reduces to the NBD; predictions stay finite."""
    rfm = _no_churn_rfm()
    with pytest.warns(ModelWarning, match=r"(?s)churn.*NBD"):
        bg = clvlab.BetaGeoFitter().fit(rfm)
    assert np.isfinite(bg.expected_purchases(rfm, 52)).all()


# --------------------------------------------------------------------------- arguments
def test_margin_given_as_a_percentage_is_an_error_with_a_suggestion():
    """margin=30 is refused with 'did you mean 0.30?' in the API and the CLI."""
    rfm = _no_churn_rfm(50)
    bg = _quiet(clvlab.BetaGeoFitter().fit, rfm)
    gg = _quiet(clvlab.GammaGammaFitter().fit, rfm)
    with pytest.raises(InvalidArgumentError, match=r"did you mean 0\.30\?"):
        clvlab.customer_lifetime_value(bg, gg, rfm, 52, 0.002, margin=30)
    result = CliRunner().invoke(app, ["run", "--sample", "--margin", "30"])
    assert result.exit_code == 2
    assert "did you mean 0.30?" in result.output


# --------------------------------------------------------------------------- outputs
def test_xlsx_cells_beyond_excel_limit_are_truncated_and_counted(tmp_path):
    """An id longer than 32,767 characters is cut with a visible marker in the XLSX and
    counted on the Data quality sheet; the CSV keeps it whole."""
    from openpyxl import load_workbook

    from clvlab.export import XLSX_MAX_CELL_CHARS, write_csv, write_workbook

    long_id = "x" * 40_000
    scores = pd.DataFrame({"clv": [1.0, 2.0]},
                          index=pd.Index([long_id, "short"], name="customer_id"))
    with pytest.warns(DataQualityWarning, match="32,767"):
        write_workbook(tmp_path / "p.xlsx", scores, data_quality=[])
    wb = load_workbook(tmp_path / "p.xlsx", read_only=True)
    cell = next(wb["Predictions"].iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert len(cell) <= XLSX_MAX_CELL_CHARS and cell.endswith("[truncated]")
    dq = list(wb["Data quality"].iter_rows(values_only=True))
    assert any("32,767" in str(row[0]) and row[2] == 1 for row in dq[1:])
    write_csv(tmp_path / "p.csv", scores)
    back = pd.read_csv(tmp_path / "p.csv", dtype={"customer_id": str})
    assert back["customer_id"].iloc[0] == long_id


def test_clvlab_errors_are_clvlab_errors():
    """The argument error used by API and CLI is a ClvlabError and a ValueError."""
    assert issubclass(InvalidArgumentError, ClvlabError)
    assert issubclass(InvalidArgumentError, ValueError)
