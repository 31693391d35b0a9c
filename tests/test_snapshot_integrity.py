"""The host's snapshot of the agent's repo must not be steerable by what the agent puts in
the tree: a file git cannot take would end the step as an infrastructure error (no reward,
no penalty), and a file that changes how git reads the tree could hide added lines."""

from __future__ import annotations

import os


def test_in_tree_attributes_do_not_change_how_git_reads_the_tree(history):
    base = history.snapshot("base")
    work = history.work_tree
    (work / ".gitattributes").write_text("*.txt working-tree-encoding=UTF-16\n"
                                         "*.py -diff\nlib/* binary\n")
    (work / "notes.txt").write_bytes(b"\xff")  # not UTF-16: git add would fail on it
    (work / "lib").mkdir()
    (work / "mod.py").write_text("print('added')\n")
    (work / "lib" / "more.py").write_text("print('also added')\n")
    head = history.snapshot("step")
    diff = history.diff(base, head)
    assert "+print('added')" in diff and "+print('also added')" in diff
    assert "Binary files" not in diff
    assert ("A", "notes.txt") in history.changed_files(base, head)


def test_the_survey_names_a_nested_repository_and_nothing_else(tmp_path):
    from drift_gym.sandbox.grading_area import survey

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / ".git").mkdir()  # the top's own: git never adds it, snapshots are unaffected
    (repo / "pkg" / ".git").write_text("not a gitdir line\n")  # git ignores it
    assert survey(repo).nested_repo is None
    (repo / "vendor" / "lib" / ".git").mkdir(parents=True)
    assert survey(repo).nested_repo == "vendor/lib"
    (repo / "vendor" / "lib" / ".git").rmdir()
    (repo / "vendor" / "lib" / ".git").write_text("gitdir: /elsewhere\n")
    assert survey(repo).nested_repo == "vendor/lib"


def test_the_survey_counts_the_pages_small_files_take(tmp_path):
    from drift_gym.sandbox.grading_area import PAGE, survey

    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(10):
        (repo / f"f{i}").write_text(str(i))
    (repo / "big").write_bytes(b"x" * (PAGE + 1))
    assert survey(repo).bytes == 10 * PAGE + 2 * PAGE + PAGE  # files, then the one folder


def test_the_room_check_counts_the_index_that_empty_files_with_long_names_take(
        tmp_path, history):
    """Empty files take no pages, but git's index holds each one's path (written anew beside
    the old index at every commit): 80,000 empty files with 250-byte names passed the room
    check and then filled the quota at the commit, an infrastructure error."""
    from drift_gym.sandbox.grading_area import INDEX_ENTRY, shortfall, survey

    work = history.work_tree
    (work / "many").mkdir()
    for i in range(300):
        (work / "many" / (f"{i:06d}" + "x" * 200)).touch()
    tree = survey(work)
    assert tree.names == 300 * (INDEX_ENTRY + len("many/") + 206)
    history.snapshot("step")
    index = (history.git_dir / "index").stat().st_size
    assert index <= tree.names, "the survey counts less than the index takes"
    assert shortfall(work, used=0, quota=2 * tree.bytes + 2**20 + 2 * tree.names) is not None
    assert shortfall(work, used=0, quota=2 * tree.bytes + 2**20 + 3 * tree.names) is None


def test_tree_walks_survive_a_tree_deeper_than_the_stack(tmp_path):
    import os

    from drift_gym.sandbox.files import HostFiles
    from drift_gym.sandbox.grading_area import MAX_DEPTH, survey
    from drift_gym.sandbox.trees import remove_tree, walk

    top = tmp_path / "repo"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(1200):  # relative to a folder fd: no path grows past PATH_MAX
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    assert sum(1 for _ in walk(top)) == 1201
    (top / "a.txt").write_text("x")
    assert HostFiles().list_tree(top) == [top / "a.txt"]  # the list_files tool's walk
    (top / "a.txt").unlink()
    assert survey(top).too_deep is not None
    assert survey(top).too_deep.count("/") == MAX_DEPTH
    remove_tree(top / "d")
    assert list(top.iterdir()) == []


def _recorded(history, head):
    return sorted(history._git("ls-tree", "-r", "--name-only", head).splitlines())


def test_names_git_refuses_are_left_out_and_the_snapshot_succeeds(history):
    """Any spelling of ``.git`` and a symlinked ``.gitmodules`` made ``git add -A`` fail (an
    infrastructure error); they are now simply not recorded. ``git~1`` and ``.git.``, which
    only git's NTFS protection refuses, are ordinary names here and recorded."""
    work = history.work_tree
    history.snapshot("base")
    for rel in (".GIT/x.py", "sub/.Git/y.py", ".gIt", "git~1/w.py", ".git./q.py", "ok.py"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("x = 1\n")
    (work / ".gitmodules").symlink_to("ok.py")
    (work / "sub" / ".GitModules").symlink_to("../ok.py")
    head = history.snapshot("step")
    assert _recorded(history, head) == [".git./q.py", "git~1/w.py", "ok.py"]


def test_caches_are_never_recorded_whatever_the_gitignore_says(history):
    """A planted unchecked-hash ``.pyc`` is imported in place of its source, a sourceless
    ``zz.pyc`` or a native ``.so`` as a module of its own, all of them opaque to the diff;
    with no ``.gitignore`` at all they still stay out of the snapshot, and out of grading."""
    work = history.work_tree
    for rel in ("pkg/__init__.py", "pkg/__pycache__/__init__.cpython-311.pyc",
                ".pytest_cache/v/cache/lastfailed", "pkg/zz.pyc", "pkg/native.abi3.so",
                "old.pyo"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("x\n")
    assert _recorded(history, history.snapshot("step")) == ["pkg/__init__.py"]


def test_the_grading_copy_holds_exactly_what_the_snapshot_recorded(history, tmp_path):
    """Code git did not record -- hidden by the agent's own ``.gitignore``, inside a ``.git``
    folder at the top, in a folder the template ignores -- is not in the grading copy, so
    it cannot run unseen by the diff. Modes come from the index, not the work tree."""
    work = history.work_tree
    files = {".gitignore": "out/\n", "pkg/.gitignore": "hidden.py\n.gitignore\n",
             "pkg/__init__.py": "", "pkg/hidden.py": "KEY = 1\n", ".git/keys.py": "KEY = 2\n",
             "out/leak.py": "KEY = 3\n", "run.sh": "#!/bin/sh\n"}
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    os.chmod(work / "run.sh", 0o700)
    os.chmod(work / "pkg" / "__init__.py", 0o600)
    head = history.snapshot("step")
    target = tmp_path / "copy"
    target.mkdir()
    history.materialise(target)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == _recorded(history, head) == [".gitignore", "pkg/__init__.py", "run.sh"]
    assert (target / "run.sh").stat().st_mode & 0o111
    assert (target / "pkg" / "__init__.py").stat().st_mode & 0o044 == 0o044


def test_a_teammate_commit_records_its_own_files_only(history):
    """After a step that could not be graded, the tree still holds the agent's changes; a
    teammate's commit must not swallow them (they belong to the agent's next diff), nor fail
    on what the agent left (a nested repository without a commit), nor skip its own file
    where the agent's ``.gitignore`` names it."""
    work = history.work_tree
    (work / "app.py").write_text("A = 1\n")
    base = history.snapshot("base")
    (work / "app.py").write_text("A = 2\n")
    (work / ".gitignore").write_text("tests/\n")
    (work / "vendor" / ".git").mkdir(parents=True)
    (work / "vendor" / "notes.txt").write_text("x\n")
    (work / "tests").mkdir()
    (work / "tests" / "test_team.py").write_text("def test_x():\n    pass\n")
    teammate = history.snapshot("teammate", author="Ana", paths=["tests/test_team.py"])
    assert history.changed_files(base, teammate) == [("A", "tests/test_team.py")]
    empty = history.snapshot("message only", author="Ana", paths=())
    assert history.changed_files(teammate, empty) == []


def test_the_survey_refuses_a_path_longer_than_the_grading_copy_can_write(tmp_path):
    """Checked per file and per folder, so a tree deeper than the kernel's limit is caught
    at a folder the walk can still open."""
    from drift_gym.sandbox.grading_area import MAX_PATH_BYTES, shortfall, survey

    repo = tmp_path / "repo"
    folder = repo
    for i in range(12):
        folder = folder / f"d{i}".ljust(250, "x")
    folder.mkdir(parents=True)
    (folder / "f.txt").write_text("x")
    assert survey(repo).too_long is None  # 12 * 251 + 5 bytes: fits
    (folder / ("g" * 80)).write_text("x")
    assert survey(repo).too_long == str((folder / ("g" * 80)).relative_to(repo))
    (folder / ("g" * 80)).unlink()
    deeper = folder / "e".ljust(250, "x") / "f".ljust(250, "x")
    deeper.mkdir(parents=True)
    found = survey(repo).too_long
    assert found == str(deeper.parent.relative_to(repo)) and len(found) > MAX_PATH_BYTES
    assert "longer than" in shortfall(repo, used=0, quota=2**30)
