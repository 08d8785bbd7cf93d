"""lifetimes' ``BetaGeoBetaBinomFitter`` (BG/BB), backed by clvlab's BG/BB model."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvlab.compat.lifetimes._checks import as_arrays, check_values
from clvlab.compat.lifetimes.fitters import BaseFitter
from clvlab.compat.lifetimes.fitters._purchase import ConvergenceError
from clvlab.exceptions import ConvergenceError as _ClvlabConvergenceError

__all__ = ["BetaGeoBetaBinomFitter"]


def _native_class() -> type[Any]:
    from clvlab.models.registry import get_model_class

    return get_model_class("bgbb")


def _discrete_frame(x: np.ndarray, tx: np.ndarray, n: np.ndarray, index: Any) -> pd.DataFrame:
    frame = pd.DataFrame({"frequency": x, "recency": tx, "T": n}, index=index)
    frame.index.name = "customer_id"
    return frame


class BetaGeoBetaBinomFitter(BaseFitter):
    """BG/BB model (Fader, Hardie & Shang 2010) with lifetimes' API.

    Backed by :class:`clvlab.models.beta_geo_beta_binom.BetaGeoBetaBinomFitter` (registry
    key ``"bgbb"``). Histories are ``frequency`` (periods with a repeat purchase),
    ``recency`` (period of the last one) and ``n_periods`` (transaction opportunities),
    whole numbers with ``frequency <= recency <= n_periods``.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty on the four parameters, lifetimes' scaling.

    Notes
    -----
    Differences from lifetimes 0.11.3: impossible histories (``frequency > recency``,
    fractional values, ``recency > n_periods``) raise ``ValueError`` in fit *and* in the
    predictors (lifetimes truncated to integers in fit and computed whatever the formulas
    gave elsewhere); the likelihood is summed exactly, without lifetimes' ``1e-15`` floor,
    and stays finite for thousands of periods, where lifetimes' unlogged beta functions
    underflow to 0 and give ``-inf``/NaN.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def _native_class_name(self) -> str:
        return _native_class().__name__

    @property
    def _hooks(self) -> Any:
        return _native_class()()

    # -- fit ----------------------------------------------------------------------------
    def fit(
        self,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> BetaGeoBetaBinomFitter:
        """Fit the BG/BB model by maximum likelihood (clvlab's optimiser).

        Parameters
        ----------
        frequency : array-like of shape (n_customers,)
            Periods with a repeat transaction.
        recency : array-like of shape (n_customers,)
            Period of the most recent transaction (0 without one).
        n_periods : array-like of shape (n_customers,)
            Number of transaction opportunities.
        weights : array-like of shape (n_customers,), optional
            Number of customers with each history (default 1 each).
        initial_params : array-like of shape (4,), optional
            Log of ``alpha, beta, gamma, delta`` to start from (tried first).
        verbose : bool, default=False
            Print clvlab's summary table.
        tol : float, default=1e-7
            Accepted and not used (clvlab's convergence criteria are tighter).
        index : array-like, optional
            Index of ``self.data``.
        **kwargs
            Accepted and not used (lifetimes passed them to ``scipy.optimize.minimize``).

        Returns
        -------
        self

        Raises
        ------
        InvalidValueError
            Impossible histories (a ``ValueError``, as lifetimes raised for some of them).
        ConvergenceError
            The likelihood cannot be optimised.
        """
        (x, tx, n), like = as_arrays(frequency=frequency, recency=recency, n_periods=n_periods)
        if len(like.shape) != 1 or like.shape[0] == 0:
            raise ValueError(f"fit needs one value per customer; got shape {like.shape}.")
        check_values(like, frequency=x, recency=tx, n_periods=n)
        size = like.shape[0]
        w = np.ones(size, dtype=np.int64) if weights is None else np.asarray(weights)
        labels = like.index if like.index is not None and like.index.is_unique else None
        frame = _discrete_frame(x, tx, n, pd.RangeIndex(size) if labels is None else labels)
        native = _native_class()(penalizer_coef=self.penalizer_coef)
        if initial_params is not None:
            theta = np.asarray(initial_params, dtype=float).reshape(-1)
            if theta.shape != (4,) or not np.all(np.isfinite(theta)):
                raise ValueError(
                    "initial_params must hold 4 finite numbers (the log of alpha, beta, "
                    f"gamma, delta); got {initial_params!r}.")
            default = native._initial_params
            native._initial_params = lambda data, wts: [np.exp(theta), *default(data, wts)]
        try:
            native.fit(frame, weights=w, time_unit="D")  # unit unknown; reset below
        except _ClvlabConvergenceError as exc:
            raise ConvergenceError(str(exc), result=exc.result) from None
        finally:
            native.__dict__.pop("_initial_params", None)
        native.time_unit_ = None  # lifetimes' data do not say how long a period is
        self._set_fit_statistics(native)
        self.data = pd.DataFrame(
            {"frequency": x.astype(np.int64), "recency": tx.astype(np.int64),
             "n_periods": n.astype(np.int64), "weights": w},
            index=index,
        )
        self._negative_log_likelihood_ = -native.log_likelihood_ / float(np.sum(w))
        if verbose:
            print(native.summary_table().as_text())  # noqa: T201 - asked for by verbose=True
        return self

    # -- predictions ----------------------------------------------------------------------
    def _histories(self, **named: Any) -> tuple[list[np.ndarray], Any]:
        arrays, like = as_arrays(**named)
        check_values(like, 0.0, **dict(zip(named, arrays, strict=True)))
        *_, x, tx, n = arrays
        x_b, tx_b, n_b = (a.reshape(-1) for a in np.broadcast_arrays(x, tx, n))
        frame = _discrete_frame(x_b, tx_b, n_b, None)
        from clvlab.validation import validate_rfm

        validate_rfm(frame, model="BG/BB")
        self._hooks._check_data(frame)
        return arrays, like

    def conditional_expected_number_of_purchases_up_to_time(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """Predict transactions in the next ``m_periods_in_future`` opportunities (eq. 13).

        Parameters
        ----------
        m_periods_in_future : int or array-like
            Number of future opportunities (a fraction counts the whole ones).
        frequency, recency, n_periods : int, array-like or Series
            Histories; everything broadcasts together.

        Returns
        -------
        numpy float, ndarray or Series
            As lifetimes' arithmetic would shape it.
        """
        (m, x, tx, n), like = self._histories(
            m_periods_in_future=m_periods_in_future, frequency=frequency, recency=recency,
            n_periods=n_periods)
        return like.wrap(self._hooks._expected(self._params_array(), m, x, tx, n))

    def conditional_probability_alive(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """P(alive at opportunity ``n_periods + m_periods_in_future``) given each history.

        ``m_periods_in_future = 1`` is the paper's eq. (11) and clvlab's
        ``probability_alive``.

        Parameters
        ----------
        m_periods_in_future : int or array-like
            Opportunities ahead (0: alive in the last observed one).
        frequency, recency, n_periods : int, array-like or Series
            Histories.

        Returns
        -------
        numpy float, ndarray or Series
        """
        from clvlab.models.likelihoods.beta_geo_beta_binom import bgbb_probability_alive

        (m, x, tx, n), like = self._histories(
            m_periods_in_future=m_periods_in_future, frequency=frequency, recency=recency,
            n_periods=n_periods)
        return like.wrap(bgbb_probability_alive(self._params_array(), x, tx, n, m))

    def expected_number_of_transactions_in_first_n_periods(self, n: float) -> pd.DataFrame:
        """Predict how many customers make each number of transactions in ``n`` opportunities.

        ``P(X(n) = x)`` (eq. 8) times the number of customers in ``data``, for every
        frequency in ``data`` -- the in-sample fit table of Fader, Hardie & Shang (2010).

        Parameters
        ----------
        n : int
            Number of transaction opportunities.

        Returns
        -------
        DataFrame
            Column ``model``, index ``frequency``.
        """
        data = getattr(self, "data", None)
        if not isinstance(data, pd.DataFrame):
            raise ValueError("expected_number_of_transactions_in_first_n_periods takes the "
                             "frequencies of the training data, which this model does not hold.")
        counts = data.groupby("frequency")["weights"].sum()
        x = np.asarray(counts.index, dtype=float)
        p = np.exp(self._hooks._log_pmf_new(self._params_array(), x, np.asarray(float(n))))
        return pd.DataFrame(p * float(counts.sum()),
                            index=pd.Index(counts.index, name="frequency"), columns=["model"])

    def generate_new_data(self, size: int = 1, random_state: Any = None) -> pd.DataFrame:
        """Simulate ``size`` customers with the numbers of opportunities of the training data.

        Parameters
        ----------
        size : int, default=1
            Number of customers; they take the ``n_periods`` of ``data`` expanded by the
            weights, cycling if ``size`` is larger.
        random_state : int or numpy Generator, optional
            Seed (lifetimes used numpy's global state).

        Returns
        -------
        DataFrame
            Columns ``frequency``, ``recency``, ``n_periods`` (lifetimes also returned the
            latent ``p``, ``theta`` and ``alive``).
        """
        data = getattr(self, "data", None)
        if not isinstance(data, pd.DataFrame):
            raise ValueError("generate_new_data takes n_periods from the training data, which "
                             "this model does not hold.")
        periods = np.repeat(data["n_periods"].to_numpy(dtype=float),
                            data["weights"].to_numpy(dtype=np.int64))
        ages = np.resize(periods, int(size))
        x, tx = self._hooks._simulate(self._params_array(), ages,
                                      np.random.default_rng(random_state))
        return pd.DataFrame({"frequency": x, "recency": tx, "n_periods": ages})
