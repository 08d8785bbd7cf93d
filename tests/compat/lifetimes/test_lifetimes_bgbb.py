"""compat.lifetimes.BetaGeoBetaBinomFitter against lifetimes' BetaGeoBetaBinomFitter.

On the donations data of Fader, Hardie & Shang (2010) (lifetimes' copy; clvlab does not
ship it): the same estimate, every predictor per history at the same parameters with
lifetimes' return types, JSON persistence, and the inputs clvlab refuses on purpose.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.compat import lifetimes as compat
from clvlab.exceptions import InvalidValueError


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    """lifetimes' donations.csv (frequency, recency, periods, weights)."""
    import lifetimes

    return pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")


@pytest.fixture(scope="module")
def pair(donations):
    """(ours, lifetimes') fitted on the donations data."""
    import lifetimes

    args = (donations["frequency"], donations["recency"], donations["periods"],
            donations["weights"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.BetaGeoBetaBinomFitter().fit(*args)
    return compat.BetaGeoBetaBinomFitter().fit(*args), theirs


def test_same_estimate_as_lifetimes(pair):
    """Both optimisers find the same MLE (rtol 1e-4; lifetimes stops at tol=1e-7)."""
    ours, theirs = pair
    np.testing.assert_allclose(ours.params_.to_numpy(), theirs.params_.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(ours._negative_log_likelihood_,
                               theirs._negative_log_likelihood_, rtol=1e-9)
    assert list(ours.summary.columns) == ["coef", "se(coef)", "lower 95% bound",
                                          "upper 95% bound"]


def test_predictors_equal_lifetimes_per_history_with_its_types(pair, donations):
    """At lifetimes' parameters: P(alive at n+m), E[X(n, n+m)], in-sample table (rtol 1e-9)."""
    ours, theirs = pair
    ours.params_ = theirs.params_.copy()
    f, r, n = donations["frequency"], donations["recency"], donations["periods"]
    for m in (0, 1, 3):
        got = ours.conditional_probability_alive(m, f, r, n)
        want = theirs.conditional_probability_alive(m, f, r, n)
        assert isinstance(got, pd.Series) and got.index.equals(want.index)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    for m in (1, 5, 10):
        got = ours.conditional_expected_number_of_purchases_up_to_time(m, f, r, n)
        want = theirs.conditional_expected_number_of_purchases_up_to_time(m, f, r, n)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    scalar = ours.conditional_probability_alive(1, 2, 4, 6)
    assert isinstance(scalar, np.float64)
    table_ours = ours.expected_number_of_transactions_in_first_n_periods(6)
    table_theirs = theirs.expected_number_of_transactions_in_first_n_periods(6)
    pd.testing.assert_index_equal(table_ours.index, table_theirs.index, check_names=True)
    np.testing.assert_allclose(table_ours["model"], table_theirs["model"], rtol=1e-9)


def test_save_load_and_hand_over(pair, tmp_path):
    """save_model writes JSON that load_model and clvlab.load_model read; to_clvlab works."""
    ours, _ = pair
    fresh = compat.BetaGeoBetaBinomFitter().fit(*(ours.data[c] for c in (
        "frequency", "recency", "n_periods", "weights")))
    path = tmp_path / "bgbb.json"
    fresh.save_model(path)
    again = compat.BetaGeoBetaBinomFitter().load_model(path)
    pd.testing.assert_series_equal(again.params_, fresh.params_)
    pd.testing.assert_frame_equal(again.data, fresh.data)
    native = clvlab.load_model(path)
    assert type(native).__name__ == "BetaGeoBetaBinomFitter" and native.time_unit_ is None
    assert fresh.to_clvlab("Y").time_unit_ == "Y"
    sim = fresh.generate_new_data(500, random_state=1)
    assert list(sim.columns) == ["frequency", "recency", "n_periods"]
    assert (sim["frequency"] <= sim["recency"]).all() and (sim["recency"] <= 6).all()


@pytest.mark.parametrize(("f", "r", "n", "match"), [
    ([3], [2], [6], "must be <= recency for BG/BB"),
    ([1], [2.5], [6], "whole number of periods"),
    ([1], [7], [6], "must be <= T"),
])
def test_impossible_histories_raise(pair, f, r, n, match):
    """Histories no customer can have raise ValueError (lifetimes computed something)."""
    ours, _ = pair
    with pytest.raises(InvalidValueError, match=match):
        ours.conditional_probability_alive(1, np.array(f), np.array(r), np.array(n))
    with pytest.raises(InvalidValueError, match=match):
        compat.BetaGeoBetaBinomFitter().fit(np.array(f * 3), np.array(r * 3), np.array(n * 3))


def test_load_donations_explains_why_it_is_not_bundled():
    """datasets.load_donations raises FileNotFoundError saying why and what to do."""
    with pytest.raises(FileNotFoundError, match="licence is not stated"):
        compat.datasets.load_donations()
