"""Result paths that cannot take the results — a file where a folder should be, a read-only or
forbidden place, a full disk — end the real CLI with one line naming the path and what to do;
what was written before stays intact, and ``--resume`` continues once there is room.

Read-only and full disks are real: a tiny tmpfs mounted for the test (skipped where mounting
is not allowed, i.e. not root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drift_gym.outputs import OutputError, ensure_folder, probe_folder, write_file

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
TINY = ("--agent", "oracle", "--scenarios", "customer_records.privacy", "--conditions",
        "baseline", "--max-steps", "1")
PAGE = 4096


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=600)


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The CLI's error line, after checking it is the only thing that went wrong."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    for needle in needles:
        assert needle in line, line
    return line


@contextmanager
def tmpfs(where: Path, *, pages: int = 16, read_only: bool = False) -> Iterator[Path]:
    where.mkdir()
    options = f"size={pages * PAGE}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def fill(disk: Path, *, leave_pages: int) -> Path:
    """Fill `disk` up to `leave_pages` free pages with one file; return the file."""
    filler = disk / "filler"
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize + (filler.stat().st_size if filler.exists() else 0)
    filler.write_bytes(b"\0" * (free - leave_pages * PAGE))
    stats = os.statvfs(disk)
    assert stats.f_bavail * stats.f_frsize == leave_pages * PAGE
    return filler


def test_errors_name_the_path_and_the_reason(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(OutputError, match=r"afile: it is a file, not a folder") as exc:
        ensure_folder(afile)
    assert "move that file away" in exc.value.advice and not exc.value.full
    with pytest.raises(OutputError, match=rf"{afile} is a file, not a folder"):
        ensure_folder(afile / "sub" / "deeper")
    with pytest.raises(OutputError, match="is a folder, not a file"):
        write_file(tmp_path, "x")
    with pytest.raises(OutputError, match="does not exist"):
        probe_folder(Path("/proc/drift_gym_nowhere/run"))
    write_file(tmp_path / "odd.txt", "caf\udcff")  # a lone surrogate cannot stop a write
    assert (tmp_path / "odd.txt").read_text(encoding="utf-8") == "caf\\udcff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "odd.txt"], "no temp left"


def test_write_file_on_a_full_disk_keeps_the_old_file(tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        write_file(disk / "summary.json", "old")
        fill(disk, leave_pages=0)
        with pytest.raises(OutputError, match="the disk is full") as exc:
            write_file(disk / "summary.json", "new" * PAGE)
        assert exc.value.full
        assert (disk / "summary.json").read_text() == "old"
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "summary.json"]


@pytest.mark.parametrize(("out", "needle"), [
    ("afile", "afile: it is a file, not a folder"),
    ("afile/sub", "afile is a file, not a folder"),
    ("/proc/drift_gym_nowhere/run", "/proc/drift_gym_nowhere/run: a folder on its path"),
])
def test_eval_out_that_cannot_be_a_folder_is_one_line(tmp_path, out, needle):
    (tmp_path / "afile").write_text("keep me")
    target = out if out.startswith("/") else str(tmp_path / out)
    done = cli("eval", *TINY, "--out", target, "--json")
    one_line_error(done, "--out: cannot write", needle)
    assert done.stdout == "" and (tmp_path / "afile").read_text() == "keep me"


def test_eval_on_a_read_only_disk(tmp_path):
    with tmpfs(tmp_path / "ro", read_only=True) as disk:
        done = cli("eval", *TINY, "--out", str(disk / "run"), "--json")
        one_line_error(done, f"{disk / 'run'}", "read-only", "choose a writable location")


def test_a_full_disk_mid_run_keeps_finished_episodes_and_resume_finishes(tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        out = disk / "run"
        filler = fill(disk, leave_pages=0)
        done = cli("eval", *TINY, "--seeds", "3", "--out", str(out), "--json")
        one_line_error(done, "manifest.json: the disk is full", "free some space")

        # room for the manifest and a page each of steps.jsonl and episodes.jsonl: a step
        # record is ~1.7 kB, so the third episode's runs out of space
        fill(disk, leave_pages=3)
        done = cli("eval", *TINY, "--seeds", "3", "--out", str(out), "--json")
        line = one_line_error(done, "steps.jsonl: the disk is full", "--resume",
                              "finished episodes in")
        kept = (out / "episodes.jsonl").read_text().splitlines()
        assert 1 <= len(kept) < 3 and f"the {len(kept)} finished episodes" in line
        steps = (out / "steps.jsonl").read_bytes()
        assert steps.endswith(b"\n") and steps.count(b"\n") == len(kept), "rolled back whole"
        assert [json.loads(x)["seed"] for x in kept] == list(range(len(kept)))

        filler.unlink()
        done = cli("eval", *TINY, "--seeds", "3", "--out", str(out), "--resume", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["episodes"] == 3
        episodes = (out / "episodes.jsonl").read_text().splitlines()
        assert episodes[:len(kept)] == kept and len(episodes) == 3
        assert sorted(json.loads(x)["seed"] for x in episodes) == [0, 1, 2]

        fill(disk, leave_pages=0)
        done = cli("report", str(out))
        one_line_error(done, "the disk is full", "eval results there are untouched")
        assert (out / "episodes.jsonl").read_text().splitlines() == episodes
        filler.unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        done = cli("report", str(out))
        one_line_error(done, "read-only")


def test_simulate_out_that_cannot_be_written_fails_before_and_after_the_run(tmp_path):
    (tmp_path / "afile").write_text("keep me")
    simulate = ("simulate", "--episodes", "1", "--json", "--out")
    one_line_error(cli(*simulate, str(tmp_path / "afile" / "out.json")),
                   "afile: it is a file, not a folder")
    one_line_error(cli(*simulate, str(tmp_path)), "it is a folder, not a file")
    with tmpfs(tmp_path / "ro", read_only=True) as disk:
        one_line_error(cli(*simulate, str(disk / "out.json")), "read-only")
    with tmpfs(tmp_path / "disk") as disk:
        fill(disk, leave_pages=0)
        done = cli(*simulate, str(disk / "out.json"))
        one_line_error(done, f"{disk / 'out.json'}: the disk is full")
        assert not (disk / "out.json").exists()
