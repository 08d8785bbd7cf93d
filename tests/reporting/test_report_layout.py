"""PDF layout: no orphan headings, no large blank areas, KPI notes inside their tiles."""

from __future__ import annotations

import pytest

from clvlab.reporting.pdf import _render

#: Least share of a page's text area that must be used (every page but the last).
MIN_FILL = 0.7


@pytest.mark.parametrize("study", ["holdout_study", "plain_study"])
def test_no_orphan_headings_and_no_half_empty_pages(request, study):
    """No heading is left at a page foot; every page but the last is at least 70% full."""
    ctx = request.getfixturevalue(study).ctx
    _, stats = _render(ctx)
    assert stats["orphans"] == []
    assert len(stats["fill"]) == stats["pages"]
    thin = {i + 1: round(f, 2) for i, f in enumerate(stats["fill"][:-1]) if f < MIN_FILL}
    assert thin == {}, f"pages with large blank areas: {thin}"


def test_progress_is_called_once_per_section(holdout_study):
    """render_pdf(progress=) is called once per section (for the CLI's progress bar)."""
    calls = []
    _render(holdout_study.ctx, progress=lambda: calls.append(1))
    assert len(calls) == len(holdout_study.ctx["sections"])


def test_reproducibility_labels_are_readable_and_unique(holdout_study):
    """The stamp shows words, not raw keys, and each label once ('Time unit' not twice)."""
    import re

    from clvlab import reporting

    s = holdout_study
    meta = {"source": "shop.csv", "time_unit": "W", "time unit": "weeks", "horizon": 52,
            "discount rate note": "per time unit", "expected_spend": "one purchase",
            "clv": "margin x ...", "segment rule": "...", "clvlab_version": "0"}
    ctx = reporting.build_context(s.bg, s.gg, s.rfm, baseline=s.base, evaluation=s.ev,
                                  scores=s.scores, transactions=s.tx, metadata=meta,
                                  figures=False)
    section = next(x for x in ctx["sections"] if x["id"] == "reproducibility")
    labels = [r[0] for b in section["blocks"] if b["kind"] == "facts" for r in b["rows"]]
    assert len(labels) == len(set(labels))
    assert labels.count("Time unit") == 1
    assert not [lab for lab in labels if re.search(r"[a-z]_[a-z]", lab)], labels
    assert "Data source" in labels and "How the discount rate was set" in labels


@pytest.fixture(scope="module")
def messy_report(tmp_path_factory):
    """A messy log of one's own (returns, duplicates, zero amounts, day-first dates, a
    26.7-week holdout, EUR at margin 0.3) through the whole CLI: HTML and PDF."""
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    import clvlab
    from clvlab.cli import DEFAULT_FILES, app

    root = tmp_path_factory.mktemp("messy")
    rng = np.random.default_rng(7)
    tx = clvlab.simulate_transactions(1500, start="2023-03-01", observation_end="2024-05-20",
                                      random_state=7)[["customer_id", "date", "amount"]]
    tx["customer_id"] = "C-" + tx["customer_id"].astype(str).str.zfill(5)
    tx["amount"] = tx["amount"].round(2)
    ret = tx.iloc[rng.choice(len(tx), 40, replace=False)].copy()
    ret["amount"] = -ret["amount"]
    ret["date"] = ret["date"] + pd.Timedelta(days=3)
    zero = tx.iloc[rng.choice(len(tx), 10, replace=False)].copy()
    zero["amount"] = 0.0
    log = pd.concat([tx, ret, tx.iloc[:15], zero]).sample(frac=1, random_state=1)
    log["Order Date"] = log["date"].dt.strftime("%d/%m/%Y")
    log = log.rename(columns={"customer_id": "Client", "amount": "Total EUR"})
    log[["Client", "Order Date", "Total EUR"]].to_csv(root / "shop.csv", sep=";", index=False)
    from clvlab import reporting

    contexts = []
    render_html = reporting.render_html
    with pytest.MonkeyPatch.context() as patch:  # keep the context the CLI renders
        patch.setattr(reporting, "render_html",
                      lambda ctx, path=None: (contexts.append(ctx), render_html(ctx, path))[1])
        result = CliRunner().invoke(app, [
            "run", str(root / "shop.csv"), "--customer-id", "Client", "--date", "Order Date",
            "--amount", "Total EUR", "--date-format", "%d/%m/%Y", "--calibration-end",
            "2023-11-15", "--currency", "EUR", "--margin", "0.3", "--out", str(root),
            "--quiet"])
    assert result.exit_code == 0, result.output
    return ((root / DEFAULT_FILES["report_html"]).read_text(encoding="utf-8"),
            (root / DEFAULT_FILES["report_pdf"]).read_bytes(), contexts[0])


def test_messy_log_report_has_no_raw_numbers_or_pandas_words(messy_report, read_pdf_text):
    """The messy log's report: no raw float tails, no negative zeros, no 'nan', no pandas
    wording, the holdout length rounded (26.7 weeks), amounts in euros."""
    import re

    html, pdf, ctx = messy_report
    text = re.sub(r"<[^>]+>", " ", html.split("<body>", 1)[1])
    for bad in ("26.714", "-0.00", " nan", "NaN", "index label", "dtype", "DataFrame",
                "duplicates=", "negative_amounts="):
        assert bad not in text, bad
        assert bad not in read_pdf_text(pdf), bad
    assert "26.7-week holdout" in text and "€" in text
    prose = [t for s in ctx["sections"] if s["id"] != "reproducibility"
             for b in s["blocks"] if b["kind"] in ("paragraph", "bullets")
             for t in (b["items"] if b["kind"] == "bullets" else [b["text"]])]
    numbers = [n for t in prose for n in re.findall(r"\d[\d,]*\.\d+", t)]
    digits = {n: len(n.replace(",", "").replace(".", "").lstrip("0")) for n in numbers}
    assert {n: d for n, d in digits.items() if d > 4} == {}  # at most 4 significant digits


def test_messy_log_pdf_layout(messy_report):
    """The messy log's PDF: no orphan headings, no page under 70% full but the last."""
    _, _, ctx = messy_report
    _, stats = _render(ctx)
    assert stats["orphans"] == []
    thin = {i + 1: round(f, 2) for i, f in enumerate(stats["fill"][:-1]) if f < MIN_FILL}
    assert thin == {}, f"pages with large blank areas: {thin}"
