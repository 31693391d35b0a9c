"""``drift-gym simulate``: JSON and table output, bad input as one line with exit 2, and an LLM
user behind --api-base (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .fake_openai import FakeOpenAI, text_reply

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}
KEYS = {"episodes", "injected_events", "tracker_recall", "tracker_false_positive_rate",
        "ugst_mean", "prompt_to_line", "line_to_line", "qa_consistency", "ugst_categories",
        "event_types"}


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", "simulate", *args],
                          capture_output=True, text=True, env=ENV, timeout=300)


def test_json_reports_metrics_and_tracker_quality(tmp_path):
    out = tmp_path / "records.json"
    done = simulate("--simulator", "scripted:drift=0.3", "--episodes", "10", "--seed", "4",
                    "--json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) >= KEYS and summary["episodes"] == 10
    assert summary["injected_events"] > 10 and summary["tracker_recall"] >= 0.95
    assert summary["tracker_false_positive_rate"] <= 0.05
    assert set(summary["ugst_categories"]) == {"profile", "policy", "objectives",
                                               "requirements", "preferences"}
    assert sum(t["injected"] for t in summary["event_types"].values()) == \
        summary["injected_events"]
    assert "per_episode" not in summary
    records = json.loads(out.read_text())["per_episode"]
    assert len(records) == 10 and {"injected", "detected", "missed"} <= set(records[0])


def test_no_drift_flags_nothing_and_the_table_names_the_metrics():
    done = simulate("--episodes", "8", "--goals", "payments_api.*")
    assert done.returncode == 0, done.stderr
    for name in ("tracker_recall", "tracker_false_positive_rate", "ugst.requirements",
                 "qa_consistency"):
        assert name in done.stdout
    summary = json.loads(simulate("--episodes", "4", "--json").stdout)
    assert summary["injected_events"] == summary["detected_events"] == 0
    assert summary["ugst_mean"] == 1.0


@pytest.mark.parametrize("args, named", [
    (["--simulator", "scripted:drift=1.5"], "scripted:drift=1.5"),
    (["--simulator", "gpt-4o"], "gpt-4o"),
    (["--goals", "nope*"], "nope*"),
    (["--simulator", "hf:/no/such/checkpoint"], "/no/such/checkpoint"),
    (["--tracker", "oracle"], "oracle"),
])
def test_bad_input_is_one_line_and_exit_2(args, named):
    done = simulate(*args, "--episodes", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]


def test_an_llm_user_behind_api_base():
    with FakeOpenAI(default=text_reply("Could you help me with the first request? ###STOP###")
                    ) as server:
        done = simulate("--simulator", "litellm:openai/fake-user", "--api-base", server.url,
                        "--episodes", "2", "--no-cache", "--json")
        assert len(server.requests) == 2
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["simulator"] == "litellm:openai/fake-user"
    assert summary["injected_events"] == 0 and summary["tracker_recall"] is None
    assert summary["event_types"]["stop_early"]["detected"] == 2
    # an LLM user judged by the lexical tracker: one warning line, and the summary says so
    (warning,) = done.stderr.strip().splitlines()
    assert warning.startswith("warning:") and "lexical tracker" in warning
    assert summary["tracker"] == "lexical" and summary["tracker_note"]


def test_the_tracker_follows_the_user_and_can_be_chosen():
    scripted = json.loads(simulate("--simulator", "scripted:drift=0.3", "--episodes", "4",
                                   "--json").stdout)
    assert scripted["tracker"] == "scripted" and scripted["tracker_note"] is None
    assert scripted["tracker_recall"] == 1.0 and scripted["tracker_false_positive_rate"] == 0.0
    lexical = json.loads(simulate("--simulator", "scripted:drift=0.3", "--episodes", "4",
                                  "--tracker", "lexical", "--json").stdout)
    assert lexical["tracker"] == "lexical"
    assert lexical["injected_events"] == scripted["injected_events"]
    with FakeOpenAI(default=text_reply("Hello there.")) as server:
        done = simulate("--simulator", "litellm:openai/fake-user", "--api-base", server.url,
                        "--tracker", "scripted", "--episodes", "1", "--no-cache")
        assert server.requests == []  # refused before any model call
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "--tracker scripted" in lines[0]
