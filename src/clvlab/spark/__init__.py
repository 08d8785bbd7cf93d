"""The clvlab pipeline on Apache Spark, for transaction logs beyond one machine.

Same definitions and numbers as the pandas path, on Spark DataFrames:

=================================  ================================================
:func:`session`                    a local (or any) SparkSession set up for clvlab
:func:`read_transactions`          Parquet/CSV file or folder -> checked transactions
:func:`rfm_summary`                RFM per customer (:func:`clvlab.rfm_summary`)
:func:`calibration_holdout`        calibration RFM + holdout counts
:func:`fit`                        fit any clvlab model from counted distinct rows
:func:`score_customers`            P(alive), purchases, spend, CLV, baseline, segment
:func:`evaluate`                   holdout metrics, binned tables, deciles, tracking
:func:`choose_purchase_model`      fit every purchase model, pick by holdout log score
:func:`simulate_transactions`      a large simulated log, generated in parallel
=================================  ================================================

Importing :mod:`clvlab` never imports PySpark; this package loads it on first use of
one of the names above (``pip install "clvlab[spark]"``; Spark needs Java 17+). See
``docs/spark.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "session": "clvlab.spark._session",
    "java_version": "clvlab.spark._session",
    "SPARK_INSTALL_HINT": "clvlab.spark._session",
    "read_transactions": "clvlab.spark._rfm",
    "rfm_summary": "clvlab.spark._rfm",
    "calibration_holdout": "clvlab.spark._rfm",
    "rfm_attrs": "clvlab.spark._rfm",
    "fit": "clvlab.spark._fit",
    "fit_rows": "clvlab.spark._fit",
    "score_customers": "clvlab.spark._scoring",
    "segment_thresholds": "clvlab.spark._scoring",
    "segment_summary": "clvlab.spark._scoring",
    "evaluate": "clvlab.spark._evaluation",
    "SparkEvaluation": "clvlab.spark._evaluation",
    "choose_purchase_model": "clvlab.spark._compare",
    "SparkModelChoice": "clvlab.spark._compare",
    "simulate_transactions": "clvlab.spark._simulate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clvlab.spark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from clvlab.spark._compare import SparkModelChoice, choose_purchase_model  # noqa: F401
    from clvlab.spark._evaluation import SparkEvaluation, evaluate  # noqa: F401
    from clvlab.spark._fit import fit, fit_rows  # noqa: F401
    from clvlab.spark._rfm import (  # noqa: F401
        calibration_holdout,
        read_transactions,
        rfm_attrs,
        rfm_summary,
    )
    from clvlab.spark._scoring import (  # noqa: F401
        score_customers,
        segment_summary,
        segment_thresholds,
    )
    from clvlab.spark._session import SPARK_INSTALL_HINT, java_version, session  # noqa: F401
    from clvlab.spark._simulate import simulate_transactions  # noqa: F401
