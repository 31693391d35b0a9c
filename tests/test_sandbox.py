import os
import shutil
import time
from pathlib import Path

import pytest

from drift_gym.sandbox import PathEscape, Sandbox
from drift_gym.sandbox.local import LocalSandbox, bwrap_available


def test_protocol_and_tier_is_named(sandbox):
    assert isinstance(sandbox, Sandbox)
    assert sandbox.isolation in ("bwrap", "subprocess-weak", "docker")
    assert sandbox.exec("echo $DRIFT_GYM_SANDBOX").stdout.strip() == sandbox.isolation


def test_file_tools_refuse_every_escape(sandbox, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    os.symlink(tmp_path, sandbox.repo / "link")
    for path in ["../x", "/etc/passwd", "a/../../x", "link/secret.txt", "link", "", "a\x00b"]:
        with pytest.raises(PathEscape):
            sandbox.read_file(path)
    with pytest.raises(PathEscape):
        sandbox.write_file("link/new.txt", "x")
    assert not (tmp_path / "new.txt").exists()
    # a sibling whose name shares the prefix is not inside (the startswith bug)
    sibling = Path(str(sandbox.repo) + "-evil")
    sibling.mkdir()
    os.symlink(sibling, sandbox.repo / "sib")
    with pytest.raises(PathEscape):
        sandbox.write_file("sib/x", "x")


def test_write_read_list(sandbox):
    sandbox.write_file("pkg/mod.py", "x = 1\n")
    assert sandbox.read_file("pkg/mod.py") == "x = 1\n"
    assert sandbox.list_files() == ["pkg/mod.py"]


def test_host_environment_is_not_visible(sandbox, monkeypatch):
    monkeypatch.setenv("DRIFT_GYM_TEST_SECRET", "hunter2")
    result = sandbox.exec("env")
    assert "hunter2" not in result.stdout
    assert "DRIFT_GYM_TEST_SECRET" not in result.stdout


def test_timeout_kills_the_whole_process_tree(sandbox):
    marker = sandbox.repo / "alive"
    start = time.monotonic()
    result = sandbox.exec("(sleep 3; touch alive) & (sleep 3; touch alive) & sleep 100",
                          timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert time.monotonic() - start < 10
    time.sleep(3.5)
    assert not marker.exists(), "a background child survived the kill"


def test_background_children_die_when_the_command_ends(sandbox):
    start = time.monotonic()
    result = sandbox.exec("(sleep 3; touch late) & echo started", timeout=20)
    assert result.stdout.strip() == "started"
    assert time.monotonic() - start < 5
    time.sleep(3.5)
    assert not (sandbox.repo / "late").exists()


def test_output_is_capped_and_marked(sandbox):
    result = sandbox.exec("head -c 50000000 /dev/zero | tr '\\0' 'a'", timeout=30)
    assert result.truncated
    assert len(result.stdout) < 2 * 1024 * 1024
    assert "bytes omitted" in result.stdout


def test_non_utf8_output_is_replaced(sandbox):
    result = sandbox.exec("printf 'ok \\377\\376 end'")
    assert result.stdout.startswith("ok ") and "\ufffd" in result.stdout


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_bwrap_writes_outside_repo_do_not_reach_the_host(tmp_path):
    with LocalSandbox(tier="bwrap") as box:
        target = tmp_path / "escaped"
        result = box.exec(f"echo x > {target}; echo y > /usr/evil; echo z > ../grading/ok")
        assert not target.exists()
        assert not Path("/usr/evil").exists()
        assert result.exit_code != 0 or not target.exists()
        connect = "import socket; socket.create_connection(('127.0.0.1', 22), 2)"
        net = box.exec(f'python -c "{connect}"')
        assert net.exit_code != 0
        assert "Network is unreachable" in net.stderr or "Errno" in net.stderr


def test_snapshots_and_diff(sandbox):
    sandbox.write_file("a.py", "x = 1\n")
    base = sandbox.snapshot("base")
    sandbox.write_file("a.py", "x = 2\n")
    sandbox.write_file("b.py", "y = 1\n")
    head = sandbox.snapshot("head")
    assert "+x = 2" in sandbox.diff(base, head)
    assert sorted(sandbox.changed_files(base, head)) == [("A", "b.py"), ("M", "a.py")]


def test_history_is_out_of_the_agents_reach(sandbox):
    sandbox.write_file("a.py", "x = 1\n")
    sandbox.snapshot("base")
    assert not (sandbox.repo / ".git").exists()
    sandbox.exec("mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > "
                 ".git/hooks/pre-commit && chmod +x .git/hooks/pre-commit")
    sandbox.write_file("a.py", "x = 2\n")
    sandbox.snapshot("next")
    assert not Path("/tmp/pwned").exists()


def test_close_removes_workspace():
    box = LocalSandbox(tier="subprocess")
    root = box.root
    box.close()
    assert not root.exists()


def test_the_staged_repo_has_git_modes_whatever_the_agent_left(tmp_path):
    """Grading sees the code, not the permissions: folders 755, files 644 or 755 (an
    execute bit is kept), the writable folders' own modes restored on every clear. The fill
    here copies the modes the agent left (git would not), which staging must undo."""
    from drift_gym.sandbox.grading_area import GradingArea

    repo = tmp_path / "repo"
    (repo / "pkg" / "locked").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / "pkg" / "locked" / "data.txt").write_text("x\n")
    (repo / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "pkg" / "mod.py", 0o600)
    os.chmod(repo / "run.sh", 0o700)
    os.chmod(repo / "pkg" / "locked", 0o700)
    os.chmod(repo / "pkg", 0o711)
    os.chmod(repo, 0o700)
    area = GradingArea(tmp_path / "grading")
    os.chmod(area.root / "run", 0)
    try:
        area.stage(lambda target: shutil.copytree(repo, target, dirs_exist_ok=True),
                   {"hidden.ini": "[pytest]\n"})
        staged = area.root / "repo"
        modes = {str(p.relative_to(staged)): p.stat().st_mode & 0o7777
                 for p in [staged, *staged.rglob("*")]}
        assert modes == {".": 0o755, "pkg": 0o755, "pkg/locked": 0o755, "pkg/mod.py": 0o644,
                         "pkg/locked/data.txt": 0o644, "run.sh": 0o755}
        assert (area.root / "run").stat().st_mode & 0o7777 == 0o755
    finally:
        for folder in (repo, repo / "pkg", repo / "pkg" / "locked"):
            os.chmod(folder, 0o755)


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_a_reset_gives_the_next_episode_its_folders_back():
    """The sandbox's uid owns the repo and temp folders, so an episode can chmod them; the
    next episode in the same (reused) sandbox starts with their first modes, empty."""
    with LocalSandbox(tier="bwrap") as box:
        folders = (box.repo, box.tmp)
        modes = [p.stat().st_mode & 0o7777 for p in folders]
        box.write_file("a.txt", "x")
        assert box.exec("echo y > $TMPDIR/t && chmod 0 . && echo done").exit_code == 0
        assert box.repo.stat().st_mode & 0o7777 == 0
        box.reset()
        assert [p.stat().st_mode & 0o7777 for p in folders] == modes
        assert [list(p.iterdir()) for p in folders] == [[], []]
        result = box.exec("echo z > b.txt && echo w > $TMPDIR/u && ls")
        assert (result.exit_code, result.stdout.split()) == (0, ["b.txt"])
