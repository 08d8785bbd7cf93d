"""Transaction log to RFM summary on Spark: the same definitions as :mod:`clvlab.rfm`.

The summary is the two steps of :mod:`clvlab.rfm`: a group-by aggregation, here in Spark
SQL, and the row-wise finish (:func:`clvlab.rfm.finish_summary`), here the *same* numpy
function run by a pandas UDF on Arrow batches of the aggregates. So frequency, recency
and T are computed by identical code from identical integers, and the spend columns
differ from the pandas path only by the order in which floating-point sums are added
(about 1e-16 relative; the parity tests hold every customer to 1e-9).

The aggregation shuffles the transactions once (partitioned by customer); purchases are
the distinct (customer, side, period) groups, where ``side`` separates calibration from
holdout, and one sorted window per customer gives the first period (for the spend of the
repeat purchases) and merges a period that straddles the calibration end (for the whole
window's summary). Every figure the pandas path warns about (transactions after the
window, customers acquired in the holdout) is counted in Spark and warned about the same
way; bad input raises the same errors with counts and example rows from Spark.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import (
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
    describe_offenders,
)
from clvlab.rfm import (
    _check_unit,
    _iso,
    _parse_day,
    finish_holdout,
    finish_summary,
    holdout_duration,
)
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import Column, DataFrame, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = [
    "read_transactions",
    "rfm_summary",
    "calibration_holdout",
    "rfm_attrs",
    "METADATA_KEY",
    "FIRST_PURCHASE_DAY",
    "REPEAT_PURCHASE_DAYS",
]

#: Key of the column metadata (on ``T``) that carries the summary's settings: Spark
#: DataFrames have no ``attrs``, so time unit, merge period and dates travel with the column
#: (and into Parquet files).
METADATA_KEY = "clvlab"

#: Tracking columns of a calibration/holdout frame built with ``tracking_columns=True``:
#: day (since 1970-01-01) of the first purchase, and days of every later purchase.
FIRST_PURCHASE_DAY = "first_purchase_day"
REPEAT_PURCHASE_DAYS = "repeat_purchase_days"

_N_EXAMPLES = 5
_DATE_TYPES = (T.DateType, T.TimestampType, T.TimestampNTZType)
# internal column names (never clash with user columns: the log is projected first)
_ID, _TS, _DAY, _AMOUNT, _PERIOD, _SIDE = "cid", "ts", "day", "amount", "period", "side"


# ======================================================================================
# reading files
# ======================================================================================
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")

# strftime code -> Spark datetime pattern (the codes load_transactions users write)
_STRFTIME = {
    "%Y": "yyyy", "%y": "yy", "%m": "MM", "%d": "dd", "%H": "HH", "%I": "hh", "%M": "mm",
    "%S": "ss", "%f": "SSSSSS", "%p": "a", "%b": "MMM", "%B": "MMMM", "%%": "%",
}


def _spark_pattern(date_format: str) -> str:
    """Translate a strftime format (``"%d/%m/%Y"``) to a Spark datetime pattern."""
    out, i = [], 0
    while i < len(date_format):
        ch = date_format[i]
        if ch == "%":
            code = date_format[i : i + 2]
            if code not in _STRFTIME:
                raise InvalidValueError(
                    f"date_format {date_format!r}: the code {code!r} has no Spark equivalent "
                    f"here (supported: {' '.join(sorted(_STRFTIME))}). Parse the column "
                    "yourself with pyspark.sql.functions.to_timestamp(col, pattern).",
                    column="date_format", rule="strftime codes",
                )
            out.append(_STRFTIME[code])
            i += 2
        elif ch.isalpha():
            out.append(f"'{ch}'")  # literal letters are quoted in Spark patterns
            i += 1
        else:
            out.append("''" if ch == "'" else ch)
            i += 1
    return "".join(out)


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    if path.is_dir():
        kinds = set()
        for child in path.rglob("*"):
            if child.is_file() and not child.name.startswith(("_", ".")):
                child_name = child.name.lower()
                if child_name.endswith(_PARQUET) or child_name.endswith(".snappy.parquet"):
                    kinds.add("parquet")
                elif child_name.endswith(_CSV):
                    kinds.add("csv")
        if len(kinds) == 1:
            return kinds.pop()
        what = "both Parquet and CSV files" if kinds else "no Parquet or CSV file"
        raise NotATableError(
            f"{path} holds {what}; point at a folder of one format (e.g. the part files "
            "Spark wrote) or name the format with format='parquet' or 'csv'.",
            rule="one table format",
        )
    raise NotATableError(
        f"{path.name}: the Spark engine reads Parquet ({', '.join(_PARQUET)}) and CSV "
        f"({', '.join(_CSV)}) files or folders of them. Convert other formats first.",
        rule="Parquet or CSV",
    )


def _read_parquet(spark: Any, path: str) -> tuple[DataFrame, bool]:
    """Read Parquet; nanosecond timestamps (pandas' default) are read as longs and flagged.

    Spark cannot read TIMESTAMP(NANOS) columns; with the session setting
    ``spark.sql.legacy.parquet.nanosAsLong=true`` (set here, only when needed) they come
    in as nanoseconds since the epoch and are converted without any time-zone shift.
    """
    from pyspark.errors import AnalysisException

    if _has_nanos(path):
        spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        return spark.read.parquet(path), True
    try:
        sdf = spark.read.parquet(path)
        sdf.schema  # noqa: B018 - reading the footers raises here for nanosecond columns
        return sdf, False
    except AnalysisException as exc:
        if "TIMESTAMP(NANOS" not in str(exc):
            raise
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    return spark.read.parquet(path), True


def _has_nanos(path: str) -> bool:
    """Whether a local Parquet file (or the first part of a folder) has nanosecond stamps."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the spark extra
        return False
    p = Path(path)
    if "://" in path or not p.exists():
        return False
    first = p if p.is_file() else next(
        (f for f in sorted(p.rglob("*")) if f.is_file() and f.name.lower().endswith(_PARQUET)
         and not f.name.startswith(("_", "."))), None)
    if first is None:
        return False
    try:
        schema = pq.read_schema(first)
    except (OSError, ValueError, pa.ArrowException):
        return False
    return any(pa.types.is_timestamp(f.type) and f.type.unit == "ns" for f in schema)


def _ntz_from_nanos(col: Column) -> Column:
    """TIMESTAMP_NTZ from nanoseconds since 1970-01-01 (wall clock, no time zone)."""
    ns_per_day = 86_400_000_000_000
    days = F.floor(col / ns_per_day)
    seconds = ((col - days * ns_per_day) / F.lit(1000)).cast("long").cast("decimal(18,0)")
    interval = F.make_dt_interval(days, F.lit(0), F.lit(0), seconds / F.lit(1_000_000))
    return F.lit("1970-01-01 00:00:00").cast("timestamp_ntz") + interval


def read_transactions(
    spark: Any,
    path: str | os.PathLike[str],
    *,
    customer_id: str = C.CUSTOMER_ID,
    date: str = C.DATE,
    amount: str = C.AMOUNT,
    date_format: str | None = None,
    sep: str | None = None,
    format: str | None = None,
) -> DataFrame:
    """Read a transaction log (Parquet or CSV, a file or a folder of parts) into Spark.

    Parameters
    ----------
    spark : SparkSession
        E.g. :func:`clvlab.spark.session`.
    path : path-like
        A ``.parquet``/``.csv`` file (``.csv.gz``, ``.tsv``, ``.txt`` too) or a folder
        of such files, on any file system Spark reads (``s3a://``, ``abfss://``, ...; a
        remote path needs ``format=``).
    customer_id, date, amount : str
        Names of the three columns in the file.
    date_format : str, optional
        strftime format of text dates (``"%d/%m/%Y"``); default: ISO dates and times.
        Dates already typed (Parquet DATE/TIMESTAMP) are used as they are.
    sep : str, optional
        Delimiter of a CSV file (default ``","``; ``"\\t"`` for ``.tsv``).
    format : {"parquet", "csv"}, optional
        Default: from the file name, or the files in the folder.

    Returns
    -------
    pyspark.sql.DataFrame
        Columns ``customer_id`` (string), ``date`` (DATE or TIMESTAMP as stored, or
        TIMESTAMP parsed from text) and ``amount`` (double); lazy -- the rows are
        checked by :func:`rfm_summary` / :func:`calibration_holdout`.

    Raises
    ------
    FileNotFoundError, NotATableError, MissingColumnsError
    InvalidValueError
        A text date or amount that does not parse (count and example rows given).

    Notes
    -----
    Unlike :func:`clvlab.load_transactions` this applies no load-time policies (netting
    returns, dropping exact duplicates, time-zone conversion): prepare the log in your
    ETL if it needs them; the RFM checks (missing ids, dates, non-finite amounts) apply.
    """
    remote = "://" in str(path)
    p = Path(path)
    if not remote and not p.exists():
        raise FileNotFoundError(f"No such input file or folder: {str(path)!r}.")
    kind = format or (None if remote else _file_kind(p))
    if kind not in ("parquet", "csv"):
        raise InvalidValueError(
            f"format must be 'parquet' or 'csv'; got {kind!r}.", column="format",
            rule="parquet or csv",
        )
    nanos = False
    if kind == "parquet":
        sdf, nanos = _read_parquet(spark, str(path))
    else:
        delim = sep if sep is not None else ("\t" if str(path).lower().endswith(
            (".tsv", ".tsv.gz")) else ",")
        sdf = (spark.read.option("header", True).option("sep", delim)
               .option("inferSchema", False).csv(str(path)))
    missing = [c for c in (customer_id, date, amount) if c not in sdf.columns]
    if missing:
        raise MissingColumnsError(
            f"{p.name} lacks column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(sdf.columns) or '(none)'}. Name them with customer_id=, date=, "
            "amount=.",
            column=missing[0], rule="required column",
        )
    fields = {f.name: f.dataType for f in sdf.schema.fields}
    raw_date, raw_amount = F.col(date), F.col(amount)
    date_col: Column = raw_date
    if nanos and isinstance(fields[date], T.LongType):
        date_col = _ntz_from_nanos(raw_date)
    elif not isinstance(fields[date], _DATE_TYPES):
        text = raw_date.cast("string")
        date_col = (F.try_to_timestamp(text, F.lit(_spark_pattern(date_format)))
                    if date_format else F.try_to_timestamp(text))
    amount_col: Column = raw_amount.cast("double")
    if isinstance(fields[amount], T.StringType):
        cleaned = F.regexp_replace(F.trim(raw_amount), r"^\+", "")
        amount_col = cleaned.try_cast("double")
    out = sdf.select(
        F.col(customer_id).cast("string").alias(C.CUSTOMER_ID),
        date_col.alias(C.DATE),
        amount_col.alias(C.AMOUNT),
        raw_date.cast("string").alias("_raw_date"),
        raw_amount.cast("string").alias("_raw_amount"),
    )
    checks = [
        (C.DATE, F.col(C.DATE).isNull() & F.col("_raw_date").isNotNull(), "_raw_date",
         "must be a date" + (f" in the format {date_format!r}" if date_format else
                             " (ISO, e.g. 1997-01-01 or 1997-01-01 10:30:00)"),
         "Give --date-format / date_format= (strftime codes) or fix these rows."),
        (C.AMOUNT, F.col(C.AMOUNT).isNull() & F.col("_raw_amount").isNotNull(), "_raw_amount",
         "must be a number", "Fix these rows (a plain number such as 12.50)."),
    ]
    parsed = not isinstance(fields[date], _DATE_TYPES) or isinstance(
        fields[amount], T.StringType)
    if not parsed:  # typed columns (Parquet): nothing to parse, nothing to check here
        return out.select(C.CUSTOMER_ID, C.DATE, C.AMOUNT)
    counts: Any = out.agg(*[F.sum(F.when(cond, 1).otherwise(0)).alias(name)
                       for name, cond, *_ in checks]).first()
    for name, cond, raw, rule, todo in checks:
        n_bad = int(counts[name] or 0)
        if n_bad:
            rows = out.filter(cond).select(C.CUSTOMER_ID, raw).limit(_N_EXAMPLES).collect()
            shown = ", ".join(f"customer {r[0]!r}: {r[1]!r}" for r in rows)
            raise InvalidValueError(
                f"Column {(date if name == C.DATE else amount)!r} {rule}; {n_bad:,} row(s) "
                f"do not parse ({shown}{' and more' if n_bad > len(rows) else ''}). {todo}",
                column=name, rule=rule, offenders=[r[0] for r in rows], n_offending=n_bad,
            )
    return out.select(C.CUSTOMER_ID, C.DATE, C.AMOUNT)


# ======================================================================================
# checks
# ======================================================================================
@dataclass
class _Scan:
    """What one pass over the log found."""

    n_rows: int
    min_day: int
    max_day: int
    n_after: int  # rows after the end day (0 when no end day given)


def _is_dataframe(obj: Any) -> bool:
    return isinstance(obj, DataFrame)


def _canonical(tx: Any) -> DataFrame:
    """Project the log to (cid, ts, day, amount), checking columns and types."""
    if not _is_dataframe(tx):
        raise NotATableError(
            "tx must be a Spark DataFrame of transactions with columns customer_id, date, "
            f"amount; got {type(tx).__name__}. Read files with clvlab.spark.read_transactions "
            "or convert a pandas log with spark.createDataFrame(tx).",
            rule="Spark DataFrame",
        )
    required = (C.CUSTOMER_ID, C.DATE, C.AMOUNT)
    missing = [c for c in required if c not in tx.columns]
    if missing:
        present = ", ".join(tx.columns) or "(none)"
        raise MissingColumnsError(
            f"transactions lack column(s) {', '.join(missing)}; columns present: {present}. "
            "Read the log with clvlab.spark.read_transactions(spark, path, customer_id=..., "
            "date=..., amount=...) or rename the columns.",
            column=missing[0],
            rule="required column",
        )
    fields = {f.name: f.dataType for f in tx.schema.fields}
    dtype = fields[C.DATE]
    if not isinstance(dtype, _DATE_TYPES):
        raise InvalidValueError(
            f"date must be a DATE or TIMESTAMP column; found {dtype.simpleString()}. Parse it "
            "with pyspark.sql.functions.to_timestamp(col, pattern), or read the file with "
            "clvlab.spark.read_transactions(..., date_format=...).",
            column=C.DATE,
            rule="DATE or TIMESTAMP",
        )
    atype = fields[C.AMOUNT]
    if not isinstance(atype, T.NumericType):
        raise InvalidValueError(
            f"amount must be numeric; found {atype.simpleString()}. Convert it with "
            "F.col('amount').try_cast('double') after fixing the offending entries.",
            column=C.AMOUNT,
            rule="numeric",
        )
    return tx.select(
        F.col(C.CUSTOMER_ID).cast("string").alias(_ID),
        F.col(C.DATE).alias(_TS),
        F.unix_date(F.to_date(F.col(C.DATE))).alias(_DAY),
        F.col(C.AMOUNT).cast("double").alias(_AMOUNT),
    )


def _bad_amount(col: Column) -> Column:
    return col.isNull() | F.isnan(col) | (F.abs(col) == float("inf"))


def _row_examples(log: DataFrame, cond: Column) -> list[str]:
    rows = log.filter(cond).select(_ID, _TS, _AMOUNT).limit(_N_EXAMPLES).collect()
    return [f"({r[0]!r}, {r[1]}, {r[2]})" for r in rows]


def _fail_rows(log: DataFrame, cond: Column, n_bad: int, column: str, rule: str,
               hint: str) -> None:
    examples = _row_examples(log, cond)
    raise InvalidValueError(
        f"{column}: {rule}; {n_bad:,} row(s) violate this (rows (customer_id, date, amount): "
        f"{describe_offenders(examples, n_bad)}). {hint}",
        column=column,
        rule=rule,
        offenders=examples,
        n_offending=n_bad,
    )


def _scan(log: DataFrame, end_day: int | None) -> _Scan:
    """One pass: row count, missing/invalid values (raising), first and last day."""
    id_null = F.col(_ID).isNull()
    day_null = F.col(_DAY).isNull()
    amount_bad = _bad_amount(F.col(_AMOUNT))
    aggs = [
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(id_null, 1).otherwise(0)).alias("id_null"),
        F.sum(F.when(day_null, 1).otherwise(0)).alias("day_null"),
        F.sum(F.when(amount_bad, 1).otherwise(0)).alias("amount_bad"),
        F.min(_DAY).alias("min_day"),
        F.max(_DAY).alias("max_day"),
    ]
    if end_day is not None:
        aggs.append(F.sum(F.when(F.col(_DAY) > end_day, 1).otherwise(0)).alias("after"))
    row: Any = log.agg(*aggs).first()
    if int(row["n"]) == 0:
        raise EmptyInputError(
            "transactions hold no rows; an RFM summary needs at least one transaction.",
            rule="at least one row",
        )
    if row["day_null"]:
        _fail_rows(log, day_null, int(row["day_null"]), C.DATE, "must not be missing (null)",
                   "Drop or repair these rows (clvlab.spark.read_transactions reports "
                   "unparseable text dates).")
    if row["amount_bad"]:
        _fail_rows(log, amount_bad, int(row["amount_bad"]), C.AMOUNT,
                   "must be finite (no null, NaN or infinity)",
                   "Drop or fill these rows before summarising.")
    if row["id_null"]:
        _fail_rows(log, id_null, int(row["id_null"]), C.CUSTOMER_ID, "must not be missing",
                   "Drop these rows or give them an id.")
    return _Scan(int(row["n"]), int(row["min_day"]), int(row["max_day"]),
                 int(row["after"] or 0) if end_day is not None else 0)


def _excluded_warning(log: DataFrame, scan: _Scan, end_day: int, what: str) -> None:
    """Warn (counted) about transactions after ``end_day`` and customers lost entirely."""
    if scan.n_after == 0:
        return
    lost = (log.groupBy(_ID).agg(F.min(_DAY).alias("first"))
            .filter(F.col("first") > end_day))
    counts: Any = lost.agg(F.count(F.lit(1)).alias("n")).first()
    n_lost = int(counts["n"])
    msg = (
        f"{scan.n_after} of {scan.n_rows} transactions are dated after {what} {_iso(end_day)} "
        "and were excluded from the summary"
    )
    if n_lost:
        ids = [r[0] for r in lost.select(_ID).orderBy(_ID).limit(_N_EXAMPLES).collect()]
        msg += (
            f"; {n_lost} customer(s) whose first purchase is after {what} are therefore not "
            f"in it (customer_id {describe_offenders(ids, n_lost)})"
        )
    msg += f". Pass a later {what} to keep them."
    warnings.warn(msg, DataQualityWarning, stacklevel=3)


# ======================================================================================
# aggregation (Spark SQL) + finish (shared numpy code in a pandas UDF)
# ======================================================================================
def _period(day: Column, merge_period: str) -> Column:
    """Ordinal of the merge period containing each calendar day (as clvlab.rfm)."""
    if merge_period == "D":
        return day.cast("long")
    if merge_period == "W":
        return F.floor((day + 3) / 7).cast("long")  # Mondays on multiples of 7
    d = F.date_from_unix_date(day)
    if merge_period == "M":
        return ((F.year(d) - 1970) * 12 + F.month(d) - 1).cast("long")
    return (F.year(d) - 1970).cast("long")


def _sum_where(cond: Column, value: Column | int) -> Column:
    """Sum of ``value`` over the rows where ``cond`` holds (0, not null, when none)."""
    zero = F.lit(0) if isinstance(value, int) else F.lit(0.0)
    return F.sum(F.when(cond, value).otherwise(zero))


def _customer_aggregates(
    log: DataFrame,
    merge_period: str,
    end_day: int,
    cal_day: int | None,
    tracking: bool,
) -> DataFrame:
    """Aggregate the rows per customer (one shuffle).

    One row per customer with the aggregates of the whole window and, with a ``cal_day``,
    of the calibration and holdout periods.
    """
    rows = log.filter(F.col(_DAY) <= end_day).withColumn(
        _PERIOD, _period(F.col(_DAY), merge_period))
    side = (F.col(_DAY) > cal_day).cast("int") if cal_day is not None else F.lit(0)
    rows = rows.withColumn(_SIDE, side).repartition(_ID)
    # purchases: distinct (customer, side, period); sides never merge (as clvlab.rfm)
    purchases = rows.groupBy(_ID, _SIDE, _PERIOD).agg(
        F.sum(_AMOUNT).alias("spend"),
        F.count(F.lit(1)).alias("n"),
        F.min(_TS).alias("ts_min"),
        F.max(_TS).alias("ts_max"),
        F.min(_DAY).alias("day_min"),
    )
    ordered = Window.partitionBy(_ID).orderBy(_PERIOD, _SIDE)
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    is_cal = F.col(_SIDE) == 0
    purchases = purchases.withColumn("first_all", F.min(_PERIOD).over(whole))
    if cal_day is not None:
        purchases = purchases.withColumn(
            "first_cal", F.min(F.when(is_cal, F.col(_PERIOD))).over(whole)
        ).withColumn(
            # a period straddling calibration_end is one purchase of the whole window
            "dup", F.coalesce(F.lag(_PERIOD).over(ordered) == F.col(_PERIOD), F.lit(False))
        )
        new_period = ~F.col("dup")
    else:
        new_period = F.lit(True)
    aggs = [
        _sum_where(new_period, 1).alias("n_purchases"),
        F.min(_PERIOD).alias("first_period"),
        F.max(_PERIOD).alias("last_period"),
        F.sum("spend").alias("total_spend"),
        _sum_where(F.col(_PERIOD) != F.col("first_all"), F.col("spend")).alias("repeat_spend"),
        F.sum("n").alias("n_rows"),
        F.min("ts_min").alias("first_raw"),
        F.max("ts_max").alias("last_raw"),
    ]
    if cal_day is not None:
        is_hold = F.col(_SIDE) == 1
        aggs += [
            _sum_where(is_cal, 1).alias("cal_n_purchases"),
            F.min(F.when(is_cal, F.col(_PERIOD))).alias("cal_first_period"),
            F.max(F.when(is_cal, F.col(_PERIOD))).alias("cal_last_period"),
            _sum_where(is_cal, F.col("spend")).alias("cal_total_spend"),
            _sum_where(is_cal & (F.col(_PERIOD) != F.col("first_cal")),
                       F.col("spend")).alias("cal_repeat_spend"),
            _sum_where(is_cal, F.col("n")).alias("cal_n_rows"),
            F.min(F.when(is_cal, F.col("ts_min"))).alias("cal_first_raw"),
            F.max(F.when(is_cal, F.col("ts_max"))).alias("cal_last_raw"),
            _sum_where(is_hold, 1).alias("hold_n_purchases"),
            _sum_where(is_hold, F.col("spend")).alias("hold_total_spend"),
            _sum_where(is_hold, F.col("n")).alias("hold_n_rows"),
        ]
        if tracking:
            first_cal_purchase = is_cal & (F.col(_PERIOD) == F.col("first_cal"))
            aggs += [
                F.min(F.when(is_cal, F.col("day_min"))).alias(FIRST_PURCHASE_DAY),
                F.sort_array(F.collect_list(F.when(~first_cal_purchase, F.col("day_min"))))
                .alias(REPEAT_PURCHASE_DAYS),
            ]
    return purchases.groupBy(_ID).agg(*aggs)


_FINISH_SCHEMA = T.StructType([
    T.StructField(C.FREQUENCY, T.DoubleType()),
    T.StructField(C.RECENCY, T.DoubleType()),
    T.StructField(C.T, T.DoubleType()),
    T.StructField(C.MONETARY_VALUE, T.DoubleType()),
])


def _finish_column(
    prefix: str, end_day: int, merge_period: str, time_unit: str, include_first: bool
) -> Column:
    """Struct column of the RFM finish, computed by :func:`clvlab.rfm.finish_summary`."""

    def finish(n: pd.Series, first: pd.Series, last: pd.Series, total: pd.Series,
               repeat: pd.Series) -> pd.DataFrame:
        out = finish_summary(
            n.to_numpy(dtype=np.int64), first.to_numpy(dtype=np.int64),
            last.to_numpy(dtype=np.int64), total.to_numpy(dtype=np.float64),
            repeat.to_numpy(dtype=np.float64), end_day, merge_period, time_unit,
            include_first,
        )
        return pd.DataFrame(out)

    udf = F.pandas_udf(finish, returnType=_FINISH_SCHEMA)  # type: ignore[call-overload]
    return udf(*(F.col(prefix + c) for c in (
        "n_purchases", "first_period", "last_period", "total_spend", "repeat_spend")))


_HOLDOUT_SCHEMA = T.StructType([
    T.StructField(C.FREQUENCY_HOLDOUT, T.DoubleType()),
    T.StructField(C.MONETARY_VALUE_HOLDOUT, T.DoubleType()),
])


def _holdout_column() -> Column:
    def finish(n: pd.Series, total: pd.Series) -> pd.DataFrame:
        return pd.DataFrame(finish_holdout(n.to_numpy(dtype=np.int64),
                                           total.to_numpy(dtype=np.float64)))

    udf = F.pandas_udf(finish, returnType=_HOLDOUT_SCHEMA)  # type: ignore[call-overload]
    return udf(F.col("hold_n_purchases"), F.col("hold_total_spend"))


def _with_metadata(col: Column, name: str, attrs: dict[str, Any]) -> Column:
    return col.alias(name, metadata={METADATA_KEY: attrs})


def _rfm_columns(prefix: str, struct: str, attrs: dict[str, Any]) -> list[Column]:
    """Select the RFM summary's columns, in clvlab.rfm's order, from the finished struct."""
    return [
        F.col(_ID).alias(C.CUSTOMER_ID),
        F.col(f"{struct}.{C.FREQUENCY}").alias(C.FREQUENCY),
        F.col(f"{struct}.{C.RECENCY}").alias(C.RECENCY),
        _with_metadata(F.col(f"{struct}.{C.T}"), C.T, attrs),
        F.col(f"{struct}.{C.MONETARY_VALUE}").alias(C.MONETARY_VALUE),
        F.col(prefix + "total_spend").alias(C.TOTAL_SPEND),
        F.col(prefix + "n_rows").alias(C.N_TRANSACTIONS),
        F.col(prefix + "first_raw").alias(C.FIRST_PURCHASE),
        F.col(prefix + "last_raw").alias(C.LAST_PURCHASE),
    ]


def rfm_attrs(sdf: DataFrame) -> dict[str, Any]:
    """Return the settings of an RFM frame from :func:`rfm_summary` / :func:`calibration_holdout`.

    Returns
    -------
    dict
        ``time_unit``, ``merge_period``, ``observation_end`` (ISO date),
        ``include_first_transaction`` and, for a split, ``calibration_end``; empty when
        the frame carries none (the ``T`` column's metadata holds them).
    """
    if not _is_dataframe(sdf) or C.T not in sdf.columns:
        return {}
    meta = sdf.schema[C.T].metadata or {}
    return dict(meta.get(METADATA_KEY, {}))


def _persist(sdf: DataFrame, storage_level: StorageLevel | None) -> DataFrame:
    if storage_level is None:
        return sdf
    sdf = sdf.persist(storage_level)
    sdf.count()  # materialise once: every later use reads the stored rows
    return sdf


# ======================================================================================
# public API
# ======================================================================================
@dataclass
class _Tables:
    """The per-customer table and the settings it was built with (for run)."""

    table: DataFrame
    scan: _Scan
    time_unit: str
    merge_period: str
    end_day: int
    cal_day: int | None


def _build(
    tx: Any,
    *,
    time_unit: str,
    merge_period: str,
    observation_end: Any,
    calibration_end: Any,
    include_first_transaction: bool,
    tracking: bool,
    storage_level: StorageLevel | None,
) -> _Tables:
    time_unit = _check_unit(time_unit, "time_unit")
    merge_period = _check_unit(merge_period, "merge_period")
    cal_day = None if calibration_end is None else _parse_day(calibration_end,
                                                                "calibration_end")
    end_day = None if observation_end is None else _parse_day(observation_end,
                                                                "observation_end")
    if cal_day is not None and end_day is not None and cal_day >= end_day:
        raise InvalidValueError(
            f"calibration_end ({_iso(cal_day)}) must be before observation_end "
            f"({_iso(end_day)}); the holdout period would be empty. Swap or correct the dates.",
            column="calibration_end",
            rule="calibration_end < observation_end",
        )
    log = _canonical(tx)
    scan = _scan(log, end_day)
    if end_day is None:
        end_day = scan.max_day
    if cal_day is None and scan.min_day > end_day:
        raise EmptyInputError(
            f"no transaction is on or before observation_end {_iso(end_day)} (the first is "
            f"on {_iso(scan.min_day)}). Pass a later observation_end.",
            column=C.DATE,
            rule="transactions before observation_end",
        )
    if cal_day is not None and scan.min_day > cal_day:
        raise EmptyInputError(
            f"no transaction is on or before calibration_end {_iso(cal_day)} (the first is on "
            f"{_iso(scan.min_day)}), so the calibration period has no customers. Pass a "
            "later calibration_end.",
            column=C.DATE,
            rule="transactions before calibration_end",
        )
    _excluded_warning(log, scan, end_day, "observation_end")
    table = _customer_aggregates(log, merge_period, end_day, cal_day, tracking)
    table = table.withColumn(
        "_rfm", _finish_column("", end_day, merge_period, time_unit, include_first_transaction)
    )
    if cal_day is not None:
        table = table.withColumn(
            "_cal", _finish_column("cal_", cal_day, merge_period, time_unit, False)
        ).withColumn("_hold", _holdout_column())
    return _Tables(_persist(table, storage_level), scan, time_unit, merge_period, end_day,
                   cal_day)


def _summary_frame(tables: _Tables, include_first: bool) -> DataFrame:
    attrs = {
        C.ATTR_TIME_UNIT: tables.time_unit,
        C.ATTR_MERGE_PERIOD: tables.merge_period,
        C.ATTR_OBSERVATION_END: _iso(tables.end_day),
        "include_first_transaction": bool(include_first),
    }
    return tables.table.select(*_rfm_columns("", "_rfm", attrs))


def _split_frame(tables: _Tables, tracking: bool) -> DataFrame:
    cal_day = tables.cal_day
    assert cal_day is not None
    attrs = {
        C.ATTR_TIME_UNIT: tables.time_unit,
        C.ATTR_MERGE_PERIOD: tables.merge_period,
        C.ATTR_OBSERVATION_END: _iso(tables.end_day),
        "include_first_transaction": False,
        C.ATTR_CALIBRATION_END: _iso(cal_day),
    }
    duration = holdout_duration(cal_day, tables.end_day, tables.merge_period,
                                tables.time_unit)
    cols = [
        *_rfm_columns("cal_", "_cal", attrs),
        F.col(f"_hold.{C.FREQUENCY_HOLDOUT}").alias(C.FREQUENCY_HOLDOUT),
        F.col(f"_hold.{C.MONETARY_VALUE_HOLDOUT}").alias(C.MONETARY_VALUE_HOLDOUT),
        F.lit(duration).alias(C.DURATION_HOLDOUT),
        F.col("hold_total_spend").alias(C.TOTAL_SPEND_HOLDOUT),
        F.col("hold_n_rows").alias(C.N_TRANSACTIONS_HOLDOUT),
    ]
    if tracking:
        cols += [F.col(FIRST_PURCHASE_DAY), F.col(REPEAT_PURCHASE_DAYS)]
    return tables.table.filter(F.col("cal_n_purchases") > 0).select(*cols)


def _new_customers_warning(tables: _Tables) -> None:
    """Warn about customers whose first purchase is in the holdout (as clvlab.rfm)."""
    assert tables.cal_day is not None
    new = tables.table.filter(F.col("cal_n_purchases") == 0)
    row: Any = new.agg(F.count(F.lit(1)).alias("n"),
                  F.coalesce(F.sum("hold_n_rows"), F.lit(0)).alias("rows")).first()
    n_new, n_rows = int(row["n"]), int(row["rows"])
    if not n_new:
        return
    ids = [r[0] for r in new.select(_ID).orderBy(_ID).limit(_N_EXAMPLES).collect()]
    warnings.warn(
        f"{n_new} customer(s) with {n_rows} holdout transaction(s) made their first purchase "
        f"after calibration_end {_iso(tables.cal_day)} and are not in the "
        f"calibration/holdout frame (customer_id {describe_offenders(ids, n_new)}). This is "
        "expected when customers keep being acquired; model them as a later cohort.",
        DataQualityWarning,
        stacklevel=3,
    )


def rfm_summary(
    tx: DataFrame,
    time_unit: str = "W",
    merge_period: str = "D",
    observation_end: Any = None,
    include_first_transaction: bool = False,
    *,
    storage_level: StorageLevel | None = StorageLevel.DISK_ONLY,
) -> DataFrame:
    """Summarise a Spark transaction log into one RFM row per customer.

    Same definitions, rules, errors and warnings as :func:`clvlab.rfm_summary` (see
    :mod:`clvlab.rfm`); the numbers agree with the pandas path to 1e-9 for every
    customer (frequency, recency and T exactly).

    Parameters
    ----------
    tx : pyspark.sql.DataFrame
        Columns ``customer_id`` (cast to string), ``date`` (DATE, TIMESTAMP_NTZ, or
        TIMESTAMP read in the session time zone) and ``amount`` (numeric); extra
        columns are ignored.
    time_unit, merge_period, observation_end, include_first_transaction
        As in :func:`clvlab.rfm_summary`.
    storage_level : pyspark.StorageLevel or None, default=StorageLevel.DISK_ONLY
        The summary is computed when this function runs and kept at this level, so
        fitting, scoring and evaluation read it without recomputing it; ``None`` returns
        it lazily (computed on each use). Free it with ``spark.catalog.clearCache()``.

    Returns
    -------
    pyspark.sql.DataFrame
        Columns ``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary_value``,
        ``total_spend``, ``n_transactions``, ``first_purchase``, ``last_purchase`` (no
        defined row order). The settings (time unit, merge period, observation end)
        are in the ``T`` column's metadata: :func:`rfm_attrs`.

    Raises
    ------
    MissingColumnsError, InvalidValueError, EmptyInputError, NotATableError
        With counts and example rows from Spark.
    """
    tables = _build(
        tx, time_unit=time_unit, merge_period=merge_period, observation_end=observation_end,
        calibration_end=None, include_first_transaction=include_first_transaction,
        tracking=False, storage_level=storage_level,
    )
    return _summary_frame(tables, include_first_transaction)


def calibration_holdout(
    tx: DataFrame,
    calibration_end: Any,
    observation_end: Any,
    time_unit: str = "W",
    merge_period: str = "D",
    *,
    tracking_columns: bool = False,
    storage_level: StorageLevel | None = StorageLevel.DISK_ONLY,
) -> DataFrame:
    """Split a Spark log at ``calibration_end``: calibration RFM plus holdout counts.

    Same definitions, rules, errors and warnings as :func:`clvlab.calibration_holdout`.

    Parameters
    ----------
    tx : pyspark.sql.DataFrame
        As for :func:`rfm_summary`.
    calibration_end, observation_end, time_unit, merge_period
        As in :func:`clvlab.calibration_holdout`.
    tracking_columns : bool, default=False
        Add ``first_purchase_day`` (days since 1970-01-01) and ``repeat_purchase_days``
        (array of the days of every later purchase) so :func:`clvlab.spark.evaluate` can
        compute the tracking series without the transactions.
    storage_level : pyspark.StorageLevel or None, default=StorageLevel.DISK_ONLY
        As in :func:`rfm_summary` (the warning about customers acquired in the holdout
        is counted on the stored rows).

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of :func:`rfm_summary` for the calibration period plus
        ``frequency_holdout``, ``monetary_value_holdout``, ``duration_holdout``,
        ``total_spend_holdout``, ``n_transactions_holdout``; settings (with
        ``calibration_end``) in :func:`rfm_attrs`.
    """
    if calibration_end is None or observation_end is None:
        raise InvalidValueError(
            "calibration_holdout needs both calibration_end and observation_end (dates).",
            column="calibration_end" if calibration_end is None else "observation_end",
            rule="date given",
        )
    tables = _build(
        tx, time_unit=time_unit, merge_period=merge_period, observation_end=observation_end,
        calibration_end=calibration_end, include_first_transaction=False,
        tracking=tracking_columns, storage_level=storage_level,
    )
    _new_customers_warning(tables)
    return _split_frame(tables, tracking_columns)


def build_tables(
    tx: DataFrame,
    *,
    time_unit: str,
    merge_period: str,
    observation_end: Any,
    calibration_end: Any,
    storage_level: StorageLevel | None = StorageLevel.DISK_ONLY,
) -> tuple[DataFrame, DataFrame | None, dict[str, Any]]:
    """Build the whole-window RFM and the split with tracking columns from one shuffle.

    This is what ``clvlab run --engine spark`` uses; the split only with a calibration end.

    Returns
    -------
    (rfm, split or None, facts)
        ``facts``: ``n_transactions`` (rows read), ``first_day``, ``last_day`` (ISO),
        ``observation_end``, ``calibration_end``.
    """
    tables = _build(
        tx, time_unit=time_unit, merge_period=merge_period, observation_end=observation_end,
        calibration_end=calibration_end, include_first_transaction=False,
        tracking=calibration_end is not None, storage_level=storage_level,
    )
    split = None
    if tables.cal_day is not None:
        _new_customers_warning(tables)
        split = _split_frame(tables, tracking=True)
    facts = {
        "n_transactions": tables.scan.n_rows,
        "n_transactions_after_end": tables.scan.n_after,
        "first_day": _iso(tables.scan.min_day),
        "last_day": _iso(tables.scan.max_day),
        "observation_end": _iso(tables.end_day),
        "calibration_end": None if tables.cal_day is None else _iso(tables.cal_day),
    }
    return _summary_frame(tables, False), split, facts


def check_rfm(sdf: Any, require: Sequence[str], *, model: str = "the model") -> DataFrame:
    """Check a Spark RFM frame with the rules of :func:`clvlab.validate_rfm` (one scan).

    Rules, for the columns in ``require``: present; numeric; finite; non-negative;
    ``frequency`` whole; ``recency <= T``; ``recency == 0`` when ``frequency == 0``. The
    uniqueness of ``customer_id`` is not re-checked here (it would cost a shuffle;
    :func:`rfm_summary` guarantees it).

    Raises
    ------
    MissingColumnsError, InvalidValueError, EmptyInputError
        Counts and the first offending customer ids, as the pandas rules.
    """
    if not _is_dataframe(sdf):
        raise TypeError(
            f"RFM data must be a Spark DataFrame (clvlab.spark.rfm_summary); got "
            f"{type(sdf).__name__}."
        )
    require = tuple(require)
    missing = [c for c in (C.CUSTOMER_ID, *require) if c not in sdf.columns]
    if missing:
        raise MissingColumnsError(
            f"RFM data lack column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(sdf.columns) or '(none)'}. Build the summary with "
            "clvlab.spark.rfm_summary.",
            column=missing[0], rule="required column",
        )
    fields = {f.name: f.dataType for f in sdf.schema.fields}
    for col in require:
        if not isinstance(fields[col], T.NumericType):
            raise InvalidValueError(
                f"{col} must be numeric; found {fields[col].simpleString()}.",
                column=col, rule="numeric",
            )
    rules: list[tuple[str, Column, str, str]] = []
    for col in require:
        c = F.col(col).cast("double")
        rules.append((col, _bad_amount(c), "must be finite (no NaN or infinity)",
                      f"Drop or fill these customers before using {model}."))
        rules.append((col, c < 0, "must be >= 0", "Ages and counts cannot be negative."))
    if C.FREQUENCY in require:
        f = F.col(C.FREQUENCY).cast("double")
        rules.append((C.FREQUENCY, f != F.floor(f), "must be a whole number of repeat purchases",
                      "frequency counts repeat purchases; recompute it with rfm_summary."))
    if C.RECENCY in require and C.T in require:
        r, t = F.col(C.RECENCY).cast("double"), F.col(C.T).cast("double")
        rules.append((C.RECENCY, r > t * (1 + 1e-12) + 1e-12, "must be <= T",
                      "Is observation_end before their last purchase?"))
        if C.FREQUENCY in require:
            rules.append((C.RECENCY, (F.col(C.FREQUENCY) == 0) & (r != 0),
                          "must be 0 when frequency is 0",
                          "recency is the age at the last repeat purchase; with none it is 0."))
    aggs = [F.count(F.lit(1)).alias("n")]
    aggs += [F.sum(F.when(cond, 1).otherwise(0)).alias(f"r{i}")
             for i, (_, cond, _, _) in enumerate(rules)]
    row: Any = sdf.agg(*aggs).first()
    if int(row["n"]) == 0:
        raise EmptyInputError(
            f"RFM data for {model} hold no customers. Check the filters applied before.",
            rule="at least one customer",
        )
    for i, (col, cond, rule, hint) in enumerate(rules):
        n_bad = int(row[f"r{i}"] or 0)
        if n_bad:
            ids = [r[0] for r in sdf.filter(cond).select(C.CUSTOMER_ID)
                   .limit(_N_EXAMPLES).collect()]
            what = "customer violates" if n_bad == 1 else "customers violate"
            raise InvalidValueError(
                f"{col}: {rule}; {n_bad} {what} this "
                f"(customer_id {describe_offenders(ids, n_bad)}). {hint}",
                column=col, rule=rule, offenders=ids, n_offending=n_bad,
            )
    return sdf
