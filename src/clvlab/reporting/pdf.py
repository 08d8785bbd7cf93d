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
_FIG_WIDTH = 150.0  # mm (figures are drawn 7 in = 178 mm wide: text at 84%)


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


def _make_pdf(title: str, version: str, generated: str, *, like: Any = None) -> Any:
    """A4 document with the report's margins and fonts, pages footed with version and date.

    ``like``: a document made here whose fonts are copied instead of parsed again (the
    scratch document of the dry runs, see :meth:`_Writer.fits`); fpdf2's font copies share
    the parsed font file and keep their own record of the glyphs used. Such a document
    has no footer (its pages are never shown).
    """
    import copy

    from fpdf import FPDF

    class _ReportPDF(FPDF):
        #: page -> y where its content ended (mm), recorded when leaving it; for tests
        content_ends: dict[int, float]

        def add_page(self, *args: Any, **kwargs: Any) -> None:
            if self.page > 0:
                self.content_ends[self.page] = float(self.y)
            super().add_page(*args, **kwargs)

        def footer(self) -> None:
            if like is not None:
                return
            self.set_y(-11)
            self.set_font(_FAMILY, "", 7.5)
            self.set_text_color(*_MUTED)
            self.cell(0, 5, f"clvlab {version} · generated {generated}", align="L")
            self.set_x(self.l_margin)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = _ReportPDF(orientation="P", unit="mm", format="A4")
    pdf.content_ends = {}
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=16)
    if like is None:
        for style, path in _font_paths().items():
            pdf.add_font(_FAMILY, style, str(path))
    else:
        pdf.fonts.update({key: copy.deepcopy(font) for key, font in like.fonts.items()})
    pdf.set_title(title)
    pdf.set_creator(f"clvlab {version}")
    pdf.set_author("clvlab")
    return pdf


#: Smallest scale a figure is shrunk to so that it fits the rest of a page.
_MIN_FIG_SCALE = 0.72
#: Height (mm) below a figure for its one-line caption and spacing.
_CAPTION_ROOM = 8.0
#: Room (mm) a section title needs below it for its first lines; else a new page.
_SECTION_ROOM = 55.0
#: Tables with at most this many rows are kept on one page.
_KEEP_ROWS = 14


class _Writer:
    """Lays out the context's blocks on an FPDF document.

    Layout rules (checked by ``tests/reporting/test_report_pdf.py``): a heading is never
    the last thing on a page (it moves with the start of its block); short tables and
    fact lists are not split; a figure that does not fit the rest of a page is shrunk (to
    72% at most) or, failing that, floats below the text that follows it in its section,
    so pages are not left half empty.
    """

    def __init__(self, pdf: Any, clean: _Charset, scratch: Any = None) -> None:
        self.pdf = pdf
        self.clean = clean
        self.orphans: list[str] = []  # headings left at a page foot (should stay empty)
        # a second document with the same fonts and page geometry for dry runs
        self._scratch = scratch

    @property
    def width(self) -> float:
        # a hair under the effective page width: fpdf2 rejects tables wider than it
        return self.pdf.w - self.pdf.l_margin - self.pdf.r_margin - 0.01

    def space_left(self) -> float:
        return self.pdf.page_break_trigger - self.pdf.get_y()

    def need(self, height: float) -> None:
        if self.space_left() < height:
            self.pdf.add_page()

    def fits(self, draw: Any) -> bool:
        """Whether ``draw(writer)`` fits in the rest of the page (a dry run).

        The trial is drawn on a fresh page of a scratch document, from the same height:
        it fits if the scratch document did not break the page. (fpdf2's own
        ``offset_rendering`` deep-copies the whole document for each trial, which makes
        the layout quadratic in the number of pages.)
        """
        if self._scratch is None:
            self._scratch = _make_pdf("", "", "", like=self.pdf)
        scratch = self._scratch
        scratch.add_page()
        start = scratch.page
        scratch.set_y(self.pdf.get_y())
        draw(_Writer(scratch, self.clean, scratch))
        return scratch.page == start

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
            self.pdf.ln(4)
        self.text(title, size=14, style="B", color=_ACCENT, h=8)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(*_RULE)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.l_margin + self.width, y)
        self.pdf.ln(2.5)

    def heading(self, text: str) -> None:
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
        pdf.set_font(_FAMILY, "", 7)
        lines = max(
            (len(pdf.multi_cell(w - 4, 3.2, self.clean(i["note"]), dry_run=True, output="LINES"))
             for i in items), default=1)
        h = 15.5 + 3.2 * max(lines, 1)  # label, value, then every line of the longest note
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

    def table(self, block: dict[str, Any], rows_limit: int | None = None) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        id_col = block.get("id_column")
        shortened = 0
        rows = []
        for row in block["rows"][:rows_limit]:
            cells = [self.clean(v) for v in row]
            if id_col is not None:
                cells[id_col], cut = _shorten(cells[id_col])
                shortened += cut
            rows.append(cells)
        columns = [self.clean(c) for c in block["columns"]]
        size = 7.5 if len(columns) > 5 else 8.5
        widths = self._col_widths(columns, rows, size)
        if block.get("caption"):
            self.text(block["caption"], size=8, color=_MUTED, h=4)
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
        if rows_limit is not None:
            return
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

    def _figure_size(self, block: dict[str, Any]) -> tuple[float, float]:
        from PIL import Image

        with Image.open(io.BytesIO(block["png"])) as img:
            w_px, h_px = img.size
        w = min(_FIG_WIDTH, self.width)
        h = w * h_px / w_px
        if h > 150:  # tall figures: keep them under ~60% of a page
            w, h = w * 150 / h, 150.0
        return w, h

    def figure_fits(self, block: dict[str, Any]) -> bool:
        """Whether the figure fits the rest of the page, shrunk to 72% at most."""
        _, h = self._figure_size(block)
        return self.space_left() >= _MIN_FIG_SCALE * h + _CAPTION_ROOM

    def figure(self, block: dict[str, Any]) -> None:
        pdf = self.pdf
        w, h = self._figure_size(block)
        room = self.space_left() - _CAPTION_ROOM
        if room < h:
            if room >= _MIN_FIG_SCALE * h:  # shrink a little rather than leave a gap
                w, h = w * room / h, room
            else:
                pdf.add_page()
        x = pdf.l_margin + (self.width - w) / 2
        pdf.image(io.BytesIO(block["png"]), x=x, y=pdf.get_y(), w=w, h=h)
        pdf.set_y(pdf.get_y() + h + 1)
        self.text(block["caption"], size=8, color=_MUTED, h=4)
        pdf.ln(2.5)

    # -- flow ------------------------------------------------------------------------------
    def block(self, block: dict[str, Any]) -> None:
        kind = block["kind"]
        if kind == "kpis":
            self.kpis(block["items"])
        elif kind == "paragraph":
            self.paragraph(block["text"])
        elif kind == "heading":
            self.heading(block["text"])
        elif kind == "bullets":
            self.bullets(block["items"])
        elif kind == "facts":
            self.facts(block["rows"])
        elif kind == "table":
            self.table(block)
        elif kind == "figure":
            self.figure(block)

    def block_start(self, block: dict[str, Any] | None) -> None:
        """Draw the first lines of ``block`` (what must share a page with its heading)."""
        if block is None:
            return
        kind = block["kind"]
        if kind == "table":
            self.table(block, rows_limit=min(3, len(block["rows"])))
        elif kind == "facts":
            self.facts(block["rows"][:3])
        elif kind == "bullets":
            self.bullets(block["items"][:1])
        elif kind == "paragraph":
            self.pdf.set_font(_FAMILY, "", 9.5)
            lines = self.pdf.multi_cell(self.width, 4.8, self.clean(block["text"]),
                                        dry_run=True, output="LINES")
            self.paragraph(" ".join(lines[:3]))
        elif kind == "figure":
            w, h = self._figure_size(block)
            self.pdf.set_y(self.pdf.get_y() + _MIN_FIG_SCALE * h + _CAPTION_ROOM)
        else:
            self.block(block)

    def keep_together(self, block: dict[str, Any]) -> bool:
        """Short tables and fact lists, KPI rows, and headings are not split."""
        kind = block["kind"]
        if kind == "table":
            return len(block["rows"]) <= _KEEP_ROWS
        if kind == "facts":
            return len(block["rows"]) <= _KEEP_ROWS
        return kind == "kpis"

    def section(self, section: dict[str, Any], first: bool) -> None:
        """Lay out one section: title, then its blocks, figures floating when needed."""
        blocks = section["blocks"]
        head = blocks[0] if blocks else None
        if not first and (self.space_left() < _SECTION_ROOM or not self.fits(
                lambda w: (w.section_title(section["title"], False), w.block_start(head)))):
            self.pdf.add_page()
        self.section_title(section["title"], first=first)
        pending: list[dict[str, Any]] = []  # figures waiting for the next page
        for i, block in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if block["kind"] == "figure":
                if pending or not self.figure_fits(block):
                    pending.append(block)  # text that follows fills this page first
                else:
                    self.figure(block)
                continue
            if pending and (block["kind"] == "heading" or not self.fits(
                    lambda w, b=block: w.block(b))):
                self.flush(pending)
            if block["kind"] == "heading":
                together = self.fits(lambda w, b=block, n=nxt: (w.heading(b["text"]),
                                                                w.block_start(n)))
                if not together:
                    self.pdf.add_page()
                page = self.pdf.page
                self.heading(block["text"])
                # when the trial fitted, the start of the block fits below the heading just
                # drawn (the same drawing from the same height): only a heading moved to a
                # new page can still be an orphan (its block's start exceeds a page)
                if not together and nxt is not None and nxt["kind"] != "figure" and not \
                        self.fits(lambda w, n=nxt: w.block_start(n)):
                    self.orphans.append(f"{block['text']} (page {page})")
                continue
            if self.keep_together(block) and not self.fits(lambda w, b=block: w.block(b)):
                self.pdf.add_page()
            elif block["kind"] in ("table", "facts", "bullets") and not self.fits(
                    lambda w, b=block: w.block_start(b)):
                self.pdf.add_page()  # a caption or a first line alone at the page foot
            self.block(block)
        self.flush(pending)

    def flush(self, pending: list[dict[str, Any]]) -> None:
        """Place the floating figures (on a new page when they do not fit here)."""
        for block in pending:
            self.figure(block)
        pending.clear()


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
    data, _ = _render(context, progress)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return data


def _render(context: Any, progress: Callable[[], Any] | None = None
            ) -> tuple[bytes, dict[str, Any]]:
    """Lay the context out; return the PDF and layout facts for tests.

    The facts: ``fill`` -- per page, the share of the text area above the last content
    (1.0 = full); ``orphans`` -- headings left without their block at a page foot.
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
        w.section(section, first=(i == 0))
        if progress is not None:
            progress()
    ends = [pdf.content_ends.get(page, float(pdf.y)) for page in range(1, pdf.page + 1)]
    top, bottom = pdf.t_margin, pdf.page_break_trigger
    stats = {
        "pages": pdf.page,
        "fill": [min(1.0, (e - top) / (bottom - top)) for e in ends],
        "orphans": list(w.orphans),
    }
    return bytes(pdf.output()), stats


def write_pdf(context: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the PDF report to ``path`` and return the path (see :func:`render_pdf`)."""
    path = Path(path)
    render_pdf(context, path)
    return path
