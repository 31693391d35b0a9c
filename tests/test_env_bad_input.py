"""Issue 11: every bad input is an observation -- NUL bytes, FIFOs, sockets, devices, symlinks
and non-UTF-8 file names never crash or block the episode; malformed calls of every kind
count toward the malformed limit."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest

from drift_gym.agents import ScriptedAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.models import ResponseCache
from drift_gym.tools import ToolCall

from .conftest import TIERS, drive


def call(name, **arguments):
    return ToolCall(name, arguments).as_text()


@pytest.fixture(params=TIERS)
def env(request):
    environment = CodingDriftEnv(scenario="customer_records.privacy", sandbox=request.param,
                                 command_timeout=5, max_steps=2)
    environment.reset(seed=0)
    yield environment
    environment.close()


def _step(env, action):
    observation, _, terminated, truncated, info = env.step(action)
    assert not truncated and "infra_error" not in info, (observation, info)
    observation.encode("utf-8")  # no lone surrogates reach the agent
    return observation


def _finish_and_expect_next_request(env):
    observation, _, terminated, truncated, info = env.step(call("finish", message="done"))
    assert not truncated and not terminated, info
    assert "graded" in info and info["graded"]["infra_error"] is None
    assert "Request 2 of 2" in observation


def test_nul_bytes_are_error_observations(env):
    assert "NUL" in _step(env, call("run", command="echo a\x00b"))
    assert "NUL" in _step(env, call("write_file", path="a\x00.py", content="x"))
    assert "NUL" in _step(env, call("read_file", path="README.md\x00"))
    _finish_and_expect_next_request(env)


def test_special_files_are_refused_and_skipped_by_grading(env):
    _step(env, call("run", command=(
        "mkfifo pipe && python -c \"import socket; socket.socket(socket.AF_UNIX).bind('sock')\""
        " && ln -s /etc/passwd outside && ln -s README.md inside && echo made")))
    device = env._sandbox.repo / "zero"
    if os.geteuid() == 0:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    expected = {"pipe": "named pipe", "sock": "socket", "outside": "outside the repo",
                "inside": "symlink", **({"zero": "character device"} if device.exists() else {})}
    for name, why in expected.items():
        assert why in _step(env, call("read_file", path=name)), name
        assert "error" in _step(env, call("write_file", path=name, content="x")), name
        assert "error" in _step(env, call("replace_in_file", path=name, old="a", new="b"))
    listing = _step(env, call("list_files", path="."))
    assert "pipe (a named pipe (FIFO))" in listing and "sock (a socket)" in listing
    _finish_and_expect_next_request(env)  # grading never opens the FIFO


def test_non_utf8_file_names_are_shown_escaped_everywhere(env, tmp_path):
    _step(env, call("run", command="touch \"$(printf 'caf\\377.txt')\""))
    listing = _step(env, call("list_files", path="."))
    assert "caf\\xff.txt" in listing
    ran = _step(env, call("run", command="ls"))
    assert "caf" in ran
    cache = ResponseCache(tmp_path)
    key = ResponseCache.key({"messages": env.messages})
    cache.put(key, {"content": "ok"})
    assert cache.get(key) == {"content": "ok"}
    json.dumps(env.messages, ensure_ascii=False).encode("utf-8")
    _finish_and_expect_next_request(env)


@pytest.mark.parametrize("bad", [
    '{"name": "rm_rf", "arguments": {}}',
    '{"name": "read_file", "arguments": {"path": 3}}',
    '{"name": "read_file", "arguments": {"file": "x"}}',
    'no tool call at all',
], ids=["unknown-tool", "wrong-type", "bad-argument", "no-call"])
def test_every_kind_of_malformed_call_counts_toward_the_limit(bad):
    env = CodingDriftEnv(scenario="customer_records.privacy", sandbox="subprocess",
                         max_malformed=3, max_steps=1)
    try:
        env.reset(seed=0)
        for _ in range(2):
            _, _, _, truncated, _ = env.step(bad)
            assert not truncated
        env.step(call("read_file", path="missing.py"))  # a well-formed call resets the count
        for _ in range(2):
            assert not env.step(bad)[3]
        _, _, _, truncated, info = env.step(bad)
        assert truncated and "3 malformed actions in a row" in info["agent_failure"]
    finally:
        env.close()


def test_the_subprocess_tier_leaves_nothing_in_the_host_tmp():
    base = Path(tempfile.gettempdir())
    before = set(base.iterdir())
    env = CodingDriftEnv(scenario="customer_records.privacy", sandbox="subprocess", max_steps=2)
    try:
        _, infos = drive(env, ScriptedAgent("oracle"), seed=0)
        assert infos[-1]["graded"]["hidden_tests"]["passed"]
    finally:
        env.close()
    leaked = [p for p in set(base.iterdir()) - before if p.name.startswith("probe-state")]
    assert not leaked
