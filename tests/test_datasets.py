"""Tests of the bundled CDNOW data (clvlab.datasets) and their packaging in the wheel."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvlab import _columns as C
from clvlab.datasets import dataset_path, load_cdnow

ROOT = Path(__file__).resolve().parents[1]

# digests of the files as shipped in lifetimes 0.11.3 (data/README.md)
SHA256 = {
    "CDNOW_master.txt": "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
    "CDNOW_sample.txt": "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
}


@pytest.mark.parametrize(
    ("sample", "n_rows", "n_customers", "total"),
    [(False, 69_659, 23_570, 2_500_315.63), (True, 6_919, 2_357, 244_091.94)],
)
def test_cdnow_sizes_and_dtypes(sample, n_rows, n_customers, total):
    """Full log 69,659 rows / 23,570 customers; sample 6,919 / 2,357 (FHL 2005); dtypes."""
    tx = load_cdnow(sample=sample)
    assert len(tx) == n_rows
    assert tx[C.CUSTOMER_ID].nunique() == n_customers
    assert list(tx.columns[:3]) == [C.CUSTOMER_ID, C.DATE, C.AMOUNT]
    assert pd.api.types.is_string_dtype(tx[C.CUSTOMER_ID].dtype)
    assert pd.api.types.is_datetime64_dtype(tx[C.DATE].dtype)
    assert tx[C.AMOUNT].dtype == np.float64
    assert tx["quantity"].dtype == np.int64
    assert tx[C.DATE].min() == pd.Timestamp("1997-01-01")
    assert tx[C.DATE].max() == pd.Timestamp("1998-06-30")
    # the cohort: first purchases in the first quarter of 1997
    assert tx.groupby(C.CUSTOMER_ID)[C.DATE].min().max() < pd.Timestamp("1997-04-01")
    np.testing.assert_allclose(tx[C.AMOUNT].sum(), total, rtol=1e-12)


def test_sample_uses_paper_ids():
    """The sample's ids are the papers' 1..2357 without leading zeros."""
    ids = load_cdnow(sample=True)[C.CUSTOMER_ID]
    assert set(ids) == {str(i) for i in range(1, 2358)}
    assert load_cdnow()[C.CUSTOMER_ID].iloc[0] == "1"


@pytest.mark.parametrize("name", sorted(SHA256))
def test_files_unchanged(name):
    """The bundled files are byte-identical to the lifetimes 0.11.3 copies."""
    digest = hashlib.sha256(dataset_path(name).read_bytes()).hexdigest()
    assert digest == SHA256[name]


def test_missing_file_error():
    """An unknown dataset file raises FileNotFoundError naming the places looked in."""
    with pytest.raises(FileNotFoundError, match="not found"):
        dataset_path("nope.txt")


@pytest.mark.slow
def test_wheel_ships_data(tmp_path):
    """A built wheel, installed non-editable in a fresh venv, loads both datasets."""
    wheel_dir = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheel_dir.glob("clvlab-*.whl")

    venv_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True)
    py = venv_dir / "bin" / "python"
    site = Path(subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # install the wheel with this interpreter's pip into the venv's site-packages (no deps)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # reuse numpy/pandas from the test environment: append its site-packages as a plain
    # path (its .pth files, including clvlab's editable hook, are not processed)
    deps = Path(np.__file__).resolve().parents[1]
    (site / "zz_test_deps.pth").write_text(str(deps) + "\n")

    script = textwrap.dedent(
        """
        import clvlab, clvlab.datasets as d
        print(clvlab.__file__)
        print(d.dataset_path("CDNOW_master.txt"))
        full, sample = d.load_cdnow(), d.load_cdnow(sample=True)
        ids = "customer_id"
        print(len(full), full[ids].nunique(), len(sample), sample[ids].nunique())
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run = subprocess.run([str(py), "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=env, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    module_file, data_file, counts = run.stdout.strip().splitlines()
    assert Path(module_file).is_relative_to(site)
    assert Path(data_file) == site / "clvlab" / "_data" / "cdnow" / "CDNOW_master.txt"
    assert counts.split() == ["69659", "23570", "6919", "2357"]
