"""clvlab.compat.lifetimes fitters against lifetimes 0.11.3, function by function.

Two tolerances. Fits: ``FIT_RTOL`` on the parameters -- lifetimes stops its optimiser at
``tol=1e-7`` on the mean objective, which bounds how close its own estimate is to the
optimum (measured on CDNOW: 4e-7 relative). Predictions at the *same* parameters (lifetimes'
estimate copied into ours): ``FORMULA_RTOL``, since both evaluate the same closed forms
(measured: below 2e-13 relative).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvlab.compat import lifetimes as compat
from clvlab.compat.lifetimes import LifetimesCompatWarning
from clvlab.exceptions import InvalidValueError

FIT_RTOL = 1e-4
FORMULA_RTOL = 1e-9


def _lifetimes(name: str, **kwargs: object) -> object:
    import lifetimes

    return getattr(lifetimes, name)(**kwargs)


def _quiet(fn: object, *args: object, **kwargs: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)  # type: ignore[operator]


def _same_result(ours: object, theirs: object, rtol: float = FORMULA_RTOL) -> None:
    """Same type, same values, and for Series the same index and name."""
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, pd.Series):
        assert isinstance(ours, pd.Series)
        pd.testing.assert_index_equal(ours.index, theirs.index)
        assert ours.name == theirs.name
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float),
                               rtol=rtol)
    assert np.shape(ours) == np.shape(theirs)


# ---------------------------------------------------------------------------------------
# BG/NBD: fit
# ---------------------------------------------------------------------------------------
def test_bgf_fit_matches_lifetimes_on_cdnow(bgf, lt_bgf):
    """BG/NBD estimate on CDNOW equals lifetimes' within FIT_RTOL; same log-likelihood."""
    pd.testing.assert_index_equal(bgf.params_.index, lt_bgf.params_.index)
    np.testing.assert_allclose(bgf.params_, lt_bgf.params_, rtol=FIT_RTOL)
    assert bgf.params_.name == lt_bgf.params_.name
    np.testing.assert_allclose(bgf._negative_log_likelihood_,
                               lt_bgf._negative_log_likelihood_, rtol=1e-9)
    assert bgf._scale == lt_bgf._scale


def test_bgf_summary_matches_lifetimes(bgf, lt_bgf):
    """summary: same columns, index and values (standard errors within 1e-4 relative)."""
    ours, theirs = bgf.summary, lt_bgf.summary
    pd.testing.assert_index_equal(ours.columns, theirs.columns)
    pd.testing.assert_index_equal(ours.index, theirs.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-4)


def test_bgf_variance_matrix_is_lifetimes_corrected(bgf, lt_bgf):
    """Same variances; off-diagonal terms fix lifetimes' delta method (p_j^2 for p_i p_j).

    lifetimes multiplies the inverse Hessian of the log-parameters by ``params ** 2``
    column-wise, so its covariances are scaled by ``p_j / p_i`` and the matrix is not
    symmetric; ``cov_ij = p_i p_j H^-1_ij`` is.
    """
    p = lt_bgf.params_.to_numpy()
    corrected = lt_bgf.variance_matrix_.to_numpy() * p[:, None] / p[None, :]
    np.testing.assert_allclose(bgf.variance_matrix_.to_numpy(), corrected, rtol=1e-3)
    np.testing.assert_allclose(np.diag(bgf.variance_matrix_), np.diag(lt_bgf.variance_matrix_),
                               rtol=1e-4)
    np.testing.assert_array_equal(bgf.variance_matrix_, bgf.variance_matrix_.T)


def test_bgf_data_attribute_matches_lifetimes(bgf, lt_bgf, cdnow):
    """``data`` holds what fit received, with lifetimes' columns, dtypes and index."""
    pd.testing.assert_frame_equal(bgf.data, lt_bgf.data)
    index = range(len(cdnow), 0, -1)
    ours = compat.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"],
                                      index=index)
    assert (ours.data.index == pd.Index(index)).all()


def test_bgf_fit_matches_lifetimes_on_simulated_data(simulated):
    """On 5,000 simulated customers both fits reach the same estimate (FIT_RTOL)."""
    args = (simulated["frequency"], simulated["recency"], simulated["T"])
    theirs = _quiet(_lifetimes("BetaGeoFitter").fit, *args)
    ours = compat.BetaGeoFitter().fit(*args)
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL)


def test_bgf_penalized_fit_matches_lifetimes(cdnow):
    """penalizer_coef has lifetimes' scaling: the same value gives the same estimate."""
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    theirs = _quiet(_lifetimes("BetaGeoFitter", penalizer_coef=0.1).fit, *args)
    ours = compat.BetaGeoFitter(penalizer_coef=0.1).fit(*args)
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL)
    np.testing.assert_allclose(ours._negative_log_likelihood_,
                               theirs._negative_log_likelihood_, rtol=1e-8)


def test_bgf_weighted_fit_matches_lifetimes(cdnow, bgf):
    """Grouped rows with weights give lifetimes' weighted estimate and the unweighted one."""
    grouped = (cdnow.assign(weights=1.0).groupby(["frequency", "recency", "T"])["weights"]
               .sum().reset_index())
    args = (grouped["frequency"], grouped["recency"], grouped["T"])
    theirs = _quiet(_lifetimes("BetaGeoFitter").fit, *args, weights=grouped["weights"])
    ours = compat.BetaGeoFitter().fit(*args, weights=grouped["weights"])
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL)
    np.testing.assert_allclose(ours.params_, bgf.params_, rtol=1e-8)


def test_bgf_initial_params_in_lifetimes_convention(cdnow, bgf):
    """initial_params are lifetimes' log-parameters on rescaled time; the estimate is unchanged."""
    start = np.log([0.3, 4.0 * bgf._scale, 1.0, 3.0])
    ours = compat.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"],
                                      initial_params=start, tol=1e-3, maxiter=5)
    np.testing.assert_allclose(ours.params_, bgf.params_, rtol=1e-7)
    with pytest.raises(ValueError, match="initial_params must hold 4"):
        compat.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"],
                                   initial_params=[0.0, 1.0])


def test_bgf_fit_truncates_fractional_frequency_like_lifetimes(cdnow):
    """lifetimes truncated fractional frequencies in fit; so do we, with one warning."""
    frequency = cdnow["frequency"].astype(float).copy()
    frequency.iloc[:3] += 0.5
    args = (frequency, cdnow["recency"], cdnow["T"])
    theirs = _quiet(_lifetimes("BetaGeoFitter").fit, *args)
    with pytest.warns(LifetimesCompatWarning, match="3 frequency value.*truncated"):
        ours = compat.BetaGeoFitter().fit(*args)
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL)


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "match"),
    [
        ([0, 1], [2.0, 1.0], [5.0, 5.0], "recency: must be 0 when frequency is 0"),
        ([1, 1], [6.0, 1.0], [5.0, 5.0], "recency: must be <= T"),
        ([1, 1], [-1.0, 1.0], [5.0, 5.0], "recency: must be >= 0"),
        ([1, 1], [np.nan, 1.0], [5.0, 5.0], "recency: must be a finite number"),
    ],
)
def test_bgf_fit_rejects_what_lifetimes_rejected(frequency, recency, T, match):
    """fit raises ValueError where lifetimes' _check_inputs did (or where it gave NaN)."""
    import lifetimes

    with pytest.raises(InvalidValueError, match=match):
        compat.BetaGeoFitter().fit(frequency, recency, T)
    with pytest.raises(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lifetimes.BetaGeoFitter().fit(np.array(frequency), np.array(recency), np.array(T))
        if np.isnan(recency).any():  # lifetimes does not check NaN: it fails in the optimiser
            raise ValueError


def test_repr_like_lifetimes(bgf, lt_bgf):
    """repr has lifetimes' shape, with this package's name."""
    assert repr(bgf) == repr(lt_bgf).replace("<lifetimes.", "<clvlab.compat.lifetimes.")
    assert repr(compat.BetaGeoFitter()) == "<clvlab.compat.lifetimes.BetaGeoFitter>"


# ---------------------------------------------------------------------------------------
# BG/NBD: predictions at lifetimes' parameters
# ---------------------------------------------------------------------------------------
def _histories(cdnow: pd.DataFrame) -> dict[str, tuple[object, object, object]]:
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    return {
        "numbers": (2, 30.43, 38.86),
        "ints": (2, 30, 38),
        "arrays": (f.to_numpy(), r.to_numpy(), T.to_numpy()),
        "series": (f, r, T),
        "series frequency only": (f, r.to_numpy(), T.to_numpy()),
        "renamed series": (f.rename("x"), r.rename("x"), T.rename("x")),
    }


@pytest.mark.parametrize("kind", ["numbers", "ints", "arrays", "series",
                                  "series frequency only", "renamed series"])
@pytest.mark.parametrize("t", [0.0, 10, 39.0, 520.0])
def test_conditional_expected_purchases_matches_lifetimes(bgf_at_lifetimes, lt_bgf, cdnow,
                                                          kind, t):
    """conditional_expected_number_of_purchases_up_to_time: values, type, index and name."""
    args = _histories(cdnow)[kind]
    ours = bgf_at_lifetimes.conditional_expected_number_of_purchases_up_to_time(t, *args)
    theirs = _quiet(lt_bgf.conditional_expected_number_of_purchases_up_to_time, t, *args)
    _same_result(ours, theirs)
    _same_result(bgf_at_lifetimes.predict(t, *args), theirs)


@pytest.mark.parametrize("t", [np.array([0.5, 1.0, 39.0]), pd.Series([1.0, 2.0], index=[7, 9])])
def test_conditional_expected_purchases_over_horizons(bgf_at_lifetimes, lt_bgf, t):
    """Several horizons for one customer broadcast as in lifetimes (array or Series of t)."""
    ours = bgf_at_lifetimes.conditional_expected_number_of_purchases_up_to_time(t, 2, 30.43,
                                                                                38.86)
    theirs = lt_bgf.conditional_expected_number_of_purchases_up_to_time(t, 2, 30.43, 38.86)
    _same_result(ours, theirs)


@pytest.mark.parametrize("kind", ["numbers", "ints", "arrays", "series",
                                  "series frequency only"])
def test_probability_alive_matches_lifetimes(bgf_at_lifetimes, lt_bgf, cdnow, kind):
    """conditional_probability_alive: always an array (lifetimes' np.atleast_1d), same values."""
    args = _histories(cdnow)[kind]
    ours = bgf_at_lifetimes.conditional_probability_alive(*args)
    theirs = lt_bgf.conditional_probability_alive(*args)
    _same_result(ours, theirs)


@pytest.mark.parametrize(("max_frequency", "max_recency"), [(None, None), (5, 10), (0, 3)])
def test_probability_alive_matrix_matches_lifetimes(bgf, lt_bgf, max_frequency, max_recency):
    """conditional_probability_alive_matrix: shape (recency, frequency) and values."""
    model = compat.BetaGeoFitter()
    model.params_, model.data = lt_bgf.params_.copy(), bgf.data
    ours = model.conditional_probability_alive_matrix(max_frequency, max_recency)
    theirs = lt_bgf.conditional_probability_alive_matrix(max_frequency, max_recency)
    _same_result(ours, theirs)


@pytest.mark.parametrize("t", [0.0, 1, 39.0, [0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0],
                               np.array([1.0, 2.0]), pd.Series([1.0, 52.0], index=[5, 6],
                                                               name="x")])
def test_expected_purchases_new_customer_matches_lifetimes(bgf_at_lifetimes, lt_bgf, t):
    """expected_number_of_purchases_up_to_time: values and type follow t."""
    _same_result(bgf_at_lifetimes.expected_number_of_purchases_up_to_time(t),
                 lt_bgf.expected_number_of_purchases_up_to_time(t))


@pytest.mark.parametrize(("t", "n"), [(39, 0), (2, 10), (30, 15), (52.0, 100), (0.5, 1),
                                      (np.array([10.0, 39.0]), 0)])
def test_probability_of_n_purchases_matches_lifetimes(bgf_at_lifetimes, lt_bgf, t, n):
    """probability_of_n_purchases_up_to_time(t, n): lifetimes' argument order and values."""
    _same_result(bgf_at_lifetimes.probability_of_n_purchases_up_to_time(t, n),
                 lt_bgf.probability_of_n_purchases_up_to_time(t, n), rtol=1e-8)


def test_probability_of_n_purchases_over_horizons_is_elementwise(bgf_at_lifetimes, lt_bgf):
    """An array of t with n > 0 gives one probability per t (lifetimes summed across them).

    lifetimes' finite sum over ``j < n`` broadcasts ``j`` against ``t`` and sums both axes,
    so ``(t=[10, 39], n=2)`` mixes the two horizons; each element here equals lifetimes'
    scalar call.
    """
    t = np.array([10.0, 39.0])
    ours = bgf_at_lifetimes.probability_of_n_purchases_up_to_time(t, 2)
    one_by_one = [lt_bgf.probability_of_n_purchases_up_to_time(ti, 2) for ti in t]
    np.testing.assert_allclose(ours, one_by_one, rtol=1e-9)
    assert not np.allclose(lt_bgf.probability_of_n_purchases_up_to_time(t, 2), one_by_one)


def test_probability_of_n_purchases_finite_where_lifetimes_is_nan(bgf_at_lifetimes, lt_bgf):
    """At n = 200 lifetimes overflows to NaN; clvlab's log-space formula stays finite."""
    theirs = _quiet(lt_bgf.probability_of_n_purchases_up_to_time, 52, 200)
    ours = bgf_at_lifetimes.probability_of_n_purchases_up_to_time(52, 200)
    assert np.isnan(theirs)
    assert np.isfinite(ours) and 0 < ours < 1e-10


def test_predictions_match_lifetimes_on_simulated_data(simulated, bgf_at_lifetimes, lt_bgf):
    """On 5,000 simulated histories every predictor agrees with lifetimes (FORMULA_RTOL)."""
    args = (simulated["frequency"], simulated["recency"], simulated["T"])
    for t in (1.0, 26.0, 104.0):
        _same_result(bgf_at_lifetimes.conditional_expected_number_of_purchases_up_to_time(
            t, *args), lt_bgf.conditional_expected_number_of_purchases_up_to_time(t, *args))
    _same_result(bgf_at_lifetimes.conditional_probability_alive(*args),
                 lt_bgf.conditional_probability_alive(*args))


# ---------------------------------------------------------------------------------------
# impossible and invalid inputs
# ---------------------------------------------------------------------------------------
IMPOSSIBLE = (np.array([0.0, 0.0, 2.0, 3.5, 1.0]), np.array([5.0, 0.0, 40.0, 10.0, 1.0]),
              np.array([30.0, 30.0, 38.0, 38.0, 38.0]))


def test_impossible_histories_computed_as_lifetimes_with_one_warning(bgf_at_lifetimes, lt_bgf):
    """frequency 0 with recency > 0, recency > T, fractional frequency: one warning, same values."""
    for method in ("conditional_probability_alive",
                   "conditional_expected_number_of_purchases_up_to_time"):
        extra = () if method == "conditional_probability_alive" else (10.0,)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = getattr(bgf_at_lifetimes, method)(*extra, *IMPOSSIBLE)
        relevant = [w for w in caught if issubclass(w.category, LifetimesCompatWarning)]
        assert len(relevant) == 1
        text = str(relevant[0].message)
        assert "1 where frequency is not a whole number" in text
        assert "1 where frequency is 0 but recency > 0" in text
        assert "ignore recency" in text  # BG/NBD's treatment is named
        assert "1 where recency > T" in text
        assert relevant[0].filename == __file__  # points at the caller's line
        _same_result(ours, getattr(lt_bgf, method)(*extra, *IMPOSSIBLE))


def test_possible_histories_do_not_warn(bgf_at_lifetimes, cdnow):
    """Real summaries (CDNOW) pass without any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bgf_at_lifetimes.conditional_probability_alive(cdnow["frequency"], cdnow["recency"],
                                                       cdnow["T"])


@pytest.mark.parametrize(("args", "match"), [
    ((10.0, np.nan, 1.0, 5.0), "frequency: must be a finite number"),
    ((10.0, 1.0, 1.0, -5.0), "T: must be >= 0"),
    ((-1.0, 1.0, 1.0, 5.0), "t: must be >= 0"),
])
def test_values_that_are_not_numbers_raise(bgf_at_lifetimes, args, match):
    """NaN and negative inputs raise (lifetimes returned NaN or nonsense)."""
    with pytest.raises(InvalidValueError, match=match):
        bgf_at_lifetimes.conditional_expected_number_of_purchases_up_to_time(*args)


def test_series_with_different_indexes_raise(bgf_at_lifetimes, cdnow):
    """Misaligned Series raise instead of aligning into NaN as pandas arithmetic would."""
    shifted = cdnow["recency"].copy()
    shifted.index = shifted.index + 1
    with pytest.raises(ValueError, match="different indexes"):
        bgf_at_lifetimes.conditional_probability_alive(cdnow["frequency"], shifted, cdnow["T"])
    with pytest.raises(TypeError, match="DataFrame"):
        bgf_at_lifetimes.conditional_probability_alive(cdnow, cdnow["recency"], cdnow["T"])


def test_unfitted_model_raises_like_lifetimes():
    """Predicting before fit raises a ValueError (lifetimes: 'Model has not been fit yet')."""
    with pytest.raises(ValueError, match="has not been fit yet"):
        compat.BetaGeoFitter().conditional_probability_alive(1, 1, 2)


# ---------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------
def test_ggf_fit_matches_lifetimes(ggf, lt_ggf):
    """Gamma-Gamma estimate, log-likelihood, summary and data equal lifetimes'."""
    np.testing.assert_allclose(ggf.params_, lt_ggf.params_, rtol=FIT_RTOL)
    pd.testing.assert_index_equal(ggf.params_.index, lt_ggf.params_.index)
    np.testing.assert_allclose(ggf._negative_log_likelihood_,
                               lt_ggf._negative_log_likelihood_, rtol=1e-9)
    np.testing.assert_allclose(ggf.summary.to_numpy(), lt_ggf.summary.to_numpy(), rtol=1e-4)
    pd.testing.assert_index_equal(ggf.summary.columns, lt_ggf.summary.columns)
    pd.testing.assert_frame_equal(ggf.data, lt_ggf.data)


def test_ggf_weighted_and_penalized_fits_match_lifetimes(cdnow_repeat):
    """Weights and penalizer_coef mean what they meant in lifetimes."""
    grouped = (cdnow_repeat.assign(weights=1.0).groupby(["frequency", "monetary_value"])
               ["weights"].sum().reset_index())
    for kwargs, fit_kwargs in (({}, {"weights": grouped["weights"]}),
                               ({"penalizer_coef": 1e-4}, {})):
        frame = grouped if fit_kwargs else cdnow_repeat
        args = (frame["frequency"], frame["monetary_value"])
        theirs = _quiet(_lifetimes("GammaGammaFitter", **kwargs).fit, *args, **fit_kwargs)
        ours = compat.GammaGammaFitter(**kwargs).fit(*args, **fit_kwargs)
        np.testing.assert_allclose(ours.params_, theirs.params_, rtol=FIT_RTOL)


def test_ggf_keeps_q_above_one_where_lifetimes_went_below(cdnow_repeat):
    """A strong penalty drives lifetimes' q below 1 (negative population mean); ours stops at 1.

    clvlab optimises log(q - 1), so the population mean spend ``p v / (q - 1)`` stays
    positive, and says so with a ModelWarning (lifetimes' ``q_constraint=True`` intent).
    """
    from clvlab.exceptions import ModelWarning

    args = (cdnow_repeat["frequency"], cdnow_repeat["monetary_value"])
    theirs = _quiet(_lifetimes("GammaGammaFitter", penalizer_coef=0.01).fit, *args)
    with pytest.warns(ModelWarning, match="lower bound"):
        ours = compat.GammaGammaFitter(penalizer_coef=0.01).fit(*args)
    assert theirs.params_["q"] < 1.0
    assert 1.0 < ours.params_["q"] < 1.0 + 1e-6


@pytest.mark.parametrize(("frequency", "monetary", "match"), [
    ([0, 2], [10.0, 5.0], "frequency: must be > 0"),
    ([1, 2], [0.0, 5.0], "monetary_value: must be > 0"),
    ([1.5, 2], [3.0, 5.0], "frequency: must be a whole number"),
])
def test_ggf_fit_rejects_what_lifetimes_could_not_fit(frequency, monetary, match):
    """Frequency 0 (lifetimes: ConvergenceError), spend <= 0 and fractions raise ValueError."""
    with pytest.raises(InvalidValueError, match=match):
        compat.GammaGammaFitter().fit(frequency, monetary)


@pytest.mark.parametrize("kind", ["default", "series", "arrays", "numbers", "frequency only"])
def test_conditional_expected_average_profit_matches_lifetimes(ggf_at_lifetimes, lt_ggf, ggf,
                                                               cdnow, kind):
    """conditional_expected_average_profit: values and type follow the inputs."""
    f, m = cdnow["frequency"], cdnow["monetary_value"]
    args = {"default": (), "series": (f, m), "arrays": (f.to_numpy(), m.to_numpy()),
            "numbers": (2, 20.0), "frequency only": (f, m.to_numpy())}[kind]
    if kind == "default":
        ggf_at_lifetimes.data = ggf.data
    _same_result(ggf_at_lifetimes.conditional_expected_average_profit(*args),
                 lt_ggf.conditional_expected_average_profit(*args))


@pytest.mark.parametrize("freq", ["D", "W", "M", "H"])
@pytest.mark.parametrize(("time", "discount_rate"), [(12, 0.01), (1, 0.0), (3, 1.0), (0, 0.01)])
def test_customer_lifetime_value_matches_lifetimes(ggf_at_lifetimes, lt_ggf, bgf_at_lifetimes,
                                                   lt_bgf, cdnow, freq, time, discount_rate):
    """CLV with lifetimes' month convention: Series 'clv' on the customer index, same values."""
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    ours = ggf_at_lifetimes.customer_lifetime_value(bgf_at_lifetimes, *args, time=time,
                                                    discount_rate=discount_rate, freq=freq)
    theirs = lt_ggf.customer_lifetime_value(lt_bgf, *args, time=time,
                                            discount_rate=discount_rate, freq=freq)
    _same_result(ours, theirs)
    assert ours.name == "clv"


def test_customer_lifetime_value_accepts_a_lifetimes_model(ggf_at_lifetimes, lt_ggf, lt_bgf,
                                                           cdnow):
    """Any model with lifetimes' predict(t, frequency, recency, T) works, lifetimes' own too."""
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    _same_result(ggf_at_lifetimes.customer_lifetime_value(lt_bgf, *args, freq="W"),
                 lt_ggf.customer_lifetime_value(lt_bgf, *args, freq="W"))
    with pytest.raises(TypeError, match="transaction_prediction_model"):
        ggf_at_lifetimes.customer_lifetime_value(object(), *args)
    with pytest.raises(ValueError, match="freq must be one of"):
        ggf_at_lifetimes.customer_lifetime_value(lt_bgf, *args, freq="Q")


def test_customer_lifetime_value_fractional_months_like_lifetimes(ggf_at_lifetimes, lt_ggf,
                                                                  bgf_at_lifetimes, lt_bgf,
                                                                  cdnow):
    """time=2.5 counts 3 whole months, as lifetimes' np.arange did, with a warning."""
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    with pytest.warns(LifetimesCompatWarning, match="3 whole months"):
        ours = ggf_at_lifetimes.customer_lifetime_value(bgf_at_lifetimes, *args, time=2.5)
    _same_result(ours, lt_ggf.customer_lifetime_value(lt_bgf, *args, time=2.5))


def test_utils_customer_lifetime_value_matches_lifetimes(bgf_at_lifetimes, lt_bgf, cdnow):
    """utils._customer_lifetime_value (spend used as given) equals lifetimes'."""
    import lifetimes.utils

    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    _same_result(compat.utils._customer_lifetime_value(bgf_at_lifetimes, *args, time=6,
                                                       freq="W"),
                 lifetimes.utils._customer_lifetime_value(lt_bgf, *args, time=6, freq="W"))
