"""`drift-gym simulate` with LLM users and an LLM judge behind a real HTTP server on 127.0.0.1:
no tracker-quality metrics without ground truth, no score from unread lines, one warning, the
tracker named as --tracker spells it; and the help texts and errors of simulate and
tracker-eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .fake_openai import FakeOpenAI, text_reply

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}
USER = ("Please add deactivate(user_id) to the store; it raises ValueError for unknown ids "
        "and emits a deactivated event.")
QUALITY = ("tracker_recall", "tracker_false_positives", "tracker_false_positive_rate",
           "label_agreement", "stopped_early")


def drift_gym(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args],
                          capture_output=True, text=True, env=ENV, timeout=300)


def llm_user(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return drift_gym("simulate", "--simulator", "litellm:openai/fake-user", "--api-base", url,
                     "--episodes", "1", "--max-turns", "4", "--no-cache", *args)


def test_an_llm_user_has_no_false_positives_to_report():
    """The user never says it is done, so the tracker flags an early stop: a detection, but
    with nothing injected to compare it with, not a false positive."""
    with FakeOpenAI(default=text_reply(USER)) as server:
        summary = json.loads(llm_user(server.url, "--json").stdout)
        table = llm_user(server.url)
    assert summary["ground_truth"] is False
    assert all(summary[key] is None for key in QUALITY), {k: summary[k] for k in QUALITY}
    assert summary["event_types"]["stop_early"] == {"detected": 1}
    assert table.returncode == 0, table.stderr
    assert "false_positive" not in table.stdout and "tracker_recall" not in table.stdout
    assert "cannot be measured (scripted users only)" in " ".join(table.stderr.split())


def test_a_judge_that_never_answers_in_json_scores_nothing():
    with FakeOpenAI(default=text_reply(USER)) as server:
        done = llm_user(server.url, "--tracker", "llm:openai/judge", "--json")
        table = llm_user(server.url, "--tracker", "llm:openai/judge")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["user_turns"] == summary["unscored_lines"] == 4
    assert summary["read_lines"] == 0
    assert summary["ugst_mean"] is None and summary["qa_consistency"] is None
    assert summary["line_to_line"] is None
    assert set(summary["ugst_categories"].values()) == {None}
    assert summary["tracker"] == "llm:openai/judge"
    warning = " ".join(table.stderr.split())
    assert "4 of 4 user lines hold words the tracker llm:openai/judge could not read" in warning
    assert "1 of 1 conversations have no score" in warning
    assert "tracker llm:openai/judge)" in " ".join(table.stdout.split())
    assert "llm:litellm:" not in table.stdout + table.stderr


def test_a_partly_read_conversation_says_what_its_score_stands_on():
    """Turn 1 is read (the judge answers), turn 2 is not (two replies that are not JSON)."""
    read = {"requested": [1], "components": [
        {"id": "policy", "reasoning": "keeps to the rule", "verdict": "gold", "value": ""}]}
    with FakeOpenAI(script=[text_reply(USER), text_reply(json.dumps(read))],
                    default=text_reply(USER)) as server:
        done = drift_gym("simulate", "--simulator", "litellm:openai/fake-user", "--api-base",
                         server.url, "--episodes", "1", "--max-turns", "2", "--no-cache",
                         "--tracker", "llm:openai/judge", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["user_turns"], summary["read_lines"], summary["unscored_lines"]) == (2, 1, 1)
    assert summary["ugst_mean"] is not None and summary["ugst_categories"]["policy"] == 1.0
    assert "the scores stand on the 1 lines it read anything of" in " ".join(done.stderr.split())


def test_help_and_errors_name_what_each_command_takes():
    help_text = " ".join(drift_gym("simulate", "--help").stdout.replace("│", " ").split())
    assert "(default: scripted" in help_text
    assert "scenario's own request text" not in help_text
    for spec in ("lexicl", "auto"):
        done = drift_gym("tracker-eval", "--tracker", spec)
        assert done.returncode == 2
        assert "scripted, lexical or llm:<model>" in done.stderr
        assert "use auto" not in done.stderr and "auto," not in done.stderr
