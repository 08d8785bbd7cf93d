"""The workbook as a manager reads and prints it: order, blanks, units, currency, print setup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from clvlab.export import COLUMN_NOTES, write_workbook
from clvlab.scoring import SCORE_COLUMNS, assign_segments


def _scores(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A scoring table shaped like score_customers' output (one-time buyers included)."""
    freq = rng.integers(0, 4, n).astype(float)
    T = rng.uniform(10, 78, n)
    frame = pd.DataFrame(
        {
            "frequency": freq,
            "recency": np.where(freq > 0, T * rng.uniform(0, 1, n), 0.0),
            "T": T,
            "monetary_value": np.where(freq > 0, rng.gamma(3, 10, n), 0.0),
            "probability_alive": rng.uniform(0, 1, n),
            "expected_purchases": rng.uniform(0, 4, n),
            "expected_spend": rng.gamma(3, 10, n),
            "clv": rng.gamma(2, 30, n),
            "clv_baseline": np.where(freq > 0, rng.gamma(2, 20, n), 0.0),
            "historical_spend": rng.gamma(2, 30, n),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    frame["segment"] = assign_segments(frame).array
    return frame


def _rows(path, title):
    wb = load_workbook(path)
    return wb, [list(r) for r in wb[title].iter_rows()]


def test_rank_by_clv_sorts_highest_first_with_a_rank_column(tmp_path, rng):
    """rank_by='clv': rows by CLV descending, column A 'Rank by CLV' = 1..n, ids follow."""
    scores = _scores(40, rng)
    scores.loc["c3", "clv"] = np.nan  # missing values go last
    write_workbook(tmp_path / "p.xlsx", scores, rank_by="clv")
    _, rows = _rows(tmp_path / "p.xlsx", "Predictions")
    assert [c.value for c in rows[0][:3]] == ["Rank by CLV", "Customer ID", "Repeat purchases"]
    body = rows[1:]
    assert [r[0].value for r in body] == list(range(1, 41))
    want = scores["clv"].sort_values(ascending=False, na_position="last", kind="stable")
    assert [r[1].value for r in body] == want.index.tolist()
    clv_col = 1 + 1 + SCORE_COLUMNS.index("clv")
    got = [r[clv_col].value for r in body]
    assert got[-1] is None and got[:-1] == sorted(got[:-1], reverse=True)


def test_undefined_average_repeat_value_is_blank_with_a_note(tmp_path, rng):
    """Customers without a repeat purchase get a blank average repeat value, not 0.0; the
    header cell and the About sheet explain the blank and the baseline's 0."""
    scores = _scores(60, rng)
    write_workbook(tmp_path / "p.xlsx", scores, rank_by="clv")
    wb, rows = _rows(tmp_path / "p.xlsx", "Predictions")
    labels = [c.value for c in rows[0]]
    j_freq, j_mv = labels.index("Repeat purchases"), labels.index("Avg. repeat purchase value")
    j_base = next(j for j, lab in enumerate(labels) if lab.startswith("Baseline CLV"))
    one_time = [r for r in rows[1:] if r[j_freq].value == 0]
    repeat = [r for r in rows[1:] if r[j_freq].value > 0]
    assert one_time and repeat
    assert all(r[j_mv].value is None for r in one_time)
    assert all(isinstance(r[j_mv].value, float) and r[j_mv].value > 0 for r in repeat)
    assert all(r[j_base].value == 0 for r in one_time)  # a real 0 of the formula, explained
    assert rows[0][j_mv].comment.text == COLUMN_NOTES["monetary_value"]
    assert "repeat-purchase rate, which is 0" in rows[0][j_base].comment.text
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=2)}
    assert about["column 'Avg. repeat purchase value'"].startswith("Blank for customers")


def test_deciles_sheet_sets_value_beside_value_only(tmp_path, rng):
    """A purchase-only model (predicted purchases, actual value) is left off the Deciles
    sheet with a note; the columns say value and carry the currency format."""
    scores = _scores(20, rng)
    metrics = pd.DataFrame(
        {"predicted_total_value": [np.nan, 900.0, 500.0], "purchases_mae": [0.8, 0.8, 0.7]},
        index=pd.Index(["BG/NBD", "BG/NBD + Gamma-Gamma", "Baseline"], name="model"),
    )
    deciles = pd.DataFrame({
        "model": ["BG/NBD", "BG/NBD + Gamma-Gamma", "Baseline"],
        "decile": [1, 1, 1], "n_customers": [20, 20, 20],
        "predicted_mean": [3.7, 160.5, 90.0], "actual_mean": [161.8, 170.0, 170.0],
        "predicted_total": [74.0, 3210.0, 1800.0], "actual_total": [3236.0, 3400.0, 3400.0],
        "actual_share": [0.49, 0.52, 0.52],
    })
    write_workbook(tmp_path / "p.xlsx", scores, metrics=metrics, deciles=deciles,
                   currency="EUR")
    wb, rows = _rows(tmp_path / "p.xlsx", "Deciles")
    assert [c.value for c in rows[0]] == [
        "Model", "Decile (1 = highest predicted value)", "Customers",
        "Predicted value per customer", "Actual value per customer", "Predicted value, total",
        "Actual value, total", "Share of all actual value",
    ]
    assert [r[0].value for r in rows[1:]] == ["BG/NBD + Gamma-Gamma", "Baseline"]
    assert rows[1][3].number_format == '"€"#,##0.00;-"€"#,##0.00'
    assert rows[1][7].number_format == "0.0%"
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=2)}
    assert "BG/NBD predicts purchases, not value" in about["Deciles sheet"]
    _, met = _rows(tmp_path / "p.xlsx", "Holdout metrics")
    units = {r[0].value: r[1].value for r in met[1:]}
    assert units["Value: predicted total"] == "EUR"
    assert units["Purchases: mean absolute error"] == "purchases per customer"


@pytest.mark.parametrize(("code", "fmt"), [
    ("EUR", '"€"#,##0.00;-"€"#,##0.00'),
    ("jpy", '"¥"#,##0;-"¥"#,##0'),
    ("CHF", '"CHF "#,##0.00;-"CHF "#,##0.00'),
    (None, "#,##0.00"),
])
def test_money_columns_carry_the_currency(tmp_path, rng, code, fmt):
    """Money columns get the currency's symbol and minor units; the About sheet names it."""
    write_workbook(tmp_path / "p.xlsx", _scores(5, rng), currency=code,
                   metadata={"time_unit": "W", "horizon": 52})
    wb, rows = _rows(tmp_path / "p.xlsx", "Predictions")
    labels = [c.value for c in rows[0]]
    for label in ("CLV (next 52 weeks)", "Historical spend", "Expected spend per purchase"):
        assert rows[1][labels.index(label)].number_format == fmt, label
    assert rows[1][labels.index("P(alive)")].number_format == "0.0%"
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows(min_row=2)}
    assert ("currency" in about) == (code is not None)


def test_unknown_currency_code_is_refused(tmp_path, rng):
    """A currency that is not an ISO 4217 code is a ValueError naming the rule."""
    with pytest.raises(ValueError, match="ISO 4217.*'EURO'.*did you mean EUR"):
        write_workbook(tmp_path / "p.xlsx", _scores(3, rng), currency="EURO")


def test_every_sheet_prints_landscape_one_page_wide_with_the_header_repeated(tmp_path, rng):
    """Print setup on every sheet: landscape, fit to 1 page wide (any height), row 1 repeated."""
    write_workbook(tmp_path / "p.xlsx", _scores(30, rng), rank_by="clv")
    wb = load_workbook(tmp_path / "p.xlsx")
    assert len(wb.sheetnames) == 6
    for ws in wb:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, ws.title
        assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0)
        assert ws.print_title_rows == "$1:$1", ws.title


def test_streamed_gaps_stay_in_their_row(tmp_path, rng):
    """Blank cells in streamed rows (not only the template row): each row of the sheet XML
    holds one cell per non-missing value, and the values read back in their rows (a column
    with gaps used to be spliced into every row)."""
    import re
    import zipfile

    scores = _scores(60, rng)  # one-time buyers: blank average repeat value
    scores.iloc[10:15, scores.columns.get_loc("clv_baseline")] = np.nan
    write_workbook(tmp_path / "p.xlsx", scores, rank_by="clv")
    with zipfile.ZipFile(tmp_path / "p.xlsx") as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode("utf-8")
    rows = re.findall(r'<row r="(\d+)"[^>]*>(.*?)</row>', xml, re.S)
    assert len(rows) == 61
    for number, body in rows:
        refs = re.findall(r'<c r="([A-Z]+)(\d+)"', body)
        assert all(r == number for _, r in refs), number
        assert len({c for c, _ in refs}) == len(refs), number  # no column twice
    _, got = _rows(tmp_path / "p.xlsx", "Predictions")
    labels = [c.value for c in got[0]]
    by_id = {r[1].value: r for r in got[1:]}
    j_mv = labels.index("Avg. repeat purchase value")
    j_base = next(j for j, lab in enumerate(labels) if lab.startswith("Baseline CLV"))
    for cid, row in scores.iterrows():
        cells = by_id[cid]
        want_mv = row["monetary_value"] if row["frequency"] > 0 else None
        assert cells[j_mv].value == (None if want_mv is None else pytest.approx(want_mv))
        want_base = None if np.isnan(row["clv_baseline"]) else pytest.approx(row["clv_baseline"])
        assert cells[j_base].value == want_base
