"""Starting Spark: lazy imports, the Java check, the active session."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from clvlab.exceptions import SparkUnavailableError

pytest.importorskip("pyspark")
from clvlab.spark import _session  # noqa: E402


def test_import_clvlab_does_not_import_pyspark():
    """import clvlab (and clvlab.spark) loads no PySpark until a Spark function is used."""
    code = ("import sys, clvlab, clvlab.spark, clvlab.cli; clvlab.BetaGeoFitter; "
            "print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_missing_java_is_a_clear_error(monkeypatch):
    """Without Java, session() says Spark needs Java 17+ and how to install it."""
    from pyspark.sql import SparkSession

    monkeypatch.setattr(_session, "java_version", lambda: None)
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    with pytest.raises(SparkUnavailableError, match=r"Java 17 or newer and no Java was found"
                       r".*openjdk-17-jre-headless"):
        _session.session("local[1]")
    monkeypatch.setattr(_session, "java_version", lambda: 11)
    with pytest.raises(SparkUnavailableError, match="found Java 11"):
        _session.session("local[1]")


def test_cli_without_java_exits_2_with_the_install_hint(tmp_path):
    """clvlab run --engine spark on a machine without Java: exit code 2, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    out = subprocess.run([sys.executable, "-m", "clvlab", "run", "--sample", "--engine",
                          "spark", "--out", str(tmp_path)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "Spark needs Java 17 or newer" in out.stderr
    assert "Traceback" not in out.stderr


def test_java_version_is_found_here():
    """This machine's Java is detected (CI runs the Spark tests for real)."""
    version = _session.java_version()
    if version is None:
        pytest.skip("no Java on this machine")
    assert version >= 17


def test_session_returns_the_active_session(spark):
    """session() with no arguments reuses the running session (e.g. on Databricks)."""
    assert _session.session() is spark
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
