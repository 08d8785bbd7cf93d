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
