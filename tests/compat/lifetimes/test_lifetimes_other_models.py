"""Pareto/NBD and MBG/NBD through the generic wrapper (BG/BB: test_lifetimes_bgbb.py).

The compat classes exist now; each works as soon as its clvlab model is registered
(``clvlab.models.registry``), and the comparisons with lifetimes below then run by
themselves. Until then creating the class raises NotImplementedError with the reason.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvlab.compat import lifetimes as compat
from clvlab.models.registry import registered

MODELS = [("ParetoNBDFitter", "pnbd"), ("ModifiedBetaGeoFitter", "mbgnbd")]
#: lifetimes fits Pareto/NBD with Nelder-Mead at tol=1e-4: its estimate is looser.
FIT_RTOL = {"ParetoNBDFitter": 1e-2, "ModifiedBetaGeoFitter": 1e-3}
#: Same parameters, possibly different (but exact) formulas in clvlab's implementation.
PREDICTION_RTOL = 1e-6


def _available(key: str) -> bool:
    return key in registered()


@pytest.mark.parametrize(("name", "key"), MODELS)
def test_missing_clvlab_model_raises_with_the_reason(name, key):
    """Without the clvlab model the class explains which model (and key) it waits for."""
    if _available(key):
        pytest.skip(f"clvlab has the {key} model")
    with pytest.raises(NotImplementedError, match=f"registry key '{key}'"):
        getattr(compat, name)()


@pytest.fixture(params=MODELS, ids=[m[0] for m in MODELS])
def pair(request, cdnow):
    """(ours, lifetimes') fitted on CDNOW for each model clvlab has."""
    name, key = request.param
    if not _available(key):
        pytest.skip(f"clvlab has no {key} model yet")
    import lifetimes

    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(lifetimes, name)().fit(*args)
    ours = getattr(compat, name)().fit(*args)
    return name, ours, theirs


def test_fit_matches_lifetimes(pair):
    """Estimate within the model's FIT_RTOL, and at least as likely as lifetimes'."""
    name, ours, theirs = pair
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL[name])
    assert ours._negative_log_likelihood_ <= theirs._negative_log_likelihood_ + 1e-9


def test_predictions_match_lifetimes(pair, cdnow):
    """At lifetimes' parameters, every shared predictor agrees in value and type."""
    name, ours, theirs = pair
    model = type(ours)()
    model.params_, model.data = theirs.params_.copy(), ours.data
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    for t in (1.0, 39.0):
        a = model.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        b = theirs.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        assert type(a) is type(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=PREDICTION_RTOL)
    for args in ((f, r, T), (2, 30.43, 38.86)):
        a = model.conditional_probability_alive(*args)
        b = theirs.conditional_probability_alive(*args)
        assert type(a) is type(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=PREDICTION_RTOL)
    np.testing.assert_allclose(model.expected_number_of_purchases_up_to_time([1.0, 10.0, 78.0]),
                               theirs.expected_number_of_purchases_up_to_time(
                                   np.array([1.0, 10.0, 78.0])), rtol=PREDICTION_RTOL)
    np.testing.assert_allclose(model.conditional_probability_alive_matrix(10, 20),
                               theirs.conditional_probability_alive_matrix(10, 20),
                               rtol=PREDICTION_RTOL)
    if name == "ModifiedBetaGeoFitter":
        np.testing.assert_allclose(model.probability_of_n_purchases_up_to_time(39, 2),
                                   theirs.probability_of_n_purchases_up_to_time(39, 2),
                                   rtol=PREDICTION_RTOL)
    else:
        a = model.conditional_probability_of_n_purchases_up_to_time(2, 10.0, f.iloc[:50],
                                                                    r.iloc[:50], T.iloc[:50])
        b = theirs.conditional_probability_of_n_purchases_up_to_time(2, 10.0, f.iloc[:50],
                                                                     r.iloc[:50], T.iloc[:50])
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                                   rtol=PREDICTION_RTOL)
        assert isinstance(a, pd.Series)


def test_a_new_model_is_a_table_entry(cdnow, bgf):
    """A compat class is a LifetimesModel entry: here BG/NBD again, with Pareto's p_alive shape."""
    from clvlab.compat.lifetimes.fitters._purchase import (
        ConditionalPmfMixin,
        LifetimesModel,
        PurchaseFitter,
    )

    class Toy(ConditionalPmfMixin, PurchaseFitter):
        _model = LifetimesModel(key="bgnbd", name="BG/NBD", params=("r", "alpha", "a", "b"),
                                time_params=("alpha",), p_alive_at_least_1d=False)

    toy = Toy().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_array_equal(toy.params_, bgf.params_)
    p = toy.conditional_probability_alive(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert isinstance(p, pd.Series) and isinstance(toy.conditional_probability_alive(1, 2, 3),
                                                   np.float64)
    np.testing.assert_array_equal(p, bgf.conditional_probability_alive(
        cdnow["frequency"], cdnow["recency"], cdnow["T"]))
    total = sum(toy.conditional_probability_of_n_purchases_up_to_time(n, 10.0, 2, 30.43, 38.86)
                for n in range(60))
    assert total == pytest.approx(1.0, abs=1e-9)
    assert toy.conditional_probability_of_n_purchases_up_to_time(0, 0.0, 2, 30.43, 38.86) == 1.0
