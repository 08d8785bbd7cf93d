"""clvlab.spark.simulate_transactions: parallel, reproducible, the pandas story per block."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import clvlab

cs = pytest.importorskip("clvlab.spark")


def _local(sdf) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sdf.toPandas().sort_values(["customer_id", "date", "amount"]).reset_index(
            drop=True)


def test_same_seed_same_log_whatever_the_partitioning(spark):
    """The log depends on the seed and block size only, not on how Spark runs the blocks."""
    a = _local(cs.simulate_transactions(spark, 3_000, random_state=5, customers_per_block=700))
    b = _local(cs.simulate_transactions(spark, 3_000, random_state=5, customers_per_block=700)
               .repartition(3))
    c = _local(cs.simulate_transactions(spark, 3_000, random_state=6, customers_per_block=700))
    pd.testing.assert_frame_equal(a, b)
    assert not a["amount"].equals(c["amount"])
    assert a["customer_id"].nunique() == 3_000
    assert a["customer_id"].min() == "0001" and a["customer_id"].max() == "3000"


def test_each_block_is_the_pandas_simulation_with_its_own_seed(spark):
    """Block k is clvlab.simulate_transactions seeded with SeedSequence(seed).spawn(n)[k]."""
    import numpy as np

    got = _local(cs.simulate_transactions(spark, 1_000, random_state=9, customers_per_block=400))
    child = np.random.SeedSequence(9).spawn(3)[1]
    block = clvlab.simulate_transactions(400, random_state=np.random.default_rng(child))
    ids = (block["customer_id"].astype(int) + 400).astype(str).str.zfill(4)
    mine = got[got["customer_id"].isin(set(ids))]
    assert len(mine) == len(block)
    assert sorted(mine["amount"].round(12)) == sorted(block["amount"].round(12))


def test_bad_arguments_are_refused(spark):
    """A non-integer customer count or a generator as seed gives a clear error."""
    with pytest.raises(ValueError, match="n_customers must be a positive whole number"):
        cs.simulate_transactions(spark, 10.5)
    with pytest.raises(TypeError, match="int seed"):
        cs.simulate_transactions(spark, 10, random_state=object())
