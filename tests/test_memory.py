"""Memory-saving paths give exactly what the general paths give (issue 13, third pass)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvlab
from clvlab import _memory
from clvlab import io as cio
from clvlab import rfm as crfm
from clvlab import validation as cval


def _log(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 200, n)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
    return pd.DataFrame({"customer_id": ids, "date": dates,
                         "amount": rng.gamma(2.0, 10.0, n).round(2)})


def _parquet_variants(tmp_path) -> dict[str, object]:
    """Parquet files of plain and of special column types (paths by name)."""
    base = _log()
    n = len(base)
    files = {}

    def put(name: str, frame: pd.DataFrame, **kw) -> None:
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, **kw)
        files[name] = path

    put("int_sorted", base.sort_values(["customer_id", "date"]), index=False,
        row_group_size=700)
    put("int_unsorted", base, index=False)
    put("int32", base.assign(customer_id=base["customer_id"].astype(np.int32)), index=False)
    put("uint16", base.assign(customer_id=base["customer_id"].astype(np.uint16)), index=False)
    put("nullable_int", base.assign(customer_id=pd.array(base["customer_id"], dtype="Int64")),
        index=False)
    put("float32_amount", base.assign(amount=base["amount"].astype(np.float32)), index=False)
    put("id_as_index", base.set_index("customer_id"))
    for unit in ("us", "ms"):
        path = tmp_path / f"ts_{unit}.parquet"
        pq.write_table(pa.table({
            "customer_id": pa.array(base["customer_id"].to_numpy()),
            "date": pa.array(base["date"].to_numpy().astype(f"datetime64[{unit}]")),
            "amount": pa.array(base["amount"].to_numpy())}), path, row_group_size=1000)
        files[f"ts_{unit}"] = path
    path = tmp_path / "int_nulls.parquet"
    pq.write_table(pa.table({
        "customer_id": pa.array(base["customer_id"].to_numpy(), mask=np.arange(n) == 7),
        "date": pa.array(base["date"].to_numpy()),
        "amount": pa.array(base["amount"].to_numpy())}), path)
    files["int_nulls"] = path
    with_dups = pd.concat([base, base.iloc[:25]]).assign(
        amount=lambda f: np.where(np.arange(len(f)) == 11, -5.0, f["amount"]))
    put("dups_and_returns", with_dups, index=False)
    return files


def _load(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = clvlab.load_transactions(path, **kw)
        except Exception as exc:  # noqa: BLE001 - compared as they are
            return ("error", type(exc).__name__, str(exc)), []
    return out, [str(w.message) for w in caught]


@pytest.mark.parametrize("kwargs", [{}, {"duplicates": "drop"}, {"keep_extra": True}])
def test_lean_parquet_reader_equals_general_reader(tmp_path, monkeypatch, kwargs):
    """load_transactions of every Parquet variant: same frame, attrs, warnings or error."""
    files = _parquet_variants(tmp_path)
    lean = {name: _load(path, **kwargs) for name, path in files.items()}
    monkeypatch.setattr(cio, "_read_parquet_plain", lambda path, columns: None)
    for name, path in files.items():
        general, general_warnings = _load(path, **kwargs)
        got, got_warnings = lean[name]
        if isinstance(general, tuple):
            assert got == general, name
            continue
        pd.testing.assert_frame_equal(got, general, check_exact=True, obj=name)
        assert got.attrs == general.attrs, name
        assert got_warnings == general_warnings, name


def test_lean_reader_reads_plain_columns_and_declines_others(tmp_path):
    """Integers and timestamps become numpy arrays; nulls in integers and index columns decline."""
    files = _parquet_variants(tmp_path)
    frame = cio._read_parquet_plain(files["ts_us"], ["customer_id", "date", "amount"])
    assert frame["date"].dtype == np.dtype("datetime64[us]")
    assert frame["customer_id"].dtype == np.int64
    assert cio._read_parquet_plain(files["int_nulls"], ["customer_id", "date", "amount"]) is None
    assert cio._read_parquet_plain(files["id_as_index"], ["customer_id", "date", "amount"]) is None


def test_integer_ids_become_the_same_text_as_astype_str():
    """The Arrow cast of integer ids gives pandas' astype('str') text, dtype and all."""
    raw = pd.Series(np.array([0, 7, -5, 2**63 - 1, -(2**63), 10**18], dtype=np.int64))
    got = cio._parse_ids(raw, "customer_id", np.arange(len(raw)), cio._Rows("row"))
    pd.testing.assert_series_equal(got, raw.astype("str"), check_exact=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text("ab1", max_size=3)), max_size=12))
def test_index_is_unique_matches_pandas_for_text(values):
    """index_is_unique equals Index.is_unique on Arrow text (nulls, repeats, any order)."""
    index = pd.Index(values, dtype="str")
    assert cval.index_is_unique(index) == index.is_unique


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=12))
def test_index_is_unique_matches_pandas_for_integers(values):
    """index_is_unique equals Index.is_unique on integers."""
    index = pd.Index(np.array(values, dtype=np.int64))
    assert cval.index_is_unique(index) == index.is_unique


def test_index_is_unique_builds_no_lookup_table():
    """A large text index is checked without pandas' (retained) hash table."""
    index = pd.Index([f"{i:07d}" for i in range(200_000)], dtype="str")
    assert cval.index_is_unique(index)
    assert "_engine" not in index._cache


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 18])
def test_text_comparisons_in_slices(monkeypatch, chunk):
    """Neighbour inequality and increasing order are the same whatever the slice size."""
    monkeypatch.setattr(cval, "_TEXT_CHUNK", chunk)
    arr = pa.array(["1", "1", "2", "10", "10", "9", "a"], type=pa.large_string())
    np.testing.assert_array_equal(cval.text_neighbours_differ(arr),
                                  [False, True, True, False, True, True])
    assert cval.text_increasing(pa.array(["1", "2", "10", "11"], type=pa.large_string()))
    assert cval.text_increasing(pa.array(["a", "b", "c"], type=pa.large_string()))
    assert not cval.text_increasing(pa.array(["10", "2", "1"], type=pa.large_string()))
    assert not cval.text_increasing(pa.array(["b", "b"], type=pa.large_string()))


def test_runs_per_customer_equals_reduceat(monkeypatch):
    """The block-wise count of purchase runs equals one np.add.reduceat over all rows."""
    rng = np.random.default_rng(3)
    flags = rng.random(5000) < 0.4
    starts = np.unique(np.r_[0, rng.integers(1, 5000, 900)])
    flags[starts] = True
    expected = np.add.reduceat(flags, starts, dtype=np.int64)
    np.testing.assert_array_equal(crfm._runs_per_customer(flags, starts), expected)


def test_release_unused_is_harmless():
    """Releasing free pages leaves every live array intact (and works twice)."""
    a = np.arange(1_000_000, dtype=np.float64)
    _memory.release_unused()
    _memory.release_unused()
    assert a[-1] == 999_999.0


def test_compared_evaluations_share_columns_but_edits_stay_local():
    """Equal columns of compared evaluations share memory; editing one table leaves the rest."""
    tx = clvlab.datasets.load_cdnow(sample=True)
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    gg = clvlab.GammaGammaFitter().fit(split)
    cmp = clvlab.compare_models(split, ["bgnbd", "mbgnbd"], gg, transactions=tx)
    a, b = (cmp.evaluations[k].customers for k in ("bgnbd", "mbgnbd"))
    for col in ("frequency", "actual_purchases", "predicted_spend"):
        assert np.shares_memory(a[col].to_numpy(), b[col].to_numpy()), col
    before = b["frequency"].to_numpy().copy()
    a.loc[a.index[0], "frequency"] = 999.0
    np.testing.assert_array_equal(b["frequency"].to_numpy(), before)
    assert split["frequency"].iloc[0] != 999.0


def test_index_is_unique_is_checked_once_per_index(monkeypatch):
    """A second check of the same index reads the cached answer; another index is checked."""
    ids = pd.Index([f"c{i}" for i in range(50)], dtype="str")
    repeated = pd.Index(["a", "b", "a"], dtype="str")
    assert cval.index_is_unique(ids) is True
    assert cval.index_is_unique(repeated) is False
    calls = []
    monkeypatch.setattr(cval, "_index_is_unique",
                        lambda index: calls.append(index) or True)
    assert cval.index_is_unique(ids) is True
    assert cval.index_is_unique(repeated) is False  # cached: not asked again
    assert calls == []
    assert cval.index_is_unique(pd.Index(["x", "x"], dtype="str")) is True  # (the stub)
    assert len(calls) == 1


def test_aligned_to_reindexes_only_when_the_labels_differ():
    """Equal labels: the Series itself, no lookup table on the index; else reindexed."""
    from clvlab.validation import aligned_to

    idx = pd.Index([str(i) for i in range(1000)], dtype="str")
    values = pd.Series(np.arange(1000.0), index=idx.copy())
    same = aligned_to(values, idx)
    assert same is values
    assert "_engine" not in idx._cache
    moved = aligned_to(values, idx[::-1])
    np.testing.assert_array_equal(moved.to_numpy(), np.arange(1000.0)[::-1])
    assert moved.index.equals(idx[::-1])
