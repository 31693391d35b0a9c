"""Issue 16: the warm server finds the fixtures of pytest's own plugins once (grader_fixtures),
and a grader job's session registers exactly the fixtures a cold job's does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from drift_gym.job_report import NONCE_FILE, new_nonce, outcomes_of, read_frames

from .test_warm import PYTEST_ARGS, area, grader  # noqa: F401 (fixtures)

FINGERPRINT = '''
import json

import pytest


@pytest.fixture
def own_fixture():
    return 1


def _node(node):
    return getattr(node, "nodeid", str(node))


def test_fixtures_registered(request, own_fixture):
    manager = request.session._fixturemanager
    registered = {
        name: [[_node(node), [[d.func.__module__, d.func.__qualname__, str(d.scope),
                               repr(d.params), repr(d.ids), d.baseid] for d in defs]]
               for node, defs in by_node.items()]
        for name, by_node in manager._arg2node2fixturedefs.items()}
    autouse = {_node(node): list(names) for node, names in manager._node_autousenames.items()}
    learnt = any(type(p).__name__ == "_Unlearn" for p in request.config.pluginmanager.get_plugins())
    assert type(manager).parsefactories.__module__ == "_pytest.fixtures"  # pytest's own again
    with open("fixtures.json", "w") as fh:
        json.dump({"registered": registered, "autouse": autouse, "learnt": learnt}, fh)
'''


def _cold_job(folder: Path) -> None:
    (folder / NONCE_FILE).write_text(new_nonce())
    env = {"PATH": os.environ["PATH"], "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "TMPDIR": str(folder / "tmp")}
    subprocess.run([sys.executable, "-I", "-B", "../grader_runtime.py", *PYTEST_ARGS],
                   cwd=folder / "run", env=env, capture_output=True, timeout=120, check=False)


def test_a_grader_job_registers_the_fixtures_a_cold_job_does(area, grader):  # noqa: F811
    (area / "repo" / "pkg" / "__init__.py").write_text("")
    (area / "hidden" / "test_step_01.py").write_text(FINGERPRINT)
    nonce = new_nonce()
    (area / NONCE_FILE).write_text(nonce)
    result = grader.run(PYTEST_ARGS, cwd=str(area / "run"), timeout=60.0, cap=1 << 20,
                        owned={"root": str(area), "writable": ["repo", "run"]})
    assert set(outcomes_of(read_frames(result.stdout, nonce)).outcomes.values()) == {"passed"}
    warm = json.loads((area / "run" / "fixtures.json").read_text())
    (area / "run" / "fixtures.json").unlink()
    _cold_job(area)
    cold = json.loads((area / "run" / "fixtures.json").read_text())
    assert warm.pop("learnt") and not cold.pop("learnt")  # the learnt answers were in use
    assert {"tmp_path", "monkeypatch", "capsys", "own_fixture"} <= set(warm["registered"])
    assert warm == cold
