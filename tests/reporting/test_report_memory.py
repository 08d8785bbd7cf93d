"""The report at a million customers: same rows and numbers, no per-customer leftovers.

``build_context`` must not leave pandas' lookup table on a large text index (a label
lookup or ``np.asarray`` on a Series builds it: ~100 MiB held at 1M customers), and its
shortcuts must give what the label-based code gave.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import clvlab
from clvlab import reporting
from clvlab.reporting import verdict as V
from clvlab.reporting.context import _past_window, top_positions
from clvlab.scoring import score_customers

#: 10% a year, per week (as the other report tests).
WEEKLY_RATE = 1.1 ** (7 / 365.2425) - 1

_VALUES = st.lists(
    st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, np.nan, np.inf, -np.inf])
    | st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 1)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(values=_VALUES, n=st.integers(1, 30))
def test_top_positions_are_the_stable_sort_head(values, n):
    """top_positions gives the rows of sort_values(descending, stable).head(n), in order."""
    arr = np.array(values, dtype=float)
    ref = (pd.DataFrame({"clv": arr}).sort_values("clv", ascending=False, kind="stable")
           .head(n).index.to_numpy())
    np.testing.assert_array_equal(top_positions(arr, n), ref)


def test_top_positions_ties_keep_row_order():
    """Equal values keep their row order and NaN come last."""
    got = top_positions(np.array([1.0, np.nan, 3.0, 1.0, 3.0, 2.0]), 5)
    np.testing.assert_array_equal(got, [2, 4, 5, 0, 3])


def _fresh(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a new index object of the same labels (no cached lookup table)."""
    return frame.set_axis(pd.Index(frame.index.to_numpy(), dtype=frame.index.dtype,
                                   name=frame.index.name))


def test_past_window_by_position_equals_by_label(cdnow_tx):
    """The positional past window has the customers, values and order of the label join."""
    tx = cdnow_tx
    rfm = clvlab.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")
    bg = clvlab.BetaGeoFitter().fit(rfm)
    gg = clvlab.GammaGammaFitter().fit(rfm)
    scores = score_customers(rfm, bg, gg, None, horizon=52, discount_rate=WEEKLY_RATE)
    args = ("1998-06-30", 70.0, "W", 1.0, "D")  # from 1997-02-25: March buyers are new
    fast = _past_window(tx, _fresh(scores), rfm, *args)
    slow = _past_window(tx, scores, None, *args)
    assert fast["index"].equals(slow["index"]) and len(fast["index"]) < len(scores)
    np.testing.assert_array_equal(fast["positions"], slow["positions"])
    np.testing.assert_array_equal(fast["value"], slow["value"])
    assert fast["n_new"] == slow["n_new"] > 0
    # the rfm of other customers (here: reversed) is not used for the shortcut
    flipped = _past_window(tx, scores, rfm.iloc[::-1], *args)
    np.testing.assert_array_equal(flipped["positions"], slow["positions"])


def test_baseline_log_score_leaves_no_lookup_table():
    """A Series of text ids is read with to_numpy: its index keeps no hash table."""
    idx = pd.Index([str(i) for i in range(1000)], dtype="str")
    mean = pd.Series(np.linspace(0.0, 2.0, 1000), index=idx)
    total, impossible = V.baseline_log_score(np.ones(1000), mean)
    assert "_engine" not in idx._cache
    assert impossible == 1 and np.isfinite(total)


def test_report_leaves_no_lookup_table_on_the_customers(ranged_inputs):
    """build_context leaves no lookup table on the scores' or the evaluation's index."""
    x = ranged_inputs
    ev = dataclasses.replace(x.ev, customers=_fresh(x.ev.customers))
    scores = _fresh(x.scores)
    ctx = reporting.build_context(x.bg, x.gg, x.rfm, baseline=x.base, evaluation=ev,
                                  scores=scores, transactions=x.tx)
    assert ctx["values"]["past_window_value"] > 0
    assert "_engine" not in scores.index._cache
    assert "_engine" not in ev.customers.index._cache


def test_window_value_is_historical_clv_bit_for_bit(cdnow_tx):
    """window_value gives historical_clv's customers, order and holdout values exactly."""
    from clvlab.reporting.context import window_value

    rng = np.random.default_rng(3)
    shuffled = cdnow_tx.iloc[rng.permutation(len(cdnow_tx))]  # rows out of order
    for tx, start, end, margin in ((cdnow_tx, "1997-06-30", "1998-06-30", 1.0),
                                   (shuffled, "1997-02-20", "1998-01-31", 0.3)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = clvlab.historical_clv(tx, calibration_end=start, observation_end=end,
                                        margin=margin)
        ids, value = window_value(tx, pd.Timestamp(start), pd.Timestamp(end), margin)
        assert ids.equals(ref.index)
        np.testing.assert_array_equal(value, ref["historical_clv_holdout"].to_numpy())
        assert len(ids) < len(tx["customer_id"].unique()) or start == "1997-06-30"
