"""Keyrings (sandbox/keyrings.py): nothing a command or job stores in the kernel's keyrings
reaches a later command, job or episode of the sandbox (found by helper-32: a key in the
uid's user keyring outlived `reset`)."""

from __future__ import annotations

import os
import platform

import pytest

from drift_gym.sandbox.local import LocalSandbox, bwrap_available

pytestmark = [
    pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 system call numbers"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox takes a uid of its own as root"),
]

# add_key(2) and keyctl(2) through libc: the calls the agent's code could make
KEYS = '''import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
RINGS = {"session": -3, "user": -4, "user-session": -5}
for ring in (-4, -5):  # possess the uid's keyrings: link them into the session keyring
    libc.syscall(250, 8, ring, -3)
def stash(ring):
    return libc.syscall(248, b"user", b"stash-" + ring.encode(), b"hidden", 6, RINGS[ring])
def found(ring):
    ring_id = libc.syscall(250, 0, RINGS[ring], 0)
    return ring_id > 0 and libc.syscall(250, 10, ring_id, b"user",
                                        b"stash-" + ring.encode(), 0) > 0
'''
STASH = KEYS + 'print("stashed", [stash(r) > 0 for r in RINGS])\n'
LOOK = KEYS + 'print("found", sorted(r for r in RINGS if found(r)))\n'


def _python(box: LocalSandbox, code: str) -> str:
    box.write_file("keys.py", code)
    result = box.exec("python keys.py", timeout=20)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_a_key_stored_by_a_command_reaches_no_later_command_or_episode():
    with LocalSandbox(tier="bwrap") as box:
        # the warm grader, a process of the sandbox's uid, keeps the uid's keyrings alive
        box.write_file("test_nothing.py", "def test_nothing():\n    pass\n")
        assert box.run_pytest(["-q", "test_nothing.py"], timeout=60).exit_code == 0
        assert _python(box, STASH).strip() == "stashed [True, True, True]"
        # the session keyring is the command's own; the uid's last until the episode ends
        assert _python(box, LOOK).strip() == "found ['user', 'user-session']"
        box.reset()
        assert _python(box, LOOK).strip() == "found []"


def test_a_key_stored_by_a_warm_job_reaches_no_later_job():
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("keys.py", KEYS)
        box.write_file("test_stash.py", "from keys import stash\n\n"
                       "def test_stash():\n    assert stash('session') > 0\n")
        box.write_file("test_look.py", "from keys import found\n\n"
                       "def test_look():\n    assert not found('session')\n")
        first = box.run_pytest(["-q", "-p", "no:cacheprovider", "test_stash.py"], timeout=60)
        assert first.exit_code == 0, first.stdout + first.stderr
        later = box.run_pytest(["-q", "-p", "no:cacheprovider", "test_look.py"], timeout=60)
        assert later.exit_code == 0, later.stdout + later.stderr
