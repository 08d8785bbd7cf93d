"""The model contract, checked for every registered model (and two stand-ins).

Parametrised over ``clvlab.models.registry.registered()``, so a model that registers
itself is checked without editing this file. Each model is fitted on the calibration
period of the CDNOW 1/10 sample (FHL 2005 split, weeks). A purchase model must give
finite predictions in range for every prediction it declares, declare exactly what it
can do (undeclared predictions raise NotImplementedError or are absent), describe itself
completely, survive a JSON round trip with identical predictions, and work with
``evaluate`` and the report (HTML and PDF). The spend model and the baseline get the
checks of their roles. The stand-ins of ``tests/stand_in_models.py`` (an NBD model with and
without the optional count distributions) run through the purchase checks too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import clvlab  # noqa: E402
import stand_in_models  # noqa: E402
from clvlab import reporting  # noqa: E402
from clvlab.exceptions import ClvlabWarning  # noqa: E402
from clvlab.models import registry  # noqa: E402
from clvlab.models.contract import (  # noqa: E402
    PREDICTIONS,
    BaselineModel,
    Capabilities,
    ModelDescription,
    PurchaseModel,
    SpendModel,
    describe,
    supports,
)
from clvlab.persistence import model_from_dict  # noqa: E402
from clvlab.scoring import score_customers  # noqa: E402

CAL_END, OBS_END = "1997-09-30", "1998-06-30"
WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1

#: Predictions a purchase model may offer (the purchase part of PREDICTIONS).
PURCHASE_PREDICTIONS = (
    "expected_purchases", "probability_alive", "probability_of_purchases",
    "conditional_probability_of_purchases", "expected_purchases_new_customer",
    "expected_cumulative_purchases", "probability_alive_history",
    "expected_residual_purchases", "sample",
)
STAND_INS = {"nbd-stand-in": stand_in_models.NBDFitter,
             "bare-nbd-stand-in": stand_in_models.BareNBDFitter}
PURCHASE_KEYS = registry.registered("purchase")
ALL_PURCHASE = [*PURCHASE_KEYS, *STAND_INS]


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    """The CDNOW 1/10 sample log, loaded through load_transactions."""
    return clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))


@pytest.fixture(scope="module")
def split(tx) -> pd.DataFrame:
    """FHL 2005 split of the sample: calibration to 1997-09-30, holdout 39 weeks."""
    return clvlab.calibration_holdout(tx, CAL_END, OBS_END, time_unit="W")


@pytest.fixture(scope="module")
def period_split(tx) -> pd.DataFrame:
    """The same split for discrete-time models: purchases merged per week, whole weeks."""
    return clvlab.calibration_holdout(tx, CAL_END, OBS_END, time_unit="W", merge_period="W")


@pytest.fixture(scope="module")
def data_for(split, period_split):
    """The split a model is fitted and checked on, by its time scale (key -> frame).

    Continuous-time models take ages in fractional weeks (purchases merged per day);
    discrete-time models (capabilities().time == "discrete") take whole weeks, one
    purchase opportunity per week (rfm_summary(..., merge_period=time_unit)).
    """
    def get(key: str) -> pd.DataFrame:
        cls = STAND_INS.get(key) or registry.get_model_class(key)
        return period_split if cls.capabilities().time == "discrete" else split

    return get


@pytest.fixture(scope="module")
def fitted(data_for):
    """Every model of the test fitted once on the calibration columns (key -> model)."""
    cache: dict[str, object] = {}

    def get(key: str):
        if key not in cache:
            cls = STAND_INS.get(key) or registry.get_model_class(key)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ClvlabWarning)
                cache[key] = cls().fit(data_for(key))
        return cache[key]

    return get


def _purchase_calls(model, split):
    """Prediction name -> zero-argument call with representative arguments."""
    sub = split.iloc[::47]  # 51 customers of every kind
    return {
        "expected_purchases": lambda: model.expected_purchases(sub, t=10.0),
        "probability_alive": lambda: model.probability_alive(sub),
        "probability_of_purchases": lambda: model.probability_of_purchases(n=1, t=10.0),
        "conditional_probability_of_purchases":
            lambda: model.conditional_probability_of_purchases(sub, n=1, t=10.0),
        "expected_purchases_new_customer": lambda: model.expected_purchases_new_customer(10.0),
        "expected_cumulative_purchases":
            lambda: model.expected_cumulative_purchases([0.0, 5.0], [10.0, 20.0]),
        "probability_alive_history":
            lambda: model.probability_alive_history([0.0, 2.0, 10.0], end=39.0),
        "expected_residual_purchases":
            lambda: model.expected_residual_purchases(sub.iloc[:5], discount_rate=WEEKLY_RATE),
        "sample": lambda: model.sample([39.0] * 20, random_state=1),
    }


# --------------------------------------------------------------------------------------
# purchase models
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_purchase_model_follows_the_protocol(key, fitted):
    """The fitted model is a PurchaseModel with purchase capabilities in continuous time."""
    model = fitted(key)
    assert isinstance(model, PurchaseModel)
    caps = model.capabilities()
    assert isinstance(caps, Capabilities) and caps.role == "purchase"
    assert caps.time in ("continuous", "discrete")
    assert {"expected_purchases", "probability_alive"} <= caps.predictions
    assert caps.predictions <= set(PURCHASE_PREDICTIONS)
    assert model.time_unit_ == "W"


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_capabilities_are_honest(key, fitted, data_for):
    """Declared predictions run; undeclared ones raise NotImplementedError or are absent."""
    split = data_for(key)
    model = fitted(key)
    for name, call in _purchase_calls(model, split).items():
        if supports(model, name):
            assert callable(getattr(model, name)), name
            call()
        elif hasattr(model, name):
            with pytest.raises(NotImplementedError):
                call()


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_expected_purchases_finite_zero_at_zero_and_monotone(key, fitted, data_for):
    """E[X(t) | history] is finite, 0 at t = 0 and non-decreasing in t for every customer."""
    split = data_for(key)
    model = fitted(key)
    grid = [0.0, 1.0, 10.0, 52.0, 520.0]
    values = np.column_stack([model.expected_purchases(split, t=t).to_numpy() for t in grid])
    assert np.all(np.isfinite(values))
    np.testing.assert_array_equal(values[:, 0], 0.0)
    assert np.all(np.diff(values, axis=1) >= -1e-12 * np.abs(values[:, 1:]))


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_probability_alive_in_unit_interval(key, fitted, data_for):
    """P(alive) is finite and in [0, 1] for every calibration customer."""
    split = data_for(key)
    p = fitted(key).probability_alive(split).to_numpy()
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_count_distributions_are_probabilities(key, fitted, data_for):
    """Declared P(X(t) = n) and P(X(T, T+t] = n | history) lie in [0, 1] and sum to <= 1."""
    split = data_for(key)
    model = fitted(key)
    if supports(model, "probability_of_purchases"):
        t = np.array([0.5, 39.0, 78.0])
        probs = np.array([model.probability_of_purchases(n=n, t=t) for n in range(60)])
        assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1))
        assert np.all(probs.sum(axis=0) <= 1 + 1e-9)
        np.testing.assert_allclose(probs.sum(axis=0)[0], 1.0, rtol=1e-9)  # t = 0.5: all mass
    if supports(model, "conditional_probability_of_purchases"):
        sub = split.iloc[::7]
        probs = np.array([model.conditional_probability_of_purchases(sub, n=n, t=39.0)
                          for n in range(80)])
        assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1))
        assert np.all(probs.sum(axis=0) <= 1 + 1e-9)
        assert np.all(probs.sum(axis=0) >= 0.999)  # the counts of 39 weeks fit in 0..79


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_new_customer_and_cohort_expectations(key, fitted):
    """E[X(t)] of a new customer and the cohort tracking are finite, 0 at 0, non-decreasing."""
    model = fitted(key)
    t = np.array([0.0, 1.0, 10.0, 52.0, 520.0])
    e = np.asarray(model.expected_purchases_new_customer(t))
    assert np.all(np.isfinite(e)) and e[0] == 0 and np.all(np.diff(e) >= 0)
    if supports(model, "expected_cumulative_purchases"):
        cum = model.expected_cumulative_purchases([0.0, 3.0, 12.0], [1.0, 10.0, 40.0, 80.0])
        cum = np.asarray(cum)
        assert np.all(np.isfinite(cum)) and np.all(np.diff(cum) >= 0) and cum[0] >= 0


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_residual_history_and_sample_in_range(key, fitted, data_for):
    """DERT is finite, >= 0 and falls with the discount rate; P(alive) paths and samples valid."""
    split = data_for(key)
    model = fitted(key)
    sub = split.iloc[::120]
    if supports(model, "expected_residual_purchases"):
        low = model.expected_residual_purchases(sub, discount_rate=0.001).to_numpy()
        high = model.expected_residual_purchases(sub, discount_rate=0.01).to_numpy()
        assert np.all(np.isfinite(low)) and np.all(high >= 0) and np.all(high <= low)
    if supports(model, "probability_alive_history"):
        hist = model.probability_alive_history([0.0, 2.0, 10.0], end=39.0)
        p = hist["probability_alive"].to_numpy()
        assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    if supports(model, "sample"):
        sim = model.sample(np.full(500, 39.0), random_state=3)
        x, r = sim["frequency"].to_numpy(), sim["recency"].to_numpy()
        assert np.all(x == np.floor(x)) and np.all(x >= 0)
        assert np.all((r >= 0) & (r <= 39.0)) and np.all(r[x == 0] == 0)


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_describe_is_complete(key, fitted):
    """Name, story, a glossary entry per parameter, heterogeneity with finite means."""
    model = fitted(key)
    desc = describe(model)
    assert isinstance(desc, ModelDescription)
    if key in PURCHASE_KEYS:
        assert desc.key == key
        assert desc.references, "a registered model cites its source"
    assert desc.name and desc.long_name and len(desc.story) > 40
    assert set(desc.parameters) == set(model.params_.index)
    assert all(text.strip() for text in desc.parameters.values())
    assert desc.heterogeneity, "a purchase model describes its mixing distributions"
    for h in desc.heterogeneity:
        assert h.name and h.symbol and h.description
        assert h.support in ("positive", "unit")
        mean = float(h.distribution.mean())
        assert math.isfinite(mean) and mean > 0
        if h.support == "unit":
            assert h.distribution.ppf(0.999) <= 1.0


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_describe_without_distributions_is_the_same_but_heterogeneity(key, fitted):
    """distributions=False: the same name, key, story and glossary, no heterogeneity."""
    model = fitted(key)
    full, light = describe(model), describe(model, distributions=False)
    assert light.heterogeneity == ()
    assert dataclasses.replace(full, heterogeneity=()) == light


def test_describe_without_distributions_does_not_import_scipy_stats(tmp_path):
    """Naming a fitted model (tables, notes) does not import scipy.stats (0.3 s, 20 MiB)."""
    import subprocess
    import sys

    code = (
        "import sys, warnings\n"
        "import clvlab\n"
        "from clvlab.models.contract import describe\n"
        "tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))\n"
        "rfm = clvlab.rfm_summary(tx, time_unit='W')\n"
        "warnings.simplefilter('ignore')\n"
        "m = clvlab.BetaGeoFitter().fit(rfm)\n"
        "assert describe(m, distributions=False).name == 'BG/NBD'\n"
        "assert 'scipy.stats' not in sys.modules, 'imported'\n"
        "assert describe(m).heterogeneity and 'scipy.stats' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


def test_describe_of_a_model_without_the_keyword_is_complete():
    """A describe() that takes no ``distributions`` keyword is called as it is."""

    class Plain:
        def describe(self):
            return ModelDescription(key="plain", name="Plain", long_name="Plain model",
                                    story="", parameters={}, heterogeneity=("h",))

    assert describe(Plain(), distributions=False).heterogeneity == ("h",)


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_json_round_trip_gives_identical_predictions(key, fitted, data_for, monkeypatch):
    """to_dict -> JSON text -> model_from_dict predicts exactly what the original predicts."""
    split = data_for(key)
    model = fitted(key)
    if key in STAND_INS:
        stand_in_models.register(monkeypatch, key, STAND_INS[key])
    payload = json.loads(json.dumps(model.to_dict(), allow_nan=False))
    assert payload["model"] == describe(model).key
    again = model_from_dict(payload)
    assert type(again) is type(model)
    for name, call in _purchase_calls(model, split).items():
        if not supports(model, name) or name == "sample":
            continue
        want = call()
        got = _purchase_calls(again, split)[name]()
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
    if supports(model, "sample"):
        pd.testing.assert_frame_equal(again.sample([39.0] * 20, random_state=1),
                                      model.sample([39.0] * 20, random_state=1))


@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_evaluate_and_report_build(key, fitted, data_for, tx, read_pdf_text):
    """evaluate() runs (skipping what the model lacks, with notes) and the report renders."""
    split = data_for(key)
    model = fitted(key)
    gg, base = fitted_spend(split), fitted_baseline(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        ev = clvlab.evaluate(split, model, gg, base, transactions=tx)
    name = describe(model).name
    assert ev.metrics.index[0] == name
    assert (ev.chi_square is None) == (not supports(model, "probability_of_purchases"))
    assert (ev.log_score is None) == (not supports(model, "conditional_probability_of_purchases"))
    for prediction, what in (("probability_of_purchases", "χ² test"),
                             ("conditional_probability_of_purchases", "log predictive score")):
        noted = any(what in n and name in n for n in ev.notes)
        assert noted == (not supports(model, prediction))
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end=OBS_END,
                             merge_period=split.attrs["merge_period"])
    scores = score_customers(rfm, model, gg, base, horizon=52, discount_rate=WEEKLY_RATE)
    ctx = reporting.build_context(model, gg, rfm, baseline=base, evaluation=ev, scores=scores,
                                  transactions=tx, figures=False)
    html = reporting.render_html(ctx)
    text = read_pdf_text(reporting.render_pdf(ctx))
    assert ctx["model"]["name"] == name
    assert name in html and name in text
    story = describe(model).story
    assert story[:40] in html
    bg_story = describe(clvlab.BetaGeoFitter()).story
    if story != bg_story:
        assert bg_story[-80:] not in html  # never another model's prose (its last sentence)


def fitted_spend(split):
    """Gamma-Gamma fitted on the calibration columns (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        return clvlab.GammaGammaFitter().fit(split)


def fitted_baseline(split):
    """The formula baseline fitted on the calibration columns."""
    return clvlab.FormulaCLVBaseline().fit(split)


@pytest.fixture(scope="module")
def read_pdf_text():
    """All text of PDF bytes (pypdf)."""
    import io

    import pypdf

    def read(data: bytes) -> str:
        return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)

    return read


@pytest.mark.slow
@pytest.mark.parametrize("key", ALL_PURCHASE)
def test_report_with_figures_builds(key, fitted, data_for, tx):
    """The full report (figures included) renders to HTML and PDF for every purchase model."""
    split = data_for(key)
    model = fitted(key)
    gg = fitted_spend(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvlabWarning)
        ev = clvlab.evaluate(split, model, gg, transactions=tx)
        cmp = clvlab.compare_models(split, {key: model}, gg, transactions=tx)
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end=OBS_END,
                             merge_period=split.attrs["merge_period"])
    ctx = reporting.build_context(model, gg, rfm, evaluation=ev, comparison=cmp,
                                  transactions=tx, horizon=52, discount_rate=WEEKLY_RATE)
    figures = [b for s in ctx["sections"] for b in s["blocks"] if b["kind"] == "figure"]
    n_traits = len(describe(model).heterogeneity)
    assert sum("How customers differ" in f["caption"] for f in figures) == n_traits
    assert reporting.render_html(ctx).count("data:image/png;base64,") == len(figures)
    assert reporting.render_pdf(ctx)[:5] == b"%PDF-"


# --------------------------------------------------------------------------------------
# spend and baseline roles
# --------------------------------------------------------------------------------------
SPEND_KEYS = registry.registered("spend")
BASELINE_KEYS = registry.registered("baseline")


@pytest.mark.parametrize("key", SPEND_KEYS)
def test_spend_model_contract(key, fitted, split):
    """Spend models: protocol, capabilities, positive finite spend, description, round trip."""
    model = fitted(key)
    assert isinstance(model, SpendModel)
    caps = model.capabilities()
    assert caps.role == "spend" and caps.time == "none"
    assert {"expected_spend", "population_mean_spend"} <= caps.predictions
    spend = model.expected_spend(split).to_numpy()
    assert np.all(np.isfinite(spend)) and np.all(spend > 0)
    mean = model.population_mean_spend()
    assert math.isfinite(mean) and mean > 0
    desc = describe(model)
    assert desc.key == key and desc.story and set(desc.parameters) == set(model.params_.index)
    assert all(math.isfinite(float(h.distribution.mean())) for h in desc.heterogeneity)
    again = model_from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(again.expected_spend(split).to_numpy(), spend)
    assert again.population_mean_spend() == mean


@pytest.mark.parametrize("key", BASELINE_KEYS)
def test_baseline_contract(key, fitted, split):
    """Baselines: protocol, capabilities, finite non-negative CLV, description, round trip."""
    model = fitted(key)
    assert isinstance(model, BaselineModel)
    caps = model.capabilities()
    assert caps.role == "baseline" and "predict" in caps.predictions
    clv = model.predict(split, horizon=52, discount_rate=WEEKLY_RATE).to_numpy()
    assert np.all(np.isfinite(clv)) and np.all(clv >= 0)
    desc = describe(model)
    assert desc.key == key and desc.story and set(desc.parameters) == set(model.params_.index)
    again = model_from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(
        again.predict(split, horizon=52, discount_rate=WEEKLY_RATE).to_numpy(), clv
    )


def test_every_registered_model_is_checked():
    """Each registry key has a role this file checks (a new role needs its own checks)."""
    assert set(registry.MODELS.values()) <= {"purchase", "spend", "baseline"}
    assert set(PURCHASE_KEYS) | set(SPEND_KEYS) | set(BASELINE_KEYS) == set(registry.registered())
    assert all(p in PREDICTIONS for p in PURCHASE_PREDICTIONS)
