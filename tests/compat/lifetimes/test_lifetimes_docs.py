"""The migration guide's notebook snippet runs, with the compat import, on CDNOW."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

import clvlab

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "migrating-from-lifetimes.md"


def test_guide_snippet_runs_with_the_compat_import(tmp_path, monkeypatch):
    """The 'before and after' code, after the import change, runs and saves JSON."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    imports, notebook = blocks[0], blocks[1]
    after = imports.split("# after")[1].split("\n", 1)[1]
    sample = clvlab.datasets.load_cdnow(sample=True)
    tx = pd.DataFrame({"customer_id": sample["customer_id"].astype(int), "date": sample["date"],
                       "amount": sample["amount"]})
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"tx": tx}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the transactions after 1997-09-30 are counted
        exec(after + notebook, namespace)  # noqa: S102 - our own documentation
    assert namespace["lt"].__name__ == "clvlab.compat.lifetimes"
    assert (tmp_path / "bgf.json").is_file()
    clv = namespace["clv"]
    assert isinstance(clv, pd.Series) and clv.name == "clv" and len(clv) == 2357
