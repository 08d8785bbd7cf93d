"""The ``clvlab`` command: from a transaction file to report, spreadsheet and saved models.

``clvlab run`` does the whole job; the steps also run on their own::

    clvlab run [INPUT]        load -> RFM -> (calibration/holdout) -> fit BG/NBD, Gamma-Gamma
                              and the formula baseline -> evaluate -> score -> HTML + PDF
                              report -> XLSX + CSV predictions -> models saved as JSON
    clvlab rfm INPUT          the RFM summary (or calibration/holdout table) as CSV
    clvlab fit INPUT          fit the three models and save them as JSON
    clvlab predict INPUT      score customers with saved models (CSV, or XLSX by extension)
    clvlab report INPUT       HTML + PDF report from saved models
    clvlab export INPUT       XLSX workbook + CSV from saved models

Without an input file ``clvlab run`` uses the bundled CDNOW log with the split of Fader,
Hardie & Lee (2005): calibration to 1997-09-30, holdout to 1998-06-30, in weeks.

Output files (under ``--out DIR``, default the current folder):

=================================  ==================================================
``reports/clvlab-report.html``     self-contained HTML report
``reports/clvlab-report.pdf``      the same report as PDF
``reports/clv-predictions.xlsx``   workbook: Predictions, Parameters, Holdout metrics,
                                   Deciles, Data quality, About
``reports/clv-predictions.csv``    one row per customer (all customers)
``models/bgnbd.json``              fitted BG/NBD model
``models/gamma-gamma.json``        fitted Gamma-Gamma model
``models/formula-baseline.json``   fitted formula baseline
=================================  ==================================================

Errors in the input (a clvlab ``ValueError``, a missing file) end with a readable
message on stderr and exit code 2, never a traceback (``--debug`` shows it). Any other
failure exits with code 1. Progress goes to stderr, the closing summary to stdout;
``--quiet`` silences both (warnings are still printed to stderr).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

__all__ = ["app", "main", "DEFAULT_FILES", "CDNOW_CALIBRATION_END", "CDNOW_OBSERVATION_END"]

#: File names of the outputs, relative to ``--out`` (stable: scripts may rely on them).
DEFAULT_FILES: dict[str, str] = {
    "report_html": "reports/clvlab-report.html",
    "report_pdf": "reports/clvlab-report.pdf",
    "xlsx": "reports/clv-predictions.xlsx",
    "csv": "reports/clv-predictions.csv",
    "rfm": "reports/rfm-summary.csv",
    "bgnbd": "models/bgnbd.json",
    "gamma_gamma": "models/gamma-gamma.json",
    "baseline": "models/formula-baseline.json",
}

CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_OBSERVATION_END = "1998-06-30"
#: Default annual discount rate, converted to the time unit by compounding over the mean
#: Gregorian year (clvlab.clv.per_period_rate): (1 + 0.10) ** (unit_days / 365.2425) - 1.
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
#: Default horizon: one year in each time unit (52 weeks, 365 days, 12 months, 1 year).
DEFAULT_HORIZON: dict[str, float] = {"D": 365.0, "W": 52.0, "M": 12.0, "Y": 1.0}

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1

app = typer.Typer(
    name="clvlab",
    help="Customer-lifetime value from a transaction log: RFM, BG/NBD + Gamma-Gamma, CLV, "
    "holdout evaluation, report, spreadsheet and saved models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# ======================================================================================
# user interface: progress, warnings, summary
# ======================================================================================


class _Ui:
    """Progress lines on stderr, summary on stdout; nothing at all when quiet."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.err = Console(stderr=True, highlight=False)
        self.out = Console(highlight=False)
        self.interactive = self.err.is_terminal and not quiet

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Show ``label`` while the step runs (spinner on a terminal), then its duration."""
        start = time.perf_counter()
        if self.interactive:
            with self.err.status(f"{label} ...", spinner="dots"):
                yield
        else:
            yield
        if not self.quiet:
            self.err.print(
                f"[green]✓[/green] {label} [dim]({time.perf_counter() - start:.1f} s)[/dim]"
            )

    def note(self, text: str) -> None:
        if not self.quiet:
            self.err.print(f"[cyan]i[/cyan] {text}", markup=True)

    def warn(self, text: str) -> None:
        # warnings matter even in quiet mode (schedulers log stderr)
        self.err.print(f"[yellow]warning:[/yellow] {text}", markup=True, soft_wrap=True)


@contextlib.contextmanager
def _show_warnings(ui: _Ui) -> Iterator[None]:
    """Collect the library's warnings and print them readably (no file:line noise)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                text = str(w.message)
                if text in seen:
                    continue
                seen.add(text)
                ui.warn(f"{w.category.__name__}: {text}")


F = TypeVar("F", bound=Callable[..., Any])


def _is_input_error(exc: BaseException) -> bool:
    from clvlab.exceptions import ClvlabError

    return isinstance(
        exc,
        (
            ClvlabError,
            ValueError,
            FileNotFoundError,
            PermissionError,
            IsADirectoryError,
            NotADirectoryError,
            ImportError,
            TypeError,
        ),
    )


def _cli_hint(message: str) -> str:
    """Translate the library's keyword-argument advice into command-line options."""
    hints = []
    if "customer_id=" in message or "amount=" in message:
        hints.append("--customer-id COLUMN --date COLUMN --amount COLUMN")
    if "date_format=" in message:
        hints.append("--date-format '%d/%m/%Y' (strftime codes)")
    if "sep=" in message:
        hints.append("--sep ';'")
    return f"\nOn the command line: {'; '.join(hints)}." if hints else ""


def _os_hint(exc: BaseException) -> str:
    """Advice for file-system errors (an output folder that can't be created or written)."""
    if isinstance(exc, (NotADirectoryError, PermissionError, IsADirectoryError)):
        return (
            "\nCheck that the path exists, is a folder where it should be one, and is "
            "writable; choose another output folder with --out DIR."
        )
    return ""


def _handle_errors(func: F) -> F:
    """Turn exceptions into a message on stderr and an exit code (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug", False))
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("clvlab: interrupted.", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the command's last line of defence
            if debug:
                traceback.print_exc()
            input_error = _is_input_error(exc)
            name = type(exc).__name__
            message = str(exc) or name
            if input_error:
                typer.echo(
                    f"clvlab: error: {message}{_cli_hint(message)}{_os_hint(exc)}", err=True
                )
            else:
                typer.echo(
                    f"clvlab: internal error ({name}): {message}\nThis is a bug in clvlab or "
                    "an unexpected environment; run again with --debug for the details.",
                    err=True,
                )
            if not debug:
                typer.echo("(run with --debug to see the traceback)", err=True)
            raise typer.Exit(EXIT_INPUT_ERROR if input_error else EXIT_INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]


# ======================================================================================
# settings and pipeline steps (plain functions; the commands below are thin)
# ======================================================================================


#: Command parameters that are not settings: each command handles them itself.
_COMMAND_ONLY_OPTIONS = frozenset(
    {"model", "output", "no_report", "quiet", "debug", "engine", "spark_master"}
)


@dataclasses.dataclass(kw_only=True)
class _Settings:
    """The options shared by the commands; each command gives the ones it declares."""

    input: Path | None = None
    customer_id: str = "customer_id"
    date: str = "date"
    amount: str = "amount"
    date_format: str | None = None
    sep: str | None = None
    time_unit: str | None = None
    merge_period: str = "D"
    calibration_end: str | None = None
    observation_end: str | None = None
    horizon: float | None = None
    discount_rate: float | None = None
    annual_discount_rate: float | None = None
    margin: float = 1.0
    out: Path | None = None
    sample: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> _Settings:
        """Build the settings from a command's parameters (its ``locals()``), same names.

        Typer needs each command to declare its options; this is the one place they
        become settings. Parameters in ``_COMMAND_ONLY_OPTIONS`` are left out, and any
        other name that is not a field is a programming error.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(options) - fields - _COMMAND_ONLY_OPTIONS
        if unknown:
            raise TypeError(f"command parameters without a setting: {sorted(unknown)}")
        return cls(**{k: v for k, v in options.items() if k in fields})

    def path(self, key: str) -> Path:
        base = self.out if self.out is not None else Path(".")
        return base / DEFAULT_FILES[key]

    def unit(self, default: str = "W") -> str:
        from clvlab._time import check_time_unit

        return check_time_unit(self.time_unit or default, "--time-unit")

    def resolved_horizon(self, unit: str) -> float:
        if self.horizon is None:
            return DEFAULT_HORIZON[unit]
        if not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ValueError(
                f"--horizon must be a positive number of time units; got {self.horizon}."
            )
        return float(self.horizon)

    def resolved_discount_rate(self, unit: str) -> float:
        from clvlab.clv import per_period_rate

        if self.discount_rate is not None and self.annual_discount_rate is not None:
            raise ValueError(
                "Give either --discount-rate (per time unit) or --annual-discount-rate, not both."
            )
        if self.discount_rate is not None:
            if not (math.isfinite(self.discount_rate) and self.discount_rate >= 0):
                raise ValueError(
                    f"--discount-rate must be >= 0 per time unit; got {self.discount_rate}."
                )
            return float(self.discount_rate)
        annual = (
            DEFAULT_ANNUAL_DISCOUNT_RATE
            if self.annual_discount_rate is None
            else self.annual_discount_rate
        )
        if not (math.isfinite(annual) and annual >= 0):
            raise ValueError(f"--annual-discount-rate must be >= 0; got {annual}.")
        return per_period_rate(annual, unit)

    def check_scoring_options(self, unit: str) -> None:
        """Fail on a bad horizon, discount rate or margin before the long steps."""
        self.resolved_discount_rate(unit)
        self.resolved_horizon(unit)
        self.check_margin()

    def check_margin(self) -> float:
        if not (math.isfinite(self.margin) and 0 < self.margin):
            raise ValueError(
                f"--margin must be a positive share of spend (e.g. 0.3); got {self.margin}."
            )
        return float(self.margin)

    def use_cdnow_split_for_bundled_data(self) -> None:
        """Without an input file, default to the FHL (2005) calibration/holdout dates."""
        if self.input is None:
            if self.calibration_end is None:
                self.calibration_end = CDNOW_CALIBRATION_END
            if self.observation_end is None:
                self.observation_end = CDNOW_OBSERVATION_END

    @property
    def source_label(self) -> str:
        if self.input is None:
            return "bundled CDNOW " + ("1/10 sample" if self.sample else "full log")
        return str(self.input)


@dataclasses.dataclass
class _Prepared:
    """Loaded transactions and the RFM tables built from them."""

    tx: Any
    rfm: Any  # whole window, as of observation_end: the customers that get scored
    split: Any | None  # calibration/holdout table, when a calibration end is given
    time_unit: str
    calibration_end: str | None
    observation_end: str


def _load(settings: _Settings, ui: _Ui) -> Any:
    import clvlab
    from clvlab.datasets import load_cdnow

    with ui.step(f"Loading transactions ({settings.source_label})"):
        if settings.input is None:
            raw = load_cdnow(sample=settings.sample)
            tx = clvlab.load_transactions(raw)
            tx.attrs["source"] = settings.source_label
        else:
            if settings.sample:
                raise ValueError(
                    "--sample applies to the bundled CDNOW data only; drop it or the input file."
                )
            if not settings.input.exists():
                raise FileNotFoundError(f"No such input file: {str(settings.input)!r}.")
            tx = clvlab.load_transactions(
                settings.input,
                customer_id=settings.customer_id,
                date=settings.date,
                amount=settings.amount,
                date_format=settings.date_format,
                sep=settings.sep,
            )
    ui.note(f"{len(tx):,} transactions of {tx['customer_id'].nunique():,} customers")
    return tx


def _prepare(settings: _Settings, ui: _Ui, tx: Any, unit: str) -> _Prepared:
    import clvlab
    from clvlab import _columns as C

    obs_end = settings.observation_end
    split = None
    with ui.step("Building the RFM summary"):
        if settings.calibration_end is not None:
            if obs_end is None:
                obs_end = str(tx[C.DATE].max().date())
            split = clvlab.calibration_holdout(
                tx,
                settings.calibration_end,
                obs_end,
                time_unit=unit,
                merge_period=settings.merge_period,
            )
        rfm = clvlab.rfm_summary(
            tx, time_unit=unit, merge_period=settings.merge_period, observation_end=obs_end
        )
    obs = rfm.attrs.get(C.ATTR_OBSERVATION_END, obs_end)
    if split is not None:
        ui.note(
            f"calibration to {settings.calibration_end} ({len(split):,} customers), "
            f"holdout to {obs}"
        )
    return _Prepared(tx, rfm, split, unit, settings.calibration_end, str(obs))


@dataclasses.dataclass
class _Models:
    purchase: Any
    spend: Any
    baseline: Any | None


def _fit(prep: _Prepared, ui: _Ui) -> _Models:
    import clvlab

    data = prep.split if prep.split is not None else prep.rfm
    period = "the calibration period" if prep.split is not None else "the whole log"
    with ui.step(f"Fitting BG/NBD on {period} ({len(data):,} customers)"):
        bg = clvlab.BetaGeoFitter().fit(data)
    with ui.step("Fitting Gamma-Gamma (repeat buyers)"):
        gg = clvlab.GammaGammaFitter().fit(data)
    with ui.step("Fitting the formula baseline"):
        base = clvlab.FormulaCLVBaseline().fit(data)
    return _Models(bg, gg, base)


def _save_models(models: _Models, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    paths = {"bgnbd": settings.path("bgnbd"), "gamma_gamma": settings.path("gamma_gamma")}
    with ui.step("Saving models as JSON"):
        models.purchase.save(paths["bgnbd"])
        models.spend.save(paths["gamma_gamma"])
        if models.baseline is not None:
            paths["baseline"] = settings.path("baseline")
            models.baseline.save(paths["baseline"])
    return paths


def _load_models(model_paths: list[Path] | None, settings: _Settings, ui: _Ui) -> _Models:
    """Load saved models: the given files, else the default files under ``--out``."""
    from clvlab.models.baseline import FormulaCLVBaseline
    from clvlab.models.beta_geo import BetaGeoFitter
    from clvlab.models.gamma_gamma import GammaGammaFitter
    from clvlab.persistence import load_model

    if model_paths:
        paths = list(model_paths)
    else:  # the files clvlab fit / run write; the baseline is optional
        paths = [settings.path("bgnbd"), settings.path("gamma_gamma")]
        if settings.path("baseline").exists():
            paths.append(settings.path("baseline"))
    purchase = spend = baseline = None
    with ui.step("Loading saved models"):
        for p in paths:
            model = load_model(p)
            if isinstance(model, BetaGeoFitter):
                purchase = model
            elif isinstance(model, GammaGammaFitter):
                spend = model
            elif isinstance(model, FormulaCLVBaseline):
                baseline = model
            else:  # pragma: no cover - registry holds only these today
                raise ValueError(
                    f"{p} holds a {type(model).__name__}, which clvlab predict cannot use."
                )
    missing = [name for name, m in (("BG/NBD", purchase), ("Gamma-Gamma", spend)) if m is None]
    if missing:
        given = ", ".join(map(str, paths)) or "(none)"
        raise ValueError(
            f"Scoring needs a saved {' and a '.join(missing)} model; got {given}. Pass them with "
            "--model models/bgnbd.json --model models/gamma-gamma.json (written by clvlab fit "
            "or clvlab run)."
        )
    return _Models(purchase, spend, baseline)


def _saved_models_unit(settings: _Settings, models: _Models) -> str:
    """Return the saved models' time unit; --time-unit, if given, must agree with it."""
    model_unit = models.purchase.time_unit_
    if settings.time_unit is not None and settings.time_unit != model_unit:
        raise ValueError(
            f"--time-unit {settings.time_unit} differs from the saved model's time unit "
            f"{model_unit!r}; omit --time-unit or refit the models in that unit."
        )
    return model_unit


def _evaluate(prep: _Prepared, models: _Models, settings: _Settings, ui: _Ui) -> Any | None:
    import clvlab

    if prep.split is None:
        ui.note(
            "no calibration end given: the models are fitted on everything and not "
            "evaluated (use --calibration-end DATE for a holdout check)"
        )
        return None
    with ui.step("Evaluating on the holdout period"):
        return clvlab.evaluate(
            prep.split,
            models.purchase,
            models.spend,
            models.baseline,
            transactions=prep.tx,
            margin=settings.check_margin(),
        )


def _score(prep: _Prepared, models: _Models, settings: _Settings, ui: _Ui) -> Any:
    from clvlab.scoring import score_customers

    unit = prep.time_unit
    horizon = settings.resolved_horizon(unit)
    rate = settings.resolved_discount_rate(unit)
    with ui.step(f"Scoring {len(prep.rfm):,} customers"):
        return score_customers(
            prep.rfm,
            models.purchase,
            models.spend,
            models.baseline,
            horizon=horizon,
            discount_rate=rate,
            margin=settings.check_margin(),
        )


@dataclasses.dataclass
class _Outcome:
    """What the pipeline computed; each command writes the parts it needs."""

    prep: _Prepared
    models: _Models
    evaluation: Any = None  # clvlab.Evaluation, when evaluated on a holdout
    scores: Any = None  # the score_customers table, when scored


def _pipeline(
    settings: _Settings,
    ui: _Ui,
    *,
    models: Literal["fit", "saved"],
    model_paths: list[Path] | None = None,
    evaluate: bool = False,
    score: bool = False,
) -> _Outcome:
    """Load -> RFM -> fit or load the models -> evaluate (optional) -> score (optional).

    ``models="fit"`` fits them on the calibration period (else the whole log) in
    ``--time-unit``; ``models="saved"`` loads ``model_paths`` (default: the files under
    ``--out``) and works in their time unit. Horizon, discount rate and margin are
    checked before any long step when scoring.
    """
    saved = None
    if models == "saved":
        saved = _load_models(model_paths, settings, ui)
        unit = _saved_models_unit(settings, saved)
    else:
        unit = settings.unit()
    if score:
        settings.check_scoring_options(unit)
    tx = _load(settings, ui)
    prep = _prepare(settings, ui, tx, unit)
    outcome = _Outcome(prep, _fit(prep, ui) if saved is None else saved)
    if evaluate:
        outcome.evaluation = _evaluate(prep, outcome.models, settings, ui)
    if score:
        outcome.scores = _score(prep, outcome.models, settings, ui)
    return outcome


def _parameters(models: _Models) -> dict[str, Any]:
    out: dict[str, Any] = {"BG/NBD": models.purchase.summary, "Gamma-Gamma": models.spend.summary}
    if models.baseline is not None:
        out["Formula baseline"] = models.baseline.summary
    return out


def _metadata(outcome: _Outcome, settings: _Settings) -> dict[str, Any]:
    from clvlab import __version__
    from clvlab._time import UNIT_NAMES

    prep = outcome.prep
    attrs = outcome.scores.attrs
    thresholds = attrs.get("segment_thresholds", {})
    meta = {
        "source": settings.source_label,
        "time_unit": prep.time_unit,
        "time unit": UNIT_NAMES[prep.time_unit],
        "horizon": attrs.get("horizon"),
        "discount_rate": attrs.get("discount_rate"),
        "discount rate note": "per time unit; from --discount-rate, else the annual rate "
        "compounded over the mean Gregorian year",
        "margin": attrs.get("margin"),
        "observation_end": prep.observation_end,
        "calibration_end": prep.calibration_end or "none (no holdout evaluation)",
        "expected_spend": "expected value of one future purchase (Gamma-Gamma)",
        "clv": "margin x expected spend x discounted expected repeat purchases over the horizon",
        "clv_baseline": "formula baseline CLV x margin, same horizon and discount rate",
        "historical_spend": "all spend in the observed window, first purchase included",
        "segment rule": "no repeat purchase (frequency 0) = One-time buyers; for repeat "
        "buyers, high value = CLV or historical spend in the top "
        f"{100 * (1 - thresholds.get('value_quantiles', [0.5, 0.8])[1]):.0f}% of all "
        f"customers; active = P(alive) >= {thresholds.get('probability_alive', 0.5):g}",
        "clvlab_version": __version__,
    }
    return meta


def _write_workbook(path: Path, outcome: _Outcome, settings: _Settings) -> None:
    from clvlab.export import write_workbook

    evaluation = outcome.evaluation
    write_workbook(
        path,
        outcome.scores,
        parameters=_parameters(outcome.models),
        metrics=None if evaluation is None else evaluation.metrics,
        deciles=None if evaluation is None else evaluation.deciles,
        data_quality=outcome.prep.tx.attrs.get("data_quality", []),
        metadata=_metadata(outcome, settings),
    )


def _write_exports(outcome: _Outcome, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    from clvlab.export import write_csv

    paths = {"xlsx": settings.path("xlsx"), "csv": settings.path("csv")}
    with ui.step("Writing the predictions CSV"):
        write_csv(paths["csv"], outcome.scores)
    with ui.step(f"Writing the spreadsheet ({len(outcome.scores):,} rows)"):
        _write_workbook(paths["xlsx"], outcome, settings)
    return paths


def _write_report(outcome: _Outcome, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    from clvlab import reporting

    prep, models = outcome.prep, outcome.models
    paths = {"report_html": settings.path("report_html"), "report_pdf": settings.path("report_pdf")}
    with ui.step("Building the report"):
        context = reporting.build_context(
            models.purchase,
            models.spend,
            prep.rfm,
            baseline=models.baseline,
            evaluation=outcome.evaluation,
            scores=outcome.scores,
            transactions=prep.tx,
            data_quality=prep.tx.attrs.get("data_quality", []),
            metadata=_metadata(outcome, settings),
            calibration_end=prep.calibration_end,
        )
    with ui.step("Writing the HTML report"):
        reporting.render_html(context, paths["report_html"])
    with ui.step("Writing the PDF report"):
        reporting.render_pdf(context, paths["report_pdf"])
    return paths


def _summary(ui: _Ui, outcome: _Outcome, files: dict[str, Path], settings: _Settings) -> None:
    if ui.quiet:
        return
    scores, evaluation = outcome.scores, outcome.evaluation
    from rich.table import Table

    from clvlab.scoring import CLV, CLV_BASELINE, HISTORICAL_SPEND, segment_summary

    out = ui.out
    attrs = scores.attrs
    out.print()
    out.print(f"[bold]clvlab[/bold] — {settings.source_label}")
    headline = Table(show_header=False, box=None, pad_edge=False)
    headline.add_column(style="bold")
    headline.add_column(justify="right")
    from clvlab._time import UNIT_NAMES

    unit_name = UNIT_NAMES.get(attrs.get("time_unit") or "", "periods")
    headline.add_row("customers", f"{len(scores):,}")
    headline.add_row(
        f"predicted CLV, next {attrs.get('horizon', float('nan')):g} {unit_name}",
        f"{scores[CLV].sum():,.2f}",
    )
    base_total = scores[CLV_BASELINE].sum(min_count=1)
    headline.add_row(
        "formula baseline CLV", "n/a" if math.isnan(base_total) else f"{base_total:,.2f}"
    )
    hist_total = scores[HISTORICAL_SPEND].sum(min_count=1)
    headline.add_row("historical spend", "n/a" if math.isnan(hist_total) else f"{hist_total:,.2f}")
    headline.add_row(
        "discount rate per unit, margin",
        f"{attrs.get('discount_rate', 0):.6f}, {attrs.get('margin', 1):g}",
    )
    if evaluation is not None:
        metrics = evaluation.metrics
        first = metrics.iloc[0]
        if "purchases_aggregate_pct_error" in metrics.columns:
            headline.add_row(
                f"holdout: aggregate purchases error ({metrics.index[0]})",
                f"{first['purchases_aggregate_pct_error']:+.1f}%",
            )
        if "purchases_pearson" in metrics.columns:
            headline.add_row(
                "holdout: correlation of purchases", f"{first['purchases_pearson']:.3f}"
            )
        if "value_aggregate_pct_error" in metrics.columns:
            # model vs baseline on holdout value: the comparison the report is about
            for name, err in metrics["value_aggregate_pct_error"].items():
                if isinstance(err, float) and math.isfinite(err):
                    headline.add_row(f"holdout: aggregate value error ({name})", f"{err:+.1f}%")
    else:
        headline.add_row("holdout", "none (fitted on everything)")
    out.print(headline)
    seg = segment_summary(scores)
    table = Table(title="Segments", title_justify="left")
    for col, justify in (
        ("segment", "left"),
        ("customers", "right"),
        ("share", "right"),
        ("total CLV", "right"),
        ("mean P(alive)", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, row in seg.iterrows():
        table.add_row(
            str(name),
            f"{int(row['n_customers']):,}",
            f"{row['share_customers']:.1%}",
            f"{row['total_clv']:,.2f}",
            ""
            if math.isnan(row["mean_probability_alive"])
            else f"{row['mean_probability_alive']:.2f}",
        )
    out.print(table)
    out.print("[bold]Files[/bold]")
    for key, path in files.items():
        out.print(f"  {key:<12} {path}")


# ======================================================================================
# options shared by the commands
# ======================================================================================

InputArg = Annotated[
    Path | None,
    typer.Argument(
        help="Transaction log: CSV/TSV/TXT (optionally .gz), Parquet or XLSX with one row per "
        "transaction. Omit it (run only) to use the bundled CDNOW data.",
        show_default=False,
    ),
]
RequiredInputArg = Annotated[
    Path,
    typer.Argument(help="Transaction log: CSV/TSV/TXT, Parquet or XLSX.", show_default=False),
]
CustomerIdOpt = Annotated[
    str, typer.Option("--customer-id", help="Name of the customer id column.")
]
DateOpt = Annotated[str, typer.Option("--date", help="Name of the transaction date column.")]
AmountOpt = Annotated[str, typer.Option("--amount", help="Name of the transaction value column.")]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format", help="strftime format of the dates, e.g. %d/%m/%Y (default: inferred)."
    ),
]
SepOpt = Annotated[
    str | None, typer.Option("--sep", help="Delimiter of a text file (default: detected).")
]
TimeUnitOpt = Annotated[
    str | None,
    typer.Option(
        "--time-unit",
        help="Time unit of recency, T, horizon and discount rate: D, W, M or Y "
        "[default: W; predict/report/export: the saved model's].",
    ),
]
MergeOpt = Annotated[
    str,
    typer.Option(
        "--merge-period",
        help="Purchases of a customer within one such period count as one: D, W, M or Y.",
    ),
]
CalEndOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="Last day of the calibration period (YYYY-MM-DD). Enables "
        "the holdout evaluation; without it the models are fitted on everything.",
    ),
]
ObsEndOpt = Annotated[
    str | None,
    typer.Option(
        "--observation-end",
        help="Last day observed (YYYY-MM-DD); later transactions are "
        "excluded with a warning [default: the last transaction's day].",
    ),
]
HorizonOpt = Annotated[
    float | None,
    typer.Option(
        "--horizon",
        help="Prediction horizon in time units [default: one year: 52 W, 365 D, 12 M, 1 Y].",
    ),
]
DiscountOpt = Annotated[
    float | None,
    typer.Option("--discount-rate", help="Discount rate per time unit, e.g. 0.0018 per week."),
]
AnnualDiscountOpt = Annotated[
    float | None,
    typer.Option(
        "--annual-discount-rate",
        help="Annual discount rate, converted to the time unit by compounding [default: 0.10].",
    ),
]
MarginOpt = Annotated[
    float, typer.Option("--margin", help="Share of spend that is profit (1 = revenue).")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder for the outputs: DIR/reports and DIR/models [default: "
        "./reports and ./models].",
    ),
]
ModelOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--model",
        help="Saved model JSON (repeatable): BG/NBD, Gamma-Gamma and optionally "
        "the baseline [default: the files under OUT/models].",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


# ======================================================================================
# commands
# ======================================================================================


@app.command()
@_handle_errors
def run(
    input: InputArg = None,
    sample: Annotated[
        bool,
        typer.Option(
            "--sample",
            help="Bundled data: use the 1/10 CDNOW sample "
            "(2,357 customers) instead of the full log.",
        ),
    ] = False,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    out: OutOpt = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip the HTML/PDF report.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="pandas (this machine's memory) or spark (Apache Spark: INPUT may be a "
            "Parquet/CSV file or folder; predictions are written as Parquet and CSV parts; "
            "needs pip install 'clvlab[spark]' and Java 17+).",
        ),
    ] = "pandas",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="Spark master URL with --engine spark, e.g. local[4] or spark://host:7077 "
            "[default: the active session, else local[*]].",
        ),
    ] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Do the whole job: load, RFM, fit, evaluate, score, report, spreadsheet, saved models.

    Without INPUT it runs on the bundled CDNOW log with the Fader-Hardie-Lee split
    (calibration to 1997-09-30, holdout to 1998-06-30, weeks).
    """
    settings = _Settings.from_options(locals())
    settings.use_cdnow_split_for_bundled_data()
    ui = _Ui(quiet)
    if engine not in ("pandas", "spark"):
        raise ValueError(f"--engine must be pandas or spark; got {engine!r}.")
    if engine == "spark":
        from clvlab.spark._run import run_spark

        with _show_warnings(ui):
            run_spark(settings, ui, master=spark_master, no_report=no_report)
        return
    if spark_master is not None:
        raise ValueError("--spark-master applies to --engine spark only.")
    with _show_warnings(ui):
        outcome = _pipeline(settings, ui, models="fit", evaluate=True, score=True)
        files: dict[str, Path] = {}
        if not no_report:
            files.update(_write_report(outcome, settings, ui))
        files.update(_write_exports(outcome, settings, ui))
        files.update(_save_models(outcome.models, settings, ui))
    _summary(ui, outcome, files, settings)


@app.command()
@_handle_errors
def rfm(
    input: RequiredInputArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="CSV (or .parquet) to write [default: OUT/reports/rfm-summary.csv].",
        ),
    ] = None,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the RFM summary (with --calibration-end: the calibration/holdout table)."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    unit = settings.unit()
    with _show_warnings(ui):
        prep = _prepare(settings, ui, _load(settings, ui), unit)
        table = prep.split if prep.split is not None else prep.rfm
        path = output or settings.path("rfm")
        with ui.step(f"Writing {path}"):
            _write_table(table, path)
    if not quiet:
        from clvlab import _columns as C

        repeat = float((table[C.FREQUENCY] > 0).mean())
        ui.out.print(
            f"{len(table):,} customers ({repeat:.1%} repeat buyers), time unit {unit} -> {path}"
        )


def _write_table(table: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        table.to_parquet(path)
    elif suffix in (".csv", ".txt", ""):
        from clvlab.export import write_csv

        write_csv(path, table)
    else:
        raise ValueError(f"--output must end in .csv or .parquet; got {path.name!r}.")


@app.command()
@_handle_errors
def fit(
    input: RequiredInputArg,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fit BG/NBD, Gamma-Gamma and the formula baseline and save them as JSON (OUT/models)."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    with _show_warnings(ui):
        models = _pipeline(settings, ui, models="fit").models
        paths = _save_models(models, settings, ui)
    if not quiet:
        for name, fitted in (("BG/NBD", models.purchase), ("Gamma-Gamma", models.spend)):
            ui.out.print(f"[bold]{name}[/bold]")
            ui.out.print(fitted.summary.to_string(float_format=lambda v: f"{v:.4f}"))
        ui.out.print("[bold]Files[/bold]")
        for key, path in paths.items():
            ui.out.print(f"  {key:<12} {path}")


@app.command()
@_handle_errors
def predict(
    input: RequiredInputArg,
    model: ModelOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write: .csv or .xlsx [default: OUT/reports/clv-predictions.csv].",
        ),
    ] = None,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Score the customers of INPUT with saved models (no refitting)."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    with _show_warnings(ui):
        outcome = _pipeline(settings, ui, models="saved", model_paths=model, score=True)
        path = output or settings.path("csv")
        with ui.step(f"Writing {path}"):
            suffix = path.suffix.lower()
            if suffix == ".xlsx":
                _write_workbook(path, outcome, settings)
            elif suffix in (".csv", ".txt"):
                from clvlab.export import write_csv

                write_csv(path, outcome.scores)
            else:
                raise ValueError(f"--output must end in .csv or .xlsx; got {path.name!r}.")
    _summary(ui, outcome, {"predictions": path}, settings)


@app.command()
@_handle_errors
def report(
    input: RequiredInputArg,
    model: ModelOpt = None,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the HTML + PDF report for INPUT from saved models (OUT/reports)."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    with _show_warnings(ui):
        outcome = _pipeline(
            settings, ui, models="saved", model_paths=model, evaluate=True, score=True
        )
        files = _write_report(outcome, settings, ui)
    _summary(ui, outcome, files, settings)


@app.command()
@_handle_errors
def export(
    input: RequiredInputArg,
    model: ModelOpt = None,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the XLSX workbook and the CSV of predictions for INPUT from saved models."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    with _show_warnings(ui):
        outcome = _pipeline(
            settings, ui, models="saved", model_paths=model, evaluate=True, score=True
        )
        files = _write_exports(outcome, settings, ui)
    _summary(ui, outcome, files, settings)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``clvlab`` console script (``clvlab.cli:main``)."""
    app(args=argv, prog_name="clvlab")


if __name__ == "__main__":  # pragma: no cover
    main()
