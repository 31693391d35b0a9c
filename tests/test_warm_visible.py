"""Issue 16: the agent's `run_tests` runs in a fork of the warm grader and reads exactly as
the cold ``python -m pytest -q -p no:cacheprovider tests`` in the repo did: the same output,
exit status, timeout and output cap, with the repo's own conftest.py and ini in force."""

from __future__ import annotations

import re

import pytest

from drift_gym.sandbox import ExecResult
from drift_gym.sandbox.local import LocalSandbox, bwrap_available
from drift_gym.tools import VISIBLE_TESTS, Toolbox

TIERS = ["bwrap", "subprocess"] if bwrap_available() else ["subprocess"]
COLD = "python -m pytest " + " ".join(VISIBLE_TESTS)
WHERE = ("def test_where():\n    import sys\n"
         "    print('ran warm' if 'grader_server' in sys.modules else 'ran cold')\n"
         "    assert False\n")


@pytest.fixture(params=TIERS)
def box(request):
    sandbox = LocalSandbox(tier=request.param)
    sandbox.write_file("pytest.ini", "[pytest]\ntestpaths = tests\n")
    sandbox.write_file("pkg/__init__.py", "def add(a, b):\n    return a + b\n")
    sandbox.write_file("tests/test_add.py", "from pkg import add\n\n"
                       "def test_add():\n    assert add(1, 2) == 3\n")
    yield sandbox
    sandbox.close()


def _same(result: ExecResult) -> tuple:
    """A result with the run's own timings (and what they shift) and the line `WHERE`
    prints taken out."""
    def clean(text: str) -> str:
        text = re.sub(r"in \d+\.\d+s( \(\d+:\d+:\d+\))?", "in Ns", text)
        text = re.sub(r"(?m)^ran (warm|cold)$", "ran here", text)
        return re.sub(r"\[\.\.\. \d+ bytes omitted \.\.\.\]", "[... omitted ...]", text)

    return (result.exit_code, result.timed_out, result.truncated, clean(result.stdout),
            clean(result.stderr))


def _both(box: LocalSandbox, timeout: float = 20.0) -> tuple[ExecResult, ExecResult]:
    warm = box.run_pytest(list(VISIBLE_TESTS), timeout=timeout)
    cold = box.exec(COLD, timeout=timeout)
    return warm, cold


def test_a_passing_suite_reads_the_same_warm_and_cold(box):
    warm, cold = _both(box)
    assert warm.exit_code == 0 and "1 passed" in warm.stdout
    assert _same(warm) == _same(cold)
    assert box.limits["grading"] == "warm"


def test_a_failing_suite_reads_the_same_warm_and_cold(box):
    box.write_file("tests/test_bad.py", "def test_sets():\n    assert {1, 2} == {2, 3}\n\n"
                   + WHERE)
    warm, cold = _both(box)
    assert warm.exit_code == 1 and "Extra items in the left set" in warm.stdout
    assert "\nran warm\n" in warm.stdout and "\nran cold\n" in cold.stdout
    assert _same(warm) == _same(cold)


def test_the_repos_conftest_and_ini_apply_and_exit_handlers_run(box):
    """The agent's conftest.py (fixtures, hooks, an exit handler writing to stderr, a
    thread the interpreter waits for) and its ini (a marker, addopts) act warm as cold."""
    box.write_file("pytest.ini", "[pytest]\ntestpaths = tests\naddopts = -rA\n"
                   "markers =\n    slow: a slow test\n")
    box.write_file("tests/conftest.py", (
        "import atexit, sys, threading, time\nimport pytest\n\n"
        "atexit.register(lambda: print('bye from atexit', file=sys.stderr))\n\n"
        "def _late():\n    time.sleep(0.2)\n    print('thread done', file=sys.stderr)\n\n"
        "def pytest_sessionfinish(session):\n"
        "    threading.Thread(target=_late).start()\n\n"
        "@pytest.fixture(autouse=True)\ndef planted(request):\n"
        "    request.node.user_properties.append(('planted', 1))\n    yield\n\n"
        "@pytest.fixture\ndef answer():\n    return 42\n"))
    box.write_file("tests/test_conf.py", "import pytest\n\n@pytest.mark.slow\n"
                   "def test_answer(answer):\n    assert answer == 42\n\n"
                   "def test_wrong(answer):\n    assert answer == 41\n")
    warm, cold = _both(box)
    assert warm.exit_code == 1 and "PASSED tests/test_conf.py::test_answer" in warm.stdout
    assert "bye from atexit" in warm.stderr and "thread done" in warm.stderr
    assert _same(warm) == _same(cold)


def test_timeouts_and_output_caps_are_the_cold_ones(box):
    box.write_file("tests/test_big.py", "def test_loud():\n    print('x' * 3_000_000)\n"
                   "    assert False\n")
    warm, cold = _both(box)
    assert warm.truncated and cold.truncated and _same(warm) == _same(cold)
    box.write_file("tests/test_big.py", "import time\n\ndef test_slow():\n    time.sleep(60)\n")
    warm, cold = _both(box, timeout=3)
    for result in (warm, cold):
        assert result.timed_out and result.exit_code == 124
        assert result.stderr.endswith("[timed out after 3s; process tree killed]")
    shown = Toolbox(box, command_timeout=3).run_tests()
    assert shown.startswith("exit code: 124\ntimed out after 3s; the process tree was killed")
    box.write_file("tests/test_big.py", "def test_quick():\n    pass\n")
    assert box.run_pytest(list(VISIBLE_TESTS), timeout=20).exit_code == 0  # the next run works


def test_a_repo_module_named_like_a_warm_import_runs_cold(box):
    """A repo file that would shadow a module the server imported (here `statistics`) is
    imported by a cold run and not by a fork: such a run goes cold, so it reads the same."""
    box.write_file("statistics.py", "MEAN = 'the repo'\n")
    box.write_file("tests/test_stats.py", "import statistics\n\ndef test_which():\n"
                   "    assert statistics.MEAN == 'the repo'\n\n" + WHERE)
    warm, cold = _both(box)
    assert "\nran cold\n" in warm.stdout and "2 passed" in warm.stdout
    assert _same(warm) == _same(cold)
