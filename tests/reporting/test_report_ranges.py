"""The report with predictive ranges: summary, fan, segments, holdout check (HTML and PDF)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from clvlab import reporting
from clvlab.intervals import holdout_coverage, plain_language_note
from clvlab.reporting.context import fmt_money_prose


def pdf_text(data: bytes) -> str:
    """All text of a PDF, page after page (pypdf)."""
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="module")
def ranged(ranged_inputs):
    """CDNOW sample split, scored with 80% ranges, reported with its holdout evaluation."""
    x = ranged_inputs
    ctx = reporting.build_context(x.bg, x.gg, x.rfm, baseline=x.base, evaluation=x.ev,
                                  scores=x.scores, transactions=x.tx)
    pdf = reporting.render_pdf(ctx)
    return SimpleNamespace(split=x.split, bg=x.bg, gg=x.gg, ev=x.ev, scores=x.scores, ctx=ctx,
                           html=reporting.render_html(ctx), pdf_text=pdf_text(pdf))


def _section(ctx, sid):
    return next(s for s in ctx["sections"] if s["id"] == sid)


def test_summary_shows_the_total_clv_range_and_what_it_means(ranged):
    """The total CLV KPI carries its 80% range; the plain-language note follows."""
    totals = ranged.scores.attrs["intervals"]["totals"]["clv"]
    values = ranged.ctx["values"]
    assert values["total_clv_lower"] == totals["lower"]
    assert values["total_clv_upper"] == totals["upper"]
    assert values["total_clv_lower"] < values["total_clv"] < values["total_clv_upper"]
    text = f"{fmt_money_prose(totals['lower'])} to {fmt_money_prose(totals['upper'])}"
    summary = _section(ranged.ctx, "summary")
    kpi = summary["blocks"][0]["items"][0]
    assert kpi["note"].startswith(f"80% range {text};")
    paragraphs = [b["text"] for b in summary["blocks"] if b["kind"] == "paragraph"]
    between = f"{fmt_money_prose(totals['lower'])} and {fmt_money_prose(totals['upper'])}"
    assert f"80% likely between {between};" in paragraphs[0]
    assert plain_language_note(0.8) in paragraphs
    for out in (ranged.html, ranged.pdf_text.replace("\n", " ")):
        assert "What the ranges mean" in out
        assert text in out


def test_segments_table_has_each_segments_range(ranged):
    """Each segment's row shows its own total CLV range, from scores.attrs (not summed)."""
    seg = ranged.scores.attrs["intervals"]["segments"]
    table = next(b for b in _section(ranged.ctx, "segments")["blocks"] if b["kind"] == "table")
    col = table["columns"].index("80% range of total CLV")
    assert table["columns"][col - 1] == "Total CLV"
    for row in table["rows"]:
        rng = seg[row[0]]["clv"]
        assert row[col] == f"{fmt_money_prose(rng['lower'])} to {fmt_money_prose(rng['upper'])}"
    assert "not a sum of the customers' ranges" in table["note"]


def test_holdout_section_scores_the_ranges(ranged):
    """The holdout section shows holdout_coverage of the calibration fits, and the fan."""
    ev, split = ranged.ev, ranged.split
    ref = holdout_coverage(ranged.bg, ranged.gg, ev.customers,
                           ev.customers["actual_purchases"].to_numpy(),
                           ev.customers["actual_value"].to_numpy(), horizon=ev.horizon,
                           random_state=0)
    assert ref["totals"]["purchases"]["actual"] == split["frequency_holdout"].sum()
    blocks = _section(ranged.ctx, "holdout")["blocks"]
    heading = next(i for i, b in enumerate(blocks)
                   if b["kind"] == "heading" and b["text"] == "How well the 80% ranges held")
    table = blocks[heading + 2]
    assert table["kind"] == "table" and table["columns"] == ["Range", "Model", "Actual", "Check"]
    rows = {r[0]: r for r in table["rows"]}
    assert rows["Purchases, per customer"][2] == f"{100 * ref['purchases']['realised']:.1f}%"
    assert f"{100 * ref['purchases']['randomised']:.1f}%" in rows["Purchases, per customer"][3]
    assert rows["Value, per customer"][2] == f"{100 * ref['value']['realised']:.1f}%"
    tot = ref["totals"]["purchases"]
    assert rows["Total purchases"][1] == f"{tot['lower']:,.0f} to {tot['upper']:,.0f}"
    assert rows["Total purchases"][3] == ("inside" if tot["covered"] else "OUTSIDE the range")
    fig = next(b for b in blocks if b["kind"] == "figure" and "Cumulative" in b["caption"])
    assert "Shaded: the 80% and 50% ranges of the holdout forecast" in fig["caption"]
    assert "How well the 80% ranges held" in ranged.pdf_text
    assert "How well the 80% ranges held" in ranged.html


def test_no_ranges_without_intervals_in_the_scores(ranged):
    """Scores without intervals give the report without ranges (and no holdout check)."""
    scores = ranged.scores.drop(columns=[c for c in ranged.scores.columns
                                         if c.endswith(("_lower", "_upper"))])
    scores.attrs = {k: v for k, v in ranged.scores.attrs.items() if k != "intervals"}
    ctx = reporting.build_context(ranged.bg, ranged.gg, ranged.split, evaluation=ranged.ev,
                                  scores=scores, figures=False)
    assert "total_clv_lower" not in ctx["values"]
    text = str(ctx["sections"])
    assert "ranges held" not in text and "What the ranges mean" not in text
    table = next(b for b in _section(ctx, "segments")["blocks"] if b["kind"] == "table")
    assert not any("range" in c for c in table["columns"])
    assert np.isfinite(ctx["values"]["total_clv"])
