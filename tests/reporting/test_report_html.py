"""Tests of clvlab.reporting.render_html: sections, numbers, self-containment, escaping."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvlab import reporting
from clvlab.exceptions import InvalidValueError
from clvlab.reporting.context import SECTION_IDS


def _visible_text(doc: str) -> str:
    """Text of the document with tags removed and entities decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", doc))


def test_sections_present_by_id_and_heading(holdout_study):
    """Each section is a <section id=...> with its <h2> title, in order."""
    doc = holdout_study.html
    positions = [doc.index(f'<section id="{sid}">') for sid in SECTION_IDS]
    assert positions == sorted(positions)
    for s in holdout_study.ctx["sections"]:
        assert f"<h2>{s['title']}</h2>" in doc


def test_no_holdout_html_omits_holdout(plain_study):
    """Without a holdout the page has no holdout section and says so in the subtitle."""
    assert 'id="holdout"' not in plain_study.html
    assert "no holdout" in plain_study.html


def test_key_numbers_shown(holdout_study):
    """Total CLV, baseline, history, ceiling and holdout figures appear as formatted."""
    text = _visible_text(holdout_study.html)
    for key, value in holdout_study.ctx["numbers"].items():
        assert value in text, key


def test_total_clv_equals_scores_sum(holdout_study):
    """The total predicted CLV printed is scores['clv'].sum() to the cent."""
    total = f"{holdout_study.scores['clv'].sum():,.2f}"
    assert re.search(r'class="value">' + re.escape(total) + "<", holdout_study.html)


def test_baseline_parameters_carry_units(holdout_study):
    """The formula baseline's parameters are labelled with their units (weeks in this study)."""
    text = _visible_text(holdout_study.html)
    for label in ("Average order value (per purchase)",
                  "Purchase rate (repeat purchases per week)",
                  "Customer lifespan (weeks)"):
        assert label in text


def test_self_contained(holdout_study):
    """No script, no external resource: CSS inline, images as data: URIs, a strict CSP."""
    doc = holdout_study.html
    assert "<script" not in doc.lower()
    assert "<link" not in doc.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", doc, re.I)
    assert "@import" not in doc and "url(" not in doc
    srcs = re.findall(r'<img src="([^"]*)"', doc)
    assert len(srcs) == 11 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "default-src 'none'" in doc
    assert "<style>" in doc and "@page { size: A4" in doc


def test_print_css_breaks_sections(holdout_study):
    """Print CSS starts each section on a new A4 page and keeps figures whole."""
    doc = holdout_study.html
    assert "@media print" in doc
    assert "section { break-before: page; }" in doc
    assert "break-inside: avoid" in doc


def test_user_metadata_escaped(holdout_study):
    """User-supplied metadata is escaped text, not markup."""
    doc = holdout_study.html
    assert "CDNOW &lt;b&gt;1/10&lt;/b&gt; sample" in doc
    assert "<b>1/10</b>" not in doc


def test_script_id_escaped(hostile_study):
    """A customer id '<script>alert(1)</script>' is shown escaped and never runs."""
    doc = hostile_study.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "<script" not in doc.lower()
    assert "<img src=x" not in doc
    assert "&lt;/style&gt;&lt;img src=x onerror=alert(2)&gt;" in doc


def test_all_hostile_ids_shown_in_full(hostile_study, hostile_ids):
    """Every hostile id appears in full (escaped; control characters as \\xNN) in the HTML."""
    text = _visible_text(hostile_study.html)
    for cid in hostile_ids.values():
        shown = cid.replace("\t", "\\x09").replace("\n", "\\x0a").replace("\x00", "\\x00")
        assert shown in text, cid


def test_title_escaped(hostile_study):
    """A title with markup is escaped in <title> and <h1>."""
    doc = hostile_study.html
    assert "<title>&lt;b&gt;Report&lt;/b&gt; for &lt;script&gt;x()&lt;/script&gt;</title>" in doc


def test_write_html(holdout_study, tmp_path):
    """write_html writes the same document (UTF-8) into new folders and returns the path."""
    path = reporting.write_html(holdout_study.ctx, tmp_path / "a" / "r.html")
    text = path.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert holdout_study.ctx["numbers"]["total_clv"] in text
    assert not list(path.parent.glob(".*.tmp"))


def test_not_a_context_raises():
    """render_html refuses anything that is not a build_context result."""
    with pytest.raises(InvalidValueError, match="build_context"):
        reporting.render_html({"foo": 1})


def _tiny_context(cell: str) -> dict:
    return {
        "title": "t", "subtitle": "s", "generated": "g", "clvlab_version": "0",
        "has_holdout": False, "numbers": {}, "values": {},
        "sections": [{"id": "top-customers", "title": "Top", "blocks": [
            {"kind": "table", "columns": ["Customer id"], "rows": [[cell]], "align": ["l"],
             "id_column": 0, "caption": "", "note": ""},
            {"kind": "paragraph", "text": cell},
        ]}],
    }


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_escaped(text):
    """Whatever the text, it adds no tag: the page's markup is that of a benign cell."""
    doc = reporting.render_html(_tiny_context(text))
    benign = reporting.render_html(_tiny_context("a"))
    assert doc.count("<") == benign.count("<")
    assert doc.count(">") == benign.count(">")
