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
