"""Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005; Colombo & Jiang 1999)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Self, TypedDict

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._checks import check_finite_prediction
from clvlab.exceptions import (
    AssumptionWarning,
    ConvergenceWarning,
    DataQualityWarning,
    EmptyInputError,
    ModelWarning,
    describe_offenders,
)
from clvlab.models.base import BaseFitter, RemoteRows, SummaryTable
from clvlab.models.contract import Capabilities, Heterogeneity
from clvlab.models.likelihoods.gamma_gamma import (
    gg_expected_spend,
    gg_loglik_and_grad,
    gg_order_value_posterior,
    gg_population_mean_spend,
    gg_statistics,
    gg_total_from_statistics,
    gg_total_loglik_and_grad,
)
from clvlab.validation import validate_rfm

__all__ = ["GammaGammaFitter", "CORRELATION_WARNING_THRESHOLD"]

#: Absolute Pearson correlation between frequency and mean spend among repeat buyers above
#: which :class:`GammaGammaFitter` warns that its independence assumption is in doubt.
#: 0.3 is the conventional lower bound of a "moderate" correlation (Cohen 1988): below it
#: the dependence explains under 9% of the variance of spend, the regime in which Fader,
#: Hardie & Lee (2005) accept the model (0.11 on CDNOW).
CORRELATION_WARNING_THRESHOLD = 0.3

#: ``q - 1`` below which the fit is reported as on the boundary: the data would put q <= 1
#: (spend too heavy-tailed for a finite population mean), so the estimate sits at the edge.
Q_BOUNDARY_TOLERANCE = 1e-6

#: Where a Gamma-Gamma estimate counts as a limit of the model: ``spend_cv``: customers'
#: average spend does not differ when the coefficient of variation 1/sqrt(q) of their
#: spend rates is below it; ``purchase_cv``: a customer's purchases are all of one value
#: when the within-customer coefficient of variation 1/sqrt(p) is below it.
DEGENERACY_LIMITS: dict[str, float] = {"spend_cv": 0.03, "purchase_cv": 1e-3}

#: Smallest number of repeat buyers for which the correlation is computed.
_MIN_FOR_CORRELATION = 3


def _whole(value: float) -> Any:
    """Return a count as int when it is whole (weights may be fractional)."""
    return int(round(value)) if float(value).is_integer() else value


class _SelectionInfo(TypedDict, total=False):
    """What :meth:`GammaGammaFitter._select` and ``_select_with_weights`` pass to ``fit``."""

    n_one_time: int
    n_zero_spend: int
    zero_spend_ids: list[Any]
    n_input: int
    correlation: float


def _zero_spend(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Repeat buyers without spend (``frequency > 0``, ``monetary_value`` not > 0)."""
    return (arrays[0] > 0) & ~(arrays[1] > 0)


def _no_repeat_buyers(n_input: Any, one_time: Any, n_zero_spend: Any) -> EmptyInputError:
    return EmptyInputError(
        f"Gamma-Gamma needs repeat buyers (frequency > 0 and monetary_value > 0); none "
        f"of the {n_input} customers qualify ({one_time} have frequency 0, "
        f"{n_zero_spend} have monetary_value 0). Check that monetary_value holds the "
        "mean value of repeat purchases (clvlab.rfm_summary computes it).",
        column=C.FREQUENCY,
        rule="at least one customer with frequency > 0 and monetary_value > 0",
        n_offending=n_input,
    )


def _pearson_from_moments(n_rows: int, sums: Sequence[float]) -> float:
    """Weighted Pearson correlation from ``W, sum w x, sum w x^2, sum w m, sum w m^2, sum w x m``.

    The same quantity as :func:`_weighted_pearson` from additive sums (remote rows).
    """
    w_tot, sx, sxx, sm, smm, sxm = (float(v) for v in sums)
    if n_rows < _MIN_FOR_CORRELATION or w_tot <= 0:
        return float("nan")
    ex, em = sx / w_tot, sm / w_tot
    vx, vm = sxx / w_tot - ex * ex, smm / w_tot - em * em
    if vx <= 0 or vm <= 0:
        return float("nan")
    return float(np.clip((sxm / w_tot - ex * em) / math.sqrt(vx * vm), -1.0, 1.0))


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted Pearson correlation; NaN when undefined (fewer than 3 rows, constant column)."""
    if x.shape[0] < _MIN_FOR_CORRELATION or w.sum() <= 0:
        return float("nan")
    wn = w / w.sum()
    dx = x - wn @ x
    dy = y - wn @ y
    sxx, syy = wn @ (dx * dx), wn @ (dy * dy)
    if sxx <= 0 or syy <= 0:
        return float("nan")
    return float(np.clip((wn @ (dx * dy)) / math.sqrt(sxx * syy), -1.0, 1.0))


class GammaGammaFitter(BaseFitter):
    r"""Gamma-Gamma model of the value of a customer's purchases.

    Each purchase of a customer has a Gamma(p, nu) value with mean ``p / nu``; the rate
    ``nu`` varies across customers as Gamma(q, v). The model is fitted on the mean value
    ``m`` of each repeat buyer's ``x`` repeat purchases, whose density given ``nu`` is
    Gamma(p x, nu x); integrating over ``nu`` gives the likelihood

    .. math::

        L(p, q, v \mid x, m) = \frac{\Gamma(px+q)}{\Gamma(px)\,\Gamma(q)}
        \frac{v^q\, x^{px}\, m^{px-1}}{(v + x m)^{px+q}}.

    Assumptions: spend per purchase varies around each customer's own mean; that mean
    varies across customers; and it is independent of how often the customer buys. The
    last one is checked on the data: ``frequency_spend_correlation_`` is stored and an
    :class:`~clvlab.exceptions.AssumptionWarning` is issued when its absolute value
    exceeds :data:`CORRELATION_WARNING_THRESHOLD` (0.3).

    Only repeat buyers (``frequency > 0`` and ``monetary_value > 0``) carry information
    about spend; the others are left out of the fit, and counted in ``n_excluded_``.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty on ``(p, q, v)`` added to the mean negative log-likelihood per customer.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.

    Attributes
    ----------
    params_ : Series
        ``p`` (shape of the spend of one purchase), ``q`` (shape of the across-customer
        distribution of the spend rate; ``q > 1`` by construction, since the model is
        optimised over ``log(q - 1)``, so the population mean spend ``p v / (q - 1)`` is
        always finite and positive), ``v`` (scale of that distribution, in currency units).
    n_customers_ : int
        Repeat buyers the model was fitted on.
    n_excluded_ : int
        Customers left out of the fit (``frequency == 0``, or ``monetary_value == 0``).
    exclusion_note_ : str
        The same in words.
    frequency_spend_correlation_ : float
        Pearson correlation of ``frequency`` and ``monetary_value`` among the repeat buyers
        (weighted if weights were given; NaN for fewer than 3 of them or a constant column).
    time_unit_ : str or None
        Unit of the data if known; the model itself has no time dimension.

    Examples
    --------
    >>> import clvlab
    >>> rfm = clvlab.rfm_summary(clvlab.datasets.load_cdnow(sample=True),
    ...                          observation_end="1997-09-30")  # doctest: +SKIP
    >>> gg = clvlab.GammaGammaFitter().fit(rfm)  # doctest: +SKIP
    >>> gg.params_.round(2)  # doctest: +SKIP
    p     6.25
    q     3.74
    v    15.45

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using
       iso-value curves for customer base analysis. Journal of Marketing Research, 42(4).
    .. [2] Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary
       value. http://brucehardie.com/notes/025/
    .. [3] Colombo, R., & Jiang, W. (1999). A stochastic RFM model. Journal of Interactive
       Marketing, 13(3).
    """

    _param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")
    _data_columns: ClassVar[tuple[str, ...]] = (C.FREQUENCY, C.MONETARY_VALUE)
    _model_name: ClassVar[str] = "Gamma-Gamma"
    # its rows grow with the repeat buyers: an engine may keep them where they are
    _fits_remote_rows: ClassVar[bool] = True
    _long_name: ClassVar[str] = "Gamma-Gamma model of spend per purchase"
    _story: ClassVar[str] = (
        "Each purchase of a customer has a value that varies around that customer's own "
        "average (a gamma distribution); the averages vary across customers (through a "
        "second gamma distribution). A customer's expected spend per future purchase is a "
        "weighted blend of their own observed average and the population mean, with more "
        "weight on their own average the more purchases they have made. Spend is assumed "
        "independent of how often the customer buys."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "p": "shape of the value of one purchase around the customer's own mean",
        "q": "shape of the across-customer distribution of the spend rate (q > 1)",
        "v": "scale of the across-customer distribution (currency units)",
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using iso-value "
        "curves for customer base analysis. Journal of Marketing Research, 42(4), 415-430.",
        "Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value. "
        "http://brucehardie.com/notes/025/",
    )

    @classmethod
    def capabilities(cls) -> Capabilities:
        """Spend model: ``expected_spend`` and ``population_mean_spend``."""
        return Capabilities(
            role="spend",
            predictions=frozenset(
                {"expected_spend", "population_mean_spend", "spend_distribution"}
            ),
            time="none",
        )

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        from scipy import stats  # lazily: scipy.stats costs ~20 MiB and 0.3 s to import

        p, q, v = self._params_array()
        # mean spend per purchase p/nu with nu ~ Gamma(q, rate v): p/nu ~ InvGamma(q, scale p v)
        return (
            Heterogeneity(
                "mean spend per purchase", "p/ν", stats.invgamma(q, scale=p * v),
                "inverse gamma: each customer's own average value of a purchase",
                unit="currency",
            ),
        )

    # fitted attributes (declared for type checkers; set by fit/load)
    n_excluded_: int
    exclusion_note_: str
    frequency_spend_correlation_: float
    # filled by _select / _select_with_weights during fit only
    _selection_info: _SelectionInfo
    # parameter-free statistics of each data set seen during one fit (deleted after it)
    _statistics_cache: dict[tuple[int, int, int], Any]

    # -- parameterisation: p = e^t0, q = 1 + e^t1, v = e^t2 ------------------------------
    def _to_natural(self, theta: np.ndarray) -> np.ndarray:
        e = np.exp(theta)
        return np.array([e[0], 1.0 + e[1], e[2]])

    def _natural_jacobian(self, theta: np.ndarray) -> np.ndarray:
        return np.exp(theta)

    def _to_theta(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        with np.errstate(divide="ignore"):
            return np.array([np.log(params[0]), np.log(params[1] - 1.0), np.log(params[2])])

    # -- likelihood hooks -------------------------------------------------------------------
    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        return gg_loglik_and_grad(params, data[0], data[1])

    def _total_loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        # sufficient statistics: special functions once per distinct frequency; the
        # parameter-free part is computed once per data set during a fit
        cache = getattr(self, "_statistics_cache", None)
        if cache is None:
            return gg_total_loglik_and_grad(params, data[0], data[1], weights)
        key = (id(data[0]), id(data[1]), id(weights))
        if key not in cache:  # the entry holds the arrays, so their ids stay theirs
            cache[key] = ((data[0], data[1], weights), gg_statistics(data[0], data[1], weights))
        return gg_total_from_statistics(params, cache[key][1])

    def _totals_at(
        self, params_list: Sequence[np.ndarray], data: Sequence[np.ndarray], weights: np.ndarray
    ) -> list[tuple[float, np.ndarray]]:
        if getattr(self, "_statistics_cache", None) is not None:
            return super()._totals_at(params_list, data, weights)
        stats = gg_statistics(data[0], data[1], weights)  # once for the batch
        return [gg_total_from_statistics(p, stats) for p in params_list]

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        m = data[1]
        mean_m = max(float(weights @ m / weights.sum()), 1e-8)
        # The population mean spend is p v / (q - 1): each start sets v so that it equals the
        # observed mean (p = 2, q = 3 first; then a tighter and a looser spread).
        return [
            np.array([2.0, 3.0, mean_m]),
            np.array([10.0, 10.0, mean_m * 0.9]),
            np.array([1.0, 1.5, mean_m * 0.5]),
        ]

    def _row_mask(self, arrays: Sequence[np.ndarray]) -> np.ndarray | None:
        return (arrays[0] > 0) & (arrays[1] > 0)

    def _select(self, frame: pd.DataFrame) -> np.ndarray | None:
        f = frame[C.FREQUENCY].to_numpy(dtype=float)
        mv = frame[C.MONETARY_VALUE].to_numpy(dtype=float)
        keep = self._row_mask((f, mv))
        assert keep is not None
        one_time = int((f == 0).sum())
        zero_spend = _zero_spend((f, mv))
        n_zero_spend = int(zero_spend.sum())
        self._selection_info = {
            "n_one_time": one_time,
            "n_zero_spend": n_zero_spend,
            "zero_spend_ids": list(frame.index[zero_spend][:5]) if n_zero_spend else [],
            "n_input": int(len(frame)),
        }
        if not keep.any():
            raise _no_repeat_buyers(len(frame), one_time, n_zero_spend)
        return keep

    def _remote_sums(self, arrays: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
        # the base sums, then: weight of one-time buyers, of zero-spend repeat buyers, of
        # all rows, and sum w x m over the fitted rows (for the correlation)
        f, mv = arrays[0], arrays[1]
        keep = self._row_mask(arrays)
        with np.errstate(all="ignore"):
            extra = [float(weights[f == 0].sum()), float(weights[_zero_spend(arrays)].sum()),
                     float(weights.sum()), float(weights[keep] @ (f[keep] * mv[keep]))]
        return np.concatenate([super()._remote_sums(arrays, weights), extra])

    def _remote_selection(self, rows: RemoteRows, sums: np.ndarray) -> tuple[int, float, str]:
        n_rows, n_total, fingerprint = super()._remote_selection(rows, sums)
        # layout of BaseFitter._remote_sums: 4 checks, then n, W, sum w x, sum w x^2,
        # sum w m, sum w m^2; then ours
        w_tot, sx, sxx, sm, smm = sums[5:10]
        one_time, zero, n_input, sxm = sums[10:14]
        n_one, n_zero = _whole(float(one_time)), _whole(float(zero))
        info: _SelectionInfo = {
            "n_one_time": n_one, "n_zero_spend": n_zero, "n_input": _whole(float(n_input)),
            "zero_spend_ids": rows.example_ids(_zero_spend, 5) if n_zero else [],
        }
        self._selection_info = info
        if n_rows == 0:
            raise _no_repeat_buyers(info["n_input"], n_one, n_zero)
        info["correlation"] = _pearson_from_moments(n_rows, (w_tot, sx, sxx, sm, smm, sxm))
        return n_rows, n_total, fingerprint

    def _select_with_weights(
        self, frame: pd.DataFrame, arrays: tuple[np.ndarray, ...], weights: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        selected, w = super()._select_with_weights(frame, arrays, weights)
        # with weights (counted rows, e.g. from clvlab.spark.fit), the exclusion counts are
        # numbers of customers, not rows
        f, mv = arrays[0], arrays[1]  # _data_columns is (frequency, monetary_value)
        info = self._selection_info
        info["n_one_time"] = _whole(float(weights[f == 0].sum()))
        info["n_zero_spend"] = _whole(float(weights[(f > 0) & ~(mv > 0)].sum()))
        info["n_input"] = _whole(float(weights.sum()))
        self._selection_info["correlation"] = _weighted_pearson(selected[0], selected[1], w)
        return selected, w

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: Any, *, weights: Any = None, time_unit: str | None = None) -> Self:
        """Fit the model by maximum likelihood on the repeat buyers.

        Parameters
        ----------
        data : DataFrame or mapping
            RFM summary with ``frequency`` and ``monetary_value`` (mean value of the repeat
            purchases), index ``customer_id``. Customers with ``frequency == 0`` or
            ``monetary_value == 0`` are left out of the fit and counted in ``n_excluded_``
            (one-time buyers silently: they are expected; repeat buyers with zero spend
            with a :class:`~clvlab.exceptions.DataQualityWarning`).
        weights : array-like of shape (n_customers,), optional
            Number of customers each row stands for.
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of the data, recorded as ``time_unit_``; defaults to
            ``data.attrs["time_unit"]`` and may stay unknown (``None``): spend has no time
            dimension.

        Returns
        -------
        self

        Raises
        ------
        EmptyInputError
            No customer has ``frequency > 0`` and ``monetary_value > 0``.
        InvalidValueError, MissingColumnsError
            Bad values (NaN, negative, non-whole frequency, duplicate ids) or columns.
        """
        attrs = getattr(data, "attrs", None) or {}
        known = time_unit if time_unit is not None else attrs.get(C.ATTR_TIME_UNIT)
        self._selection_info = {}
        self._statistics_cache = {}
        try:
            # The base class requires a unit; spend has none, so "D" is a placeholder that
            # is replaced below when the data do not say which unit they are in. Its warnings
            # are collected here and re-issued below so they point at the caller's line.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                super().fit(data, weights=weights, time_unit=known if known is not None else "D")
        finally:
            info = self._selection_info
            del self._selection_info, self._statistics_cache
        self.time_unit_ = known
        at_bound = float(self.params_["q"]) - 1.0 < Q_BOUNDARY_TOLERANCE
        for w in caught:
            if at_bound and issubclass(w.category, ConvergenceWarning):
                continue  # explained by the boundary warning below
            warnings.warn(w.message, w.category, stacklevel=2)
        n_one, n_zero = info["n_one_time"], info["n_zero_spend"]
        self.n_excluded_ = n_one + n_zero
        self.exclusion_note_ = (
            f"Fitted on {info['n_input'] - self.n_excluded_} repeat buyers of "
            f"{info['n_input']} customers; excluded {n_one} one-time buyers (frequency 0)"
            + (f" and {n_zero} repeat buyers with monetary_value 0" if n_zero else "")
            + "."
        )
        if n_zero:
            warnings.warn(
                f"monetary_value: Gamma-Gamma needs monetary_value > 0 for repeat buyers; "
                f"{n_zero} {'customer' if n_zero == 1 else 'customers'} with frequency > 0 "
                f"{'has' if n_zero == 1 else 'have'} monetary_value 0 (customer_id "
                f"{describe_offenders(info['zero_spend_ids'], n_zero)}) and "
                f"{'was' if n_zero == 1 else 'were'} left out of the fit. Were their purchases "
                "refunded or recorded at zero value?",
                DataQualityWarning,
                stacklevel=2,
            )
        self.frequency_spend_correlation_ = info["correlation"]
        self._warn_correlation(stacklevel=3)
        q = float(self.params_["q"])
        if at_bound:
            warnings.warn(
                f"Gamma-Gamma: the estimate of q is at its lower bound (q - 1 = {q - 1.0:.2g}), "
                "so the likelihood has no interior optimum: the spend "
                "data are too heavy-tailed for a finite population mean spend (an "
                "unconstrained fit would give q <= 1 and negative or infinite values, as in "
                "lifetimes). Expected spend stays finite and positive, but the population "
                f"mean ({self.population_mean_spend():.4g}) is meaningless. Look for outliers "
                "in monetary_value or cap them.",
                ModelWarning,
                stacklevel=2,
            )
        return self

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        """Name the cause and the limit when spend shows no spread to model.

        ``1/sqrt(q)`` below ``DEGENERACY_LIMITS["spend_cv"]``: customers' average spend does
        not differ (the Gamma(q, v) of spend rates collapsed): one expected spend for
        everyone. ``1/sqrt(p)`` below ``DEGENERACY_LIMITS["purchase_cv"]``: each customer
        spends the same amount on every purchase: their own mean is their expected spend.
        """
        p, q, v = (float(x) for x in params)
        notes = []
        if 1.0 / math.sqrt(q) < DEGENERACY_LIMITS["spend_cv"]:
            notes.append(
                "the spend data show no difference between customers' average spend, so the "
                f"distribution of spend rates Gamma(q, v) collapsed to a point (q = {q:.3g}, "
                f"v = {v:.3g}). Gamma-Gamma reduces to one expected spend per purchase for "
                f"every customer, p v/(q - 1) = {p * v / (q - 1.0):.4g}, whatever their own "
                "history"
            )
        if 1.0 / math.sqrt(p) < DEGENERACY_LIMITS["purchase_cv"]:
            notes.append(
                "every customer spends the same amount on each of their purchases, so the "
                f"within-customer spend shape p went to infinity (p = {p:.3g}): a customer's "
                "own mean spend is their expected spend"
            )
        if not notes:
            return None
        return "; and ".join(notes) + ". Expected spend stays finite and positive."

    def _warn_correlation(self, stacklevel: int) -> None:
        r = self.frequency_spend_correlation_
        if np.isfinite(r) and abs(r) > CORRELATION_WARNING_THRESHOLD:
            warnings.warn(
                f"Gamma-Gamma assumes spend per purchase is independent of purchase frequency, "
                f"but among the {self.n_customers_} repeat buyers their correlation is "
                f"{r:.2f} (warning threshold |r| > {CORRELATION_WARNING_THRESHOLD}). Expected "
                "spend and CLV may be biased; compare predictions with a holdout period "
                "(clvlab.evaluate) before relying on them.",
                AssumptionWarning,
                stacklevel=stacklevel,
            )

    def summary_table(self) -> SummaryTable:
        """Summary for people, with the exclusions and the independence check added."""
        table = super().summary_table()
        r = self.frequency_spend_correlation_
        table.info.insert(2, ("excluded", f"{self.n_excluded_:,} (frequency 0 or no spend)"))
        table.info.insert(
            3,
            (
                "corr(frequency, spend)",
                "n/a" if not np.isfinite(r) else
                f"{r:.3f} (warning above |r| > {CORRELATION_WARNING_THRESHOLD})",
            ),
        )
        table.info.insert(4, ("population mean spend", f"{self.population_mean_spend():.4f}"))
        table.notes.append("q = 1 + exp(theta) > 1, so the population mean spend is finite; "
                           "q's interval is built on log(q - 1).")
        return table

    # -- predictors -------------------------------------------------------------------------
    def _prediction_frame(self, data: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the validated frame; unlike purchase models, any time unit is fine for spend."""
        self._check_is_fitted()
        return validate_rfm(
            data, require=tuple(columns or self._data_columns), model=self._model_name
        )

    def population_mean_spend(self) -> float:
        """Return the expected spend per purchase of a customer drawn from the population.

        ``p v / (q - 1)`` (Hardie note 025, eq. (4)); finite because ``q > 1``.

        Returns
        -------
        float
        """
        return gg_population_mean_spend(self._params_array())

    def expected_spend(self, data: Any) -> pd.Series:
        """Conditional expected spend per purchase of each customer.

        A weighted average of the population mean and the customer's own mean spend,
        with weight ``p x / (p x + q - 1)`` on the latter (Hardie note 025, eq. (5)).
        Customers with ``frequency == 0`` get the population mean. Repeat buyers with
        ``monetary_value == 0`` (outside the model) also get the population mean, with a
        counted :class:`~clvlab.exceptions.DataQualityWarning`.

        Parameters
        ----------
        data : DataFrame or mapping
            ``frequency`` and ``monetary_value`` per customer, index ``customer_id``.

        Returns
        -------
        Series
            Named ``expected_spend``, indexed like ``data``; in the currency of
            ``monetary_value``, always finite and > 0.
        """
        frame = self._prediction_frame(data)
        x = frame[C.FREQUENCY].to_numpy(dtype=float)
        m = frame[C.MONETARY_VALUE].to_numpy(dtype=float)
        zero = (x > 0) & (m <= 0)
        if zero.any():
            n = int(zero.sum())
            warnings.warn(
                f"monetary_value: {n} {'customer' if n == 1 else 'customers'} with frequency > 0 "
                f"{'has' if n == 1 else 'have'} monetary_value 0 "
                f"(customer_id {describe_offenders(list(frame.index[zero][:5]), n)}); Gamma-Gamma "
                "needs positive spend, so they get the population mean spend.",
                DataQualityWarning,
                stacklevel=2,
            )
            x = np.where(zero, 0.0, x)
        values = check_finite_prediction(
            gg_expected_spend(self._params_array(), x, m), self, "expected_spend"
        )
        return pd.Series(values, index=frame.index, name="expected_spend")

    def _order_value_posterior(
        self, params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the distribution of future order values (``"spend_distribution"`` hook).

        Returns ``(shape, posterior_shape, posterior_rate)``: a future purchase is worth
        ``Gamma(shape, nu)`` with ``nu ~ Gamma(posterior_shape, posterior_rate)``; see
        :func:`clvlab.models.likelihoods.gamma_gamma.gg_order_value_posterior`.
        """
        return gg_order_value_posterior(params, frequency, monetary_value)

    # -- persistence ----------------------------------------------------------------------------
    def _state_dict(self) -> dict[str, Any]:
        state = super()._state_dict()
        state["n_excluded"] = int(self.n_excluded_)
        state["exclusion_note"] = self.exclusion_note_
        r = self.frequency_spend_correlation_
        state["frequency_spend_correlation"] = None if not np.isfinite(r) else float(r)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        if not float(self.params_["q"]) > 1.0:
            raise ValueError(f"Gamma-Gamma needs q > 1; the file has q = {self.params_['q']}")
        self.n_excluded_ = int(state["n_excluded"])
        self.exclusion_note_ = str(state.get("exclusion_note", ""))
        r = state.get("frequency_spend_correlation")
        self.frequency_spend_correlation_ = float("nan") if r is None else float(r)
