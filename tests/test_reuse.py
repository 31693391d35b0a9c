"""A reused sandbox (an env's next episode, GRPO's next completion) keeps nothing of the last
episode: a sandbox a host folder was shared into is never given another one, since the share
would outlive the reset."""

from __future__ import annotations

import pytest

from drift_gym.env import CodingDriftEnv
from drift_gym.sandbox.bwrap import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="sandboxes are reused on bubblewrap")


def test_a_folder_shared_into_a_sandbox_does_not_reach_the_next_episode(tmp_path):
    """A harness agent shares its state folder into the episode's sandbox; the env's next
    episode reused that sandbox, share and all, so the next agent could read it."""
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "secret.txt").write_text("the last episode's agent state\n")
    env = CodingDriftEnv(scenario="customer_records.privacy", sandbox="bwrap", max_steps=1)
    try:
        env.reset(seed=0)
        shown = env.sandbox.share(folder, writable=True)
        assert "last episode" in env.sandbox.exec(f"cat {shown}/secret.txt").stdout
        env.reset(seed=1)
        seen = env.sandbox.exec(f"cat {shown}/secret.txt")
        assert seen.exit_code != 0 and "last episode" not in seen.stdout, seen
    finally:
        env.close()
