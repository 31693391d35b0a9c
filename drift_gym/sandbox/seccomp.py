"""A seccomp filter that takes the kernel's keyrings away from every bubblewrap command.

Keyrings are in no namespace: the user keyring of the sandbox's uid is one for all its
processes, the agent's own commands and the jobs of both grading lanes alike, and a process
that joined a session keyring of its own (keyrings.py) still reaches it. A hidden-test job
stored the hidden tests in a key's description, and the agent's next command listed them;
side by side, the probe's job (the agent's code too) could read them while both ran
(helper-36, session 14). No repo needs a keyring, so ``add_key``, ``request_key`` and ``keyctl``
fail with EPERM, through every system call ABI a process can use on an x86_64 or aarch64
host: x86_64 with its x32 numbers, i386 (``int 0x80`` from 64-bit code), aarch64 and 32-bit
ARM (compat mode, helper-37). A call through any other architecture fails whatever it is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Iterator

_LD_ABS, _JEQ, _AND, _RET = 0x20, 0x15, 0x54, 0x06
"""The classic BPF instructions the filter uses: load a word of ``seccomp_data``, jump if
equal, and with a constant, return."""
_NR, _ARCH = 0, 4
"""Offsets in ``struct seccomp_data`` of the call number and the audit architecture."""
_ALLOW, _DENY = 0x7FFF0000, 0x00050000 | errno.EPERM
_X32_BIT = 0x40000000
KEYRING_CALLS = {  # audit architecture: (add_key, request_key, keyctl)
    0xC000003E: (248, 249, 250),  # x86_64 (and x32, with its bit masked off)
    0x40000003: (286, 287, 288),  # i386
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # 32-bit ARM, on an aarch64 kernel with compat support
}


Record = tuple[int, int, int, int]
"""One ``struct sock_filter``: code, jump if true, jump if false, constant."""


def _block(arch: int, calls: tuple[int, ...]) -> list[Record]:
    """Load the call number, deny the keyring calls, allow the rest."""
    block: list[Record] = [(_LD_ABS, 0, 0, _NR)]
    if arch == 0xC000003E:
        block.append((_AND, 0, 0, 0xFFFFFFFF ^ _X32_BIT))
    block += [(_JEQ, len(calls) - i, 0, nr) for i, nr in enumerate(calls)]
    return [*block, (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _DENY)]


def _program() -> bytes:
    """The filter: load the architecture, jump to its block (an unknown one is denied)."""
    blocks = [(arch, _block(arch, calls)) for arch, calls in KEYRING_CALLS.items()]
    head: list[Record] = [(_LD_ABS, 0, 0, _ARCH)]
    before = 0  # the records of the blocks laid out before this one
    for i, (arch, block) in enumerate(blocks):
        # over the tests after it, the allow and the blocks before its own
        head.append((_JEQ, len(blocks) - i - 1 + 1 + before, 0, arch))
        before += len(block)
    head.append((_RET, 0, 0, _DENY))
    records = head + [record for _, block in blocks for record in block]
    return b"".join(struct.pack("<HBBI", *record) for record in records)


PROGRAM = _program()


@contextlib.contextmanager
def keyring_filter() -> Iterator[int]:
    """A descriptor from which bubblewrap's ``--seccomp`` reads the filter, for one command:
    a memory file of its own (bubblewrap reads from its offset to the end), never a pipe,
    whose write end a fork by another thread would hold open and bubblewrap wait for; at 3
    or above, so that no standard stream of the command's can take its place."""
    made = os.memfd_create("drift-gym-seccomp", os.MFD_CLOEXEC)
    try:
        fd = fcntl.fcntl(made, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(made)
    try:
        os.write(fd, PROGRAM)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)
