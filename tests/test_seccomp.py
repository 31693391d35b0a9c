"""The keyring filter (sandbox/seccomp.py), run on a small classic-BPF interpreter: every ABI's
keyring calls are denied, every other call allowed, an unknown architecture denied."""

from __future__ import annotations

import errno
import struct

import pytest

from drift_gym.sandbox.seccomp import KEYRING_CALLS, PROGRAM

ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EPERM
X86_64, I386, AARCH64, ARM = 0xC000003E, 0x40000003, 0xC00000B7, 0x40000028


def verdict(arch: int, nr: int) -> int:
    """What the filter returns for call `nr` of architecture `arch`."""
    records = [struct.unpack("<HBBI", PROGRAM[i:i + 8]) for i in range(0, len(PROGRAM), 8)]
    data = {0: nr, 4: arch}
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = records[pc]
        if code == 0x20:
            acc = data[k]
        elif code == 0x54:
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"an instruction the filter should not hold: {code:#x}")
        pc += 1


@pytest.mark.parametrize(("arch", "calls"), [
    (X86_64, (248, 249, 250)), (X86_64, (0x40000000 | 248, 0x40000000 | 249, 0x40000000 | 250)),
    (I386, (286, 287, 288)), (AARCH64, (217, 218, 219)), (ARM, (309, 310, 311))],
    ids=["x86_64", "x32", "i386", "aarch64", "arm"])
def test_every_abis_keyring_calls_are_denied_and_nothing_else(arch, calls):
    assert [verdict(arch, nr) for nr in calls] == [DENY] * 3
    others = [nr for nr in range(0, 460) if nr not in calls]
    if arch == X86_64 and calls[0] & 0x40000000:
        others = [0x40000000 | nr for nr in others if nr not in (248, 249, 250)]
    assert {verdict(arch, nr) for nr in others} == {ALLOW}


def test_an_unknown_architecture_is_denied_everything():
    assert verdict(0x12345678, 0) == DENY
    assert set(KEYRING_CALLS) == {X86_64, I386, AARCH64, ARM}
