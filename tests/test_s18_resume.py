"""`eval --resume` continues one run only: a command with other settings is refused naming
what differs, and leaves the folder byte for byte as it was (the real CLI, real episodes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from drift_gym.catalog import default_catalog

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
RUN = ("eval", "--agent", "oracle", "--scenarios", "customer_records.utility", "--conditions",
       "pressure:1", "--max-steps", "1")


def cli(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    return line


def test_resume_with_other_settings_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    assert cli(*RUN, "--out", str(out)).returncode == 0
    before = snapshot(out)
    refused = cli("eval", "--agent", "violator", *RUN[3:], "--out", str(out), "--resume")
    line = error_line(refused)
    assert str(out) in line and "agents: ['oracle'] -> ['violator']" in line
    for way in ("repeat its command", "new --out", "--overwrite"):
        assert way in line, line
    other_endpoint = cli(*RUN, "--api-base", "http://127.0.0.1:1/v1", "--out", str(out),
                         "--resume")
    assert "api_base: None -> 'http://127.0.0.1:1/v1'" in error_line(other_endpoint)
    assert snapshot(out) == before, "manifest and records untouched"
    # how the same run is carried out may change, and the same grid and sandbox tier spelled
    # otherwise (helper-44: a reordered list was refused): it continues, duplicating nothing
    from drift_gym.sandbox.registry import isolation

    tier = {"bwrap": "bwrap", "subprocess-weak": "subprocess"}.get(isolation("auto"), "auto")
    done = cli(*RUN[:4], "customer_records.utility,customer_records.utility", *RUN[5:],
               "--sandbox", tier, "--out", str(out), "--resume", "--workers", "2",
               "--no-cache")
    assert done.returncode == 0, done.stderr
    assert "resuming: 1 of 1 episodes already finished" in done.stderr
    assert (out / "episodes.jsonl").read_bytes() == before["episodes.jsonl"]
    assert json.loads((out / "manifest.json").read_text())["config"]["workers"] == 2


def test_a_catalogue_changed_under_the_same_options_refuses_a_resume(tmp_path):
    """The same globs, but a scenario they matched is gone: its records would be left
    outside the manifest, so the resume is refused, naming them."""
    extra = tmp_path / "catalogue"
    (extra / "scenarios").mkdir(parents=True)
    for name in ("families", "AGENTS.md"):
        (extra / name).symlink_to(Path(default_catalog().get(RUN[4]).path).parent.parent
                                  / name)
    data = yaml.safe_load(default_catalog().get(RUN[4]).path.read_text(encoding="utf-8"))
    (extra / "scenarios" / "copy.yaml").write_text(
        yaml.safe_dump({**data, "id": "customer_records.utility_copy"}))
    out, glob = tmp_path / "run", ("--scenarios", "customer_records.utility*")
    with_copy = {**ENV, "DRIFT_GYM_PATH": str(extra)}
    assert cli(*RUN[:3], *glob, *RUN[5:], "--out", str(out), env=with_copy).returncode == 0
    before = snapshot(out)
    line = error_line(cli(*RUN[:3], *glob, *RUN[5:], "--out", str(out), "--resume"))
    assert "1 recorded episodes of jobs this command does not plan" in line
    assert "customer_records.utility_copy|pressure:1" in line
    assert snapshot(out) == before
