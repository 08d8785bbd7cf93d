"""``clvlab run --engine spark``: the whole job on Spark, outputs from small aggregates.

Load -> RFM (whole window and calibration/holdout from one shuffle, kept on disk) ->
fit every model from counted distinct rows -> evaluate (Spark aggregates) -> score every
customer (mapInPandas) -> write the predictions as Parquet and CSV part files -> report,
spreadsheet and summary from aggregates -> models as JSON. Nothing the size of the
customer base is collected on the driver, except the spreadsheet's predictions when they
fit one sheet and, for the report's holdout check of the prediction ranges, up to 50,000
customers of the split.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from clvlab import _columns as C
from clvlab.models.contract import describe
from clvlab.models.registry import get_model_class, registered
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = ["run_spark", "write_spreadsheet", "SPARK_FILES", "XLSX_TOP_ROWS"]

#: Output paths of the Spark engine that differ from the pandas path's (under --out).
SPARK_FILES = {
    "parquet": "reports/clv-predictions.parquet",
    "csv_parts": "reports/clv-predictions-csv",
}
#: Customers listed in the spreadsheet when all of them do not fit one sheet.
XLSX_TOP_ROWS = 100_000
_TOP_N = 20
_PYSPARK_PANDAS_NOTE = "PySpark does not yet fully support pandas"
_AUTO = "auto"


@dataclasses.dataclass
class _SparkOutcome:
    """What the Spark pipeline computed (small results only)."""

    models: dict[str, Any]
    evaluation: Any
    totals: dict[str, float]
    segments: pd.DataFrame
    thresholds: dict[str, Any]
    top: pd.DataFrame
    facts: dict[str, Any]
    files: dict[str, Path]
    calibration_models: dict[str, Any] | None = None
    choice: Any = None  # clvlab.spark._compare.SparkModelChoice (auto)
    ranges: dict[str, Any] | None = None  # scores_attrs(scores)["intervals"] (--interval)
    holdout_check: dict[str, Any] | None = None  # clvlab.spark._intervals.holdout_ranges
    holdout_fan: pd.DataFrame | None = None
    holdout_ranges_note: str = ""


def _load(spark: Any, settings: Any, ui: Any) -> DataFrame:
    import clvlab
    from clvlab.spark._rfm import read_transactions

    with ui.step(f"Reading transactions ({settings.source_label}) into Spark"):
        if settings.input is None:
            from clvlab.datasets import load_cdnow

            if settings.sample:
                raw = load_cdnow(sample=True)
            else:
                raw = load_cdnow()
            tx = clvlab.load_transactions(raw)
            return spark.createDataFrame(tx[[C.CUSTOMER_ID, C.DATE, C.AMOUNT]].reset_index(
                drop=True))
        if settings.sample:
            raise ValueError(
                "--sample applies to the bundled CDNOW data only; drop it or the input file."
            )
        return read_transactions(
            spark, settings.input, customer_id=settings.customer_id, date=settings.date,
            amount=settings.amount, date_format=settings.date_format, sep=settings.sep,
        )


def _totals(scores: DataFrame) -> dict[str, float]:
    from clvlab.scoring import CLV, CLV_BASELINE, HISTORICAL_SPEND

    def finite(name: str) -> Any:
        col = F.col(name)
        return F.when(col.isNotNull() & ~F.isnan(col), col)

    row: Any = scores.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(finite(CLV)).alias("clv"),
        F.sum(finite(CLV_BASELINE)).alias("base"),
        F.sum(finite(HISTORICAL_SPEND)).alias("hist"),
        F.avg((F.col(C.FREQUENCY) > 0).cast("double")).alias("repeat"),
    ).first()

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    return {"n_customers": float(row["n"]), "total_clv": num(row["clv"]),
            "total_clv_baseline": num(row["base"]), "historical_spend": num(row["hist"]),
            "repeat_rate": num(row["repeat"])}


def _rfm_quantiles(rfm: DataFrame, units: str) -> pd.DataFrame:
    probs = [0.25, 0.5, 0.75, 0.9]
    specs = [
        (C.FREQUENCY, "Frequency (repeat purchases)", False),
        (C.RECENCY, f"Recency ({units}, repeat buyers)", True),
        (C.T, f"Age T ({units})", False),
        (C.MONETARY_VALUE, "Mean repeat-purchase value", True),
        (C.TOTAL_SPEND, "Total spend", False),
    ]
    out = {}
    for repeat_only in (False, True):
        chosen = [s for s in specs if s[2] == repeat_only and s[0] in rfm.columns]
        frame = rfm.filter(F.col(C.FREQUENCY) > 0) if repeat_only else rfm
        aggs = [F.count(F.lit(1)).alias("n")]
        for col, _, _ in chosen:
            aggs += [F.avg(col).alias(f"{col}_mean"), F.max(col).alias(f"{col}_max"),
                     F.percentile_approx(col, probs, 1000).alias(f"{col}_q")]
        row: Any = frame.agg(*aggs).first()
        for col, label, _ in chosen:
            qs = row[f"{col}_q"] or [math.nan] * 4
            out[label] = {"n": row["n"], "mean": row[f"{col}_mean"], "q25": qs[0],
                          "median": qs[1], "q75": qs[2], "q90": qs[3], "max": row[f"{col}_max"]}
    order = [label for _, label, _ in specs if label in out]
    return pd.DataFrame.from_dict(out, orient="index").loc[order].astype(float)


def _clv_histogram(scores: DataFrame) -> pd.DataFrame:
    from clvlab.scoring import CLV
    from clvlab.spark._fit import to_pandas

    clv = F.col(CLV)
    positive = scores.filter(clv > 0)
    bins = to_pandas(positive.groupBy(F.floor(F.log10(clv) * 10).alias("b")).count())
    bins = bins.sort_values("b")
    lower = 10 ** (bins["b"].to_numpy(dtype=float) / 10)
    hist = pd.DataFrame({"lower": lower, "upper": lower * 10 ** 0.1,
                         "count": bins["count"].to_numpy(dtype=float)})
    hist.attrs["n_zero"] = int(scores.filter(clv == 0).count())
    return hist


def _csv_column(name: str) -> Any:
    from clvlab.export import FORMULA_TRIGGERS, SAFE_PREFIX

    col = F.col(name)
    first = F.substring(col, 1, 1)
    return F.when(first.isin(list(FORMULA_TRIGGERS)), F.concat(F.lit(SAFE_PREFIX), col)) \
        .otherwise(col).alias(name)


def _purchase_key(settings: Any) -> str:
    """``--purchase-model``, checked (``auto`` needs a holdout: ``--calibration-end``)."""
    checked = getattr(settings, "checked_purchase_model", None)
    key = checked() if callable(checked) else (getattr(settings, "purchase_model", None)
                                               or "bgnbd")
    if key != _AUTO and key not in registered("purchase"):
        raise ValueError(
            f"--purchase-model {key} is not a registered purchase model; name one of "
            f"{', '.join(registered('purchase'))} or {_AUTO}."
        )
    return str(key)


def run_spark(settings: Any, ui: Any, *, master: str | None, no_report: bool,
              conf: dict[str, str] | None = None) -> None:
    """Run the pipeline on Spark (the ``--engine spark`` branch of ``clvlab run``).

    Parameters
    ----------
    settings : clvlab.cli._Settings
        The command's options.
    ui : clvlab.cli._Ui
        Progress and summary output.
    master : str, optional
        Spark master URL (``--spark-master``); default the active session, else local.
    no_report : bool
        Skip the HTML/PDF report.
    conf : dict, optional
        Spark settings (``--spark-conf``); they override clvlab's defaults.
    """
    with warnings.catch_warnings():
        # PySpark's own notes about pandas 3 (version support, a deprecated keyword it
        # passes) are not about the user's data
        warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
        warnings.filterwarnings("ignore", message=_PYSPARK_PANDAS_NOTE)
        _run(settings, ui, master=master, no_report=no_report, conf=conf or {})


def _run(settings: Any, ui: Any, *, master: str | None, no_report: bool,
         conf: dict[str, str]) -> None:
    from clvlab.export import XLSX_MAX_ROWS
    from clvlab.models.contract import fit_columns
    from clvlab.spark._evaluation import evaluate
    from clvlab.spark._fit import count_rows, fit_counted, to_pandas
    from clvlab.spark._rfm import build_tables
    from clvlab.spark._scoring import score_customers, scores_attrs, segment_summary
    from clvlab.spark._session import session

    unit = settings.unit()
    settings.check_scoring_options(unit)
    horizon = settings.resolved_horizon(unit)
    rate = settings.resolved_discount_rate(unit)
    margin = settings.check_margin()
    key = _purchase_key(settings)
    level = settings.interval_level() if hasattr(settings, "interval_level") else None
    with ui.step("Starting Spark"):
        spark = session(master, config={"spark.ui.showConsoleProgress": "false", **conf})
    memory = spark.sparkContext.getConf().get("spark.driver.memory", "the cluster's default")
    engine = (f"Apache Spark {spark.version}, master {spark.sparkContext.master}, driver "
              f"memory {memory}")
    ui.note(engine)
    tx = _load(spark, settings, ui)
    with ui.step("Building the RFM summary and the calibration/holdout split (one shuffle)"):
        rfm, split, facts = build_tables(
            tx, time_unit=unit, merge_period=settings.merge_period,
            observation_end=settings.observation_end, calibration_end=settings.calibration_end,
        )
    n_customers = rfm.count()
    ui.note(f"{facts['n_transactions']:,} transactions of {n_customers:,} customers")
    data = split if split is not None else rfm
    period = "the calibration period" if split is not None else "the whole log"
    fit_counts: dict[str, int] = {}
    choice = None
    if key == _AUTO:
        from clvlab.spark._compare import choose_purchase_model

        keys = registered("purchase")
        with ui.step(f"Fitting and comparing {len(keys)} purchase models ({', '.join(keys)}) "
                     f"on {period} by holdout log predictive score, from counted rows"):
            if split is None:  # (the command checks this with its options)
                raise ValueError("--purchase-model auto chooses by the holdout log predictive "
                                 "score, which needs a holdout: give --calibration-end.")
            choice = choose_purchase_model(split, keys, time_unit=unit)
        key = choice.best
        fit_counts["model comparison"] = choice.n_rows
        ui.note(f"model comparison: {choice.n_rows:,} distinct rows reached the driver")
        ui.note(f"purchase model: {choice.names[key]} ({key}), chosen by the holdout log "
                f"predictive score. {choice.reason}")
        for note in choice.notes:
            ui.note(note)

    def fit_all(frame: DataFrame, where: str, training: dict[str, Any],
                purchase: Any = None) -> dict[str, Any]:
        # fresh models of the configured kinds, fitted from the distinct rows of ``frame``
        # (the purchase model comes already fitted from the comparison when auto chose it)
        fitted: dict[str, Any] = {}
        todo = [("purchase", get_model_class(key)()), ("spend", get_model_class("gg")()),
                ("baseline", get_model_class("baseline")())]
        if purchase is not None:
            fitted["purchase"] = purchase
            todo = todo[1:]
        # models that share their key columns (a purchase model and the baseline) are
        # fitted from one Spark aggregation: one scan of the table instead of one each
        means: dict[tuple[str, ...], list[str]] = {}
        sharing: dict[tuple[str, ...], int] = {}
        for _, model in todo:
            spec = fit_columns(model)
            means.setdefault(tuple(spec.keys), []).extend(spec.means)
            sharing[tuple(spec.keys)] = sharing.get(tuple(spec.keys), 0) + 1
        counted: dict[tuple[str, ...], Any] = {}
        for role, model in todo:
            name = describe(model).name
            spec = fit_columns(model)
            keys = tuple(spec.keys)
            with ui.step(f"Fitting {name} on {where} from counted rows"):
                if keys not in counted and sharing[keys] > 1:
                    counted[keys] = count_rows(frame, keys, means[keys])
                # a model with its own keys whose rows are too many for the driver
                # (Gamma-Gamma's) is fitted where they are, in Spark
                info = fit_counted(model, frame, unit, counted=counted.get(keys))
            fit_counts[name] = info.n_rows
            ui.note(info.note(name))
            fitted[role] = model
        training["customers"] = int(fitted["purchase"].n_customers_)
        for model in fitted.values():
            model.training_period_ = dict(training)
        return fitted

    def training(full: bool) -> dict[str, Any]:
        # what each model was fitted on (saved in its JSON, as the pandas path records)
        return {"period": "full" if full else "calibration", "start": facts.get("first_day"),
                "end": facts.get("observation_end" if full else "calibration_end"),
                "source": settings.source_label}

    models = fit_all(data, period, training(split is None),
                     None if choice is None else choice.best_model)
    calibration_models: dict[str, Any] | None = None
    evaluation = None
    holdout: tuple[Any, Any, str] = (None, None, "")
    if split is not None:
        with ui.step("Evaluating on the holdout period (Spark aggregates)"):
            evaluation = evaluate(split, models["purchase"], models["spend"], models["baseline"],
                                  margin=margin)
        if level is not None and not no_report:
            from clvlab.spark._intervals import holdout_ranges

            with ui.step(f"Checking the {level:.0%} ranges on the holdout (up to 50,000 "
                         "customers on the driver)"):
                try:
                    holdout = holdout_ranges(split, models["purchase"], models["spend"],
                                             evaluation, level, unit)
                except (ValueError, TypeError, NotImplementedError) as exc:
                    holdout = (None, None, f"The holdout check of the ranges failed: {exc}")
        if getattr(settings, "refit", True):
            # as the pandas path: the holdout validated the choice; the forecast uses every
            # purchase, so the same models are fitted again on the whole log
            calibration_models = models
            models = fit_all(rfm, f"the whole log (to {facts.get('observation_end')}) for the "
                             "forecast", training(True))
    else:
        ui.note("no calibration end given: the models are fitted on everything and not "
                "evaluated (use --calibration-end DATE for a holdout check)")
    ranges_label = f" with {level:.0%} ranges" if level else ""
    with ui.step(f"Scoring {n_customers:,} customers{ranges_label} (mapInPandas)"):
        scores = score_customers(rfm, models["purchase"], models["spend"], models["baseline"],
                                 horizon=horizon, discount_rate=rate, margin=margin,
                                 interval=level)
        score_attrs = scores_attrs(scores)
        thresholds = score_attrs["segment_thresholds"]
        ranges = score_attrs.get("intervals")
    if ranges and ranges.get("skipped"):
        ui.note(str(ranges["skipped"]))
    files: dict[str, Path] = {}
    parquet = settings.path("csv").parent / Path(SPARK_FILES["parquet"]).name
    csv_parts = settings.path("csv").parent / Path(SPARK_FILES["csv_parts"]).name
    with ui.step("Writing the predictions (Parquet and CSV parts)"):
        scores.write.mode("overwrite").parquet(str(parquet))
        (scores.select(*[_csv_column(c) if c in (C.CUSTOMER_ID, "segment") else F.col(c)
                         for c in scores.columns])
         .write.mode("overwrite").option("header", True).csv(str(csv_parts)))
    files["parquet"], files["csv_parts"] = parquet, csv_parts
    with ui.step("Aggregating for the report"):
        totals = _totals(scores)
        segments = segment_summary(scores)
        top = to_pandas(scores.orderBy(F.desc("clv"), F.asc(C.CUSTOMER_ID)).limit(_TOP_N))
        top = top.set_index(C.CUSTOMER_ID)
    facts.update({
        "source": settings.source_label, "spark": engine, "fit_rows": fit_counts,
        "predictions": f"{parquet} (Parquet) and {csv_parts} (CSV parts)",
    })
    outcome = _SparkOutcome(models, evaluation, totals, segments, thresholds, top, facts,
                            files, calibration_models, choice, ranges, *holdout)
    if not no_report:
        files.update(_write_report(outcome, rfm, scores, settings, ui, unit, horizon, rate,
                                   margin))
    xlsx = settings.path("xlsx")
    parameters = {describe(m).name: m.summary for m in models.values()}
    meta = _metadata(outcome, settings, unit, horizon, rate, margin)
    data_quality = []
    if facts.get("n_transactions_after_end"):
        data_quality.append({
            "check": "after observation_end", "action": "excluded",
            "count": int(facts["n_transactions_after_end"]), "examples": []})
    n_sheet = XLSX_MAX_ROWS - 1
    label = (f"Writing the spreadsheet ({n_customers:,} rows)" if n_customers <= n_sheet
             else f"Writing the spreadsheet (summary sheets, top {XLSX_TOP_ROWS:,} customers)")
    with ui.step(label):
        write_spreadsheet(
            xlsx, scores, n_customers, parameters=parameters,
            metrics=None if evaluation is None else evaluation.metrics,
            deciles=None if evaluation is None else evaluation.deciles,
            data_quality=data_quality, metadata=meta,
            where=f"{parquet} (Parquet) and {csv_parts} (CSV part files)",
        )
    files["xlsx"] = xlsx
    with ui.step("Saving models as JSON"):
        for role, model in models.items():
            path = _model_path(settings, role, key)
            model.save(path)
            files[f"model_{role}"] = path
    if calibration_models is not None:
        folder = _model_path(settings, "purchase", key).parent / "calibration"
        with ui.step("Saving the calibration (validation) models as JSON"):
            for role, model in calibration_models.items():
                path = folder / _model_path(settings, role, key).name
                model.save(path)
                files[f"model_{role} (validation)"] = path
    _summary(ui, outcome, files, settings, unit, horizon, rate, margin)


def write_spreadsheet(
    path: Path,
    scores: DataFrame,
    n_customers: int,
    *,
    parameters: Any,
    metrics: Any,
    deciles: Any,
    data_quality: Any,
    metadata: dict[str, Any],
    where: str,
) -> Path:
    """Write the XLSX of a Spark run (every customer, or the top ones and a note).

    Every customer when they fit one sheet; else the top :data:`XLSX_TOP_ROWS` by CLV and
    a note on the About sheet saying ``where`` all of them are.
    """
    from clvlab import export
    from clvlab.spark._fit import to_pandas

    n_sheet = export.XLSX_MAX_ROWS - 1
    meta = dict(metadata)
    if n_customers <= n_sheet:
        table = to_pandas(scores).set_index(C.CUSTOMER_ID)
    else:
        table = to_pandas(scores.orderBy(F.desc("clv"), F.asc(C.CUSTOMER_ID))
                          .limit(XLSX_TOP_ROWS)).set_index(C.CUSTOMER_ID)
        meta["Note"] = (
            f"{n_customers:,} customers exceed the {n_sheet:,} rows one XLSX sheet holds; the "
            f"Predictions sheet lists the top {XLSX_TOP_ROWS:,} by CLV. All predictions are in "
            f"{where}."
        )
    return export.write_workbook(path, table, parameters=parameters, metrics=metrics,
                                 deciles=deciles, data_quality=data_quality, metadata=meta)


def _model_path(settings: Any, role: str, key: str) -> Path:
    """Where each model is saved: the pandas path's file names (by registry key)."""
    registry_key = {"spend": "gg", "baseline": "baseline"}.get(role, key)
    by_key = getattr(settings, "model_path", None)
    if callable(by_key):
        return Path(by_key(registry_key))
    legacy = {"gg": "gamma_gamma", "bgnbd": "bgnbd", "baseline": "baseline"}
    if registry_key in legacy:
        return Path(settings.path(legacy[registry_key]))
    return Path(settings.path("bgnbd")).parent / f"{registry_key}.json"


def _metadata(outcome: _SparkOutcome, settings: Any, unit: str, horizon: float, rate: float,
              margin: float) -> dict[str, Any]:
    from clvlab import __version__
    from clvlab._time import UNIT_NAMES
    from clvlab.cli import describe_training

    thr = outcome.thresholds
    meta = {
        "source": settings.source_label,
        "engine": outcome.facts.get("spark"),
        "time_unit": unit,
        "time unit": UNIT_NAMES[unit],
        "horizon": horizon,
        "discount_rate": rate,
        "margin": margin,
        "observation_end": outcome.facts.get("observation_end"),
        "calibration_end": outcome.facts.get("calibration_end") or "none (no holdout "
                                                                   "evaluation)",
        "segment rule": "no repeat purchase (frequency 0) = One-time buyers; for repeat "
        f"buyers, high value = CLV or historical spend in the top "
        f"{100 * (1 - (thr.get('value_quantiles') or [0.5, 0.8])[1]):.0f}% of all customers "
        f"(quantiles with rank error {thr.get('relative_error', 0):g} x customers); active = "
        f"P(alive) >= {thr.get('probability_alive', 0.5):g}",
        "purchase model choice": (
            "as requested (--purchase-model); no model comparison on Spark"
            if outcome.choice is None else f"--purchase-model auto: {outcome.choice.reason}"),
        "models for the forecast": describe_training(outcome.models["purchase"]),
        "models for the holdout check": "the same" if outcome.calibration_models is None
        else describe_training(outcome.calibration_models["purchase"]),
        "predictions": outcome.facts.get("predictions"),
        "clvlab_version": __version__,
    }
    from clvlab.cli import ranges_metadata

    meta.update(ranges_metadata(outcome.ranges, settings.checked_currency()))
    return meta


def _write_report(outcome: _SparkOutcome, rfm: DataFrame, scores: DataFrame, settings: Any,
                  ui: Any, unit: str, horizon: float, rate: float, margin: float
                  ) -> dict[str, Path]:
    from clvlab import reporting
    from clvlab._time import UNIT_NAMES
    from clvlab.clv import acquisition_cost_ceiling
    from clvlab.spark._report import SparkReportInputs, build_context

    paths = {"report_html": settings.path("report_html"),
             "report_pdf": settings.path("report_pdf")}
    m = outcome.models
    with ui.step("Building the report from aggregates"):
        try:
            ceiling = acquisition_cost_ceiling(m["purchase"], m["spend"], horizon, rate, margin)
        except (ValueError, TypeError, AttributeError):
            ceiling = math.nan
        notes = []
        if outcome.choice is not None:
            listed = ", ".join(f"{outcome.choice.names[k]} {outcome.choice.log_scores[k]:,.1f}"
                               for k in outcome.choice.ranking)
            notes.append(f"Purchase model chosen with --purchase-model auto: "
                         f"{outcome.choice.reason} Holdout log predictive scores: {listed}.")
        rel = outcome.thresholds.get("relative_error")
        if rel:
            notes.append(f"Segment quantiles: approximate, rank error at most {rel:g} x the "
                         "number of customers.")
        inputs = SparkReportInputs(
            purchase_model=m["purchase"], spend_model=m["spend"], baseline=m["baseline"],
            evaluation=outcome.evaluation, totals=outcome.totals, segments=outcome.segments,
            thresholds=outcome.thresholds, top=outcome.top,
            rfm_quantiles=_rfm_quantiles(rfm, UNIT_NAMES[unit]),
            clv_histogram=_clv_histogram(scores), facts=outcome.facts, unit=unit,
            horizon=horizon, discount_rate=rate, margin=margin,
            acquisition_cost_ceiling=ceiling, notes=notes, ranges=outcome.ranges,
            holdout_check=outcome.holdout_check, holdout_fan=outcome.holdout_fan,
            holdout_ranges_note=outcome.holdout_ranges_note,
        )
        context = build_context(inputs)
    with ui.step("Writing the HTML report"):
        reporting.render_html(context, paths["report_html"])
    with ui.step("Writing the PDF report"):
        reporting.render_pdf(context, paths["report_pdf"])
    return paths


def _summary(ui: Any, outcome: _SparkOutcome, files: dict[str, Path], settings: Any,
             unit: str, horizon: float, rate: float, margin: float) -> None:
    if ui.quiet:
        return
    from rich.table import Table

    from clvlab._money import Currency
    from clvlab._time import UNIT_NAMES
    from clvlab.cli import describe_training

    money = Currency(settings.checked_currency())
    out = ui.out
    t = outcome.totals
    out.print()
    out.print(f"[bold]clvlab[/bold] — {settings.source_label} (Spark)")
    headline = Table(show_header=False, box=None, pad_edge=False)
    headline.add_column(style="bold")
    headline.add_column(justify="right")
    headline.add_row("customers", f"{int(t['n_customers']):,}")
    headline.add_row(f"predicted CLV, next {horizon:g} {UNIT_NAMES[unit]}",
                     money.format(t["total_clv"], missing="n/a"))
    clv_range = ((outcome.ranges or {}).get("totals") or {}).get("clv")
    if clv_range:
        headline.add_row(f"  {outcome.ranges['level']:.0%} range",  # type: ignore[index]
                         f"{money.format(clv_range['lower'])} to "
                         f"{money.format(clv_range['upper'])}")
    base = t["total_clv_baseline"]
    headline.add_row("formula baseline CLV", money.format(base, missing="n/a"))
    hist = t["historical_spend"]
    headline.add_row("historical spend", money.format(hist, missing="n/a"))
    headline.add_row("discount rate per unit, margin", f"{rate:.6f}, {margin:g}")
    ev = outcome.evaluation
    if ev is not None:
        metrics = ev.metrics
        first = metrics.iloc[0]
        headline.add_row(f"holdout: aggregate purchases error ({metrics.index[0]})",
                         f"{first['purchases_aggregate_pct_error']:+.1f}%")
        headline.add_row("holdout: correlation of purchases", f"{first['purchases_pearson']:.3f}")
        for name, err in metrics["value_aggregate_pct_error"].items():
            if isinstance(err, float) and math.isfinite(err):
                headline.add_row(f"holdout: aggregate value error ({name})", f"{err:+.1f}%")
    else:
        headline.add_row("holdout", "none (fitted on everything)")
    if outcome.choice is not None:
        best = outcome.choice.best
        headline.add_row("purchase model (--purchase-model auto)",
                         f"{outcome.choice.names[best]} ({best})")
    headline.add_row("purchase model fitted on", describe_training(outcome.models["purchase"]))
    if outcome.calibration_models is not None:
        headline.add_row("holdout check used the fit on",
                         describe_training(outcome.calibration_models["purchase"]))
    out.print(headline)
    table = Table(title="Segments", title_justify="left")
    for col, justify in (("segment", "left"), ("customers", "right"), ("share", "right"),
                         ("total CLV", "right"), ("mean P(alive)", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, row in outcome.segments.iterrows():
        alive = row["mean_probability_alive"]
        table.add_row(str(name), f"{int(row['n_customers']):,}",
                      f"{row['share_customers']:.1%}", money.format(row["total_clv"]),
                      "" if math.isnan(alive) else f"{alive:.2f}")
    out.print(table)
    out.print("[bold]Files[/bold]")
    for name, path in files.items():
        out.print(f"  {name:<14} {path}")
