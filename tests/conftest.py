"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


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
