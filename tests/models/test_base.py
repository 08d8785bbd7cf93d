"""BaseModel / BaseFitter machinery, checked on a toy model with a closed-form MLE."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from clvlab.exceptions import ConvergenceWarning, NotFittedError
from clvlab.models.base import (
    BaseFitter,
    SummaryTable,
    _newton_gain,
    data_fingerprint,
    resolve_time_unit,
    shared_compression,
)


class ToyPoissonFitter(BaseFitter):
    """x ~ Poisson(lam * T): MLE lam = sum x / sum T, var(lam) = lam^2 / sum x."""

    _param_names: ClassVar[tuple[str, ...]] = ("lam",)
    _data_columns: ClassVar[tuple[str, ...]] = ("frequency", "T")
    _model_name: ClassVar[str] = "toy Poisson"

    def _loglik_and_grad(self, params, data):
        x, T = data
        lam = params[0]
        ll = x * np.log(lam * T) - lam * T
        return ll, (x / lam - T)[:, None]

    def _initial_params(self, data, weights):
        return [np.array([1.0])]


def _toy_data(rng, n=500):
    T = rng.uniform(1, 10, n)
    x = rng.poisson(0.7 * T).astype(float)
    frame = pd.DataFrame({"frequency": x, "T": T},
                         index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def test_mle_and_variance_equal_closed_form(rng):
    """The fitted rate and its variance equal sum x / sum T and lam^2 / sum x (rtol 1e-6)."""
    d = _toy_data(rng)
    model = ToyPoissonFitter().fit(d)
    lam = d["frequency"].sum() / d["T"].sum()
    np.testing.assert_allclose(model.params_["lam"], lam, rtol=1e-10)
    np.testing.assert_allclose(model.variance_matrix_.loc["lam", "lam"],
                               lam**2 / d["frequency"].sum(), rtol=1e-6)
    assert model.converged_
    assert model.optimizer_result_["gradient_inf_norm"] < 1e-8


def test_summary_interval_is_log_scale_wald(rng):
    """lower/upper = lam exp(-+ z se/lam) with z the normal quantile of ci_level."""
    model = ToyPoissonFitter(ci_level=0.9).fit(_toy_data(rng))
    s = model.summary.loc["lam"]
    z = 1.6448536269514722
    np.testing.assert_allclose(s["lower"], s["estimate"] * np.exp(-z * s["se"] / s["estimate"]),
                               rtol=1e-12)
    np.testing.assert_allclose(s["upper"], s["estimate"] * np.exp(z * s["se"] / s["estimate"]),
                               rtol=1e-12)


def test_compress_merges_identical_rows_and_sums_weights(rng):
    """_compress keeps one row per distinct tuple, weights summed, zero weights dropped."""
    x = rng.integers(0, 3, 1000).astype(float)
    T = rng.integers(1, 4, 1000).astype(float)
    w = rng.uniform(0, 2, 1000)
    w[:10] = 0.0
    (ux, uT), uw = BaseFitter._compress((x, T), w)
    assert len(set(zip(ux, uT, strict=True))) == len(ux) <= 9
    for a, b, weight in zip(ux, uT, uw, strict=True):
        np.testing.assert_allclose(weight, w[(x == a) & (T == b)].sum(), rtol=1e-12)
    np.testing.assert_allclose(uw.sum(), w.sum(), rtol=1e-12)


def test_shared_compression_merges_equal_rows_once(rng, monkeypatch):
    """In shared_compression, fits on equal rows merge them once; the fits are identical."""
    d = _toy_data(rng)
    d["frequency"] = np.floor(d["frequency"] / 3)
    d["T"] = np.round(d["T"])  # rows that merge
    alone = ToyPoissonFitter().fit(d)
    calls = []
    real = BaseFitter._compress_rows
    monkeypatch.setattr(BaseFitter, "_compress_rows",
                        staticmethod(lambda a, w: calls.append(1) or real(a, w)))
    with shared_compression():
        first = ToyPoissonFitter().fit(d)
        second = ToyPoissonFitter(ci_level=0.9).fit(d.copy())  # equal rows, other objects
        other = d.assign(T=d["T"] + 1.0)
        third = ToyPoissonFitter().fit(other)  # other rows: merged again
        weighted = ToyPoissonFitter().fit(d, weights=np.full(len(d), 2.0))  # not shared
    assert len(calls) == 3
    for model in (first, second):
        np.testing.assert_array_equal(model.params_.to_numpy(), alone.params_.to_numpy())
        np.testing.assert_array_equal(model.variance_matrix_.to_numpy(),
                                      alone.variance_matrix_.to_numpy())
        assert model.log_likelihood_ == alone.log_likelihood_
        assert model.n_unique_rows_ == alone.n_unique_rows_ < len(d)
    np.testing.assert_array_equal(third.params_.to_numpy(),
                                  ToyPoissonFitter().fit(other).params_.to_numpy())
    np.testing.assert_allclose(weighted.params_.to_numpy(), alone.params_.to_numpy(),
                               rtol=1e-8)
    calls.clear()
    ToyPoissonFitter().fit(d)  # after the block: nothing kept
    assert len(calls) == 1


def test_weights_scale_loglik_not_estimate(rng):
    """Uniform weights of 3 leave the estimate unchanged and triple the log-likelihood."""
    d = _toy_data(rng)
    a = ToyPoissonFitter().fit(d)
    b = ToyPoissonFitter().fit(d, weights=np.full(len(d), 3.0))
    np.testing.assert_allclose(b.params_, a.params_, rtol=1e-9)
    np.testing.assert_allclose(b.log_likelihood_, 3 * a.log_likelihood_, rtol=1e-12)
    assert b.n_customers_ == 3 * len(d)


@pytest.mark.parametrize(
    "weights, message",
    [(np.ones(3), "one entry per customer"), (-np.ones(500), "finite and >= 0"),
     (np.zeros(500), "sum to 0")],
)
def test_bad_weights_rejected(rng, weights, message):
    """Wrong-length, negative and all-zero weights raise ValueError with the rule."""
    with pytest.raises(ValueError, match=message):
        ToyPoissonFitter().fit(_toy_data(rng), weights=weights)


@pytest.mark.parametrize("options, message", [({"penalizer_coef": -1}, "penalizer_coef"),
                                              ({"ci_level": 1.5}, "ci_level")])
def test_bad_options_rejected(rng, options, message):
    """Invalid constructor options are rejected at fit with the option's name."""
    with pytest.raises(ValueError, match=message):
        ToyPoissonFitter(**options).fit(_toy_data(rng))


def test_get_set_params_follow_scikit_learn():
    """get_params lists constructor options; set_params returns self and rejects unknowns."""
    model = ToyPoissonFitter(penalizer_coef=0.5)
    assert model.get_params() == {"penalizer_coef": 0.5, "ci_level": 0.95}
    assert model.set_params(ci_level=0.8) is model and model.ci_level == 0.8
    with pytest.raises(ValueError, match="Invalid option 'alpha'"):
        model.set_params(alpha=0.1)


def test_unfitted_model_has_no_fitted_attributes():
    """__init__ sets no fitted attribute; summary raises NotFittedError."""
    model = ToyPoissonFitter()
    assert not hasattr(model, "params_")
    with pytest.raises(NotFittedError):
        model.summary  # noqa: B018
    assert "fitted" not in repr(model)


def test_registry_keys_and_classes():
    """The registry maps short names to classes and back; unknown names are clear errors."""
    from clvlab.models import registry

    assert registry.get_model_class("bgnbd").__name__ == "BetaGeoFitter"
    assert registry.model_key(registry.get_model_class("gg")) == "gg"
    assert "bgnbd" in registry.registered("purchase")
    assert "gg" not in registry.registered("purchase")
    assert registry.class_by_name("GammaGammaFitter") is registry.get_model_class("gg")
    with pytest.raises(ValueError, match="unknown model 'nope'; known: bgnbd"):
        registry.get_model_class("nope")
    with pytest.raises(ValueError, match="not a registered"):
        registry.model_key(ToyPoissonFitter)


def test_numeric_gradient_fallback_matches_analytic(rng):
    """Without an analytic gradient the base differentiates _loglik numerically (rtol 1e-7)."""
    from clvlab.models.beta_geo import BetaGeoFitter
    from clvlab.models.likelihoods import bgnbd_log_likelihood

    class NumericBG(BetaGeoFitter):
        def _loglik(self, params, data):
            return bgnbd_log_likelihood(params, *data)

    NumericBG._loglik_and_grad = BaseFitter._loglik_and_grad
    x = rng.poisson(2.0, 200).astype(float)
    T = np.full(200, 40.0)
    tx = np.where(x > 0, rng.uniform(0, 40, 200), 0.0)
    params = np.array([0.25, 4.0, 0.8, 2.5])
    _, analytic = BetaGeoFitter()._loglik_and_grad(params, (x, tx, T))
    _, numeric = NumericBG()._loglik_and_grad(params, (x, tx, T))
    np.testing.assert_allclose(numeric, analytic, rtol=1e-7, atol=1e-10)


def test_fingerprint_changes_with_data(rng):
    """The data fingerprint is stable for equal data and differs when one value changes."""
    d = _toy_data(rng)
    a = ToyPoissonFitter().fit(d).data_fingerprint_
    assert ToyPoissonFitter().fit(d).data_fingerprint_ == a
    d2 = d.copy()
    d2.iloc[0, 0] += 1
    assert ToyPoissonFitter().fit(d2).data_fingerprint_ != a
    assert data_fingerprint(np.arange(3.0)) != data_fingerprint(np.arange(3.0).reshape(3, 1))


def test_time_unit_resolution():
    """time_unit: explicit argument wins, else data.attrs, else a clear error."""
    frame = pd.DataFrame({"T": [1.0]})
    frame.attrs["time_unit"] = "D"
    assert resolve_time_unit(None, frame) == "D"
    assert resolve_time_unit("W", frame) == "W"
    with pytest.raises(ValueError, match="time_unit must be one of"):
        resolve_time_unit("week", frame)
    with pytest.raises(ValueError, match="time_unit is unknown"):
        resolve_time_unit(None, pd.DataFrame({"T": [1.0]}))


def test_newton_gain():
    """g'H^-1 g/2 and |H^-1 g| for a positive-definite H; inf for an indefinite one."""
    g = np.array([1.0, 2.0])
    gain, step = _newton_gain(g, np.diag([2.0, 4.0]))
    np.testing.assert_allclose(gain, 0.5 * (0.5 + 1.0), rtol=1e-14)
    np.testing.assert_allclose(step, 0.5, rtol=1e-14)
    assert _newton_gain(g, np.diag([1.0, -1.0])) == (np.inf, np.inf)


def test_unidentified_parameter_warns(rng):
    """All-zero counts send lam towards 0 (no interior optimum): ConvergenceWarning."""
    d = _toy_data(rng)
    d["frequency"] = 0.0
    with pytest.warns(ConvergenceWarning, match="Newton step") as record:
        model = ToyPoissonFitter().fit(d)
    assert not model.converged_
    assert all(w.filename == __file__ for w in record)  # stacklevel points at the caller
    assert model.optimizer_result_["newton_step_inf_norm"] > 0.1  # still sliding to lam = 0


def test_summary_table_object(rng):
    """summary_table() gives a SummaryTable whose text and HTML carry the facts and estimates."""
    model = ToyPoissonFitter().fit(_toy_data(rng))
    table = model.summary_table()
    assert isinstance(table, SummaryTable)
    text = table.as_text()
    assert "toy Poisson" in text and "lam" in text and "W (weeks)" in text
    assert f"{model.log_likelihood_:.4f}" in text
    html = table.as_html()
    assert html.startswith("<div") and "<table" in html and "lam" in html
    assert str(table) == text


def test_no_warning_on_clean_fit(rng):
    """A well-posed fit emits no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ToyPoissonFitter().fit(_toy_data(rng))


class _BatchedRows:
    """RemoteRows kept in this process, read in batches (the contract Spark implements)."""

    def __init__(self, frame: pd.DataFrame, columns: tuple[str, ...], batch: int = 997):
        counted = frame.groupby(list(columns)).size().rename("n").reset_index()
        self._arrays = tuple(counted[c].to_numpy(dtype=float) for c in columns)
        self._weights = counted["n"].to_numpy(dtype=float)
        self._batch = batch
        self.n_rows = len(counted)
        self.attrs = {"time_unit": "W"}
        self.n_passes = 0

    def reduce(self, fn):
        self.n_passes += 1
        total = None
        for i in range(0, self.n_rows, self._batch):
            part = tuple(a[i:i + self._batch] for a in self._arrays)
            value = np.asarray(fn(part, self._weights[i:i + self._batch]), dtype=float)
            total = value if total is None else total + value
        return total

    def subsample(self, stride, n_heavy):
        heavy = np.argsort(-self._weights, kind="stable")[:n_heavy]
        light = np.setdiff1d(np.arange(self.n_rows)[::stride], heavy)
        pick = np.concatenate([heavy, light])
        flags = np.zeros(len(pick), dtype=bool)
        flags[: len(heavy)] = True
        return tuple(a[pick] for a in self._arrays), self._weights[pick], flags

    def example_ids(self, fn, n):
        return []


def _as_remote(frame, columns):
    from clvlab.models.base import RemoteRows

    RemoteRows.register(_BatchedRows)
    return _BatchedRows(frame, columns)


def test_remote_rows_fit_equals_the_in_memory_fit(rng):
    """A fit on RemoteRows (sums per batch) equals the in-memory fit: params rtol 1e-8."""
    import clvlab

    n = 30_000
    x = rng.poisson(1.5, n).astype(float)
    nu = rng.gamma(3.7, 1 / 15.0, n)
    m = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    frame = pd.DataFrame({"frequency": x, "monetary_value": m})
    want = clvlab.GammaGammaFitter().fit(frame, time_unit="W")
    rows = _as_remote(frame, ("frequency", "monetary_value"))
    got = clvlab.GammaGammaFitter().fit(rows)
    np.testing.assert_allclose(got.params_.to_numpy(), want.params_.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(got.log_likelihood_, want.log_likelihood_, rtol=1e-10)
    assert (got.n_customers_, got.n_excluded_, got.n_unique_rows_) == (
        want.n_customers_, want.n_excluded_, want.n_unique_rows_)
    assert got.time_unit_ == "W"
    assert rows.n_passes < 20  # batched: the Hessian's points and trial steps share passes


def test_remote_rows_only_for_models_that_opt_in(rng):
    """A model without _fits_remote_rows refuses RemoteRows; weights are refused too."""
    import clvlab

    frame = pd.DataFrame({"frequency": [1.0, 2.0, 0.0], "monetary_value": [5.0, 7.0, 0.0],
                          "recency": [1.0, 2.0, 0.0], "T": [3.0, 3.0, 3.0]})
    with pytest.raises(TypeError, match="remote rows"):
        clvlab.BetaGeoFitter().fit(_as_remote(frame, ("frequency", "recency", "T")))
    with pytest.raises(ValueError, match="weights"):
        clvlab.GammaGammaFitter().fit(_as_remote(frame, ("frequency", "monetary_value")),
                                      weights=[1, 1, 1])
