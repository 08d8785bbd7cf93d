"""BG/BB (a discrete-time model) through compare_models and `clvlab run`."""

from __future__ import annotations

import json
import warnings

import pytest

import clvlab
from clvlab.cli import app
from clvlab.exceptions import ClvlabWarning
from clvlab.models.beta_geo_beta_binom import BetaGeoBetaBinomFitter
from clvlab.models.contract import unsuited_data


def _split(merge_period: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return clvlab.calibration_holdout(clvlab.datasets.load_cdnow(sample=True), "1997-09-30",
                                          "1998-06-30", time_unit="W", merge_period=merge_period)


def test_unsuited_data_names_the_merge_period():
    """A discrete model on a day-merged summary gets one sentence with the fix; else None."""
    day, week = _split("D"), _split("W")
    text = unsuited_data(BetaGeoBetaBinomFitter, day)
    assert "discrete-time" in text and "merge_period='W'" in text
    assert unsuited_data(BetaGeoBetaBinomFitter, week) is None
    assert unsuited_data(clvlab.BetaGeoFitter, day) is None


def test_compare_models_leaves_bgbb_out_of_a_day_merged_split_with_a_note():
    """compare_models skips BG/BB with the reason on day-merged data, compares it on weekly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        cmp = clvlab.compare_models(_split("D"), ["bgnbd", "bgbb"])
        assert list(cmp.models) == ["bgnbd"]
        assert any(n.startswith("bgbb: left out. BG/BB is a discrete-time model")
                   for n in cmp.notes)
        weekly = clvlab.compare_models(_split("W"), ["bgnbd", "bgbb"])
    assert set(weekly.models) == {"bgnbd", "bgbb"}
    assert weekly.best in {"bgnbd", "bgbb"}


def test_run_refuses_bgbb_on_a_day_merged_log_without_a_traceback():
    """run --purchase-model bgbb (default --merge-period D): exit 2 and the fix, no traceback."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["run", "--sample", "--purchase-model", "bgbb",
                                      "--no-report"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "BG/BB is a discrete-time model" in text and "--merge-period W" in text
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_run_with_bgbb_on_weekly_periods_end_to_end(tmp_path):
    """run --purchase-model bgbb --merge-period W fits, forecasts and saves the BG/BB model."""
    from typer.testing import CliRunner

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "--sample", "--purchase-model", "bgbb",
                                      "--merge-period", "W", "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "models" / "bgbb.json").read_text())
    assert saved["model"] == "bgbb" and saved["time_unit"] == "W"
