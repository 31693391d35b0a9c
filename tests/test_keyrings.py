"""Keyrings (sandbox/keyrings.py, sandbox/seccomp.py): nothing a command or job could store in
the kernel's keyrings reaches a later command, job or episode of the sandbox (helper-32: a key
in the uid's user keyring outlived `reset`; helper-36: one carried the hidden tests from a
hidden-test job to the agent's next command)."""

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


def test_no_command_or_job_can_store_a_key():
    """Every bubblewrap command runs under a seccomp filter that denies the keyring calls
    (sandbox/seccomp.py): joining a session keyring of its own did not keep a job from the
    uid's user keyring, one for every process of the uid, in which a hidden-test job left
    the hidden tests for the agent's next command (helper-36, session 14)."""
    with LocalSandbox(tier="bwrap") as box:
        assert _python(box, STASH).strip() == "stashed [False, False, False]"
        x32 = _python(box, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                      "print(libc.syscall(0x40000000 | 248, b'user', b'k', b'v', 1, -4),"
                      " ctypes.get_errno() == 1)\n")
        assert x32.strip() == "-1 True"  # the x32 number too: EPERM, before any ABI check
        assert _python(box, LOOK).strip() == "found []"
        box.write_file("test_stash.py", "from keys import stash\n\n"
                       "def test_stash():\n    assert stash('user') < 0\n")
        box.write_file("keys.py", KEYS)
        job = box.run_pytest(["-q", "-p", "no:cacheprovider", "test_stash.py"], timeout=60)
        assert job.exit_code == 0, job.stdout + job.stderr  # a warm job: the same filter
        ordinary = box.exec("python -c 'import os; print(os.getpid() > 0)'")
        assert ordinary.stdout.strip() == "True"  # every other call still works
