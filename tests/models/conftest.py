"""Fixtures for the model tests: the CDNOW 1/10 sample summarised as in FHL (2005)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import clvlab


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """The CDNOW 1/10 sample transaction log (6,919 rows, 2,357 customers)."""
    return clvlab.datasets.load_cdnow(sample=True)


@pytest.fixture(scope="session")
def cdnow_rfm(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """Calibration RFM summary of the CDNOW sample: 39 weeks to 1997-09-30, unrounded."""
    with warnings.catch_warnings():  # the later transactions are excluded on purpose
        warnings.simplefilter("ignore", clvlab.exceptions.DataQualityWarning)
        return clvlab.rfm_summary(cdnow_transactions, observation_end="1997-09-30")


@pytest.fixture(scope="session")
def cdnow_rfm_lifetimes() -> pd.DataFrame:
    """lifetimes' shipped CDNOW summary (FHL's, rounded to 2 decimals), time unit weeks."""
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    raw = load_cdnow_summary_data_with_monetary_value()
    frame = pd.DataFrame(
        {
            "frequency": raw["frequency"].to_numpy(dtype=float),
            "recency": raw["recency"].to_numpy(dtype=float),
            "T": raw["T"].to_numpy(dtype=float),
            "monetary_value": raw["monetary_value"].to_numpy(dtype=float),
        },
        index=pd.Index(raw.index.astype(str), name="customer_id"),
    )
    frame.attrs["time_unit"] = "W"
    return frame


@pytest.fixture(scope="session")
def cdnow_bgnbd(cdnow_rfm: pd.DataFrame) -> clvlab.BetaGeoFitter:
    """BetaGeoFitter fitted on :func:`cdnow_rfm` (shared; tests must not modify it)."""
    return clvlab.BetaGeoFitter().fit(cdnow_rfm)
