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


@pytest.fixture
def check_pmf_on_many_rows():
    """A check: a conditional pmf on 20,000 pairs equals calls of 1,000, bit for bit.

    Above 4,096 pairs the new-customer part is evaluated once per distinct (n, t, x, T)
    and scattered back; calls of 1,000 stay below that threshold (direct evaluation). The
    histories have t_x varying within each (x, T); ``horizon`` is ``"scalar"`` or
    ``"per_row"``.
    """
    import numpy as np

    def check(log_pmf, params, horizon: str, seed: int) -> None:
        rng = np.random.default_rng(seed)
        size, chunk = 20_000, 1000
        x = rng.integers(0, 6, size).astype(float)
        T = rng.choice([13.0, 26.0, 39.5], size)
        tx = np.where(x > 0, np.round(rng.random(size) * T, 1), 0.0)
        n = rng.integers(0, 12, size).astype(float)
        t = 39.0 if horizon == "scalar" else rng.choice([10.0, 39.0], size)
        many = log_pmf(params, n, t, x, tx, T)
        t_arr = np.broadcast_to(np.asarray(t, dtype=float), (size,))
        few = np.concatenate([
            log_pmf(params, n[i:i + chunk], t if np.ndim(t) == 0 else t_arr[i:i + chunk],
                    x[i:i + chunk], tx[i:i + chunk], T[i:i + chunk])
            for i in range(0, size, chunk)])
        assert np.all(np.isfinite(many))
        np.testing.assert_array_equal(many, few)

    return check
