"""validate_rfm: one check shared by rfm_summary and every model; messages say what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvlab.exceptions import EmptyInputError, InvalidValueError, MissingColumnsError
from clvlab.validation import validate_rfm


def _rfm(**overrides) -> pd.DataFrame:
    data = {"frequency": [0.0, 2.0, 1.0], "recency": [0.0, 30.0, 5.0], "T": [10.0, 39.0, 20.0],
            "monetary_value": [0.0, 12.5, 8.0]}
    data.update(overrides)
    return pd.DataFrame(data, index=pd.Index(["a", "b", "c"], name="customer_id"))


def test_valid_frame_is_returned_unchanged():
    """A valid frame comes back as the same object, not a copy."""
    frame = _rfm()
    assert validate_rfm(frame) is frame


def test_missing_column_lists_present_columns():
    """A missing column is named, with the columns that are present."""
    with pytest.raises(MissingColumnsError, match=r"lack column\(s\) T; columns present: freq"):
        validate_rfm(_rfm().drop(columns="T"))


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"recency": [0.0, 45.0, 5.0]},
         r"recency: must be <= T; 1 customer violates this \(customer_id 'b'\)"),
        ({"frequency": [0.0, 2.5, 1.0]}, r"frequency: must be a whole number.*customer_id 'b'"),
        ({"recency": [3.0, 30.0, 5.0]}, r"recency: must be 0 when frequency is 0.*customer_id 'a'"),
        ({"T": [np.nan, np.inf, 20.0]},
         r"T: must be finite.*2 customers violate this \(customer_id 'a', 'b'\)"),
    ],
)
def test_rule_violations_name_column_rule_and_customers(overrides, pattern):
    """Each rule names the column, the rule, the count and the first offending customers."""
    with pytest.raises(InvalidValueError, match=pattern):
        validate_rfm(_rfm(**overrides))


def test_negative_spend_gets_a_spend_specific_hint():
    """Negative monetary_value points at returns netting, not at 'ages and counts'."""
    with pytest.raises(InvalidValueError, match=r"monetary_value: must be >= 0.*net returns"):
        validate_rfm(_rfm(monetary_value=[0.0, -1.0, 8.0]),
                     require=("frequency", "monetary_value"))


def test_duplicate_customer_ids_are_rejected():
    """One row per customer: repeated ids are listed."""
    frame = _rfm()
    frame.index = pd.Index(["a", "a", "c"], name="customer_id")
    pattern = r"customer_id \(the index\) must be unique; 1 id repeats \('a'\)"
    with pytest.raises(InvalidValueError, match=pattern):
        validate_rfm(frame)


def test_empty_frame_is_rejected_unless_allowed():
    """No customers is an error by default and accepted with allow_empty."""
    with pytest.raises(EmptyInputError, match="no customers"):
        validate_rfm(_rfm().iloc[:0])
    assert len(validate_rfm(_rfm().iloc[:0], allow_empty=True)) == 0


def test_mapping_of_arrays_is_accepted():
    """A dict of equal-length arrays becomes a frame indexed 0..n-1."""
    frame = validate_rfm({"frequency": [1, 0], "recency": [2.0, 0.0], "T": [3.0, 4.0]})
    assert list(frame.index) == [0, 1]
