"""End-to-end tests of the ``clvlab`` command, called as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import clvlab
from clvlab.cli import _COMMAND_ONLY_OPTIONS, DEFAULT_FILES, _Settings, app
from clvlab.clv import per_period_rate
from clvlab.scoring import SCORE_COLUMNS, SEGMENTS, score_customers

WEEKLY_10PCT = 1.1 ** (7 / 365.2425) - 1  # the documented default discount rate in weeks
NUMERIC = [c for c in SCORE_COLUMNS if c != "segment"]


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "clvlab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _quiet_api(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    """The CDNOW sample as CSV with its own column names, split into two sets of customers."""
    root = tmp_path_factory.mktemp("data")
    tx = clvlab.datasets.load_cdnow(sample=True)
    raw = pd.DataFrame(
        {
            "Customer": tx["customer_id"],
            "OrderDate": tx["date"].dt.strftime("%d/%m/%Y"),
            "Revenue": tx["amount"],
        }
    )
    first = raw["Customer"].astype(int) <= 1500
    paths = {"all": root / "all.csv", "a": root / "a.csv", "b": root / "b.csv"}
    raw.to_csv(paths["all"], index=False)
    raw[first].to_csv(paths["a"], index=False)
    raw[~first].to_csv(paths["b"], index=False)
    return paths


def _load_sample_file(path: Path) -> pd.DataFrame:
    """A file of ``sample_files`` read through the API with the options of COLUMN_OPTS."""
    return _quiet_api(
        clvlab.load_transactions,
        path,
        customer_id="Customer",
        date="OrderDate",
        amount="Revenue",
        date_format="%d/%m/%Y",
    )


COLUMN_OPTS = (
    "--customer-id",
    "Customer",
    "--date",
    "OrderDate",
    "--amount",
    "Revenue",
    "--date-format",
    "%d/%m/%Y",
)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """``clvlab run --sample --out DIR`` once, shared by the tests that read its outputs."""
    cwd = tmp_path_factory.mktemp("run")
    result = _cli("run", "--sample", "--out", "out", cwd=cwd)
    return cwd / "out", result


def _api_sample_scores(refit: bool = True, **kwargs):
    """The same pipeline through the Python API: validated on the FHL split, then (refit)
    fitted again on the whole log, scored as of the end."""
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    split = _quiet_api(clvlab.calibration_holdout, tx, "1997-09-30", "1998-06-30", time_unit="W")
    rfm = _quiet_api(clvlab.rfm_summary, tx, time_unit="W", observation_end="1998-06-30")
    data = rfm if refit else split
    bg = _quiet_api(clvlab.BetaGeoFitter().fit, data)
    gg = _quiet_api(clvlab.GammaGammaFitter().fit, data)
    base = _quiet_api(clvlab.FormulaCLVBaseline().fit, data)
    return _quiet_api(score_customers, rfm, bg, gg, base, horizon=52.0, discount_rate=WEEKLY_10PCT,
                      **kwargs)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"customer_id": str}).set_index("customer_id")


# -- clvlab run ----------------------------------------------------------------------


def test_run_succeeds_and_writes_the_documented_files(sample_run):
    """run --sample exits 0 and writes spreadsheet, CSV and the three models under --out."""
    out, result = sample_run
    assert result.returncode == 0, result.stderr
    for key in ("report_html", "report_pdf", "xlsx", "csv", "bgnbd", "gamma_gamma", "baseline"):
        assert (out / DEFAULT_FILES[key]).is_file(), key


def test_run_predictions_equal_the_api(sample_run):
    """The CSV of run --sample equals the API pipeline on the same data (rtol=1e-9): the
    forecast comes from the models refitted on the whole log."""
    out, _ = sample_run
    got = _read_csv(out / DEFAULT_FILES["csv"])
    want = _api_sample_scores()
    assert got.index.tolist() == want.index.tolist()
    np.testing.assert_allclose(got[NUMERIC].to_numpy(), want[NUMERIC].to_numpy(), rtol=1e-9)
    assert got["segment"].tolist() == want["segment"].astype(str).tolist()


def test_run_workbook_equals_the_csv(sample_run):
    """The workbook's Predictions sheet holds the CSV's numbers (16 significant digits),
    ranked by CLV (rank 1 = highest), with the undefined average repeat value blank."""
    out, _ = sample_run
    csv_scores = _read_csv(out / DEFAULT_FILES["csv"])
    wb = load_workbook(out / DEFAULT_FILES["xlsx"], read_only=True)
    rows = list(wb["Predictions"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Rank by CLV", "Customer ID")
    # the CSV's columns: SCORE_COLUMNS plus the interval columns (on by default)
    columns = ["rank", "customer_id", *[c for c in csv_scores.columns if c != "rank"]]
    body = pd.DataFrame(rows[1:], columns=columns).set_index("customer_id")
    assert body["rank"].tolist() == list(range(1, len(csv_scores) + 1))
    by_clv = csv_scores["clv"].sort_values(ascending=False, kind="stable")
    assert body.index.tolist() == by_clv.index.tolist()
    want = csv_scores.loc[body.index, NUMERIC].copy()
    want.loc[want["frequency"] == 0, "monetary_value"] = np.nan  # undefined: a blank cell
    np.testing.assert_allclose(
        body[NUMERIC].to_numpy(dtype=float), want.to_numpy(), rtol=2e-15
    )
    assert wb.sheetnames[:7] == [
        "Predictions",
        "Parameters",
        "Holdout metrics",
        "Model comparison",
        "Deciles",
        "Data quality",
        "About",
    ]
    metrics = list(wb["Holdout metrics"].iter_rows(values_only=True))
    assert metrics[0][:2] == ("Metric", "Unit") and "BG/NBD" in metrics[0]
    # the purchase models compared on the holdout, as numbers (* = best log score)
    cmp_rows = list(wb["Model comparison"].iter_rows(values_only=True))
    assert cmp_rows[0] == ("statistic", "BG/NBD", "Pareto/NBD", "MBG/NBD *",
                           "Formula CLV baseline")
    by_stat = {row[0]: row[1:] for row in cmp_rows[1:]}
    scores = by_stat["Holdout log predictive score"]  # the baseline has none: a blank
    assert all(isinstance(v, float) for v in scores[:3]) and scores[3] is None
    assert max(scores[:3]) == scores[2]
    about = dict(list(wb["About"].iter_rows(values_only=True))[1:])
    assert about["model comparison"].startswith("best by highest holdout log predictive")


def test_run_writes_intervals_by_default(sample_run):
    """run adds 80% ranges of purchases and CLV equal to the API's, and the total's range."""
    out, result = sample_run
    got = _read_csv(out / DEFAULT_FILES["csv"])
    ranges = ["purchases_lower", "purchases_upper", "clv_lower", "clv_upper"]
    want = _api_sample_scores(interval=0.8)
    np.testing.assert_allclose(got[ranges].to_numpy(), want[ranges].to_numpy(), rtol=1e-9)
    assert (got["purchases_lower"] <= got["purchases_upper"]).all()
    assert (got["clv_lower"] <= got["clv_upper"]).all()
    assert "80% range" in result.stdout
    wb = load_workbook(out / DEFAULT_FILES["xlsx"], read_only=True)
    header = next(wb["Predictions"].iter_rows(values_only=True))
    assert "CLV: 80% range, low (next 52 weeks)" in header


def test_interval_zero_turns_the_ranges_off(fitted_dir, sample_files):
    """predict --interval 0 writes no range columns; a level >= 1 is refused."""
    cwd, _ = fitted_dir
    models = [cwd / DEFAULT_FILES[k] for k in ("bgnbd", "gamma_gamma")]
    args = ["predict", str(sample_files["b"]), *COLUMN_OPTS, "-o", "noint.csv"]
    for m in models:
        args += ["--model", str(m)]
    result = _cli(*args, "--interval", "0", cwd=cwd)
    assert result.returncode == 0, result.stderr
    got = _read_csv(cwd / "noint.csv")
    assert list(got.columns) == list(SCORE_COLUMNS)
    bad = _cli(*args, "--interval", "1.5", cwd=cwd)
    assert bad.returncode != 0
    assert "--interval must be a probability between 0 and 1" in bad.stderr + bad.stdout


def test_run_saved_models_reproduce_the_fit(sample_run):
    """The validated calibration BG/NBD (models/calibration/) reloads with the FHL (2005)
    CDNOW estimates (rtol=1e-2); the forecast BG/NBD (models/) is the whole-log fit."""
    out, _ = sample_run
    bg = clvlab.load_model(out / "models" / "calibration" / "bgnbd.json")
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    np.testing.assert_allclose(
        bg.params_[["r", "alpha", "a", "b"]].to_numpy(), [0.243, 4.414, 0.793, 2.426], rtol=1e-2
    )
    assert bg.time_unit_ == "W"
    assert bg.training_period_["period"] == "calibration"
    forecast = clvlab.load_model(out / DEFAULT_FILES["bgnbd"])
    assert forecast.training_period_["period"] == "full"
    assert forecast.training_period_["end"] == "1998-06-30"
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    rfm = _quiet_api(clvlab.rfm_summary, tx, time_unit="W", observation_end="1998-06-30")
    want = _quiet_api(clvlab.BetaGeoFitter().fit, rfm).params_
    np.testing.assert_allclose(forecast.params_.to_numpy(), want.to_numpy(), rtol=1e-9)


def test_run_summary_gives_paths_and_headline_numbers(sample_run):
    """The closing summary names the customers, CLV totals, holdout metric and file paths."""
    out, result = sample_run
    text = result.stdout
    assert "2,357" in text
    assert "predicted CLV, next 52 weeks" in text
    assert "formula baseline CLV" in text and "historical spend" in text
    assert "holdout" in text
    assert "clv-predictions.xlsx" in text and "bgnbd.json" in text
    total = _read_csv(out / DEFAULT_FILES["csv"])["clv"].sum()
    assert f"{total:,.2f}" in text
    assert "Traceback" not in result.stderr


def test_run_summary_lists_the_six_segments_with_the_csv_counts(sample_run):
    """The summary's segment table has the six segments in order, with the CSV's counts;
    the one-time buyers are the frequency-0 customers, and the About sheet states the rule."""
    out, result = sample_run
    scores = _read_csv(out / DEFAULT_FILES["csv"])
    one_time = scores["segment"] == "One-time buyers"
    np.testing.assert_array_equal(one_time.to_numpy(), (scores["frequency"] == 0).to_numpy())
    lines = result.stdout.splitlines()
    rows = [next(line for line in lines if f" {name} " in line) for name in SEGMENTS]
    assert [lines.index(r) for r in rows] == sorted(lines.index(r) for r in rows)
    counts = scores["segment"].value_counts()
    for name, row in zip(SEGMENTS, rows, strict=True):
        assert f" {counts.get(name, 0):,} " in row, (name, row)
    wb = load_workbook(out / DEFAULT_FILES["xlsx"], read_only=True)
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True) if r and r[0]}
    assert "One-time buyers" in about["segment rule"]


# -- fit / predict / rfm / export / report ---------------------------------------------


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory, sample_files):
    """clvlab fit on file A (custom column names and date format), quiet."""
    cwd = tmp_path_factory.mktemp("fit")
    result = _cli("fit", str(sample_files["a"]), *COLUMN_OPTS, "--quiet", cwd=cwd)
    return cwd, result


def test_fit_quiet_saves_models_and_prints_nothing(fitted_dir):
    """fit --quiet exits 0, writes models/*.json in the working folder, stdout empty."""
    cwd, result = fitted_dir
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "✓" not in result.stderr
    for key in ("bgnbd", "gamma_gamma", "baseline"):
        assert (cwd / DEFAULT_FILES[key]).is_file()


def test_predict_on_a_new_file_equals_the_api(fitted_dir, sample_files):
    """predict --model on file B gives the numbers of load_model + score_customers (1e-12)."""
    cwd, _ = fitted_dir
    models = [cwd / DEFAULT_FILES[k] for k in ("bgnbd", "gamma_gamma", "baseline")]
    args = [
        "predict",
        str(sample_files["b"]),
        *COLUMN_OPTS,
        "--horizon",
        "26",
        "--margin",
        "0.3",
        "-o",
        "pred.csv",
    ]
    for m in models:
        args += ["--model", str(m)]
    result = _cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    got = _read_csv(cwd / "pred.csv")

    bg, gg, base = (clvlab.load_model(m) for m in models)
    tx = _load_sample_file(sample_files["b"])
    rfm = _quiet_api(clvlab.rfm_summary, tx, time_unit="W")
    want = _quiet_api(
        score_customers, rfm, bg, gg, base, horizon=26.0, discount_rate=WEEKLY_10PCT, margin=0.3
    )
    assert got.index.tolist() == want.index.tolist()
    assert int(got.index[0]) > 1500  # customers of file B only
    np.testing.assert_allclose(got[NUMERIC].to_numpy(), want[NUMERIC].to_numpy(), rtol=1e-12)


def test_predict_without_models_explains_what_is_missing(tmp_path, sample_files):
    """predict with no saved models exits 2 and says which file is missing."""
    result = _cli("predict", str(sample_files["b"]), *COLUMN_OPTS, cwd=tmp_path)
    assert result.returncode == 2
    assert "No model file" in result.stderr and "bgnbd.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_rfm_command_equals_rfm_summary(tmp_path, sample_files):
    """clvlab rfm writes the same table as clvlab.rfm_summary."""
    result = _cli(
        "rfm",
        str(sample_files["all"]),
        *COLUMN_OPTS,
        "--time-unit",
        "D",
        "-o",
        "rfm.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    got = pd.read_csv(tmp_path / "rfm.csv", dtype={"customer_id": str}).set_index("customer_id")
    tx = _load_sample_file(sample_files["all"])
    want = _quiet_api(clvlab.rfm_summary, tx, time_unit="D")
    cols = ["frequency", "recency", "T", "monetary_value", "total_spend"]
    np.testing.assert_allclose(got[cols].to_numpy(), want[cols].to_numpy(), rtol=1e-12)
    assert "2,357 customers" in result.stdout


def _model_opts(out: Path) -> list[str]:
    """``--model`` options for the BG/NBD and Gamma-Gamma files saved under ``out``."""
    return ["--model", str(out / DEFAULT_FILES["bgnbd"]),
            "--model", str(out / DEFAULT_FILES["gamma_gamma"])]


def test_export_with_holdout_writes_metrics(sample_run, sample_files, tmp_path):
    """export with --calibration-end evaluates saved models and fills Holdout metrics."""
    out, _ = sample_run
    result = _cli(
        "export",
        str(sample_files["all"]),
        *COLUMN_OPTS,
        *_model_opts(out),
        "--calibration-end",
        "1997-09-30",
        "--observation-end",
        "1998-06-30",
        "--out",
        "exp",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    wb = load_workbook(tmp_path / "exp" / DEFAULT_FILES["xlsx"], read_only=True)
    metrics = list(wb["Holdout metrics"].iter_rows(values_only=True))
    assert metrics[0][:4] == ("Metric", "Unit", "BG/NBD", "BG/NBD + Gamma-Gamma")
    assert (tmp_path / "exp" / DEFAULT_FILES["csv"]).is_file()


def test_report_command(sample_run, sample_files, tmp_path):
    """report writes a non-empty HTML and PDF report from saved models."""
    out, _ = sample_run
    result = _cli(
        "report",
        str(sample_files["all"]),
        *COLUMN_OPTS,
        *_model_opts(out),
        "--out",
        "rep",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rep" / DEFAULT_FILES["report_html"]).stat().st_size > 0
    assert (tmp_path / "rep" / DEFAULT_FILES["report_pdf"]).stat().st_size > 0


# -- errors --------------------------------------------------------------------------


def test_bad_csv_exits_2_with_a_readable_message(tmp_path):
    """A CSV without the amount column: exit 2, the message names it, no traceback."""
    (tmp_path / "bad.csv").write_text("customer_id,date,price\n1,2024-01-01,5\n")
    result = _cli("run", "bad.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "amount" in result.stderr and "price" in result.stderr
    assert "Traceback" not in result.stderr
    assert "--debug" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    """--debug prints the traceback of an input error (still exit 2)."""
    (tmp_path / "bad.csv").write_text("customer_id,date,price\n1,2024-01-01,5\n")
    result = _cli("run", "bad.csv", "--debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_missing_input_file(tmp_path):
    """A missing input file exits 2 with its name in the message."""
    result = _cli("fit", "nowhere.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.csv" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--time-unit", "day"], "--time-unit"),
        (["--margin", "-1"], "--margin"),
        (["--discount-rate", "0.01", "--annual-discount-rate", "0.1"], "not both"),
        (["--purchase-model", "nope"], "--purchase-model must be one of bgnbd"),
    ],
)
def test_bad_options_exit_2(tmp_path, args, needle):
    """Invalid option values exit 2 before any work, naming the option."""
    result = _cli("run", "--sample", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


# -- settings (in process) ---------------------------------------------------------------


@pytest.mark.parametrize("command", app.registered_commands, ids=lambda c: c.callback.__name__)
def test_every_command_parameter_is_a_setting_or_command_only(command):
    """Each command's parameters are _Settings fields or listed command-only options."""
    import inspect

    params = set(inspect.signature(command.callback).parameters)
    fields = {f.name for f in _Settings.__dataclass_fields__.values()}
    assert params - fields <= _COMMAND_ONLY_OPTIONS
    given = {name: "given" for name in params & fields}
    settings = _Settings.from_options({**given, "quiet": True, "debug": False})
    assert all(getattr(settings, name) == "given" for name in given)


def test_settings_reject_an_unknown_parameter():
    """A command parameter that is neither a setting nor command-only is a TypeError."""
    with pytest.raises(TypeError, match="without a setting: \\['horizn'\\]"):
        _Settings.from_options({"input": None, "horizn": 52.0})


@pytest.mark.parametrize(
    ("unit", "annual"), [("W", None), ("D", 0.05), ("M", 0.10), ("Y", 0.25)]
)
def test_annual_discount_rate_is_converted_with_per_period_rate(unit, annual):
    """--annual-discount-rate (default 0.10) becomes clvlab.clv.per_period_rate(annual, unit)."""
    settings = _Settings(annual_discount_rate=annual)
    expected = per_period_rate(0.10 if annual is None else annual, unit)
    assert settings.resolved_discount_rate(unit) == expected
    assert _Settings().resolved_discount_rate("W") == pytest.approx(WEEKLY_10PCT, rel=1e-14)


def test_console_script_is_installed():
    """The clvlab console script exists and lists the six commands."""
    exe = shutil.which("clvlab") or str(Path(sys.executable).with_name("clvlab"))
    if not Path(exe).exists():
        pytest.skip("clvlab console script not installed (package not pip-installed)")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("run", "rfm", "fit", "predict", "report", "export"):
        assert command in result.stdout


@pytest.mark.slow
def test_run_without_arguments_uses_the_full_cdnow_log(tmp_path):
    """Bare ``clvlab run`` scores the 23,570 CDNOW customers into ./reports and ./models."""
    result = _cli("run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = _read_csv(tmp_path / DEFAULT_FILES["csv"])
    assert len(scores) == 23_570
    assert (tmp_path / DEFAULT_FILES["bgnbd"]).is_file()
    assert "23,570" in result.stdout


def test_unwritable_output_folder_says_what_to_do(tmp_path):
    """--out under a regular file: exit 2, the path, advice to pick another --out, no traceback."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    result = _cli("run", "--sample", "--quiet", "--no-report", "--out", str(blocker / "x"),
                  cwd=tmp_path)
    assert result.returncode == 2
    assert "Not a directory" in result.stderr and "--out DIR" in result.stderr
    assert "Traceback" not in result.stderr


# -- --purchase-model (in process) -------------------------------------------------------


def test_purchase_model_auto_needs_a_holdout(sample_files):
    """auto chooses by holdout log score: without --calibration-end it is an input error."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["fit", str(sample_files["a"]), *COLUMN_OPTS,
                                      "--purchase-model", "auto"])
    assert result.exit_code == 2
    assert "--purchase-model auto chooses the model by its holdout log predictive score" in (
        result.output)


def test_purchase_model_choices_come_from_the_registry(monkeypatch):
    """The choices are the registered purchase models plus auto (a new one appears)."""
    import stand_in_models
    from clvlab.cli import purchase_model_choices

    assert purchase_model_choices()[0] == "bgnbd" and purchase_model_choices()[-1] == "auto"
    stand_in_models.register(monkeypatch, "nbd", stand_in_models.NBDFitter)
    assert "nbd" in purchase_model_choices()
    assert _Settings(purchase_model="nbd").checked_purchase_model() == "nbd"


def test_auto_compares_every_purchase_model_and_says_which_and_why(tmp_path, monkeypatch):
    """run --purchase-model auto fits all, uses the best log score, says so and saves it."""
    import json

    from typer.testing import CliRunner

    import stand_in_models
    from clvlab.models.registry import registered

    stand_in_models.register(monkeypatch, "nbd", stand_in_models.NBDFitter)
    keys = registered("purchase")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "--sample", "--purchase-model", "auto",
                                      "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"Fitting and comparing {len(keys)} purchase models ({', '.join(keys)})" in text
    # the choice is the comparison's, said with its reason
    split = _quiet_api(clvlab.calibration_holdout, clvlab.datasets.load_cdnow(sample=True),
                       "1997-09-30", "1998-06-30", time_unit="W")
    cmp = _quiet_api(clvlab.compare_models, split, keys)
    best = cmp.best
    assert cmp.table.loc["log_score", best] > cmp.table.loc["log_score", "nbd"]  # NBD loses
    assert (f"purchase model: {cmp.names[best]} ({best}), chosen by the holdout log "
            f"predictive score. {cmp.reason}") in text
    assert json.loads((out / "models" / f"{best}.json").read_text())["model"] == best
    saved = [f"{best}.json", "gamma-gamma.json", "formula-baseline.json"]
    assert sorted(p.name for p in (out / "models").iterdir() if p.is_file()) == sorted(saved)
    # the validated calibration fits of the same models (the forecast uses refits)
    assert sorted(p.name for p in (out / "models" / "calibration").iterdir()) == sorted(saved)
    # a second purchase model file under --out makes the default choice ambiguous
    other = next(k for k in keys if k != best)
    (out / "models" / f"{other}.json").write_text("{}")
    result = CliRunner().invoke(app, ["predict", str(out / "reports" / "clv-predictions.csv"),
                                      "--out", str(out)])
    assert result.exit_code == 2
    assert "2 saved purchase models" in result.output and "ambiguous" in result.output


def test_run_reports_an_error_of_the_background_writer(tmp_path, monkeypatch):
    """A failure of the CSV written beside the report ends the run with that error."""
    from typer.testing import CliRunner

    import clvlab.export as export

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_csv", full_disk)
    result = CliRunner().invoke(app, ["run", "--sample", "--out", str(tmp_path / "out"),
                                      "--no-report"])
    assert result.exit_code != 0
    assert "No space left on device" in " ".join(result.output.split())
    assert "Writing the predictions CSV" not in result.output  # no success line


def test_run_waits_for_the_csv_when_preparing_the_spreadsheet_fails(tmp_path, monkeypatch):
    """The CSV, written while the spreadsheet is prepared, is complete when that fails."""
    import pandas as pd
    from typer.testing import CliRunner

    import clvlab.export as export

    def broken(*_args, **_kwargs):
        raise ValueError("spreadsheet preparation failed")

    monkeypatch.setattr(export, "_start_workbook", broken)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "--sample", "--out", str(out), "--no-report"])
    assert result.exit_code != 0
    assert "spreadsheet preparation failed" in " ".join(result.output.split())
    assert "Writing the predictions CSV" not in result.output  # no success line
    table = pd.read_csv(out / "reports" / "clv-predictions.csv")
    assert len(table) == 2357  # every CDNOW-sample customer: the thread finished the file
    assert not (out / "reports" / "clv-predictions.xlsx").exists()


def test_prepared_release_split_keeps_columns_and_attrs_drops_rows():
    """release_split leaves a zero-row split (same columns, dtypes, attrs), never None."""
    from clvlab import cli as cli_mod

    tx = clvlab.datasets.load_cdnow(sample=True)
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    prep = cli_mod._Prepared(tx, None, split, "W", "1997-09-30", "1998-06-30")
    prep.release_split()
    assert prep.split is not None and len(prep.split) == 0
    assert list(prep.split.columns) == list(split.columns)
    assert dict(prep.split.dtypes) == dict(split.dtypes)
    assert prep.split.attrs == split.attrs
    assert len(split) == 2357  # the caller's frame is not changed
    none = cli_mod._Prepared(tx, None, None, "W", None, "1998-06-30")
    none.release_split()
    assert none.split is None
