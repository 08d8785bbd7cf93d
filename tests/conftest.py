"""Shared fixtures, and the guard that keeps the Spark tests running wherever Java is."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

_SPARK_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    """Remember every skipped Spark test (tests/spark and the Spark notebook)."""
    if report.skipped and "spark" in report.nodeid:
        _SPARK_SKIPPED.append(report.nodeid)


def pytest_collectreport(report):
    """Remember Spark test modules skipped as a whole (e.g. pyspark not importable)."""
    if report.skipped and "spark" in report.nodeid:
        _SPARK_SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when Spark tests were skipped although Java 17+ is installed.

    Spark tests may skip only where Java is missing; CI has Java, so a skip there (e.g.
    pyspark not installed) must not pass silently. ``CLVLAB_ALLOW_SPARK_SKIP=1`` lifts this
    for a local run.
    """
    if not _SPARK_SKIPPED or os.environ.get("CLVLAB_ALLOW_SPARK_SKIP") == "1":
        return
    from clvlab.spark._session import MIN_JAVA, java_version

    java = java_version()
    if java is None or java < MIN_JAVA:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(
            f"ERROR: {len(_SPARK_SKIPPED)} Spark test(s) were skipped although Java {java} is "
            f"installed (first: {_SPARK_SKIPPED[0]}). Spark tests must run where Java exists: "
            "install the dev extra (it includes pyspark).",
            red=True,
        )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (no global reseeding)."""
    return np.random.default_rng(42)


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    """CDNOW 1/10 sample summary in weeks as lifetimes ships it (2,357 customers).

    lifetimes' copy of Hardie's data (frequency, recency, T, monetary_value), with string
    customer ids and ``attrs["time_unit"] = "W"``. Shared by the whole session: copy it
    before changing it.
    """
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    df = load_cdnow_summary_data_with_monetary_value()
    df.index = df.index.astype(str)
    df.index.name = "customer_id"
    df.attrs["time_unit"] = "W"
    return df
