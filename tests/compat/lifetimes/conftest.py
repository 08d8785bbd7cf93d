"""Fixtures for clvlab.compat.lifetimes: CDNOW and simulated data, fitted lifetimes oracles.

lifetimes (a dev dependency) is the oracle: its fits are session-scoped (tests must not
modify them) and its warnings on modern numpy/pandas are silenced here, not in our code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvlab.compat import lifetimes as compat
from clvlab.models.beta_geo import simulate_bgnbd_rfm

#: BG/NBD parameters of the simulated data set (near the CDNOW estimates).
SIM_PARAMS = (0.5, 6.0, 0.9, 2.5)


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """CDNOW summary with monetary value (lifetimes' layout, int customer_id), from our loader."""
    return compat.datasets.load_cdnow_summary_data_with_monetary_value()


@pytest.fixture(scope="session")
def cdnow_repeat(cdnow: pd.DataFrame) -> pd.DataFrame:
    """Repeat buyers of :func:`cdnow` (the Gamma-Gamma fitting set, 946 customers)."""
    return cdnow[cdnow["frequency"] > 0]


@pytest.fixture(scope="session")
def simulated() -> pd.DataFrame:
    """5,000 customers drawn from BG/NBD(SIM_PARAMS), ages 10 to 80 (seeded)."""
    rng = np.random.default_rng(20240611)
    ages = np.round(rng.uniform(10.0, 80.0, size=5000), 2)
    frame = simulate_bgnbd_rfm(SIM_PARAMS, ages, random_state=rng)
    frame["recency"] = np.round(frame["recency"], 4)
    return frame


def _lifetimes_fit(cls_name: str, *args: object, **kwargs: object) -> object:
    import lifetimes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(lifetimes, cls_name)(**kwargs).fit(*args)


@pytest.fixture(scope="session")
def lt_bgf(cdnow: pd.DataFrame) -> object:
    """lifetimes' BetaGeoFitter fitted on CDNOW (oracle)."""
    return _lifetimes_fit("BetaGeoFitter", cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="session")
def lt_ggf(cdnow_repeat: pd.DataFrame) -> object:
    """lifetimes' GammaGammaFitter fitted on the CDNOW repeat buyers (oracle)."""
    return _lifetimes_fit("GammaGammaFitter", cdnow_repeat["frequency"],
                          cdnow_repeat["monetary_value"])


@pytest.fixture(scope="session")
def bgf(cdnow: pd.DataFrame) -> compat.BetaGeoFitter:
    """Our BetaGeoFitter fitted on CDNOW (shared: do not modify)."""
    return compat.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="session")
def ggf(cdnow_repeat: pd.DataFrame) -> compat.GammaGammaFitter:
    """Our GammaGammaFitter fitted on the CDNOW repeat buyers (shared: do not modify)."""
    return compat.GammaGammaFitter().fit(cdnow_repeat["frequency"],
                                         cdnow_repeat["monetary_value"])


@pytest.fixture
def bgf_at_lifetimes(lt_bgf: object) -> compat.BetaGeoFitter:
    """Our BetaGeoFitter with lifetimes' estimate set by hand (compares formulas only)."""
    model = compat.BetaGeoFitter()
    model.params_ = lt_bgf.params_.copy()  # type: ignore[attr-defined]
    return model


@pytest.fixture
def ggf_at_lifetimes(lt_ggf: object) -> compat.GammaGammaFitter:
    """Our GammaGammaFitter with lifetimes' estimate set by hand."""
    model = compat.GammaGammaFitter()
    model.params_ = lt_ggf.params_.copy()  # type: ignore[attr-defined]
    return model


@pytest.fixture(scope="session")
def cdnow_log() -> pd.DataFrame:
    """CDNOW sample log as lifetimes' tests read it: int ids, int dates YYYYMMDD, value."""
    log = compat.datasets.load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    log.columns = ["id_total", "id_sample", "date", "num_cd_purc", "total_value"]
    return log
