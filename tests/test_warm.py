"""Issue 16: the warm grader's server -- jobs in forks of one warm interpreter, isolated from
each other, killed at their deadline, leaving nothing behind."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest

from drift_gym.agents import ScriptedAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.job_report import NONCE_FILE, new_nonce, outcomes_of, read_frames
from drift_gym.sandbox import starter
from drift_gym.sandbox.base import SandboxError
from drift_gym.sandbox.grading_area import runtime_files
from drift_gym.sandbox.lanes import AGENT
from drift_gym.sandbox.local import LocalSandbox, bwrap_available
from drift_gym.sandbox.warm import WarmGrader
from drift_gym.tools import Action, ToolCall

HIDDEN_INI = "[pytest]\npythonpath = {repo}\n"
PYTEST_ARGS = ["pytest", "-q", "-p", "no:cacheprovider", "--noconftest", "-c", "../hidden.ini",
               "--rootdir", "..", "../hidden"]


@pytest.fixture
def area(tmp_path):
    """A grading area: runtime, hidden tests, ini, a repo copy and the job's run folder."""
    for rel, text in runtime_files().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "hidden").mkdir()
    (tmp_path / "repo" / "pkg").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "hidden.ini").write_text(HIDDEN_INI.format(repo=tmp_path / "repo"))
    return tmp_path


@pytest.fixture
def grader(area):
    """A warm grader over `area`, told (as the sandbox tells it) which part of the area is
    the grader's own, with a temp folder of its own (as every backend gives it)."""
    (area / "tmp").mkdir()
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "TMPDIR": str(area / "tmp")}

    def spawn(log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-s", "-P", "../grader_runtime.py", "serve"],
                                cwd=area / "run", env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)  # as every sandbox tier starts it

    warm = WarmGrader(spawn)
    yield warm
    warm.close()


def _job(area: Path, grader: WarmGrader, *, timeout: float = 30.0):
    nonce = new_nonce()
    (area / NONCE_FILE).write_text(nonce)
    result = grader.run(PYTEST_ARGS, cwd=str(area / "run"), timeout=timeout, cap=1 << 20,
                        owned={"root": str(area), "writable": ["repo", "run"]})
    return result, read_frames(result.stdout, nonce)


def _stage(area: Path, module: str, test: str) -> None:
    (area / "repo" / "pkg" / "__init__.py").write_text(module)
    (area / "hidden" / "test_step_01.py").write_text(test)


def test_jobs_run_and_report_through_the_trusted_channel(area, grader):
    _stage(area, "def add(a, b):\n    return a + b\n",
           "from pkg import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    result, frames = _job(area, grader)
    assert frames.started and frames.end_status == 0 == result.exit_code
    assert outcomes_of(frames).outcomes == {"hidden/test_step_01.py::test_add": "passed"}


def test_nothing_a_job_does_reaches_the_next(area, grader):
    """Globals, a monkeypatched stdlib function, sys.modules, a planted conftest, a file in
    the run folder, a background process: the next job sees none of it."""
    _stage(area, "import json, os, subprocess, sys\nimport builtins\n"
                 "builtins.LEAKED = True\njson.dumps = lambda *a, **k: 'patched'\n"
                 "sys.modules['sneaky'] = object()\n"
                 "open('left-behind.txt', 'w').write('x')\n"
                 "import tempfile\nopen(tempfile.gettempdir() + '/planted.txt', 'w').write('x')\n"
                 "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
                 " start_new_session=True)\n",
           "import pkg\n\ndef test_x():\n    assert True\n")
    (area / "hidden" / "conftest.py").write_text("import pytest\n@pytest.fixture(autouse=True)\n"
                                                  "def boom():\n    raise RuntimeError\n")
    first, frames = _job(area, grader)
    assert frames.end_status == 0, first.stdout[-2000:]
    (area / "hidden" / "conftest.py").unlink()
    (area / "run" / "left-behind.txt").unlink()
    _stage(area, "x = 1\n",
           "import builtins, json, sys\n\ndef test_clean():\n"
           "    assert not hasattr(builtins, 'LEAKED')\n"
           "    assert json.dumps([1]) == '[1]'\n"
           "    assert 'sneaky' not in sys.modules\n"
           "    import os, tempfile\n"
           "    assert not os.path.exists(tempfile.gettempdir() + '/planted.txt')\n")
    second, frames = _job(area, grader)
    assert frames.end_status == 0, second.stdout[-2000:]
    sleepers = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True,
                              text=True).stdout.split()
    assert not sleepers, "the background process outlived its job"


CHAIN = """import ctypes, os, sys, time
for _ in range(150):
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    if os.fork():
        while True:
            try:
                os.wait()
            except ChildProcessError:
                time.sleep(1)
while True:
    try:
        os.unlink(sys.argv[1])
    except OSError:
        pass
    time.sleep(0.001)
"""


def test_a_chain_of_subreapers_left_by_a_job_dies_before_the_next_job(area, grader):
    """Each process of the chain makes itself a subreaper and forks; the deepest deletes the
    nonce file every millisecond. Killing only the server's children took one layer per
    round, so the chain outlived the cleanup and no later job could read its nonce."""
    chain = area / "chain.py"
    chain.write_text(CHAIN)
    launch = (f"import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, {str(chain)!r}, {str(area / NONCE_FILE)!r}],"
              f" start_new_session=True)\ntime.sleep(1.0)\n")
    _stage(area, launch, "import pkg\n\ndef test_x():\n    pass\n")
    first, frames = _job(area, grader)
    assert frames.end_status == 0, first.stdout[-2000:]
    survivors = subprocess.run(["pgrep", "-f", str(chain)], capture_output=True,
                               text=True).stdout.split()
    assert not survivors, f"{len(survivors)} processes of the chain outlived their job"
    _stage(area, "x = 1\n", "def test_ok():\n    pass\n")
    second, frames = _job(area, grader)
    assert frames.end_status == 0, second.stderr[-2000:]


@pytest.mark.parametrize("module", [
    "import sys\nsetattr(sys.modules['py' + 'test'].Function, 'run' + 'test', lambda self: None)\n",
    "import sys\nsys.modules['_py' + 'test.runner'].isinstance = lambda *a: True\n",
    "import sys\nsys.modules['grader' + '_channel'].Channel.send = lambda *a: None\n",
])
def test_code_that_rebinds_pytest_or_the_runtime_is_reported(area, grader, module):
    """Names computed at run time get past every AST rule; the job itself sees the change:
    with Function.runtest a no-op, a failing hidden test passed."""
    _stage(area, module, "import pkg\n\ndef test_x():\n    assert False\n")
    result, frames = _job(area, grader)
    assert frames.of("rebound") or not frames.started or frames.end_status is None, \
        result.stdout[-2000:]
    if "Channel.send" not in module:
        assert frames.of("rebound")[0]["when"] == "collection"


def test_an_honest_session_reports_no_rebinding(area, grader):
    """pytest's own late imports and flags (a package gaining submodules, the diamond
    inheritance flag on item classes) are not rebinding."""
    _stage(area, "def add(a, b):\n    return a + b\n",
           "import pytest\nfrom pkg import add\n\n@pytest.mark.parametrize('a', [1, 2])\n"
           "def test_add(a, tmp_path, monkeypatch):\n    monkeypatch.setenv('X', '1')\n"
           "    with pytest.raises(ZeroDivisionError):\n        1 / 0\n"
           "    assert add(a, 1) == a + 1\n")
    result, frames = _job(area, grader)
    assert frames.end_status == 0 and not frames.of("rebound"), result.stdout[-2000:]
    assert set(outcomes_of(frames).outcomes.values()) == {"passed"}
    assert len(outcomes_of(frames).outcomes) == 2


def test_a_hanging_job_is_killed_at_its_deadline_and_the_next_job_works(area, grader):
    _stage(area, "import time\ntime.sleep(600)\n", "import pkg\n\ndef test_x():\n    pass\n")
    start = time.monotonic()
    result, frames = _job(area, grader, timeout=2)
    assert result.timed_out and time.monotonic() - start < 15
    _stage(area, "x = 1\n", "def test_ok():\n    pass\n")
    _, frames = _job(area, grader)
    assert frames.end_status == 0


def test_a_job_that_kills_the_server_is_a_dead_job_and_the_server_comes_back(area, grader):
    _stage(area, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos._exit(0)\n",
           "import pkg\n\ndef test_x():\n    pass\n")
    result, frames = _job(area, grader)
    assert frames.end_status is None and result.exit_code == 137
    _stage(area, "x = 1\n", "def test_ok():\n    pass\n")
    _, frames = _job(area, grader)
    assert frames.end_status == 0


def test_a_server_that_cannot_start_is_tried_again_and_then_says_why(tmp_path):
    """A start that fails once (a transient stall or death) is tried again before the step's
    grading fails as the grader's own; where it keeps failing, the error carries the
    server's stderr (it was discarded, and two CI failures said nothing but "did not
    start")."""
    tries = tmp_path / "tries"

    def spawn(log: IO[bytes]) -> subprocess.Popen[bytes]:
        tries.write_text(tries.read_text() + "x" if tries.exists() else "x")
        script = ("import sys; sys.stderr.write('the cause, said on stderr'); sys.exit(3)"
                  if len(tries.read_text()) < 3 else "print('{\"ready\": 1}', flush=True)")
        return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log)

    warm = WarmGrader(spawn)
    with pytest.raises(SandboxError, match=r"2 tries.*the cause, said on stderr"):
        warm.start()
    assert tries.read_text() == "xx"
    warm.start()  # the third start answers
    assert tries.read_text() == "xxx"
    warm.close()


def test_a_launched_server_is_the_one_started_and_goes_with_a_close(tmp_path):
    """`launch` spawns without waiting (a step's two lanes start their interpreters at
    once); `start` then waits for that very process rather than spawning another, and a
    close before the start kills it: no server is left behind either way."""
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn(log: IO[bytes]) -> subprocess.Popen[bytes]:
        spawned.append(subprocess.Popen(
            [sys.executable, "-c", "import sys, time; print('{\"ready\": 1}', flush=True); "
             "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log))
        return spawned[-1]

    warm = WarmGrader(spawn)
    warm.launch()
    warm.launch()  # one pending launch at a time
    warm.start()
    assert len(spawned) == 1 and warm._proc is spawned[0]  # noqa: SLF001
    warm.launch()  # it runs: nothing to launch
    assert len(spawned) == 1
    warm.close()
    warm.launch()
    warm.close()  # never started: killed all the same
    assert len(spawned) == 2 and all(proc.poll() is not None for proc in spawned)


def test_a_changed_hidden_test_is_never_run_from_code_compiled_for_an_earlier_one(area, grader):
    """The server compiles the grader's test files ahead, keyed by their exact bytes: a file
    restaged with other content is compiled afresh, with pytest's assert rewriting."""
    _stage(area, "def add(a, b):\n    return a + b\n",
           "from pkg import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    _, frames = _job(area, grader)
    assert frames.end_status == 0
    _stage(area, "def add(a, b):\n    return a + b\n",
           "from pkg import add\n\ndef test_add():\n    assert add(1, 2) == 4\n")
    result, frames = _job(area, grader)
    assert frames.end_status == 1
    assert outcomes_of(frames).outcomes == {"hidden/test_step_01.py::test_add": "failed"}
    assert "where 3 = add(1, 2)" in result.stdout  # the rewritten assert explains itself


def test_a_server_whose_limits_a_job_changed_is_replaced_before_the_next_job(area, grader):
    """A process of the server's uid may lower its limits and niceness, which every later
    fork inherits: the job that did is answered, and the next job runs in a new server
    with the limits every job starts with (session 16)."""
    _stage(area, "x = 1\n", "import os, resource\n\ndef test_lower():\n"
                            "    server = os.getppid()\n"
                            "    resource.prlimit(server, resource.RLIMIT_NOFILE, (64, 64))\n"
                            "    os.setpriority(os.PRIO_PROCESS, server, 19)\n")
    first, frames = _job(area, grader)
    assert frames.end_status == 0, first.stdout[-2000:]
    assert grader._proc is None  # noqa: SLF001 (retired: the next job starts a new one)
    _stage(area, "x = 1\n", "import os, resource\n\ndef test_as_every_job_starts():\n"
                            "    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] != 64\n"
                            "    assert os.getpriority(os.PRIO_PROCESS, 0) != 19\n")
    second, frames = _job(area, grader)
    assert frames.end_status == 0, second.stdout[-2000:]



SCHEDULING = """import ctypes, os, platform

IOPRIO_GET = {"x86_64": 252, "aarch64": 31}[platform.machine()]
IDLE_CLASS = 3 << 13  # IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)
LIBC = ctypes.CDLL(None, use_errno=True)
SERVER = os.getppid()


def io_priority(pid):
    return LIBC.syscall(IOPRIO_GET, 1, pid)  # IOPRIO_WHO_PROCESS


def test_demote_scheduling():
    os.sched_setscheduler(SERVER, os.SCHED_IDLE, os.sched_param(0))


def test_demote_io():
    assert LIBC.syscall(IOPRIO_GET - 1, 1, SERVER, IDLE_CLASS) == 0  # ioprio_set
    assert io_priority(SERVER) == IDLE_CLASS


def test_as_every_job_starts():
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert io_priority(0) != IDLE_CLASS
"""


@pytest.mark.parametrize("demoted", ["scheduling", "io"])
def test_a_server_whose_scheduling_a_job_demoted_is_replaced_before_the_next_job(
        area, grader, demoted):
    """A process of the server's uid may also put it in the idle scheduling class or the
    idle I/O class, which later forks inherit: under load every later job then waits for the
    machine to be otherwise idle, and times out (an honest step failed). The server retires
    as it does for its limits (session 17). (Its session's CPU share, the autogroup, a job
    may lower too, but no job shares it: each leads a session of its own.)"""
    only = SCHEDULING.replace("def test_", "def _").replace(f"def _demote_{demoted}",
                                                             f"def test_demote_{demoted}")
    _stage(area, "x = 1\n", only)
    first, frames = _job(area, grader)
    assert frames.end_status == 0, first.stdout[-2000:]
    assert grader._proc is None  # noqa: SLF001 (retired: the next job starts a new one)
    _stage(area, "x = 1\n", SCHEDULING.replace("def test_demote", "def _demote"))
    second, frames = _job(area, grader)
    assert frames.end_status == 0, second.stdout[-2000:]


IPC = """import ctypes

LIBC = ctypes.CDLL(None, use_errno=True)
KEYS = {"shm": 0x44470011, "msg": 0x44470012, "sem": 0x44470013}


def lookups():
    return [LIBC.shmget(KEYS["shm"], 0, 0o666), LIBC.msgget(KEYS["msg"], 0o666),
            LIBC.semget(KEYS["sem"], 0, 0o666)]


def test_make():
    assert LIBC.shmget(KEYS["shm"], 4096, 0o1600) >= 0
    assert LIBC.msgget(KEYS["msg"], 0o1600) >= 0
    assert LIBC.semget(KEYS["sem"], 1, 0o1600) >= 0
    assert min(lookups()) >= 0  # the same job finds them


def test_look():
    assert lookups() == [-1, -1, -1]
"""


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_an_ipc_object_a_job_made_is_gone_before_the_next_job():
    """A warm server's IPC namespace lives through the episode (a cold command's goes with
    it): a shared memory segment, a message queue and a semaphore set one job made are
    removed before the next job, as its temp files are (session 16)."""
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("test_ipc.py", IPC)
        for test in ("test_make", "test_look"):
            ran = box.run_pytest(["-q", "-p", "no:cacheprovider", f"test_ipc.py::{test}"],
                                 timeout=60)
            assert ran.exit_code == 0, (test, ran.stdout[-2000:])


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_a_server_outlives_the_thread_that_started_it():
    """bubblewrap's --die-with-parent fires when the thread that started it ends: servers a
    grading pool's worker started were killed when the pool shut down, and every GRPO step
    restarted them (a server another call was using would die in its job)."""
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("test_one.py", "def test_one():\n    pass\n")
        args = ["-q", "-p", "no:cacheprovider", "test_one.py"]
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(box.run_pytest, args, timeout=60).result().exit_code == 0
        warm = box._lanes[AGENT].warm  # noqa: SLF001 (the server the pool's thread started)
        assert warm is not None and warm._proc is not None  # noqa: SLF001
        pid = warm._proc.pid  # noqa: SLF001
        time.sleep(0.2)
        assert warm._proc.poll() is None  # noqa: SLF001
        assert box.run_pytest(args, timeout=60).exit_code == 0
        assert warm._proc is not None and warm._proc.pid == pid  # noqa: SLF001


def _one_visible_run() -> int:
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("test_one.py", "def test_one():\n    pass\n")
        return box.run_pytest(["-q", "-p", "no:cacheprovider", "test_one.py"], timeout=60).exit_code


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_a_forked_worker_starts_servers_of_its_own():
    """The starter thread does not survive a fork: a process pool's worker forked after this
    process had started a server waited forever on it (review of the first starter, a thread
    pool's worker)."""
    assert _one_visible_run() == 0
    fork = multiprocessing.get_context("fork")
    answer = fork.SimpleQueue()
    worker = fork.Process(target=lambda: answer.put(_one_visible_run()))
    worker.start()
    worker.join(120)
    if worker.is_alive():
        worker.kill()
    assert worker.exitcode == 0 and answer.get() == 0


def test_a_start_that_hangs_is_given_up_and_the_next_start_gets_a_thread(monkeypatch):
    """A child stuck between fork and exec held the starter thread, and every later server
    start of the process queued behind it forever: the step never ended."""
    monkeypatch.setattr(starter, "START_TIMEOUT", 0.5)
    release = threading.Event()
    try:
        with pytest.raises(SandboxError, match="did not start within 0.5 s"):
            starter.started(release.wait)
        assert starter.started(lambda: 42) == 42
    finally:
        release.set()


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_a_reused_sandbox_keeps_its_warm_grader_and_nothing_of_the_last_episode():
    """GRPO resets an env many times: the bubblewrap sandbox and its warm grader are kept,
    and the next episode finds nothing the last one wrote (repo, history, temp, grading)."""
    env = CodingDriftEnv(scenario="inventory_service.privacy", sandbox="bwrap", max_steps=1)
    try:
        env.reset(seed=0)
        sandbox = env.sandbox
        agent = ScriptedAgent("oracle")
        agent.reset(env)
        planted = ToolCall("run", {"command": "echo x > planted.txt && git init -q nested && "
                                   "echo y > $TMPDIR/left.txt 2>/dev/null; true"})
        env.step(Action((planted,)))
        observation, info = env.reset(seed=1)
        agent.reset(env)
        assert env.sandbox is sandbox, "the bwrap sandbox is reused"
        assert not (sandbox.repo / "planted.txt").exists()
        assert not (sandbox.repo / "nested").exists()
        assert "planted" not in sandbox.log(50)
        record = None
        while record is None:
            _, _, _, _, info = env.step(agent.act(observation, info))
            record = info.get("graded")
        assert record["hidden_tests"]["passed"] and record["violation"] == "compliant"
        # the warm graders' identities: one per lane that ran (the hidden tests' lane only
        # where a core was free for it, see sandbox/lanes.py)
        graders = [lane.warm for lane in sandbox._lanes.values()]  # noqa: SLF001
        assert graders[0] is not None
        env.reset(seed=2)
        assert env.sandbox is sandbox
        assert [lane.warm for lane in sandbox._lanes.values()] == graders  # noqa: SLF001
    finally:
        env.close()


def test_a_weak_sandbox_is_never_reused():
    env = CodingDriftEnv(scenario="inventory_service.privacy", sandbox="subprocess",
                         max_steps=1)
    try:
        env.reset(seed=0)
        first = env.sandbox
        env.reset(seed=0)
        assert env.sandbox is not first and not first.reusable
    finally:
        env.close()
