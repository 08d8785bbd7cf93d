"""Money in the right words: the acquisition figure by margin, currency, rounded prose."""

from __future__ import annotations

import re

import numpy as np
import pytest

from clvlab import reporting
from clvlab._money import Currency
from clvlab.clv import acquisition_cost_ceiling
from clvlab.reporting.context import fmt_money, fmt_num, fmt_pct_points, fmt_people
from clvlab.scoring import score_customers

WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1


def _summary(ctx):
    section = next(s for s in ctx["sections"] if s["id"] == "summary")
    kpis = next(b for b in section["blocks"] if b["kind"] == "kpis")["items"]
    text = " ".join(b["text"] for b in section["blocks"] if b["kind"] == "paragraph")
    bullets = [i for b in section["blocks"] if b["kind"] == "bullets" for i in b["items"]]
    return kpis, text, bullets


@pytest.fixture(scope="module")
def margin_contexts(holdout_study):
    """The holdout study's models scored and reported at margin 0.3, in EUR (no figures)."""
    s = holdout_study
    scores = score_customers(s.rfm, s.bg, s.gg, s.base, horizon=52, discount_rate=WEEKLY_RATE,
                             margin=0.3)
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, scores=scores,
                                  transactions=s.tx, figures=False, currency="EUR")
    return ctx


def test_margin_1_is_revenue_and_never_loses_money(holdout_study):
    """At margin 1 the figure is labelled revenue, the summary never says 'loses money' and
    gives the ceiling at a 30% margin (0.3 x the revenue, rounded for people)."""
    ctx = holdout_study.ctx
    kpis, text, bullets = _summary(ctx)
    assert "loses money" not in text
    label = next(k for k in kpis if k["value"] == ctx["numbers"]["acquisition_cost_ceiling"])
    assert label["label"] == "Revenue per new customer" and "not profit" in label["note"]
    revenue = ctx["values"]["acquisition_cost_ceiling"]
    assert f"brings about {Currency(None).prose(revenue)} of revenue" in text
    assert f"{Currency(None).prose(0.3 * revenue)} at a 30% margin" in text
    assert any("revenue, not profit" in b for b in bullets)


def test_margin_below_1_is_a_profit_ceiling(holdout_study, margin_contexts):
    """At margin 0.3 the figure is a profit ceiling, 0.3 x the margin-1 revenue figure."""
    s = holdout_study
    ctx = margin_contexts
    kpis, text, _ = _summary(ctx)
    ceiling = ctx["values"]["acquisition_cost_ceiling"]
    np.testing.assert_allclose(ceiling, 0.3 * s.ctx["values"]["acquisition_cost_ceiling"],
                               rtol=1e-12)
    np.testing.assert_allclose(
        ceiling, acquisition_cost_ceiling(s.bg, s.gg, 52, WEEKLY_RATE, 0.3), rtol=1e-12)
    assert any(k["label"] == "Acquisition-cost ceiling (profit)" for k in kpis)
    assert (f"Paying more than {Currency('EUR').prose(ceiling)} to acquire a customer like "
            "these loses money") in text
    assert "profit at margin 0.3" in text


def test_currency_symbol_everywhere(margin_contexts):
    """--currency EUR: amounts carry the euro sign in figures, tables and prose; the data
    overview and the stamp name the currency; no 'currency not stated' caveat."""
    ctx = margin_contexts
    html = reporting.render_html(ctx)
    assert ctx["numbers"]["total_clv"].startswith("€")
    kpis, text, bullets = _summary(ctx)
    assert kpis[0]["value"].startswith("€") and "€" in text
    assert not any("currency of the amounts was not stated" in b for b in bullets)
    facts = {r[0]: r[1] for s in ctx["sections"] for b in s["blocks"] if b["kind"] == "facts"
             for r in b["rows"]}
    assert facts["Currency"] == "EUR (€)"
    top = next(s for s in ctx["sections"] if s["id"] == "top-customers")
    table = next(b for b in top["blocks"] if b["kind"] == "table")
    assert all(row[4].startswith("€") for row in table["rows"])  # CLV column
    assert "€" in html and fmt_money(1.0) == "1.00"  # the currency is reset afterwards


def test_unstated_currency_is_a_caveat(holdout_study):
    """Without a currency the caveats say so and how to state it."""
    _, _, bullets = _summary(holdout_study.ctx)
    assert any("--currency" in b for b in bullets)


def test_prose_rounds_for_people(holdout_study):
    """Sentences quote amounts rounded (no cents above 10) and no raw float tails."""
    _, text, _ = _summary(holdout_study.ctx)
    total = holdout_study.ctx["values"]["total_clv"]
    assert Currency(None).prose(total) in text
    assert holdout_study.ctx["numbers"]["total_clv"] not in text  # the exact figure is for tables
    amounts = re.findall(r"\d[\d,]*\.\d+(?![\d%])", text)  # percentages keep 1 decimal
    assert all(float(a.replace(",", "")) < 10 for a in amounts), amounts
    assert "discounted at 10% a year" in text


@pytest.mark.parametrize(("value", "want"), [(26.142857, "26.1"), (39.0000001, "39"),
                                             (52, "52"), (0.96, "1"), (1234.5, "1,234.5")])
def test_fmt_people(value, want):
    """Durations in sentences: whole when within 0.05, else one decimal."""
    assert fmt_people(value) == want


@pytest.mark.parametrize("func", [lambda v: fmt_num(v, 2), fmt_money,
                                  lambda v: fmt_pct_points(v, 1)])
def test_no_negative_zero_in_the_report(func):
    """A value that rounds to zero is written without a minus sign."""
    assert not func(-0.001).lstrip("€$").startswith("-")
