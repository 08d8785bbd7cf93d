"""Coverage of the prediction intervals, measured on data simulated from known parameters.

Every registered purchase model is tested: its "known" parameters are its fit to the
CDNOW 1/10 sample; customers (ages uniform on 26-52 weeks) are simulated from them over
calibration + a 39-week holdout, the model is refitted on the calibration period and its
intervals are compared with the holdout.

What "nominal +- 2 points" means for integer intervals (docs/intervals.md): a count
interval ``[L, U]`` holds at least ``level`` of the probability; its exact probability
under the fitted model is ``purchases_interval_probability`` ("stated"). So we check:

* realised coverage = mean stated probability +- 2 points (the stated figure is honest);
* randomised coverage = ``level`` +- 2 points: the share of the probability interval
  ``[F(y-1), F(y)]`` of the observed count ``y`` inside ``[(1-level)/2, (1+level)/2]``,
  whose expectation is exactly ``level`` for a correct model (the randomised-interval
  view of an integer set);
* realised coverage >= level - 2 points;

overall and within each calibration-frequency bin.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.intervals import predict_intervals
from clvlab.models import registry
from clvlab.models.purchase import PurchaseFitter

HOLDOUT = 39.0
GG_PARAMS = (6.25, 3.74, 15.44)  # Hardie note 025 (CDNOW)
BINS = [-0.5, 0.5, 1.5, 2.5, 4.5, np.inf]
BIN_LABELS = ["0", "1", "2", "3-4", "5+"]


@pytest.fixture(scope="module")
def sample_rfm() -> pd.DataFrame:
    """Calibration RFM summary of the CDNOW 1/10 sample (weeks, to 1997-09-30)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvlab.rfm_summary(
            clvlab.datasets.load_cdnow(sample=True), observation_end="1997-09-30"
        )


def _known(key: str, sample_rfm: pd.DataFrame):
    """The registered model ``key`` fitted on the CDNOW sample: the 'true' parameters."""
    cls = registry.get_model_class(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cls.capabilities().time == "discrete":  # whole weeks, one opportunity each
            return cls().fit(clvlab.rfm_summary(clvlab.datasets.load_cdnow(sample=True),
                                                observation_end="1997-09-30", merge_period="W"))
        return cls().fit(sample_rfm)


def simulate_split(model, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Calibration RFM + holdout purchases and spend of ``n`` customers from ``model``.

    Purchase times come from the model's own story (``_draw_purchase_times``) over
    calibration + holdout; a model without that hook gets its calibration summary from
    ``_simulate`` and its holdout count from its conditional pmf at the true parameters
    (the joint distribution is the same; the check is then weaker, as it shares the pmf
    code with the intervals). Spend: Gamma-Gamma at ``GG_PARAMS``.
    """
    params = model._params_array()
    age = rng.uniform(26.0, 52.0, n)
    if model.capabilities().time == "discrete":  # ages in whole periods (opportunities)
        age = np.floor(age)
    if type(model)._draw_purchase_times is not PurchaseFitter._draw_purchase_times:
        counts, ages = model._draw_purchase_times(params, age + HOLDOUT, rng)
        owner = np.repeat(np.arange(n), counts)
        cal = ages <= age[owner]
        x = np.bincount(owner[cal], minlength=n).astype(float)
        recency = np.zeros(n)
        np.maximum.at(recency, owner[cal], ages[cal])
        y = np.bincount(owner[~cal], minlength=n)
    else:  # pragma: no cover - every model has the hook today
        x, recency = model._simulate(params, age, rng)
        pmf = np.vstack([
            np.exp(model._log_pmf_conditional(params, np.float64(k), np.float64(HOLDOUT),
                                              x, recency, age)) for k in range(400)
        ])
        y = (np.cumsum(pmf, axis=0) < rng.random(n)[None, :]).sum(axis=0)
    p, q, v = GG_PARAMS
    nu = rng.gamma(q, 1.0 / v, n)
    spend_cal = rng.gamma(np.maximum(x, 0) * p) / nu
    monetary = np.where(x > 0, spend_cal / np.maximum(x, 1), 0.0)
    value = rng.gamma(y * p) / nu
    frame = pd.DataFrame(
        {"frequency": x, "recency": recency, "T": age, "monetary_value": monetary,
         "frequency_holdout": y, "value_holdout": value},
        index=pd.Index(np.arange(n).astype(str), name="customer_id"),
    )
    frame.attrs["time_unit"] = "W"
    return frame


def _fit(key: str, split: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return registry.get_model_class(key)().fit(split)


@pytest.mark.parametrize("key", registry.registered("purchase"))
@pytest.mark.parametrize("level", [0.8, 0.95])
def test_per_customer_purchase_coverage(key, level, sample_rfm):
    """Predictive purchase intervals cover at the stated rate, overall and per bin (2 pts)."""
    rng = np.random.default_rng(2024)
    split = simulate_split(_known(key, sample_rfm), 40_000, rng)
    model = _fit(key, split)
    out = predict_intervals(model, None, split, HOLDOUT, level=level, n_draws=1,
                            random_state=1)
    bins = pd.cut(split["frequency"], BINS, labels=BIN_LABELS).astype(str)
    cov = out.purchase_coverage(split["frequency_holdout"], by=bins)
    assert (cov["n_customers"] >= 2_000).all(), cov  # every bin carries weight
    assert (cov["stated"] >= level).all()
    np.testing.assert_allclose(cov["realised"], cov["stated"], atol=0.02, err_msg=str(cov))
    np.testing.assert_allclose(cov["randomised"], level, atol=0.02, err_msg=str(cov))
    assert (cov["realised"] >= level - 0.02).all(), cov


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_per_customer_value_coverage(level, sample_rfm):
    """Predictive value (CLV at no discount) intervals cover at their stated rate (2 pts).

    A value interval is continuous above a point mass at 0 (no purchase, probability
    P0): with ``P0 < (1-level)/2`` it holds ``level``; otherwise its lower bound is 0
    and it holds ``max((1+level)/2, P0)``. The mean of that is the stated rate.
    """
    rng = np.random.default_rng(7)
    split = simulate_split(_known("bgnbd", sample_rfm), 20_000, rng)
    bg = _fit("bgnbd", split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gg = clvlab.GammaGammaFitter().fit(split)
    out = predict_intervals(bg, gg, split, HOLDOUT, level=level, n_draws=1,
                            random_state=1).customers
    lo_t, hi_t = (1 - level) / 2, (1 + level) / 2
    p0 = out["probability_no_purchase"].to_numpy()
    stated = np.where(p0 < lo_t, level, np.maximum(hi_t, p0))
    value = split["value_holdout"].to_numpy()
    inside = (value >= out["clv_lower"].to_numpy() - 1e-9) & (value <= out["clv_upper"].to_numpy())
    bins = pd.cut(split["frequency"], BINS, labels=BIN_LABELS).astype(str).to_numpy()
    for b in [None, *BIN_LABELS]:
        sel = np.ones(len(value), dtype=bool) if b is None else bins == b
        assert abs(inside[sel].mean() - stated[sel].mean()) < 0.02, (b, inside[sel].mean(),
                                                                     stated[sel].mean())


@pytest.mark.slow
@pytest.mark.parametrize("key", registry.registered("purchase"))
def test_total_coverage_over_replications(key, sample_rfm):
    """The totals' 80% intervals cover the simulated totals in 80% +- 6 of 400 replications
    (200 for BG/BB, whose replications cost 4x more).

    2,000 customers per replication (parameter uncertainty is about 40% of the total's
    variance at any size), models refitted every time. The issue asks for 200
    replications; one binomial standard error is then 2.8 points, and the BG-family totals
    cover about 77-78% here (a small-sample effect of plugging in the estimates, see
    docs/intervals.md), so 200 replications would pass or fail the +-6 band by the seed's
    luck (MBG/NBD: 73.5% of 200 at this seed, 77.25% of 400). 400 replications halve
    the variance; the seed is fixed, so the outcome is reproducible.
    """
    known = _known(key, sample_rfm)
    rng = np.random.default_rng(2718)
    hits = {"purchases": 0, "value": 0}
    reps = 200 if known.capabilities().time == "discrete" else 400
    for _ in range(reps):
        split = simulate_split(known, 2_000, rng)
        model = _fit(key, split)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gg = clvlab.GammaGammaFitter().fit(split)
        tot = predict_intervals(model, gg, split, HOLDOUT, level=0.8, n_draws=100,
                                random_state=rng).totals
        actual = {"purchases": split["frequency_holdout"].sum(),
                  "value": split["value_holdout"].sum()}
        for name in hits:
            hits[name] += tot.loc[name, "lower"] <= actual[name] <= tot.loc[name, "upper"]
    print(f"{key}: total coverage", {k: v / reps for k, v in hits.items()})  # -s shows it
    for name, h in hits.items():
        assert abs(h / reps - 0.8) <= 0.06, (name, h / reps)


#: CDNOW holdout figures documented in docs/intervals.md (80% ranges): purchases realised,
#: stated and randomised coverage, spend realised coverage, total purchases' bounds.
CDNOW_DOCUMENTED = {
    "bgnbd": (0.920, 0.943, 0.789, 0.880, (16_443, 17_304)),
    "pnbd": (0.883, 0.922, 0.765, 0.855, (16_623, 17_683)),
    "mbgnbd": (0.920, 0.947, 0.777, 0.866, (15_540, 16_327)),
}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CDNOW_DOCUMENTED))
def test_cdnow_holdout_coverage_as_documented(key):
    """The CDNOW holdout coverage in docs/intervals.md is what the code gives (0.1 point)."""
    tx = clvlab.datasets.load_cdnow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
        model = registry.get_model_class(key)().fit(split)
        gg = clvlab.GammaGammaFitter().fit(split)
        out = predict_intervals(model, gg, split, HOLDOUT, level=0.8, random_state=1)
    cov = out.purchase_coverage(split["frequency_holdout"]).loc["all"]
    realised, stated, randomised, spend, (lo, hi) = CDNOW_DOCUMENTED[key]
    np.testing.assert_allclose([cov["realised"], cov["stated"], cov["randomised"]],
                               [realised, stated, randomised], atol=1e-3)
    value = split["total_spend_holdout"].to_numpy()
    cust = out.customers
    lower, upper = cust["clv_lower"].to_numpy(), cust["clv_upper"].to_numpy()
    inside = (value >= lower - 1e-9) & (value <= upper)
    np.testing.assert_allclose(inside.mean(), spend, atol=1e-3)
    assert (out.totals.loc["purchases", "lower"], out.totals.loc["purchases", "upper"]) == (lo, hi)
    assert split["frequency_holdout"].sum() > hi  # the documented miss
