"""The command line on hostile input (issue 12), run in process with typer's CliRunner.

Same rules as the API (the checks are shared): exit 2 with a message naming the option
for bad input, exit 1 naming the model when a model cannot predict, never a traceback and
never a NaN in the summary.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clvlab.cli import app

HOSTILE = Path(__file__).parent / "data" / "hostile"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--margin", "30", "did you mean 0.30?"),
        ("--margin", "0", "--margin must be a share of spend"),
        ("--annual-discount-rate", "10", "did you mean 0.10?"),
        ("--discount-rate", "-0.1", "--discount-rate must be a finite number >= 0"),
        ("--horizon", "0", "--horizon must be a finite number > 0"),
        ("--calibration-end", "01/06/2024", "ISO 8601"),
    ],
)
def test_bad_scalar_options_exit_2_naming_the_option(tmp_path, option, value, needle):
    """Out-of-range scalars fail before any work with the shared message (exit 2)."""
    code, out = _run("run", str(HOSTILE / "base.csv"), option, value, "--out", str(tmp_path),
                     "--no-report", "--quiet")
    assert code == 2, out
    assert needle in out and "Traceback" not in out
    assert not (tmp_path / "models").exists()


def test_calibration_end_in_the_date_format_is_read_with_it(tmp_path):
    """--calibration-end 30/09/2023 with --date-format %d/%m/%Y is 30 September 2023."""
    code, out = _run("rfm", str(HOSTILE / "date_dmy_first_ambiguous.csv"), "--date-format",
                     "%d/%m/%Y", "--calibration-end", "30/09/2023", "-o",
                     str(tmp_path / "split.csv"), "--quiet")
    assert code == 0, out
    split = pd.read_csv(tmp_path / "split.csv")
    assert "frequency_holdout" in split.columns


def test_decimal_option_reads_an_undecided_column(tmp_path):
    """Without --decimal the ambiguous column is exit 2 naming --decimal; with it, it loads."""
    path = HOSTILE / "num_ambiguous_thousands.csv"
    code, out = _run("rfm", str(path), "-o", str(tmp_path / "r.csv"), "--quiet")
    assert code == 2 and "--decimal" in out
    code, out = _run("rfm", str(path), "--decimal", ".", "-o", str(tmp_path / "r.csv"), "--quiet")
    assert code == 0, out
    rfm = pd.read_csv(tmp_path / "r.csv")
    assert rfm["total_spend"].sum() == 1234 + 2500 + 1100 + 9999 + 1001 + 2000


def test_date_format_dayfirst_decides_an_ambiguous_column(tmp_path):
    """--date-format dayfirst reads a column whose days are all <= 12."""
    code, out = _run("rfm", str(HOSTILE / "date_all_ambiguous.csv"), "--date-format",
                     "dayfirst", "-o", str(tmp_path / "r.csv"), "--quiet")
    assert code == 0, out
    code, out = _run("rfm", str(HOSTILE / "date_all_ambiguous.csv"), "-o",
                     str(tmp_path / "r.csv"))
    assert code == 2 and "--date-format dayfirst" in out


def test_encoding_option_and_detected_utf16(tmp_path):
    """A UTF-16 file needs no option; a Latin-1 one loads with --encoding latin-1."""
    code, out = _run("rfm", str(HOSTILE / "enc_utf16le_nobom.csv"), "-o",
                     str(tmp_path / "a.csv"), "--quiet")
    assert code == 0, out
    code, out = _run("rfm", str(HOSTILE / "enc_latin1.csv"), "-o", str(tmp_path / "b.csv"))
    assert code == 2 and "--encoding latin-1" in out
    code, out = _run("rfm", str(HOSTILE / "enc_latin1.csv"), "--encoding", "latin-1", "-o",
                     str(tmp_path / "b.csv"), "--quiet")
    assert code == 0, out


def test_symlink_loop_is_named_on_the_command_line(tmp_path):
    """A symbolic-link loop exits 2 saying so, not 'no such file'."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    os.symlink(b, a)
    os.symlink(a, b)
    code, out = _run("rfm", str(a))
    assert code == 2 and "symbolic link loop" in out


def test_a_model_that_cannot_predict_exits_1_naming_it(tmp_path, monkeypatch):
    """If BG/NBD gives a non-finite prediction the run stops (exit 1) naming the model and
    the reason, not the data; no file of predictions is written."""
    from clvlab.models import beta_geo

    def broken(params, t, x, tx, T):
        return np.full(np.broadcast_shapes(np.shape(t), np.shape(x)), np.nan)

    monkeypatch.setattr(beta_geo.lk, "bgnbd_expected_purchases", broken)
    code, out = _run("run", str(HOSTILE / "base.csv"), "--out", str(tmp_path), "--no-report",
                     "--quiet")
    assert code == 1, out
    assert "BG/NBD could not compute expected_purchases" in out
    assert "not a problem in the data" in out and "Traceback" not in out
    assert not (tmp_path / "reports" / "clv-predictions.csv").exists()


def test_degenerate_log_runs_with_finite_numbers_and_a_warning(tmp_path):
    """A log without churn runs to the end: DegenerateFitWarning printed, summary finite."""
    code, out = _run("run", str(HOSTILE / "degenerate_no_churn_constant_spend.csv"), "--out",
                     str(tmp_path), "--no-report")
    assert code == 0, out
    out = " ".join(out.split())  # the console wraps long lines
    assert "DegenerateFitWarning" in out and "NBD" in out
    assert not re.search(r"\b(nan|inf)\b", out, flags=re.IGNORECASE)
    scores = pd.read_csv(tmp_path / "reports" / "clv-predictions.csv")
    assert np.isfinite(scores["clv"]).all()


def test_one_day_log_exits_2_naming_the_spend_model(tmp_path):
    """A log of one purchase day cannot be modelled: exit 2 naming Gamma-Gamma's need."""
    code, out = _run("run", str(HOSTILE / "degenerate_one_day.csv"), "--out", str(tmp_path),
                     "--no-report")
    assert code == 2
    text = " ".join(out.split())  # the console wraps long lines
    assert "Gamma-Gamma needs repeat buyers" in text and "none of the 10 customers" in text
