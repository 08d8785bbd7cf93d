"""Write the hostile input corpus of issue 12 into this folder (run from anywhere).

Every file is small and derived from one base log (``base.csv``, written here too) so the
test can check that a file which should load gives exactly the base log's transactions.
The expected outcome of each file is in ``tests/test_hostile.py``; files whose trouble
is the file system itself (symbolic-link loops, unreadable paths) are made by the test.

Run: ``python tests/data/hostile/make_corpus.py`` (same content every run; XLSX files carry
a creation time; needs pandas, openpyxl,
pyarrow).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def base_log() -> pd.DataFrame:
    """Ten customers over 2023 with repeat purchases; days above 12 occur (day-first is
    decidable), amounts above 1,000 occur (thousands separators), two ids differ only by
    leading zeros."""
    rng = np.random.default_rng(12)
    ids = ["007", "7", "A-1", "b", "c", "d", "e", "f", "g", "h"]
    rows = []
    for k, cid in enumerate(ids):
        n = 3 + k % 4
        days = np.sort(rng.choice(np.arange(0, 360), n, replace=False))
        for d in days:
            amount = round(float(rng.choice([0.99, 12.5, 49.0, 1234.56, 2500.0, 87.3])) *
                           (1 + 0.01 * int(rng.integers(0, 5))), 2)
            rows.append((cid, pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d)), amount))
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    # the first row's date reads both ways (12 October / 10 December)
    frame.loc[0, "date"] = pd.Timestamp("2023-10-12")
    return frame


def _text(frame: pd.DataFrame, *, date_fmt: str = "%Y-%m-%d", sep: str = ",",
          amount=lambda v: f"{v:.2f}", quote_amount: bool = False, eol: str = "\n") -> str:
    lines = [sep.join(["customer_id", "date", "amount"])]
    for cid, date, amount_v in frame.itertuples(index=False):
        a = amount(amount_v)
        if quote_amount:
            a = f'"{a}"'
        lines.append(sep.join([cid, date.strftime(date_fmt), a]))
    return eol.join(lines) + eol


def _eu(v: float, thousands: str = ".") -> str:
    """1234.56 -> '1.234,56'."""
    whole, frac = f"{v:,.2f}".split(".")
    return whole.replace(",", thousands) + "," + frac


def write_corpus() -> dict[str, str]:
    base = base_log()
    files: dict[str, bytes] = {}
    clean = _text(base)
    files["base.csv"] = clean.encode("utf-8")
    # -- encodings
    files["enc_utf8_bom.csv"] = clean.encode("utf-8-sig")
    files["enc_utf16_bom.csv"] = clean.encode("utf-16")
    files["enc_utf16le_nobom.csv"] = clean.encode("utf-16-le")
    files["enc_utf16be_nobom.csv"] = clean.encode("utf-16-be")
    files["enc_utf32_bom.csv"] = clean.encode("utf-32")
    files["enc_latin1.csv"] = clean.replace("A-1", "José").encode("latin-1")
    # -- delimiters and quoting
    files["sep_semicolon_decimal_comma.csv"] = _text(base, sep=";", amount=_eu).encode()
    files["sep_tab.tsv"] = _text(base, sep="\t").encode()
    files["sep_pipe.txt"] = _text(base, sep="|").encode()
    files["quote_thousands_quoted.csv"] = _text(
        base, amount=lambda v: f"{v:,.2f}", quote_amount=True).encode()
    files["quote_thousands_unquoted.csv"] = _text(
        base, amount=lambda v: f"{v:,.2f}" if v >= 1000 else f"{v:.2f}").encode()
    one_comma = clean.splitlines()
    one_comma[3] = one_comma[3].replace("A-1,", "Smith, J,", 1) if "A-1," in one_comma[3] \
        else one_comma[3].replace(",", ", x,", 1)
    files["quote_unquoted_comma_in_id.csv"] = ("\n".join(one_comma) + "\n").encode()
    files["eol_crlf.csv"] = _text(base, eol="\r\n").encode()
    files["eol_trailing_delimiter.csv"] = "".join(
        line + ",\n" if i else line + "\n"
        for i, line in enumerate(clean.splitlines())).encode()
    files["blank_lines.csv"] = clean.replace("\n", "\n\n", 3).encode()
    files["empty_header_only.csv"] = b"customer_id,date,amount\n"
    files["empty_zero_bytes.csv"] = b""
    files["header_repeated_amount.csv"] = ("customer_id,date,amount,amount\n" + "".join(
        f"{c},{d:%Y-%m-%d},{a:.2f},{a * 0.8:.2f}\n"
        for c, d, a in base.itertuples(index=False))).encode()
    # -- numbers
    three = base.iloc[:6].assign(amount=[0.99, 2.104, 12.5, 1.0, 3.333, 0.5])
    files["num_decimal_comma_three_decimals.csv"] = _text(
        three, sep=";", amount=lambda v: f"{v:.3f}".replace(".", ",")).encode()
    files["num_ambiguous_thousands.csv"] = _text(
        base.iloc[:6].assign(amount=[1234.0, 2500.0, 1100.0, 9999.0, 1001.0, 2000.0]), sep=";",
        amount=lambda v: f"{v:,.0f}").encode()
    mixed = [_eu(v) if i % 2 else f"{v:,.2f}" for i, v in enumerate(base["amount"])]
    files["num_mixed_formats.csv"] = ("customer_id;date;amount\n" + "".join(
        f"{c};{d:%Y-%m-%d};{m}\n" for (c, d, _), m in zip(base.itertuples(index=False), mixed,
                                                          strict=True))).encode()
    files["num_euro_suffix.csv"] = _text(base, sep=";", amount=lambda v: _eu(v) + " €").encode()
    files["num_currency_mixed.csv"] = _text(
        base, amount=lambda v: f"${v:.2f}" if v > 50 else f"€{v:.2f}").encode()
    files["num_currency_code.csv"] = _text(base, amount=lambda v: f"USD {v:.2f}").encode()
    files["num_nbsp_thousands.csv"] = _text(
        base, sep=";", amount=lambda v: _eu(v, "\u00a0")).encode()
    files["num_parentheses_negative.csv"] = (clean.rstrip("\n") + "\nb,2023-12-30,(12.50)\n"
                                             ).encode()
    files["num_scientific.csv"] = _text(base, amount=lambda v: f"{v:.6e}").encode()
    files["num_nan_amount.csv"] = (clean + "b,2023-12-30,NaN\n").encode()
    files["num_trailing_minus_return.csv"] = (clean + "b,2023-12-30,12.50-\n").encode()
    # -- dates
    files["date_dmy_first_ambiguous.csv"] = _text(base, date_fmt="%d/%m/%Y").encode()
    early = base.assign(date=base["date"].map(lambda d: d.replace(day=min(d.day, 12))))
    files["date_all_ambiguous.csv"] = _text(early, date_fmt="%d/%m/%Y").encode()
    files["date_mdy.csv"] = _text(base, date_fmt="%m/%d/%Y").encode()
    files["date_two_digit_year.csv"] = _text(base, date_fmt="%d/%m/%y").encode()
    files["date_dotted.csv"] = _text(base, date_fmt="%d.%m.%Y").encode()
    files["date_yyyymmdd.csv"] = _text(base, date_fmt="%Y%m%d").encode()
    files["date_mixed_formats.csv"] = (clean + "b,Dec 30 2023,5.00\n").encode()
    files["date_out_of_range.csv"] = (clean + "b,9999-12-30,5.00\n").encode()
    tz = base.assign(date=base["date"] + pd.Timedelta(hours=23, minutes=30))
    files["date_with_offsets.csv"] = _text(tz, date_fmt="%Y-%m-%dT%H:%M:%S+02:00").encode()
    # -- compressed files
    files["file_good.csv.xz"] = lzma.compress(clean.encode())
    files["file_good.csv.bz2"] = bz2.compress(clean.encode())
    gz = gzip.compress((clean * 40).encode())
    files["file_truncated.csv.gz"] = gz[: len(gz) // 2]
    files["file_corrupt.csv.bz2"] = b"BZh91AY&SY" + bytes(range(200))
    files["file_png_renamed.csv"] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    # ZIP archives
    with zipfile.ZipFile(HERE / "file_one_csv.csv.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tx.csv", clean)
    with zipfile.ZipFile(HERE / "file_two_files.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", clean)
        zf.writestr("b.csv", clean)
    # -- ids
    odd = base.copy()
    odd["customer_id"] = odd["customer_id"].map({
        "007": "007", "7": "7", "A-1": "=HYPERLINK(\"http://x\")", "b": "+1", "c": "-2",
        "d": "@SUM(A1)", "e": "<script>alert(1)</script>", "f": "顧客 ☕ é", "g": "NA",
        "h": "null"})
    (HERE / "id_oddities.csv").write_text(_text(odd), encoding="utf-8")
    padded = base.assign(customer_id=base["customer_id"].map(lambda c: f"  {c} "))
    (HERE / "id_padded.csv").write_text(_text(padded), encoding="utf-8")
    # -- degenerate logs
    one_day = base.assign(date=pd.Timestamp("2023-06-01"))
    (HERE / "degenerate_one_day.csv").write_text(_text(one_day.drop_duplicates("customer_id")))
    (HERE / "degenerate_no_repeat.csv").write_text(_text(base.drop_duplicates("customer_id")))
    steady = []
    for k in range(40):
        for m in range(12):
            steady.append((f"s{k}", pd.Timestamp(2023, m + 1, 1 + k % 20), 20.0))
    steady_frame = pd.DataFrame(steady, columns=["customer_id", "date", "amount"])
    (HERE / "degenerate_no_churn_constant_spend.csv").write_text(_text(steady_frame))
    # -- extreme values
    (HERE / "extreme_huge_and_tiny_amounts.csv").write_text(_text(
        base.assign(amount=np.where(np.arange(len(base)) % 2, 1e12, 1e-4)),
        amount=lambda v: repr(float(v))))
    (HERE / "extreme_all_returns.csv").write_text(_text(
        base.assign(amount=-base["amount"])))
    # -- Excel
    real = base.copy()
    with pd.ExcelWriter(HERE / "xlsx_real.xlsx", engine="openpyxl") as xw:
        real.to_excel(xw, index=False, sheet_name="orders")
    text_amounts = base.assign(amount=base["amount"].map(lambda v: _eu(v) + " €"))
    with pd.ExcelWriter(HERE / "xlsx_text_amounts.xlsx", engine="openpyxl") as xw:
        text_amounts.to_excel(xw, index=False)
    serial = base.assign(date=(base["date"] - pd.Timestamp("1899-12-30")).dt.days)
    with pd.ExcelWriter(HERE / "xlsx_serial_dates.xlsx", engine="openpyxl") as xw:
        serial.to_excel(xw, index=False)
    dup = base.assign(net=base["amount"])
    dup.columns = ["customer_id", "date", "amount", "amount"]
    with pd.ExcelWriter(HERE / "xlsx_repeated_header.xlsx", engine="openpyxl") as xw:
        dup.to_excel(xw, index=False)
    gappy = pd.concat([base, pd.DataFrame([[None, None, None]] * 3, columns=base.columns)],
                      ignore_index=True)
    with pd.ExcelWriter(HERE / "xlsx_trailing_empty_rows.xlsx", engine="openpyxl") as xw:
        gappy.to_excel(xw, index=False)
    # -- Parquet dtypes
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(**columns):
        return pa.table(columns)

    pq.write_table(table(
        customer_id=pa.array(base["customer_id"]), date=pa.array(base["date"]),
        amount=pa.array([Decimal(f"{v:.2f}") for v in base["amount"]], pa.decimal128(12, 2))),
        HERE / "parquet_decimal_amounts.parquet")
    pq.write_table(table(
        customer_id=pa.array(base["customer_id"]).dictionary_encode(),
        date=pa.array(base["date"].dt.strftime("%Y-%m-%d")).dictionary_encode(),
        amount=pa.array(base["amount"], pa.float32())),
        HERE / "parquet_dictionary_float32.parquet")
    pq.write_table(table(
        customer_id=pa.array(base["customer_id"], pa.large_string()),
        date=pa.array(base["date"].dt.date, pa.date32()),
        amount=pa.array(base["amount"])),
        HERE / "parquet_date32_large_string.parquet")
    pq.write_table(table(
        customer_id=pa.array(base["customer_id"]),
        date=pa.array(base["date"].dt.tz_localize("Europe/Amsterdam"),
                      pa.timestamp("us", tz="Europe/Amsterdam")),
        amount=pa.array(base["amount"])),
        HERE / "parquet_tz_timestamps.parquet")
    int_ids = base[base["customer_id"].str.fullmatch(r"\d+")]
    pq.write_table(table(
        customer_id=pa.array(int_ids["customer_id"].astype("int64")),
        date=pa.array(int_ids["date"]), amount=pa.array(int_ids["amount"])),
        HERE / "parquet_int_ids.parquet")
    pq.write_table(pa.Table.from_arrays(
        [pa.array(base["customer_id"]), pa.array(base["date"]), pa.array(base["amount"]),
         pa.array(base["amount"] * 0.8)], names=["customer_id", "date", "amount", "amount"]),
        HERE / "parquet_repeated_names.parquet")
    return {p.name: p.suffix for p in HERE.iterdir()}


if __name__ == "__main__":
    written = write_corpus()
    print(f"{len(written)} files in {HERE}")
