"""The CLI as people use it: --version, data-policy options, messages, help, progress, predict."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import clvlab
from clvlab.cli import API_OPTIONS, DATA_POLICIES, DEFAULT_FILES, _cli_words, _Ui, app

RUNNER = CliRunner()


def _invoke(*args: str):
    return RUNNER.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def messy_csv(tmp_path):
    """A small log with a return, an exact duplicate and a zero amount."""
    rows = [
        ("a", "2024-01-02", 20.0), ("a", "2024-02-03", 35.0), ("a", "2024-02-10", -35.0),
        ("b", "2024-01-05", 10.0), ("b", "2024-01-05", 10.0), ("b", "2024-03-01", 12.0),
        ("c", "2024-01-07", 0.0), ("c", "2024-02-07", 8.0), ("d", "2024-02-01", 50.0),
    ]
    path = tmp_path / "messy.csv"
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(path, index=False)
    return path


def test_version_prints_the_package_version():
    """clvlab --version prints 'clvlab X.Y.Z' and exits 0."""
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"clvlab {clvlab.__version__}"


@pytest.mark.parametrize("command", ["run", "rfm", "fit", "predict", "report", "export"])
def test_every_data_policy_has_an_option_on_every_command(command):
    """Each command that loads a log offers the options of load_transactions' policies."""
    result = _invoke(command, "--help")
    assert result.exit_code == 0
    for option in ("--returns", "--zero-amounts", "--duplicates", "--timezone", "--encoding",
                   "--sheet", "--date-format", "--sep"):
        assert option in result.output, (command, option)


def test_api_options_map_to_existing_flags():
    """Every keyword the messages may name maps to an option some command declares."""
    helps = " ".join(_invoke(c, "--help").output for c in ("run", "rfm"))
    for flag in API_OPTIONS.values():
        assert flag in helps, flag


@pytest.mark.parametrize(("policy", "needle"), [
    (["--returns", "raise"], "--returns"),
    (["--zero-amounts", "raise"], "--zero-amounts"),
    (["--duplicates", "raise"], "--duplicates"),
])
def test_raise_policies_stop_with_a_message_that_names_the_option(tmp_path, messy_csv, policy,
                                                                   needle):
    """A policy set to raise exits 2; the message names the CLI option, never a Python
    keyword like duplicates='drop'."""
    result = _invoke("rfm", str(messy_csv), *policy, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    text = result.output
    assert needle in text and "Traceback" not in text
    assert not re.search(r"\b(negative_amounts|zero_amounts|duplicates)=", text), text


def test_policy_options_change_what_is_loaded(tmp_path, messy_csv):
    """--duplicates drop and --zero-amounts drop remove those rows; the default --returns net
    subtracts the return from the purchase it matches."""
    out = tmp_path / "rfm.csv"
    result = _invoke("rfm", str(messy_csv), "--duplicates", "drop", "--zero-amounts", "drop",
                     "--time-unit", "D", "-o", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    rfm = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    assert rfm.loc["b", "n_transactions"] == 2  # duplicate dropped
    assert rfm.loc["c", "n_transactions"] == 1  # zero dropped
    assert rfm.loc["a", "n_transactions"] == 1  # default: the return nets the 35.0 purchase


@pytest.mark.parametrize("option", sorted(DATA_POLICIES))
def test_a_bad_policy_value_exits_2_naming_option_and_choices(tmp_path, messy_csv, option):
    """--returns maybe: exit 2 before loading, naming the option and its choices."""
    result = _invoke("rfm", str(messy_csv), option, "maybe")
    assert result.exit_code == 2
    assert f"{option} must be one of {', '.join(DATA_POLICIES[option])}" in result.output


@pytest.mark.parametrize(("message", "want"), [
    ("kept; pass duplicates='drop' to remove", "kept; pass --duplicates drop to remove"),
    ("or pass negative_amounts='net', 'drop' or 'keep'.", "or pass --returns net, drop or keep."),
    ("Name the columns with customer_id=, date= and amount=.",
     "Name the columns with --customer-id, --date and --amount."),
    ("Pass timezone= the zone", "Pass --timezone the zone"),
    ("pass encoding='latin-1' (or", "pass --encoding latin-1 (or"),
    ("pass date_format='%d/%m/%Y'", "pass --date-format %d/%m/%Y"),
    ("first purchase after calibration_end 2023-11-15 (customer_id 'C-1')",
     "first purchase after --calibration-end 2023-11-15 (customer_id 'C-1')"),
])
def test_library_advice_is_rewritten_as_options(message, want):
    """The library's keyword-argument advice reads as command-line options."""
    assert _cli_words(message) == want


def test_missing_column_message_names_the_options(tmp_path):
    """A missing amount column: exit 2 and the message names --amount, not amount=."""
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,date,price\n1,2024-01-01,5\n")
    result = _invoke("fit", str(path))
    assert result.exit_code == 2
    assert "--amount" in result.output and "amount=" not in result.output


def test_help_mentions_a_holdout_only_where_one_applies():
    """rfm and fit help do not promise a holdout evaluation; run, report, export do."""
    for command in ("rfm", "fit"):
        text = _invoke(command, "--help").output.lower()
        assert "holdout evaluation" not in text and "evaluat" not in text, command
    assert "calibration table" in _invoke("rfm", "--help").output
    for command in ("run", "report", "export"):
        assert "holdout evaluation" in _invoke(command, "--help").output, command


def test_progress_bar_shows_percentage_and_eta():
    """On a terminal a step with a total shows a bar with percentage and ETA, then a ✓."""
    buf = io.StringIO()
    err = Console(file=buf, force_terminal=True, width=120, color_system=None)
    ui = _Ui(False, err=err, out=Console(file=io.StringIO()))
    assert ui.interactive
    with ui.step("Building the report", total=4) as bar:
        for _ in range(4):
            time.sleep(0.3)
            bar.advance()
    text = buf.getvalue()
    assert re.search(r"\b(25|50|75)%", text), text[-500:]
    assert "ETA" in text and re.search(r"ETA \d:\d\d:\d\d", text)
    assert re.search(r"✓ Building the report \(1\.\d s\)", text)


def test_progress_is_silent_when_not_a_terminal():
    """In a log file only the ✓ lines appear (no bars, no control characters)."""
    buf = io.StringIO()
    ui = _Ui(False, err=Console(file=buf, width=120), out=Console(file=io.StringIO()))
    with ui.step("Fitting", total=3) as bar:
        bar.advance(3)
    assert buf.getvalue().startswith("✓ Fitting (") and "\x1b" not in buf.getvalue()


def test_bundled_data_rows_are_named_by_file_line(tmp_path):
    """Data-quality examples of the bundled data name lines of its file, not an index."""
    result = _invoke("run", "--sample", "--no-report", "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / DEFAULT_FILES["xlsx"], read_only=True)
    rows = list(wb["Data quality"].iter_rows(values_only=True))
    text = " ".join(str(v) for r in rows for v in r)
    assert "index label" not in text
    assert "line 403 of CDNOW_sample.txt: customer '147', 1997-07-31, amount 9.77" in text
    assert "--duplicates drop" in text and "duplicates=" not in text


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory):
    """The CDNOW sample as a CSV file."""
    path = tmp_path_factory.mktemp("data") / "shop.csv"
    tx = clvlab.datasets.load_cdnow(sample=True)
    tx[["customer_id", "date", "amount"]].to_csv(path, index=False)
    return path


def test_predict_writes_its_own_file_and_says_what_the_models_saw(tmp_path, sample_csv):
    """predict writes reports/predictions-<input>.csv (never run's clv-predictions.csv) and
    describes calibration-period models as such, not as 'fitted on everything'."""
    out = tmp_path / "o"
    fitted = _invoke("fit", str(sample_csv), "--calibration-end", "1997-09-30", "--out",
                     str(out), "--quiet")
    assert fitted.exit_code == 0, fitted.output
    result = _invoke("predict", str(sample_csv), "--out", str(out), "--margin", "0.3")
    assert result.exit_code == 0, result.output
    assert (out / "reports" / "predictions-shop.csv").is_file()
    assert not (out / DEFAULT_FILES["csv"]).exists()
    text = " ".join(result.output.split())
    assert "fitted on everything" not in text
    assert ("purchase model fitted on the calibration period, 1997-01-01 to 1997-09-30 "
            "(2,357 customers, " in text)
    assert "0.3 (values are profit)" in text
    assert "holdout" not in text.lower()
