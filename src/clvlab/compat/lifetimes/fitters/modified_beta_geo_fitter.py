"""lifetimes' ``ModifiedBetaGeoFitter`` (MBG/NBD), backed by clvlab's MBG/NBD model."""

from __future__ import annotations

from typing import ClassVar

from clvlab.compat.lifetimes.fitters._purchase import (
    LifetimesModel,
    NewCustomerPmfMixin,
    PurchaseFitter,
)

__all__ = ["ModifiedBetaGeoFitter"]


class ModifiedBetaGeoFitter(NewCustomerPmfMixin, PurchaseFitter):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007) with lifetimes' API.

    Backed by clvlab's MBG/NBD model (registry key ``"mbgnbd"``); until that model is in
    clvlab, creating this class raises ``NotImplementedError``. Methods, arguments and
    return types as :class:`~clvlab.compat.lifetimes.BetaGeoFitter`.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty with lifetimes' scaling.
    """

    _model: ClassVar[LifetimesModel] = LifetimesModel(
        key="mbgnbd",
        name="MBG/NBD",
        params=("r", "alpha", "a", "b"),
        time_params=("alpha",),
        p_alive_at_least_1d=True,
        zero_frequency_note="MBG/NBD's formulas use the recency given, as lifetimes' did",
    )
