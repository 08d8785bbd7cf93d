"""--purchase-model auto on Spark: the pandas comparison's scores and choice from counted rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def choice(cdnow_split):
    """Every registered purchase model compared on the Spark CDNOW split."""
    import clvlab.spark as cs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cs.choose_purchase_model(cdnow_split)


@pytest.fixture(scope="module")
def pandas_comparison(cdnow_split_pd):
    """clvlab.compare_models on the same split (pandas), every registered purchase model."""
    import clvlab
    from clvlab.models.registry import registered

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvlab.compare_models(cdnow_split_pd, registered("purchase"))


def test_log_scores_equal_the_pandas_comparison(choice, pandas_comparison):
    """Each model's holdout log predictive score equals compare_models' (rtol 1e-7)."""
    want = pandas_comparison.table.loc["log_score"]
    assert set(choice.log_scores) == set(pandas_comparison.models)
    for key, got in choice.log_scores.items():
        np.testing.assert_allclose(got, float(want[key]), rtol=1e-7, err_msg=key)


def test_choice_and_reason_equal_the_pandas_comparison(choice, pandas_comparison):
    """Same best model, same ranking and the same sentence saying why."""
    assert choice.best == pandas_comparison.best
    assert choice.ranking == [k for k in pandas_comparison.ranking if k != "baseline"]
    assert choice.reason == pandas_comparison.reason
    assert choice.n_customers == pandas_comparison.n_customers


def test_models_equal_the_pandas_fits_and_only_distinct_rows_reach_the_driver(
        choice, pandas_comparison, cdnow_split_pd):
    """Parameters equal the pandas fits (rtol 1e-6); fewer rows than customers were collected."""
    for key, model in choice.models.items():
        want = pandas_comparison.models[key].params_
        np.testing.assert_allclose(model.params_.to_numpy(float), want.to_numpy(float),
                                   rtol=1e-6, err_msg=key)
        assert model.n_customers_ == len(cdnow_split_pd)
    cols = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    assert choice.n_rows == len(cdnow_split_pd[cols].drop_duplicates()) < len(cdnow_split_pd)


def test_unknown_key_is_refused(cdnow_split):
    """A key that is not a purchase model is named in the error."""
    import clvlab.spark as cs

    with pytest.raises(ValueError, match="'gg' is not a registered purchase model"):
        cs.choose_purchase_model(cdnow_split, ["bgnbd", "gg"])
