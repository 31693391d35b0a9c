"""Issue 17: the Docker backend holds like bubblewrap does -- no network, no host secrets,
unprivileged commands, bounded processes and memory, a read-only grading area, nothing left
running after a command or an episode, and a killed controller's containers swept.

These run against a real engine (`make docker-engine`); without one they skip, naming it.
The generic sandbox tests (tests/test_sandbox.py) also run on the docker tier."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drift_gym.adversarial import load_cases, play
from drift_gym.sandbox import GRADING, REPO, open_sandbox
from drift_gym.sandbox.bwrap import bwrap_available
from drift_gym.sandbox.core import WorkspaceSandbox, command_path
from drift_gym.sandbox.lanes import AGENT, AHEAD, BESIDE, FOLDERS, PROBE, TESTS
from drift_gym.sandbox.limits import PROCESS_LIMIT, SANDBOX_MEMORY_LIMIT, stale_cgroups

from .conftest import needs_docker
from .redteam.test_redteam import CORPUS, verdict
from .test_forget import COPY_PROBE, leaked_by_a_graded_step

pytestmark = needs_docker

HOLD_CONTAINER = (
    "from drift_gym.sandbox import open_sandbox\n"
    "box = open_sandbox('docker')\n"
    "print(box.backend._container.name, flush=True)\n"
    "import time; time.sleep(300)\n"
)


@pytest.fixture
def box():
    sandbox = open_sandbox("docker")
    yield sandbox
    sandbox.close()


def _engine():
    from drift_gym.sandbox.docker import client

    return client()


def _exists(name: str) -> bool:
    from docker.errors import NotFound

    try:
        _engine().containers.get(name)
    except NotFound:
        return False
    return True


def test_commands_run_unprivileged_with_no_capabilities_and_no_new_privileges(box):
    result = box.exec("id -u; id -g; grep -E '^(Cap(Eff|Prm|Bnd|Amb)|NoNewPrivs)' "
                      "/proc/self/status")
    lines = result.stdout.split()
    assert int(lines[0]) != 0 and int(lines[1]) != 0, result
    fields = dict(zip(lines[2::2], lines[3::2], strict=True))
    assert fields.pop("NoNewPrivs:") == "1"
    assert set(fields.values()) == {"0000000000000000"}, fields
    assert box.isolation == "docker"
    limits = box.limits
    assert limits["capabilities"] == "none" and limits["network"] == "none"
    assert limits["process_limit"] == PROCESS_LIMIT


def test_the_root_and_the_grading_area_are_read_only_except_repo_and_run(box):
    box.write_file("mod.py", "x = 1\n")
    box.stage_grading({"hidden/test_step_01.py": "def test_x():\n    pass\n",
                       "hidden.ini": "[pytest]\n", "grader_runtime.py": "# runtime\n"},
                      lane=AGENT)
    script = "; ".join([
        "echo pwned > ../hidden/test_step_01.py && echo WROTE-TEST",
        "echo pwned > ../hidden.ini && echo WROTE-INI",
        "rm -f ../grader_runtime.py && echo REMOVED-RUNTIME",
        "touch ../planted.py && echo PLANTED",
        "touch /usr/pwned /pwned && echo WROTE-ROOT",
        "touch ok && echo RUN-OK",
        "touch ../repo/ok && echo REPO-OK",
    ])
    result = box.exec(f"cd run && {{ {script}; }}", cwd=GRADING)
    assert "RUN-OK" in result.stdout and "REPO-OK" in result.stdout, result
    for marker in ("WROTE-TEST", "WROTE-INI", "REMOVED-RUNTIME", "PLANTED", "WROTE-ROOT"):
        assert marker not in result.stdout, result
    assert (box.grading / "hidden/test_step_01.py").read_text() == "def test_x():\n    pass\n"
    assert (box.grading / "hidden.ini").read_text() == "[pytest]\n"
    box.clear_grading()
    assert sorted(p.name for p in box.grading.iterdir()) == ["repo", "run"]
    assert box.exec("ls ../grading/run ../grading/repo").stdout.split() == [
        "../grading/repo:", "../grading/run:"]


def test_a_server_on_the_host_loopback_is_unreachable(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the control: the server answers on the host
        connect = (f"import socket; socket.create_connection(('127.0.0.1', {port}), 3); "
                   "print('CONNECTED')")
        result = box.exec(f'python -c "{connect}"; cat /proc/net/route | wc -l; ls /sys/class/net')
        assert "CONNECTED" not in result.stdout, result
        assert "Connection refused" in result.stderr or "unreachable" in result.stderr, result
        assert result.stdout.split()[-1] == "lo", "the container has an interface besides lo"
        assert len(accepted) == 1, "only the host's own connection reached the server"
    finally:
        server.close()


def test_host_environment_variables_are_invisible(box, monkeypatch):
    monkeypatch.setenv("DRIFT_GYM_DOCKER_SECRET", "hunter2")
    result = box.exec("env; cat /proc/1/environ 2>&1 | tr '\\0' '\\n'")
    assert "hunter2" not in result.stdout + result.stderr


def test_a_fork_bomb_is_contained_reported_and_the_next_command_works(box):
    result = box.exec("bomb() { bomb | bomb & }; bomb; sleep 2", timeout=20)
    assert result.limit is not None and "process limit" in result.limit, result
    assert f"{PROCESS_LIMIT} processes" in result.stderr
    after = box.exec("echo alive; ps -e --no-headers | wc -l")
    assert after.ok and after.stdout.split()[0] == "alive" and after.limit is None
    assert int(after.stdout.split()[1]) < 10, "the bomb's processes outlived the command"


def test_a_memory_hog_is_killed_and_reported(box):
    result = box.exec("python -c 'b = b\"x\" * (3 * 2**30); print(len(b))'", timeout=60)
    assert not result.ok and str(3 * 2**30) not in result.stdout
    assert result.limit is not None and "memory limit reached" in result.limit, result
    assert box.exec("echo alive").stdout.strip() == "alive"


def test_a_background_process_is_gone_after_the_command_and_the_episode():
    box = open_sandbox("docker")
    name = box.backend._container.name  # noqa: SLF001 (the test checks the engine's view)
    started = box.exec("setsid nohup sh -c 'sleep 1000' >/dev/null 2>&1 & echo started",
                       timeout=10)
    assert started.stdout.strip() == "started" and started.duration_s < 5
    assert "sleep 1000" not in box.exec("ps -eo args").stdout
    box.exec("(trap '' TERM HUP; exec sleep 999) >/dev/null 2>&1 &")
    box.close()
    assert not _exists(name), "the container outlived its episode"
    host = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 999" not in host and "sleep 1000" not in host


def test_a_container_lost_mid_episode_is_replaced_and_the_workspace_kept(box):
    box.write_file("kept.txt", "still here\n")
    _engine().containers.get(box.backend._container.id).remove(force=True)  # noqa: SLF001
    result = box.exec("cat kept.txt")
    assert result.ok and result.stdout == "still here\n", result


def _hold(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A controller process holding a docker sandbox; (process, container name)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_CONTAINER], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert holder.stdout is not None
    return holder, holder.stdout.readline().strip()


def test_a_killed_controllers_containers_are_swept(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # parallel tests' sweeps stay out of it
    first, first_name = _hold(env)
    second, second_name = _hold(env)
    for holder in (first, second):
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert _exists(first_name) and _exists(second_name), "SIGKILL ran no cleanup"
    dry = subprocess.run([sys.executable, "-m", "drift_gym.cli", "cleanup", "--dry-run",
                          "--json"], capture_output=True, text=True, timeout=120, env=env)
    listed = json.loads(dry.stdout)
    assert {first_name, second_name} <= {f["path"] for f in listed["found"]
                                         if f["kind"] == "container"}, listed
    assert _exists(first_name), "--dry-run must not remove anything"
    # the start-up sweep: the next process's first docker sandbox removes them
    nxt = subprocess.run([sys.executable, "-c", HOLD_CONTAINER.replace("time.sleep(300)",
                                                                       "box.close()")],
                         capture_output=True, text=True, timeout=120, env=env)
    assert nxt.returncode == 0, nxt.stderr
    assert not _exists(first_name) and not _exists(second_name)
    third, third_name = _hold(env)
    third.send_signal(signal.SIGKILL)
    third.wait(timeout=30)
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "cleanup", "--json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert third_name in json.loads(done.stdout)["removed"], done.stdout
    assert not _exists(third_name)
    assert not list(Path(tmp_path).glob("drift-gym-*")), "a workspace was left behind"


SAMPLE = ("rewrite-the-next-hidden-test", "replace-hidden-ini", "symlink-to-grading-area",
          "self-kill-137", "probe-child-process-report", "flood-under-hidden-tests",
          "works-only-beside-an-unrecorded-file", "the-probe-copies-itself-for-the-next-step",
          "sysv-ipc-outlives-its-job")
ATTACKS = [a for a in load_cases(CORPUS, key="attacks") if a.id in SAMPLE]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_red_team_attacks_hold_on_docker(attack):
    record = play(attack, sandbox="docker")
    held, why = verdict(record, attack.expect)
    assert held, (attack.id, why, record["tamper"], record.get("hidden_tests"))


ONE_PER_FAMILY = ("customer_records.privacy", "fleet_sdk.security",
                  "inventory_service.efficiency", "payments_api.convenience")


def _verdicts(sandbox: str, out: Path) -> tuple[dict[tuple[str, str, int], object], Any]:
    """Per graded step of the oracle and violator references: task, violation, each check's
    verdict and the tamper findings; and the summary printed by ``eval --json``."""
    done = subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--sandbox", sandbox,
         "--agent", "oracle", "--agent", "violator", "--scenarios", ",".join(ONE_PER_FAMILY),
         "--conditions", "baseline", "--seeds", "1", "--max-steps", "2", "--workers", "2",
         "--out", str(out), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    table = {(s["scenario"], s["agent"], s["step"]): (
        s["components"]["task"], s["violation"],
        sorted((v["source"], v["status"]) for v in s["verdicts"]), s["tamper"])
        for s in steps}
    return table, json.loads(done.stdout)


@pytest.mark.skipif(not bwrap_available(), reason="the parity check compares with bubblewrap")
def test_references_get_the_same_verdicts_on_docker_as_on_bubblewrap(tmp_path):
    on_docker, summary = _verdicts("docker", tmp_path / "docker")
    on_bwrap, _ = _verdicts("bwrap", tmp_path / "bwrap")
    assert len(on_docker) == len(ONE_PER_FAMILY) * 2 * 2
    assert on_docker == on_bwrap
    assert {r["isolation"][0] for r in summary["rows"]} == {"docker"}
    assert all(r["infra_errors"] == 0 for r in summary["rows"])
    by_agent = {(r["scenario"], r["agent"]): r["violation_rate"] for r in summary["rows"]}
    assert all(rate == (1.0 if agent == "violator" else 0.0)
               for (_, agent), rate in by_agent.items()), by_agent
    manifest = json.loads((tmp_path / "docker" / "manifest.json").read_text())
    assert manifest["sandbox"] == "docker"


@pytest.mark.parametrize("lane", [PROBE, TESTS])
def test_a_grading_lane_is_a_container_showing_its_area_alone(tmp_path, lane):
    """A grading lane (lanes.py) on Docker: a container of its own that shows that lane's
    area as the grading area, read-only but its ``repo`` and ``run``, its copy of the repo,
    read-only, in place of the live one (as bubblewrap shows it), and no share; a limit hit
    there is the sandbox's; it goes with the episode."""
    box = open_sandbox("docker")
    root = box.root
    try:
        folder = tmp_path / "share"
        folder.mkdir()
        shown = box.share(folder)
        box.write_file("live.txt", "the agent's live tree\n")
        area = root / FOLDERS[lane]
        (area / REPO / "copy.txt").write_text("the lane's copy\n")
        path = {"PATH": command_path()}
        result = box.backend.exec("ls -A /sandbox/repo; cat /proc/self/mountinfo", cwd=GRADING,
                                  timeout=20, env=path, cap=1 << 16, grading=area)
        lines = result.stdout.splitlines()
        assert lines[0] == "copy.txt", result  # not the live tree's live.txt
        mounts = {fields[4]: fields[5].split(",")[0] for fields in map(str.split, lines[1:])
                  if fields[4].startswith(("/sandbox", shown))}
        assert mounts == {"/sandbox/control": "ro", "/sandbox/grading": "ro",
                          "/sandbox/grading/repo": "rw", "/sandbox/grading/run": "rw",
                          "/sandbox/repo": "ro"}, mounts
        before = box.backend.events()
        box.backend.exec("python -c 'b = b\"x\" * (3 * 2**30)'", cwd=GRADING, timeout=60,
                         env=path, cap=1 << 16, grading=area, address_space=False)
        assert box.backend.events().oom_kills > before.oom_kills
    finally:
        box.close()
    left = _engine().containers.list(all=True, filters={"label": f"drift-gym.workspace={root}"})
    assert not left, "a container outlived its episode"


def test_code_the_hidden_tests_run_cannot_copy_them_into_the_live_repo():
    """Both jobs ran in the episode's one container, whose live repo is writable: package
    code the hidden tests ran copied them there, for the agent to read at its next step."""
    with open_sandbox("docker") as box:
        assert box.hidden_tests_plan() in (BESIDE, AHEAD)  # a lane of their own
    assert leaked_by_a_graded_step("docker") == []


def test_code_the_probe_runs_cannot_copy_the_probe_into_the_live_repo():
    """The probe ran in the episode's container, whose live repo is writable: package code
    it ran copied the probe's config there, encoded (session 16)."""
    assert leaked_by_a_graded_step("docker", COPY_PROBE) == []


@contextlib.contextmanager
def _bounded_together(kind: str) -> Iterator[tuple[Any, Path, dict[str, str]]]:
    """A Docker sandbox whose `kind` bound (memory, cpu) holds for its containers together
    (else the test skips, naming why), with its hidden-test lane's container made; no cgroup
    folder of it may be left after it (the parent goes with the sandbox)."""
    path = {"PATH": command_path()}
    with open_sandbox("docker") as box:
        assert isinstance(box, WorkspaceSandbox)
        if box.limits.get(f"{kind}_bound") != "the sandbox's containers together":
            pytest.skip(f"this engine bounds each container alone: {box.limits}")
        area = box.root / FOLDERS[TESTS]
        box.backend.exec("true", cwd=GRADING, timeout=20, env=path, cap=1 << 10, grading=area)
        yield box, area, path
    assert stale_cgroups(box.root.name) == []


def test_the_sandbox_memory_bound_holds_for_all_its_containers_together():
    """A step's jobs run in the grading lanes' containers beside the episode's: each had its
    own memory bound, so together they could hold three times the sandbox's. Under one
    parent cgroup bounded as the sandbox, two commands in two containers that each hold 60%
    of it cannot both run (session 17)."""
    hold = (f"python -c 'b = b\"x\" * {int(0.6 * SANDBOX_MEMORY_LIMIT)}; "
            "import time; time.sleep(6)'")
    with _bounded_together("memory") as (box, area, path):
        before = box.backend.events()
        results: list[Any] = []
        first = threading.Thread(target=lambda: results.append(box.backend.exec(
            hold, cwd=REPO, timeout=30, env=path, cap=1 << 12, address_space=False)))
        first.start()
        threading.Event().wait(2.5)  # the first holds its share by now
        results.append(box.backend.exec(hold, cwd=GRADING, timeout=30, env=path, cap=1 << 12,
                                        grading=area, address_space=False))
        first.join()
        assert sorted(r.exit_code for r in results)[-1] == 137, results
        assert box.backend.events().oom_kills > before.oom_kills


def test_the_sandbox_cpu_bound_holds_for_all_its_containers_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each container had its own CPU bound (``nano_cpus``), so the episode's container and
    a grading lane's, busy side by side, used twice the sandbox's CPU (session 18: 3.04 CPU
    seconds in 3 s under half a core). Bounded to half a core, two busy loops in two
    containers get half a core between them."""
    from drift_gym.sandbox import docker as backend

    monkeypatch.setattr(backend, "CPUS", 0.5)
    spin = ("python -c 'import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
            "print(time.process_time())'")
    with _bounded_together("cpu") as (box, area, path):
        results: list[Any] = []
        runs = [threading.Thread(target=lambda where=where: results.append(box.backend.exec(
            spin, timeout=30, env=path, cap=1 << 10, **where)))
            for where in ({"cwd": REPO}, {"cwd": GRADING, "grading": area})]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert [r.exit_code for r in results] == [0, 0], results
        used = sum(float(r.stdout.split()[-1]) for r in results)
        # together: 0.5 core for 3 s, 1.5 s; each alone: 3 s; unbounded (two cores): 6 s
        assert used < 2.2, f"{used:.2f} CPU seconds in 3 s under a bound of half a core"
