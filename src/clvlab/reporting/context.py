r"""Build the report context: every number, table and figure of the report, once.

:func:`build_context` turns the fitted models, the scoring table and (optionally) the
holdout evaluation into a plain dictionary -- strings, lists of rows and PNG bytes. Both
renderers (:func:`clvlab.reporting.render_html` and :func:`clvlab.reporting.render_pdf`)
only lay that dictionary out; they compute and format nothing themselves, so the HTML
and the PDF show the same numbers, formatted the same way.

Structure of the context (all values are plain Python objects):

``title``, ``subtitle``, ``generated`` (ISO timestamp, UTC), ``has_holdout`` (bool)
    Header of the report. ``model`` names the purchase model the report is about
    (``key``, ``name``) and ``comparison`` the chosen model and the reason when a model
    comparison was given.
``numbers``
    Key figures as formatted strings (``total_clv``, ``total_clv_baseline``,
    ``historical_spend``, ``past_window_value``, ``acquisition_cost_ceiling``,
    ``n_customers``, ``n_transactions``, ``repeat_rate`` ...), the same strings the
    report prints.
``values``
    The same key figures as floats (NaN when not available), for tests and scripts.
``sections``
    List of ``{"id", "title", "blocks"}``; ``id`` is the HTML anchor. Each block is a
    dict with ``kind`` among

    - ``"kpis"``: ``items`` = list of ``{"label", "value", "note"}``;
    - ``"paragraph"``: ``text``;
    - ``"bullets"``: ``items`` (list of str);
    - ``"heading"``: ``text`` (a subsection title);
    - ``"facts"``: ``rows`` = list of ``[label, value]``;
    - ``"table"``: ``columns``, ``rows`` (lists of str), ``align`` (``"l"``/``"r"``
      per column), ``id_column`` (index of a customer-id column or ``None``),
      ``caption`` and ``note``;
    - ``"figure"``: ``png`` (bytes), ``caption``, ``alt``.

Every word about a model (its name, story, parameter glossary, heterogeneity plots,
references) comes from the model's ``describe()`` (:mod:`clvlab.models.contract`), and a
diagnostic the model cannot provide is replaced by the contract's note, so the report
never describes one model in another's words.

Every string that comes from the user (customer ids, data-quality examples, metadata)
is kept as text; the HTML renderer escapes it (jinja2 autoescape) and the PDF renderer
draws it as text, so nothing in the data can become markup. Control characters are
replaced by visible ``\\xNN`` escapes here, once, so both formats show the same id.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import io
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._money import Currency
from clvlab._time import GREGORIAN_YEAR_DAYS, UNIT_NAMES, unit_days
from clvlab.exceptions import InvalidValueError, MissingColumnsError
from clvlab.models.contract import describe, missing_note, offers

__all__ = ["build_context", "SECTION_IDS", "FIGURE_DPI"]

#: Anchors of the report sections, in order (holdout only with an evaluation, model
#: comparison only with a comparison).
SECTION_IDS: tuple[str, ...] = (
    "summary",
    "data",
    "rfm",
    "model-comparison",
    "models",
    "holdout",
    "clv-vs-history",
    "top-customers",
    "segments",
    "methodology",
    "reproducibility",
)

#: Resolution of the embedded PNG figures (dots per inch).
FIGURE_DPI = 130

_DASH = "—"

#: What a marketer can do with each segment of :func:`clvlab.scoring.assign_segments`.
_SEGMENT_ACTIONS: dict[str, str] = {
    "Champions": "Retain and reward: loyalty perks, early access, referrals.",
    "High value, at risk": "Win back now: personal outreach, a reason to return.",
    "Promising": "Nurture: recommendations, offers for the next purchase.",
    "Needs attention": "Re-engage cheaply: reminders, low-cost e-mail.",
    "One-time buyers": "Nudge a second purchase: a follow-up offer soon after the first; "
    "the largest first orders first.",
    "Lapsed / low value": "Low-cost channels only; do not overspend.",
}


# ======================================================================================
# formatting (one place, so HTML and PDF agree)
# ======================================================================================


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


#: The currency of the report being built (set by :func:`build_context` while it runs).
_CURRENCY: contextvars.ContextVar[Currency | None] = contextvars.ContextVar(
    "clvlab_report_currency", default=None
)


def _currency() -> Currency:
    return _CURRENCY.get() or Currency(None)


def fmt_money(value: Any) -> str:
    """Amount with the report's currency symbol and its minor units (``"€1,234.56"``)."""
    return _currency().format(value, missing=_DASH)


def fmt_money_prose(value: Any) -> str:
    """Amount rounded for a sentence (``"€703,000"``, ``"€2.50 million"``, ``"€85"``)."""
    return _currency().prose(value, missing=_DASH)


def _no_minus_zero(text: str) -> str:
    """``"-0.00"`` -> ``"0.00"``: a value that rounds to zero has no sign."""
    return text[1:] if text.startswith("-") and text.strip("-0.,%") == "" else text


def fmt_int(value: Any) -> str:
    """Whole number with thousands separators."""
    return _no_minus_zero(f"{int(round(float(value))):,}") if _finite(value) else _DASH


def fmt_num(value: Any, digits: int = 3) -> str:
    """Fixed-point number with ``digits`` decimals and thousands separators."""
    return _no_minus_zero(f"{float(value):,.{digits}f}") if _finite(value) else _DASH


def fmt_people(value: Any) -> str:
    """Write a count of time units for a sentence: whole within 0.05 (``39``), else 1 decimal.

    ``26.142857`` -> ``"26.1"``, ``39.0000001`` -> ``"39"``, ``52`` -> ``"52"``.
    """
    if not _finite(value):
        return _DASH
    v = float(value)
    return f"{round(v):,}" if abs(v - round(v)) < 0.05 else _no_minus_zero(f"{v:,.1f}")


def fmt_sig(value: Any, digits: int = 4) -> str:
    """Format with ``digits`` significant digits."""
    return f"{float(value):.{digits}g}" if _finite(value) else _DASH


def fmt_pct(value: Any, digits: int = 1, sign: bool = False) -> str:
    """Format a share (0.25) as a percentage (``"25.0%"``)."""
    if not _finite(value):
        return _DASH
    if sign:
        text = f"{100 * float(value):+.{digits}f}%"
        return text if text.strip("+-0.%") else text.replace("-", "").replace("+", "")
    return _no_minus_zero(f"{100 * float(value):.{digits}f}%")


def fmt_pct_points(value: Any, digits: int = 1) -> str:
    """Format an already-percent number (-12.1) with a sign (``"-12.1%"``)."""
    if not _finite(value):
        return _DASH
    text = f"{float(value):+.{digits}f}%"
    return text if text.strip("+-0.%") else text.replace("-", "").replace("+", "")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(value: Any) -> str:
    r"""User text as a display string: control characters become visible ``\\xNN``."""
    text = str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# ======================================================================================
# blocks
# ======================================================================================


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: Sequence[str] | None = None,
    id_column: int | None = None,
    caption: str = "",
    note: str = "",
) -> dict[str, Any]:
    align = list(align) if align is not None else ["l"] + ["r"] * (len(columns) - 1)
    return {
        "kind": "table",
        "columns": [str(c) for c in columns],
        "rows": [[str(v) for v in row] for row in rows],
        "align": align,
        "id_column": id_column,
        "caption": caption,
        "note": note,
    }


def _para(text: str) -> dict[str, Any]:
    return {"kind": "paragraph", "text": text}


def _bullets(items: Sequence[str]) -> dict[str, Any]:
    return {"kind": "bullets", "items": [str(i) for i in items]}


def _heading(text: str) -> dict[str, Any]:
    return {"kind": "heading", "text": text}


def _facts(rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    return {"kind": "facts", "rows": [[str(a), str(b)] for a, b in rows]}


def _figure(
    draw: Callable[[Any], Any], caption: str, *, figsize: tuple[float, float] = (7.0, 4.2)
) -> dict[str, Any] | None:
    """Run a ``clvlab.plotting`` function on a fresh Axes and keep the PNG bytes.

    Uses a bare :class:`matplotlib.figure.Figure` (no pyplot state, nothing left open).
    A figure that cannot be drawn is left out with a note instead of failing the report.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    try:
        with warnings.catch_warnings():
            # plotting's own numerical caveats are reported in the text of the report
            warnings.simplefilter("ignore", RuntimeWarning)
            draw(ax)
    except (ValueError, TypeError, KeyError) as exc:
        return _para(f"Figure not available ({caption}): {clean_text(exc)}")
    return {"kind": "figure", "png": figure_png(fig), "caption": caption, "alt": caption}


def figure_png(fig: Any, dpi: float = FIGURE_DPI) -> bytes:
    """Draw ``fig`` once at ``dpi`` and encode it as PNG: the pixels of ``fig.savefig``.

    ``savefig`` runs a constrained-layout figure twice (a layout pass with drawing
    switched off, then the drawing) and writes RGBA; here the canvas draws once (the
    layout engine runs inside that draw) and an opaque image is written as RGB, which is
    quicker to encode and, even at zlib level 3, smaller than savefig's file. The decoded
    pixels are those of ``savefig(dpi=dpi)`` (``tests/reporting/test_report_context.py``
    compares them). No text chunks: the bytes do not depend on the matplotlib version.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1)
    if rgba[..., 3].min() == 255:  # opaque (the figure's own white background)
        image = image.convert("RGB")
    buf = io.BytesIO()
    # zlib level 3: a third quicker than the default 6 for ~2% more bytes
    image.save(buf, format="png", dpi=(dpi, dpi), compress_level=3)
    return buf.getvalue()


# ======================================================================================
# inputs
# ======================================================================================


def _model_name(model: Any, default: str) -> str:
    return default if model is None else describe(model).name


def _check_scores(scores: pd.DataFrame) -> None:
    from clvlab.scoring import SCORE_COLUMNS

    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            f"scores must be the DataFrame of clvlab.scoring.score_customers; got "
            f"{type(scores).__name__}."
        )
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise MissingColumnsError(
            f"scores lack column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(map(str, scores.columns)) or '(none)'}. Build them with "
            "clvlab.scoring.score_customers(rfm, purchase_model, spend_model, baseline, ...).",
            column=missing[0],
            rule="scoring table columns",
        )


def _resolve_option(name: str, given: Any, attrs: Mapping[str, Any]) -> float | None:
    stored = attrs.get(name)
    if given is None:
        return None if stored is None else float(stored)
    if not _finite(given):
        raise ValueError(f"{name} must be a finite number; got {given!r}.")
    if stored is not None and not math.isclose(float(given), float(stored), rel_tol=1e-9):
        raise ValueError(
            f"{name}={given!r} differs from the {name} the scores were computed with "
            f"({stored!r}); the report would mix two settings. Omit {name} or rescore."
        )
    return float(given)


# ======================================================================================
# past-window comparison (no holdout)
# ======================================================================================


def _past_window(
    transactions: pd.DataFrame | None,
    scores: pd.DataFrame,
    rfm: pd.DataFrame | None,
    observation_end: str | None,
    horizon: float,
    unit: str,
    margin: float,
    merge_period: str,
) -> dict[str, Any]:
    """Spend of the scored customers in the ``horizon`` before ``observation_end``.

    Counted as :func:`clvlab.historical_clv` with the window start as calibration end
    counts it (see :func:`window_value`), by the same rules as every other historical
    number. Customers
    whose first purchase falls inside the window are not comparable (part of their
    history is their acquisition) and are left out of the comparison, with a count.
    """
    if transactions is None:
        return {"available": False, "reason": "no transaction log was passed (transactions=)"}
    if observation_end is None:
        return {"available": False, "reason": "the observation end is unknown"}
    n_days = int(round(horizon * unit_days(unit)))
    end = pd.Timestamp(observation_end).normalize()
    start = end - pd.Timedelta(days=n_days)  # last day before the window
    first_day = pd.to_datetime(transactions[C.DATE]).min().normalize()
    if n_days < 1 or start < first_day:
        return {
            "available": False,
            "reason": (
                f"the log starts {first_day.date()}, less than {horizon:g} "
                f"{UNIT_NAMES[unit]} before {end.date()}"
            ),
        }
    known, value = window_value(transactions, start, end, margin)
    positions = _known_positions(scores, rfm, known, start)
    if positions is not None:  # the scored customers known at `start`, in their order
        common = scores.index[positions]
        past = value
    else:
        common = scores.index.intersection(known)
        past = pd.Series(value, index=known).loc[common].to_numpy(dtype=float)
        positions = scores.index.get_indexer(common)
    return {
        "available": True,
        "start": str((start + pd.Timedelta(days=1)).date()),
        "end": str(end.date()),
        "n_days": n_days,
        "index": common,
        "positions": positions,
        "value": past,
        "n_new": int(len(scores) - len(common)),
    }


def window_value(transactions: pd.DataFrame, start: Any, end: Any, margin: float
                 ) -> tuple[pd.Index, np.ndarray]:
    """Value (spend x margin) of each customer known by ``start`` over (``start``, ``end``].

    The customers and numbers of ``historical_clv(transactions, calibration_end=start,
    observation_end=end, margin=margin)["historical_clv_holdout"]``, bit for bit: the
    same checked log, the customers with a transaction on or before ``start`` (in the
    log's customer order), their transactions of the days after ``start`` up to ``end``
    summed in row order by ``np.bincount``. Without the calibration-period RFM that
    ``historical_clv`` also builds and the report does not use (a third of the time,
    a fraction of the memory).
    """
    from clvlab._checks import check_margin
    from clvlab.rfm import _check_transactions, _parse_day

    margin = check_margin(margin, "margin")
    start_day, end_day = _parse_day(start, "start"), _parse_day(end, "end")
    log = _check_transactions(transactions, integer_ids=True)
    codes, day = log.codes, log.day
    m = log.ids.size
    known = np.zeros(m, dtype=bool)
    known[codes[day <= start_day]] = True
    rows = (day > start_day) & (day <= end_day)
    rows &= known[codes]
    spend = np.bincount(codes[rows], weights=log.amount[rows], minlength=m)
    del rows, codes, day
    log.release_rows()
    known_codes = np.flatnonzero(known)
    return log.ids[known_codes], margin * spend[known_codes]


def _known_positions(scores: pd.DataFrame, rfm: pd.DataFrame | None, known: pd.Index,
                     start: pd.Timestamp) -> np.ndarray | None:
    """Positions in ``scores`` of the customers ``known`` (those who bought by ``start``).

    The fast path of :func:`_past_window`: when ``rfm`` (row for row the customers of
    ``scores``) dates each customer's first purchase, the customers who bought by
    ``start`` are picked by position, and used only if they are exactly ``known``, in
    its order -- what ``scores.index.intersection(known)`` gives then, without the hash
    table a label lookup builds and keeps on the scores' index (~100 MiB at 1M
    customers). ``None`` when that does not hold (the caller then matches labels).
    """
    if rfm is None or C.FIRST_PURCHASE not in rfm.columns or len(rfm) != len(scores):
        return None
    if not (rfm.index is scores.index or rfm.index.equals(scores.index)):
        return None
    first = pd.to_datetime(rfm[C.FIRST_PURCHASE]).to_numpy()
    if np.isnat(first).any():
        return None
    positions = np.flatnonzero(first < (start + pd.Timedelta(days=1)).to_datetime64())
    if positions.size != len(known) or not scores.index[positions].equals(known):
        return None
    return positions


def _past_window_evaluation(
    scores: pd.DataFrame, past: dict[str, Any], purchase_name: str, spend_name: str,
    baseline_name: str, horizon: float, unit: str, discount_rate: float, margin: float,
) -> Any:
    """Evaluate next-window CLV against past-window value, as an ``Evaluation``.

    Only the value columns, metrics and deciles are filled: enough for
    :func:`clvlab.plotting.plot_clv_scatter` and :func:`~clvlab.plotting.plot_decile_bars`.
    """
    from clvlab import evaluation as E
    from clvlab.scoring import CLV, CLV_BASELINE, EXPECTED_PURCHASES, PROBABILITY_ALIVE

    idx = past["index"]
    sub = scores.take(past["positions"])  # the rows of scores.loc[idx], by position
    actual = np.asarray(past["value"], dtype=float)
    pred = sub[CLV].to_numpy(dtype=float)
    base = sub[CLV_BASELINE].to_numpy(dtype=float)
    has_base = bool(np.isfinite(base).all())
    customers = pd.DataFrame(
        {
            C.FREQUENCY: sub[C.FREQUENCY].to_numpy(dtype=float),
            C.RECENCY: sub[C.RECENCY].to_numpy(dtype=float),
            C.T: sub[C.T].to_numpy(dtype=float),
            E.ACTUAL_PURCHASES: np.nan,
            E.ACTUAL_VALUE: actual,
            E.PREDICTED_PURCHASES: sub[EXPECTED_PURCHASES].to_numpy(dtype=float),
            E.PROBABILITY_ALIVE: sub[PROBABILITY_ALIVE].to_numpy(dtype=float),
            E.PREDICTED_VALUE: pred,
        },
        index=idx,
    )
    rows: list[tuple[str, np.ndarray | None]] = [
        (purchase_name, None), (f"{purchase_name} + {spend_name}", pred)
    ]
    if has_base:
        customers[E.BASELINE_VALUE] = base
        rows.append((baseline_name, base))
    records, deciles = [], []
    for name, value in rows:
        rec = {f"value_{k}": v for k, v in
               (E.regression_metrics(actual, value).items() if value is not None else [])}
        rec["top_decile_capture"] = (
            E.top_decile_capture(actual, value) if value is not None else math.nan
        )
        rec["predicted_total_value"] = float(value.sum()) if value is not None else math.nan
        rec["actual_total_value"] = float(actual.sum())
        records.append(rec)
        if value is not None:
            d = E.decile_table(actual, value).reset_index()
            d.insert(0, "model", name)
            deciles.append(d)
    metrics = pd.DataFrame(records, index=pd.Index([r[0] for r in rows], name="model"))
    empty = pd.DataFrame()
    chi = E.ChiSquareResult(math.nan, 0, math.nan, empty)
    return E.Evaluation(
        metrics=metrics, by_frequency=empty, by_recency=empty, tracking=None,
        deciles=pd.concat(deciles, ignore_index=True), chi_square=chi, customers=customers,
        horizon=float(horizon), time_unit=unit, discount_rate=float(discount_rate),
        margin=float(margin),
    )


# ======================================================================================
# sections
# ======================================================================================


def _decile_rows(table: pd.DataFrame) -> list[list[str]]:
    return [
        [
            fmt_int(r["decile"]),
            fmt_int(r["n_customers"]),
            fmt_money(r["predicted_mean"]),
            fmt_money(r["actual_mean"]),
            fmt_money(r["predicted_total"]),
            fmt_money(r["actual_total"]),
            fmt_pct(r["actual_share"]),
        ]
        for _, r in table.iterrows()
    ]


def _quantile_rows(frame: pd.DataFrame, columns: Sequence[tuple[str, str, Any]]) -> list[list[str]]:
    out = []
    for col, label, mask in columns:
        v = frame[col].to_numpy(dtype=float)
        if mask is not None:
            v = v[mask]
        v = v[np.isfinite(v)]
        if v.size == 0:
            out.append([label, "0"] + [_DASH] * 6)
            continue
        q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
        out.append([label, fmt_int(v.size), fmt_num(v.mean(), 2)] + [fmt_num(x, 2) for x in q[1:]])
    return out


def _summary_rows(summary: pd.DataFrame, digits: int = 4) -> list[list[str]]:
    return [
        [str(name), fmt_sig(r["estimate"], digits), fmt_sig(r["se"], 3),
         fmt_sig(r["lower"], digits), fmt_sig(r["upper"], digits)]
        for name, r in summary.iterrows()
    ]


# ======================================================================================
# resolved inputs, shared by the section builders
# ======================================================================================


@dataclass
class _Study:
    """Everything the sections read, resolved and checked once by :func:`build_context`."""

    purchase_model: Any
    spend_model: Any
    baseline: Any
    evaluation: Any
    rfm: pd.DataFrame
    scores: pd.DataFrame
    transactions: pd.DataFrame | None
    data_quality: list[Mapping[str, Any]]
    metadata: dict[str, Any]
    unit: str
    horizon: float
    discount_rate: float
    margin: float
    obs_end: str | None
    cal_end: str | None
    top_n: int
    figures: bool
    comparison: Any = None
    p_name: str = ""
    s_name: str = ""
    b_name: str | None = None
    value_row: str | None = None
    past: dict[str, Any] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)
    prose: dict[str, str] = field(default_factory=dict)  # amounts rounded for sentences
    ceiling_error: str = ""
    currency: Currency = field(default_factory=Currency)
    # the fits validated on the holdout when the forecast models were refitted on the
    # whole log: {"purchase": ..., "spend": ..., "baseline": ...}; None otherwise
    calibration_models: dict[str, Any] | None = None
    # the predictive ranges of the scores (scores.attrs["intervals"]) or None
    ranges: dict[str, Any] | None = None
    # how the ranges held on the holdout (clvlab.intervals.holdout_coverage), the fan of
    # the holdout forecast (clvlab.forecast_intervals), or a sentence saying why not
    holdout_check: dict[str, Any] | None = None
    holdout_fan: pd.DataFrame | None = None
    holdout_ranges_note: str = ""

    @property
    def level_label(self) -> str:
        """``"80%"``: the level of the predictive ranges."""
        return fmt_pct((self.ranges or {}).get("level", math.nan), 0)

    @property
    def validated_spend_model(self) -> Any:
        """The spend model the holdout evaluated (the calibration fit)."""
        if self.refitted:
            return (self.calibration_models or {}).get("spend", self.spend_model)
        return self.spend_model

    @property
    def refitted(self) -> bool:
        """The forecast models are whole-log refits of the models the holdout validated."""
        return self.has_holdout and self.calibration_models is not None

    @property
    def validated_purchase_model(self) -> Any:
        """The purchase model the holdout evaluated (the calibration fit)."""
        if self.refitted:
            return self.calibration_models["purchase"]  # type: ignore[index]
        return self.purchase_model

    @property
    def ceiling_basis(self) -> str:
        """What the acquisition ceiling measures: revenue (margin 1), profit (margin < 1)."""
        if self.margin == 1.0:
            return "revenue"
        return "profit" if self.margin < 1.0 else "value"

    @property
    def has_holdout(self) -> bool:
        return self.evaluation is not None

    @property
    def units(self) -> str:
        return UNIT_NAMES.get(self.unit, self.unit)

    @property
    def one_unit(self) -> str:
        return self.units[:-1]

    @property
    def horizon_label(self) -> str:
        return f"{fmt_people(self.horizon)} {self.one_unit if self.horizon == 1 else self.units}"

    @property
    def holdout_label(self) -> str:
        """``"39-week"``: the holdout's length, rounded for a sentence."""
        return f"{fmt_people(self.evaluation.horizon)}-{self.one_unit}"

    @property
    def annual_rate(self) -> float:
        return (1 + self.discount_rate) ** (GREGORIAN_YEAR_DAYS / unit_days(self.unit)) - 1

    @property
    def fit_data(self) -> pd.DataFrame:
        """The customers the purchase model was fitted on: calibration, else the RFM."""
        return self.evaluation.customers if self.has_holdout and not self.refitted else self.rfm

    @property
    def fit_period(self) -> str:
        """``"calibration period"`` or ``"observed period"``: what the models saw."""
        return "calibration period" if self.has_holdout and not self.refitted else \
            "observed period"

    def figure(self, draw: Callable[[Any], Any], caption: str,
               figsize: tuple[float, float] = (7.0, 4.2)) -> dict[str, Any] | None:
        return _figure(draw, caption, figsize=figsize) if self.figures else None


#: Called once per section built (``build_context(progress=...)``), e.g. a progress bar.
_PROGRESS: contextvars.ContextVar[Callable[[], Any] | None] = contextvars.ContextVar(
    "clvlab_report_progress", default=None
)


def _section(sid: str, title: str, blocks: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    tick = _PROGRESS.get()
    if tick is not None:
        tick()
    return {"id": sid, "title": title, "blocks": [b for b in blocks if b is not None]}


def _key_figures(st: _Study) -> None:
    """Totals shown in several sections: ``st.values`` (floats), ``st.numbers`` (text)."""
    from clvlab.clv import acquisition_cost_ceiling
    from clvlab.scoring import CLV, CLV_BASELINE, HISTORICAL_SPEND

    scores, rfm = st.scores, st.rfm
    n = len(scores)
    total_clv = float(np.nansum(scores[CLV].to_numpy(dtype=float)))
    base = scores[CLV_BASELINE].to_numpy(dtype=float)
    total_base = float(np.sum(base)) if np.isfinite(base).any() else math.nan
    hist = scores[HISTORICAL_SPEND].to_numpy(dtype=float)
    total_hist = float(np.nansum(hist)) if np.isfinite(hist).any() else math.nan
    freq = rfm[C.FREQUENCY].to_numpy(dtype=float)
    if st.transactions is not None:
        n_tx: float = len(st.transactions)
    elif C.N_TRANSACTIONS in rfm.columns:
        n_tx = int(rfm[C.N_TRANSACTIONS].sum())
    else:
        n_tx = math.nan
    try:
        ceiling = acquisition_cost_ceiling(st.purchase_model, st.spend_model, st.horizon,
                                           st.discount_rate, st.margin)
    except (ValueError, TypeError, AttributeError) as exc:  # shown in the report, not fatal
        ceiling = math.nan
        st.ceiling_error = clean_text(exc)
    past = st.past
    past_total = float(np.sum(past["value"])) if past["available"] else math.nan
    past_clv = (float(np.nansum(scores[CLV].to_numpy(dtype=float)[past["positions"]]))
                if past["available"] else math.nan)
    st.values.update({
        "total_clv": total_clv,
        "total_clv_baseline": total_base,
        "historical_spend": total_hist,
        "past_window_value": past_total,
        "past_window_clv": past_clv,
        "acquisition_cost_ceiling": ceiling,
        "n_customers": float(n),
        "n_transactions": float(n_tx),
        "repeat_rate": float((freq > 0).mean()) if len(freq) else math.nan,
        "mean_clv": total_clv / n if n else math.nan,
        "mean_spend": total_hist / n if n else math.nan,
        "horizon": st.horizon,
        "discount_rate": st.discount_rate,
        "margin": st.margin,
    })
    v = st.values
    st.numbers.update({
        "total_clv": fmt_money(total_clv),
        "total_clv_baseline": fmt_money(total_base),
        "historical_spend": fmt_money(total_hist),
        "past_window_value": fmt_money(past_total),
        "past_window_clv": fmt_money(past_clv),
        "acquisition_cost_ceiling": fmt_money(ceiling),
        "n_customers": fmt_int(n),
        "n_transactions": fmt_int(n_tx),
        "repeat_rate": fmt_pct(v["repeat_rate"]),
        "mean_clv": fmt_money(v["mean_clv"]),
        "horizon": st.horizon_label,
    })
    st.prose.update({key: fmt_money_prose(v[key]) for key in (
        "total_clv", "total_clv_baseline", "historical_spend", "past_window_value",
        "past_window_clv", "acquisition_cost_ceiling", "mean_clv")})
    clv_range = ((st.ranges or {}).get("totals") or {}).get("clv")
    if clv_range is not None:
        lo, hi = float(clv_range["lower"]), float(clv_range["upper"])
        v["total_clv_lower"], v["total_clv_upper"] = lo, hi
        v["interval_level"] = float(st.ranges["level"])  # type: ignore[index]
        st.numbers["total_clv_range"] = f"{fmt_money(lo)} to {fmt_money(hi)}"
        st.prose["total_clv_range"] = f"{fmt_money_prose(lo)} to {fmt_money_prose(hi)}"
        st.prose["total_clv_between"] = f"{fmt_money_prose(lo)} and {fmt_money_prose(hi)}"
    v["acquisition_cost_ceiling_margin_0_3"] = (
        ceiling / st.margin * 0.3 if _finite(ceiling) and st.margin > 0 else math.nan)
    if st.has_holdout:
        metrics = st.evaluation.metrics
        names = list(metrics.index)
        if len(names) > 1 and _finite(metrics.iloc[1].get("predicted_total_value", math.nan)):
            st.value_row = str(names[1])  # purchase model + spend model
        err = float(metrics.iloc[0]["purchases_aggregate_pct_error"])
        v["holdout_purchases_error_pct"] = err
        st.numbers["holdout_purchases_error_pct"] = fmt_pct_points(err)
        if st.value_row is not None:
            row = metrics.loc[st.value_row]
            v["holdout_predicted_value"] = float(row["predicted_total_value"])
            v["holdout_actual_value"] = float(row["actual_total_value"])
            v["holdout_value_error_pct"] = float(row["value_aggregate_pct_error"])
            st.numbers["holdout_predicted_value"] = fmt_money(row["predicted_total_value"])
            st.numbers["holdout_actual_value"] = fmt_money(row["actual_total_value"])
            st.numbers["holdout_value_error_pct"] = fmt_pct_points(
                row["value_aggregate_pct_error"]
            )
            st.prose["holdout_predicted_value"] = fmt_money_prose(row["predicted_total_value"])
            st.prose["holdout_actual_value"] = fmt_money_prose(row["actual_total_value"])


# ======================================================================================
# sections
# ======================================================================================


def missed_range_caveat(check: dict[str, Any] | None, level_label: str) -> str | None:
    """Return the caveat when the holdout total fell outside its range (else ``None``).

    ``check`` is :func:`clvlab.intervals.holdout_coverage`'s result (or ``None``); the
    value total is read when there is one, else the purchases.
    """
    if check is None:
        return None
    total = check["totals"].get("value") or check["totals"]["purchases"]
    what = "value" if "value" in check["totals"] else "purchases"
    if total["covered"]:
        return None
    return (f"The {level_label} ranges allow for chance and for the uncertainty of the "
            "fitted parameters, not for a model that is off: on the holdout the total "
            f"{what} fell outside its {level_label} range (see Holdout validation), so "
            "the range of the total CLV is narrower than the real uncertainty.")


def _caveats(st: _Study) -> list[str]:
    out: list[str] = []
    if not st.has_holdout:
        out.append(
            "No holdout period: the forecast has not been checked against purchases it did "
            "not see. Compare it with the past window below, and re-run with a calibration "
            "end date to validate it."
        )
    elif st.value_row is not None:
        err = st.values["holdout_value_error_pct"]
        out.append(
            f"In the holdout check the model {'under' if err < 0 else 'over'}-predicted total "
            f"value by {abs(err):.1f}% ({st.prose['holdout_predicted_value']} predicted vs "
            f"{st.prose['holdout_actual_value']} actual); read the totals with that margin of "
            "error."
        )
    missed = missed_range_caveat(st.holdout_check, st.level_label)
    if missed:
        out.append(missed)
    for model, name in ((st.purchase_model, st.p_name), (st.spend_model, st.s_name)):
        if getattr(model, "converged_", True) is False:
            out.append(f"The {name} fit did not fully converge: its estimates may be off.")
    corr = getattr(st.spend_model, "frequency_spend_correlation_", math.nan)
    if _finite(corr) and abs(corr) >= 0.3:
        out.append(
            f"Spend per purchase correlates with purchase frequency (r = {corr:.2f}); the "
            "Gamma-Gamma model assumes they are independent, so spend predictions are biased."
        )
    flagged = sum(int(r.get("count", 0)) for r in st.data_quality)
    if flagged:
        out.append(
            f"Data-quality checks flagged {flagged:,} transaction rows at load (see Data "
            "overview); check how they were handled."
        )
    out.append(
        f"CLV counts repeat purchases of today's customers over the next {st.horizon_label} "
        "only: no new customers, no value beyond the horizon, and the assumption that "
        "customers behave as in the past (no change in prices, marketing or seasonality)."
    )
    if st.margin == 1.0:
        out.append("Margin 1: every value in this report is revenue, not profit, including "
                   "the acquisition figure. Set the margin (the share of revenue you keep) "
                   "to see profit.")
    if st.currency.code is None:
        out.append("The currency of the amounts was not stated, so they are shown without "
                   "a symbol (state it with --currency, e.g. --currency EUR).")
    return out


def _ranges_note(st: _Study) -> str:
    """Say in plain words what a predictive range means (for the summary)."""
    from clvlab.intervals import plain_language_note

    return plain_language_note(float(st.ranges["level"]))  # type: ignore[index]


#: Horizons at which the fan of the holdout forecast is computed (at most).
_FAN_POINTS = 14


def _holdout_ranges(st: _Study) -> None:
    """Score the predictive ranges on the holdout and the fan of the holdout forecast.

    Uses the validated (calibration) models on the evaluation's customers:
    :func:`clvlab.intervals.holdout_coverage` (per customer and totals) and
    :func:`clvlab.forecast_intervals` at the tracking's holdout period ends. Sets
    ``st.holdout_check``, ``st.holdout_fan`` or, when they cannot be computed,
    ``st.holdout_ranges_note``.
    """
    from clvlab import evaluation as E
    from clvlab.intervals import forecast_intervals, holdout_coverage
    from clvlab.models.contract import supports

    if st.ranges is None or not st.has_holdout:
        return
    ev, pm, sm = st.evaluation, st.validated_purchase_model, st.validated_spend_model
    if not supports(pm, "conditional_probability_of_purchases"):
        st.holdout_ranges_note = missing_note(pm, "conditional_probability_of_purchases",
                                              "the holdout check of the ranges")
        return
    # by position: the labels are not needed, and a lookup in a text index of a million
    # ids builds pandas' hash table on it (~100 MiB, kept as long as the evaluation)
    cust = ev.customers.reset_index(drop=True)
    level = float(st.ranges["level"])
    value = cust[E.ACTUAL_VALUE].to_numpy(dtype=float)
    use_value = (sm is not None and supports(sm, "spend_distribution")
                 and C.MONETARY_VALUE in cust.columns and bool(np.isfinite(value).all()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the model warnings were shown when scoring
            st.holdout_check = holdout_coverage(
                pm, sm if use_value else None, cust, cust[E.ACTUAL_PURCHASES].to_numpy(),
                value if use_value else None, horizon=ev.horizon, level=level,
                discount_rate=ev.discount_rate, margin=ev.margin, random_state=0,
            )
            track = ev.tracking
            if st.figures and track is not None:
                boundary = float(track.attrs.get("calibration_boundary", math.nan))
                times = track["period_end"].to_numpy(dtype=float) - boundary
                times = times[times > 1e-9]
                if times.size > _FAN_POINTS:  # a smooth curve: every k-th period and the end
                    times = times[np.unique(np.linspace(0, times.size - 1, _FAN_POINTS)
                                            .round().astype(int))]
                if times.size:
                    st.holdout_fan = forecast_intervals(
                        pm, cust[[C.FREQUENCY, C.RECENCY, C.T]], times, level=level,
                        random_state=0)
    except (ValueError, TypeError, NotImplementedError) as exc:
        st.holdout_ranges_note = f"The holdout check of the ranges failed: {clean_text(exc)}"


def _holdout_ranges_blocks(
    ranges: Any, check: dict[str, Any] | None, level_label: str, note: str,
) -> list[dict[str, Any] | None]:
    """Build the holdout section's part on how well the predictive ranges held.

    ``ranges``: the scores' ranges (nothing is built without them); ``check``:
    :func:`clvlab.intervals.holdout_coverage`'s result, or ``None`` with ``note`` saying
    why (the pandas and the Spark reports pass their own).
    """
    if ranges is None:
        return []
    if check is None:
        return [_heading(f"How well the {level_label} ranges held"),
                _para(note or "Not computed.")]
    chk, lvl = check, level_label
    pur, val = chk["purchases"], chk["value"]
    who = (f"all {fmt_int(chk['n_customers'])} customers" if chk["n_checked"] ==
           chk["n_customers"] else f"a random {fmt_int(chk['n_checked'])} of the "
           f"{fmt_int(chk['n_customers'])} customers")
    rows = [[
        "Purchases, per customer", f"{fmt_pct(pur['stated'])} (at least {lvl})",
        fmt_pct(pur["realised"]),
        f"randomised: {fmt_pct(pur['randomised'])} (should be {lvl})",
    ]]
    if val is not None:
        rows.append(["Value, per customer", fmt_pct(val["stated"]), fmt_pct(val["realised"]),
                     ""])
    for name, label, fmt in (("purchases", "Total purchases", fmt_int),
                             ("value", "Total value", fmt_money_prose)):
        tot = chk["totals"].get(name)
        if tot is None:
            continue
        rows.append([label, f"{fmt(tot['lower'])} to {fmt(tot['upper'])}",
                     fmt(tot["actual"]), "inside" if tot["covered"] else "OUTSIDE the range"])
    totals = chk["totals"]
    missed = [n for n in ("purchases", "value") if n in totals and not totals[n]["covered"]]
    reading = (
        f"Each customer's {lvl} range of holdout purchases (and value) was computed from the "
        f"models fitted on the calibration period and set against what they then did, for "
        f"{who}. A range of whole numbers of purchases holds at least {lvl} (most customers "
        "buy nothing or once, so the stated share is higher); the randomised figure is the "
        "exact check and should be close to the level. "
    )
    if missed:
        its = "its" if len(missed) == 1 else "their"
        reading += (
            f"The total {' and total '.join(missed)} fell outside {its} {lvl} range: the "
            "ranges allow for chance and parameter uncertainty, not for the model's holdout "
            "error shown above; read the total CLV range with that in mind."
        )
    else:
        reading += "The actual totals fell inside their ranges."
    return [
        _heading(f"How well the {lvl} ranges held"),
        _para(reading),
        _table(["Range", "Model", "Actual", "Check"], rows, align=["l", "r", "r", "l"],
               caption=f"{lvl} predictive ranges on the holdout. Per customer: the share of "
                       "customers inside their range, as the model stated it and as it "
                       "happened; totals: the range and the actual total."),
    ]


def _ceiling_kpi(st: _Study) -> dict[str, str]:
    """Label the acquisition figure by what it measures (revenue, profit, value)."""
    basis, h = st.ceiling_basis, st.horizon_label
    if basis == "revenue":
        return {"label": "Revenue per new customer",
                "value": st.numbers["acquisition_cost_ceiling"],
                "note": f"next {h}, first purchase included; revenue, not profit: times your "
                        "margin = the most to pay to acquire one"}
    if basis == "profit":
        return {"label": "Acquisition-cost ceiling (profit)",
                "value": st.numbers["acquisition_cost_ceiling"],
                "note": f"per new customer, next {h}, at margin {st.margin:g}"}
    return {"label": f"Value per new customer (margin {st.margin:g})",
            "value": st.numbers["acquisition_cost_ceiling"],
            "note": f"next {h}, first purchase included"}


def _ceiling_sentence(st: _Study) -> str:
    """One sentence on what acquiring a customer is worth, true to the margin."""
    h, ceiling = st.horizon_label, st.prose["acquisition_cost_ceiling"]
    if st.ceiling_error:
        return f"The value of a new customer could not be computed: {st.ceiling_error}."
    if st.ceiling_basis == "revenue":
        example = fmt_money_prose(st.values.get("acquisition_cost_ceiling_margin_0_3"))
        return (
            f"A new customer like these brings about {ceiling} of revenue over the next {h} "
            "(first purchase included). That is revenue, not profit: the most worth paying to "
            f"acquire one is that times your margin -- {example} at a 30% margin, for "
            "instance. Set the margin to see the ceiling in profit."
        )
    if st.ceiling_basis == "profit":
        return (
            f"Paying more than {ceiling} to acquire a customer like these loses money in "
            f"expectation over the next {h} (profit at margin {st.margin:g}, first purchase "
            "included)."
        )
    return (
        f"A new customer like these is worth about {ceiling} over the next {h} at margin "
        f"{st.margin:g} (first purchase included)."
    )


def _summary_section(st: _Study) -> dict[str, Any]:
    num, prose, past, h = st.numbers, st.prose, st.past, st.horizon_label
    clv_note = f"{num['n_customers']} customers, mean {num['mean_clv']}"
    if "total_clv_range" in prose:
        clv_note = f"{st.level_label} range {prose['total_clv_range']}; " + clv_note
    kpis = [
        {"label": f"Predicted CLV, next {h}", "value": num["total_clv"], "note": clv_note},
        {"label": "Formula baseline CLV", "value": num["total_clv_baseline"],
         "note": "simple average-order-value formula" if st.baseline is not None
         else "no baseline given"},
        {"label": "Historical spend (whole period)", "value": num["historical_spend"],
         "note": "first purchases included"},
        _ceiling_kpi(st),
    ]
    if st.value_row is not None:
        kpis.insert(2, {"label": "Holdout check: value error",
                        "value": num["holdout_value_error_pct"],
                        "note": f"{prose['holdout_predicted_value']} predicted vs "
                                f"{prose['holdout_actual_value']} actual"})
    elif past["available"]:
        kpis.insert(2, {"label": f"Value in the past {h}", "value": num["past_window_value"],
                        "note": f"same customers, {past['start']} to {past['end']}"})
    what = {"revenue": "in revenue", "profit": "in profit"}.get(
        st.ceiling_basis, f"in value at margin {st.margin:g}")
    sentences = [
        f"The {num['n_customers']} customers are expected to bring {prose['total_clv']} "
        f"{what} over the next {h} (discounted at {fmt_people(100 * st.annual_rate)}% a year)"
        + (f", {st.level_label} likely between {prose['total_clv_between']}"
           if "total_clv_between" in prose else "")
        + (f"; the formula baseline says {prose['total_clv_baseline']}."
           if st.baseline is not None else ".")
    ]
    if past["available"]:
        v = st.values
        past_value = v["past_window_value"]
        ratio = v["past_window_clv"] / past_value if past_value else math.nan
        sentences.append(
            f"The same customers brought {prose['past_window_value']} in the past {h} "
            f"({past['start']} to {past['end']}); the forecast for them is "
            f"{prose['past_window_clv']}, {fmt_pct(ratio, 0)} of that."
        )
    if st.value_row is not None:
        sentences.append(
            f"Checked on a {st.holdout_label} holdout the model was "
            f"fitted without, it predicted {prose['holdout_predicted_value']} against "
            f"{prose['holdout_actual_value']} "
            + ("actually spent" if st.ceiling_basis == "revenue"
               else f"actual {st.ceiling_basis} at margin {st.margin:g}")
            + f" ({num['holdout_value_error_pct']})."
        )
    if st.refitted:
        sentences.append(
            f"The forecast comes from the models refitted on all purchases to {st.obs_end}; "
            "the holdout check tested the same models fitted without the holdout.")
    sentences.append(_ceiling_sentence(st))
    verdict = _verdict(st)
    return _section("summary", "Summary", [
        {"kind": "kpis", "items": kpis},
        _para(" ".join(sentences)),
        _heading("What the ranges mean") if st.ranges is not None else None,
        _para(_ranges_note(st)) if st.ranges is not None else None,
        _heading("Which forecast to trust") if verdict is not None else None,
        _para(" ".join(verdict.short)) if verdict is not None else None,
        _heading("Key caveats"),
        _bullets(_caveats(st)),
    ])


def _data_section(st: _Study) -> dict[str, Any]:
    rfm, tx, num = st.rfm, st.transactions, st.numbers
    if C.FIRST_PURCHASE in rfm.columns:
        first_day = pd.to_datetime(rfm[C.FIRST_PURCHASE]).min()
    elif tx is not None:
        first_day = pd.to_datetime(tx[C.DATE]).min()
    else:
        first_day = None
    known_start = first_day is not None and not pd.isna(first_day)
    source = st.metadata.get("source") or (tx.attrs.get("source") if tx is not None else None)
    facts = [
        ["Source", clean_text(source or "not stated")],
        ["Period observed",
         f"{first_day.date() if known_start else '?'} to {st.obs_end or '?'}"],
        ["Calibration end (holdout after it)",
         str(st.cal_end) if st.has_holdout and st.cal_end else "none: no holdout"],
        ["Customers", num["n_customers"]],
        ["Transactions", num["n_transactions"]],
        ["Repeat buyers (at least one repeat purchase)", num["repeat_rate"]],
        ["Total spend", num["historical_spend"]],
        ["Mean spend per customer", fmt_money(st.values["mean_spend"])],
        ["Currency", st.currency.label],
        ["Time unit", f"{st.unit} ({st.units})"],
    ]
    dq_rows = [
        [clean_text(r.get("check", "")), fmt_int(r.get("count", 0)),
         clean_text(r.get("action", "")),
         clean_text("; ".join(map(str, list(r.get("examples", []))[:2])))]
        for r in st.data_quality
    ]
    return _section("data", "Data overview", [
        _facts(facts),
        _heading("Data-quality checks at load"),
        _table(["Check", "Rows", "Action", "Examples"], dq_rows, align=["l", "r", "l", "l"],
               caption="What loading found and did (counted, never silent).")
        if dq_rows else _para("The load checks found nothing to report: the log is clean."),
    ])


def _rfm_section(st: _Study) -> dict[str, Any]:
    from clvlab import plotting as P

    rfm = st.rfm
    repeat = rfm[C.FREQUENCY].to_numpy(dtype=float) > 0
    rows: list[tuple[str, str, Any]] = [
        (C.FREQUENCY, "Frequency (repeat purchases)", None),
        (C.RECENCY, f"Recency ({st.units}, repeat buyers)", repeat),
        (C.T, f"Age T ({st.units})", None),
        (C.MONETARY_VALUE, "Mean repeat-purchase value", repeat),
    ]
    if C.TOTAL_SPEND in rfm.columns:
        rows.append((C.TOTAL_SPEND, "Total spend", None))
    period = st.fit_period
    return _section("rfm", "RFM distributions", [
        _para(
            "Frequency is the number of repeat purchases (purchases after the first, one per "
            "day), recency the customer's age at the last purchase and T the age at the end "
            f"of the period, both in {st.units}; monetary value is the mean value of repeat "
            f"purchases. Figures as of {st.obs_end or 'the end of the log'}."
        ),
        _table(["Quantity", "Customers", "Mean", "25%", "Median", "75%", "90%", "Max"],
               _quantile_rows(rfm, rows)),
        st.figure(lambda ax: P.plot_frequency_histogram(st.purchase_model, st.fit_data, ax=ax),
                  f"Customers by number of repeat purchases in the {period}: actual vs "
                  f"{st.p_name}.")
        if offers(st.purchase_model, "probability_of_purchases") else
        _para(missing_note(st.purchase_model, "probability_of_purchases",
                           "the frequency histogram against the model")),
        st.figure(lambda ax: P.plot_clv_distribution(
                      rfm.loc[repeat, C.MONETARY_VALUE].to_numpy(dtype=float), ax=ax,
                      label="Mean repeat-purchase value"),
                  "Mean repeat-purchase value of repeat buyers (log scale)."),
    ])


def _baseline_label(name: str, one_unit: str, units: str) -> str:
    """Readable label with its unit for a formula-baseline parameter."""
    labels = {
        "aov": "Average order value (per purchase)",
        "purchase_rate": f"Purchase rate (repeat purchases per {one_unit})",
        "lifespan": f"Customer lifespan ({units})",
    }
    return labels.get(name, name)


def _chi_square(st: _Study) -> Any:
    """χ² of the calibration frequency histogram (the evaluation's, else computed), or None."""
    from clvlab.evaluation import chi_square_test, fitted_parameter_count, frequency_histogram

    if st.has_holdout and not st.refitted:
        return st.evaluation.chi_square
    if not offers(st.purchase_model, "probability_of_purchases"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse-bin caveat: the p-value is shown as is
        return chi_square_test(frequency_histogram(st.purchase_model, st.rfm),
                               n_params=fitted_parameter_count(st.purchase_model))


def _chi_reading(st: _Study, chi: Any) -> str:
    """One line on the χ² test of the model shown (the fit on ``st.fit_data``)."""
    from clvlab.reporting.verdict import chi_square_reading

    return "Frequency histogram: " + chi_square_reading(chi, st.p_name, len(st.fit_data))


def _glossary(model: Any) -> dict[str, Any] | None:
    """List the model's parameter glossary as bullets (from ``describe().parameters``)."""
    params = describe(model).parameters
    if not params:
        return None
    return _bullets([f"{name}: {meaning}" for name, meaning in params.items()])


def _draw_trait(model: Any, trait: int, ax: Any) -> Any:
    from clvlab import plotting as P

    return P.plot_heterogeneity(model, trait, ax=ax)


def _models_section(st: _Study) -> dict[str, Any]:
    from clvlab import plotting as P

    pm, sm = st.purchase_model, st.spend_model
    p_desc, s_desc = describe(pm), describe(sm)
    chi = _chi_square(st)
    ci = getattr(pm, "ci_level", 0.95)
    corr = getattr(sm, "frequency_spend_correlation_", math.nan)
    chi_text = (
        f"chi-square {fmt_num(chi.statistic, 2)}, dof {chi.dof}, p = {fmt_sig(chi.p_value, 3)}"
        if chi is not None else
        "not available: " + missing_note(pm, "probability_of_purchases", "this test")
    )
    pm_facts = [
        ["Customers", fmt_int(getattr(pm, "n_customers_", math.nan))],
        ["Log-likelihood", fmt_num(getattr(pm, "log_likelihood_", math.nan), 2)],
        ["AIC / BIC", f"{fmt_num(getattr(pm, 'aic_', math.nan), 2)} / "
                      f"{fmt_num(getattr(pm, 'bic_', math.nan), 2)}"],
        ["Converged", "yes" if getattr(pm, "converged_", False) else "NO"],
        ["Frequency histogram fit", chi_text],
    ]
    sm_facts = [
        ["Repeat buyers used", fmt_int(getattr(sm, "n_customers_", math.nan))],
        ["Customers left out (no repeat purchase or zero spend)",
         fmt_int(getattr(sm, "n_excluded_", math.nan))],
        ["Log-likelihood", fmt_num(getattr(sm, "log_likelihood_", math.nan), 2)],
        ["Converged", "yes" if getattr(sm, "converged_", False) else "NO"],
        ["Correlation of frequency and spend (should be near 0)", fmt_num(corr, 3)],
        ["Mean spend per purchase (population)", fmt_money(sm.population_mean_spend())],
    ]
    cols = ["Parameter", "Estimate", "Std. error", f"{ci:.0%} lower", f"{ci:.0%} upper"]
    intro = " ".join(t for t in (
        f"{st.p_name} ({p_desc.long_name}): {p_desc.story}" if p_desc.story else "",
        f"{st.s_name} ({s_desc.long_name}): {s_desc.story}" if s_desc.story else "",
        "Intervals are Wald intervals on the scale the parameters are estimated on (log "
        "for positive parameters), mapped back.",
    ) if t)
    blocks: list[dict[str, Any] | None] = [
        _para(intro),
        *_refit_blocks(st),
        _heading(f"{st.p_name} (purchases)"),
        _table(cols, _summary_rows(pm.summary)),
        _glossary(pm),
        _facts(pm_facts),
        _para(_chi_reading(st, chi)) if chi is not None else None,
        _heading(f"{st.s_name} (spend per purchase)"),
        _table(cols, _summary_rows(sm.summary)),
        _glossary(sm),
        _facts(sm_facts),
    ]
    if st.baseline is not None:
        blocks += [
            _heading(f"{st.b_name} (for comparison)"),
            _para("The baseline multiplies average order value, purchase rate and a lifespan: "
                  "the formula many teams use, with no uncertainty (no standard errors)."),
            _table(["Parameter", "Estimate"],
                   [[_baseline_label(str(k), st.one_unit, st.units), fmt_sig(v, 4)]
                    for k, v in st.baseline.summary["estimate"].items()]),
        ]
    blocks.append(
        st.figure(lambda ax: P.plot_probability_alive_matrix(pm, st.fit_data, ax=ax),
                  "Probability a customer is still active, by frequency and recency.")
    )
    traits = p_desc.heterogeneity
    for i, trait in enumerate(traits):
        blocks.append(st.figure(
            functools.partial(_draw_trait, pm, i),
            f"How customers differ in {trait.name} ({trait.symbol}): {trait.description}.",
        ))
    if not traits:
        blocks.append(_para(f"{st.p_name} describes no distribution of customer traits, so "
                            "no heterogeneity plot is shown."))
    return _section("models", "Model parameters and fit", blocks)


def _refit_blocks(st: _Study) -> list[dict[str, Any]]:
    """Say which fit is which, with both fits' estimates side by side (after a refit)."""
    if not st.refitted:
        if st.has_holdout:
            return [_para(f"These fits, on the calibration period (to {st.cal_end}), are the "
                          "ones the holdout validated; the forecast uses them as they are.")]
        return []
    cal = st.calibration_models or {}
    rows = []
    for key, name, forecast in (("purchase", st.p_name, st.purchase_model),
                                ("spend", st.s_name, st.spend_model),
                                ("baseline", st.b_name, st.baseline)):
        validated = cal.get(key)
        if validated is None or forecast is None:
            continue
        old = validated.params_
        for param, value in forecast.params_.items():
            before = float(old.get(param, math.nan))
            change = (float(value) / before - 1) if before else math.nan
            label = (_baseline_label(str(param), st.one_unit, st.units) if key == "baseline"
                     else str(param))
            rows.append([str(name), label, fmt_sig(value, 4), fmt_sig(before, 4),
                         fmt_pct(change, 0, sign=True)])
    n_full = getattr(st.purchase_model, "n_customers_", math.nan)
    return [
        _para(
            f"Which fit is which: every forecast number in this report -- CLV, segments, "
            f"P(alive), the acquisition figure -- comes from the models refitted on the whole "
            f"log, to {st.obs_end} ({fmt_int(n_full)} customers); their parameters follow. "
            f"The holdout validation used the same models fitted on the calibration period "
            f"only, to {st.cal_end}. Both sets of estimates:"
        ),
        _table(["Model", "Parameter", "Whole log (forecast)",
                "Calibration (validation)", "Change"], rows,
               align=["l", "l", "r", "r", "r"],
               caption="Parameters of the forecast fits and of the validated fits."),
    ]


#: Rows of the holdout metrics table: (column of Evaluation.metrics, label, format).
_METRIC_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("purchases_mae", "Purchases: mean absolute error", fmt_num),
    ("purchases_rmse", "Purchases: RMSE", fmt_num),
    ("purchases_bias", "Purchases: mean bias", fmt_num),
    ("purchases_pearson", "Purchases: Pearson r", fmt_num),
    ("purchases_spearman", "Purchases: Spearman rho", fmt_num),
    ("purchases_aggregate_pct_error", "Purchases: aggregate error %", fmt_pct_points),
    ("predicted_total_purchases", "Purchases: predicted total", lambda v: fmt_num(v, 1)),
    ("actual_total_purchases", "Purchases: actual total", fmt_int),
    ("value_mae", "Value: mean absolute error", fmt_money),
    ("value_rmse", "Value: RMSE", fmt_money),
    ("value_bias", "Value: mean bias", fmt_money),
    ("value_pearson", "Value: Pearson r", fmt_num),
    ("value_spearman", "Value: Spearman rho", fmt_num),
    ("value_aggregate_pct_error", "Value: aggregate error %", fmt_pct_points),
    ("predicted_total_value", "Value: predicted total", fmt_money),
    ("actual_total_value", "Value: actual total", fmt_money),
    ("top_decile_capture", "Share of value in top 10% by prediction", fmt_pct),
)


@dataclass
class _Verdict:
    """The holdout comparison of the model with the formula baseline, in words."""

    aspects: list[Any]
    short: list[str]  # for the summary
    detailed: list[str]  # for the holdout section
    log_scores: dict[str, str]  # row name -> log score as shown in the table
    zero_share: float


def _verdict(st: _Study) -> _Verdict | None:
    """Compare the model's holdout forecast with the baseline's (None without both)."""
    from clvlab import evaluation as E
    from clvlab.reporting import verdict as V

    if not st.has_holdout or st.b_name is None:
        return None
    ev = st.evaluation
    metrics = ev.metrics
    if st.b_name not in metrics.index:
        return None
    model = st.value_row or str(metrics.index[0])
    cust = ev.customers
    actual = cust[E.ACTUAL_PURCHASES].to_numpy(dtype=float)
    zero_share = float((actual == 0).mean()) if len(actual) else math.nan
    one_time = float((cust[C.FREQUENCY].to_numpy(dtype=float) == 0).mean()) if len(cust) \
        else math.nan
    base_ls = None
    shown: dict[str, str] = {}
    if E.BASELINE_PURCHASES in cust.columns:
        total, impossible = V.baseline_log_score(actual, cust[E.BASELINE_PURCHASES])
        base_ls = -math.inf if impossible else total
        shown[st.b_name] = (
            f"-∞ ({fmt_int(impossible)} customers bought although it predicted 0)"
            if impossible else fmt_num(total, 0))
    model_ls = ev.log_score
    if model_ls is not None:
        shown[model] = fmt_num(model_ls, 0)
    aspects = V.compare_forecasts(
        metrics, model, st.b_name, purchase_row=str(metrics.index[0]),
        log_scores=(model_ls, base_ls), money=fmt_money_prose)
    errors = (float(metrics.loc[model].get("value_aggregate_pct_error", math.nan)),
              float(metrics.loc[st.b_name].get("value_aggregate_pct_error", math.nan)))
    common = {"holdout": st.holdout_label, "zero_share": zero_share,
              "one_time_share": one_time, "value_error": errors}
    return _Verdict(
        aspects=aspects,
        short=V.verdict_sentences(aspects, model, st.b_name, detailed=False, **common),
        detailed=V.verdict_sentences(aspects, model, st.b_name, **common),
        log_scores=shown, zero_share=zero_share,
    )


def _holdout_section(st: _Study) -> dict[str, Any]:
    from clvlab import plotting as P

    ev = st.evaluation
    metrics = ev.metrics
    if st.value_row is not None:  # its purchase columns repeat the purchase model's
        metrics = metrics.drop(index=metrics.index[0])
    rows = [
        [label, *(fmt(metrics.loc[name, col]) for name in metrics.index)]
        for col, label, fmt in _METRIC_ROWS
        if col in metrics.columns
    ]
    verdict = _verdict(st)
    if verdict is not None and verdict.log_scores:
        rows.append(["Log predictive score of holdout purchases (higher is better)",
                     *(verdict.log_scores.get(str(name), _DASH) for name in metrics.index)])
    elif ev.log_score is not None:
        rows.append(["Log predictive score of holdout purchases (higher is better)",
                     fmt_num(ev.log_score, 0), *([_DASH] * (len(metrics.index) - 1))])
    track_text = ""
    if ev.tracking is not None and len(ev.tracking):
        last = ev.tracking.iloc[-1]
        act, exp = float(last["actual_cumulative"]), float(last["expected_cumulative"])
        track_text = (
            f" At the end of the holdout the customers had made {fmt_int(act)} repeat "
            f"purchases in all; {st.p_name} expected {fmt_int(exp)} "
            f"({fmt_pct_points(100 * (exp - act) / act if act else math.nan)})."
        )
    score_text = (
        "The log predictive score adds up, over customers, the log of the probability the "
        "forecast gave to the number of purchases each customer actually made in the "
        "holdout. It is a proper score: a forecast scores best on average only by giving "
        "honest probabilities, so it cannot be gamed the way mean absolute error can (that "
        "one is smallest for a forecast of the median, here 0 for "
        + (f"the {fmt_pct(verdict.zero_share, 0)} of customers who bought nothing"
           if verdict is not None else "most customers")
        + "). The formula gives no probabilities; its row reads its expected purchases as "
        "Poisson means, so a purchase where it expects 0 counts as impossible."
    )
    return _section("holdout", "Holdout validation", [
        _para(
            f"The models were fitted on purchases up to {st.cal_end} and asked to predict the "
            f"next {fmt_people(ev.horizon)} {st.units} (to {st.obs_end}), which they had not "
            "seen. The "
            "table compares each model's predictions with what the "
            f"{fmt_int(len(ev.customers))} customers actually did; lower errors and higher "
            "correlations are better." + track_text
            + (" This checks the modelling; the forecast itself comes from the same models "
               "refitted on the whole log (see Model parameters and fit)."
               if st.refitted else "")
        ),
        _table(["Metric", *map(str, metrics.index)], rows,
               caption="Holdout metrics: probabilistic model vs formula baseline "
                       "(a dash: the model does not predict that quantity)."),
        _heading("What the holdout says") if verdict is not None else None,
        _bullets(verdict.detailed) if verdict is not None else None,
        _para(score_text) if ev.log_score is not None or verdict is not None else None,
        st.figure(lambda ax: P.plot_tracking(ev, fan=st.holdout_fan, ax=ax),
                  "Cumulative repeat purchases, actual vs expected, through calibration and "
                  "holdout."
                  + (f" Shaded: the {st.level_label} and 50% ranges of the holdout forecast "
                     "given the customers' calibration histories (the forecast the holdout "
                     "metrics score)." if st.holdout_fan is not None else ""))
        if ev.tracking is not None else
        _para("Tracking plot not available: " + _tracking_reason(ev)),
        st.figure(lambda ax: P.plot_conditional_expectations(ev, ax=ax),
                  "Mean holdout purchases by number of calibration purchases (conditional "
                  "expectations)."),
        *_holdout_ranges_blocks(st.ranges, st.holdout_check, st.level_label,
                                st.holdout_ranges_note),
        _heading("Notes") if ev.notes else None,
        _bullets([clean_text(n) for n in ev.notes]) if ev.notes else None,
    ])


def _tracking_reason(ev: Any) -> str:
    for note in ev.notes:
        if "tracking" in note and "left out" in note:
            return clean_text(note)
    return "the evaluation was run without the transaction log."


def _model_comparison_section(st: _Study) -> dict[str, Any] | None:
    """Show the candidate purchase models side by side and why the report's model is used."""
    from clvlab import plotting as P

    cmp = st.comparison
    if cmp is None:
        return None
    used = next((k for k, m in cmp.models.items() if m is st.purchase_model), None)
    if used is None:
        key = describe(st.purchase_model).key
        used = key if key in cmp.models else None
    best_name = cmp.names.get(cmp.best, cmp.best)
    if used == cmp.best:
        choice = (f"{best_name} is chosen. {cmp.reason} The rest of this report is about "
                  f"{best_name}.")
    else:
        choice = (
            f"By this rule {best_name} would be chosen: {cmp.reason} The report uses "
            f"{st.p_name} because it was asked for (e.g. --purchase-model); compare the "
            "columns before relying on it. The rest of this report is about "
            f"{st.p_name}."
        )
    table = cmp.formatted()
    blocks: list[dict[str, Any] | None] = [
        _para(
            f"{len(cmp.models)} purchase model{'s were' if len(cmp.models) > 1 else ' was'} "
            f"fitted on the calibration period and scored on the same "
            f"{fmt_int(cmp.n_customers)} customers' holdout purchases. The choice rule is "
            f"the {cmp.criterion}: the model that gave the highest probability to what "
            "customers actually did. It is a proper score, so it cannot be improved by "
            "forecasting anything but one's honest distribution; mean absolute error "
            "can, since it rewards predicting little for everyone when most customers buy "
            "nothing. " + choice
        ),
        _table(["Statistic", *map(str, table.columns)],
               [[clean_text(label), *row] for label, row in
                zip(table.index, table.to_numpy().tolist(), strict=True)],
               caption="Model comparison: parameters (standard errors) and fit on the "
                       "calibration period; errors and scores on the holdout (* = chosen "
                       "by the rule; a dash: the model does not provide that figure)."),
        st.figure(lambda ax: P.plot_tracking_comparison(cmp, ax=ax),
                  "Cumulative repeat purchases, actual vs every model, through calibration "
                  "and holdout.")
        if any(ev.tracking is not None for ev in cmp.evaluations.values()) else
        _para("Tracking plot not available: the comparison was run without the "
              "transaction log."),
    ]
    if cmp.notes:
        blocks += [_heading("Notes"), _bullets([clean_text(n) for n in cmp.notes])]
    return _section("model-comparison", "Model comparison", blocks)


#: Customers drawn in the predicted-vs-actual scatter at most (a systematic sample above:
#: a million markers take seconds to draw and show no more than 50,000).
SCATTER_MAX_POINTS = 50_000


def _comparison_section(st: _Study) -> dict[str, Any]:
    from clvlab import plotting as P
    from clvlab.scoring import CLV

    num, past, h = st.numbers, st.past, st.horizon_label
    totals = [
        [f"Predicted CLV, next {h}, all customers", num["total_clv"]],
        ["Formula baseline CLV, same horizon", num["total_clv_baseline"]],
        ["Historical spend, whole observed period", num["historical_spend"]],
    ]
    if past["available"]:
        totals += [
            [f"Value in the past {h} ({past['start']} to {past['end']}), customers already "
             "known at its start", num["past_window_value"]],
            ["Predicted CLV of those same customers", num["past_window_clv"]],
        ]
    if st.value_row is not None:
        metrics = st.evaluation.metrics
        totals += [
            [f"Holdout ({fmt_people(st.evaluation.horizon)} {st.units}): predicted value, "
             f"{st.value_row}", num["holdout_predicted_value"]],
            ["Holdout: actual value", num["holdout_actual_value"]],
        ]
        if st.b_name is not None and st.b_name in metrics.index:
            totals.append([f"Holdout: predicted value, {st.b_name}",
                           fmt_money(metrics.loc[st.b_name, "predicted_total_value"])])
    value_name = f"{st.p_name} + {st.s_name}"
    if st.value_row is not None:
        cmp_eval, value_name = st.evaluation, st.value_row
        intro = (
            "The fair test of a forecast is money it did not see: here predicted value over "
            f"the {st.holdout_label} holdout (undiscounted, margin "
            f"{st.margin:g}) against what customers actually spent in it. Customers are ranked "
            "by predicted value into ten equal groups (decile 1 = highest)."
        )
        caption = f"Holdout value by decile of predicted value ({value_name})"
    elif past["available"]:
        cmp_eval = _past_window_evaluation(
            st.scores, past, st.p_name, st.s_name, st.b_name or "Formula CLV baseline",
            st.horizon, st.unit, st.discount_rate, st.margin)
        opening = ("Without a holdout," if not st.has_holdout else
                   "The holdout evaluation has no value predictions (no spend model), so")
        intro = (
            f"{opening} the forecast for the next {h} is set against what the same "
            f"customers brought in the past {h} ({past['start']} to {past['end']}, spend x "
            f"margin {st.margin:g}). This is not a validation: the models saw that period, "
            "and predicted CLV is discounted while past value is not. "
            + (f"{fmt_int(past['n_new'])} customers who first bought inside the window are "
               "left out of this comparison. " if past["n_new"] else "")
            + "Customers are ranked by predicted CLV into ten equal groups (decile 1 = "
            "highest)."
        )
        caption = f"Past-window value by decile of predicted CLV ({value_name})"
    else:
        cmp_eval = None
        missing = "holdout value predictions" if st.has_holdout else "holdout"
        intro = (f"No {missing} and no equal past window to compare with ({past['reason']}); "
                 "only the totals are shown.")
        caption = ""
    blocks: list[dict[str, Any] | None] = [_para(intro), _facts(totals)]
    if cmp_eval is not None:
        past_mode = st.value_row is None  # compared with the past window, not the holdout
        word = "past" if past_mode else "actual"
        deciles = cmp_eval.deciles[cmp_eval.deciles["model"] == value_name]
        blocks.append(_table(
            ["Decile", "Customers", "Predicted mean", f"{word.capitalize()} mean",
             "Predicted total", f"{word.capitalize()} total", f"Share of {word} total"],
            _decile_rows(deciles), caption=caption + "."))
        reading = _decile_text(deciles, word)
        blocks.append(_para(reading) if reading else None)

        def deciles_plot(ax: Any) -> None:
            P.plot_decile_bars(cmp_eval, model=value_name, ax=ax)
            if past_mode:  # the plot speaks of a holdout: say what is compared instead
                ax.set_ylabel(f"Mean per customer ({h})")
                ax.set_title("Predicted CLV vs past-window value by decile")
                for text in ax.get_legend().get_texts():
                    if text.get_text() == "Actual":
                        text.set_text(f"Past {h}")

        def scatter_plot(ax: Any) -> None:
            P.plot_clv_scatter(cmp_eval, model=value_name, ax=ax,
                               max_points=SCATTER_MAX_POINTS)
            if past_mode:
                ax.set_xlabel(f"Predicted CLV, next {h}")
                ax.set_ylabel(f"Value in the past {h}")
                ax.set_title("Predicted CLV vs past-window value per customer")

        blocks.append(st.figure(deciles_plot, caption + ": means per customer."))
        n_cust = len(cmp_eval.customers)
        who = ("One point per customer" if n_cust <= SCATTER_MAX_POINTS else
               f"One point per customer for {fmt_int(SCATTER_MAX_POINTS)} of the "
               f"{fmt_int(n_cust)} customers, evenly spaced in the order of predicted value "
               "(the tables above use every customer)")
        blocks.append(st.figure(scatter_plot, f"{who}; the dashed line is a perfect match.",
                                figsize=(6.6, 4.6)))
    clv = st.scores[CLV].to_numpy(dtype=float)
    blocks.append(st.figure(lambda ax: P.plot_clv_distribution(clv, ax=ax),
                            f"Distribution of predicted CLV over the next {h}."))
    return _section("clv-vs-history", "Predicted vs historical CLV", blocks)


def _decile_text(deciles: pd.DataFrame, word: str) -> str:
    from clvlab.reporting.verdict import decile_reading

    return decile_reading(deciles, word)


def top_positions(values: np.ndarray, n: int) -> np.ndarray:
    """Return the positions of the ``n`` largest values: largest first, ties in row order.

    NaN come last (in row order), so the rows are those of ``frame.sort_values(col,
    ascending=False, kind="stable").head(n)``, found without sorting every row: a
    partition picks the candidates, then only they are sorted.
    """
    values = np.asarray(values, dtype=float)
    nan = np.isnan(values)
    valid = np.flatnonzero(~nan)
    if valid.size > n:
        v = values[valid]
        kth = np.partition(v, v.size - n)[v.size - n]  # the n-th largest value
        valid = valid[v >= kth]
    top = valid[np.lexsort((valid, -values[valid]))][:n]  # value descending, then row
    if top.size < n:
        top = np.concatenate([top, np.flatnonzero(nan)[: n - top.size]])
    return top


def _top_customers_section(st: _Study) -> dict[str, Any]:
    from clvlab.scoring import (
        CLV,
        CLV_BASELINE,
        EXPECTED_PURCHASES,
        EXPECTED_SPEND,
        HISTORICAL_SPEND,
        PROBABILITY_ALIVE,
        SEGMENT,
    )

    top = st.scores.take(top_positions(st.scores[CLV].to_numpy(dtype=float), st.top_n))
    rows = [
        [clean_text(cid), fmt_num(r[PROBABILITY_ALIVE], 3), fmt_num(r[EXPECTED_PURCHASES], 2),
         fmt_money(r[EXPECTED_SPEND]), fmt_money(r[CLV]), fmt_money(r[CLV_BASELINE]),
         fmt_money(r[HISTORICAL_SPEND]), clean_text(r[SEGMENT])]
        for cid, r in top.iterrows()
    ]
    total = st.values["total_clv"]
    share = float(np.nansum(top[CLV].to_numpy(dtype=float))) / total if total else math.nan
    return _section("top-customers", "Top customers", [
        _para(
            f"The {len(top)} customers with the highest predicted CLV hold {fmt_pct(share)} "
            f"of the total. Expected purchases and CLV cover the next {st.horizon_label}; "
            "expected spend is per purchase; historical spend is everything they spent in the "
            "observed period."
        ),
        _table(["Customer id", "P(alive)", "Exp. purchases", "Exp. spend", "CLV",
                "Baseline CLV", "Hist. spend", "Segment"], rows,
               align=["l", "r", "r", "r", "r", "r", "r", "l"], id_column=0),
    ])


def _segments_section(st: _Study) -> dict[str, Any]:
    from clvlab.scoring import segment_summary

    seg = segment_summary(st.scores)
    thr = (st.scores.attrs or {}).get("segment_thresholds", {}) or {}
    seg_ranges = (st.ranges or {}).get("segments") or {}
    with_ranges = bool(seg_ranges)

    def clv_range(name: Any) -> list[str]:
        if not with_ranges:
            return []
        rng = (seg_ranges.get(str(name)) or {}).get("clv")
        if rng is None:
            return [_DASH]
        return [f"{fmt_money_prose(rng['lower'])} to {fmt_money_prose(rng['upper'])}"]

    rows = [
        [str(name), fmt_int(r["n_customers"]), fmt_pct(r["share_customers"]),
         fmt_money(r["total_clv"]), *clv_range(name), fmt_pct(r["share_clv"]),
         fmt_num(r["mean_probability_alive"], 2), _SEGMENT_ACTIONS.get(str(name), "")]
        for name, r in seg.iterrows()
    ]
    q_high = (thr.get("value_quantiles") or [0.5, 0.8])[1]
    # _check_scores requires frequency, so score_customers applied the one-time rule
    from clvlab.scoring import PROBABILITY_ALIVE

    once = st.scores[C.FREQUENCY].to_numpy(dtype=float) == 0
    p_once = st.scores.loc[once, PROBABILITY_ALIVE].to_numpy(dtype=float)
    if p_once.size and np.all(p_once >= 1.0 - 1e-12):
        alive = (f"{st.p_name} gives them all P(alive) = 1 by its assumptions, not because "
                 "they are known to be active")
    elif p_once.size:
        alive = (f"{st.p_name} gives them P(alive) between {fmt_num(p_once.min(), 2)} and "
                 f"{fmt_num(p_once.max(), 2)} from how long ago their first purchase was, "
                 "with no repeat purchases to go on")
    else:
        alive = "there are none in these data"
    one_time = (
        "'One-time buyers' have not bought a second time yet, so they get their own "
        f"segment whatever their CLV or first order: {alive}, and their CLV rests on the "
        "averages of all customers rather than on their own repeat buying. A large first "
        "order does not make a Champion; it makes the customer a good first target for a "
        "second-purchase offer. The other segments are for repeat buyers."
    )
    return _section("segments", "Segments to act on", [
        _para(
            f"High value means predicted CLV of at least {fmt_money_prose(thr.get('clv_high'))} "
            f"or historical spend of at least "
            f"{fmt_money_prose(thr.get('historical_spend_high'))} (the "
            f"top {fmt_pct(1 - q_high, 0)} of all customers by either); active means P(alive) "
            f"of at least {fmt_num(thr.get('probability_alive', 0.5), 2)}. 'High value, at "
            "risk' customers spent a lot but have probably stopped buying: the first list "
            "for a win-back campaign."
        ),
        _para(one_time),
        _table(["Segment", "Customers", "Share", "Total CLV",
                *([f"{st.level_label} range of total CLV"] if with_ranges else []),
                "Share of CLV", "Mean P(alive)", "What to do"], rows,
               align=["l", "r", "r", "r", *(["r"] if with_ranges else []), "r", "r", "l"],
               note=(f"Range: the segment's total CLV is {st.level_label} likely to fall in "
                     "it; like the total's, it allows for the shared uncertainty of the "
                     "fitted parameters, and it is not a sum of the customers' ranges."
                     if with_ranges else "")),
    ])


def _model_bullet(model: Any, name: str, role: str) -> str:
    desc = describe(model)
    refs = "; ".join(desc.references)
    story = desc.story or f"({desc.long_name}; no description given)."
    return f"{name} ({role}): {story}" + (f" Reference: {refs}" if refs else "")


def _methodology_section(st: _Study) -> dict[str, Any]:
    return _section("methodology", "Methodology and assumptions", [
        _bullets([
            "Each customer's purchase history is summarised by frequency, recency and age, "
            f"in {st.units}; purchases on the same day count as one.",
            _model_bullet(st.purchase_model, st.p_name, "purchases and dropout; P(alive) "
                          "and expected future purchases come from it"),
            _model_bullet(st.spend_model, st.s_name, "value per purchase"),
            "CLV = margin x expected spend per purchase x expected purchases over the next "
            f"{st.horizon_label}, each purchase discounted at {fmt_people(100 * st.annual_rate)}"
            f"% a year ({fmt_sig(100 * st.discount_rate, 2)}% per {st.one_unit}) at the "
            "moment it is expected.",
            "The formula baseline (average order value x purchase rate x lifespan) is "
            "computed over the same horizon and discounting, so the two can be compared.",
            "The acquisition figure is the expected CLV of a brand-new customer (first "
            "purchase at the population mean spend, plus expected repeat purchases) times "
            "the margin: at margin 1 it is revenue, and the most worth paying to acquire a "
            "customer is that revenue times the share of it you keep; at a margin below 1 it "
            "is profit, the break-even acquisition cost.",
            "Segments: customers without a repeat purchase are 'One-time buyers' (the model "
            "has no repeat purchase of theirs to judge them by); repeat buyers are placed by "
            "value (predicted CLV or historical spend, against quantiles over all customers) "
            "and by P(alive).",
            ("Holdout validation: the models are fitted on the calibration period only and "
             "their predictions for the holdout are compared with what happened."
             + (" Candidate purchase models were compared on the same holdout (see Model "
                f"comparison); the rule: {st.comparison.criterion}."
                if st.comparison is not None else "")
             + (f" Then the same models are refitted on the whole log, to {st.obs_end}: "
                "every forecast number comes from those refits, so the forecast uses the "
                "holdout period's purchases too." if st.refitted else
                " The forecast uses these calibration fits as they are (no refit on the "
                "whole log)."))
            if st.has_holdout else
            ("No holdout: the models are fitted on the whole log; the comparison with the "
             "past window is a plausibility check, not a validation."),
            "Parameters are maximum-likelihood estimates; their intervals reflect sampling "
            "uncertainty only, not model error.",
            *([f"Ranges ({st.level_label}, predictive): each customer's range of purchases "
               "and CLV comes from the purchase model's distribution of the number of "
               "purchases given the history and the spend model's distribution of order "
               "values, mixed over the parameters' sampling distribution where that "
               "matters; totals (all customers, each segment) are normal ranges combining "
               "the parameters' shared uncertainty with the customers' own variation "
               "(clvlab.predict_intervals; docs/intervals.md). They do not allow for "
               "model error."] if st.ranges is not None else []),
        ]),
    ])


#: Metadata keys the stamp already shows from the resolved settings.
_STAMPED = frozenset({"clvlab_version", "time_unit", "time unit", "horizon", "discount_rate",
                      "margin", "observation_end", "calibration_end", "currency"})

#: Readable labels of the metadata keys clvlab run passes (others: see :func:`_label`).
_METADATA_LABELS: dict[str, str] = {
    "source": "Data source",
    "discount rate note": "How the discount rate was set",
    "expected_spend": "Column 'expected spend'",
    "clv": "Column 'CLV'",
    "clv_baseline": "Column 'baseline CLV'",
    "historical_spend": "Column 'historical spend'",
    "segment rule": "Segment rule",
    "purchase model": "Purchase model",
    "purchase model choice": "Purchase model, how chosen",
    "total clv range": "Total CLV range",
    "ranges": "Ranges (low/high columns)",
}


def _label(key: Any) -> str:
    """Label a metadata key: known keys by name, else snake_case as words."""
    text = str(key)
    if text in _METADATA_LABELS:
        return _METADATA_LABELS[text]
    words = text.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _reproducibility_section(st: _Study, version: str, generated: str) -> dict[str, Any]:
    from clvlab.models.base import data_fingerprint

    fingerprint = data_fingerprint(*(st.rfm[c].to_numpy(dtype=float) for c in C.RFM_COLUMNS
                                     if c in st.rfm.columns))

    def params_text(model: Any) -> str:
        return ", ".join(f"{k} = {fmt_sig(v, 6)}" for k, v in model.params_.items())

    def fitted(model: Any) -> str:
        return (f"{getattr(model, 'data_fingerprint_', '?')}, "
                f"{getattr(model, 'fit_date_', '?')}")

    role = " (forecast, whole log)" if st.refitted else ""
    stamp = [
        ["clvlab version", version],
        ["Generated (UTC)", generated],
        ["Scored data fingerprint", fingerprint],
        [f"{st.p_name}{role} fitted on (fingerprint, date)", fitted(st.purchase_model)],
        [f"{st.s_name}{role} fitted on (fingerprint, date)", fitted(st.spend_model)],
        [f"{st.p_name}{role} parameters", params_text(st.purchase_model)],
        [f"{st.s_name}{role} parameters", params_text(st.spend_model)],
    ]
    if st.baseline is not None:
        stamp.append([f"{st.b_name}{role} parameters", params_text(st.baseline)])
    if st.refitted:
        cal = st.calibration_models or {}
        for key, name in (("purchase", st.p_name), ("spend", st.s_name),
                          ("baseline", st.b_name)):
            model = cal.get(key)
            if model is None or name is None:
                continue
            if key != "baseline":
                stamp.append([f"{name} (holdout validation, calibration period) fitted on "
                              "(fingerprint, date)", fitted(model)])
            stamp.append([f"{name} (holdout validation, calibration period) parameters",
                          params_text(model)])
    stamp += [
        ["Time unit", f"{st.unit} ({st.units})"],
        ["Horizon", st.horizon_label],
        ["Discount rate", f"{st.discount_rate:.6g} per {st.one_unit}"],
        ["Margin", f"{st.margin:g}" + (" (values are revenue)" if st.margin == 1.0 else "")],
        ["Currency", st.currency.label],
        ["Observation end", str(st.obs_end or "?")],
        ["Calibration end", str(st.cal_end) if st.has_holdout and st.cal_end else "none"],
    ]
    stamp += [[clean_text(_label(k)), clean_text(v)] for k, v in st.metadata.items()
              if str(k) not in _STAMPED]
    return _section("reproducibility", "Reproducibility", [
        _para("Everything needed to reproduce this report: the same data (fingerprint), the "
              "same software version and these settings."),
        _facts(stamp),
    ])


# ======================================================================================
# build_context
# ======================================================================================


def _in_currency(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Run ``build_context`` with its ``currency`` and ``progress`` in effect (then reset).

    :func:`fmt_money` writes the currency and :func:`_section` calls ``progress``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        code = kwargs.get("currency")
        if code is None:
            code = dict(kwargs.get("metadata") or {}).get("currency")
        token = _CURRENCY.set(Currency(code))
        ticks = _PROGRESS.set(kwargs.get("progress"))
        try:
            return func(*args, **kwargs)
        finally:
            _CURRENCY.reset(token)
            _PROGRESS.reset(ticks)

    return wrapper


@_in_currency
def build_context(
    purchase_model: Any,
    spend_model: Any,
    rfm: pd.DataFrame,
    *,
    baseline: Any = None,
    evaluation: Any = None,
    comparison: Any = None,
    scores: pd.DataFrame | None = None,
    transactions: pd.DataFrame | None = None,
    data_quality: Sequence[Mapping[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    horizon: float | None = None,
    discount_rate: float | None = None,
    margin: float | None = None,
    calibration_end: str | None = None,
    title: str = "Customer lifetime value report",
    top_n: int = 20,
    figures: bool = True,
    currency: str | None = None,
    progress: Callable[[], Any] | None = None,
    calibration_models: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Gather everything the report shows into one plain dictionary.

    Parameters
    ----------
    purchase_model : fitted purchase model
        The purchase model the report is about (fitted on the calibration period when
        there is a holdout); any model of the contract (:mod:`clvlab.models.contract`).
    spend_model : fitted spend model
        The spend model (e.g. Gamma-Gamma).
    rfm : DataFrame
        RFM summary of the customers being scored (:func:`clvlab.rfm_summary`, as of the
        observation end), indexed by ``customer_id``; ``attrs`` give the time unit and
        the observation end.
    baseline : fitted FormulaCLVBaseline, optional
        The formula baseline, compared everywhere with the probabilistic model.
    evaluation : Evaluation, optional
        Holdout evaluation (:func:`clvlab.evaluate`). Without it the holdout section is
        left out and predicted CLV is compared with the value of an equal past window.
    comparison : ModelComparison, optional
        :func:`clvlab.compare_models` on the same split: adds the "Model comparison"
        section (the table and every model's tracking curve). ``purchase_model`` should
        be one of its models (it is named as the chosen one, or as used against the rule).
    scores : DataFrame, optional
        :func:`clvlab.scoring.score_customers` of ``rfm``. Computed here when omitted
        (then ``horizon`` and ``discount_rate`` are required).
    transactions : DataFrame, optional
        The canonical transaction log (:func:`clvlab.load_transactions`). Needed for the
        equal-past-window comparison; its ``attrs["data_quality"]`` is the default of
        ``data_quality``.
    data_quality : list of dict, optional
        Records ``{check, action, count, examples}`` from loading.
    metadata : mapping, optional
        Extra settings shown in the reproducibility stamp (``source`` also in the data
        overview). Values are shown as text.
    horizon : float, optional
        CLV horizon in the models' time unit; default ``scores.attrs["horizon"]``.
    discount_rate : float, optional
        Discount rate per time unit; default ``scores.attrs["discount_rate"]``.
    margin : float, optional
        Share of spend that is profit; default ``scores.attrs["margin"]``, else 1.
    calibration_end : str, optional
        Last day of the calibration period (ISO date), shown with the holdout; default
        ``metadata["calibration_end"]``, else the observation end minus the holdout length.
    title : str, default="Customer lifetime value report"
        Report title (escaped like any user text).
    top_n : int, default=20
        Number of customers in the top-customers table.
    figures : bool, default=True
        Draw the figures (``False`` gives a text-only context, faster).
    currency : str, optional
        ISO 4217 code of the amounts (``"EUR"``): every amount is written with its symbol
        (``€1,234.56`` in tables, ``€703,000`` in sentences). Default
        ``metadata["currency"]``; without either, amounts carry no symbol and a caveat
        says the currency was not stated.
    progress : callable, optional
        Called with no argument each time a section is built (one call per entry of
        ``sections``), e.g. to advance a progress bar.
    calibration_models : mapping, optional
        When the forecast models (``purchase_model``, ``spend_model``, ``baseline``) are
        refits on the whole log of the models ``evaluation`` validated, those calibration
        fits: ``{"purchase": ..., "spend": ..., "baseline": ...}``. The report then says
        which fit is which: the holdout validation is about the calibration fits, every
        forecast number (CLV, segments, the acquisition figure, parameters) about the
        whole-log fits. Ignored without ``evaluation``.

    Returns
    -------
    dict
        The report context (see the module docstring); read by
        :func:`clvlab.reporting.render_html` and :func:`clvlab.reporting.render_pdf`.

    Raises
    ------
    MissingColumnsError
        ``scores`` lack a column of :data:`clvlab.scoring.SCORE_COLUMNS`.
    ValueError
        ``horizon``/``discount_rate``/``margin`` contradict the scores, or are missing
        when ``scores`` is omitted; ``top_n`` is not a positive integer.
    TypeError
        ``rfm`` is not a DataFrame, ``evaluation`` not an ``Evaluation`` or
        ``comparison`` not a ``ModelComparison``.

    Examples
    --------
    >>> import clvlab
    >>> from clvlab import reporting
    >>> tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    >>> rfm = clvlab.rfm_summary(tx, time_unit="W")
    >>> bg = clvlab.BetaGeoFitter().fit(rfm)
    >>> gg = clvlab.GammaGammaFitter().fit(rfm)  # doctest: +SKIP
    >>> ctx = reporting.build_context(bg, gg, rfm, transactions=tx, horizon=52,
    ...                               discount_rate=0.0018)  # doctest: +SKIP
    >>> reporting.render_html(ctx, "report.html")  # doctest: +SKIP
    """
    from clvlab import __version__
    from clvlab.comparison import ModelComparison
    from clvlab.evaluation import Evaluation
    from clvlab.scoring import score_customers

    if not isinstance(rfm, pd.DataFrame):
        raise TypeError(
            f"rfm must be the DataFrame of clvlab.rfm_summary; got {type(rfm).__name__}."
        )
    if evaluation is not None and not isinstance(evaluation, Evaluation):
        raise TypeError(
            "evaluation must be the Evaluation of clvlab.evaluate; got "
            f"{type(evaluation).__name__}."
        )
    if comparison is not None and not isinstance(comparison, ModelComparison):
        raise TypeError(
            "comparison must be the ModelComparison of clvlab.compare_models; got "
            f"{type(comparison).__name__}."
        )
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer; got {top_n!r}.")
    unit = str(getattr(purchase_model, "time_unit_", None)
               or rfm.attrs.get(C.ATTR_TIME_UNIT, "W"))
    if scores is None:
        if horizon is None or discount_rate is None:
            raise ValueError(
                "Pass scores= (clvlab.scoring.score_customers) or both horizon= and "
                f"discount_rate= (in {UNIT_NAMES.get(unit, unit)}) so the report can score "
                "the customers."
            )
        scores = score_customers(
            rfm, purchase_model, spend_model, baseline, horizon=horizon,
            discount_rate=discount_rate, margin=1.0 if margin is None else margin,
        )
    _check_scores(scores)
    attrs = scores.attrs or {}
    horizon = _resolve_option("horizon", horizon, attrs)
    discount_rate = _resolve_option("discount_rate", discount_rate, attrs)
    margin = _resolve_option("margin", margin, attrs)
    if horizon is None or discount_rate is None:
        raise ValueError(
            "The scores carry no horizon/discount_rate (scores.attrs); pass horizon= and "
            "discount_rate= as used to compute them."
        )
    if data_quality is None:
        data_quality = (transactions.attrs.get("data_quality", [])
                        if transactions is not None else [])
    metadata = dict(metadata or {})
    obs_end = rfm.attrs.get(C.ATTR_OBSERVATION_END) or metadata.get("observation_end")
    cal_end = None
    if evaluation is not None:
        cal_end = calibration_end or metadata.get("calibration_end")
        if cal_end is None and obs_end is not None:
            # the holdout is the last `horizon` time units before the observation end
            days = int(round(evaluation.horizon * unit_days(evaluation.time_unit)))
            cal_end = str((pd.Timestamp(obs_end) - pd.Timedelta(days=days)).date())

    st = _Study(
        purchase_model=purchase_model, spend_model=spend_model, baseline=baseline,
        evaluation=evaluation, rfm=rfm, scores=scores, transactions=transactions,
        data_quality=list(data_quality), metadata=metadata, unit=unit, horizon=horizon,
        discount_rate=discount_rate, margin=1.0 if margin is None else margin,
        obs_end=None if obs_end is None else str(obs_end),
        cal_end=None if cal_end is None else str(cal_end), top_n=int(top_n),
        figures=bool(figures), comparison=comparison,
        p_name=_model_name(purchase_model, "purchase model"),
        s_name=_model_name(spend_model, "spend model"),
        b_name=_model_name(baseline, "Formula CLV baseline") if baseline is not None else None,
        currency=_currency(),
        calibration_models=(dict(calibration_models) if calibration_models is not None
                            and evaluation is not None else None),
    )
    st.past = _past_window(transactions, scores, rfm, st.obs_end, st.horizon, unit, st.margin,
                           str(rfm.attrs.get(C.ATTR_MERGE_PERIOD, "D")))
    ranges = (scores.attrs or {}).get("intervals")
    st.ranges = ranges if ranges and (ranges.get("totals") or {}).get("clv") else None
    _key_figures(st)
    _holdout_ranges(st)
    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    sections = [
        _summary_section(st),
        _data_section(st),
        _rfm_section(st),
        _model_comparison_section(st),
        _models_section(st),
        _holdout_section(st) if st.has_holdout else None,
        _comparison_section(st),
        _top_customers_section(st),
        _segments_section(st),
        _methodology_section(st),
        _reproducibility_section(st, __version__, generated),
    ]
    subtitle = (
        f"{st.numbers['n_customers']} customers, observed to {st.obs_end or '?'}; CLV over "
        f"the next {st.horizon_label}"
        + (f"; holdout check after {st.cal_end}" if st.has_holdout and st.cal_end
           else "; no holdout")
    )
    return {
        "title": clean_text(title),
        "subtitle": subtitle,
        "generated": generated,
        "clvlab_version": __version__,
        "has_holdout": st.has_holdout,
        "model": {"key": describe(purchase_model).key, "name": st.p_name},
        "comparison": None if comparison is None else {
            "best": comparison.best, "reason": comparison.reason,
            "criterion": comparison.criterion, "models": list(comparison.models),
        },
        "numbers": dict(st.numbers),
        "values": dict(st.values),
        "sections": [s for s in sections if s is not None],
    }


def _check_context(context: Any) -> Mapping[str, Any]:
    """Reject anything that is not a context from :func:`build_context` (clear message)."""
    if not isinstance(context, Mapping) or "sections" not in context or "title" not in context:
        raise InvalidValueError(
            "context must be the dict returned by clvlab.reporting.build_context(...); got "
            f"{type(context).__name__}.",
            rule="report context",
        )
    return context
