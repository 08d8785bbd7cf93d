"""Tests of clvlab.compare_models: the table, the choice by holdout log score, the fallback."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvlab
import stand_in_models
from clvlab import evaluation as ev
from clvlab.comparison import CRITERION, FALLBACK_CRITERION, ModelComparison
from clvlab.exceptions import ClvlabWarning

CAL_END, OBS_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    """CDNOW 1/10 sample log."""
    return clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))


@pytest.fixture(scope="module")
def split(tx) -> pd.DataFrame:
    """FHL 2005 split of the sample (39 + 39 weeks)."""
    return clvlab.calibration_holdout(tx, CAL_END, OBS_END, time_unit="W")


@pytest.fixture(scope="module")
def models(split):
    """BG/NBD, Gamma-Gamma, baseline and the two NBD stand-ins, fitted on calibration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return {
            "bg": clvlab.BetaGeoFitter().fit(split),
            "gg": clvlab.GammaGammaFitter().fit(split),
            "base": clvlab.FormulaCLVBaseline().fit(split),
            "nbd": stand_in_models.NBDFitter().fit(split),
            "bare": stand_in_models.BareNBDFitter().fit(split),
        }


@pytest.fixture(scope="module")
def mixed(split, tx, models) -> ModelComparison:
    """BG/NBD, NBD and bare NBD (no count distributions) with spend model and baseline."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return clvlab.compare_models(
            split, {"bgnbd": models["bg"], "nbd": models["nbd"], "bare": models["bare"]},
            models["gg"], models["base"], tx,
        )


def test_keys_are_fitted_on_the_calibration_columns(split, models):
    """A registry key is fitted here: same estimates as BetaGeoFitter().fit(split)."""
    cmp = clvlab.compare_models(split, ["bgnbd"])
    assert list(cmp.table.columns) == ["bgnbd"] and cmp.best == "bgnbd"
    np.testing.assert_allclose(cmp.table.loc[["r", "alpha", "a", "b"], "bgnbd"],
                               models["bg"].params_.to_numpy(), rtol=1e-8)
    # FHL (2005) on this sample: LL -9582.4
    np.testing.assert_allclose(cmp.table.loc["log_likelihood", "bgnbd"], -9582.4, atol=0.05)
    assert cmp.evaluations["bgnbd"].tracking is None  # no transactions given
    assert cmp.ranking == ["bgnbd"] and cmp.flagged == []


def test_table_holds_each_models_figures(mixed, models):
    """Columns per model; parameters, LL/AIC/BIC and holdout metrics equal their sources."""
    t = mixed.table
    assert list(t.columns) == ["bgnbd", "nbd", "bare", "baseline"]
    bg = models["bg"]
    for stat, value in (("log_likelihood", bg.log_likelihood_), ("aic", bg.aic_),
                        ("bic", bg.bic_), ("n_parameters", 4.0)):
        np.testing.assert_allclose(t.loc[stat, "bgnbd"], value, rtol=1e-12)
    assert math.isnan(t.loc["a", "nbd"])  # NBD has no dropout parameter a
    np.testing.assert_allclose(t.loc["r", "nbd"], models["nbd"].params_["r"], rtol=1e-12)
    ev_bg = mixed.evaluations["bgnbd"]
    row = ev_bg.metrics.iloc[0]
    for stat in ("purchases_rmse", "purchases_mae", "purchases_pearson",
                 "purchases_aggregate_pct_error"):
        np.testing.assert_allclose(t.loc[stat, "bgnbd"], row[stat], rtol=1e-12)
    np.testing.assert_allclose(t.loc["chi_square", "bgnbd"], ev_bg.chi_square.statistic,
                               rtol=1e-12)
    np.testing.assert_allclose(t.loc["log_score", "bgnbd"], ev_bg.log_score, rtol=1e-12)
    np.testing.assert_allclose(t.loc["log_score_per_customer", "bgnbd"],
                               ev_bg.log_score / 2357, rtol=1e-12)
    np.testing.assert_allclose(t.loc["value_rmse", "bgnbd"], ev_bg.metrics.iloc[1]["value_rmse"],
                               rtol=1e-12)
    # the baseline column: holdout metrics only, never a likelihood or a log score
    base_row = ev_bg.metrics.loc["Formula CLV baseline"]
    np.testing.assert_allclose(t.loc["purchases_rmse", "baseline"], base_row["purchases_rmse"],
                               rtol=1e-12)
    assert t.loc[["log_likelihood", "log_score", "rank"], "baseline"].isna().all()
    assert mixed.standard_errors.loc["r", "bgnbd"] == bg.standard_errors_["r"]


def test_best_by_holdout_log_score(mixed):
    """BG/NBD beats the NBD (no dropout) on CDNOW by log score; the reason gives the numbers."""
    t = mixed.table
    assert mixed.best == "bgnbd" and mixed.best_model is mixed.models["bgnbd"]
    assert t.loc["log_score", "bgnbd"] > t.loc["log_score", "nbd"]
    assert mixed.ranking == ["bgnbd", "nbd", "bare"]
    assert list(t.loc["rank", ["bgnbd", "nbd", "bare"]]) == [1.0, 2.0, 3.0]
    assert mixed.criterion == CRITERION
    gap = t.loc["log_score", "bgnbd"] - t.loc["log_score", "nbd"]
    assert f"{t.loc['log_score', 'bgnbd']:,.0f} against" in mixed.reason  # rounded for people
    assert f"{gap:,.1f} higher" in mixed.reason and "NBD" in mixed.reason


def test_models_without_the_conditional_pmf_are_flagged(mixed):
    """The bare NBD has no log score or χ²; it is ranked by RMSE after the scored models."""
    t = mixed.table
    assert mixed.flagged == ["bare"]
    assert math.isnan(t.loc["log_score", "bare"]) and math.isnan(t.loc["chi_square", "bare"])
    assert np.isfinite(t.loc["purchases_rmse", "bare"])
    assert any("NBD (bare)" in n and FALLBACK_CRITERION in n for n in mixed.notes)
    assert any("left out" in n for n in mixed.evaluations["bare"].notes)


def test_without_any_log_score_the_fallback_chooses(split, models):
    """With only models lacking the conditional pmf, the lowest holdout RMSE wins, said so."""
    bare_pen = stand_in_models.BareNBDFitter(penalizer_coef=1.0).fit(split)
    cmp = clvlab.compare_models(split, {"plain": models["bare"], "penalised": bare_pen})
    rmse = cmp.table.loc["purchases_rmse"]
    assert cmp.best == rmse.idxmin()
    assert cmp.flagged == sorted(cmp.flagged, key=lambda k: rmse[k])
    assert FALLBACK_CRITERION in cmp.reason and "No model provides" in cmp.reason


def test_log_score_of_the_nbd_matches_the_negative_binomial(split, models):
    """Σ log P(X_holdout | history) equals scipy's NB pmf for the NBD stand-in (rtol 1e-10)."""
    nbd = models["nbd"]
    r, alpha = nbd.params_
    x, T = split["frequency"].to_numpy(), split["T"].to_numpy()
    t = split["duration_holdout"].to_numpy()
    want = stats.nbinom.logpmf(split["frequency_holdout"].to_numpy(), r + x,
                               (alpha + T) / (alpha + T + t))
    got = ev.log_predictive_score(nbd, split)
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-10)
    assert got.index.equals(split.index)


def test_mae_rewards_predicting_low(split, models):
    """On CDNOW BG/NBD's own medians (87% zeros) beat its means on MAE, -59% on the total.

    This is why the comparison does not choose by MAE: MAE is minimised by the median,
    which is 0 for most customers; halving every forecast also lowers it. The log score
    judges the whole distribution and cannot be improved this way.
    """
    actual = split["frequency_holdout"].to_numpy()
    bg = models["bg"]
    mean = bg.expected_purchases(split, t=39.0).to_numpy()
    cdf, median = np.zeros(len(split)), np.full(len(split), -1.0)
    for n in range(100):
        cdf += bg.conditional_probability_of_purchases(split, n=n, t=39.0).to_numpy()
        median[(median < 0) & (cdf >= 0.5)] = n
    assert (median >= 0).all() and 0.85 < (median == 0).mean() < 0.9
    np.testing.assert_allclose(ev.mean_absolute_error(actual, mean), 0.7855, atol=1e-4)
    np.testing.assert_allclose(ev.mean_absolute_error(actual, median), 0.6657, atol=1e-4)
    assert ev.mean_absolute_error(actual, 0.5 * mean) < ev.mean_absolute_error(actual, mean)
    np.testing.assert_allclose(ev.aggregate_percent_error(actual, median), -58.9, atol=0.05)


def test_duplicate_models_get_distinct_columns_and_names(split, models):
    """Two BG/NBD fits: columns bgnbd and bgnbd-2, names carry the key."""
    pen = clvlab.BetaGeoFitter(penalizer_coef=0.1).fit(split)
    cmp = clvlab.compare_models(split, [models["bg"], pen])
    assert list(cmp.table.columns) == ["bgnbd", "bgnbd-2"]
    assert cmp.names == {"bgnbd": "BG/NBD (bgnbd)", "bgnbd-2": "BG/NBD (bgnbd-2)"}


def test_summary_and_formatted_table(mixed):
    """Text and HTML views mark the chosen model and show standard errors in parentheses."""
    f = mixed.formatted()
    assert list(f.columns) == ["BG/NBD *", "NBD", "NBD (bare)", "Formula CLV baseline"]
    assert f.loc["Holdout log predictive score", "NBD (bare)"] == "—"
    assert f.loc["r", "BG/NBD *"].endswith(")") and "(" in f.loc["r", "BG/NBD *"]
    text = mixed.summary()
    assert "Chosen: BG/NBD (bgnbd)." in text and CRITERION in text
    assert "BG/NBD *" in mixed._repr_html_()


def test_bad_inputs_are_clear_errors(split, models):
    """Unknown keys, spend models and empty lists are refused with what to do."""
    with pytest.raises(ValueError, match="not a registered purchase model; purchase models: "):
        clvlab.compare_models(split, ["nope"])
    with pytest.raises(ValueError, match="not a registered purchase model"):
        clvlab.compare_models(split, ["gg"])
    with pytest.raises(ValueError, match="is not a purchase model"):
        clvlab.compare_models(split, [models["gg"]])
    with pytest.raises(ValueError, match="purchase_models is empty"):
        clvlab.compare_models(split, [])


def test_every_registered_purchase_model_compares(split, tx):
    """compare_models over registry.registered('purchase') fits and ranks them all."""
    from clvlab.models.contract import unsuited_data
    from clvlab.models.registry import get_model_class, registered

    every = registered("purchase")
    # discrete-time models (BG/BB) need per-period data: left out of this split with a note
    keys = [k for k in every if unsuited_data(get_model_class(k), split) is None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        cmp = clvlab.compare_models(split, every, transactions=tx)
    assert list(cmp.table.columns) == keys and sorted(cmp.ranking) == sorted(keys)
    for left_out in set(every) - set(keys):
        assert any(n.startswith(f"{left_out}: left out.") for n in cmp.notes)
    assert all(e.tracking is not None for e in cmp.evaluations.values())
    assert cmp.table.loc["log_score", cmp.best] == cmp.table.loc["log_score"].max()


def _not_prefetched():
    pytest.fail("not prefetched")


def test_prefetched_parts_are_what_the_evaluation_computes(split, tx):
    """_Prefetch puts the actuals' ranks, the histories and the actual tracking in the memo."""
    memo = ev._Memo()
    ev._Prefetch(split, tx, 1.0).into(memo)
    observed = split["frequency_holdout"].to_numpy(dtype=float)
    ranks, order = memo.get("ranks", (observed.copy(),), _not_prefetched)
    np.testing.assert_array_equal(ranks, ev._average_ranks(observed))
    assert order is None
    value = split["total_spend_holdout"].to_numpy(dtype=float)
    ranks, order = memo.get("ranks+descending", (value.copy(),), _not_prefetched)
    np.testing.assert_array_equal(ranks, ev._average_ranks(value))
    np.testing.assert_array_equal(order, ev._descending(value))
    key = tuple(split[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    key += (observed,)
    uniq, inverse = memo.get("histories", key, _not_prefetched)
    want_uniq, want_inverse = ev._distinct_histories(key)
    np.testing.assert_array_equal(uniq, want_uniq)
    np.testing.assert_array_equal(inverse, want_inverse)
    tracked, first_ages = memo.by_identity[("actual_tracking", id(tx), id(split))][2]
    want, want_ages = ev._actual_tracking(tx, split, None)
    pd.testing.assert_frame_equal(tracked, want, check_exact=True)
    assert tracked.attrs == want.attrs
    np.testing.assert_array_equal(first_ages, want_ages)


def test_prefetch_changes_no_figure(split, tx, models, monkeypatch):
    """compare_models gives the same table and evaluations, to the bit, without prefetching."""
    from clvlab import comparison

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClvlabWarning)
            return clvlab.compare_models(split, ["bgnbd", "pnbd"], models["gg"],
                                         models["base"], tx, margin=0.3)

    with_prefetch = run()

    class _Nothing:
        def __init__(self, *args):
            pass

        def into(self, memo):
            pass

    monkeypatch.setattr(comparison, "_Prefetch", _Nothing)
    without = run()
    pd.testing.assert_frame_equal(with_prefetch.table, without.table, check_exact=True)
    assert with_prefetch.reason == without.reason
    for key, got in with_prefetch.evaluations.items():
        want = without.evaluations[key]
        pd.testing.assert_frame_equal(got.metrics, want.metrics, check_exact=True)
        pd.testing.assert_frame_equal(got.tracking, want.tracking, check_exact=True)
        pd.testing.assert_frame_equal(got.customers, want.customers, check_exact=True)
        pd.testing.assert_frame_equal(got.deciles, want.deciles, check_exact=True)
        assert got.log_score == want.log_score


def test_a_failed_prefetch_leaves_the_error_to_the_evaluation(split, tx, models):
    """A log that does not match the split: the same clear error as without prefetching."""
    short = tx.iloc[: len(tx) - 200]
    memo = ev._Memo()
    ev._Prefetch(split, short, 1.0).into(memo)
    assert not memo.by_identity  # the tracking failed: nothing kept
    with pytest.raises(clvlab.exceptions.InvalidValueError, match="Pass the same transaction log"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClvlabWarning)
            clvlab.compare_models(split, [models["bg"]], transactions=short)
