"""Issue 11: the sandbox holds against an adversarial command -- no capabilities, no root,
bounded processes, memory and disk, nothing written outside the workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from drift_gym.sandbox.limits import PROCESS_LIMIT, LimitEvents, limit_notes
from drift_gym.sandbox.local import LocalSandbox, bwrap_available

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch needs root")


@pytest.fixture
def bwrap_box():
    box = LocalSandbox(tier="bwrap")
    yield box
    box.close()


@needs_bwrap
@needs_root
def test_commands_run_unprivileged_with_no_capabilities(bwrap_box):
    result = bwrap_box.exec("id -u; id -g; grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status")
    lines = result.stdout.split()
    assert int(lines[0]) != 0 and int(lines[1]) != 0
    caps = dict(zip(lines[2::2], lines[3::2], strict=True))
    assert set(caps.values()) == {"0000000000000000"}, caps
    assert bwrap_box.limits["capabilities"] == "none"


@needs_bwrap
def test_read_only_binds_cannot_be_remounted_or_written(bwrap_box):
    venv_file = os.path.join(sys.prefix, "pyvenv.cfg")
    before = Path(venv_file).read_text(encoding="utf-8")
    script = "; ".join([
        "mount -o remount,bind,rw /usr && echo REMOUNTED",
        f"mount -o remount,bind,rw {sys.prefix} && echo REMOUNTED",
        "echo pwned >> /etc/passwd && echo WROTE",
        f"echo pwned >> {venv_file} && echo WROTE",
        f"touch {sys.base_prefix}/pwned && echo WROTE",
        "touch /pwned && echo WROTE",
        "touch /sandbox/pwned && echo WROTE",
    ])
    result = bwrap_box.exec(script)
    assert "REMOUNTED" not in result.stdout and "WROTE" not in result.stdout, result
    assert Path(venv_file).read_text(encoding="utf-8") == before
    assert not os.path.exists(os.path.join(sys.base_prefix, "pwned"))


@pytest.mark.parametrize("tier", ["bwrap", "subprocess"])
def test_a_fork_bomb_stops_at_the_process_limit_and_the_next_command_works(tier):
    if tier == "bwrap" and not bwrap_available():
        pytest.skip("bubblewrap is not usable here")
    with LocalSandbox(tier=tier) as box:
        if box.limits["process_limit"] is None:
            pytest.skip("no process limit on this host (not root, no cgroup)")
        result = box.exec("bomb() { bomb | bomb & }; bomb; sleep 2", timeout=10)
        assert result.limit is not None and "process limit" in result.limit, result
        assert f"{PROCESS_LIMIT} processes" in result.stderr
        after = box.exec("echo alive")
        assert after.ok and after.stdout.strip() == "alive" and after.limit is None


@needs_bwrap
@pytest.mark.parametrize("stderr", ["/bin/sh: 1: Cannot fork\n",
                                    "bash: fork: retry: Resource temporarily unavailable\n"])
def test_a_refused_fork_is_named_where_no_counter_moved(stderr):
    """CI22: a fork bomb's forks were refused and the cgroup's counter did not move (the
    uid's RLIMIT_NPROC, the same bound, can refuse first), and the command got no note."""
    none = LimitEvents()
    assert limit_notes(none, none, stderr) == [
        f"process limit reached ({PROCESS_LIMIT} processes): a fork was refused"]
    busy = "BlockingIOError: [Errno 11] Resource temporarily unavailable\n"  # not a fork
    assert limit_notes(none, none, busy) == []
    counted = limit_notes(none, LimitEvents(forks_refused=3), stderr)
    assert counted == [f"process limit reached ({PROCESS_LIMIT} processes): 3 forks refused"]


def test_tmp_is_a_small_tmpfs(bwrap_box):
    result = bwrap_box.exec("head -c 100000000 /dev/zero > /tmp/big; echo status=$?; "
                            "df -k /tmp | tail -1")
    assert "status=1" in result.stdout
    assert "No space left" in result.stderr
    assert result.stdout.split()[2] == str(64 * 1024)  # 1K-blocks of a 64 MiB tmpfs


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs", "checked"])
def test_the_workspace_quota_holds(mount):
    quota = 8 * 1024 * 1024
    with LocalSandbox(tier="subprocess", quota=quota, quota_mount=mount) as box:
        small = box.exec("head -c 1000000 /dev/zero > small.bin")
        assert small.ok and small.limit is None and not box.over_quota
        big = box.exec("for i in 1 2 3 4; do head -c 6000000 /dev/zero > big$i.bin; done")
        assert big.limit is not None and "workspace quota exceeded" in big.limit
        assert box.over_quota
        if mount:  # a hard bound: the writes themselves failed
            assert "No space left" in big.stderr
            assert box.limits["quota_enforced_by"] == "tmpfs"


@pytest.mark.parametrize("tier", ["bwrap", "subprocess"])
def test_a_memory_hog_is_reported(tier):
    if tier == "bwrap" and not bwrap_available():
        pytest.skip("bubblewrap is not usable here")
    with LocalSandbox(tier=tier) as box:
        result = box.exec("python -c 'b = bytearray(5 * 2**30); print(len(b))'", timeout=60)
        assert not result.ok
        assert result.limit is not None and "memory limit" in result.limit, result
        assert box.exec("echo alive").stdout.strip() == "alive"


def test_subprocess_tier_keeps_temp_files_in_the_workspace():
    with LocalSandbox(tier="subprocess") as box:
        result = box.exec("python -c 'import tempfile; print(tempfile.mkdtemp())'; echo $HOME")
        made, home = result.stdout.split()
        assert made.startswith(str(box.root)) and home.startswith(str(box.root))
