"""Bundled datasets.

The CDNOW data (Fader, Hardie & Lee 2005) ship with clvlab: the files live once in the
repository's ``data/cdnow/`` folder and are copied into the wheel as ``clvlab/_data/cdnow``.
Provenance and licence: ``data/README.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from clvlab import _columns as C

__all__ = ["load_cdnow", "dataset_path"]

_CDNOW_FULL = "CDNOW_master.txt"
_CDNOW_SAMPLE = "CDNOW_sample.txt"


def dataset_path(name: str) -> Path:
    """Path of a bundled data file, from an installed wheel or a source checkout.

    Parameters
    ----------
    name : str
        File name inside the ``cdnow`` folder, e.g. ``"CDNOW_master.txt"``.

    Returns
    -------
    pathlib.Path
    """
    packaged = resources.files("clvlab").joinpath("_data", "cdnow", name)
    if packaged.is_file():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[2] / "data" / "cdnow" / name
    if source.is_file():
        return source
    raise FileNotFoundError(
        f"Bundled dataset file {name!r} not found (looked in the installed package and in "
        f"{source.parent}). Reinstall clvlab."
    )


def load_cdnow(sample: bool = False) -> pd.DataFrame:
    """Load the CDNOW transaction log in clvlab's canonical form.

    CDNOW customers first bought in the first quarter of 1997 and are followed to the end
    of June 1998 (78 weeks). Each row is one transaction.

    Parameters
    ----------
    sample : bool, default=False
        ``False``: the full log, 69,659 transactions of 23,570 customers.
        ``True``: the 1/10 sample of Fader, Hardie & Lee (2005), 6,919 transactions of
        2,357 customers, with the sample's customer ids 1..2357 (as in their papers).

    Returns
    -------
    DataFrame
        Columns ``customer_id`` (str), ``date`` (datetime64), ``amount`` (float, US$)
        and ``quantity`` (int, number of CDs), in file order (by customer, then date).

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers"
       the easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2).
    """
    if sample:
        raw = pd.read_csv(
            dataset_path(_CDNOW_SAMPLE),
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "quantity", "amount"],
            dtype={"master_id": str, "customer_id": str, "date": str},
        )
    else:
        raw = pd.read_csv(
            dataset_path(_CDNOW_FULL),
            sep=r"\s+",
            header=0,
            names=["customer_id", "date", "quantity", "amount"],
            dtype={"customer_id": str, "date": str},
        )
    out = pd.DataFrame(
        {
            C.CUSTOMER_ID: raw["customer_id"].str.lstrip("0").astype(str),
            C.DATE: pd.to_datetime(raw["date"], format="%Y%m%d"),
            C.AMOUNT: raw["amount"].astype(float),
            "quantity": raw["quantity"].astype(int),
        }
    )
    return out  # the files are ordered by customer, then date
