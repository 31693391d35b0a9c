"""A sandbox's cgroup goes with it: removing it kills what runs there and waits for those
processes to be gone before removing the folders (a process killed outright still takes a
while to exit, and a folder with a process in it cannot be removed; an evaluation's pool
workers left one for every sandbox they had run)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from drift_gym.sandbox.limits import Cgroup, stale_cgroups

HOLD = "b = b'x' * (768 * 2**20); print('held', flush=True); import time; time.sleep(60)"
"""A process whose exit takes a while: it has much memory to give back."""


@pytest.fixture
def cgroup():
    made = Cgroup.create(f"drift-gym-test-{uuid.uuid4().hex[:8]}")
    if made is None:
        pytest.skip("this host gives this process no cgroup of its own (not root)")
    yield made
    made.remove()


def test_removing_a_cgroup_removes_it_while_its_process_is_still_exiting(cgroup):
    held = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True,
                            preexec_fn=cgroup.attach_self)  # noqa: PLW1509 (the cgroup's)
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "held"
        assert cgroup.processes() == 1
        cgroup.remove()
        assert stale_cgroups(cgroup.pids_dir.name) == []
        assert not cgroup.pids_dir.exists()
    finally:
        held.kill()
        held.wait()
