"""save_model / load_model: JSON files (not dill) that clvlab itself can read."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.compat import lifetimes as compat
from clvlab.exceptions import ModelFileError


def test_round_trip_keeps_parameters_data_and_predictions(bgf, tmp_path):
    """A saved and loaded model has the same params_, data, summary and predictions."""
    path = tmp_path / "bgf.json"
    bgf.save_model(path)
    loaded = compat.BetaGeoFitter().load_model(path)
    pd.testing.assert_series_equal(loaded.params_, bgf.params_)
    pd.testing.assert_frame_equal(loaded.data, bgf.data)
    pd.testing.assert_frame_equal(loaded.summary, bgf.summary)
    assert loaded._scale == bgf._scale
    assert loaded._negative_log_likelihood_ == bgf._negative_log_likelihood_
    assert loaded.predict(1, 1, 2, 5) == bgf.predict(1, 1, 2, 5)
    np.testing.assert_array_equal(loaded.conditional_probability_alive_matrix(),
                                  bgf.conditional_probability_alive_matrix())


def test_file_is_json_and_a_clvlab_model(bgf, ggf, tmp_path):
    """The file is plain JSON; clvlab.load_model reads it as the native model."""
    for model, cls in ((bgf, clvlab.BetaGeoFitter), (ggf, clvlab.GammaGammaFitter)):
        path = tmp_path / f"{type(model).__name__}.json"
        model.save_model(path)
        payload = json.loads(path.read_text())
        assert payload["format"] == "clvlab-model" and payload["lifetimes"]["class"]
        native = clvlab.load_model(path)
        assert isinstance(native, cls)
        np.testing.assert_array_equal(native.params_.to_numpy(), model.params_.to_numpy())


def test_save_without_data_and_with_placeholder(bgf, tmp_path):
    """save_data=False stores no data; values_to_save[0] becomes data on load (lifetimes)."""
    path = tmp_path / "m.json"
    bgf.save_model(path, save_data=False)
    assert compat.BetaGeoFitter().load_model(path).data is None
    bgf.save_model(path, save_data=False, values_to_save=[""])
    loaded = compat.BetaGeoFitter().load_model(path)
    assert loaded.data == ""
    assert loaded.expected_number_of_purchases_up_to_time(1) == (
        bgf.expected_number_of_purchases_up_to_time(1))
    with pytest.raises(ValueError, match="training data"):
        loaded.conditional_probability_alive_matrix()


def test_hand_set_parameters_and_index_values_survive(tmp_path, cdnow):
    """Parameters set by hand and a string index round-trip (no clvlab fit behind them)."""
    model = compat.GammaGammaFitter()
    model.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    model.penalizer_coef = 0.0
    path = tmp_path / "gg.json"
    model.save_model(path)
    loaded = compat.GammaGammaFitter().load_model(path)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    assert loaded.clvlab_model_ is None
    repeat = cdnow[cdnow["frequency"] > 0]
    fitted = compat.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"],
                                           index=repeat.index.astype(str))
    fitted.save_model(path)
    pd.testing.assert_frame_equal(compat.GammaGammaFitter().load_model(path).data, fitted.data)


def test_load_rejects_other_classes_and_reads_native_files(bgf, tmp_path):
    """Loading into the wrong class fails clearly; a native clvlab file loads into compat."""
    path = tmp_path / "bgf.json"
    bgf.save_model(path)
    with pytest.raises(ModelFileError, match="holds a BetaGeoFitter, not a GammaGammaFitter"):
        compat.GammaGammaFitter().load_model(path)
    native_path = tmp_path / "native.json"
    bgf.to_clvlab("W").save(native_path)
    loaded = compat.BetaGeoFitter().load_model(native_path)
    pd.testing.assert_series_equal(loaded.params_, bgf.params_)
    assert loaded.data is None
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ModelFileError):
        compat.BetaGeoFitter().load_model(tmp_path / "bad.json")
