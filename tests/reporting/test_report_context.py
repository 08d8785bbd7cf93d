"""Tests of clvlab.reporting.build_context: the numbers of the report equal the API's."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvlab
from clvlab import reporting
from clvlab.exceptions import MissingColumnsError
from clvlab.reporting import context
from clvlab.reporting.context import SECTION_IDS, clean_text, fmt_money
from clvlab.scoring import CLV, score_customers, segment_summary


def _section(ctx, sid):
    return next(s for s in ctx["sections"] if s["id"] == sid)


def _blocks(ctx, sid, kind):
    return [b for b in _section(ctx, sid)["blocks"] if b["kind"] == kind]


def test_sections_in_order_with_holdout(holdout_study):
    """With an evaluation the context has every section, in the documented order."""
    assert [s["id"] for s in holdout_study.ctx["sections"]] == list(SECTION_IDS)


def test_no_holdout_section_without_evaluation(plain_study):
    """Without an evaluation the holdout section is left out, not filled."""
    ids = [s["id"] for s in plain_study.ctx["sections"]]
    assert "holdout" not in ids
    assert ids == [s for s in SECTION_IDS if s not in ("holdout", "model-comparison")]
    assert plain_study.ctx["has_holdout"] is False


def test_total_clv_equals_scores(holdout_study):
    """Total predicted CLV is scores['clv'].sum(), formatted with 2 decimals."""
    s = holdout_study
    np.testing.assert_allclose(s.ctx["values"]["total_clv"], s.scores[CLV].sum(), rtol=1e-12)
    assert s.ctx["numbers"]["total_clv"] == f"{s.scores[CLV].sum():,.2f}"


def test_baseline_and_history_totals_equal_scores(holdout_study):
    """Baseline CLV and historical spend totals are the scoring table's column sums."""
    s = holdout_study
    assert s.ctx["numbers"]["total_clv_baseline"] == f"{s.scores['clv_baseline'].sum():,.2f}"
    assert s.ctx["numbers"]["historical_spend"] == f"{s.scores['historical_spend'].sum():,.2f}"
    # historical spend is all the sample's spend (every customer is in the window)
    np.testing.assert_allclose(s.ctx["values"]["historical_spend"], s.tx["amount"].sum(),
                               rtol=1e-12)


def test_acquisition_ceiling_equals_api(holdout_study):
    """The ceiling shown is clvlab.acquisition_cost_ceiling with the scores' settings."""
    s = holdout_study
    a = s.scores.attrs
    expected = clvlab.acquisition_cost_ceiling(s.bg, s.gg, a["horizon"], a["discount_rate"],
                                               a["margin"])
    np.testing.assert_allclose(s.ctx["values"]["acquisition_cost_ceiling"], expected,
                               rtol=1e-12)
    assert s.ctx["numbers"]["acquisition_cost_ceiling"] == f"{expected:,.2f}"


def test_holdout_numbers_equal_evaluation(holdout_study):
    """Holdout predicted/actual value and errors are the Evaluation's metrics."""
    s = holdout_study
    row = s.ev.metrics.loc["BG/NBD + Gamma-Gamma"]
    n = s.ctx["numbers"]
    assert n["holdout_predicted_value"] == f"{row['predicted_total_value']:,.2f}"
    assert n["holdout_actual_value"] == f"{row['actual_total_value']:,.2f}"
    assert n["holdout_value_error_pct"] == f"{row['value_aggregate_pct_error']:+.1f}%"
    # FHL 2005 sample: 1,882 actual holdout repeat purchases
    assert n["holdout_purchases_error_pct"] == (
        f"{s.ev.metrics.iloc[0]['purchases_aggregate_pct_error']:+.1f}%")
    table = _blocks(s.ctx, "holdout", "table")[0]
    actual_row = next(r for r in table["rows"] if r[0] == "Purchases: actual total")
    assert actual_row[1:] == ["1,882", "1,882"]


def test_holdout_metrics_compare_model_and_baseline(holdout_study):
    """The metrics table has one column per compared model: probabilistic and baseline."""
    table = _blocks(holdout_study.ctx, "holdout", "table")[0]
    assert table["columns"] == ["Metric", "BG/NBD + Gamma-Gamma", "Formula CLV baseline"]


def test_parameter_table_equals_summary(holdout_study):
    """The BG/NBD table shows summary estimates and bounds (FHL 2005: r=0.243, alpha=4.414)."""
    s = holdout_study
    table = _blocks(s.ctx, "models", "table")[0]
    shown = {row[0]: row for row in table["rows"]}
    summ = s.bg.summary
    for name in ("r", "alpha", "a", "b"):
        assert shown[name][1] == f"{summ.loc[name, 'estimate']:.4g}"
        assert shown[name][3] == f"{summ.loc[name, 'lower']:.4g}"
        assert shown[name][4] == f"{summ.loc[name, 'upper']:.4g}"
    # Fader, Hardie & Lee (2005), CDNOW 1/10 sample, weeks
    assert shown["r"][1] == "0.2426" and shown["alpha"][1] == "4.414"


def test_decile_table_equals_evaluation(holdout_study):
    """Holdout decile rows are evaluation.deciles of the value model, formatted."""
    s = holdout_study
    table = _blocks(s.ctx, "clv-vs-history", "table")[0]
    d = s.ev.deciles[s.ev.deciles["model"] == "BG/NBD + Gamma-Gamma"]
    assert len(table["rows"]) == 10
    for row, (_, ref) in zip(table["rows"], d.iterrows(), strict=True):
        assert row[0] == str(int(ref["decile"]))
        assert row[4] == f"{ref['predicted_total']:,.2f}"
        assert row[5] == f"{ref['actual_total']:,.2f}"


def test_top_customers_sorted_by_clv(holdout_study):
    """Top customers are the 20 highest CLVs, in order, with the scoring table's values."""
    s = holdout_study
    table = _blocks(s.ctx, "top-customers", "table")[0]
    ref = s.scores.sort_values(CLV, ascending=False, kind="stable").head(20)
    assert [r[0] for r in table["rows"]] == list(ref.index)
    assert [r[4] for r in table["rows"]] == [f"{v:,.2f}" for v in ref[CLV]]
    assert table["columns"][:5] == ["Customer id", "P(alive)", "Exp. purchases", "Exp. spend",
                                    "CLV"]


def test_segments_equal_segment_summary(holdout_study):
    """Segment counts and CLV totals are clvlab.scoring.segment_summary's."""
    s = holdout_study
    table = _blocks(s.ctx, "segments", "table")[0]
    ref = segment_summary(s.scores)
    assert [r[0] for r in table["rows"]] == list(ref.index)
    assert [r[1] for r in table["rows"]] == [f"{n:,}" for n in ref["n_customers"]]
    assert [r[3] for r in table["rows"]] == [f"{v:,.2f}" for v in ref["total_clv"]]
    assert sum(int(r[1].replace(",", "")) for r in table["rows"]) == 2357


def test_one_time_buyers_segment_is_explained_with_an_action(holdout_study):
    """The segments section has a 'One-time buyers' row (the frequency-0 customers, mean
    P(alive) 1.00), a second-purchase action, and a paragraph and method note on why."""
    s = holdout_study
    table = _blocks(s.ctx, "segments", "table")[0]
    rows = {r[0]: r for r in table["rows"]}
    assert list(rows)[4:] == ["One-time buyers", "Lapsed / low value"]
    n_once = int((s.scores["frequency"] == 0).sum())
    assert n_once == 1218
    assert rows["One-time buyers"][1] == f"{n_once:,}"
    assert rows["One-time buyers"][5] == "1.00"
    assert "second purchase" in rows["One-time buyers"][-1]
    assert all(r[-1] for r in table["rows"])  # every segment says what to do
    text = " ".join(b["text"] for b in _blocks(s.ctx, "segments", "paragraph"))
    assert "'One-time buyers'" in text and "P(alive) = 1" in text
    assert "does not make a Champion" in text
    methods = " ".join(_blocks(s.ctx, "methodology", "bullets")[0]["items"])
    assert "One-time buyers" in methods
    assert "One-time buyers" in s.html and "One-time buyers" in s.pdf_text


def test_data_overview_counts(holdout_study):
    """Data overview: 2,357 customers, 6,919 transactions and the load's quality checks."""
    s = holdout_study
    facts = dict(_blocks(s.ctx, "data", "facts")[0]["rows"])
    assert facts["Customers"] == "2,357"
    assert facts["Transactions"] == "6,919"
    assert facts["Repeat buyers (at least one repeat purchase)"] == (
        f"{100 * (s.rfm['frequency'] > 0).mean():.1f}%")
    assert facts["Calibration end (holdout after it)"] == "1997-09-30"
    dq = _blocks(s.ctx, "data", "table")[0]
    assert [r[1] for r in dq["rows"]] == [f"{r['count']:,}" for r in s.tx.attrs["data_quality"]]


def test_past_window_value_matches_pandas(plain_study):
    """No holdout: past-window value equals a direct pandas sum over the last 364 days."""
    s = plain_study
    tx = s.tx
    end = pd.Timestamp("1998-06-30")
    start = end - pd.Timedelta(days=364)
    known = tx.groupby("customer_id")["date"].min() <= start
    in_window = (tx["date"] > start) & (tx["date"] <= end)
    expected = tx.loc[in_window & tx["customer_id"].map(known), "amount"].sum()
    np.testing.assert_allclose(s.ctx["values"]["past_window_value"], expected, rtol=1e-12)
    text = " ".join(b["text"] for b in _blocks(s.ctx, "clv-vs-history", "paragraph"))
    assert "past 52 weeks (1997-07-02 to 1998-06-30," in text
    assert "not a validation" in text


def test_past_window_deciles_rank_by_clv(plain_study):
    """No holdout: the decile table ranks by predicted CLV and sums to the past-window total."""
    s = plain_study
    table = _blocks(s.ctx, "clv-vs-history", "table")[0]
    assert table["columns"][3] == "Past mean"
    predicted_totals = [float(r[4].replace(",", "")) for r in table["rows"]]
    past_totals = [float(r[5].replace(",", "")) for r in table["rows"]]
    assert predicted_totals == sorted(predicted_totals, reverse=True)
    np.testing.assert_allclose(sum(past_totals), s.ctx["values"]["past_window_value"],
                               rtol=1e-6)
    assert len(_blocks(s.ctx, "clv-vs-history", "figure")) == 3


def test_no_transactions_no_past_window(plain_study):
    """Without the transaction log and holdout, the comparison says why and shows totals."""
    s = plain_study
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, scores=s.scores,
                                  figures=False)
    assert math.isnan(ctx["values"]["past_window_value"])
    text = _blocks(ctx, "clv-vs-history", "paragraph")[0]["text"]
    assert "no transaction log was passed" in text
    assert not _blocks(ctx, "clv-vs-history", "table")
    assert ctx["numbers"]["n_transactions"] == "6,919"  # from the RFM summary


def test_scores_computed_when_omitted(plain_study):
    """Without scores= the context scores the customers itself, with the same totals."""
    s = plain_study
    rate = s.scores.attrs["discount_rate"]
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, horizon=52,
                                  discount_rate=rate, figures=False)
    ref = score_customers(s.rfm, s.bg, s.gg, s.base, horizon=52, discount_rate=rate)
    assert ctx["numbers"]["total_clv"] == f"{ref[CLV].sum():,.2f}"


def test_context_is_plain_data(holdout_study):
    """The context holds only plain Python data: JSON-serialisable apart from PNG bytes."""
    def default(obj):
        assert isinstance(obj, bytes) and obj.startswith(b"\x89PNG")
        return "<png>"

    json.dumps(holdout_study.ctx, default=default)


def test_figures_are_png(holdout_study):
    """Every figure block carries PNG bytes; the holdout report draws 11 (one: comparison)."""
    blocks = [b for s in holdout_study.ctx["sections"] for b in s["blocks"]]
    figs = [b for b in blocks if b["kind"] == "figure"]
    assert len(figs) == 11
    assert not any("Figure not available" in b.get("text", "") for b in blocks)
    assert all(f["png"].startswith(b"\x89PNG\r\n\x1a\n") for f in figs)


def _savefig_png(fig, dpi=context.FIGURE_DPI):
    """The figures' former encoding: matplotlib's own ``savefig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _pixels(png):
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return img.size, np.asarray(img.convert("RGBA"))


def test_figure_pixels_equal_savefig(holdout_study, monkeypatch):
    """Each figure's PNG decodes to exactly the pixels of ``Figure.savefig`` at 130 dpi."""
    s = holdout_study
    monkeypatch.setattr(context, "figure_png", _savefig_png)
    ref = reporting.build_context(
        s.bg, s.gg, s.rfm, baseline=s.base, evaluation=s.ev, comparison=s.comparison,
        scores=s.scores, transactions=s.tx, metadata={"source": "CDNOW <b>1/10</b> sample"},
    )
    ours = [b for sec in s.ctx["sections"] for b in sec["blocks"] if b["kind"] == "figure"]
    theirs = [b for sec in ref["sections"] for b in sec["blocks"] if b["kind"] == "figure"]
    assert [b["caption"] for b in ours] == [b["caption"] for b in theirs]
    assert len(ours) == 11
    for a, b in zip(ours, theirs, strict=True):
        (size_a, px_a), (size_b, px_b) = _pixels(a["png"]), _pixels(b["png"])
        assert size_a == size_b
        assert np.array_equal(px_a, px_b), a["caption"]
        # RGB instead of RGBA: no bigger than savefig's file
        assert len(a["png"]) <= len(b["png"]), a["caption"]


def test_figure_png_keeps_transparency():
    """A figure with a transparent background stays RGBA, with its alpha channel."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5), layout="constrained")
    fig.patch.set_alpha(0.0)
    fig.add_subplot().plot([0, 1], [1, 0])
    png = context.figure_png(fig, dpi=50)
    ref = Figure(figsize=(2, 1.5), layout="constrained")
    ref.patch.set_alpha(0.0)
    ref.add_subplot().plot([0, 1], [1, 0])
    (size, px), (ref_size, ref_px) = _pixels(png), _pixels(_savefig_png(ref, dpi=50))
    assert size == ref_size == (100, 75)
    assert px[..., 3].min() == 0
    assert np.array_equal(px, ref_px)


def test_missing_score_column_raises(holdout_study):
    """Scores without a required column give a MissingColumnsError naming it."""
    s = holdout_study
    with pytest.raises(MissingColumnsError, match="probability_alive"):
        reporting.build_context(s.bg, s.gg, s.rfm, scores=s.scores.drop(columns=
                                "probability_alive"), figures=False)


def test_conflicting_horizon_raises(holdout_study):
    """A horizon different from the one the scores used is refused, not mixed."""
    s = holdout_study
    with pytest.raises(ValueError, match="horizon=26 differs"):
        reporting.build_context(s.bg, s.gg, s.rfm, scores=s.scores, horizon=26, figures=False)


def test_missing_settings_raise(holdout_study):
    """Without scores, horizon and discount rate are required."""
    s = holdout_study
    with pytest.raises(ValueError, match="horizon= and"):
        reporting.build_context(s.bg, s.gg, s.rfm, figures=False)


@pytest.mark.parametrize("top_n", [0, -3, 2.5, True])
def test_bad_top_n_raises(holdout_study, top_n):
    """top_n must be a positive integer."""
    s = holdout_study
    with pytest.raises(ValueError, match="top_n"):
        reporting.build_context(s.bg, s.gg, s.rfm, scores=s.scores, top_n=top_n, figures=False)


def test_caveats_name_holdout_error(holdout_study):
    """The manager caveats quote the holdout value error and the revenue-only margin."""
    s = holdout_study
    bullets = _blocks(s.ctx, "summary", "bullets")[0]["items"]
    err = s.ctx["numbers"]["holdout_value_error_pct"].lstrip("+-")
    assert any(f"by {err}" in b for b in bullets)
    assert any("Margin 1" in b for b in bullets)


def test_fmt_money_dash_for_missing():
    """Missing numbers show as a dash, never 'nan'."""
    assert fmt_money(float("nan")) == "—"
    assert fmt_money(None) == "—"
    assert fmt_money(1234.5) == "1,234.50"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_clean_text_has_no_control_characters(text):
    """clean_text leaves no control character and keeps printable text unchanged."""
    out = clean_text(text)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in out)
    if text.isprintable() and "\u2028" not in text and "\u2029" not in text:
        assert out == text


def test_log_shorter_than_horizon_says_why(plain_study):
    """A horizon longer than the log leaves no past window; the report says why."""
    s = plain_study
    scores = score_customers(s.rfm, s.bg, s.gg, s.base, horizon=100, discount_rate=0.0)
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, scores=scores,
                                  transactions=s.tx, figures=False)
    text = _blocks(ctx, "clv-vs-history", "paragraph")[0]["text"]
    assert "the log starts 1997-01-01, less than 100 weeks before 1998-06-30" in text
    assert ctx["numbers"]["past_window_value"] == "—"


def test_clean_log_says_so(plain_study):
    """With no data-quality records the overview says the log is clean (no empty table)."""
    s = plain_study
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, scores=s.scores, data_quality=[],
                                  figures=False)
    assert not _blocks(ctx, "data", "table")
    assert any("the log is clean" in b["text"] for b in _blocks(ctx, "data", "paragraph"))


def test_figures_false_draws_nothing(plain_study):
    """figures=False gives a context without figure blocks but with every table."""
    s = plain_study
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, scores=s.scores,
                                  transactions=s.tx, figures=False)
    kinds = {b["kind"] for sec in ctx["sections"] for b in sec["blocks"]}
    assert "figure" not in kinds and "table" in kinds


def test_stamp_records_versions_and_settings(holdout_study):
    """The reproducibility stamp has version, fingerprints, parameters and settings."""
    s = holdout_study
    stamp = dict(_blocks(s.ctx, "reproducibility", "facts")[0]["rows"])
    assert stamp["clvlab version"] == clvlab.__version__
    assert stamp["Horizon"] == "52 weeks"
    assert stamp["Calibration end"] == "1997-09-30"
    assert stamp["Observation end"] == "1998-06-30"
    assert s.bg.data_fingerprint_ in stamp["BG/NBD fitted on (fingerprint, date)"]
    assert stamp["BG/NBD parameters"].startswith(f"r = {s.bg.params_['r']:.6g}")
    assert stamp["Data source"] == "CDNOW <b>1/10</b> sample"  # text; escaped by the renderer


def test_daily_units_in_labels(cdnow_tx):
    """Models in days: the horizon reads '365 days' and the past window is 365 days."""
    tx = cdnow_tx
    rfm = clvlab.rfm_summary(tx, time_unit="D", observation_end="1998-06-30")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    gg = clvlab.GammaGammaFitter().fit(rfm)
    scores = score_customers(rfm, bg, gg, None, horizon=365, discount_rate=0.0)
    ctx = reporting.build_context(bg, gg, rfm, scores=scores, transactions=tx, figures=False)
    assert ctx["numbers"]["horizon"] == "365 days"
    text = _blocks(ctx, "clv-vs-history", "paragraph")[0]["text"]
    assert "past 365 days (1997-07-01 to 1998-06-30," in text


def test_no_warnings_on_clean_study(holdout_study):
    """Building and rendering a report of a sound study issues no warning."""
    import gc
    import warnings

    s = holdout_study
    # objects leaked by earlier tests (font files of earlier PDF renders) are collected
    # now, not inside the block, where their ResourceWarnings would count against it
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, evaluation=s.ev,
                                      scores=s.scores, transactions=s.tx, figures=False)
        reporting.render_html(ctx)
        reporting.render_pdf(ctx)
    assert [str(w.message) for w in caught] == []


def test_holdout_without_value_predictions(holdout_study):
    """An evaluation without a spend model: purchase metrics only, value vs the past window."""
    import warnings

    s = holdout_study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        ev = clvlab.evaluate(s.split, s.bg, transactions=s.tx)
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, evaluation=ev, scores=s.scores,
                                  transactions=s.tx, figures=False)
    metrics = _blocks(ctx, "holdout", "table")[0]
    assert metrics["columns"] == ["Metric", "BG/NBD"]
    assert "holdout_value_error_pct" not in ctx["numbers"]
    text = _blocks(ctx, "clv-vs-history", "paragraph")[0]["text"]
    assert text.startswith("The holdout evaluation has no value predictions")
    assert _blocks(ctx, "clv-vs-history", "table")[0]["columns"][3] == "Past mean"


def test_summary_without_baseline(hostile_study):
    """Without a baseline the summary does not quote one and its KPI says so."""
    summary = hostile_study.ctx["sections"][0]
    text = next(b["text"] for b in summary["blocks"] if b["kind"] == "paragraph")
    assert "formula baseline" not in text
    kpi = next(k for k in summary["blocks"][0]["items"] if k["label"] == "Formula baseline CLV")
    assert kpi["note"] == "no baseline given"
