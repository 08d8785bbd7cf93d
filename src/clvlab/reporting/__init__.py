"""HTML and PDF reports: predicted vs historical customer-lifetime value, for people.

Build the context once, then render it in either format; both read the same numbers::

    from clvlab import reporting
    ctx = reporting.build_context(bg, gg, rfm, baseline=base, evaluation=ev, scores=scores,
                                  transactions=tx)
    reporting.render_html(ctx, "reports/clvlab-report.html")
    reporting.render_pdf(ctx, "reports/clvlab-report.pdf")

See ``docs/report.md`` for what each section shows.
"""

from __future__ import annotations

from clvlab.reporting.context import SECTION_IDS, build_context
from clvlab.reporting.html import render_html, write_html
from clvlab.reporting.pdf import render_pdf, write_pdf

__all__ = ["build_context", "render_html", "write_html", "render_pdf", "write_pdf",
           "SECTION_IDS"]
