"""Repository-level promises: the README's commands, CI, and lifetimes kept out of the package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands():
    """The README's first two code blocks are the main-job and the test command."""
    commands = _readme_commands()
    assert len(commands) >= 2
    run, test = commands[0], commands[1]
    assert run.startswith("python3 -m venv .venv") and run.endswith("clvlab run")
    assert test.startswith("python3 -m venv .venv")
    assert test.endswith("-m pytest -n auto --maxprocesses 4")
    assert '".[dev]"' in test


def test_ci_calls_the_readme_test_command_verbatim():
    """.ci/run contains the README's test command letter for letter."""
    test_command = _readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    assert "set -euo pipefail" in ci


def test_package_never_imports_lifetimes():
    """lifetimes is a test oracle only: no module under src/clvlab imports it."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src" / "clvlab").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+lifetimes\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


def test_no_pickle_in_the_package():
    """Models persist as JSON; the package never uses pickle or dill."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src" / "clvlab").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(pickle|dill|cloudpickle|joblib)\b",
                     p.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


def test_ruff_lint_is_clean():
    """The pinned ruff (dev extra) finds nothing in src, tests and benchmarks."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        import pytest

        pytest.skip("ruff is not installed (it is in the dev extra)")
    result = subprocess.run(
        [ruff, "check", "src", "tests", "benchmarks", "--output-format", "concise"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
