r"""Prediction intervals: how sure each forecast is, per customer and for the whole base.

Two kinds of interval, for two different questions:

``kind="predictive"`` -- *what will this customer actually do?*
    A range that holds the customer's future purchases (and their value) with the
    stated probability. It combines the randomness of the customer's behaviour (the
    purchase model's exact distribution of the count given the history, the Gamma-Gamma
    distribution of the value of each order) with the uncertainty of the estimated
    parameters.
``kind="confidence"`` -- *how sure are we of the expected value?*
    A range for the *expected* purchases and the *expected* CLV, from parameter
    uncertainty only. It narrows as the data grow; a predictive interval does not.

Method (details and coverage results in ``docs/intervals.md``)
--------------------------------------------------------------
*Counts.* For every distinct history ``(x, t_x, T)`` the purchase model's conditional
pmf ``P(X(T, T+t] = n | history)`` (the contract's ``conditional_probability_of_purchases``)
is summed over ``n = 0, 1, ...`` until its cumulative probability passes the levels
needed. An interval on a count is a set of whole numbers, so it cannot hold exactly 80 %
of the probability: ``[L, U]`` is the equal-tailed set with ``L`` the smallest ``n``
with ``F(n) >= (1 - level)/2`` and ``U`` the smallest ``n`` with ``F(n) >= (1 + level)/2``.
Its probability under the model, reported as ``purchases_interval_probability``, is at
least ``level`` (**convention: coverage >= level**).

*Spend and CLV.* Under Gamma-Gamma (the contract's ``"spend_distribution"``) a
customer's future purchases are worth ``Gamma(p, nu)`` each with
``nu | history ~ Gamma(q + p x, v + x m)``, so ``n`` purchases are worth
``(v + x m) G / H`` with ``G ~ Gamma(n p)``, ``H ~ Gamma(q + p x)``. The CLV of a customer
is ``margin x d x`` that value, with ``d`` the customer's mean discount factor per
expected purchase over the horizon (discounted / undiscounted expected purchases, so the
mean of the predictive distribution is exactly the CLV point estimate; the spread of the
purchase times within the horizon is neglected). Its distribution is the mixture over
the purchase count of scaled beta-prime laws plus a point mass at 0; quantiles are read
from that mixture tabulated on a fine logarithmic grid, once per distinct history.

*Parameter uncertainty.* The estimates' sampling distribution is the normal
approximation on the fitting scale (log parameters; ``log(q - 1)`` for Gamma-Gamma)
with the inverse Hessian (``variance_matrix_``) mapped to that scale. Functions of the
parameters are integrated over it with a degree-3 cubature rule: ``2k`` points
``theta_hat +- sqrt(k) L e_j`` (``L L' = Sigma``) of equal weight, which reproduce the
mean and covariance of the parameters exactly. This gives the confidence intervals
(log-normal, from the cubature variance of the log of each expected value), the
parameters' share of every total's variance, and the mixture of each customer's count
distribution over the parameters. That mixture is computed where parameter uncertainty
adds more than :data:`PARAMETER_SHARE_THRESHOLD` (0.1 %) to the variance of the
customer's count (measured by the same cubature); below that threshold the distribution
at the estimates is used, as the mixture could not move a bound (on CDNOW the largest
share is 0.17 %, and at a million customers far less). The same holds for the spend
model: where its parameters add more than the threshold to a customer's CLV variance,
the CLV distribution is the cubature mixture over the spend parameters too, and its
quantiles are found by bisection on the exact mixture cdf.

*Totals.* Customers are independent given the parameters, so the total is the sum of
the customers' expectations -- which move together with the parameters (cubature) --
plus the sum of their independent deviations, whose variance is estimated without bias
by simulating every customer's purchases and spend from the model. The total's interval
is normal with both variances: it accounts for the shared parameter uncertainty and is
*not* a sum of per-customer bounds (which would be far too wide).

Per-customer intervals are deterministic (no simulation); the totals' process variance
is simulated, so totals are deterministic for a given ``random_state``. Customers with
identical histories share their computation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from clvlab import _columns as C
from clvlab._checks import check_discount_rate, check_horizon, check_level, check_margin
from clvlab.exceptions import InvalidValueError, ModelWarning, reissue_warnings
from clvlab.models.base import _single_threaded_blas
from clvlab.models.contract import describe, missing_note, supports
from clvlab.models.likelihoods._numerics import _distinct_rows
from clvlab.validation import aligned_to, validate_rfm

__all__ = [
    "predict_intervals",
    "forecast_intervals",
    "score_interval_columns",
    "group_ranges",
    "interval_band",
    "holdout_coverage",
    "plain_language_note",
    "PredictionIntervals",
    "KINDS",
    "DEFAULT_N_DRAWS",
    "PARAMETER_SHARE_THRESHOLD",
    "INTERVAL_COLUMNS",
    "TOTAL_ROWS",
]

#: The two kinds of interval (see the module docstring).
KINDS = ("predictive", "confidence")

#: Default number of simulated replicates of the base for the totals (None: automatic).
DEFAULT_N_DRAWS: int | None = None

#: Parameter uncertainty is mixed into a customer's predictive distribution when it adds
#: more than this share to its variance (measured by cubature).
PARAMETER_SHARE_THRESHOLD = 1e-3

#: For CLV the purchase count's distribution is summed until the mass left out is below
#: this share of the tail probability ``(1 - level) / 2`` (so CLV bounds err, if at all,
#: by at most 5 % of the tail probability -- half a point at level 0.8 -- towards wider
#: intervals).
CLV_TAIL_SHARE = 0.05

#: Customer-draws simulated to estimate the process variance of the totals when
#: ``n_draws`` is not given (at least one replicate of every customer).
PROCESS_DRAW_BUDGET = 1_000_000
MAX_PROCESS_REPLICATES = 500

#: Customers whose purchases are simulated per horizon of :func:`forecast_intervals`.
FAN_SIMULATED_CUSTOMERS = 20_000

#: Customer-draws per horizon of :func:`forecast_intervals` (replicates of the simulated
#: customers: 5 at 20,000; the process variance to about 1%, its standard error to 0.5%).
FAN_PROCESS_DRAWS = 100_000

#: Points of the logarithmic grid on which a customer's spend distribution is tabulated.
SPEND_GRID_POINTS = 128

#: Customer rows per block when tabulating spend distributions (memory bound).
_BLOCK_ROWS = 4096

#: Customers per block of the inverse-cdf search of the totals' simulation (memory bound).
_SEARCH_BLOCK = 1 << 18

#: (count, history) pairs per call of the purchase model's pmf in a walk (memory bound).
_PMF_BLOCK = 1 << 19

#: Columns of :attr:`PredictionIntervals.customers`, in order.
INTERVAL_COLUMNS: tuple[str, ...] = (
    "expected_purchases",
    "purchases_lower",
    "purchases_upper",
    "purchases_interval_probability",
    "probability_no_purchase",
    "clv",
    "clv_lower",
    "clv_upper",
)

#: Rows of :attr:`PredictionIntervals.totals`.
TOTAL_ROWS: tuple[str, ...] = ("purchases", "value", "clv")


# ======================================================================================
# totals (of all customers or of groups)
# ======================================================================================
@dataclass
class _TotalsData:
    """Per-customer parts of the totals (totals of any grouping are sums of them).

    Expectations at the estimates and at the cubature points, and each customer's
    process variance (predictive).
    """

    kind: str
    level: float
    codes: np.ndarray  # customer -> distinct history
    e_hat: np.ndarray  # per history: expected purchases
    e_pts: list[np.ndarray]  # per history, at the purchase model's cubature points
    spend: np.ndarray | None = None  # per customer: expected spend per purchase
    spend_pts: list[np.ndarray] = field(default_factory=list)  # at the spend model's points
    de_hat: np.ndarray | None = None  # per history: discounted expected purchases
    de_pts: list[np.ndarray] = field(default_factory=list)
    margin: float = 1.0
    process: dict[str, np.ndarray] | None = None  # per customer: variance of own deviation

    def frame(self, group: np.ndarray | None = None, labels: list[Any] | None = None
              ) -> pd.DataFrame:
        """Totals with intervals, for all customers or per group code (``labels[g]``)."""
        n = self.codes.shape[0]
        g = np.zeros(n, dtype=np.int64) if group is None else group
        n_groups = 1 if labels is None else len(labels)

        def total(values: np.ndarray) -> np.ndarray:
            return np.bincount(g, weights=values, minlength=n_groups)

        def param_var(center: np.ndarray, variants: Iterable[np.ndarray]) -> np.ndarray:
            # (variants come one at a time: one customer-sized array alive, not 2k)
            squares = [(total(v) - center) ** 2 for v in variants]
            if not squares:
                return np.zeros(n_groups)
            return np.mean(squares, axis=0)

        codes = self.codes
        parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        est = total(self.e_hat[codes])
        parts["purchases"] = (est, param_var(est, (e[codes] for e in self.e_pts)))
        if self.spend is not None and self.de_hat is not None:
            for name, per_row, pts, factor in (
                ("value", self.e_hat, self.e_pts, 1.0),
                ("clv", self.de_hat, self.de_pts, self.margin),
            ):
                base = per_row[codes]
                scaled_spend = factor * self.spend
                est = total(scaled_spend * base)
                var = param_var(est, (_times(e[codes], scaled_spend) for e in pts))
                del scaled_spend
                var = var + param_var(est, (factor * s * base for s in self.spend_pts))
                parts[name] = (est, var)
                del base
        process_totals = ({name: total(values) for name, values in self.process.items()}
                          if self.kind != "confidence" and self.process is not None else {})
        z = float(special.ndtri(0.5 + self.level / 2.0))
        rows = []
        for name, (est, var_par) in parts.items():
            for k in range(n_groups):
                e, vp = float(est[k]), float(var_par[k])
                key = name if labels is None else (labels[k], name)
                if self.kind == "confidence":
                    sd = math.sqrt(vp)
                    s = sd / e if e > 0 else 0.0
                    rows.append((key, {"estimate": e, "lower": e * math.exp(-z * s),
                                       "upper": e * math.exp(z * s), "se": sd}))
                    continue
                assert self.process is not None
                vq = float(process_totals[name][k])
                sd = math.sqrt(vp + vq)
                lo, hi = max(e - z * sd, 0.0), e + z * sd
                if name == "purchases":
                    lo, hi = float(math.floor(lo)), float(math.ceil(hi))
                rows.append((key, {"estimate": e, "lower": lo, "upper": hi, "se": sd,
                                   "se_parameters": math.sqrt(vp), "se_process": math.sqrt(vq)}))
        out = pd.DataFrame([r for _, r in rows],
                           index=pd.Index([k for k, _ in rows], tupleize_cols=labels is not None))
        if labels is None:
            out.index.name = "total"
        else:
            out.index = pd.MultiIndex.from_tuples(list(out.index), names=["group", "total"])
            out = out.sort_index(level=0, sort_remaining=False)
        return out


def _times(values: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``factor * values``, in place in ``values`` (a temporary: one array fewer alive)."""
    values *= factor
    return values


# ======================================================================================
# result
# ======================================================================================
@dataclass(frozen=True)
class PredictionIntervals:
    """Per-customer and total intervals from :func:`predict_intervals`.

    Attributes
    ----------
    customers : DataFrame
        Index ``customer_id``; columns :data:`INTERVAL_COLUMNS` (the CLV columns only with
        a spend model). ``expected_purchases`` and ``clv`` are the point estimates (the
        same numbers as :meth:`expected_purchases` and
        :func:`clvlab.customer_lifetime_value`); ``purchases_lower/upper`` bound the
        purchase count (predictive: whole numbers, probability
        ``purchases_interval_probability >= level``) or its expectation (confidence);
        ``probability_no_purchase`` is P(no purchase in the horizon) (left out, with a
        note, for a confidence interval of a model without a conditional pmf).
    totals : DataFrame
        Index ``purchases, value, clv`` (``value``: spend over the horizon, undiscounted,
        without margin); columns ``estimate, lower, upper, se``. Only ``purchases``
        without a spend model.
    kind : {"predictive", "confidence"}
    level : float
    horizon : float
        In ``time_unit``.
    time_unit : str or None
    discount_rate, margin : float
    n_draws : int or None
        As given (see :func:`predict_intervals`); ``details["process_replicates"]`` is
        the number used.
    random_state : int, Generator or None
        As given.
    notes : list of str
        What was included and how, in words (for reports and logs).
    details : dict
        Numbers behind the notes (cubature shares, replicates, mixed customers, ...).
    """

    customers: pd.DataFrame
    totals: pd.DataFrame
    kind: str
    level: float
    horizon: float
    time_unit: str | None
    discount_rate: float
    margin: float
    n_draws: int | None
    random_state: Any
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    _counts: _CountTable | None = field(default=None, repr=False, compare=False)
    _codes: np.ndarray | None = field(default=None, repr=False, compare=False)
    _totals: _TotalsData | None = field(default=None, repr=False, compare=False)

    def totals_by(self, groups: npt.ArrayLike | pd.Series) -> pd.DataFrame:
        """Totals with their intervals for each group of customers (e.g. segments).

        Each group's range is computed like :attr:`totals` (not by adding customers'
        bounds): the group's expectations move together with the parameters, and its
        customers' own deviations add up.

        Parameters
        ----------
        groups : Series or array-like of shape (n_customers,)
            A label per customer (a Series is aligned on ``customer_id``; missing labels
            are not allowed).

        Returns
        -------
        DataFrame
            Index ``(group, total)`` with ``total`` in ``purchases, value, clv``; the
            columns of :attr:`totals`. Groups in sorted order (categories in their order).
        """
        if self._totals is None:  # pragma: no cover - always set by predict_intervals
            raise ValueError("these intervals carry no totals data.")
        index = self.customers.index
        if isinstance(groups, pd.Series):
            labels_in = aligned_to(groups, index)
        else:
            labels_in = pd.Series(
                np.asarray(groups).reshape(-1) if np.ndim(groups) else [groups], dtype=object)
        if len(labels_in) != len(index) or labels_in.isna().any():
            raise InvalidValueError(
                f"groups must give a label to every customer ({len(index)}); got "
                f"{len(labels_in)} labels, {int(labels_in.isna().sum())} missing.",
                column="groups", rule="one label per customer",
            )
        codes, uniques = pd.factorize(labels_in, sort=True)
        del labels_in
        return self._totals.frame(codes.astype(np.int64, copy=False), list(uniques))

    def purchase_coverage(
        self, observed: npt.ArrayLike | pd.Series, *, by: npt.ArrayLike | None = None
    ) -> pd.DataFrame:
        """Coverage of the predictive purchase intervals against observed counts.

        Parameters
        ----------
        observed : Series or array-like of shape (n_customers,)
            Purchases each customer actually made over the horizon (e.g. the holdout's
            ``frequency_holdout``); a Series is aligned on ``customer_id``.
        by : array-like of shape (n_customers,), optional
            Group labels (e.g. calibration-frequency bins); one row per group plus
            ``"all"``.

        Returns
        -------
        DataFrame
            Columns ``n_customers``; ``realised`` (share of customers whose count is in
            ``[lower, upper]``); ``stated`` (mean model probability of the intervals,
            ``>= level``: what ``realised`` should be); ``randomised`` (mean randomised
            coverage: the part of the probability interval ``[F(y-1), F(y)]`` of the
            observed count ``y`` that lies in ``[(1-level)/2, (1+level)/2]``, divided by
            ``P(y)`` -- equal to ``level`` in expectation when the model is right, the
            exact-nominal check for integer intervals).
        """
        if self.kind != "predictive" or self._counts is None or self._codes is None:
            raise ValueError(
                "purchase_coverage needs predictive intervals (kind='predictive')."
            )
        index = self.customers.index
        if isinstance(observed, pd.Series):
            y = observed.reindex(index).to_numpy(dtype=float)
        else:
            y = np.asarray(observed, dtype=float).reshape(-1)
        if y.shape[0] != len(index) or not np.all(np.isfinite(y)) or np.any(y < 0):
            raise InvalidValueError(
                f"observed must hold one finite count >= 0 per customer ({len(index)}); "
                f"got {y.shape[0]} values, {int(np.sum(~np.isfinite(y)))} missing or infinite.",
                column="observed", rule="one count >= 0 per customer",
            )
        lo_t, hi_t = _tails(self.level)
        table = self._counts
        f_below, f_at = table.cdf_pair(self._codes, y)
        lower = self.customers["purchases_lower"].to_numpy()
        upper = self.customers["purchases_upper"].to_numpy()
        inside = (y >= lower) & (y <= upper)
        mass = f_at - f_below
        overlap = np.clip(np.minimum(f_at, hi_t) - np.maximum(f_below, lo_t), 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            randomised = np.where(mass > 0, overlap / mass, 0.0)
        stated = self.customers["purchases_interval_probability"].to_numpy()
        groups = np.full(len(index), "all", dtype=object) if by is None else np.asarray(by)
        frame = pd.DataFrame(
            {"group": groups, "inside": inside, "stated": stated, "randomised": randomised}
        )
        rows = {}
        parts = [("all", frame)] if by is None else [
            ("all", frame), *((g, d) for g, d in frame.groupby("group", sort=True))
        ]
        for name, part in parts:
            rows[name] = {
                "n_customers": len(part),
                "realised": float(part["inside"].mean()) if len(part) else math.nan,
                "stated": float(part["stated"].mean()) if len(part) else math.nan,
                "randomised": float(part["randomised"].mean()) if len(part) else math.nan,
            }
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "group"
        return out


# ======================================================================================
# argument checks
# ======================================================================================

def process_replicates(n_customers: int, budget: int = PROCESS_DRAW_BUDGET) -> int:
    """Replicates of every customer simulated for a total: ``budget`` draws in all.

    At least one and at most :data:`MAX_PROCESS_REPLICATES` (pandas and Spark alike).
    """
    return int(min(MAX_PROCESS_REPLICATES,
                   max(1, math.ceil(budget / max(int(n_customers), 1)))))

def _number(value: Any, name: str, *, minimum: float, open_low: bool = False,
            maximum: float | None = None, hint: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {type(value).__name__} ({value!r}).")
    v = float(value)
    ok = math.isfinite(v) and (v > minimum if open_low else v >= minimum)
    if maximum is not None:
        ok = ok and v < maximum
    if not ok:
        bound = f"> {minimum:g}" if open_low else f">= {minimum:g}"
        if maximum is not None:
            bound += f" and < {maximum:g}"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}. {hint}".strip())
    return v


def _check_models(purchase_model: Any, spend_model: Any, kind: str) -> None:
    for name in ("expected_purchases", "probability_alive"):
        if not supports(purchase_model, name):
            raise TypeError(
                "purchase_model must be a fitted clvlab purchase model (e.g. BetaGeoFitter); "
                f"got {type(purchase_model).__name__}. Check the order of the arguments: "
                "purchase model first, then spend model."
            )
    checker = getattr(purchase_model, "_check_is_fitted", None)
    if callable(checker):
        checker()
    if kind == "predictive" and not supports(
        purchase_model, "conditional_probability_of_purchases"
    ):
        raise NotImplementedError(
            missing_note(
                purchase_model, "conditional_probability_of_purchases",
                "the predictive interval on purchases",
            )
            + " Use kind='confidence' for an interval on the expected value."
        )
    if spend_model is None:
        return
    if not supports(spend_model, "expected_spend"):
        raise TypeError(
            "spend_model must be a fitted clvlab spend model (e.g. GammaGammaFitter) or None; "
            f"got {type(spend_model).__name__}."
        )
    checker = getattr(spend_model, "_check_is_fitted", None)
    if callable(checker):
        checker()
    if not supports(spend_model, "spend_distribution"):
        raise NotImplementedError(
            missing_note(spend_model, "spend_distribution", "the interval on CLV")
            + " Pass spend_model=None for intervals on purchases only."
        )
    unit, other = purchase_model.time_unit_, getattr(spend_model, "time_unit_", None)
    if unit is not None and other is not None and unit != other:
        raise ValueError(
            f"spend_model was fitted in time unit {other!r} but purchase_model in {unit!r}; "
            "fit both on the same RFM summary."
        )


def _check_finite(values: np.ndarray, model: Any, what: str) -> None:
    """Refuse non-finite model output (a degenerate fit) with a clear message."""
    bad = ~np.isfinite(values)
    if bad.any():
        name = describe(model, distributions=False).name
        raise ValueError(
            f"{name} gives non-finite {what} for {int(bad.sum())} distinct "
            "histories at its estimates (parameters "
            f"{', '.join(f'{k}={v:.4g}' for k, v in model.params_.items())}): the fit is "
            "degenerate. Refit with penalizer_coef > 0 or on more data."
        )


def _tails(level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    return tail, 1.0 - tail


# ======================================================================================
# parameters: fitting-scale normal approximation, cubature points, draws
# ======================================================================================
@dataclass
class _ParamUncertainty:
    """Estimate and the Cholesky factor of its covariance on the fitting scale."""

    model: Any
    theta: np.ndarray
    chol: np.ndarray | None  # None: no usable covariance

    @classmethod
    def of(cls, model: Any, notes: list[str]) -> _ParamUncertainty:
        params = model.params_.to_numpy(dtype=float)
        theta = np.asarray(model._to_theta(params), dtype=float)
        cov = getattr(model, "variance_matrix_", None)
        name = describe(model, distributions=False).name
        chol = None
        if cov is not None:
            jac = np.asarray(model._natural_jacobian(theta), dtype=float)
            sigma = np.asarray(cov, dtype=float) / np.outer(jac, jac)
            if np.all(np.isfinite(sigma)):
                try:
                    chol = np.linalg.cholesky(0.5 * (sigma + sigma.T))
                except np.linalg.LinAlgError:
                    chol = None
        if chol is None:
            msg = (
                f"{name}: the parameters' variance matrix is missing or not positive definite, "
                "so parameter uncertainty is left out of the intervals (they are too narrow "
                "by that much). Refit on more data or with penalizer_coef > 0."
            )
            warnings.warn(msg, ModelWarning, stacklevel=3)
            notes.append(msg)
        return cls(model, theta, chol)

    @property
    def k(self) -> int:
        return int(self.theta.shape[0])

    def natural(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(self.model._to_natural(theta), dtype=float)

    def estimate(self) -> np.ndarray:
        return self.natural(self.theta)

    def cubature_points(self, dim: int | None = None) -> list[np.ndarray]:
        """Natural parameters at ``theta +- sqrt(dim) L e_j`` (empty without covariance).

        ``dim`` defaults to ``k``; a larger ``dim`` gives this block's points of a joint
        rule over several independent models (whose centre carries the rest of the weight).
        """
        if self.chol is None:
            return []
        scale = math.sqrt(self.k if dim is None else dim)
        return [self.natural(self.theta + sign * scale * self.chol[:, j])
                for j in range(self.k) for sign in (1.0, -1.0)]

    def draws(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """``n`` natural-parameter draws (the estimate ``n`` times without covariance)."""
        z = rng.standard_normal((n, self.k))
        if self.chol is None:
            return [self.estimate() for _ in range(n)]
        return [self.natural(self.theta + self.chol @ zi) for zi in z]


def _cubature_variance(values: list[np.ndarray], center: np.ndarray) -> np.ndarray:
    """Variance of a function of the parameters from its values at the cubature points."""
    if not values:
        return np.zeros_like(center, dtype=float)
    acc = np.zeros_like(center, dtype=float)
    for v in values:
        acc += (v - center) ** 2
    return acc / len(values)


# ======================================================================================
# distinct histories
# ======================================================================================
def _factorize(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of identical rows and the first row of each code (first-seen order)."""
    n = arrays[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # one hash pass over the rows' combined column codes (whole numbers below n are their
    # own codes); the numbering is first-seen order, as factorizing row by row would give
    codes, _ = _distinct_rows(arrays)
    key = codes.astype(np.int64, copy=False)
    # codes number the rows in first-seen order, so a code's first row is where the
    # running maximum of the codes rises
    rises = np.empty(n, dtype=bool)
    rises[0] = True
    np.greater(key[1:], np.maximum.accumulate(key[:-1]), out=rises[1:])
    return key, np.flatnonzero(rises)


# ======================================================================================
# count distributions of distinct histories (ragged tables)
# ======================================================================================
@dataclass
class _CountTable:
    """pmf and cdf of ``n = 0..N_h`` for each row ``h``, stored flat (row after row)."""

    offsets: np.ndarray  # (n_rows + 1,)
    pmf: np.ndarray  # flat
    cdf: np.ndarray  # flat
    truncated: int = 0  # rows whose walk hit the cap
    _key: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def n_max(self) -> np.ndarray:
        return np.diff(self.offsets) - 1

    def row_of_entries(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_rows), np.diff(self.offsets))

    def first_at_least(self, tau: np.ndarray | float, eps: float = 1e-12) -> np.ndarray:
        """Per row, the smallest ``n`` with ``F(n) >= tau`` (``N_h`` if none)."""
        if np.ndim(tau) == 0 and self.n_rows:
            # one level for every row: no table-sized row index (every row has an entry)
            below = self.cdf < float(tau) - eps
            count = np.add.reduceat(below, self.offsets[:-1], dtype=np.int64)
            return np.minimum(count, self.n_max)
        tau = np.broadcast_to(np.asarray(tau, dtype=float), (self.n_rows,))
        rows = self.row_of_entries()
        below = self.cdf < tau[rows] - eps
        count = np.bincount(rows, weights=below, minlength=self.n_rows).astype(np.int64)
        return np.minimum(count, self.n_max)

    def cdf_at(self, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``F_rows(n)`` (1 beyond the table, 0 below 0)."""
        n = np.asarray(n, dtype=np.int64)
        nmax = self.n_max[rows]
        inside = (n >= 0) & (n <= nmax)
        out = np.where(n > nmax, 1.0, 0.0)
        out[inside] = self.cdf[self.offsets[rows[inside]] + n[inside]]
        return out

    def cdf_pair(self, rows: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(F(y - 1), F(y))`` per customer; beyond the table both are the table's end."""
        yi = np.asarray(y, dtype=np.int64)
        nmax = self.n_max[rows]
        last = self.cdf[self.offsets[rows] + nmax]
        below = np.where(yi - 1 > nmax, last, self.cdf_at(rows, yi - 1))
        at = np.where(yi > nmax, last, self.cdf_at(rows, yi))
        return below, at

    def pmf_at(self, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        n = np.asarray(n, dtype=np.int64)
        nmax = self.n_max[rows]
        out = np.zeros(rows.shape[0])
        inside = (n >= 0) & (n <= nmax)
        out[inside] = self.pmf[self.offsets[rows[inside]] + n[inside]]
        return out

    def inverse(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Smallest ``n`` with ``F_rows(n) >= u`` (inverse-cdf draws; capped at ``N_h``)."""
        if self._key is None:
            # row h's entries hold h + F_h(n): increasing over the whole table
            key = np.repeat(np.arange(self.n_rows, dtype=float), np.diff(self.offsets))
            key += self.cdf
            self._key = key
        query = rows + u
        n = np.searchsorted(self._key, query, side="left")
        del query
        n -= self.offsets[rows]
        np.maximum(n, 0, out=n)
        np.minimum(n, self.n_max[rows], out=n)
        return n


def _count_cap(expected: np.ndarray) -> np.ndarray:
    """Largest count walked per row: far beyond any quantile of a sane distribution."""
    return np.ceil(expected + 40.0 * np.sqrt(expected + 1.0) + 50.0).astype(np.int64)


def _next_block(p: np.ndarray, end: np.ndarray, b: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Size of each row's next block of counts in :func:`_walk_counts`.

    ``p`` holds the block's pmf values, ``end`` each row's exclusive end in it, ``b`` the
    block sizes and ``short`` the probability each row still lacks (``target - F``). Past
    the mode the pmf falls roughly geometrically with ratio ``rho = p(n) / p(n-1)``, so
    the tail after ``k`` more terms is about ``p(n) rho (1 - rho^k) / (1 - rho)``: solve
    for the ``k`` that supplies ``short``, add one for safety; before the mode (``rho >=
    1``) or after a one-term block, double.
    """
    last = p[end - 1]
    prev = np.where(b >= 2, p[np.maximum(end - 2, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(prev > 0, last / prev, np.inf)
        # geometric tail: p rho (1 - rho^k) / (1 - rho) >= short
        frac = 1.0 - short * (1.0 - rho) / np.maximum(last * rho, 1e-300)
        k = np.where((rho < 1) & (frac > 0), np.log(np.maximum(frac, 1e-300)) / np.log(rho),
                     np.inf)
    guess = np.ceil(k) + 1
    doubled = 2 * b
    return np.where(np.isfinite(guess), np.clip(guess, 1, doubled), doubled).astype(np.int64)


def _log_pmf_blocks(log_pmf: Callable[[int, np.ndarray, np.ndarray], np.ndarray], j: int,
                    n: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``log_pmf(j, n, rows)`` by blocks of :data:`_PMF_BLOCK` pairs (memory bound).

    The model's pmf is elementwise, so the blocks give the same numbers as one call,
    with the model's temporaries sized by a block rather than by the whole pass.
    """
    if n.size <= _PMF_BLOCK:
        return np.asarray(log_pmf(j, n, rows), dtype=float)
    out = np.empty(n.size)
    for lo in range(0, n.size, _PMF_BLOCK):
        out[lo:lo + _PMF_BLOCK] = log_pmf(j, n[lo:lo + _PMF_BLOCK], rows[lo:lo + _PMF_BLOCK])
    return out


def _walk_counts(
    log_pmf: Callable[[int, np.ndarray, np.ndarray], np.ndarray],
    weights: np.ndarray,
    target: np.ndarray,
    first_block: np.ndarray,
    cap: np.ndarray,
) -> _CountTable:
    """Sum each row's pmf over ``n = 0, 1, ...`` until its (mixture) cdf reaches ``target``.

    ``log_pmf(j, n, rows)`` returns log P(n) for the pairs ``(n[i], rows[i])`` under
    parameter set ``j`` (``j < len(weights)``); the mixture weighs set ``j`` by
    ``weights[j]``. Each pass evaluates the next block of counts of every unfinished row
    in one call: ``first_block[h]`` counts at first (a guess of what the row needs),
    then blocks sized from the row's tail, so a row costs few calls and few terms beyond what it
    needs (see :func:`_next_block`). Rows stop at ``target`` or at the count ``cap``.
    Returns the mixture's table.
    """
    n_params = len(weights)
    n_rows = target.shape[0]
    active = np.arange(n_rows)
    total = np.zeros(n_rows)
    length = np.zeros(n_rows, dtype=np.int64)
    block = np.maximum(np.asarray(first_block, dtype=np.int64), 1)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    truncated = 0
    while active.size:
        b = np.minimum(block[active], np.maximum(cap[active] + 1 - length[active], 1))
        owner = np.repeat(np.arange(active.size), b)
        start = np.cumsum(b) - b
        n = (length[active][owner] + np.arange(owner.size) - start[owner]).astype(float)
        rows = active[owner]
        each = np.stack([_log_pmf_blocks(log_pmf, j, n, rows) for j in range(n_params)])
        np.exp(each, out=each)
        each = np.where(np.isfinite(each), each, 0.0)
        # (elementwise, not a BLAS product: BLAS threads stall on a busy machine)
        p = each[0] if n_params == 1 else np.sum(weights[:, None] * each, axis=0)
        cum = total[rows] + _ragged_cumsum(p, np.append(start, owner.size))
        reached = cum >= target[rows]
        # first entry of each row that reaches the target (else its block's end)
        first_idx = np.where(reached, np.arange(owner.size), owner.size)
        stop = np.minimum.reduceat(first_idx, start) if owner.size else first_idx
        done = stop < owner.size
        end = np.where(done, stop + 1, start + b)  # exclusive end of the kept entries
        keep_len = end - start
        keep = np.arange(owner.size) < end[owner]
        pieces.append((rows[keep], n[keep].astype(np.int64), p[keep]))
        total[active] = cum[end - 1]
        length[active] += keep_len
        hit_cap = ~done & (length[active] > cap[active])
        truncated += int(hit_cap.sum())
        block[active] = _next_block(p, end, b, target[active] - total[active])
        active = active[~(done | hit_cap)]
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    pmf = np.zeros(int(offsets[-1]))
    pieces.reverse()
    while pieces:  # (each piece freed once placed: not all alive beside the table)
        rows_k, n_k, p_k = pieces.pop()
        pmf[offsets[rows_k] + n_k] = p_k
        del rows_k, n_k, p_k
    return _CountTable(offsets, pmf, _ragged_cumsum(pmf, offsets), truncated)


# ======================================================================================
# spend: the value of n future purchases, tabulated
# ======================================================================================
def _spend_quantiles(
    counts: _CountTable,
    rows: np.ndarray,
    shape: np.ndarray,
    post_shape: np.ndarray,
    taus: tuple[float, float],
    tops: dict[tuple[float, float], int] | None = None,
    n_end: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of ``Y = (value of the next N purchases) / posterior_rate`` per pair.

    ``Y | N = n`` is beta-prime ``(n shape, post_shape)`` (0 for ``n = 0``) and ``N`` has
    the row's pmf. Pairs ``(rows[i], shape[i], post_shape[i])``; returns the ``taus``
    quantiles. The mixture cdf is tabulated on a logarithmic grid (``SPEND_GRID_POINTS``
    points spanning the 1e-6 quantile of one purchase to the 1 - 1e-6 quantile of the
    largest count) by one matrix product per spend group and block of rows; quantiles
    are interpolated linearly in log y (grid spacing about 7 %; against a 1,024-point
    grid the bounds differ by at most 0.3 % on CDNOW). The count's probability left out
    by the walk (``M``, below ``CLV_TAIL_SHARE`` of a tail) is placed where it widens the
    interval: at infinity for the upper bound, at 0 for the lower (the lower bound is the
    ``tau - M`` quantile).

    ``tops`` (``{(shape, post_shape): largest count}``, from :func:`_grid_tops` over a
    larger set of customers) fixes each spend group's grid, so customers scored in parts
    (Spark partitions) get the bounds they get when scored all together. ``n_end``
    (per table row, at most its ``N_h``) uses only the counts ``0..n_end[h]`` of each
    row, as a table cut there (:func:`_truncate`) would, without copying the table.
    """
    n_pairs = rows.shape[0]
    out_lo = np.zeros(n_pairs)
    out_hi = np.zeros(n_pairs)
    group_codes, group_first = _factorize(shape, post_shape)
    nmax_rows = counts.n_max if n_end is None else n_end
    missing_rows = np.clip(1.0 - counts.cdf[counts.offsets[:-1] + nmax_rows], 0.0, 1.0)
    order = np.lexsort((nmax_rows[rows], group_codes))  # by group, then by count length
    bounds = np.searchsorted(group_codes[order], np.arange(group_first.size + 1))
    # One BLAS thread: the products are short and wide (a block's rows x at most a few
    # hundred counts x the grid), and OpenBLAS threads waking for each of them spin and
    # compete with the rest on a busy machine (7x the CPU time of one thread at a million
    # customers). Each entry is the same sum either way.
    with _single_threaded_blas():
        for g, first in enumerate(group_first):
            members = order[bounds[g]:bounds[g + 1]]
            a, beta = float(shape[first]), float(post_shape[first])
            grp_rows = rows[members]
            n_top = int(nmax_rows[grp_rows].max())
            if tops is not None:
                n_top = max(n_top, int(tops.get((a, beta), n_top)))
            if n_top == 0:
                continue  # only point masses at 0
            z_lo = special.betaincinv(a, beta, 1e-6)
            z_hi = special.betaincinv(n_top * a, beta, 1.0 - 1e-6)
            y_lo = z_lo / (1.0 - z_lo)
            y_hi = z_hi / (1.0 - z_hi) if z_hi < 1.0 else np.finfo(float).max / 4
            y_hi = max(y_hi, y_lo * 1.0001)
            log_grid = np.linspace(math.log(y_lo), math.log(y_hi), SPEND_GRID_POINTS)
            grid = np.exp(log_grid)
            nvals = np.arange(1, n_top + 1, dtype=float)[:, None]
            table = np.vstack([np.ones((1, grid.size)),
                               special.betainc(nvals * a, beta, grid / (1.0 + grid))])
            for lo in range(0, members.size, _BLOCK_ROWS):
                blk = members[lo:lo + _BLOCK_ROWS]
                brow = rows[blk]
                nmax_b = nmax_rows[brow]
                width = int(nmax_b.max()) + 1
                dense = np.zeros((brow.size, width))
                rep = np.repeat(np.arange(brow.size), nmax_b + 1)
                within = np.arange(rep.size) - np.repeat(np.cumsum(nmax_b + 1) - (nmax_b + 1),
                                                         nmax_b + 1)
                src = np.repeat(counts.offsets[brow], nmax_b + 1) + within
                dense[rep, within] = counts.pmf[src]
                cdf = dense @ table[:width]
                p0 = dense[:, 0]
                missing = missing_rows[brow]
                for tau, out in ((taus[0] - missing, out_lo), (taus[1] + 0.0 * missing, out_hi)):
                    k = (cdf < (tau - 1e-12)[:, None]).sum(axis=1)
                    inner = np.clip(k, 1, grid.size - 1)
                    f0 = cdf[np.arange(brow.size), inner - 1]
                    f1 = cdf[np.arange(brow.size), inner]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        w = np.clip(np.where(f1 > f0, (tau - f0) / (f1 - f0), 1.0), 0.0, 1.0)
                    y = np.exp(log_grid[inner - 1] + w * (log_grid[inner] - log_grid[inner - 1]))
                    y = np.where(k == 0, grid[0], np.where(k >= grid.size, grid[-1], y))
                    out[blk] = np.where(p0 >= tau - 1e-12, 0.0, y)
    return out_lo, out_hi


def _grid_tops(counts: _CountTable, rows: np.ndarray, shape: np.ndarray,
               post_shape: np.ndarray, n_end: np.ndarray | None = None,
               ) -> dict[tuple[float, float], int]:
    """Largest count per spend group ``(shape, post_shape)``: what sets its grid.

    The same pairs (and ``n_end``) as :func:`_spend_quantiles`; the maximum over several
    sets of customers is the value for all of them together (``tops=`` there).
    """
    codes, first = _factorize(shape, post_shape)
    top = np.zeros(first.size, dtype=np.int64)
    np.maximum.at(top, codes, (counts.n_max if n_end is None else n_end)[rows])
    return {(float(shape[f]), float(post_shape[f])): int(t)
            for f, t in zip(first, top, strict=True)}


# ======================================================================================
# main entry point
# ======================================================================================
def predict_intervals(
    purchase_model: Any,
    spend_model: Any,
    rfm: pd.DataFrame,
    horizon: float,
    *,
    level: float = 0.8,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    kind: str = "predictive",
    n_draws: int | None = DEFAULT_N_DRAWS,
    random_state: int | np.random.Generator | None = None,
) -> PredictionIntervals:
    """Intervals for each customer's purchases and CLV over ``horizon``, and for the totals.

    Parameters
    ----------
    purchase_model : fitted purchase model
        Any clvlab purchase model (BG/NBD, ...). ``kind="predictive"`` needs its
        ``conditional_probability_of_purchases``.
    spend_model : fitted spend model or None
        Gamma-Gamma (needs the contract's ``"spend_distribution"``). ``None`` gives
        intervals on purchases only.
    rfm : DataFrame
        RFM summary indexed by ``customer_id`` (``frequency, recency, T`` and, with a spend
        model, ``monetary_value``) in the purchase model's time unit.
    horizon : float
        How far ahead, >= 0, in the purchase model's ``time_unit_``.
    level : float, default=0.8
        Probability the interval is meant to hold, ``0 < level < 1``. Intervals on counts
        are sets of whole numbers with probability ``>= level`` (see the module docstring).
    discount_rate : float, default=0.0
        Discount rate per time unit (continuous discounting, as
        :func:`clvlab.customer_lifetime_value`).
    margin : float, default=1.0
        Share of spend that is profit.
    kind : {"predictive", "confidence"}, default="predictive"
        ``"predictive"``: what each customer will actually do (behaviour + parameter
        uncertainty). ``"confidence"``: the expected value (parameter uncertainty only).
    n_draws : int, optional
        How many times every customer's purchases and spend are simulated to estimate
        the customers' own variation in the totals (predictive totals only; the
        per-customer intervals are computed exactly, without simulation). Default:
        about a million customer-draws in all, i.e. 1 at a million customers and at
        most 500. The estimate is unbiased; more draws make it steadier.
    random_state : int or numpy Generator, optional
        Seed; the same seed gives the same intervals. No global state is touched.

    Returns
    -------
    PredictionIntervals
        ``.customers`` (one row per customer) and ``.totals`` (purchases, value, CLV).

    Raises
    ------
    NotImplementedError
        ``kind="predictive"`` with a purchase model without a conditional pmf, or a spend
        model without a spend distribution.
    TypeError, ValueError
        Wrong models or arguments; bad RFM data (:func:`clvlab.validate_rfm`).

    Examples
    --------
    >>> import clvlab
    >>> rfm = clvlab.rfm_summary(clvlab.datasets.load_cdnow(sample=True))  # doctest: +SKIP
    >>> bg = clvlab.BetaGeoFitter().fit(rfm)  # doctest: +SKIP
    >>> gg = clvlab.GammaGammaFitter().fit(rfm)  # doctest: +SKIP
    >>> iv = clvlab.predict_intervals(bg, gg, rfm, 52, random_state=1)  # doctest: +SKIP
    >>> iv.totals.loc["clv", ["estimate", "lower", "upper"]]  # doctest: +SKIP
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'predictive' or 'confidence'; got {kind!r}.")
    _check_models(purchase_model, spend_model, kind)
    # the shared rules of clvlab._checks (the same words as CLV, scoring and the CLI)
    level = check_level(level, "level")
    horizon = check_horizon(horizon, "horizon")
    discount_rate = check_discount_rate(discount_rate, "discount_rate")
    margin = check_margin(margin, "margin")
    if n_draws is not None:
        if (isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer))
                or n_draws < 1):
            raise ValueError(f"n_draws must be a whole number >= 1 or None; got {n_draws!r}.")
        n_draws = int(n_draws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _Computation(
            purchase_model, spend_model, rfm, horizon, level, discount_rate, margin, kind,
            n_draws, random_state,
        ).run()
    reissue_warnings(caught, stacklevel=2)
    return result


class _Columns:
    """The columns of :attr:`PredictionIntervals.customers`, in the order they are set.

    Columns that are the same for every customer of a history are kept per history and
    spread over the customers only when the table is built at the end, so they are not
    customer-sized while the rest is computed (the same values, dtypes and order).
    """

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes
        self.columns: dict[str, tuple[bool, Any]] = {}  # name -> (per history?, values)

    def __setitem__(self, name: str, values: Any) -> None:
        self.columns[name] = (False, values)

    def per_history(self, name: str, values: np.ndarray) -> None:
        self.columns[name] = (True, values)

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """Return the table on ``index`` (one column array each, not copied again)."""
        data: dict[str, Any] = {}
        for name in list(self.columns):
            per_history, values = self.columns.pop(name)  # (freed as it goes)
            if per_history:
                values = values[self.codes]
            elif np.ndim(values) == 0:  # a scalar, as a DataFrame would broadcast it
                values = np.full(len(index), values)
            data[name] = values
        return pd.DataFrame(data, index=index, copy=False)


class _Computation:
    """One call of :func:`predict_intervals` (keeps the intermediate arrays together)."""

    def __init__(
        self, purchase_model: Any, spend_model: Any, rfm: Any, horizon: float, level: float,
        discount_rate: float, margin: float, kind: str, n_draws: int | None,
        random_state: Any,
    ) -> None:
        self.pm, self.sm = purchase_model, spend_model
        self.horizon, self.level, self.kind = horizon, level, kind
        self.discount_rate, self.margin, self.n_draws = discount_rate, margin, n_draws
        self.random_state = random_state
        self.rng = np.random.default_rng(random_state)
        # for scoring in parts (clvlab.spark): the spend groups' grid tops of all the
        # customers (see _spend_quantiles), or only collect this part's (skipping the
        # CLV quantiles) into details["grid_tops"]
        self.grid_tops: dict[tuple[float, float], int] | None = None
        self.tops_only = False
        # False: leave the totals' table empty (clvlab.spark adds up the batches' sums of
        # the totals' parts, ``_totals``, instead)
        self.totals_frame = True
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}
        require = (C.FREQUENCY, C.RECENCY, C.T) + ((C.MONETARY_VALUE,) if spend_model else ())
        self.frame = validate_rfm(rfm, require=require, model="prediction intervals")
        unit = purchase_model.time_unit_
        data_unit = (getattr(rfm, "attrs", None) or {}).get(C.ATTR_TIME_UNIT)
        if data_unit is not None and unit is not None and data_unit != unit:
            raise InvalidValueError(
                f"T: the data are in time unit {data_unit!r} but the purchase model was fitted "
                f"in {unit!r}. Rebuild the summary with rfm_summary(..., time_unit={unit!r}).",
                column=C.T, rule="same time unit as the model",
            )
        self.unit = unit
        x = self.frame[C.FREQUENCY].to_numpy(dtype=float)
        tx = self.frame[C.RECENCY].to_numpy(dtype=float)
        T = self.frame[C.T].to_numpy(dtype=float)
        self.codes, first = _factorize(x, tx, T)
        self.first = first  # each history's first customer
        self.ux, self.utx, self.uT = x[first], tx[first], T[first]
        self.weights = np.bincount(self.codes, minlength=first.size).astype(float)
        self.n = x.shape[0]

    # -- purchase model ----------------------------------------------------------------
    def _expected(self, params: np.ndarray, t: float) -> np.ndarray:
        return np.asarray(
            self.pm._expected(params, np.float64(t), self.ux, self.utx, self.uT), dtype=float
        )

    def _expected_at(self, params: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Return the expected purchases at several horizons, ``(len(times), n_histories)``.

        One call of the model's hook with ``t`` of shape ``(k, 1)`` (row ``i`` is the same
        numbers as :meth:`_expected` at ``times[i]``; the model finds what does not depend
        on the horizon once).
        """
        t = np.asarray(times, dtype=float).reshape(-1, 1)
        if t.shape[0] == 0:
            return np.zeros((0, self.ux.shape[0]))
        out = np.asarray(self.pm._expected(params, t, self.ux, self.utx, self.uT), dtype=float)
        return np.broadcast_to(out, (t.shape[0], self.ux.shape[0]))

    def _discounted(self, params: np.ndarray, coarse: bool = False) -> np.ndarray:
        """Discounted expected purchases over the horizon.

        With the schedule of :func:`clvlab.customer_lifetime_value` (the same numbers), or
        ``coarse``: a 4-node Gauss-Legendre rule per panel instead of 16, for the cubature
        points, whose results only enter variances (relative error about 1e-7 there).
        """
        from clvlab.clv import discount_schedule

        if coarse:
            times, weights = _coarse_discount_schedule(self.horizon, self.discount_rate)
        else:
            times, weights = discount_schedule(self.horizon, self.discount_rate, "continuous")
        out = np.zeros(self.ux.shape[0])
        expected = self._expected_at(params, times)
        for e_t, w in zip(expected, weights, strict=True):
            out += w * e_t
        return out

    def _log_pmf_rows(self, params_list: list[np.ndarray], rows_of: np.ndarray
                      ) -> Callable[[int, np.ndarray, np.ndarray], np.ndarray]:
        t = np.float64(self.horizon)
        ux, utx, uT = self.ux[rows_of], self.utx[rows_of], self.uT[rows_of]

        def log_pmf(j: int, n: np.ndarray, rows: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.asarray(self.pm._log_pmf_conditional(
                    params_list[j], n, t, ux[rows], utx[rows], uT[rows]), dtype=float)
        return log_pmf

    # -- main ---------------------------------------------------------------------------
    def run(self) -> PredictionIntervals:
        pm_unc = _ParamUncertainty.of(self.pm, self.notes)
        self.pm_unc = pm_unc
        theta_hat = pm_unc.estimate()
        points = pm_unc.cubature_points()
        e_hat = self._expected(theta_hat, self.horizon)
        _check_finite(e_hat, self.pm, "expected purchases")
        self.e_hat = e_hat
        e_pts = [self._expected(p, self.horizon) for p in points]
        var_e = _cubature_variance(e_pts, e_hat)
        cust = _Columns(self.codes)
        cust.per_history("expected_purchases", e_hat)

        spend = None
        if self.sm is not None:
            spend = self._spend_setup()
            discount = self.discount_rate > 0 and not self.tops_only  # (tops: not needed)
            de_hat = self._discounted(theta_hat) if discount else e_hat
            de_pts = ([self._discounted(p, coarse=True) for p in points]
                      if discount else e_pts)
            spend["de_hat"], spend["de_pts"] = de_hat, de_pts
        if self.kind == "confidence":
            totals = self._confidence(cust, e_hat, e_pts, var_e, spend)
            counts = None
        else:
            counts, totals = self._predictive(cust, pm_unc, e_hat, e_pts, var_e, spend)
        customers = cust.frame(self.frame.index.copy())
        customers.index.name = C.CUSTOMER_ID
        return PredictionIntervals(
            customers=customers, totals=totals, kind=self.kind, level=self.level,
            horizon=self.horizon, time_unit=self.unit, discount_rate=self.discount_rate,
            margin=self.margin, n_draws=self.n_draws, random_state=self.random_state,
            notes=self.notes, details=self.details, _counts=counts,
            _codes=self.codes if counts is not None else None, _totals=self.totals_data,
        )

    # -- spend ----------------------------------------------------------------------------
    def _spend_setup(self) -> dict[str, Any]:
        sm = self.sm
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            point = sm.expected_spend(self.frame)
        reissue_warnings(caught, stacklevel=4)
        point = (aligned_to(point, self.frame.index).to_numpy(dtype=float)
                 if isinstance(point, pd.Series) else np.asarray(point, dtype=float))
        x = self.frame[C.FREQUENCY].to_numpy(dtype=float)
        m = self.frame[C.MONETARY_VALUE].to_numpy(dtype=float)
        unc = _ParamUncertainty.of(sm, self.notes)
        phi_hat = unc.estimate()
        shape, post_shape, post_rate = (np.asarray(a, dtype=float)
                                        for a in sm._order_value_posterior(phi_hat, x, m))
        pts = unc.cubature_points()
        # expected spend at the spend model's cubature points (its own block)
        spend_pts = []
        for phi in pts:
            a, b, c = sm._order_value_posterior(phi, x, m)
            spend_pts.append(np.asarray(a) * np.asarray(c) / (np.asarray(b) - 1.0))
        if np.any(post_shape <= 2.0):
            n_heavy = int(np.sum(post_shape <= 2.0))
            name = describe(sm, distributions=False).name
            msg = (
                f"{name}: for {n_heavy:,} customers the value of an order has "
                "infinite variance under the fitted spend model (q + p x <= 2); the interval "
                "on total value and CLV, which uses a variance, is unreliable for them."
            )
            warnings.warn(msg, ModelWarning, stacklevel=4)
            self.notes.append(msg)
        return {"point": point, "x": x, "m": m, "unc": unc, "shape": shape,
                "post_shape": post_shape, "post_rate": post_rate, "pts": spend_pts}

    # -- confidence -------------------------------------------------------------------------
    def _confidence(self, cust: _Columns, e_hat: np.ndarray, e_pts: list[np.ndarray],
                    var_e: np.ndarray, spend: dict[str, Any] | None) -> pd.DataFrame:
        z = float(special.ndtri(0.5 + self.level / 2.0))
        s_log_e = self._log_sd(e_pts, e_hat)
        cust.per_history("purchases_lower", e_hat * np.exp(-z * s_log_e))
        cust.per_history("purchases_upper", e_hat * np.exp(z * s_log_e))
        cust["purchases_interval_probability"] = self.level
        if supports(self.pm, "conditional_probability_of_purchases"):
            p0 = np.exp(self.pm._log_pmf_conditional(
                self.pm.params_.to_numpy(dtype=float), np.float64(0.0),
                np.float64(self.horizon), self.ux, self.utx, self.uT))
            cust.per_history("probability_no_purchase", np.asarray(p0, dtype=float))
        else:  # no NaN column: the model cannot say
            self.notes.append(missing_note(self.pm, "conditional_probability_of_purchases",
                                           "P(no purchase)"))
        self.notes.append(
            f"Confidence intervals ({self.level:.0%}) for the expected values: parameter "
            "uncertainty only (normal approximation on the fitting scale, log-normal "
            "intervals from a degree-3 cubature)."
        )
        if spend is not None:
            clv, s2 = self._clv_point_and_logvar(spend)
            cust["clv"] = clv
            cust["clv_lower"] = clv * np.exp(-z * np.sqrt(s2))
            cust["clv_upper"] = clv * np.exp(z * np.sqrt(s2))
        self.totals_data = self._totals_data(e_hat, e_pts, spend, None)
        return self.totals_data.frame()

    def _totals_data(self, e_hat: np.ndarray, e_pts: list[np.ndarray],
                     spend: dict[str, Any] | None,
                     process: dict[str, np.ndarray] | None) -> _TotalsData:
        data = _TotalsData(self.kind, self.level, self.codes, e_hat, e_pts, process=process,
                           margin=self.margin)
        if spend is not None:
            data.spend, data.spend_pts = spend["point"], spend["pts"]
            data.de_hat, data.de_pts = spend["de_hat"], spend["de_pts"]
        return data

    @staticmethod
    def _log_sd(pts: list[np.ndarray], center: np.ndarray) -> np.ndarray:
        if not pts:
            return np.zeros_like(center)
        # the cubature variance of the logs around 0, one point at a time (the same sums
        # as _cubature_variance over the list, without 2k customer-sized logs alive)
        acc = np.zeros_like(center, dtype=float)
        positive = center > 0
        for p in pts:
            with np.errstate(divide="ignore", invalid="ignore"):
                log = np.where(positive, np.log(p / center), 0.0)
            acc += log * log
            del log
        acc /= len(pts)
        return np.sqrt(acc)

    def _clv_point_and_logvar(self, spend: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        codes = self.codes
        clv = self.margin * spend["point"] * spend["de_hat"][codes]
        s2 = self._log_sd(spend["de_pts"], spend["de_hat"])[codes] ** 2
        s2 = s2 + self._log_sd(spend["pts"], spend["point"]) ** 2
        return clv, s2

    # -- predictive ---------------------------------------------------------------------------
    def _predictive(
        self, cust: _Columns, pm_unc: _ParamUncertainty, e_hat: np.ndarray,
        e_pts: list[np.ndarray], var_e: np.ndarray, spend: dict[str, Any] | None,
    ) -> tuple[_CountTable, pd.DataFrame]:
        lo_t, hi_t = _tails(self.level)
        codes, n_rows = self.codes, self.ux.shape[0]
        # process replicates for the totals; their uniforms set how far each row is walked
        reps = self.n_draws or process_replicates(self.n)
        u = self.rng.random((reps, self.n))
        u_max = np.zeros(n_rows)
        if not self.tops_only:  # (the grid tops need the levels' depth only)
            np.maximum.at(u_max, codes, u.max(axis=0))
        need = 1.0 - CLV_TAIL_SHARE * lo_t if spend is not None else hi_t
        target = np.minimum(np.maximum(need, u_max), 1.0 - 1e-12)
        cap = _count_cap(e_hat)
        params_hat = pm_unc.estimate()
        first_block = 1 + np.floor(e_hat).astype(np.int64)
        counts = _walk_counts(self._log_pmf_rows([params_hat], np.arange(n_rows)),
                              np.ones(1), target, first_block, cap)
        # parameter share of each history's variance (cubature) -> mixture where material.
        # A lower bound of the variance: the terms up to the count where the cdf first
        # reaches `need` (not the simulation's extra depth, so that the decision does not
        # depend on the seed), plus the mass beyond placed at the next count.
        rows_of = counts.row_of_entries()
        nvals = np.arange(counts.pmf.size) - counts.offsets[rows_of]
        det_end = counts.first_at_least(need)
        upto = nvals <= det_end[rows_of]
        var_lb = np.bincount(rows_of[upto],
                             weights=(counts.pmf * (nvals - e_hat[rows_of]) ** 2)[upto],
                             minlength=n_rows)
        rest = np.clip(1.0 - counts.cdf_at(np.arange(n_rows), det_end), 0.0, None)
        var_lb += rest * np.clip(det_end + 1.0 - e_hat, 0.0, None) ** 2
        del rows_of, nvals, upto  # table-sized temporaries: not held through the CLV step
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(var_lb > 0, var_e / var_lb, 0.0)
        mixed = np.flatnonzero(share > PARAMETER_SHARE_THRESHOLD) if pm_unc.chol is not None \
            else np.zeros(0, dtype=np.int64)
        self.details["purchase_parameter_share_max"] = float(share.max()) if share.size else 0.0
        per_cust = counts
        if mixed.size:
            # the purchase block of the joint cubature rule over both models' parameters
            # (the spend model's points leave the count at the estimate's distribution)
            k_all = pm_unc.k + (spend["unc"].k if spend is not None
                                and spend["unc"].chol is not None else 0)
            pts = pm_unc.cubature_points(k_all)
            comps = [*pts, params_hat]
            weights = np.array([1.0 / (2 * k_all)] * len(pts) + [1.0 - len(pts) / (2 * k_all)])
            mix_table = _walk_counts(self._log_pmf_rows(comps, mixed), weights,
                                     target[mixed], counts.n_max[mixed] + 1, cap[mixed])
            per_cust = _merge_tables(counts, mix_table, mixed)
        n_mixed_customers = int(self.weights[mixed].sum()) if mixed.size else 0
        self.details.update({
            "mixed_histories": int(mixed.size), "mixed_customers": n_mixed_customers,
            "process_replicates": reps, "truncated_histories": counts.truncated,
        })
        if counts.truncated:
            msg = (f"{counts.truncated} histories: the purchase count's distribution did not "
                   "reach the required probability within a very large count; their upper "
                   "bounds are that count.")
            warnings.warn(msg, ModelWarning, stacklevel=4)
            self.notes.append(msg)
        lower = per_cust.first_at_least(lo_t)
        upper = per_cust.first_at_least(hi_t)
        all_rows = np.arange(n_rows)
        prob = per_cust.cdf_at(all_rows, upper) - per_cust.cdf_at(all_rows, lower - 1)
        p0 = per_cust.pmf_at(all_rows, np.zeros(n_rows, dtype=np.int64))
        # (per history until the result's table is built: no customer-sized columns
        # alive through the simulation and the CLV quantiles)
        cust.per_history("purchases_lower", lower)
        cust.per_history("purchases_upper", upper)
        cust.per_history("purchases_interval_probability", np.minimum(prob, 1.0))
        cust.per_history("probability_no_purchase", np.minimum(p0, 1.0))
        self.notes.append(
            f"Predictive {self.level:.0%} intervals: purchases are whole-number ranges "
            f"holding at least {self.level:.0%} of the model's probability "
            "(purchases_interval_probability gives the exact figure)."
        )
        self.notes.append(
            f"Parameter uncertainty is mixed into the purchase distributions of "
            f"{n_mixed_customers:,} of {self.n:,} customers (degree-3 cubature); for the others "
            f"it adds less than {PARAMETER_SHARE_THRESHOLD:.1%} to the variance "
            f"(largest share {self.details['purchase_parameter_share_max']:.2%})."
        )
        if self.tops_only:
            if spend is not None:
                self._predictive_clv(cust, per_cust, var_lb, spend, (lo_t, hi_t))
            self.totals_data = None
            return per_cust, pd.DataFrame()
        sim = self._simulate_process(counts, u, spend)
        del u
        counts._key = None  # the inverse-cdf search key: only the simulation needs it
        if spend is not None:
            self._predictive_clv(cust, per_cust, var_lb, spend, (lo_t, hi_t))
        totals = self._predictive_totals(e_hat, e_pts, spend, sim)
        return per_cust, totals

    def _simulate_process(self, counts: _CountTable, u: np.ndarray,
                          spend: dict[str, Any] | None) -> dict[str, np.ndarray]:
        """Per customer, unbiased estimates of the variance of its own deviation.

        The squared deviations of ``reps`` simulated replicates from the expectations (at
        the estimates), averaged; sums over customers estimate the process variance of
        any total without bias.
        """
        codes = self.codes
        e_c = self.e_hat[codes]
        out = {"purchases": np.zeros(self.n)}
        if spend is not None:
            out["value"] = np.zeros(self.n)
            out["clv"] = np.zeros(self.n)
        reps = u.shape[0]
        # queries in history order make the inverse-cdf search cache-friendly
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        # (customer-sized temporaries are updated in place and freed as soon as they are
        # used, and the search goes by blocks of customers: the same numbers with fewer
        # arrays alive at once)
        x = np.empty(self.n)
        for r in range(reps):
            for lo in range(0, self.n, _SEARCH_BLOCK):
                part = order[lo:lo + _SEARCH_BLOCK]
                x[part] = counts.inverse(sorted_codes[lo:lo + _SEARCH_BLOCK], u[r][part])
            if r == reps - 1:  # the search's arrays are not needed for the spend draws
                del order, sorted_codes
                counts._key = None
            if spend is not None and r == 0:  # (after the search: not alive during it)
                de, e = spend["de_hat"], self.e_hat
                with np.errstate(divide="ignore", invalid="ignore"):
                    disc = np.where(e > 0, de / e, 1.0)
                clv_weight = (self.margin * disc[codes]) ** 2  # the same in every replicate
                del disc
                mean_value = spend["point"] * e_c
            dev = x - e_c
            dev *= dev
            out["purchases"] += dev
            del dev
            if spend is not None:
                shape = x * spend["shape"]
                g = self.rng.gamma(shape)
                del shape
                h = self.rng.gamma(spend["post_shape"])
                g *= spend["post_rate"]  # (post_rate g) / h - mean, squared
                g /= h
                del h
                g -= mean_value
                g *= g
                out["value"] += g
                g *= clv_weight
                out["clv"] += g
                del g
        for v in out.values():
            v /= reps
        return out

    def _predictive_totals(self, e_hat: np.ndarray, e_pts: list[np.ndarray],
                           spend: dict[str, Any] | None,
                           process: dict[str, np.ndarray]) -> pd.DataFrame:
        self.totals_data = self._totals_data(e_hat, e_pts, spend, process)
        self.notes.append(
            "Totals: normal interval with the parameters' variance (shared by all customers, "
            "by cubature) plus the customers' independent variation (simulated); not a sum of "
            "per-customer bounds."
        )
        if not self.totals_frame:
            return pd.DataFrame()
        return self.totals_data.frame()

    def _predictive_clv(
        self, cust: _Columns, per_cust: _CountTable, var_lb: np.ndarray,
        spend: dict[str, Any], taus: tuple[float, float],
    ) -> None:
        codes = self.codes
        e = self.e_hat
        with np.errstate(divide="ignore", invalid="ignore"):
            disc = np.where(e > 0, spend["de_hat"] / e, 1.0)
        # (the point only: the log variance of _clv_point_and_logvar is not needed here)
        cust["clv"] = self.margin * spend["point"] * spend["de_hat"][codes]
        # The purchase parameters are already mixed into the count distributions where
        # they matter. The spend parameters move each customer's expected spend (log
        # variance s2); their share of the CLV variance is at most s2 E^2 / Var(N) (the
        # process varies at least as much as the count alone makes it).
        s2 = self._log_sd(spend["pts"], spend["point"]) ** 2
        e_c, v_c = e[codes], var_lb[codes]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(v_c > 0, s2 * e_c**2 / v_c, 0.0)
        spend_mixed = share > PARAMETER_SHARE_THRESHOLD
        self.details["spend_parameter_share_max"] = float(share.max()) if share.size else 0.0
        del s2, e_c, v_c, share  # customer-sized temporaries: not held through the quantiles
        self.details["spend_mixed_customers"] = int(spend_mixed.sum())
        det = np.flatnonzero(~spend_mixed)
        # everybody (the usual case): slices, not customer-sized copies
        sel: slice | np.ndarray = slice(None) if det.size == self.n else det
        y_lo = y_hi = pair_codes = None
        if det.size:
            pair_codes, pair_first = self._spend_pairs(det, spend)
            # the count's distribution up to the depth the level needs (not the extra
            # depth of the process simulation): bounds do not depend on the seed
            need = 1.0 - CLV_TAIL_SHARE * taus[0]
            # (each row's counts 0..depth, read in place: no copy of the table)
            depth = per_cust.first_at_least(need)
            pair_args = (per_cust, codes[sel][pair_first], spend["shape"][sel][pair_first],
                         spend["post_shape"][sel][pair_first])
            if self.tops_only:
                self.details["grid_tops"] = _grid_tops(*pair_args, n_end=depth)
                return
            y_lo, y_hi = _spend_quantiles(*pair_args, taus, tops=self.grid_tops,
                                          n_end=depth)
        if self.tops_only:
            self.details.setdefault("grid_tops", {})
            return
        # (the customer-sized scale and bounds only now: not alive during the quantiles)
        scale = self.margin * disc[codes] * spend["post_rate"]
        lo = np.zeros(self.n)
        hi = np.zeros(self.n)
        if y_lo is not None and y_hi is not None:
            lo[sel] = scale[sel] * y_lo[pair_codes]
            hi[sel] = scale[sel] * y_hi[pair_codes]
        if spend_mixed.any():
            idx = np.flatnonzero(spend_mixed)
            lo[idx], hi[idx] = self._clv_spend_mixture(idx, per_cust, disc, spend, taus)
        cust["clv_lower"] = lo
        cust["clv_upper"] = hi
        self.notes.append(
            "CLV intervals: the purchase count's distribution combined with the spend model's "
            "distribution of order values given each customer's history; each purchase is "
            "discounted by the customer's mean discount factor over the horizon."
        )

    def _spend_pairs(self, det: np.ndarray, spend: dict[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Return the codes and first customers of the customers ``det``'s spend pairs.

        A pair is a distinct ``(history, spend shape, posterior shape)``; codes are in
        first-seen order.

        When ``det`` is everybody and the spend shapes are the same for all customers of
        each history (Gamma-Gamma: they depend on the frequency only), these are the
        histories' own codes and first customers: what factorizing would give, without
        its customer-sized hash tables.
        """
        codes, shape, post_shape = self.codes, spend["shape"], spend["post_shape"]
        if det.size == self.n:
            first = self.first
            if (np.array_equal(shape, shape[first][codes])
                    and np.array_equal(post_shape, post_shape[first][codes])):
                return codes, first
        return _factorize(codes[det], shape[det], post_shape[det])

    def _clv_spend_mixture(
        self, idx: np.ndarray, per_cust: _CountTable, disc: np.ndarray,
        spend: dict[str, Any], taus: tuple[float, float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """CLV quantiles of customers whose CLV mixes the spend parameters' uncertainty.

        The cdf is the joint cubature rule's mixture: the estimate (weight
        ``1 - k_spend / K``, with the count's distribution already mixed over the
        purchase parameters) and the spend model's ``2 k_spend`` points (weight
        ``1 / (2K)`` each), ``K`` the number of parameters of both models. Quantiles are
        searched in log value on the exact cdf (sums of regularised incomplete beta
        functions): a bracket, then :func:`_illinois` until the bracket is narrower than
        ``1e-13 * max(1, |log value|)`` (about 15 cdf evaluations in all, where 60
        halvings took 68; the same quantiles to 2e-13 relative on CDNOW).
        """
        unc = spend["unc"]
        k_all = unc.k + (self.pm_unc.k if self.pm_unc.chol is not None else 0)
        comps = [(unc.estimate(), 1.0 - unc.k / k_all)]
        comps += [(phi, 1.0 / (2 * k_all)) for phi in unc.cubature_points(k_all)]
        x, m = spend["x"][idx], spend["m"][idx]
        rows = self.codes[idx]
        depth = _truncate(per_cust, per_cust.first_at_least(1.0 - CLV_TAIL_SHARE * taus[0]))
        nmax = depth.n_max[rows]
        width = int(nmax.max()) + 1 if idx.size else 1
        pmf = np.zeros((idx.size, width))
        rep = np.repeat(np.arange(idx.size), nmax + 1)
        within = np.arange(rep.size) - np.repeat(np.cumsum(nmax + 1) - (nmax + 1), nmax + 1)
        pmf[rep, within] = depth.pmf[np.repeat(depth.offsets[rows], nmax + 1) + within]
        missing = np.clip(1.0 - pmf.sum(axis=1), 0.0, 1.0)
        nvals = np.arange(1, width, dtype=float)[None, :]
        params = []
        for phi, w in comps:
            a, b, c = (np.asarray(v, dtype=float)
                       for v in self.sm._order_value_posterior(phi, x, m))
            params.append((w, a, b, self.margin * disc[rows] * c))

        def cdf(z: np.ndarray, sel: np.ndarray) -> np.ndarray:
            """Evaluate the mixture cdf at ``z`` for the rows ``sel``."""
            out = pmf[sel, 0].copy()
            for w, a, b, scale in params:
                y = z / scale[sel]
                frac = (y / (1.0 + y))[:, None]
                out += w * np.sum(pmf[sel, 1:] * special.betainc(
                    nvals * a[sel, None], b[sel, None], frac), axis=1)
            return out

        point = self.margin * disc[rows] * spend["point"][idx] * self.e_hat[rows]
        every = np.arange(idx.size)
        result = []
        for tau in (taus[0] - missing, np.full(idx.size, taus[1])):
            zero = pmf[:, 0] >= tau - 1e-12
            hi = np.log(np.maximum(point, 1e-300)) + 10.0
            g_hi = cdf(np.exp(hi), every) - tau
            for _ in range(8):  # make sure the bracket's top reaches tau
                short = g_hi < 0
                if not short.any():
                    break
                hi = np.where(short, hi + 10.0, hi)
                g_hi[short] = cdf(np.exp(hi[short]), np.flatnonzero(short)) - tau[short]
            lo = np.maximum(-60.0, hi - 80.0)
            g_lo = cdf(np.exp(lo), every) - tau
            hi = _illinois(lambda u, sel, tau=tau: cdf(np.exp(u), sel) - tau[sel],
                           lo, hi, g_lo, g_hi, ~zero & (g_lo < 0))
            hi = np.where(g_lo >= 0, lo, hi)  # reached already at the bracket's bottom
            result.append(np.where(zero, 0.0, np.exp(hi)))
        return result[0], result[1]


def _illinois(
    g: Callable[[np.ndarray, np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
    g_lo: np.ndarray, g_hi: np.ndarray, todo: np.ndarray, tol: float = 1e-13,
    max_iter: int = 200,
) -> np.ndarray:
    """Upper end of a bracket ``[lo, hi]`` of the root of increasing ``g``, narrowed.

    Rows ``todo`` (with ``g(lo) < 0 <= g(hi)``) are narrowed by the Illinois variant of
    false position (when the same end is replaced twice running, the other end's
    function value is halved), bisecting where the false-position point is not inside
    the bracket, until ``hi - lo <= tol * max(1, |hi|)`` or ``g(hi) == 0``. ``g(u,
    sel)`` evaluates the rows ``sel`` at ``u``. Returns ``hi``: the smallest point found
    with ``g >= 0``.
    """
    lo, hi, g_lo, g_hi = (np.array(v, dtype=float) for v in (lo, hi, g_lo, g_hi))
    last = np.zeros(lo.size, dtype=np.int8)  # end replaced last time: -1 lo, +1 hi
    active = np.flatnonzero(todo)
    for _ in range(max_iter):
        width = hi[active] - lo[active]
        active = active[(width > tol * np.maximum(1.0, np.abs(hi[active])))
                        & (g_hi[active] != 0)]
        if not active.size:
            break
        a, b, ga, gb = lo[active], hi[active], g_lo[active], g_hi[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (a * gb - b * ga) / (gb - ga)
        u = np.where(np.isfinite(u) & (u > a) & (u < b), u, 0.5 * (a + b))
        gu = g(u, active)
        below = gu < 0
        prev = last[active]
        lo[active] = np.where(below, u, a)
        hi[active] = np.where(below, b, u)
        g_lo[active] = np.where(below, gu, np.where(prev == 1, 0.5 * ga, ga))
        g_hi[active] = np.where(below, np.where(prev == -1, 0.5 * gb, gb), gu)
        last[active] = np.where(below, -1, 1)
    return hi


def _coarse_discount_schedule(horizon: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`clvlab.clv.discount_schedule` (continuous) with 4 nodes per panel."""
    delta = math.log1p(rate)
    if horizon == 0:
        return np.zeros(0), np.zeros(0)
    n_panels = max(1, math.ceil(delta * horizon / 2.0))
    gx, gw = np.polynomial.legendre.leggauss(4)
    edges = np.linspace(0.0, horizon, n_panels + 1)
    half = np.diff(edges) / 2.0
    mid = (edges[:-1] + edges[1:]) / 2.0
    nodes = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
    w = (half[:, None] * gw[None, :]).ravel()
    return (np.append(nodes, horizon),
            np.append(delta * w * np.exp(-delta * nodes), math.exp(-delta * horizon)))


def _ragged_cumsum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    lengths = np.diff(offsets)
    cs = np.cumsum(values)
    starts = offsets[:-1]
    cs -= np.repeat(np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0), lengths)
    return cs


def _truncate(table: _CountTable, n_end: np.ndarray) -> _CountTable:
    """Return ``table`` keeping counts ``0..n_end[h]`` of each row ``h``."""
    n_end = np.minimum(n_end, table.n_max)
    lengths = n_end + 1
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rep = np.repeat(np.arange(lengths.size), lengths)
    within = np.arange(rep.size) - offsets[:-1][rep]
    src = table.offsets[:-1][rep] + within
    return _CountTable(offsets, table.pmf[src], table.cdf[src], table.truncated)


def _merge_tables(base: _CountTable, mixed_table: _CountTable, mixed: np.ndarray) -> _CountTable:
    """Return ``base`` with the rows ``mixed`` replaced by ``mixed_table``'s rows."""
    lengths = np.diff(base.offsets).copy()
    lengths[mixed] = np.diff(mixed_table.offsets)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    pmf = np.empty(int(offsets[-1]))
    keep = np.ones(lengths.size, dtype=bool)
    keep[mixed] = False
    kept_rows = np.flatnonzero(keep)
    base_len = np.diff(base.offsets)
    rep = np.repeat(kept_rows, base_len[kept_rows])
    within = np.arange(rep.size) - np.repeat(np.cumsum(base_len[kept_rows]) - base_len[kept_rows],
                                             base_len[kept_rows])
    pmf[offsets[rep] + within] = base.pmf[base.offsets[rep] + within]
    mlen = np.diff(mixed_table.offsets)
    rep_m = np.repeat(np.arange(mixed.size), mlen)
    within_m = np.arange(rep_m.size) - np.repeat(mixed_table.offsets[:-1], mlen)
    pmf[offsets[mixed[rep_m]] + within_m] = mixed_table.pmf[mixed_table.offsets[rep_m] + within_m]
    return _CountTable(offsets, pmf, _ragged_cumsum(pmf, offsets),
                       base.truncated + mixed_table.truncated)


def forecast_intervals(
    purchase_model: Any,
    rfm: pd.DataFrame,
    times: npt.ArrayLike,
    *,
    level: float = 0.8,
    kind: str = "predictive",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Interval on the customer base's total purchases over the next ``t``, for each ``t``.

    The fan around a forecast of cumulative purchases (e.g. the holdout part of a
    tracking plot): for every horizon ``t`` the total of the customers' purchases in
    ``(T, T + t]`` with its interval, computed as the ``purchases`` total of
    :func:`predict_intervals` (normal; parameters by cubature, the customers' own
    variation simulated). The process variance is estimated on at most
    :data:`FAN_SIMULATED_CUSTOMERS` customers drawn at random, :data:`FAN_PROCESS_DRAWS`
    customer-draws per horizon, and scaled up, so a long fan stays cheap on a large base.

    Parameters
    ----------
    purchase_model : fitted purchase model
    rfm : DataFrame
        RFM summary (``frequency, recency, T``) indexed by ``customer_id``; for a holdout
        fan, the calibration summary.
    times : array-like of float
        Horizons ``t >= 0`` in the model's time unit, e.g. weeks since the end of
        calibration.
    level : float, default=0.8
    kind : {"predictive", "confidence"}, default="predictive"
        ``"confidence"``: interval on the *expected* total (parameters only).
    random_state : int or numpy Generator, optional

    Returns
    -------
    DataFrame
        Index ``t``; columns ``estimate`` (expected total purchases, as
        ``expected_purchases(rfm, t).sum()``), ``lower``, ``upper``, ``se``,
        ``se_parameters``, ``se_process``. ``attrs``: ``level``, ``kind``,
        ``time_unit``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'predictive' or 'confidence'; got {kind!r}.")
    _check_models(purchase_model, None, kind)
    level = _number(level, "level", minimum=0.0, open_low=True, maximum=1.0,
                    hint="E.g. 0.8 for an 80% interval.")
    try:
        grid = np.asarray(times, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"times must be numbers (horizons); got {times!r}.") from None
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError("times must be finite horizons >= 0 in the model's time unit.")
    comp = _Computation(purchase_model, None, rfm, 0.0, level, 0.0, 1.0, kind, 1, random_state)
    rng = comp.rng
    unc = _ParamUncertainty.of(purchase_model, comp.notes)
    hat, pts = unc.estimate(), unc.cubature_points()
    z = float(special.ndtri(0.5 + level / 2.0))
    _, hi_t = _tails(level)
    w = comp.weights
    n_sim = min(comp.n, FAN_SIMULATED_CUSTOMERS)
    chosen = np.sort(rng.choice(comp.n, n_sim, replace=False)) if n_sim < comp.n \
        else np.arange(comp.n)
    sub_rows, sub_codes = np.unique(comp.codes[chosen], return_inverse=True)
    reps = process_replicates(n_sim, FAN_PROCESS_DRAWS)
    scale = comp.n / n_sim
    order = np.argsort(sub_codes, kind="stable")
    sorted_codes = sub_codes[order]
    out = {}
    # expectations at every horizon, one call per parameter set (the cubature points'
    # only as their totals, one point alive at a time)
    e_grid = comp._expected_at(hat, grid)
    pt_totals = [[float(np.sum(w * e_t)) for e_t in comp._expected_at(p, grid)] for p in pts]
    for i, t in enumerate(grid):
        comp.horizon = float(t)
        e_hat = e_grid[i]
        est = float(np.sum(w * e_hat))  # not w @ e: BLAS threads stall on a busy machine
        var_par = (float(np.mean([(totals[i] - est) ** 2 for totals in pt_totals]))
                   if pts else 0.0)
        if kind == "confidence":
            s = math.sqrt(var_par) / est if est > 0 else 0.0
            out[float(t)] = {"estimate": est, "lower": est * math.exp(-z * s),
                             "upper": est * math.exp(z * s), "se": math.sqrt(var_par),
                             "se_parameters": math.sqrt(var_par), "se_process": 0.0}
            continue
        u = rng.random((reps, n_sim))
        u_max = np.zeros(sub_rows.size)
        np.maximum.at(u_max, sub_codes, u.max(axis=0))
        target = np.minimum(np.maximum(u_max, hi_t), 1.0 - 1e-12)
        e_sub = e_hat[sub_rows]
        table = _walk_counts(comp._log_pmf_rows([hat], sub_rows), np.ones(1), target,
                             1 + np.floor(e_sub).astype(np.int64), _count_cap(e_sub))
        dev = 0.0
        e_drawn = e_sub[sub_codes]
        x = np.empty(n_sim)
        for r in range(reps):
            # (queries in history order: a cache-friendly search; the same draws)
            x[order] = table.inverse(sorted_codes, u[r][order])
            dev += float(np.sum((x - e_drawn) ** 2))
        var_proc = scale * dev / reps
        sd = math.sqrt(var_par + var_proc)
        out[float(t)] = {"estimate": est, "lower": float(math.floor(max(est - z * sd, 0.0))),
                         "upper": float(math.ceil(est + z * sd)), "se": sd,
                         "se_parameters": math.sqrt(var_par), "se_process": math.sqrt(var_proc)}
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "t"
    frame.attrs.update({"level": level, "kind": kind, "time_unit": comp.unit})
    return frame


#: Columns :func:`score_interval_columns` adds to the scoring table, and after which
#: existing column each goes.
SCORE_INTERVAL_COLUMNS: dict[str, str] = {
    "purchases_lower": "expected_purchases",
    "purchases_upper": "purchases_lower",
    "clv_lower": "clv",
    "clv_upper": "clv_lower",
}


def score_interval_columns(
    purchase_model: Any,
    spend_model: Any,
    rfm: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float,
    margin: float,
    level: float,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[pd.DataFrame | None, dict[str, Any], PredictionIntervals | None]:
    """Predictive-interval columns and totals for :func:`clvlab.score_customers`.

    Returns the columns ``purchases_lower, purchases_upper, clv_lower, clv_upper``
    (indexed like ``rfm``) and a JSON-friendly summary for ``scores.attrs["intervals"]``:
    ``level``, ``kind``, ``totals`` (``{name: {estimate, lower, upper, se, ...}}`` for
    purchases, value and CLV), ``notes`` and ``details``. The random state defaults to 0
    so a scoring run is reproducible; the third element is the full result (for
    :func:`group_ranges`). A model the intervals cannot use (no conditional purchase
    distribution, or no spend distribution) gives ``None`` columns and result and a
    summary with the reason under ``"skipped"``, so scoring goes on without intervals.
    """
    for model, prediction, what in (
        (purchase_model, "conditional_probability_of_purchases", "prediction intervals"),
        (spend_model, "spend_distribution", "prediction intervals"),
    ):
        if not supports(model, prediction):
            note = missing_note(model, prediction, what)
            return None, {"level": float(level), "kind": "predictive", "skipped": note,
                          "totals": {}, "notes": [note], "details": {}}, None
    out = predict_intervals(
        purchase_model, spend_model, rfm, horizon, level=level, discount_rate=discount_rate,
        margin=margin, kind="predictive", random_state=random_state,
    )
    cols = out.customers[list(SCORE_INTERVAL_COLUMNS)]
    totals = {
        name: {k: float(v) for k, v in row.items()}
        for name, row in out.totals.iterrows()
    }
    summary = {
        "level": float(level), "kind": "predictive", "totals": totals,
        "notes": list(out.notes), "details": dict(out.details),
    }
    return cols, summary, out


def group_ranges(result: PredictionIntervals, groups: pd.Series) -> dict[str, Any]:
    """:meth:`PredictionIntervals.totals_by` as a JSON-friendly dict (for report contexts).

    Returns ``{group: {total: {estimate, lower, upper, se, ...}}}`` with ``total`` in
    ``purchases, value, clv``, groups as strings.
    """
    frame = result.totals_by(groups)
    out: dict[str, Any] = {}
    for (group, name), row in frame.iterrows():
        out.setdefault(str(group), {})[str(name)] = {k: float(v) for k, v in row.items()}
    return out


def interval_band(frame: pd.DataFrame, level: float) -> pd.DataFrame:
    """Bounds at another ``level`` of the purchase totals of :func:`forecast_intervals`.

    Those totals are normal intervals ``estimate +- z se``, cut at 0 and rounded outward
    to whole numbers (predictive), or log-normal (confidence). This gives the bounds of
    the same kind at ``level`` from their ``estimate`` and ``se`` -- e.g. the 50% band of
    a fan drawn with its 80% band.

    Parameters
    ----------
    frame : DataFrame
        :func:`forecast_intervals` output, or any frame of purchase totals with columns
        ``estimate`` and ``se`` (``attrs["kind"] == "confidence"`` for log-normal bounds).
    level : float
        ``0 < level < 1``.

    Returns
    -------
    DataFrame
        Index of ``frame``; columns ``lower`` and ``upper``. At the frame's own level they
        equal its ``lower`` and ``upper``.
    """
    level = _number(level, "level", minimum=0.0, open_low=True, maximum=1.0,
                    hint="E.g. 0.5 for a 50% band.")
    missing = [c for c in ("estimate", "se") if c not in frame.columns]
    if missing:
        raise InvalidValueError(
            f"frame lacks column(s) {', '.join(missing)}; pass the result of "
            "forecast_intervals or PredictionIntervals.totals.",
            column=missing[0], rule="estimate and se columns",
        )
    z = float(special.ndtri(0.5 + level / 2.0))
    est = frame["estimate"].to_numpy(dtype=float)
    sd = frame["se"].to_numpy(dtype=float)
    if frame.attrs.get("kind") == "confidence":
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(est > 0, sd / est, 0.0)
        lower, upper = est * np.exp(-z * s), est * np.exp(z * s)
    else:
        lower, upper = np.maximum(est - z * sd, 0.0), est + z * sd
        lower, upper = np.floor(lower), np.ceil(upper)
    return pd.DataFrame({"lower": lower, "upper": upper}, index=frame.index)


#: Customers scored per-customer in :func:`holdout_coverage` when ``max_customers`` is not
#: given (a random subsample above it; coverage to about +-0.2 points).
HOLDOUT_CHECK_CUSTOMERS = 50_000


def holdout_coverage(
    purchase_model: Any,
    spend_model: Any,
    calibration: pd.DataFrame,
    actual_purchases: npt.ArrayLike,
    actual_value: npt.ArrayLike | None = None,
    *,
    horizon: float,
    level: float = 0.8,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    max_customers: int | None = HOLDOUT_CHECK_CUSTOMERS,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """How well the predictive ranges held on a holdout: per customer and for the totals.

    The models fitted on the calibration period give each customer's range of holdout
    purchases and value (:func:`predict_intervals`), which are set against what the
    customers then did; the totals' ranges are set against the actual totals.

    Above ``max_customers`` customers the per-customer figures are measured on a random
    subsample of that size, and the totals' standard errors are scaled up from it
    (parameter part by ``n / m``, the customers' own variation by ``sqrt(n / m)``, ``m``
    the subsample); the totals' estimates are always the sums over every customer.

    Parameters
    ----------
    purchase_model, spend_model : fitted models
        Fitted on the calibration period; ``spend_model`` may be ``None`` (purchases only).
    calibration : DataFrame
        The customers' calibration summary (``frequency, recency, T`` and, with a spend
        model, ``monetary_value``), indexed by ``customer_id``.
    actual_purchases : array-like of shape (n_customers,)
        Purchases each customer made in the holdout (aligned with ``calibration``).
    actual_value : array-like of shape (n_customers,), optional
        Their holdout value (spend x margin), compared with the CLV ranges.
    horizon : float
        Length of the holdout in the models' time unit.
    level : float, default=0.8
    discount_rate, margin : float
        As for :func:`predict_intervals` (a holdout check usually has no discount).
    max_customers : int or None, default=50,000
        Largest number of customers scored one by one (``None``: all).
    random_state : int or numpy Generator, optional
        Seed of the subsample and of the totals' simulation.

    Returns
    -------
    dict
        ``level``, ``n_customers``, ``n_checked`` (customers scored one by one);
        ``purchases``: ``realised``, ``stated``, ``randomised`` (see
        :meth:`PredictionIntervals.purchase_coverage`); ``value`` (or ``None``):
        ``realised`` (share of customers whose value is in their range) and ``stated``
        (mean probability the ranges hold, at least ``level``: the point mass at no
        purchase); ``totals``: ``{"purchases" | "value": {estimate, lower, upper, se,
        actual, covered}}``. Plain floats and bools (JSON-friendly).
    """
    if max_customers is not None and (
            isinstance(max_customers, bool) or not isinstance(max_customers, (int, np.integer))
            or max_customers < 1):
        raise ValueError(
            f"max_customers must be a whole number >= 1 or None; got {max_customers!r}.")
    n = len(calibration)
    y = np.asarray(actual_purchases, dtype=float).reshape(-1)
    v = None if actual_value is None else np.asarray(actual_value, dtype=float).reshape(-1)
    for name, arr in (("actual_purchases", y), ("actual_value", v)):
        if arr is not None and (arr.shape[0] != n or not np.all(np.isfinite(arr))
                                or np.any(arr < 0)):
            raise InvalidValueError(
                f"{name} must hold one finite value >= 0 per customer ({n:,}); got "
                f"{arr.shape[0]:,} values, {int(np.sum(~np.isfinite(arr))):,} missing or "
                "infinite.",
                column=name, rule="one value >= 0 per customer",
            )
    rng = np.random.default_rng(random_state)
    m = n if max_customers is None else min(n, int(max_customers))
    chosen = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
    sub = calibration.iloc[chosen]
    with_value = spend_model is not None and v is not None
    out = predict_intervals(
        purchase_model, spend_model if with_value else None, sub, horizon, level=level,
        discount_rate=discount_rate, margin=margin, kind="predictive", random_state=rng,
    )
    cust = out.customers
    cov = out.purchase_coverage(y[chosen]).loc["all"]
    result: dict[str, Any] = {
        "level": float(level), "n_customers": int(n), "n_checked": int(m),
        "purchases": {k: float(cov[k]) for k in ("realised", "stated", "randomised")},
        "value": None, "totals": {},
    }
    lo_t, hi_t = _tails(level)
    if with_value:
        assert v is not None
        p0 = cust["probability_no_purchase"].to_numpy()
        stated = np.where(p0 < lo_t, level, np.maximum(hi_t, p0))
        vv = v[chosen]
        inside = (vv >= cust["clv_lower"].to_numpy() - 1e-9) & (vv <= cust["clv_upper"].to_numpy())
        result["value"] = {"realised": float(inside.mean()) if m else math.nan,
                           "stated": float(stated.mean()) if m else math.nan}
    # totals: estimates over everyone, standard errors from the subsample (scaled)
    ratio = n / m if m else 1.0
    z = float(special.ndtri(0.5 + level / 2.0))
    pm_expected = purchase_model.expected_purchases(calibration, horizon)
    estimates = {"purchases": float(np.sum(np.asarray(pm_expected, dtype=float)))}
    actuals = {"purchases": float(y.sum())}
    if with_value:
        from clvlab.clv import customer_lifetime_value

        assert v is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same warnings came from predict_intervals
            clv = customer_lifetime_value(purchase_model, spend_model, calibration,
                                          horizon=horizon, discount_rate=discount_rate,
                                          margin=margin)
        estimates["value"] = float(np.nansum(np.asarray(clv, dtype=float)))
        actuals["value"] = float(v.sum())
    for name, est in estimates.items():
        row = out.totals.loc["purchases" if name == "purchases" else "clv"]
        result["totals"][name] = _scaled_total_check(name, est, actuals[name], row, ratio, z)
    return result


def _scaled_total_check(name: str, estimate: float, actual: float, row: pd.Series,
                        ratio: float, z: float) -> dict[str, Any]:
    """Return a holdout total's range from a subsample's totals row, scaled to the whole base.

    The parameters' standard error grows with the base (``ratio`` = customers / checked),
    the process part with its square root; ``z`` is the normal quantile of the level.
    Purchase bounds are widened to whole numbers.
    """
    se_par = ratio * float(row["se_parameters"])
    se_proc = math.sqrt(ratio) * float(row["se_process"])
    sd = math.sqrt(se_par**2 + se_proc**2)
    lower, upper = max(estimate - z * sd, 0.0), estimate + z * sd
    if name == "purchases":
        lower, upper = float(math.floor(lower)), float(math.ceil(upper))
    return {"estimate": estimate, "lower": lower, "upper": upper, "se": sd,
            "actual": actual, "covered": bool(lower <= actual <= upper)}


def plain_language_note(level: float = 0.8) -> str:
    """Return a short note for people on what a predictive range means (for reports).

    Parameters
    ----------
    level : float, default=0.8

    Returns
    -------
    str
        E.g. "Ranges are 80% prediction ranges: ...".
    """
    pct = f"{level:.0%}"
    return (
        f"Ranges are {pct} prediction ranges: a customer's actual purchases or value over the "
        f"horizon fall inside their range about {pct} of the time, allowing both for how "
        "unpredictable a single customer is and for the uncertainty of the fitted model. "
        "Purchase ranges are whole numbers and hold at least "
        f"{pct}. The range of a total is much narrower than the sum of the customers' "
        "ranges, because their ups and downs largely cancel. The ranges assume the model "
        "is right: if the model's holdout forecast is off, the ranges are off by as much."
    )
