"""Process set-up of the console script (clvlab._startup): a calmer GC, a quicker exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from clvlab import _startup


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=True)
    return proc.stdout.strip()


def test_console_script_tunes_gc_for_run_only_and_freezes_at_exit():
    """``run`` raises the GC thresholds; other commands keep them; main() freezes at exit."""
    code = """
        import gc, sys
        from clvlab import cli
        sys.argv = ["clvlab", {cmd!r}, "--help"]
        try:
            cli.main()
        except SystemExit:
            pass
        print(gc.get_threshold(), gc.get_freeze_count() > 0, file=sys.stderr)
    """
    for cmd, thresholds in (("run", _startup._THRESHOLDS), ("fit", gc_default())):
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code.format(cmd=cmd))],
                              capture_output=True, text=True, timeout=120, check=True)
        assert proc.stderr.strip().splitlines()[-1] == f"{thresholds} True"


def gc_default() -> tuple[int, int, int]:
    """The interpreter's default GC thresholds (read in a fresh process)."""
    out = _python("import gc; print(*gc.get_threshold())")
    return tuple(int(v) for v in out.split())  # type: ignore[return-value]
