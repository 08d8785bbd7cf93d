"""Start (or reuse) a SparkSession set up for clvlab, and check that Spark can run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from clvlab.exceptions import SparkUnavailableError

__all__ = ["session", "java_version", "SPARK_INSTALL_HINT", "require_pyspark"]

#: What to run when PySpark or Java is missing.
SPARK_INSTALL_HINT = (
    'Install the Spark extra with `pip install "clvlab[spark]"` (PySpark >= 4), and Java 17 '
    "or newer, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu), "
    "`brew install openjdk@17` (macOS) or `conda install -c conda-forge openjdk=17`; set "
    "JAVA_HOME if java is not on the PATH."
)

#: Oldest Java that PySpark 4 runs on.
MIN_JAVA = 17

_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def java_version() -> int | None:
    """Major version of the Java that Spark would use (``JAVA_HOME``, else ``java`` on PATH).

    Returns
    -------
    int or None
        E.g. 17, or None when no Java is found or it does not run.
    """
    home = os.environ.get("JAVA_HOME")
    candidates = [os.path.join(home, "bin", "java")] if home else []
    found = shutil.which("java")
    if found:
        candidates.append(found)
    for exe in candidates:
        if not os.path.exists(exe):
            continue
        try:
            out = subprocess.run(
                [exe, "-version"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
        if match:
            major = int(match.group(1))
            return int(match.group(2)) if major == 1 and match.group(2) else major
    return None


def require_pyspark() -> Any:
    """Import PySpark, or fail with how to install it."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailableError(
            f"The Spark engine needs PySpark, which is not installed. {SPARK_INSTALL_HINT}"
        ) from None
    return pyspark


def _default_config(master: str) -> dict[str, str]:
    cores = os.cpu_count() or 2
    config = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # fewer, larger Arrow batches: the per-batch cost of the numpy code is amortised
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.warehouse.dir": tempfile.mkdtemp(prefix="clvlab-spark-warehouse-"),
        "spark.log.level": "ERROR",
    }
    if master.startswith("local"):
        config["spark.sql.shuffle.partitions"] = str(max(4, 4 * cores))
        config["spark.driver.memory"] = "2g"
    return config


def session(
    master: str | None = None,
    *,
    app_name: str = "clvlab",
    config: Mapping[str, Any] | None = None,
) -> Any:
    """Return a SparkSession for clvlab: the active one, or a new one on ``master``.

    Parameters
    ----------
    master : str, optional
        Spark master URL, e.g. ``"local[*]"`` (all cores of this machine),
        ``"spark://host:7077"``, ``"yarn"``. Default: the active session if there is one
        (Databricks), the master given to ``spark-submit`` when launched by it, else
        ``"local[*]"``.
    app_name : str, default="clvlab"
        Application name shown in the Spark UI.
    config : mapping, optional
        Extra Spark settings, e.g. ``{"spark.driver.memory": "4g"}``; they override the
        defaults: session time zone UTC (calendar days of TIMESTAMP columns are taken in
        it), Arrow batches of 100,000 rows, adaptive execution and, in local mode, 4
        shuffle partitions per core and a 2 GB driver.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    SparkUnavailableError
        PySpark is not installed or no Java >= 17 is found (the message says how to
        install them).

    Notes
    -----
    In local mode the Python workers run the interpreter of this process
    (``PYSPARK_PYTHON`` is set to it unless already set), so they see the same clvlab,
    numpy and pandas; on a cluster, install clvlab where the executors' Python runs.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None and not config:
        return active
    if active is None:
        version = java_version()
        if version is None or version < MIN_JAVA:
            found = "no Java was found" if version is None else f"found Java {version}"
            raise SparkUnavailableError(
                f"Spark needs Java {MIN_JAVA} or newer and {found}. {SPARK_INSTALL_HINT}"
            )
    # PySpark 4.x warns on every Python worker about pandas >= 3, which it runs fine for
    # the Arrow conversions used here; keep the workers' stderr readable
    extra = f"ignore:{_PANDAS_WARNING}:FutureWarning"
    current = os.environ.get("PYTHONWARNINGS", "")
    if extra not in current:
        os.environ["PYTHONWARNINGS"] = f"{current},{extra}" if current else extra
    # under spark-submit the master and resources come from its command line
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ and master is None
    url = master or "local[*]"
    if url.startswith("local") and not submitted:
        # local workers run this interpreter (same clvlab, numpy, pandas); on a cluster the
        # executors' Python is the cluster's setting (spark.pyspark.python)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = _default_config(url) if active is None and not submitted else {}
    settings.update({str(k): str(v) for k, v in (config or {}).items()})
    builder = SparkSession.builder.appName(app_name)
    if (active is None and not submitted) or master is not None:
        builder = builder.master(url)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    return spark
