"""Spark fixtures: one local SparkSession for the whole test session.

Spark tests skip, with the reason, only where no Java 17+ is found. Where Java exists a
skipped Spark test fails the run (``pytest_sessionfinish`` in ``tests/conftest.py``), so CI
cannot pass without actually running them.
"""

from __future__ import annotations

import warnings

import pytest

from clvlab.spark._session import MIN_JAVA, SPARK_INSTALL_HINT, java_version

_JAVA = java_version()
JAVA_OK = _JAVA is not None and _JAVA >= MIN_JAVA
NO_JAVA_REASON = (
    f"Spark tests need Java {MIN_JAVA}+ "
    + ("(none found)" if _JAVA is None else f"(found Java {_JAVA})")
    + f". {SPARK_INSTALL_HINT}"
)


@pytest.fixture(scope="session")
def spark():
    """A local SparkSession (2 cores, 4 shuffle partitions, no UI), shared by all tests."""
    if not JAVA_OK:
        pytest.skip(NO_JAVA_REASON)
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[dev]')")
    import clvlab.spark as cs

    spark = cs.session(
        "local[2]",
        config={
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "4",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "1g",
        },
    )
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def cdnow_tx():
    """The bundled CDNOW log as clvlab.load_transactions returns it (pandas)."""
    import clvlab

    return clvlab.load_transactions(clvlab.datasets.load_cdnow())


@pytest.fixture(scope="session")
def cdnow_sdf(spark, cdnow_tx):
    """The same log as a Spark DataFrame (customer_id, date, amount)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(cdnow_tx[["customer_id", "date", "amount"]])


@pytest.fixture(scope="session")
def cdnow_split(cdnow_sdf):
    """Spark calibration/holdout split of CDNOW (FHL 2005 dates, weeks, tracking columns)."""
    import clvlab.spark as cs

    return cs.calibration_holdout(cdnow_sdf, "1997-09-30", "1998-06-30",
                                  tracking_columns=True)


@pytest.fixture(scope="session")
def cdnow_split_pd(cdnow_tx):
    """The pandas split of the same log."""
    import clvlab

    return clvlab.calibration_holdout(cdnow_tx, "1997-09-30", "1998-06-30")


@pytest.fixture(scope="session")
def cdnow_models(cdnow_split_pd):
    """BG/NBD, Gamma-Gamma and the baseline fitted (pandas) on the calibration period."""
    import clvlab

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (clvlab.BetaGeoFitter().fit(cdnow_split_pd),
                clvlab.GammaGammaFitter().fit(cdnow_split_pd),
                clvlab.FormulaCLVBaseline().fit(cdnow_split_pd))
