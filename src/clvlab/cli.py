"""The ``clvlab`` command: from a transaction file to report, spreadsheet and saved models.

``clvlab run`` does the whole job; the steps also run on their own::

    clvlab run [INPUT]        load -> RFM -> (calibration/holdout) -> fit the purchase
                              model(s), Gamma-Gamma and the formula baseline -> compare the
                              purchase models -> evaluate -> score -> HTML + PDF report ->
                              XLSX + CSV predictions -> models saved as JSON
    clvlab rfm INPUT          the RFM summary (or calibration/holdout table) as CSV
    clvlab fit INPUT          fit the three models and save them as JSON
    clvlab predict INPUT      score customers with saved models (CSV, or XLSX by extension)
    clvlab report INPUT       HTML + PDF report from saved models
    clvlab export INPUT       XLSX workbook + CSV from saved models

Without an input file ``clvlab run`` uses the bundled CDNOW log with the split of Fader,
Hardie & Lee (2005): calibration to 1997-09-30, holdout to 1998-06-30, in weeks.

The purchase model is picked by ``--purchase-model KEY`` among the registered purchase
models (:mod:`clvlab.models.registry`; default ``bgnbd``) or ``auto``: every registered
purchase model is fitted on the calibration period and the one with the highest holdout
log predictive score is used (:func:`clvlab.compare_models`). With a holdout, ``run``
compares all of them whichever is used, and the report shows the comparison.

Output files (under ``--out DIR``, default the current folder):

=================================  ==================================================
``reports/clvlab-report.html``     self-contained HTML report
``reports/clvlab-report.pdf``      the same report as PDF
``reports/clv-predictions.xlsx``   workbook: Predictions, Parameters, Holdout metrics,
                                   Deciles, Data quality, About
``reports/clv-predictions.csv``    one row per customer (all customers)
``models/<key>.json``              fitted purchase model, named by its registry key
                                   (``bgnbd.json`` by default; ``pnbd.json`` ...)
``models/gamma-gamma.json``        fitted Gamma-Gamma model
``models/formula-baseline.json``   fitted formula baseline
=================================  ==================================================

Errors in the input (a clvlab ``ValueError``, a missing file) end with a readable
message on stderr and exit code 2, never a traceback (``--debug`` shows it). A model
that cannot make a finite prediction (``PredictionError``, named in the message) exits
with code 1, as does any other failure. Progress goes to stderr, the closing summary to stdout;
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

#: Default purchase model (a registry key); "auto" chooses by holdout log score.
DEFAULT_PURCHASE_MODEL = "bgnbd"
AUTO = "auto"

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
    help="Customer-lifetime value from a transaction log: RFM, purchase model (BG/NBD, "
    "Pareto/NBD, ...) + Gamma-Gamma, CLV, holdout evaluation and model comparison, report, "
    "spreadsheet and saved models.",
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


def _is_model_limit(exc: BaseException) -> bool:
    """Tell whether a model could not make a finite prediction (no input error, no bug)."""
    from clvlab.exceptions import PredictionError

    return isinstance(exc, PredictionError)


def _cli_hint(message: str) -> str:
    """Translate the library's keyword-argument advice into command-line options."""
    hints = []
    if "customer_id=" in message or "amount=" in message:
        hints.append("--customer-id COLUMN --date COLUMN --amount COLUMN")
    if "date_format=" in message:
        hints.append("--date-format '%d/%m/%Y' (strftime codes), or --date-format dayfirst")
    if "sep=" in message:
        hints.append("--sep ';'")
    if "decimal=" in message:
        hints.append("--decimal ',' (decimal comma) or --decimal '.'")
    if "encoding=" in message:
        hints.append("--encoding latin-1 (or the file's encoding)")
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
            if _is_model_limit(exc):  # the model cannot predict: say so, exit 1
                typer.echo(f"clvlab: error: {message}", err=True)
                if not debug:
                    typer.echo("(run with --debug to see the traceback)", err=True)
                raise typer.Exit(EXIT_INTERNAL_ERROR) from None
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
_COMMAND_ONLY_OPTIONS = frozenset({"model", "output", "no_report", "quiet", "debug"})


def purchase_model_choices() -> list[str]:
    """Values of ``--purchase-model``: the registered purchase models, then ``auto``."""
    from clvlab.models.registry import registered

    return [*registered("purchase"), AUTO]


def _model_file(key: str) -> str:
    """File of a saved model under ``--out``, named by its registry key."""
    legacy = {"gg": "gamma_gamma", "baseline": "baseline"}
    return DEFAULT_FILES.get(legacy.get(key, key), f"models/{key}.json")


@dataclasses.dataclass(kw_only=True)
class _Settings:
    """The options shared by the commands; each command gives the ones it declares."""

    input: Path | None = None
    customer_id: str = "customer_id"
    date: str = "date"
    amount: str = "amount"
    date_format: str | None = None
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    time_unit: str | None = None
    merge_period: str = "D"
    calibration_end: str | None = None
    observation_end: str | None = None
    horizon: float | None = None
    discount_rate: float | None = None
    annual_discount_rate: float | None = None
    margin: float = 1.0
    interval: float = 0.8
    out: Path | None = None
    sample: bool = False
    purchase_model: str = DEFAULT_PURCHASE_MODEL

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

    def model_path(self, key: str) -> Path:
        """Where the model with registry key ``key`` is saved under ``--out``."""
        base = self.out if self.out is not None else Path(".")
        return base / _model_file(key)

    def checked_purchase_model(self) -> str:
        """``--purchase-model``, checked against the registry (before any long step)."""
        choices = purchase_model_choices()
        if self.purchase_model not in choices:
            raise ValueError(
                f"--purchase-model must be one of {', '.join(choices)}; got "
                f"{self.purchase_model!r}."
            )
        if self.purchase_model == AUTO and self.calibration_end is None:
            raise ValueError(
                "--purchase-model auto chooses the model by its holdout log predictive score, "
                "so it needs a holdout: give --calibration-end DATE, or name a model "
                f"({', '.join(choices[:-1])})."
            )
        return self.purchase_model

    def unit(self, default: str = "W") -> str:
        from clvlab._time import check_time_unit

        return check_time_unit(self.time_unit or default, "--time-unit")

    def resolved_horizon(self, unit: str) -> float:
        from clvlab._checks import check_horizon

        if self.horizon is None:
            return DEFAULT_HORIZON[unit]
        return check_horizon(self.horizon, "--horizon")

    def resolved_discount_rate(self, unit: str) -> float:
        from clvlab._checks import check_discount_rate
        from clvlab._time import UNIT_NAMES
        from clvlab.clv import per_period_rate

        if self.discount_rate is not None and self.annual_discount_rate is not None:
            raise ValueError(
                "Give either --discount-rate (per time unit) or --annual-discount-rate, not both."
            )
        if self.discount_rate is not None:
            return check_discount_rate(
                self.discount_rate, "--discount-rate", per=UNIT_NAMES[unit].removesuffix("s")
            )
        annual = (
            DEFAULT_ANNUAL_DISCOUNT_RATE
            if self.annual_discount_rate is None
            else self.annual_discount_rate
        )
        return per_period_rate(
            check_discount_rate(annual, "--annual-discount-rate", per="year"), unit
        )

    def check_scoring_options(self, unit: str) -> None:
        """Fail on a bad horizon, discount rate, margin or interval before the long steps."""
        self.resolved_discount_rate(unit)
        self.resolved_horizon(unit)
        self.check_margin()
        self.interval_level()

    def interval_level(self) -> float | None:
        """Return the --interval level, or None when it is 0 (intervals off)."""
        if not (math.isfinite(self.interval) and 0 <= self.interval < 1):
            raise ValueError(
                "--interval must be a probability between 0 and 1, e.g. 0.8 for an 80% "
                f"range (0 turns the ranges off); got {self.interval}."
            )
        return float(self.interval) or None

    def check_margin(self) -> float:
        from clvlab._checks import check_margin

        return check_margin(self.margin, "--margin")

    def checked_dates(self) -> None:
        """Read --calibration-end and --observation-end: ISO 8601, or in --date-format.

        They are rewritten as ISO dates, so ``01/06/2024`` with ``--date-format %d/%m/%Y``
        is 1 June 2024, and without it an error (never silently 6 January).
        """
        from clvlab._checks import check_date

        fmt = self.date_format if self.date_format not in (None, "dayfirst", "monthfirst",
                                                            "mixed", "ISO8601") else None
        for attr, option in (("calibration_end", "--calibration-end"),
                             ("observation_end", "--observation-end")):
            value = getattr(self, attr)
            if value is not None:
                setattr(self, attr, str(check_date(value, option, date_format=fmt).date()))

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

    settings.checked_dates()
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
            tx = clvlab.load_transactions(
                settings.input,
                customer_id=settings.customer_id,
                date=settings.date,
                amount=settings.amount,
                date_format=settings.date_format,
                sep=settings.sep,
                decimal=settings.decimal,
                encoding=settings.encoding,
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
    comparison: Any = None  # clvlab.ModelComparison, when purchase models were compared

    @property
    def purchase_key(self) -> str:
        from clvlab.models.contract import describe

        return describe(self.purchase).key

    @property
    def purchase_name(self) -> str:
        from clvlab.models.contract import describe

        return describe(self.purchase).name


def _fit(prep: _Prepared, settings: _Settings, ui: _Ui, *, compare: bool) -> _Models:
    """Fit the spend model, the baseline and the purchase model(s).

    With a holdout and ``compare`` (or ``--purchase-model auto``), every registered
    purchase model is fitted on the calibration period and compared on the holdout; the
    one named by ``--purchase-model`` (or, for ``auto``, the best) is used.
    """
    import clvlab
    from clvlab.models.registry import get_model_class, registered

    choice = settings.checked_purchase_model()
    data = prep.split if prep.split is not None else prep.rfm
    period = "the calibration period" if prep.split is not None else "the whole log"
    with ui.step("Fitting Gamma-Gamma (repeat buyers)"):
        gg = clvlab.GammaGammaFitter().fit(data)
    with ui.step("Fitting the formula baseline"):
        base = clvlab.FormulaCLVBaseline().fit(data)
    keys = registered("purchase")
    if prep.split is not None and (compare or choice == AUTO) and len(keys) > 0:
        plural = "s" if len(keys) > 1 else ""
        with ui.step(f"Fitting and comparing {len(keys)} purchase model{plural} "
                     f"({', '.join(keys)}) on {period}"):
            comparison = clvlab.compare_models(
                prep.split, keys, gg, base, prep.tx, margin=settings.check_margin()
            )
        key = comparison.best if choice == AUTO else choice
        if key not in comparison.models:  # its fit failed: the notes say why
            raise ValueError(
                f"The {key} model could not be fitted: {' '.join(comparison.notes)}"
            )
        name = comparison.names[key]
        how = ("chosen by the holdout log predictive score" if choice == AUTO
               else "as requested with --purchase-model")
        ui.note(f"purchase model: {name} ({key}), {how}. {comparison.reason}")
        for note in comparison.notes:
            ui.note(note)
        return _Models(comparison.models[key], gg, base, comparison)
    cls = get_model_class(choice)
    with ui.step(f"Fitting {choice} on {period} ({len(data):,} customers)"):
        purchase = cls().fit(data)
    return _Models(purchase, gg, base)


def _save_models(models: _Models, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    key = models.purchase_key
    paths = {key: settings.model_path(key), "gamma_gamma": settings.path("gamma_gamma")}
    with ui.step("Saving models as JSON"):
        models.purchase.save(paths[key])
        models.spend.save(paths["gamma_gamma"])
        if models.baseline is not None:
            paths["baseline"] = settings.path("baseline")
            models.baseline.save(paths["baseline"])
    return paths


def _default_model_paths(settings: _Settings) -> list[Path]:
    """List the files clvlab fit / run write under ``--out``: purchase, spend, baseline."""
    from clvlab.models.registry import registered

    candidates = [settings.model_path(k) for k in registered("purchase")]
    found = [p for p in candidates if p.exists()]
    if len(found) > 1:
        raise ValueError(
            f"{len(found)} saved purchase models under {found[0].parent} "
            f"({', '.join(p.name for p in found)}); which one to use is ambiguous. Pass it "
            f"with --model {found[0]} --model {settings.path('gamma_gamma')}."
        )
    # a missing purchase file is reported by load_model ("No model file at .../bgnbd.json")
    paths = found or [settings.model_path(DEFAULT_PURCHASE_MODEL)]
    paths.append(settings.path("gamma_gamma"))
    if settings.path("baseline").exists():
        paths.append(settings.path("baseline"))
    return paths


def _load_models(model_paths: list[Path] | None, settings: _Settings, ui: _Ui) -> _Models:
    """Load saved models (the given files, else the default files under ``--out``).

    Each file names its registry key; the model's role (purchase, spend, baseline) comes
    from its capabilities (:mod:`clvlab.models.contract`), never from its class.
    """
    from clvlab.models.contract import describe
    from clvlab.persistence import load_model

    paths = list(model_paths) if model_paths else _default_model_paths(settings)
    by_role: dict[str, list[tuple[Path, Any]]] = {"purchase": [], "spend": [], "baseline": []}
    with ui.step("Loading saved models"):
        for p in paths:
            model = load_model(p)
            caps = getattr(model, "capabilities", None)
            role = caps().role if callable(caps) else None
            if role not in by_role:  # pragma: no cover - every registered model has a role
                raise ValueError(
                    f"{p} holds a {describe(model).name}, which clvlab cannot score with."
                )
            by_role[role].append((p, model))
    for role, found in by_role.items():
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} {role} models given ({', '.join(str(p) for p, _ in found)}); "
                f"pass one --model file per role."
            )
    missing = [what for role, what in (("purchase", "purchase (e.g. BG/NBD)"),
                                       ("spend", "Gamma-Gamma")) if not by_role[role]]
    if missing:
        given = ", ".join(map(str, paths)) or "(none)"
        raise ValueError(
            f"Scoring needs a saved {' and a '.join(missing)} model; got {given}. Pass them with "
            "--model models/bgnbd.json --model models/gamma-gamma.json (written by clvlab fit "
            "or clvlab run)."
        )
    baseline = by_role["baseline"][0][1] if by_role["baseline"] else None
    return _Models(by_role["purchase"][0][1], by_role["spend"][0][1], baseline)


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
    comparison = models.comparison
    if comparison is not None and comparison.models.get(models.purchase_key) is models.purchase:
        return comparison.evaluations[models.purchase_key]  # the same evaluate() call
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
            interval=settings.interval_level(),
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
    compare: bool = False,
) -> _Outcome:
    """Load -> RFM -> fit or load the models -> evaluate (optional) -> score (optional).

    ``models="fit"`` fits them on the calibration period (else the whole log) in
    ``--time-unit``; ``models="saved"`` loads ``model_paths`` (default: the files under
    ``--out``) and works in their time unit. Horizon, discount rate and margin are
    checked before any long step when scoring. With ``compare`` (and a holdout) every
    registered purchase model is fitted and compared (see :func:`_fit`).
    """
    saved = None
    if models == "saved":
        saved = _load_models(model_paths, settings, ui)
        unit = _saved_models_unit(settings, saved)
    else:
        unit = settings.unit()
        settings.checked_purchase_model()
    if score:
        settings.check_scoring_options(unit)
    tx = _load(settings, ui)
    prep = _prepare(settings, ui, tx, unit)
    outcome = _Outcome(
        prep, _fit(prep, settings, ui, compare=compare) if saved is None else saved
    )
    if evaluate:
        outcome.evaluation = _evaluate(prep, outcome.models, settings, ui)
    if score:
        outcome.scores = _score(prep, outcome.models, settings, ui)
    return outcome


def _parameters(models: _Models) -> dict[str, Any]:
    from clvlab.models.contract import describe

    out: dict[str, Any] = {
        models.purchase_name: models.purchase.summary,
        describe(models.spend).name: models.spend.summary,
    }
    if models.baseline is not None:
        out[describe(models.baseline).name] = models.baseline.summary
    return out


def _metadata(outcome: _Outcome, settings: _Settings) -> dict[str, Any]:
    from clvlab import __version__
    from clvlab._time import UNIT_NAMES
    from clvlab.models.contract import describe

    prep, models = outcome.prep, outcome.models
    attrs = outcome.scores.attrs
    thresholds = attrs.get("segment_thresholds", {})
    comparison = models.comparison
    if comparison is None:
        choice = "as requested (--purchase-model); no model comparison (no holdout)"
    elif comparison.best == models.purchase_key and settings.purchase_model == AUTO:
        choice = f"--purchase-model auto: {comparison.reason}"
    else:
        choice = (f"as requested (--purchase-model); by holdout log score the best is "
                  f"{comparison.names.get(comparison.best, comparison.best)}")
    meta = {
        "source": settings.source_label,
        "purchase model": f"{models.purchase_name} ({models.purchase_key})",
        "purchase model choice": choice,
        "time_unit": prep.time_unit,
        "time unit": UNIT_NAMES[prep.time_unit],
        "horizon": attrs.get("horizon"),
        "discount_rate": attrs.get("discount_rate"),
        "discount rate note": "per time unit; from --discount-rate, else the annual rate "
        "compounded over the mean Gregorian year",
        "margin": attrs.get("margin"),
        "observation_end": prep.observation_end,
        "calibration_end": prep.calibration_end or "none (no holdout evaluation)",
        "expected_spend": "expected value of one future purchase "
        f"({describe(models.spend).name})",
        "clv": "margin x expected spend x discounted expected repeat purchases over the horizon",
        "clv_baseline": "formula baseline CLV x margin, same horizon and discount rate",
        "historical_spend": "all spend in the observed window, first purchase included",
        "segment rule": "no repeat purchase (frequency 0) = One-time buyers; for repeat "
        "buyers, high value = CLV or historical spend in the top "
        f"{100 * (1 - thresholds.get('value_quantiles', [0.5, 0.8])[1]):.0f}% of all "
        f"customers; active = P(alive) >= {thresholds.get('probability_alive', 0.5):g}",
        "clvlab_version": __version__,
    }
    intervals = attrs.get("intervals")
    if intervals and intervals.get("totals"):
        level = intervals["level"]
        meta["interval_level"] = level
        meta["ranges"] = (
            f"low/high columns: {level:.0%} predictive range -- the customer's purchases "
            f"(whole numbers, at least {level:.0%} likely) or CLV over the horizon falls in "
            "it with that probability, allowing for both the customer's own randomness and "
            "the uncertainty of the fitted models"
        )
        clv = intervals["totals"]["clv"]
        meta["total clv range"] = (
            f"{clv['lower']:,.2f} to {clv['upper']:,.2f} ({level:.0%}; the total's own "
            "range, not a sum of the customers' ranges)"
        )
    elif intervals and intervals.get("skipped"):
        meta["ranges"] = intervals["skipped"]
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
            comparison=models.comparison,
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


def _finite_or_na(value: Any, template: str) -> str:
    """Format a number, or "n/a" when it is missing or not finite (never "nan" or "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return template.format(number) if math.isfinite(number) else "n/a"


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
    models = outcome.models
    headline.add_row("purchase model", f"{models.purchase_name} ({models.purchase_key})")
    cmp = models.comparison
    if cmp is not None:
        best = f"{cmp.names.get(cmp.best, cmp.best)} ({cmp.best})"
        headline.add_row("best by holdout log score", best + (" = used" if cmp.best ==
                                                              models.purchase_key else ""))
    headline.add_row(
        f"predicted CLV, next {attrs.get('horizon', float('nan')):g} {unit_name}",
        f"{scores[CLV].sum():,.2f}",
    )
    totals = (attrs.get("intervals") or {}).get("totals") or {}
    if "clv" in totals:
        level = attrs["intervals"]["level"]
        clv_range = totals["clv"]
        headline.add_row(
            f"  {level:.0%} range", f"{clv_range['lower']:,.2f} to {clv_range['upper']:,.2f}"
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
                _finite_or_na(first["purchases_aggregate_pct_error"], "{:+.1f}%"),
            )
        if "purchases_pearson" in metrics.columns:
            headline.add_row(
                "holdout: correlation of purchases",
                _finite_or_na(first["purchases_pearson"], "{:.3f}"),
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
        "--date-format",
        help="strftime format of the dates, e.g. %d/%m/%Y, or 'dayfirst' / 'monthfirst' "
        "(default: one format decided from the whole column). --calibration-end and "
        "--observation-end may also be written in it.",
    ),
]
SepOpt = Annotated[
    str | None, typer.Option("--sep", help="Delimiter of a text file (default: detected).")
]
DecimalOpt = Annotated[
    str | None,
    typer.Option(
        "--decimal",
        help="Decimal mark of text amounts: '.' or ',' (default: decided from the whole "
        "column; an error when it cannot be).",
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Text encoding of a CSV file, e.g. latin-1 (default: UTF-8, or UTF-16/32 "
        "detected from the byte-order mark or the byte pattern).",
    ),
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
IntervalOpt = Annotated[
    float,
    typer.Option(
        "--interval",
        help="Probability of the predictive ranges of purchases and CLV (per customer and "
        "total) in the outputs; 0 turns them off.",
    ),
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
PurchaseModelOpt = Annotated[
    str,
    typer.Option(
        "--purchase-model",
        help="Purchase model: a registered key ("
        + ", ".join(purchase_model_choices()[:-1])
        + ") or 'auto' (fit all on the calibration period, use the best holdout log "
        "predictive score; needs --calibration-end).",
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    purchase_model: PurchaseModelOpt = DEFAULT_PURCHASE_MODEL,
    interval: IntervalOpt = 0.8,
    out: OutOpt = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip the HTML/PDF report.")
    ] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Do the whole job: load, RFM, fit, evaluate, score, report, spreadsheet, saved models.

    Without INPUT it runs on the bundled CDNOW log with the Fader-Hardie-Lee split
    (calibration to 1997-09-30, holdout to 1998-06-30, weeks). With a holdout every
    registered purchase model is fitted and compared (report section "Model comparison");
    --purchase-model picks the one used (auto: the best holdout log predictive score).
    """
    settings = _Settings.from_options(locals())
    settings.use_cdnow_split_for_bundled_data()
    ui = _Ui(quiet)
    with _show_warnings(ui):
        outcome = _pipeline(settings, ui, models="fit", evaluate=True, score=True,
                            compare=True)
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    purchase_model: PurchaseModelOpt = DEFAULT_PURCHASE_MODEL,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fit the purchase model, Gamma-Gamma and the formula baseline; save them as JSON."""
    settings = _Settings.from_options(locals())
    ui = _Ui(quiet)
    with _show_warnings(ui):
        models = _pipeline(settings, ui, models="fit").models
        paths = _save_models(models, settings, ui)
    if not quiet:
        from clvlab.models.contract import describe

        for name, fitted in ((models.purchase_name, models.purchase),
                             (describe(models.spend).name, models.spend)):
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    interval: IntervalOpt = 0.8,
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
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
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
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
