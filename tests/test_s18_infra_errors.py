"""Episodes that end in an infrastructure error (an endpoint that is down) are reported as
such, never as a quiet success, and ``--resume`` runs exactly those again once the endpoint
is back. A real HTTP server on 127.0.0.1 stands in for the provider; an unused port on
127.0.0.1 for one that is down. Retries are cut short with DRIFT_GYM_MODEL_RETRIES."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

from drift_gym.results import ResultLog

from .fake_openai import FakeOpenAI, error_reply, tool_call_reply

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "DRIFT_GYM_MODEL_RETRIES": "0",
       "DRIFT_GYM_MODEL_BACKOFF_S": "0"}
FINISH = tool_call_reply("finish", {"message": "done"})


def eval_cli(url: str, out: Path, *extra: str,
             scenarios: str = "customer_records.utility") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "litellm:openai/fake-model",
         "--api-base", url, "--scenarios", scenarios, "--conditions", "baseline",
         "--max-steps", "1", "--no-cache", "--out", str(out), *extra],
        capture_output=True, text=True, env=ENV, timeout=600)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fake_on(port: int) -> Iterator[FakeOpenAI]:
    """A FakeOpenAI serving on `port` (the endpoint that was down comes back there)."""
    fake = FakeOpenAI()
    handler = fake.server.RequestHandlerClass
    fake.server.server_close()
    fake.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    fake.thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    with fake:
        yield fake


def test_a_down_endpoint_fails_the_run_and_resume_retries_it(tmp_path):
    port = unused_port()
    url, out = f"http://127.0.0.1:{port}/v1", tmp_path / "run"
    down = eval_cli(url, out)
    assert down.returncode == 1, down.stderr
    (line,) = [x for x in down.stderr.splitlines() if x.startswith("error:")]
    assert "1 of 1 episodes ended in an infrastructure error" in line
    assert "gave up after 1 attempts" in line and "Connection" in line and "--resume" in line
    failed = (out / "episodes.jsonl").read_text()

    with fake_on(port) as server:
        back = eval_cli(url, out, "--resume")
        assert back.returncode == 0, back.stderr
        assert ("resuming: 0 of 1 episodes already finished; 1 that ended in an "
                "infrastructure error run again") in back.stderr
        assert "infrastructure error (first" not in back.stderr
        calls = len(server.requests)
        assert calls >= 1
        again = eval_cli(url, out, "--resume")
        assert again.returncode == 0 and "1 of 1 episodes already finished" in again.stderr
        assert len(server.requests) == calls, "a finished episode is not rerun"
    assert (out / "episodes.jsonl").read_text().startswith(failed), "appended, not rewritten"
    (episode,) = ResultLog(out).episodes()
    assert episode.status == "completed" and episode.graded_steps == 1
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [(r["episodes"], r["graded_steps"], r["infra_errors"]) for r in rows] == [(1, 1, 0)]


def test_resume_reruns_only_the_failed_episode_and_keeps_the_good_one(tmp_path):
    out = tmp_path / "run"
    both = "customer_records.privacy,customer_records.utility"
    with FakeOpenAI([FINISH, error_reply(503, "overloaded")]) as server:
        first = eval_cli(server.url, out, "--json", scenarios=both)
        assert first.returncode == 0, "some episodes are results: not a failed run"
        assert "warning: 1 of 2 episodes ended in an infrastructure error" in first.stderr
        assert "503" in first.stderr or "overloaded" in first.stderr
        good = {e.episode_id for e in ResultLog(out).episodes() if e.status == "completed"}
        assert len(good) == 1
        calls = len(server.requests)
        second = eval_cli(server.url, out, "--resume", scenarios=both)
        assert second.returncode == 0, second.stderr
        assert ("resuming: 1 of 2 episodes already finished; 1 that ended in an "
                "infrastructure error run again") in second.stderr
        assert len(server.requests) == calls + 1, "only the failed episode ran again"
    episodes = ResultLog(out).episodes()
    assert len(episodes) == 2 and {e.status for e in episodes} == {"completed"}
    assert good <= {e.episode_id for e in episodes}, "the good episode is kept as it was"
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 3, "nothing deleted"
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert sum(r["infra_errors"] for r in rows) == 0 and sum(r["episodes"] for r in rows) == 2


def test_an_unknown_cost_is_null_in_step_records_as_in_the_summary(tmp_path):
    out = tmp_path / "run"
    with FakeOpenAI() as server:
        done = eval_cli(server.url, out, "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["rows"]
    assert row["model_calls"] >= 1 and row["cost"] is None
    steps = [json.loads(x) for x in (out / "steps.jsonl").read_text().splitlines()]
    assert steps and all(s["model_usage"]["cost"] is None for s in steps)
    assert all(s["model_usage"]["calls"] >= 1 for s in steps)


def test_a_bad_retry_setting_is_one_line_before_anything_runs(tmp_path):
    env = {**ENV, "DRIFT_GYM_MODEL_RETRIES": "many"}
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "oracle",
                           "--dry-run", "--out", str(tmp_path / "run")], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "DRIFT_GYM_MODEL_RETRIES='many': use a whole number" in done.stderr
    assert not (tmp_path / "run").exists()
