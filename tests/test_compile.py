"""Issue 16: the warm server compiles the repo copy's modules once (grader_compile), and a job
gets that code only for the exact bytes its import reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from drift_gym.job_report import NONCE_FILE, new_nonce, outcomes_of, read_frames

from .test_warm import PYTEST_ARGS, area, grader  # noqa: F401 (fixtures)

RUNTIME = Path(__file__).resolve().parents[1] / "drift_gym"

KEPT_AND_CHANGED = '''
import importlib, os, sys, traceback

import pytest

def _kept(module):
    import grader_compile
    path = module.__file__
    with open(path, "rb") as fh:
        return grader_compile._kept.get((path, fh.read()))

def test_an_unchanged_module_runs_the_servers_code():
    import pkg
    kept = _kept(pkg)
    assert kept is not None
    assert any(const is pkg.boom.__code__ for const in kept.co_consts)

def test_a_module_the_job_rewrote_is_compiled_afresh():
    import pkg
    path = os.path.join(os.path.dirname(pkg.__file__), "other.py")
    with open(path, "w") as fh:
        fh.write("VALUE = 2\\n")
    other = importlib.import_module("pkg.other")
    assert other.VALUE == 2
    assert _kept(other) is None

def test_tracebacks_name_the_copy():
    import pkg
    with pytest.raises(ZeroDivisionError) as info:
        pkg.boom()
    last = info.traceback[-1]
    assert str(last.path) == pkg.__file__ and last.lineno + 1 == 3
'''


def test_jobs_use_kept_code_only_for_the_bytes_they_read(area, grader):  # noqa: F811
    (area / "repo" / "pkg" / "__init__.py").write_text("def boom():\n\n    return 1 / 0\n")
    (area / "repo" / "pkg" / "other.py").write_text("VALUE = 1\n")
    (area / "hidden" / "test_step_01.py").write_text(KEPT_AND_CHANGED)
    nonce = new_nonce()
    (area / NONCE_FILE).write_text(nonce)
    owned = {"root": str(area), "writable": ["repo", "run"], "sources": str(area / "repo")}
    result = grader.run(PYTEST_ARGS, cwd=str(area / "run"), timeout=30.0, cap=1 << 20,
                        owned=owned)
    outcomes = outcomes_of(read_frames(result.stdout, nonce)).outcomes
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == 3, result.stdout[-2000:]


HOSTILE = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, sys.argv[2])
    import grader_compile
    root = sys.argv[1]
    grader_compile.precompile(root)
    grader_compile.install()
    kept = {os.path.basename(path): code is not None
            for (path, _), code in grader_compile._kept.items()}
    sys.path.insert(0, root)
    try:
        import broken
    except SyntaxError as exc:
        error = [os.path.basename(exc.filename), exc.lineno]
    print(json.dumps({"kept": kept, "error": error}))
''')


def test_a_hostile_tree_neither_blocks_nor_feeds_the_server(tmp_path):
    """A FIFO (a read would block the server), a link to an endless device, a file over the
    size cap and one that does not compile: the server returns, keeps none of the first
    three, and the broken file raises in the job as it would cold."""
    root = tmp_path / "repo"
    root.mkdir()
    os.mkfifo(root / "fifo.py")
    (root / "endless.py").symlink_to("/dev/zero")
    (root / "huge.py").write_text("X = 1\n" * 20_000)
    (root / "broken.py").write_text("X = 1\ndef f(:\n")
    (root / "fine.py").write_text("X = 1\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "hidden.py").write_text("X = 1\n")
    done = subprocess.run([sys.executable, "-I", "-c", HOSTILE, str(root), str(RUNTIME)],
                          capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(done.stdout)
    assert report["kept"] == {"fine.py": True, "broken.py": False}
    assert report["error"] == ["broken.py", 2]
