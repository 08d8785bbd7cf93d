"""The holdout verdict in words (clvlab.reporting.verdict) on made-up and CDNOW metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvlab.reporting import verdict as V

ROWS = ["BG/NBD", "BG/NBD + Gamma-Gamma", "Formula CLV baseline"]


def _metrics(**overrides) -> pd.DataFrame:
    """Evaluation.metrics shaped like CDNOW's (FHL split), with overrides per cell."""
    base = {
        "purchases_mae": [0.819, 0.819, 0.741], "purchases_rmse": [1.733, 1.733, 1.857],
        "purchases_bias": [-0.119, -0.119, -0.357], "purchases_pearson": [0.669, 0.669, 0.651],
        "purchases_spearman": [0.442, 0.442, 0.485],
        "purchases_aggregate_pct_error": [-14.3, -14.3, -42.7],
        "value_mae": [np.nan, 32.68, 29.98], "value_rmse": [np.nan, 92.94, 101.84],
        "value_pearson": [np.nan, 0.669, 0.596], "value_spearman": [np.nan, 0.421, 0.479],
        "value_aggregate_pct_error": [np.nan, -17.3, -43.4],
        "top_decile_capture": [0.49, 0.516, 0.51],
    }
    frame = pd.DataFrame(base, index=pd.Index(ROWS, name="model"))
    for key, (row, value) in overrides.items():
        frame.loc[row, key] = value
    return frame


def _aspects(metrics, log_scores=(-35210.0, -math.inf)):
    return {a.key: a for a in V.compare_forecasts(metrics, ROWS[1], ROWS[2],
                                                  purchase_row=ROWS[0], log_scores=log_scores)}


def test_cdnow_verdict_names_where_each_side_wins():
    """CDNOW: the model wins totals, RMSE, Pearson, top-10% and the log score; the formula
    wins MAE (0.741 vs 0.819 purchases, 29.98 vs 32.68 value) and Spearman."""
    a = _aspects(_metrics())
    assert {k for k, v in a.items() if v.winner == "model"} == {
        "totals", "rmse", "pearson", "capture", "log_score"}
    assert {k for k, v in a.items() if v.winner == "baseline"} == {"mae", "spearman"}
    assert a["mae"].details == ["purchases 0.819 vs 0.741", "value 32.68 vs 29.98"]
    assert a["log_score"].details == ["-35,210 vs -∞"]


def test_sentences_explain_why_the_formula_wins_mae():
    """The sentences name both sides, explain MAE by the share of zero holdouts and the
    formula's zeros, and end with what to rely on."""
    aspects = list(_aspects(_metrics()).values())
    text = " ".join(V.verdict_sentences(aspects, ROWS[1], ROWS[2], holdout="39-week",
                                        zero_share=0.70, one_time_share=0.60,
                                        value_error=(-17.3, -43.4)))
    assert "On the 39-week holdout BG/NBD + Gamma-Gamma is better on the totals" in text
    assert "The Formula CLV baseline is better on mean absolute error (MAE)" in text
    assert "70% of customers bought nothing" in text and "(60% of all)" in text
    assert "purchases 1.733" not in text  # every number is in the table beside it
    assert "the formula's total is off by -43% (-17% for BG/NBD + Gamma-Gamma)" in text
    assert "Rank correlation compares orderings only" in text
    assert "and the proper log predictive score." in text
    assert text.endswith("to rank customers, the two are close.")


def test_short_form_quotes_only_totals_and_mae():
    """detailed=False: three sentences quoting the value totals and value MAE only."""
    aspects = list(_aspects(_metrics()).values())
    out = V.verdict_sentences(aspects, ROWS[1], ROWS[2], holdout="39-week",
                              zero_share=0.7, one_time_share=0.6, detailed=False)
    text = " ".join(out)
    assert len(out) == 3
    assert "the totals (value -17.3% vs -43.4%)" in text
    assert "mean absolute error (MAE) (value 32.68 vs 29.98)" in text
    assert "it predicts 0 for the 60% of customers without a repeat purchase" in text
    assert "1.733" not in text and "0.669" not in text
    assert out[-1] == "For totals and budgets rely on BG/NBD + Gamma-Gamma."


def test_when_the_formula_wins_the_totals_the_verdict_says_so():
    """A baseline with closer totals is named as such, with a pointer to the caveats."""
    m = _metrics(value_aggregate_pct_error=(ROWS[2], 2.0),
                 purchases_aggregate_pct_error=(ROWS[2], 1.0))
    aspects = list(_aspects(m).values())
    text = " ".join(V.verdict_sentences(aspects, ROWS[1], ROWS[2], holdout="26.1-week",
                                        zero_share=0.3, one_time_share=0.2))
    assert "Formula CLV baseline's totals are closer than the model's" in text
    assert "Mean absolute error favours" not in text  # fewer than half bought nothing


def test_baseline_log_score_is_poisson_and_counts_impossible_events():
    """The formula's means read as Poisson: sum of logpmf; a purchase at mean 0 is counted
    as impossible (floored at log(2.2e-308))."""
    x = np.array([0, 1, 3, 0, 2])
    mu = np.array([0.5, 1.2, 2.0, 0.0, 0.0])
    total, impossible = V.baseline_log_score(x, mu)
    finite = stats.poisson.logpmf(x[:4], mu[:4]).sum()
    np.testing.assert_allclose(total, finite + np.log(np.finfo(float).tiny), rtol=1e-12)
    assert impossible == 1


def test_chi_square_reading():
    """The χ² line gives statistic, dof, p, the largest gap, and what to make of it."""
    table = pd.DataFrame({"observed": [14_000, 4442, 2000], "expected": [14_100, 4694, 1900],
                          "contribution": [0.7, 13.5, 5.3]}, index=["0", "1", "2+"])
    chi = type("Chi", (), {"statistic": 39.5, "dof": 3, "p_value": 1.3e-8, "table": table})()
    text = V.chi_square_reading(chi, "BG/NBD", 23_570)
    assert text.startswith("χ² = 39.5 on 3 degrees of freedom, p = 1.3e-08")
    assert "with 23,570 customers even small misfits are significant" in text
    assert "largest gap is at 1 repeat purchase (4,442 customers, 4,694 expected)" in text
    chi.p_value = 0.25
    assert "consistent with BG/NBD" in V.chi_square_reading(chi, "BG/NBD", 2357)


@pytest.mark.parametrize(("ks", "want"), [([2, 3, 4, 10], "deciles 2-4 and 10"),
                                          ([1], "decile 1"), ([1, 2], "deciles 1 and 2")])
def test_decile_ranges(ks, want):
    """Decile lists read as ranges."""
    assert V._deciles(ks) == want


def test_decile_reading():
    """Top decile share and where predicted means drift by more than 20%."""
    d = pd.DataFrame({"decile": range(1, 11), "actual_share": [0.52] + [0.048] * 9,
                      "predicted_mean": [160, 37, 17, 10, 9, 8.6, 8.2, 7.9, 7.5, 6.3],
                      "actual_mean": [170, 55, 30, 15, 10, 8.7, 8.2, 8.3, 8.9, 13.4]})
    text = V.decile_reading(d)
    assert text.startswith("The 10% of customers ranked highest brought 52% of the actual value")
    assert "within 20% of actual in deciles 1 and 5-9" in text
    assert "under-predicted in deciles 2-4 and 10" in text


# -- in the report --------------------------------------------------------------------


def _section(ctx, sid):
    return next(s for s in ctx["sections"] if s["id"] == sid)


def _texts(section, kind):
    out = []
    for b in section["blocks"]:
        if b["kind"] == kind:
            out += b["items"] if kind == "bullets" else [b["text"]]
    return out


def test_report_summary_states_the_verdict(holdout_study):
    """The summary has 'Which forecast to trust': where the model wins, where the formula
    wins (with why), and what to rely on -- on the CDNOW sample."""
    summary = _section(holdout_study.ctx, "summary")
    headings = _texts(summary, "heading")
    assert "Which forecast to trust" in headings
    text = " ".join(_texts(summary, "paragraph"))
    assert "holdout BG/NBD + Gamma-Gamma is better on the totals" in text
    assert "The Formula CLV baseline is better on mean absolute error" in text
    assert "bought nothing in the holdout, which absolute error rewards" in text
    assert "For totals and budgets rely on BG/NBD + Gamma-Gamma." in text


def test_holdout_table_has_every_metric_for_both_and_the_log_score(holdout_study):
    """The holdout table shows value Pearson and the log predictive score for the model and
    the formula (read as Poisson: -∞ when a customer it gave 0 bought), with the score
    explained and the verdict's reasons below it."""
    s = holdout_study
    holdout = _section(s.ctx, "holdout")
    table = next(b for b in holdout["blocks"] if b["kind"] == "table")
    rows = {r[0]: r[1:] for r in table["rows"]}
    assert "Value: Pearson r" in rows and "Purchases: Spearman rho" in rows
    assert all(len(v) == 2 and "—" not in v for k, v in rows.items() if k.startswith("Value"))
    score = rows["Log predictive score of holdout purchases (higher is better)"]
    assert score[0] == f"{s.ev.log_score:,.0f}"
    assert score[1].startswith("-∞ (") and "bought although it predicted 0" in score[1]
    bullets = " ".join(_texts(holdout, "bullets"))
    assert "Why the formula wins the absolute error" in bullets
    paragraphs = " ".join(_texts(holdout, "paragraph"))
    assert "It is a proper score" in paragraphs


def test_chi_square_and_deciles_get_a_reading(holdout_study):
    """The models section reads the χ² test in words; the decile table gets one line."""
    models = " ".join(_texts(_section(holdout_study.ctx, "models"), "paragraph"))
    chi = holdout_study.ev.chi_square
    assert f"Frequency histogram: χ² = {chi.statistic:,.1f} on {chi.dof} degrees" in models
    comparison = " ".join(_texts(_section(holdout_study.ctx, "clv-vs-history"), "paragraph"))
    assert "The 10% of customers ranked highest brought" in comparison
