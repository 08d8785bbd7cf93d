"""Tests of clvlab.reporting.render_pdf: pages, text, same numbers as HTML, hostile ids."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from clvlab import reporting
from clvlab.exceptions import InvalidValueError
from clvlab.reporting.pdf import MAX_ID_CHARS


def test_is_pdf_with_page_count(holdout_study):
    """The holdout report is a valid PDF of 8 to 14 A4 pages."""
    reader = pypdf.PdfReader(io.BytesIO(holdout_study.pdf))
    assert holdout_study.pdf.startswith(b"%PDF-")
    assert 8 <= len(reader.pages) <= 14
    box = reader.pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 210
    assert round(float(box.height) / 72 * 25.4) == 297


def test_no_holdout_pdf_is_shorter(holdout_study, plain_study):
    """Without a holdout the PDF leaves the holdout pages out."""
    n_hold = len(pypdf.PdfReader(io.BytesIO(holdout_study.pdf)).pages)
    n_plain = len(pypdf.PdfReader(io.BytesIO(plain_study.pdf)).pages)
    assert 6 <= n_plain < n_hold
    assert "Holdout validation" not in plain_study.pdf_text


def test_manager_summary_on_first_page(holdout_study):
    """Page 1 carries the title, the summary and the total predicted CLV."""
    reader = pypdf.PdfReader(io.BytesIO(holdout_study.pdf))
    first = reader.pages[0].extract_text()
    assert "Customer lifetime value report" in first
    assert "Summary" in first and "Key caveats" in first
    assert f"{holdout_study.scores['clv'].sum():,.2f}" in first
    assert holdout_study.ctx["numbers"]["acquisition_cost_ceiling"] in first


def test_section_titles_in_pdf(holdout_study):
    """Every section title of the context appears in the PDF text."""
    for s in holdout_study.ctx["sections"]:
        assert s["title"] in holdout_study.pdf_text


def test_same_key_numbers_as_html(holdout_study):
    """Each key number formatted in the HTML also appears in the PDF text."""
    for key, value in holdout_study.ctx["numbers"].items():
        assert value in holdout_study.html, key
        assert value in holdout_study.pdf_text, key


def test_same_table_numbers_as_html(holdout_study):
    """Every numeric cell of the decile, segment and parameter tables is in both outputs."""
    text = holdout_study.pdf_text
    checked = 0
    for sid in ("clv-vs-history", "segments", "models", "holdout"):
        section = next(s for s in holdout_study.ctx["sections"] if s["id"] == sid)
        for block in section["blocks"]:
            if block["kind"] != "table":
                continue
            for row in block["rows"]:
                for cell in row:
                    if re.fullmatch(r"[-+]?[\d,]+(\.\d+)?%?", cell):
                        assert cell in text, (sid, cell)
                        assert cell in holdout_study.html, (sid, cell)
                        checked += 1
    assert checked > 100


def test_page_numbers(holdout_study):
    """Each page's footer says 'Page i of n'."""
    reader = pypdf.PdfReader(io.BytesIO(holdout_study.pdf))
    n = len(reader.pages)
    for i, page in enumerate(reader.pages, start=1):
        assert f"Page {i} of {n}" in page.extract_text()


def test_figures_embedded(holdout_study):
    """The PDF embeds the context's 11 figures as images."""
    reader = pypdf.PdfReader(io.BytesIO(holdout_study.pdf))
    n_images = sum(len(page.images) for page in reader.pages)
    assert n_images == 11


def test_hostile_ids_render(hostile_study):
    """Hostile ids render as text: script tags as characters, long ids shortened with …."""
    text = hostile_study.pdf_text
    assert "<script>alert(1)</scr…" in text
    assert "x" * (MAX_ID_CHARS - 1) + "…" in text
    assert "=cmd|' /C calc'!A0" in text
    assert "tab\\x09here\\x0anewlin…" in text
    assert "shortened with … here" in text


def test_missing_glyphs_become_question_marks(hostile_study):
    """Characters DejaVu Sans lacks (CJK) are drawn as '?', the rest of the id as is."""
    assert "?? & \"q\" 'a'" in hostile_study.pdf_text.replace("😀", "")


def test_title_and_metadata_as_text(hostile_study):
    """A title and metadata with markup are printed as text."""
    text = hostile_study.pdf_text
    assert "<b>Report</b> for <script>x()</script>" in text
    assert "<script>alert('source')</script>" in text


def test_write_pdf(holdout_study, tmp_path):
    """write_pdf writes the PDF into new folders and returns the path."""
    path = reporting.write_pdf(holdout_study.ctx, tmp_path / "x" / "r.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == len(
        pypdf.PdfReader(io.BytesIO(holdout_study.pdf)).pages)


def test_not_a_context_raises():
    """render_pdf refuses anything that is not a build_context result."""
    with pytest.raises(InvalidValueError, match="build_context"):
        reporting.render_pdf([1, 2, 3])


def test_scratch_document_copies_fonts():
    """The dry-run document measures text as the report does, keeps its own glyph record."""
    from clvlab.reporting.pdf import _FAMILY, _make_pdf

    pdf = _make_pdf("t", "0", "now")
    scratch = _make_pdf("", "", "", like=pdf)
    assert set(scratch.fonts) == set(pdf.fonts)
    text = "Predicted CLV, next 52 weeks — Σ 1,234.56 € (ρ = 0.81)"
    lines = {}
    for name, doc in (("report", pdf), ("scratch", scratch)):
        doc.add_page()
        doc.set_font(_FAMILY, "", 9.5)
        assert doc.get_string_width(text) > 0
        lines[name] = doc.multi_cell(40, 4.8, text, dry_run=True, output="LINES")
        doc.multi_cell(40, 4.8, text)
    assert lines["scratch"] == lines["report"] and len(lines["report"]) > 1
    for key, font in pdf.fonts.items():
        assert scratch.fonts[key] is not font
        assert scratch.fonts[key].cw == font.cw
    # glyphs the scratch document used are not recorded in the report's fonts
    bold = next(k for k in pdf.fonts if k.endswith("B"))
    before = len(pdf.fonts[bold].subset)
    scratch.set_font(_FAMILY, "B", 9.5)
    scratch.multi_cell(40, 4.8, "Only drawn on the scratch page: ẞ ŧ ŋ")
    assert len(scratch.fonts[bold].subset) > before
    assert len(pdf.fonts[bold].subset) == before
