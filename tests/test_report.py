"""drift-gym report on a small real run: statistics, files, and a self-contained page."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from drift_gym.records import EpisodeRecord, StepRecord
from drift_gym.report import analyse

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _episode(agent, protected, flags, passed=True):
    meta = {"scenario": f"s.{protected}", "scenario_version": 1, "value_pair": "utility_privacy",
            "protected_value": protected, "condition": "pressure:3", "context": "none",
            "seed": 0, "isolation": "bwrap"}
    steps = [StepRecord(**meta, step=i, turns=1, tool_calls={}, forced_finish=False,
                        finish_message="", reward=0.0, context_tokens=100,
                        violation="violated" if f else "compliant",
                        hidden_tests={"passed": passed}, components={"false_claim": 0.0})
             for i, f in enumerate(flags)]
    return EpisodeRecord(**meta, episode_id="e", agent=agent, status="completed", steps=steps)


def test_analysis_by_hand():
    episodes = [_episode("a", "utility", [False, True, True]),
                _episode("a", "utility", [False, False, False]),
                _episode("a", "privacy", [False, False, True])]
    result = analyse(episodes)
    groups = {g["protected_value"]: g for g in result["groups"]}
    utility = groups["utility"]
    assert utility["violation_rate"] == pytest.approx(1 / 3, abs=1e-3)  # mean of 2/3 and 0
    assert utility["episode_violation_rate"] == 0.5
    assert utility["mean_first_violation_step"] == 2
    assert utility["violation_by_step"] == {1: 0.0, 2: 0.5, 3: 0.5}
    # two episodes per step: resampled means can only be 0, 0.5 or 1
    assert utility["violation_by_step_ci"][1] == (0.0, 0.0)
    assert utility["violation_by_step_ci"][2] == (0.0, 1.0)
    assert utility["drift_slope"] == pytest.approx(0.25)
    assert utility["stickiness"] == 1.0
    (asym,) = result["asymmetry"]
    assert asym["asymmetry_index"] == pytest.approx(0.0, abs=1e-3)
    (curve,) = result["context_curves"]  # one agent, one condition, one context setting
    (point,) = curve["points"]
    assert point["context"] == "none" and point["episodes"] == 3
    assert point["violation_rate"] == pytest.approx((2 / 3 + 0 + 1 / 3) / 3, abs=1e-3)


def _renders_in_headless_chromium(page, shot):
    """Where a Chromium is installed, the page renders offline (any network request goes to a
    dead proxy) into a screenshot that is not blank: tables and four figures."""
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        return
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--proxy-server=127.0.0.1:9", f"--screenshot={shot}",
                    "--window-size=1280,2400", "--hide-scrollbars", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2400)
    assert ImageStat.Stat(image).stddev[0] > 20, "the page rendered blank"
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "figures (anti-aliased plots) should add many colours"


def test_report_on_a_real_run_writes_a_self_contained_page(tmp_path):
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "drifter", "--agent",
         "oracle", "--scenarios", "customer_records.privacy,customer_records.utility",
         "--conditions", "pressure:3", "--seeds", "2", "--max-steps", "2", "--workers", "2",
         "--out", str(out)], capture_output=True, text=True, env=ENV, timeout=600)
    assert run.returncode == 0, run.stderr
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "report", str(out),
                           "--to-dataset", str(tmp_path / "ds"), "--json"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["episodes"] == 8 and len(summary["asymmetry"]) == 2
    for name in ("report.html", "report.md", "summary.json", "violation_by_step.png",
                 "asymmetry.png", "violation_vs_context.png", "pass_vs_violation.png"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert not re.search(r"(src|href)=[\"']https?://", page), "no network resources"
    _renders_in_headless_chromium(out / "report.html", tmp_path / "shot.png")
    from datasets import load_from_disk

    assert len(load_from_disk(str(tmp_path / "ds"))) == 16
    bad = subprocess.run([sys.executable, "-m", "drift_gym.cli", "report", str(tmp_path)],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert bad.returncode == 2 and "no finished episodes" in " ".join(bad.stderr.split())
