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
import os
import re
import threading
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
    # clvlab predict: its own file per input, never run's outputs ({input}: the file's stem)
    "predict_csv": "reports/predictions-{input}.csv",
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

#: Values of the data-policy options (as in clvlab.load_transactions; docs/data-policies.md).
DATA_POLICIES: dict[str, tuple[str, ...]] = {
    "--returns": ("net", "drop", "keep", "raise"),
    "--zero-amounts": ("keep", "drop", "raise"),
    "--duplicates": ("auto", "drop", "keep", "raise"),
}

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


class _Step:
    """Handle of a running step: ``advance()`` moves its progress bar (if it has a total)."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1.0) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def __call__(self, *_: Any) -> None:
        """Advance by one (usable as a ``progress=`` callback)."""
        self.advance()


class _Ui:
    """Progress on stderr, summary on stdout; nothing at all when quiet.

    On a terminal each step shows a rich progress bar -- percentage, elapsed time and time
    remaining when the step knows how many parts it has (models to fit, report sections,
    spreadsheet sheets), a spinner otherwise -- and leaves a ``✓ step (1.2 s)`` line.
    Elsewhere (a log file, a scheduler) only the ``✓`` lines are printed.
    """

    def __init__(self, quiet: bool, *, err: Any = None, out: Any = None) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.err = err if err is not None else Console(stderr=True, highlight=False)
        self.out = out if out is not None else Console(highlight=False)
        self.interactive = self.err.is_terminal and not quiet
        # rewrites row references in messages (the bundled data: lines of its file)
        self.row_names: Callable[[str], str] = lambda text: text

    def _progress(self) -> Any:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TaskProgressColumn(),  # percentage
            TextColumn("[dim]ETA[/dim]"),
            TimeRemainingColumn(),
            TextColumn("[dim]elapsed[/dim]"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            refresh_per_second=8,
        )

    @contextlib.contextmanager
    def step(self, label: str, total: float | None = None) -> Iterator[_Step]:
        """Run a step: a progress bar on a terminal (``total`` parts), then its duration.

        The ``_Step`` yielded advances the bar; without a ``total`` the bar pulses.
        """
        start = time.perf_counter()
        if self.interactive:
            with self._progress() as progress:
                task = progress.add_task(label, total=total)
                yield _Step(progress, task)
                if total is not None:
                    progress.update(task, completed=total)
        else:
            yield _Step()
        # each step leaves freed temporaries in the allocators: hand their pages back
        # before the next step builds its own (a lower base under every later peak)
        from clvlab._memory import release_unused

        release_unused()
        memory = ""
        if os.environ.get("CLVLAB_STEP_MEMORY") == "1":  # benchmarking aid
            from clvlab._memory import step_memory

            measured = step_memory()
            if measured is not None:
                memory = f", peak {measured[0]:,.0f} MiB, after {measured[1]:,.0f} MiB"
        if not self.quiet:
            self.err.print(
                f"[green]✓[/green] {label} "
                f"[dim]({time.perf_counter() - start:.1f} s{memory})[/dim]"
            )

    def done(self, label: str, seconds: float) -> None:
        """Print the ``✓`` line of a step that ran elsewhere (another thread)."""
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {label} [dim]({seconds:.1f} s)[/dim]")

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
                text = ui.row_names(_cli_words(str(w.message)))
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


#: Keyword arguments of the Python API that the library's messages may suggest, and the
#: command-line option that does the same (every one exists on the commands that load data).
API_OPTIONS: dict[str, str] = {
    "customer_id": "--customer-id",
    "date": "--date",
    "amount": "--amount",
    "date_format": "--date-format",
    "sep": "--sep",
    "encoding": "--encoding",
    "decimal": "--decimal",
    "sheet_name": "--sheet",
    "negative_amounts": "--returns",
    "zero_amounts": "--zero-amounts",
    "duplicates": "--duplicates",
    "timezone": "--timezone",
    "time_unit": "--time-unit",
    "merge_period": "--merge-period",
    "observation_end": "--observation-end",
    "calibration_end": "--calibration-end",
    "horizon": "--horizon",
    "discount_rate": "--discount-rate",
    "margin": "--margin",
    "currency": "--currency",
}

_QUOTED = r"""(?:'[^'\n]*'|"[^"\n]*")"""
_API_ADVICE = re.compile(
    r"\b(" + "|".join(sorted(API_OPTIONS, key=len, reverse=True)) + r")="
    + r"(" + _QUOTED + r"(?:(?:, | or |/)" + _QUOTED + r")*|\w[\w.+-]*)?"
)


#: Settings the messages may name bare ("after calibration_end 2023-11-15"): snake_case
#: names that cannot be ordinary words or column names.
_BARE_SETTINGS = re.compile(
    r"\b(calibration_end|observation_end|time_unit|merge_period|date_format|discount_rate|"
    r"negative_amounts|zero_amounts|sheet_name)\b(?!=)"
)


def _cli_words(message: str) -> str:
    """Rewrite the library's keyword-argument advice as command-line options.

    ``"pass duplicates='drop' to remove"`` -> ``"pass --duplicates drop to remove"``;
    ``"negative_amounts='net', 'drop' or 'keep'"`` -> ``"--returns net, drop or keep"``;
    a bare ``timezone=`` -> ``--timezone``.
    """

    def repl(m: re.Match[str]) -> str:
        flag = API_OPTIONS[m.group(1)]
        values = m.group(2)
        if not values:
            return flag
        if values[0] not in "'\"":
            return f"{flag} {values}"
        return f"{flag} " + re.sub(_QUOTED, lambda q: _bare(q.group()[1:-1]), values)

    message = _API_ADVICE.sub(repl, message)
    return _BARE_SETTINGS.sub(lambda m: API_OPTIONS[m.group(1)], message)


def _bare(value: str) -> str:
    """Write a value as typed in a shell: quoted only if it holds spaces or shell characters."""
    return value if re.fullmatch(r"[\w.:/%+-]+", value) else "'" + value.replace("'", "") + "'"


def _is_model_limit(exc: BaseException) -> bool:
    """Tell whether a model could not make a finite prediction (no input error, no bug)."""
    from clvlab.exceptions import PredictionError

    return isinstance(exc, PredictionError)


def _cli_hint(message: str) -> str:
    """Extra command-line advice for messages about the input's columns and format."""
    hints = []
    if "--date-format" in message:
        hints.append("--date-format '%d/%m/%Y' (strftime codes), or --date-format dayfirst")
    if "--decimal" in message:
        hints.append("--decimal ',' (decimal comma) or --decimal '.'")
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
            message = _cli_words(str(exc) or name)
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
_COMMAND_ONLY_OPTIONS = frozenset(
    {"model", "output", "no_report", "quiet", "debug", "engine", "spark_master", "spark_conf"}
)


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
    sheet: str | None = None
    returns: str = "net"
    zero_amounts: str = "keep"
    duplicates: str = "auto"
    timezone: str = "UTC"
    currency: str | None = None
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
    refit: bool = True
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

    def predict_path(self) -> Path:
        """Default file of clvlab predict: named after the input file."""
        stem = self.input.name.split(".")[0] if self.input is not None else "cdnow"
        base = self.out if self.out is not None else Path(".")
        return base / DEFAULT_FILES["predict_csv"].format(input=stem or "input")

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
        """Fail on a bad horizon, rate, margin, interval or currency before the long steps."""
        self.resolved_discount_rate(unit)
        self.resolved_horizon(unit)
        self.check_margin()
        self.interval_level()
        self.checked_currency()

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

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments of ``load_transactions`` from the data-policy options (checked)."""
        for option, value in (("--returns", self.returns), ("--zero-amounts", self.zero_amounts),
                              ("--duplicates", self.duplicates)):
            allowed = DATA_POLICIES[option]
            if value not in allowed:
                raise ValueError(
                    f"{option} must be one of {', '.join(allowed)}; got {value!r}. "
                    f"See clvlab run --help."
                )
        return {
            "negative_amounts": self.returns,
            "zero_amounts": self.zero_amounts,
            "duplicates": self.duplicates,
            "timezone": self.timezone,
        }

    def checked_currency(self) -> str | None:
        """``--currency`` as an ISO 4217 code; USD for the bundled CDNOW data by default."""
        from clvlab._money import check_currency

        code = check_currency(self.currency, "--currency")
        if code is None and self.input is None:
            return "USD"  # CDNOW amounts are US dollars
        return code

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

    def release_split(self) -> None:
        """Let the calibration/holdout table's rows go once nothing reads them again.

        ``split`` becomes its zero-row copy (same columns, dtypes and attrs; still not
        None when there is a holdout): its arrays, about 100 MiB at a million customers,
        are not held through scoring and the report.
        """
        if self.split is not None and len(self.split):
            attrs = dict(self.split.attrs)
            self.split = self.split.iloc[:0].copy()
            self.split.attrs = attrs


def _load(settings: _Settings, ui: _Ui) -> Any:
    import clvlab
    from clvlab.datasets import load_cdnow

    settings.checked_dates()
    policies = settings.load_options()
    with ui.step(f"Loading transactions ({settings.source_label})"):
        if settings.input is None:
            raw = load_cdnow(sample=settings.sample)
            tx = clvlab.load_transactions(raw, **policies)
            tx.attrs["source"] = settings.source_label
            ui.row_names = functools.partial(_bundled_lines, sample=settings.sample)
            for record in tx.attrs.get("data_quality", []):
                record["examples"] = [ui.row_names(str(e)) for e in record.get("examples", [])]
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
                sheet_name=0 if settings.sheet is None else settings.sheet,
                **policies,
            )
        for record in tx.attrs.get("data_quality", []):  # shown in the report and workbook
            record["action"] = _cli_words(str(record.get("action", "")))
    ui.note(f"{len(tx):,} transactions of {_n_customers(tx['customer_id']):,} customers")
    return tx


def _n_customers(ids: Any) -> int:
    """Distinct ids of a log from load_transactions (sorted by customer: count the runs).

    ``nunique`` would hash a million text ids (tens of MB the allocators keep).
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is None or arr.null_count or len(ids) < 2:
        return int(ids.nunique())
    import numpy as np

    from clvlab.validation import text_neighbours_differ

    chunk = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return 1 + int(np.count_nonzero(text_neighbours_differ(chunk)))


def _bundled_lines(text: str, *, sample: bool) -> str:
    """Name the bundled data's rows by their line in the file, not by a DataFrame index.

    ``load_cdnow`` keeps the file's order, so index ``i`` is line ``i + 2`` of
    CDNOW_master.txt (header line) or line ``i + 1`` of CDNOW_sample.txt (no header).
    """
    name, offset = ("CDNOW_sample.txt", 1) if sample else ("CDNOW_master.txt", 2)
    return re.sub(r"index label (\d+)",
                  lambda m: f"line {int(m.group(1)) + offset:,} of {name}", text)


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

        return describe(self.purchase, distributions=False).key

    @property
    def purchase_name(self) -> str:
        from clvlab.models.contract import describe

        return describe(self.purchase, distributions=False).name


def _fit(prep: _Prepared, settings: _Settings, ui: _Ui, *, compare: bool) -> _Models:
    """Fit the spend model, the baseline and the purchase model(s).

    With a holdout and ``compare`` (or ``--purchase-model auto``), every registered
    purchase model is fitted on the calibration period and compared on the holdout; the
    one named by ``--purchase-model`` (or, for ``auto``, the best) is used.
    """
    import clvlab
    from clvlab.models.contract import unsuited_data
    from clvlab.models.registry import get_model_class, registered

    choice = settings.checked_purchase_model()
    data = prep.split if prep.split is not None else prep.rfm
    period = "the calibration period" if prep.split is not None else "the whole log"
    if choice != AUTO and (unsuited := unsuited_data(get_model_class(choice), data)):
        raise ValueError(f"--purchase-model {choice}: {unsuited}")
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
        comparison._drop_customers(keep=key)  # the others' tracking and tables are kept
        return _Models(comparison.models[key], gg, base, comparison)
    cls = get_model_class(choice)
    with ui.step(f"Fitting {choice} on {period} ({len(data):,} customers)"):
        purchase = cls().fit(data)
    return _Models(purchase, gg, base)


def _refit(models: _Models, prep: _Prepared, settings: _Settings, ui: _Ui) -> _Models:
    """Fit the same models again, with the same options, on the whole log (the forecast).

    The holdout validated the modelling choice; the forecast then uses every purchase,
    including the holdout period's (standard practice; ``--no-refit`` keeps the
    calibration fits instead).
    """
    fitted = [m for m in (models.purchase, models.spend, models.baseline) if m is not None]
    refitted = []
    with ui.step(f"Refitting the models on the whole log ({len(prep.rfm):,} customers, to "
                 f"{prep.observation_end}) for the forecast", total=len(fitted)) as bar:
        for model in fitted:
            # a fresh model of the same kind and options (the contract: sklearn get_params)
            refitted.append(type(model)(**model.get_params()).fit(prep.rfm))
            bar.advance()
    purchase, spend, *rest = refitted
    new = dataclasses.replace(models, purchase=purchase, spend=spend,
                              baseline=rest[0] if rest else None)
    _record_training(new, prep, settings, full=True)
    return new


def _record_training(models: _Models, prep: _Prepared, settings: _Settings, *,
                     full: bool = False) -> None:
    """Note on each fitted model what it was fitted on (saved in its JSON file)."""
    import clvlab._columns as C

    calibration = prep.split is not None and not full
    data = prep.split if calibration else prep.rfm
    assert data is not None  # calibration implies a split
    start = str(prep.tx[C.DATE].min().date()) if len(prep.tx) else None
    period = {
        "period": "calibration" if calibration else "full",
        "start": start,
        "end": prep.calibration_end if calibration else prep.observation_end,
        "source": settings.source_label,
        "customers": int(len(data)),
    }
    for model in (models.purchase, models.spend, models.baseline):
        if model is not None:
            model.training_period_ = dict(period)


def describe_training(model: Any) -> str:
    """Say in words what a (saved) model was fitted on, from its ``training_period_``."""
    period = getattr(model, "training_period_", None)
    if not isinstance(period, dict):
        return "not recorded (saved without its fit period)"
    what = {"calibration": "the calibration period", "full": "the whole log"}.get(
        str(period.get("period")), str(period.get("period")))
    customers = period.get("customers")
    extra = ", ".join(str(x) for x in (
        f"{customers:,} customers" if isinstance(customers, int) else None,
        period.get("source")) if x)
    return (f"{what}, {period.get('start') or '?'} to {period.get('end') or '?'}"
            + (f" ({extra})" if extra else ""))


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


def _save_calibration_models(outcome: _Outcome, settings: _Settings, ui: _Ui
                             ) -> dict[str, Path]:
    """Save the holdout-validated calibration fits under ``OUT/models/calibration/``.

    Same file names as the forecast models in ``OUT/models/``; nothing when the forecast
    uses the calibration fits themselves (``--no-refit``, or no holdout).
    """
    models = outcome.calibration_models
    if models is None:
        return {}
    folder = (settings.out if settings.out is not None else Path(".")) / "models" / "calibration"
    named = [(models.purchase_key, models.purchase),
             ("gamma-gamma", models.spend), ("formula-baseline", models.baseline)]
    paths: dict[str, Path] = {}
    with ui.step("Saving the calibration (validation) models as JSON"):
        for name, model in named:
            if model is not None:
                path = folder / f"{name}.json"
                model.save(path)
                paths[f"{name} (validation)"] = path
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
    fitted_here: bool = True  # False: the models were loaded from files
    # the models validated on the holdout when ``models`` were refitted on the whole log
    calibration_models: _Models | None = None


def _pipeline(
    settings: _Settings,
    ui: _Ui,
    *,
    models: Literal["fit", "saved"],
    model_paths: list[Path] | None = None,
    evaluate: bool = False,
    score: bool = False,
    refit: bool = False,
    compare: bool = False,
) -> _Outcome:
    """Load -> RFM -> fit or load the models -> evaluate -> refit -> score (all optional).

    ``models="fit"`` fits them on the calibration period (else the whole log) in
    ``--time-unit``; ``models="saved"`` loads ``model_paths`` (default: the files under
    ``--out``) and works in their time unit. Horizon, discount rate and margin are
    checked before any long step when scoring. With ``compare`` (and a holdout) every
    registered purchase model is fitted and compared (see :func:`_fit`). With
    ``refit`` (and a holdout) the models validated on the holdout are kept as
    ``calibration_models`` and refitted on the whole log; those full-log fits
    score the customers (the forecast).
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
    if saved is None:
        _record_training(outcome.models, prep, settings)
    else:
        outcome.fitted_here = False
    if evaluate:
        outcome.evaluation = _evaluate(prep, outcome.models, settings, ui)
    prep.release_split()  # the fits and the evaluation were the last to read its rows
    if refit and saved is None and prep.split is not None:
        outcome.calibration_models = outcome.models
        outcome.models = _refit(outcome.models, prep, settings, ui)
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


def _all_parameters(outcome: _Outcome) -> dict[str, Any]:
    """Parameters of the forecast models and, after a refit, of the validated ones."""
    forecast = _parameters(outcome.models)
    if outcome.calibration_models is None:
        return forecast
    out = {f"{name} (whole log: forecast)": v for name, v in forecast.items()}
    out.update({f"{name} (calibration period: holdout validation)": v
                for name, v in _parameters(outcome.calibration_models).items()})
    return out


def _which_models(outcome: _Outcome) -> dict[str, str]:
    """Say which fits made the forecast and which were validated on the holdout."""
    forecast = describe_training(outcome.models.purchase)
    if outcome.calibration_models is not None:
        return {
            "models for the forecast": f"refitted on {forecast}",
            "models for the holdout validation": "fitted on "
            + describe_training(outcome.calibration_models.purchase),
        }
    if outcome.evaluation is not None:
        return {"models for the forecast and the holdout validation (--no-refit)":
                f"fitted on {forecast}"}
    return {"models for the forecast": f"fitted on {forecast}"}


def _metadata(outcome: _Outcome, settings: _Settings) -> dict[str, Any]:
    from clvlab import __version__
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
        **_which_models(outcome),
    }
    meta.update(ranges_metadata(attrs.get("intervals"), settings.checked_currency()))
    return meta


def ranges_metadata(intervals: dict[str, Any] | None, currency: str | None) -> dict[str, Any]:
    """Return the spreadsheet About entries on the prediction ranges (pandas and Spark runs).

    ``intervals`` is the scores' ``attrs["intervals"]`` (level, totals, or why skipped).
    """
    if intervals and (intervals.get("totals") or {}).get("clv"):
        from clvlab._money import Currency

        level = intervals["level"]
        clv = intervals["totals"]["clv"]
        money = Currency(currency)
        return {
            "interval_level": level,
            "ranges": (
                f"low/high columns: {level:.0%} predictive range -- the customer's purchases "
                f"(whole numbers, at least {level:.0%} likely) or CLV over the horizon falls "
                "in it with that probability, allowing for both the customer's own randomness "
                "and the uncertainty of the fitted models"),
            "total clv range": (
                f"{money.format(clv['lower'])} to {money.format(clv['upper'])} ({level:.0%}; "
                "the total's own range, not a sum of the customers' ranges)"),
        }
    if intervals and intervals.get("skipped"):
        return {"ranges": intervals["skipped"]}
    return {}


def _workbook_options(outcome: _Outcome, settings: _Settings) -> dict[str, Any]:
    """Keyword arguments of ``write_workbook`` (and ``_start_workbook``) for a run."""
    evaluation = outcome.evaluation
    return {
        "parameters": _all_parameters(outcome),
        "metrics": None if evaluation is None else evaluation.metrics,
        "deciles": None if evaluation is None else evaluation.deciles,
        "data_quality": outcome.prep.tx.attrs.get("data_quality", []),
        "metadata": _metadata(outcome, settings),
        "currency": settings.checked_currency(),
        "rank_by": "clv",
        "comparison": outcome.models.comparison,
    }


def _write_workbook(
    path: Path, outcome: _Outcome, settings: _Settings, progress: Any = None
) -> None:
    from clvlab.export import write_workbook

    write_workbook(path, outcome.scores, progress=progress,
                   **_workbook_options(outcome, settings))


def _write_exports(outcome: _Outcome, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    from clvlab.export import write_csv

    paths = {"xlsx": settings.path("xlsx"), "csv": settings.path("csv")}
    with ui.step("Writing the predictions CSV"):
        write_csv(paths["csv"], outcome.scores)
    steps = 7 + (outcome.models.comparison is not None)
    with ui.step(f"Writing the spreadsheet ({len(outcome.scores):,} rows)",
                 total=steps) as bar:
        _write_workbook(paths["xlsx"], outcome, settings, progress=bar)
    return paths


class _BackgroundExports:
    """The predictions CSV and the spreadsheet's customer rows, written in another thread.

    ``clvlab run`` starts them before building the report: with pyarrow their work
    (formatting numbers, joining text, deflating the XLSX) runs mostly outside the GIL, so
    it overlaps the report on a second core. Everything that checks the data, warns or
    prints runs in the calling thread -- the spreadsheet's other sheets are written by
    :meth:`start` -- so the messages and files are the same as when written in turn.
    :meth:`finish` waits for the thread, prints its steps and raises its error, if any.
    """

    def __init__(self, outcome: _Outcome, settings: _Settings, ui: _Ui) -> None:
        self.ui = ui
        self.paths = {"xlsx": settings.path("xlsx"), "csv": settings.path("csv")}
        self.n = len(outcome.scores)
        self.seconds: dict[str, float] = {}
        self.failure: list[BaseException] = []
        self.thread: threading.Thread | None = None
        self.outcome, self.settings = outcome, settings

    def start(self) -> None:
        from clvlab.export import _start_workbook, write_csv

        outcome, settings = self.outcome, self.settings
        scores = outcome.scores.copy(deep=False)  # its own caches; the report reads the other
        prepared: list[Callable[[], Path]] = []  # the spreadsheet's finish, once prepared
        ready = threading.Event()

        def work() -> None:
            try:
                t0 = time.perf_counter()
                write_csv(self.paths["csv"], scores)
                self.seconds["csv"] = time.perf_counter() - t0
                ready.wait()
                if not prepared:  # preparing the spreadsheet failed in the calling thread
                    return
                t1 = time.perf_counter()
                prepared[0]()
                self.seconds["xlsx"] = time.perf_counter() - t1
            except BaseException as exc:  # raised by finish() in the calling thread
                self.failure.append(exc)

        # the CSV is written while the spreadsheet's other sheets are prepared here
        self.thread = threading.Thread(target=work, name="clvlab-exports", daemon=True)
        self.thread.start()
        steps = 6 + (outcome.models.comparison is not None)
        try:
            with self.ui.step(f"Preparing the spreadsheet ({self.n:,} rows)", total=steps) as bar:
                prepared.append(_start_workbook(self.paths["xlsx"], outcome.scores,
                                                progress=bar,
                                                **_workbook_options(outcome, settings)))
        finally:
            ready.set()
            if not prepared:
                self.thread.join()  # no half-written CSV left behind by a failed start

    def wait(self) -> None:
        """Wait for the thread (used when the report failed: no half-written files)."""
        if self.thread is not None:
            self.thread.join()

    def finish(self) -> dict[str, Path]:
        assert self.thread is not None
        if self.thread.is_alive():
            with self.ui.step("Waiting for the CSV and spreadsheet writer"):
                self.thread.join()
        self.thread.join()
        if self.failure:
            raise self.failure[0]
        self.ui.done("Writing the predictions CSV (beside the report)", self.seconds["csv"])
        self.ui.done(f"Writing the spreadsheet rows ({self.n:,} rows, beside the report)",
                     self.seconds["xlsx"])
        return self.paths


def _write_report(outcome: _Outcome, settings: _Settings, ui: _Ui) -> dict[str, Path]:
    from clvlab import reporting

    prep, models = outcome.prep, outcome.models
    paths = {"report_html": settings.path("report_html"), "report_pdf": settings.path("report_pdf")}
    from clvlab.reporting.context import SECTION_IDS

    n_sections = len(SECTION_IDS) - (outcome.evaluation is None)
    with ui.step("Building the report", total=n_sections) as bar:
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
            currency=settings.checked_currency(),
            progress=bar,
            calibration_models=None if outcome.calibration_models is None else {
                "purchase": outcome.calibration_models.purchase,
                "spend": outcome.calibration_models.spend,
                "baseline": outcome.calibration_models.baseline,
            },
        )
    with ui.step("Writing the HTML report"):
        reporting.render_html(context, paths["report_html"])
    with ui.step("Writing the PDF report", total=len(context["sections"])) as bar:
        reporting.render_pdf(context, paths["report_pdf"], progress=bar)
    return paths


def _verdict_line(evaluation: Any) -> str:
    """``"BG/NBD + Gamma-Gamma: totals, RMSE, ...; baseline: MAE, Spearman"`` (or '')."""
    from clvlab import evaluation as E
    from clvlab.reporting import verdict as V

    metrics = evaluation.metrics
    cust = evaluation.customers
    if len(metrics.index) < 2 or E.BASELINE_PURCHASES not in cust.columns:
        return ""
    model, baseline = str(metrics.index[-2]), str(metrics.index[-1])
    total, impossible = V.baseline_log_score(cust[E.ACTUAL_PURCHASES], cust[E.BASELINE_PURCHASES])
    aspects = V.compare_forecasts(
        metrics, model, baseline, purchase_row=str(metrics.index[0]),
        log_scores=(evaluation.log_score, -math.inf if impossible else total))
    short = {"totals": "totals", "rmse": "RMSE", "mae": "MAE", "pearson": "Pearson",
             "spearman": "Spearman", "capture": "top-10% share", "log_score": "log score"}
    parts = []
    for side, name in (("model", model), ("baseline", "formula")):
        won = [short[a.key] for a in aspects if a.winner == side]
        if won:
            parts.append(f"{name}: {', '.join(won)}")
    return "; ".join(parts)


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

    from clvlab._money import Currency
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
    money = Currency(settings.checked_currency())
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
        money.format(scores[CLV].sum(), missing="n/a"),
    )
    totals = (attrs.get("intervals") or {}).get("totals") or {}
    if "clv" in totals:
        level = attrs["intervals"]["level"]
        clv_range = totals["clv"]
        headline.add_row(
            f"  {level:.0%} range",
            f"{money.format(clv_range['lower'])} to {money.format(clv_range['upper'])}",
        )
    base_total = scores[CLV_BASELINE].sum(min_count=1)
    headline.add_row("formula baseline CLV", money.format(base_total, missing="n/a"))
    hist_total = scores[HISTORICAL_SPEND].sum(min_count=1)
    headline.add_row("historical spend", money.format(hist_total, missing="n/a"))
    margin = float(attrs.get("margin", 1))
    headline.add_row(
        "discount rate per unit, margin",
        f"{attrs.get('discount_rate', 0):.6f}, {margin:g}"
        + (" (values are revenue)" if margin == 1 else " (values are profit)"),
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
        verdict = _verdict_line(evaluation)
        if verdict:
            headline.add_row("holdout: better on", verdict)
    elif outcome.fitted_here:
        headline.add_row("holdout", "none (no --calibration-end: nothing to check against)")
    headline.add_row("purchase model fitted on", describe_training(outcome.models.purchase))
    if outcome.calibration_models is not None:
        headline.add_row("holdout check used the fit on",
                         describe_training(outcome.calibration_models.purchase))
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
            money.format(row["total_clv"]),
            ""
            if math.isnan(row["mean_probability_alive"])
            else f"{row['mean_probability_alive']:.2f}",
        )
    out.print(table)
    out.print("[bold]Files[/bold]")
    width = max((len(k) for k in files), default=0)
    for key, path in files.items():
        out.print(f"  {key:<{width}} {path}")


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
SheetOpt = Annotated[
    str | None,
    typer.Option("--sheet", help="Sheet of an XLSX workbook, by name [default: the first]."),
]
ReturnsOpt = Annotated[
    str,
    typer.Option(
        "--returns",
        "--negative-amounts",
        help="Negative amounts (returns): net (subtract each from the customer's matching "
        "earlier purchase), drop, keep or raise (stop with an error).",
    ),
]
ZeroAmountsOpt = Annotated[
    str,
    typer.Option(
        "--zero-amounts",
        help="Zero amounts: keep (a free order is still a purchase), drop or raise.",
    ),
]
DuplicatesOpt = Annotated[
    str,
    typer.Option(
        "--duplicates",
        help="Rows with the same customer, date and amount: auto (drop them when dates carry "
        "a time of day, keep them when dates are days), drop, keep or raise.",
    ),
]
TimezoneOpt = Annotated[
    str,
    typer.Option(
        "--timezone",
        help="Time zone that dates with a UTC offset are converted to (e.g. Europe/Paris); "
        "dates without one are taken as they are.",
    ),
]
CurrencyOpt = Annotated[
    str | None,
    typer.Option(
        "--currency",
        help="ISO 4217 code of the amounts (EUR, USD, GBP, JPY ...): the report and the "
        "spreadsheet show its symbol [default: USD for the bundled data, else none].",
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
CalEndRfmOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="Last day of a calibration period (YYYY-MM-DD): write the calibration table "
        "with each customer's purchases after it (frequency_holdout ...) instead of the "
        "plain RFM summary.",
    ),
]
CalEndFitOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="Fit on the purchases up to this day only (YYYY-MM-DD), e.g. to check the "
        "saved models later with clvlab report [default: fit on the whole log].",
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


def _show_version(value: bool) -> None:
    if value:
        from clvlab import __version__

        typer.echo(f"clvlab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the clvlab version and exit.",
                     callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """Customer-lifetime value from a transaction log (see each command's --help)."""


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
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    currency: CurrencyOpt = None,
    discount_rate: DiscountOpt = None,
    annual_discount_rate: AnnualDiscountOpt = None,
    margin: MarginOpt = 1.0,
    purchase_model: PurchaseModelOpt = DEFAULT_PURCHASE_MODEL,
    interval: IntervalOpt = 0.8,
    out: OutOpt = None,
    refit: Annotated[
        bool,
        typer.Option(
            "--refit/--no-refit",
            help="With a holdout: validate the models fitted on the calibration period, then "
            "refit them on the whole log for the forecast (saved under OUT/models; the "
            "validated fits under OUT/models/calibration). --no-refit forecasts with the "
            "calibration fits.",
        ),
    ] = True,
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
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="A Spark setting KEY=VALUE with --engine spark, repeatable, e.g. "
            "spark.driver.memory=8g (local mode's default driver is 2g).",
        ),
    ] = None,
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
    if engine not in ("pandas", "spark"):
        raise ValueError(f"--engine must be pandas or spark; got {engine!r}.")
    if engine == "spark":
        from clvlab.spark._run import run_spark

        conf = _spark_settings(spark_conf or [])
        with _show_warnings(ui):
            run_spark(settings, ui, master=spark_master, no_report=no_report, conf=conf)
        return
    if spark_master is not None:
        raise ValueError("--spark-master applies to --engine spark only.")
    if spark_conf:
        raise ValueError("--spark-conf applies to --engine spark only.")
    with _show_warnings(ui):
        outcome = _pipeline(settings, ui, models="fit", evaluate=True, score=True,
                            compare=True, refit=settings.refit)
        files: dict[str, Path] = {}
        exports = _BackgroundExports(outcome, settings, ui)
        exports.start()
        try:
            if not no_report:
                files.update(_write_report(outcome, settings, ui))
        except BaseException:
            exports.wait()
            raise
        files.update(exports.finish())
        files.update(_save_models(outcome.models, settings, ui))
        files.update(_save_calibration_models(outcome, settings, ui))
    _summary(ui, outcome, files, settings)


def _spark_settings(values: list[str]) -> dict[str, str]:
    """``--spark-conf`` values ``KEY=VALUE`` as a mapping (a bad one is an error)."""
    conf: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        key, setting = key.strip(), setting.strip()
        if not sep or not key.startswith("spark.") or not setting:
            raise ValueError(
                "--spark-conf takes one Spark setting as KEY=VALUE with a key starting "
                f"with 'spark.', e.g. spark.driver.memory=8g; got {value!r}."
            )
        if key in conf and conf[key] != setting:
            raise ValueError(f"--spark-conf sets {key} twice ({conf[key]!r} and {setting!r}); "
                             "give it once.")
        conf[key] = setting
    return conf


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
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndRfmOpt = None,
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
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndFitOpt = None,
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
            help="File to write: .csv or .xlsx [default: OUT/reports/predictions-INPUT.csv, "
            "named after the input file, so run's outputs are never overwritten].",
        ),
    ] = None,
    customer_id: CustomerIdOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    date_format: DateFormatOpt = None,
    sep: SepOpt = None,
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    currency: CurrencyOpt = None,
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
        path = output or settings.predict_path()
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
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    currency: CurrencyOpt = None,
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
    sheet: SheetOpt = None,
    returns: ReturnsOpt = "net",
    zero_amounts: ZeroAmountsOpt = "keep",
    duplicates: DuplicatesOpt = "auto",
    timezone: TimezoneOpt = "UTC",
    time_unit: TimeUnitOpt = None,
    merge_period: MergeOpt = "D",
    calibration_end: CalEndOpt = None,
    observation_end: ObsEndOpt = None,
    horizon: HorizonOpt = None,
    currency: CurrencyOpt = None,
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
    """Run the ``clvlab`` command with ``argv`` (default: the process's arguments).

    The console script enters through :func:`clvlab._console.main`, which sets up the
    process first (one malloc heap, a calmer garbage collector) and then calls this.
    """
    app(args=argv, prog_name="clvlab")


if __name__ == "__main__":  # pragma: no cover
    main()
