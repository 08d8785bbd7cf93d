"""The console script's process set-up (clvlab._console): one heap, a calmer GC, a quick exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from clvlab import _console


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=True)


def test_entry_module_loads_no_library_before_the_set_up():
    """Importing the entry point imports neither numpy nor the CLI (the heap is set first)."""
    out = _python("""
        import sys
        import clvlab._console
        print(sorted(m for m in ("numpy", "pandas", "clvlab.cli") if m in sys.modules))
    """).stdout.strip()
    assert out == "[]"


def test_run_gets_one_heap_and_a_calmer_gc_other_commands_do_not():
    """``clvlab run`` raises the GC thresholds (other commands keep the default); every
    command freezes the objects alive at exit."""
    code = """
        import gc, sys
        from clvlab import _console
        default = gc.get_threshold()
        sys.argv = ["clvlab", {cmd!r}, "--help"]
        try:
            _console.main()
        except SystemExit:
            pass
        print(gc.get_threshold() == default, gc.get_freeze_count() > 0, file=sys.stderr)
    """
    for cmd, default_kept in (("run", False), ("fit", True)):
        err = _python(code.format(cmd=cmd)).stderr.strip().splitlines()[-1]
        assert err == f"{default_kept} True", cmd
    assert _console._THRESHOLDS == (20_000, 20, 20)


def test_one_malloc_arena_applies_on_glibc_linux():
    """mallopt(M_ARENA_MAX, 1) succeeds on Linux with glibc (False elsewhere, no error)."""
    out = _python("""
        import platform, sys
        from clvlab import _console
        print(_console.one_malloc_arena(), sys.platform, platform.libc_ver()[0])
    """).stdout.split()
    if out[1].startswith("linux") and out[2] == "glibc":
        assert out[0] == "True"
    else:
        assert out[0] == "False"


def test_python_m_clvlab_runs_through_the_entry_point():
    """``python -m clvlab --version`` goes through clvlab._console.main and exits 0."""
    proc = subprocess.run([sys.executable, "-m", "clvlab", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "clvlab" in proc.stdout
