"""lifetimes' ``BetaGeoFitter`` (BG/NBD), backed by :class:`clvlab.BetaGeoFitter`."""

from __future__ import annotations

from typing import ClassVar

from clvlab.compat.lifetimes.fitters._purchase import (
    LifetimesModel,
    NewCustomerPmfMixin,
    PurchaseFitter,
)

__all__ = ["BetaGeoFitter"]


class BetaGeoFitter(NewCustomerPmfMixin, PurchaseFitter):
    """BG/NBD model (Fader, Hardie & Lee 2005) with lifetimes' API.

    Same methods, arguments, defaults and return types as ``lifetimes.BetaGeoFitter``;
    the estimation and every prediction are clvlab's (:class:`clvlab.BetaGeoFitter`),
    which stays finite where lifetimes' formulas overflow (very frequent buyers).

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty with lifetimes' scaling: the same value gives the same estimates.

    Attributes
    ----------
    params_ : Series
        ``r, alpha, a, b``.
    data : DataFrame
        ``frequency, recency, T, weights`` as given to ``fit``.
    summary : DataFrame
        ``coef, se(coef), lower 95% bound, upper 95% bound``.
    variance_matrix_, standard_errors_, confidence_intervals_
        As lifetimes.
    clvlab_model_ : clvlab.BetaGeoFitter
        The fitted clvlab model (``time_unit_ = None``; see :meth:`to_clvlab`).

    Examples
    --------
    >>> from clvlab.compat.lifetimes import BetaGeoFitter
    >>> from clvlab.compat.lifetimes.datasets import load_cdnow_summary
    >>> data = load_cdnow_summary(index_col=[0])
    >>> bgf = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    >>> bgf.params_.round(3).tolist()
    [0.243, 4.414, 0.793, 2.426]
    """

    _model: ClassVar[LifetimesModel] = LifetimesModel(
        key="bgnbd",
        name="BG/NBD",
        params=("r", "alpha", "a", "b"),
        time_params=("alpha",),
        p_alive_at_least_1d=True,
        zero_frequency_note="BG/NBD's formulas then ignore recency, as lifetimes' did",
    )
