"""Fixtures for the report tests: the CDNOW 1/10 sample study, fitted once per session."""

from __future__ import annotations

import io
import warnings
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import clvlab  # noqa: E402
from clvlab import reporting  # noqa: E402
from clvlab.scoring import score_customers  # noqa: E402

#: 10% a year, per week (the CLI's default conversion).
WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1

#: Hostile customer ids given to the top customers of the sample (by their CDNOW id).
HOSTILE_IDS = {
    "1981": "<script>alert(1)</script>",
    "1203": "x" * 120,
    "1516": "名前😀 & \"q\" 'a'",
    "1081": "=cmd|' /C calc'!A0",
    "2149": "tab\there\nnewline\x00nul",
    "801": "</style><img src=x onerror=alert(2)>",
}


def pdf_text(data: bytes) -> str:
    """All text of a PDF, page after page (pypdf)."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="session")
def cdnow_tx():
    """Canonical CDNOW 1/10 sample transactions (2,357 customers)."""
    return clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))


@pytest.fixture(scope="session")
def holdout_study(cdnow_tx):
    """FHL 2005 split (calibration to 1997-09-30, holdout to 1998-06-30), fitted and scored."""
    tx = cdnow_tx
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    bg = clvlab.BetaGeoFitter().fit(split)
    gg = clvlab.GammaGammaFitter().fit(split)
    base = clvlab.FormulaCLVBaseline().fit(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clvlab.exceptions.ClvlabWarning)
        ev = clvlab.evaluate(split, bg, gg, base, transactions=tx)
        # every registered purchase model (BG/NBD itself as the fitted bg)
        others = [k for k in clvlab.models.registry.registered("purchase") if k != "bgnbd"]
        comparison = clvlab.compare_models(split, {"bgnbd": bg, **{k: k for k in others}},
                                           gg, base, tx)
    scores = score_customers(rfm, bg, gg, base, horizon=52, discount_rate=WEEKLY_RATE)
    ctx = reporting.build_context(
        bg, gg, rfm, baseline=base, evaluation=ev, comparison=comparison, scores=scores,
        transactions=tx, metadata={"source": "CDNOW <b>1/10</b> sample"},
    )
    html = reporting.render_html(ctx)
    pdf = reporting.render_pdf(ctx)
    return SimpleNamespace(tx=tx, split=split, rfm=rfm, bg=bg, gg=gg, base=base, ev=ev,
                           comparison=comparison, scores=scores, ctx=ctx, html=html, pdf=pdf,
                           pdf_text=pdf_text(pdf))


@pytest.fixture(scope="session")
def ranged_inputs(cdnow_tx):
    """FHL 2005 split fitted and evaluated; the whole log scored with 80% ranges (no report)."""
    tx = cdnow_tx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
        rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
        bg = clvlab.BetaGeoFitter().fit(split)
        gg = clvlab.GammaGammaFitter().fit(split)
        base = clvlab.FormulaCLVBaseline().fit(split)
        ev = clvlab.evaluate(split, bg, gg, base, transactions=tx)
        scores = score_customers(rfm, bg, gg, base, horizon=52, discount_rate=WEEKLY_RATE,
                                 interval=0.8)
    return SimpleNamespace(tx=tx, split=split, rfm=rfm, bg=bg, gg=gg, base=base, ev=ev,
                           scores=scores)


@pytest.fixture(scope="session")
def plain_study(cdnow_tx):
    """The whole sample log, no holdout: models fitted on everything, scored, reported."""
    tx = cdnow_tx
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    gg = clvlab.GammaGammaFitter().fit(rfm)
    base = clvlab.FormulaCLVBaseline().fit(rfm)
    scores = score_customers(rfm, bg, gg, base, horizon=52, discount_rate=WEEKLY_RATE)
    ctx = reporting.build_context(bg, gg, rfm, baseline=base, scores=scores, transactions=tx)
    html = reporting.render_html(ctx)
    pdf = reporting.render_pdf(ctx)
    return SimpleNamespace(tx=tx, rfm=rfm, bg=bg, gg=gg, base=base, scores=scores, ctx=ctx,
                           html=html, pdf=pdf, pdf_text=pdf_text(pdf))


@pytest.fixture(scope="session")
def hostile_study():
    """The sample log with hostile ids on six top customers; text-only report (no figures)."""
    raw = clvlab.datasets.load_cdnow(sample=True)
    raw["customer_id"] = raw["customer_id"].replace(HOSTILE_IDS)
    tx = clvlab.load_transactions(raw)
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    gg = clvlab.GammaGammaFitter().fit(rfm)
    scores = score_customers(rfm, bg, gg, None, horizon=52, discount_rate=WEEKLY_RATE)
    ctx = reporting.build_context(
        bg, gg, rfm, scores=scores, transactions=tx, figures=False,
        title="<b>Report</b> for <script>x()</script>",
        metadata={"source": "<script>alert('source')</script>", "<i>key</i>": "v&lt;"},
    )
    html = reporting.render_html(ctx)
    pdf = reporting.render_pdf(ctx)
    return SimpleNamespace(tx=tx, rfm=rfm, bg=bg, gg=gg, scores=scores, ctx=ctx, html=html,
                           pdf=pdf, pdf_text=pdf_text(pdf))


@pytest.fixture(scope="session")
def hostile_ids():
    """Original CDNOW id -> hostile id used by ``hostile_study``."""
    return dict(HOSTILE_IDS)


@pytest.fixture(scope="session")
def read_pdf_text():
    """Function extracting all text of PDF bytes with pypdf."""
    return pdf_text
