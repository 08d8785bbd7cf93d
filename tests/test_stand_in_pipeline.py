"""The whole pipeline with a purchase model that lacks the optional capabilities.

``BareNBDFitter`` (tests/stand_in_models.py) has only the required hooks: no
``probability_of_purchases``, no ``conditional_probability_of_purchases``, no simulation,
and none of BG/NBD's parameters. Evaluation, scoring, plots, the report (HTML and PDF)
and the CLI must work with it, leave out what it cannot do with a note, and never speak
of it in BG/NBD's words.
"""

from __future__ import annotations

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import clvlab  # noqa: E402
import stand_in_models  # noqa: E402
from clvlab import plotting as P  # noqa: E402
from clvlab import reporting  # noqa: E402
from clvlab.exceptions import ClvlabWarning  # noqa: E402
from clvlab.scoring import SCORE_COLUMNS, score_customers  # noqa: E402

CAL_END, OBS_END = "1997-09-30", "1998-06-30"
WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1
CHI_NOTE = ("NBD (bare) does not provide the distribution of a new customer's purchase "
            "count, P(X(t) = n); the χ² test of the calibration frequency histogram is left out.")


@pytest.fixture(scope="module")
def study():
    """CDNOW sample split; bare NBD, Gamma-Gamma and baseline fitted; evaluated; scored."""
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    split = clvlab.calibration_holdout(tx, CAL_END, OBS_END, time_unit="W")
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end=OBS_END)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        bare = stand_in_models.BareNBDFitter().fit(split)
        gg = clvlab.GammaGammaFitter().fit(split)
        base = clvlab.FormulaCLVBaseline().fit(split)
        ev = clvlab.evaluate(split, bare, gg, base, transactions=tx)
        bg = clvlab.BetaGeoFitter().fit(split)
        cmp = clvlab.compare_models(split, {"bare": bare, "bgnbd": bg}, gg, base, tx)
    scores = score_customers(rfm, bare, gg, base, horizon=52, discount_rate=WEEKLY_RATE)
    return dict(tx=tx, split=split, rfm=rfm, bare=bare, gg=gg, base=base, ev=ev, bg=bg,
                cmp=cmp, scores=scores)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test opened."""
    yield
    plt.close("all")


def test_evaluate_skips_what_the_model_lacks_with_notes(study):
    """No χ² and no log score, each with the contract's note; the rest is computed."""
    ev = study["ev"]
    assert ev.chi_square is None and ev.log_score is None
    assert CHI_NOTE in ev.notes
    assert any("log predictive score is left out" in n for n in ev.notes)
    assert ev.tracking is not None  # cumulative expectations are a core prediction
    assert list(ev.metrics.index) == ["NBD (bare)", "NBD (bare) + Gamma-Gamma",
                                      "Formula CLV baseline"]
    payload = json.dumps(ev.to_dict(), allow_nan=False)
    assert '"chi_square": null' in payload and '"log_score": null' in payload
    text = ev.summary()
    assert "chi2" not in text and CHI_NOTE in text
    assert "left out" in ev._repr_html_()


def test_scoring_works_and_one_time_buyers_are_alive(study):
    """score_customers fills every column; NBD's P(alive) is 1 for everyone."""
    scores = study["scores"]
    assert list(scores.columns) == list(SCORE_COLUMNS)
    numeric = scores[[c for c in SCORE_COLUMNS if c != "segment"]].to_numpy(dtype=float)
    assert np.all(np.isfinite(numeric))
    np.testing.assert_array_equal(scores["probability_alive"], 1.0)


def test_plots_use_the_description_or_refuse_clearly(study):
    """Heterogeneity from describe(); the histogram and dropout plots say what is missing."""
    bare, ev = study["bare"], study["ev"]
    ax = P.plot_heterogeneity(bare)
    assert ax.get_xlabel() == "Purchase rate λ (per time unit, log scale)"
    assert "Gamma(r = 0.385, α = 12.1)" in ax.get_title()
    assert P.plot_purchase_rate_heterogeneity(bare).get_xlabel() == ax.get_xlabel()
    with pytest.raises(NotImplementedError, match="describes no dropout distribution"):
        P.plot_dropout_heterogeneity(bare)
    with pytest.raises(NotImplementedError, match=r"P\(X\(t\) = n\); the frequency histogram"):
        P.plot_frequency_histogram(bare, study["split"])
    ax = P.plot_tracking(ev)
    assert ax.lines[1].get_label() == "NBD (bare)"
    P.plot_probability_alive_matrix(bare, study["split"])
    P.plot_conditional_expectations(ev)
    P.plot_clv_scatter(ev)


def test_tracking_comparison_draws_every_model(study):
    """One actual line and one dashed line per model, labelled by the models' names."""
    cmp = study["cmp"]
    ax = P.plot_tracking_comparison(cmp)
    labels = [line.get_label() for line in ax.lines]
    assert labels[:3] == ["Actual", "NBD (bare)", "BG/NBD"]
    for i, key in enumerate(["bare", "bgnbd"], start=1):
        np.testing.assert_allclose(ax.lines[i].get_ydata(),
                                   cmp.evaluations[key].tracking["expected_cumulative"])
    with pytest.raises(TypeError, match="mapping of model label to Evaluation"):
        P.plot_tracking_comparison([study["ev"]])


@pytest.fixture(scope="module")
def report(study):
    """Report context, HTML and PDF text for the bare NBD with the comparison."""
    import io

    import pypdf

    ctx = reporting.build_context(
        study["bare"], study["gg"], study["rfm"], baseline=study["base"],
        evaluation=study["ev"], comparison=study["cmp"], scores=study["scores"],
        transactions=study["tx"],
    )
    html = reporting.render_html(ctx)
    pdf = reporting.render_pdf(ctx)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return ctx, html, text


def _section(ctx, sid):
    return next(s for s in ctx["sections"] if s["id"] == sid)


def test_report_speaks_of_the_model_in_its_own_words(report):
    """Story, glossary and trait plots from describe(); no BG/NBD prose anywhere."""
    ctx, html, text = report
    models = _section(ctx, "models")
    paras = " ".join(b["text"] for b in models["blocks"] if b["kind"] == "paragraph")
    assert "Customers never leave" in paras
    bullets = [i for b in models["blocks"] if b["kind"] == "bullets" for i in b["items"]]
    assert "alpha: rate of the purchase-rate distribution (in time units; mean rate "\
           "r/alpha)" in bullets
    captions = [b["caption"] for b in models["blocks"] if b["kind"] == "figure"]
    assert sum("How customers differ" in c for c in captions) == 1
    for doc in (html, text):
        assert "Beta(a, b)" not in doc and "drop out after" not in doc
        assert "Fader, Hardie and Lee 2005): while active" not in doc
    method = " ".join(_section(ctx, "methodology")["blocks"][0]["items"])
    assert "NBD (bare) (purchases and dropout" in method and "Ehrenberg" in method


def test_report_states_what_is_left_out(report):
    """The χ² fact, the histogram figure and the holdout notes carry the contract's notes."""
    ctx, html, text = report
    facts = dict(next(b for b in _section(ctx, "models")["blocks"]
                      if b["kind"] == "facts")["rows"])
    assert facts["Frequency histogram fit"].startswith("not available: NBD (bare) does not")
    rfm_text = " ".join(b.get("text", "") for b in _section(ctx, "rfm")["blocks"])
    assert "the frequency histogram against the model is left out" in rfm_text
    holdout = [i for b in _section(ctx, "holdout")["blocks"] if b["kind"] == "bullets"
               for i in b["items"]]
    assert CHI_NOTE in holdout
    assert "is left out" in html and "is left out" in text.replace("\n", " ")
    seg = " ".join(b.get("text", "") for b in _section(ctx, "segments")["blocks"])
    assert "gives them all P(alive) = 1 by its assumptions" in seg


def test_report_comparison_section_says_what_the_rule_would_choose(report):
    """The report uses the bare NBD as asked, but says BG/NBD wins by the rule and why."""
    ctx, html, text = report
    sec = _section(ctx, "model-comparison")
    para = sec["blocks"][0]["text"]
    assert "By this rule BG/NBD would be chosen" in para
    assert "The rest of this report is about NBD (bare)." in para
    table = next(b for b in sec["blocks"] if b["kind"] == "table")
    assert table["columns"] == ["Statistic", "NBD (bare)", "BG/NBD *", "Formula CLV baseline"]
    row = next(r for r in table["rows"] if r[0] == "Holdout log predictive score")
    assert row[1] == "—" and row[2].startswith("-2,320.")
    assert any(b["kind"] == "figure" for b in sec["blocks"])
    notes = [i for b in sec["blocks"] if b["kind"] == "bullets" for i in b["items"]]
    assert any("ranked by lowest holdout RMSE" in n for n in notes)
    assert ctx["model"] == {"key": "BareNBDFitter", "name": "NBD (bare)"}
    assert ctx["comparison"]["best"] == "bgnbd"
    assert "Model comparison" in text


def test_cli_runs_and_predicts_with_the_stand_in(tmp_path, monkeypatch):
    """--purchase-model names the registered stand-in; run, save, predict all work."""
    from clvlab.cli import app

    stand_in_models.register(monkeypatch, "nbd-bare", stand_in_models.BareNBDFitter)
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--sample", "--purchase-model", "nbd-bare",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "models" / "nbd-bare.json").read_text())
    assert saved["model"] == "nbd-bare" and saved["class"] == "BareNBDFitter"
    assert not (out / "models" / "bgnbd.json").exists()
    html = (out / "reports" / "clvlab-report.html").read_text()
    assert "is left out" in html and "would be chosen" in html  # a model with a log score
    assert (out / "reports" / "clvlab-report.pdf").read_bytes()[:5] == b"%PDF-"
    # predict finds the saved stand-in through the registry (default files under --out)
    csv = tmp_path / "b.csv"
    tx = clvlab.datasets.load_cdnow(sample=True)
    tx.to_csv(csv, index=False)
    result = runner.invoke(app, ["predict", str(csv), "--out", str(out), "--output",
                                 str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert "NBD (bare) (nbd-bare)" in result.output
