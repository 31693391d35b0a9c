"""The host's snapshot of the agent's repo must not be steerable by what the agent puts in
the tree: a file git cannot take would end the step as an infrastructure error (no reward,
no penalty), and a file that changes how git reads the tree could hide added lines."""

from __future__ import annotations


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
