"""clvlab run validates on the holdout, then forecasts from models refitted on the whole log."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import clvlab
from clvlab.cli import DEFAULT_FILES, app
from clvlab.scoring import SCORE_COLUMNS, score_customers

WEEKLY_10PCT = 1.1 ** (7 / 365.2425) - 1
NUMERIC = [c for c in SCORE_COLUMNS if c != "segment"]


def _run(out, *args):
    result = CliRunner().invoke(app, ["run", "--sample", "--no-report", "--out", str(out),
                                      *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def no_refit_run(tmp_path_factory):
    """run --sample --no-refit: the forecast uses the calibration fits."""
    out = tmp_path_factory.mktemp("norefit")
    return out, _run(out, "--no-refit")


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory):
    """run --sample (refit by default)."""
    out = tmp_path_factory.mktemp("refit")
    return out, _run(out)


def _scores(refit: bool) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
        split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
        rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
        data = rfm if refit else split
        models = [clvlab.BetaGeoFitter().fit(data), clvlab.GammaGammaFitter().fit(data),
                  clvlab.FormulaCLVBaseline().fit(data)]
        return score_customers(rfm, *models, horizon=52.0, discount_rate=WEEKLY_10PCT)


def _csv(out) -> pd.DataFrame:
    return pd.read_csv(out / DEFAULT_FILES["csv"], dtype={"customer_id": str}).set_index(
        "customer_id")


@pytest.mark.parametrize("refit", [True, False])
def test_forecast_numbers_come_from_the_chosen_fits(refit_run, no_refit_run, refit):
    """Every forecast number equals the API scored with whole-log fits (default) or with the
    calibration fits (--no-refit), rtol=1e-9; the two differ."""
    out, _ = refit_run if refit else no_refit_run
    got, want = _csv(out), _scores(refit)
    np.testing.assert_allclose(got[NUMERIC].to_numpy(), want[NUMERIC].to_numpy(), rtol=1e-9)
    other = _scores(not refit)
    assert not np.allclose(got["clv"].sum(), other["clv"].sum(), rtol=1e-3)


def test_validation_comes_from_calibration_fits_either_way(refit_run, no_refit_run):
    """The holdout metrics are the same with and without refit: both validate the
    calibration fits."""
    sheets = []
    for out, _ in (refit_run, no_refit_run):
        wb = load_workbook(out / DEFAULT_FILES["xlsx"], read_only=True)
        sheets.append(list(wb["Holdout metrics"].iter_rows(values_only=True)))
    assert sheets[0] == sheets[1]


def test_both_sets_of_models_are_saved_and_named(refit_run, no_refit_run):
    """Refit: forecast models in models/, validated ones in models/calibration/, each JSON
    saying what it was fitted on; --no-refit: only models/, fitted on the calibration."""
    out, text = refit_run
    for name in ("bgnbd", "gamma-gamma", "formula-baseline"):
        forecast = json.loads((out / "models" / f"{name}.json").read_text())
        validated = json.loads((out / "models" / "calibration" / f"{name}.json").read_text())
        assert forecast["training_period"]["period"] == "full", name
        assert forecast["training_period"]["end"] == "1998-06-30"
        assert validated["training_period"]["period"] == "calibration", name
        assert validated["training_period"]["end"] == "1997-09-30"
    assert "models/calibration/bgnbd.json" in text
    out2, _ = no_refit_run
    assert not (out2 / "models" / "calibration").exists()
    period = json.loads((out2 / DEFAULT_FILES["bgnbd"]).read_text())["training_period"]
    assert period["period"] == "calibration"


def test_summary_and_workbook_say_which_fit_is_which(refit_run, no_refit_run):
    """The closing summary, the About and Parameters sheets name the fit behind the forecast
    and the one behind the holdout check."""
    out, text = refit_run
    assert "purchase model fitted on the whole log, 1997-01-01 to 1998-06-30" in text
    assert "holdout check used the fit on the calibration period, 1997-01-01 to 1997-09-30" in text
    # the verdict: where each forecast wins (CDNOW sample, FHL split)
    assert ("holdout: better on BG/NBD + Gamma-Gamma: totals, RMSE, Pearson, top-10% share, "
            "log score; formula: MAE, Spearman") in text
    wb = load_workbook(out / DEFAULT_FILES["xlsx"], read_only=True)
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True) if r and r[0]}
    assert about["models for the forecast"].startswith("refitted on the whole log")
    assert about["models for the holdout validation"].startswith("fitted on the calibration")
    models = {r[0] for r in wb["Parameters"].iter_rows(min_row=2, values_only=True)}
    assert "BG/NBD (whole log: forecast)" in models
    assert "BG/NBD (calibration period: holdout validation)" in models
    _, text2 = no_refit_run
    assert "purchase model fitted on the calibration period" in text2
    assert "holdout check used" not in text2
