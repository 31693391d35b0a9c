"""Issue 11: nothing left behind -- killed runs are swept, SIGTERM cleans up, probes keep their
state inside the workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drift_gym.sandbox.workspace import PREFIX, owner_of

HOLD_SANDBOX = (
    "from drift_gym.sandbox.local import LocalSandbox\n"
    "box = LocalSandbox(tier='subprocess')\n"
    "box.write_file('a.txt', 'x')\n"
    "print(box.root, flush=True)\n"
    "import time; time.sleep(120)\n"
)


def _private_tmp(folder: Path) -> dict[str, str]:
    """An environment whose temp dir is `folder`: the sweeps of tests running in parallel
    (each first sandbox of a process sweeps the temp dir) cannot take this test's left-overs."""
    return {**os.environ, "TMPDIR": str(folder)}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _killed_workspace(env: dict[str, str]) -> Path:
    """A workspace whose owner was SIGKILLed (no handler, no finally ran)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SANDBOX], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert holder.stdout is not None
    root = Path(holder.stdout.readline().strip())
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert root.is_dir() and (root / "repo" / "a.txt").is_file()
    return root


def test_a_killed_runs_workspace_is_swept_by_the_next_run(tmp_path):
    env = _private_tmp(tmp_path)
    root = _killed_workspace(env)
    new_run = subprocess.run([sys.executable, "-c", HOLD_SANDBOX.replace("time.sleep(120)",
                                                                         "box.close()")],
                             capture_output=True, text=True, timeout=60, env=env)
    assert new_run.returncode == 0, new_run.stderr
    assert not root.exists()
    assert not os.path.ismount(root)


def test_drift_gym_cleanup_lists_then_removes_left_overs(tmp_path):
    env = _private_tmp(tmp_path)
    root = _killed_workspace(env)
    dry = _cli("cleanup", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    listed = json.loads(dry.stdout)
    assert str(root) in [f["path"] for f in listed["found"]]
    assert root.is_dir(), "--dry-run must not remove anything"
    done = _cli("cleanup", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert str(root) in json.loads(done.stdout)["removed"]
    assert not root.exists()


def _owned_by(pids: set[int]) -> set[Path]:
    found = set()
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = owner_of(folder)
        if owner is not None and owner[0] in pids:
            found.add(folder)
    return found


def _family(pid: int) -> set[int]:
    """`pid` and its children."""
    family = {pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            family.add(int(stat.parent.name))
    return family


def test_sigterm_during_eval_leaves_no_workspace(tmp_path):
    run = subprocess.Popen(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "oracle",
         "--scenarios", "customer_records.privacy", "--seeds", "2", "--workers", "2",
         "--out", str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[Path] = set()
    pids: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < 2 and run.poll() is None:
        pids |= _family(run.pid)
        seen |= _owned_by(pids)
        time.sleep(0.2)
    assert seen, "the eval never opened a sandbox"
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    time.sleep(0.5)
    left = [p for p in seen if p.exists()] + sorted(_owned_by(pids))
    assert not left, f"left behind: {left}"
