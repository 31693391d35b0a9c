"""Issue 17: the Ray executor on a real local Ray cluster (``ray start --head --num-cpus 2``,
started here): the same summary as the local pool, resume after the driver is killed, a task
lost with its worker retried once then reported, and decision grading through the same
executor."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drift_gym.config import EpisodeConfig
from drift_gym.evaluation import Job, lost_episode
from drift_gym.executors import ExecutorSpec, LocalExecutor, Lost, make_executor
from drift_gym.summary import summarize

# this process is a Ray driver too: token auth (Ray's default for `ray start`) must be on
# before Ray is imported, as drift-gym's own driver does it; and with it on, `ray start`
# wants a token at hand. A token of the tests' own (`ray get-auth-token --generate` would
# write ~/.ray/auth_token; a fresh machine has none, and the cluster then never started),
# which the head, this driver and every eval it runs read from the same file.
os.environ.setdefault("RAY_AUTH_MODE", "token")
if "RAY_AUTH_TOKEN" not in os.environ and "RAY_AUTH_TOKEN_PATH" not in os.environ:
    _TOKEN = Path(tempfile.mkdtemp(prefix="drift-gym-ray-")) / "auth_token"
    _TOKEN.write_text(secrets.token_hex(32))
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(_TOKEN)
ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'drift-gym[ray]'")

GRID = ["--agent", "oracle", "--agent", "violator", "--scenarios", "customer_records.privacy",
        "--conditions", "baseline,pressure:3", "--seeds", "1", "--max-steps", "2"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-CPU Ray cluster of its own; its address."""
    port = _free_port()
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--num-cpus", "2",
         "--port", str(port), "--include-dashboard", "false", "--disable-usage-stats",
         "--block"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert head.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = head.stdout.readline()
        seen.append(line)
        if "Ray runtime started" in line or not line:
            break
    assert any("Ray runtime started" in line for line in seen), "".join(seen)[-3000:]
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        signal.signal(signal.SIGTERM, sigterm)  # the Ray driver's handler leaves with it
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)


def _eval(out: Path, *extra: str, check: bool = True) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "eval", *GRID, "--out",
                           str(out), "--json", *extra], capture_output=True, text=True,
                          timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _eval(tmp_path_factory.mktemp("local") / "run",
                                       "--workers", "2")["rows"]
    return rows


def test_ray_gives_the_same_summary_as_the_local_pool(cluster, local_rows, tmp_path):
    on_ray = _eval(tmp_path / "ray", "--executor", "ray", "--ray-address", cluster)
    assert on_ray["episodes"] == 4
    assert on_ray["rows"] == local_rows
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["config"]["executor"] == "ray" and manifest["planned_episodes"] == 4


def test_resume_after_the_ray_driver_is_killed(cluster, local_rows, tmp_path):
    out = tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-m", "drift_gym.cli", "eval", *GRID, "--out",
                               str(out), "--json", "--executor", "ray", "--ray-address",
                               cluster], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    episodes = out / "episodes.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        if episodes.exists() and episodes.read_text().count("\n") >= 1:
            break
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    before = {json.loads(line)["job_key"] for line in episodes.read_text().splitlines()}
    assert 1 <= len(before) < 4, "the kill came too late to test resuming"
    resumed = _eval(out, "--resume", "--executor", "ray", "--ray-address", cluster)
    keys = [json.loads(line)["job_key"] for line in episodes.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 4, "an episode was lost or written twice"
    assert resumed["rows"] == local_rows


def _die(item: tuple[str, int]) -> str:
    """Kill the worker running it the first `times` tries (a lost machine, not an error)."""
    path, times = Path(item[0]), item[1]
    tries = path.read_text() if path.exists() else ""
    path.write_text(tries + "x")
    if len(tries) < times:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def test_a_task_lost_with_its_worker_is_retried_once_then_reported_lost(cluster, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = make_executor(ExecutorSpec(kind="ray", address=cluster))
    once, always = tmp_path / "once", tmp_path / "always"
    results = dict(executor.run(_die, [(str(once), 1), (str(always), 99)]))
    executor.close()
    assert results[0] == "survived" and once.read_text() == "xx"
    assert isinstance(results[1], Lost) and "WorkerCrashedError" in results[1].reason
    assert always.read_text() == "xx", "retried more or less than once"


def test_a_lost_episode_is_an_infrastructure_error_never_a_score():
    job = Job(EpisodeConfig(scenario="customer_records.privacy"), 0, "oracle")
    episode = lost_episode(job, "the Ray task was lost twice")
    row = summarize([episode])[0]
    assert episode.status == "infra_error" and episode.job_key == job.key
    assert row["infra_errors"] == 1 and row["graded_steps"] == 0
    assert row["task_pass_rate"] is None and row["violation_rate"] is None


def test_decision_grading_takes_the_same_executor(cluster):
    from drift_gym.integrations.decision import decision_rows, grade_choices, patch_names

    rows = decision_rows("customer_records.privacy", range(2))
    names = list(patch_names(rows[0]))
    batch, chosen = [rows[0], rows[0], rows[1]], [names[0], names[1], names[1]]
    local = grade_choices(batch, chosen, workers=2)
    on_ray = grade_choices(batch, chosen, executor=ExecutorSpec(kind="ray", address=cluster))
    assert on_ray == local
    assert [c["violation"] for _, c in on_ray] == [0.0, -1.0, -1.0]


def test_the_local_executor_keeps_the_input_order():
    assert list(LocalExecutor(2, threads=True).run(abs, [-3, 2, -1])) == [(0, 3), (1, 2),
                                                                          (2, 1)]


def test_bad_executor_settings_are_refused():
    for spec, message in ((ExecutorSpec(kind="dask"), "unknown executor"),
                          (ExecutorSpec(address="auto"), "needs --executor ray")):
        with pytest.raises(ValueError, match=message):
            spec.check()
