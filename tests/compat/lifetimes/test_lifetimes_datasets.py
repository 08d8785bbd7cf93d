"""clvlab.compat.lifetimes.datasets: lifetimes' CDNOW files rebuilt from clvlab's data."""

from __future__ import annotations

import pandas as pd
import pytest

from clvlab.compat.lifetimes import datasets


@pytest.mark.parametrize("kwargs", [{}, {"index_col": [0]}])
def test_cdnow_summary_equals_lifetimes_file(kwargs):
    """load_cdnow_summary equals lifetimes' cdnow_customers_summary.csv (read_csv kwargs)."""
    import lifetimes.datasets

    pd.testing.assert_frame_equal(datasets.load_cdnow_summary(**kwargs),
                                  lifetimes.datasets.load_cdnow_summary(**kwargs))


def test_cdnow_summary_with_monetary_value_equals_lifetimes_file():
    """The summary with Hardie's zbar equals lifetimes' file exactly (half-cents rounded up)."""
    import lifetimes.datasets

    ours = datasets.load_cdnow_summary_data_with_monetary_value()
    pd.testing.assert_frame_equal(ours,
                                  lifetimes.datasets.load_cdnow_summary_data_with_monetary_value())
    assert len(ours) == 2357 and ours.index.name == "customer_id"


@pytest.mark.parametrize("name", ["CDNOW_sample.txt", "CDNOW_master.txt"])
def test_load_dataset_reads_the_bundled_logs_like_lifetimes(name):
    """load_dataset(name, **read_csv kwargs) reads the same bytes lifetimes ships."""
    import lifetimes.datasets

    header = None if name == "CDNOW_sample.txt" else 0
    pd.testing.assert_frame_equal(
        datasets.load_dataset(name, header=header, sep=r"\s+"),
        lifetimes.datasets.load_dataset(name, header=header, sep=r"\s+"))


@pytest.mark.parametrize(("loader", "match"), [
    (datasets.load_transaction_data, "simulate_transactions"),
    (datasets.load_donations, "BG/BB"),
    (lambda: datasets.load_dataset("nope.csv"), "available: CDNOW_master.txt"),
])
def test_unbundled_datasets_explain_themselves(loader, match):
    """Datasets clvlab does not ship raise FileNotFoundError saying why and what to use."""
    with pytest.raises(FileNotFoundError, match=match):
        loader()
