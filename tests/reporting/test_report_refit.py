"""The report after a refit: validation from the calibration fits, forecast from the refits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clvlab
from clvlab import reporting
from clvlab.evaluation import chi_square_test, fitted_parameter_count, frequency_histogram
from clvlab.scoring import score_customers

WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1


@pytest.fixture(scope="module")
def refit_study(holdout_study):
    """The holdout study's models refitted on the whole sample log, reported (no figures)."""
    s = holdout_study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        bg = clvlab.BetaGeoFitter().fit(s.rfm)
        gg = clvlab.GammaGammaFitter().fit(s.rfm)
        base = clvlab.FormulaCLVBaseline().fit(s.rfm)
    scores = score_customers(s.rfm, bg, gg, base, horizon=52, discount_rate=WEEKLY_RATE)
    ctx = reporting.build_context(
        bg, gg, s.rfm, baseline=base, evaluation=s.ev, scores=scores, transactions=s.tx,
        figures=False, calibration_models={"purchase": s.bg, "spend": s.gg,
                                           "baseline": s.base})
    return bg, gg, base, scores, ctx


def _section(ctx, sid):
    return next(x for x in ctx["sections"] if x["id"] == sid)


def _paragraphs(section):
    return " ".join(b["text"] for b in section["blocks"] if b["kind"] == "paragraph")


def test_forecast_numbers_come_from_the_refits(holdout_study, refit_study):
    """Total CLV and the acquisition figure are the refits'; the holdout value figures are
    the calibration fits' (the evaluation's)."""
    bg, gg, _, scores, ctx = refit_study
    np.testing.assert_allclose(ctx["values"]["total_clv"], scores["clv"].sum(), rtol=1e-12)
    want = clvlab.acquisition_cost_ceiling(bg, gg, 52, WEEKLY_RATE)
    np.testing.assert_allclose(ctx["values"]["acquisition_cost_ceiling"], want, rtol=1e-12)
    metrics = holdout_study.ev.metrics
    np.testing.assert_allclose(ctx["values"]["holdout_predicted_value"],
                               metrics.iloc[1]["predicted_total_value"], rtol=1e-12)


def test_report_says_which_fit_is_which(holdout_study, refit_study):
    """Summary, models, holdout and methodology sections say the forecast uses the refits
    and the holdout checked the calibration fits; both sets of estimates are tabled."""
    s = holdout_study
    bg, gg, base, _, ctx = refit_study
    assert "refitted on all purchases to 1998-06-30" in _paragraphs(_section(ctx, "summary"))
    models = _section(ctx, "models")
    assert "Which fit is which: every forecast number" in _paragraphs(models)
    table = next(b for b in models["blocks"] if b["kind"] == "table")
    assert table["columns"][2:4] == ["Whole log (forecast)", "Calibration (validation)"]
    rows = {(r[0], r[1]): r for r in table["rows"]}
    assert rows[("BG/NBD", "r")][2] == f"{bg.params_['r']:.4g}"
    assert rows[("BG/NBD", "r")][3] == f"{s.bg.params_['r']:.4g}"
    assert ("Gamma-Gamma", "q") in rows
    holdout = _paragraphs(_section(ctx, "holdout"))
    assert "the forecast itself comes from the same models refitted on the whole log" in holdout
    methods = " ".join(_section(ctx, "methodology")["blocks"][0]["items"])
    assert "every forecast number comes from those refits" in methods
    stamp = dict(next(b for b in _section(ctx, "reproducibility")["blocks"]
                      if b["kind"] == "facts")["rows"])
    assert bg.data_fingerprint_ in stamp["BG/NBD (forecast, whole log) fitted on "
                                         "(fingerprint, date)"]
    assert s.bg.data_fingerprint_ in stamp["BG/NBD (holdout validation, calibration period) "
                                           "fitted on (fingerprint, date)"]


def test_model_fit_statistics_are_the_forecast_fit(holdout_study, refit_study):
    """The χ² shown with the forecast model is computed for that model on the whole log."""
    bg, _, _, _, ctx = refit_study
    chi = chi_square_test(frequency_histogram(bg, holdout_study.rfm),
                          n_params=fitted_parameter_count(bg))
    facts = dict(next(b for b in _section(ctx, "models")["blocks"] if b["kind"] == "facts")
                 ["rows"])
    assert facts["Frequency histogram fit"].startswith(f"chi-square {chi.statistic:,.2f}")


def test_without_refit_the_report_says_the_calibration_fits_forecast(holdout_study):
    """Without calibration_models the models section says the validated fits forecast."""
    models = _paragraphs(_section(holdout_study.ctx, "models"))
    assert "the forecast uses them as they are" in models
