"""Render a report context to one self-contained HTML file.

The page has no script, loads nothing from the network (CSS inline, figures as base64
PNG ``data:`` URIs, system fonts only) and carries a Content-Security-Policy that forbids
scripts and remote resources anyway. Every string from the context is escaped by jinja2
(``autoescape=True``), so a customer id such as ``<script>alert(1)</script>`` is shown as
text. Print CSS lays it out on A4 with one section per page.
"""

from __future__ import annotations

import base64
import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

from clvlab.reporting.context import _check_context

__all__ = ["render_html", "write_html"]

_TEMPLATE = "report.html.j2"
_CSS = "report.css"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clvlab.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["png_data_uri"] = _png_data_uri
    return env


def _png_data_uri(data: bytes) -> str:
    if not isinstance(data, (bytes, bytearray)) or not bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
        raise ValueError("A figure of the report context is not PNG bytes.")
    return "data:image/png;base64," + base64.b64encode(bytes(data)).decode("ascii")


def _css() -> str:
    return (resources.files("clvlab.reporting") / "templates" / _CSS).read_text("utf-8")


def render_html(context: dict[str, Any], path: str | os.PathLike[str] | None = None) -> str:
    """Render the report context as one self-contained HTML document.

    Parameters
    ----------
    context : dict
        From :func:`clvlab.reporting.build_context`.
    path : path-like, optional
        If given, also write the document there (UTF-8; parent folders are created).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    InvalidValueError
        ``context`` is not a report context.
    """
    from markupsafe import Markup

    ctx = _check_context(context)
    html = _environment().get_template(_TEMPLATE).render(
        **ctx, css=Markup(_css())  # our own stylesheet: trusted, not escaped
    )
    if path is not None:
        write_text(Path(path), html)
    return html


def write_html(context: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the HTML report to ``path`` and return the path (see :func:`render_html`)."""
    path = Path(path)
    render_html(context, path)
    return path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file, then rename) so no half report is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
