"""Render a report context to PDF with fpdf2 (pure Python, no system packages).

The PDF shows the same sections, tables and figures as the HTML report, read from the
same context: A4 portrait, the manager summary on the first page, page numbers in the
footer, figures embedded as the context's PNG bytes. Text uses DejaVu Sans, the TrueType
font bundled with matplotlib, so customer ids in any script that font covers render as
they are (fpdf2's core fonts are Latin-1 only); characters it lacks are drawn as "?".
Customer ids longer than :data:`MAX_ID_CHARS` are shortened with an ellipsis in the
tables, and the table says so.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clvlab.reporting.context import _check_context

__all__ = ["render_pdf", "write_pdf", "MAX_ID_CHARS"]

#: Longest customer id printed in full in a PDF table; longer ids end in "…".
MAX_ID_CHARS = 22

_FAMILY = "DejaVu"
_ACCENT = (31, 95, 158)
_MUTED = (91, 101, 115)
_BAND = (243, 246, 249)
_RULE = (216, 221, 228)
_MARGIN = 14.0  # mm
_FIG_WIDTH = 165.0  # mm


def _font_paths() -> dict[str, Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf"}


def _shorten(text: str, limit: int = MAX_ID_CHARS) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[: limit - 1] + "…", True)


class _Charset:
    """Replace the characters the embedded font has no glyph for by ``?``."""

    def __init__(self, font_path: Path) -> None:
        from fontTools.ttLib import TTFont

        with TTFont(str(font_path), lazy=True) as font:
            self._cmap = set(font.getBestCmap())

    def __call__(self, text: str) -> str:
        if all(ord(ch) in self._cmap for ch in text):
            return text
        return "".join(ch if ord(ch) in self._cmap else "?" for ch in text)


def _make_pdf(title: str, version: str, generated: str) -> Any:
    from fpdf import FPDF

    class _ReportPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-11)
            self.set_font(_FAMILY, "", 7.5)
            self.set_text_color(*_MUTED)
            self.cell(0, 5, f"clvlab {version} · generated {generated}", align="L")
            self.set_x(self.l_margin)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = _ReportPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=16)
    for style, path in _font_paths().items():
        pdf.add_font(_FAMILY, style, str(path))
    pdf.set_title(title)
    pdf.set_creator(f"clvlab {version}")
    pdf.set_author("clvlab")
    return pdf


class _Writer:
    """Lays out the context's blocks on an FPDF document."""

    def __init__(self, pdf: Any, clean: _Charset) -> None:
        self.pdf = pdf
        self.clean = clean

    @property
    def width(self) -> float:
        # a hair under the effective page width: fpdf2 rejects tables wider than it
        return self.pdf.w - self.pdf.l_margin - self.pdf.r_margin - 0.01

    def space_left(self) -> float:
        return self.pdf.page_break_trigger - self.pdf.get_y()

    def need(self, height: float) -> None:
        if self.space_left() < height:
            self.pdf.add_page()

    def text(self, text: str, size: float = 9.5, style: str = "", color: Any = (29, 36, 48),
             h: float | None = None) -> None:
        pdf = self.pdf
        pdf.set_font(_FAMILY, style, size)
        pdf.set_text_color(*color)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(self.width, h or size * 0.5, self.clean(text), new_x="LMARGIN",
                       new_y="NEXT", align="L")

    # -- blocks ----------------------------------------------------------------------------
    def section_title(self, title: str, first: bool) -> None:
        if not first:
            self.need(70)
            self.pdf.ln(4)
        self.text(title, size=14, style="B", color=_ACCENT, h=8)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(*_RULE)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.l_margin + self.width, y)
        self.pdf.ln(2.5)

    def heading(self, text: str) -> None:
        self.need(25)
        self.pdf.ln(1.5)
        self.text(text, size=11, style="B", h=6)
        self.pdf.ln(0.5)

    def paragraph(self, text: str) -> None:
        self.text(text, size=9.5, h=4.8)
        self.pdf.ln(1.5)

    def bullets(self, items: list[str]) -> None:
        pdf = self.pdf
        pdf.set_font(_FAMILY, "", 9.5)
        pdf.set_text_color(29, 36, 48)
        for item in items:
            pdf.set_x(pdf.l_margin)
            pdf.cell(5, 4.8, "•")
            pdf.multi_cell(self.width - 5, 4.8, self.clean(item), new_x="LMARGIN", new_y="NEXT",
                           align="L")
            pdf.ln(0.8)
        pdf.ln(1)

    def kpis(self, items: list[dict[str, str]]) -> None:
        pdf = self.pdf
        per_row = 3 if len(items) > 4 else 2
        gap = 3.0
        w = (self.width - gap * (per_row - 1)) / per_row
        h = 21.0
        for start in range(0, len(items), per_row):
            self.need(h + gap)
            y = pdf.get_y()
            for j, item in enumerate(items[start:start + per_row]):
                x = pdf.l_margin + j * (w + gap)
                pdf.set_fill_color(*_BAND)
                pdf.rect(x, y, w, h, style="F")
                pdf.set_fill_color(*_ACCENT)
                pdf.rect(x, y, 1.2, h, style="F")
                pdf.set_xy(x + 3, y + 1.5)
                pdf.set_font(_FAMILY, "", 7.5)
                pdf.set_text_color(*_MUTED)
                pdf.cell(w - 4, 4, self.clean(item["label"]))
                pdf.set_xy(x + 3, y + 6)
                pdf.set_font(_FAMILY, "B", 14)
                pdf.set_text_color(29, 36, 48)
                pdf.cell(w - 4, 7, self.clean(item["value"]))
                pdf.set_xy(x + 3, y + 14)
                pdf.set_font(_FAMILY, "", 7)
                pdf.set_text_color(*_MUTED)
                pdf.multi_cell(w - 4, 3.2, self.clean(item["note"]), max_line_height=3.2,
                               align="L")
            pdf.set_xy(pdf.l_margin, y + h + gap)
        pdf.ln(1)

    def _col_widths(self, columns: list[str], rows: list[list[str]], size: float) -> list[float]:
        pdf = self.pdf
        pdf.set_font(_FAMILY, "B", size)
        natural = [pdf.get_string_width(c) + 3 for c in columns]
        pdf.set_font(_FAMILY, "", size)
        for row in rows:
            for j, v in enumerate(row):
                natural[j] = max(natural[j], pdf.get_string_width(v) + 3)
        # long text columns wrap: cap each at 45% of the width before scaling
        natural = [min(n, 0.45 * self.width) for n in natural]
        total = sum(natural)
        if total <= self.width:  # spread to the full width, like the HTML tables
            return [n * self.width / total for n in natural]
        # shrink wide columns first: columns narrower than a fair share keep their width
        fair = self.width / len(natural)
        small = [n for n in natural if n <= fair]
        rest = self.width - sum(small)
        big_total = sum(n for n in natural if n > fair)
        return [n if n <= fair else n * rest / big_total for n in natural]

    def table(self, block: dict[str, Any]) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        id_col = block.get("id_column")
        shortened = 0
        rows = []
        for row in block["rows"]:
            cells = [self.clean(v) for v in row]
            if id_col is not None:
                cells[id_col], cut = _shorten(cells[id_col])
                shortened += cut
            rows.append(cells)
        columns = [self.clean(c) for c in block["columns"]]
        size = 7.5 if len(columns) > 5 else 8.5
        widths = self._col_widths(columns, rows, size)
        if block.get("caption"):
            self.need(20)
            self.text(block["caption"], size=8, color=_MUTED, h=4)
        self.need(14)
        align = ["RIGHT" if a == "r" else "LEFT" for a in block["align"]]
        pdf.set_font(_FAMILY, "", size)
        pdf.set_text_color(29, 36, 48)
        pdf.set_draw_color(*_RULE)
        pdf.set_fill_color(255, 255, 255)
        heading = FontFace(emphasis="BOLD", fill_color=_BAND)
        with pdf.table(
            col_widths=widths, width=sum(widths), align="LEFT", text_align=align,
            borders_layout="HORIZONTAL_LINES", headings_style=heading, cell_fill_mode="NONE",
            line_height=size * 0.48, padding=(0.9, 1.2), first_row_as_headings=True,
        ) as table:
            table.row(columns)
            for cells in rows:
                table.row(cells)
        pdf.ln(1.5)
        notes = [block.get("note") or ""]
        if shortened:
            notes.append(
                f"{shortened} customer id(s) longer than {MAX_ID_CHARS} characters are shortened "
                "with … here; the HTML report and the spreadsheet show them in full."
            )
        for note in filter(None, notes):
            self.text(note, size=7.5, color=_MUTED, h=3.8)
        pdf.ln(1.5)

    def facts(self, rows: list[list[str]]) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font(_FAMILY, "", 8.5)
        pdf.set_text_color(29, 36, 48)
        pdf.set_draw_color(*_RULE)
        pdf.set_fill_color(255, 255, 255)
        self.need(10)
        label_face = FontFace(color=_MUTED)
        with pdf.table(
            col_widths=(0.42 * self.width, 0.58 * self.width), width=self.width,
            text_align=("LEFT", "LEFT"), borders_layout="HORIZONTAL_LINES", cell_fill_mode="NONE",
            line_height=4.1, padding=(0.8, 1.2), first_row_as_headings=False,
        ) as table:
            for label, value in rows:
                row = table.row()
                row.cell(self.clean(label), style=label_face)
                row.cell(self.clean(value))
        pdf.ln(2.5)

    def figure(self, block: dict[str, Any]) -> None:
        from PIL import Image

        pdf = self.pdf
        with Image.open(io.BytesIO(block["png"])) as img:
            w_px, h_px = img.size
        w = min(_FIG_WIDTH, self.width)
        h = w * h_px / w_px
        if h > 150:  # tall figures: keep them under ~60% of a page
            w, h = w * 150 / h, 150.0
        self.need(h + 9)
        x = pdf.l_margin + (self.width - w) / 2
        pdf.image(io.BytesIO(block["png"]), x=x, y=pdf.get_y(), w=w, h=h)
        pdf.set_y(pdf.get_y() + h + 1)
        self.text(block["caption"], size=8, color=_MUTED, h=4)
        pdf.ln(2.5)


def render_pdf(
    context: dict[str, Any],
    path: str | os.PathLike[str] | None = None,
    *,
    progress: Callable[[], Any] | None = None,
) -> bytes:
    """Render the report context as a PDF document.

    Parameters
    ----------
    context : dict
        From :func:`clvlab.reporting.build_context`.
    path : path-like, optional
        If given, also write the PDF there (parent folders are created; written to a
        temporary file first, then renamed).
    progress : callable, optional
        Called with no argument after each section is laid out (e.g. a progress bar).

    Returns
    -------
    bytes
        The PDF file.

    Raises
    ------
    InvalidValueError
        ``context`` is not a report context.
    """
    ctx = _check_context(context)
    fonts = _font_paths()
    clean = _Charset(fonts[""])
    pdf = _make_pdf(clean(ctx["title"]), str(ctx.get("clvlab_version", "")),
                    str(ctx.get("generated", "")))
    pdf.add_page()
    w = _Writer(pdf, clean)
    w.text(ctx["title"], size=19, style="B", h=9)
    w.text(ctx.get("subtitle", ""), size=9.5, color=_MUTED, h=5)
    y = pdf.get_y() + 1.5
    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, y, pdf.l_margin + w.width, y)
    pdf.set_line_width(0.2)
    pdf.set_y(y + 4)
    for i, section in enumerate(ctx["sections"]):
        w.section_title(section["title"], first=(i == 0))
        for block in section["blocks"]:
            kind = block["kind"]
            if kind == "kpis":
                w.kpis(block["items"])
            elif kind == "paragraph":
                w.paragraph(block["text"])
            elif kind == "heading":
                w.heading(block["text"])
            elif kind == "bullets":
                w.bullets(block["items"])
            elif kind == "facts":
                w.facts(block["rows"])
            elif kind == "table":
                w.table(block)
            elif kind == "figure":
                w.figure(block)
        if progress is not None:
            progress()
    data = bytes(pdf.output())
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return data


def write_pdf(context: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the PDF report to ``path`` and return the path (see :func:`render_pdf`)."""
    path = Path(path)
    render_pdf(context, path)
    return path
