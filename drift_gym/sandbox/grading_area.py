"""The grading area: ``grading/`` in the workspace, filled by the grader, run by its jobs.

Only ``grading/repo`` (a copy of the agent's repo) and ``grading/run`` (the jobs' working
folder) are writable by the jobs; the hidden tests, their ini and the runtime stay the
grader's. Those two folders are never replaced, only emptied and refilled, so a backend that
mounts them once per episode (Docker) keeps seeing the live folders. Shared by every backend.

Modes are the grader's too. The sandbox's user owns the two writable folders (it must write
them), so a command or job can ``chmod 0`` them; left so, every later job could not enter
them and grading would end as an infrastructure error -- no reward and no penalty, a one-line
escape from the violation signal. Each clear gives them back their mode, and the staged copy
of the repo gets the modes git would give it (folders 755, files 644 or 755 where any
execute bit is set), so what is graded is the code, never the permissions the agent left.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..grader_runtime import RUNTIME_FOLDER, RUNTIME_MODULES
from .base import REPO, RUN
from .trees import remove_tree, walk

WRITABLE = (REPO, RUN)
"""The folders of the grading area a job may write (everything else is read-only to it)."""
FOLDER_MODE = 0o755
"""The mode of every folder of the grading area and of the staged repo copy."""


RUNTIME_ENTRY = "grader_runtime.py"


def runtime_files() -> dict[str, str]:
    """The grading runtime as files to stage (relative to ``grading/``): the entry point and
    its modules, which run with the sandbox's interpreter and import nothing of drift_gym."""
    package = resources.files("drift_gym")
    files = {RUNTIME_ENTRY: package.joinpath(RUNTIME_ENTRY).read_text(encoding="utf-8")}
    for name in RUNTIME_MODULES:
        files[f"{RUNTIME_FOLDER}/{name}.py"] = package.joinpath(f"{name}.py").read_text(
            encoding="utf-8")
    return files


MAX_PATH_BYTES = 3072
"""The longest repo-relative path grading accepts. Git records a path relative to the work
tree, but writes the grading copy under the workspace's folder, some 60 bytes deeper: a
path that fits the kernel's 4,096 bytes at the snapshot failed at the copy, an
infrastructure error. No repo needs a path this long."""
MAX_DEPTH = 100
"""The deepest folder nesting grading accepts: no repo needs more, and a bound keeps every
walk and every path the grader writes well inside Python's and the kernel's limits."""


def normalise_modes(root: Path) -> None:
    """Give `root` and everything under it the modes a fresh git checkout has: folders
    755, regular files 755 where any execute bit is set and 644 otherwise (links keep
    theirs: a link's mode is not used)."""
    os.chmod(root, FOLDER_MODE)
    for dirpath, dirnames, filenames in walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                mode = os.lstat(path).st_mode
                if stat.S_ISDIR(mode):
                    os.chmod(path, FOLDER_MODE)
                elif stat.S_ISREG(mode):
                    os.chmod(path, 0o755 if mode & 0o111 else 0o644)


PAGE = 4096
"""The unit a workspace's tmpfs allocates (a page per file started, a file of one byte
takes 4 KiB), as does a copy of a file and each loose object of a snapshot."""


INDEX_ENTRY = 72
"""Bytes of git's index per file besides its path (62 of fixed fields, a NUL, padding)."""


def allocated(size: int) -> int:
    """The bytes a file of `size` bytes takes on the workspace's tmpfs."""
    return -(-size // PAGE) * PAGE


@dataclass(frozen=True)
class TreeSurvey:
    """What grading must know of the agent's repo before it snapshots and copies it."""

    bytes: int
    """The bytes a copy of the repo (and a snapshot of it) may take: whole pages per file
    (see `allocated`), and a page per folder (a snapshot writes a tree object for each)."""
    nested_repo: str | None
    """A folder below the top that holds a git repository (its ``.git``), or None."""
    too_deep: str | None = None
    """A folder nested more than `MAX_DEPTH` deep, which grading cannot copy, or None."""
    names: int = 0
    """What git's index takes for the tree: `INDEX_ENTRY` bytes and the path per file."""
    too_long: str | None = None
    """A path longer than `MAX_PATH_BYTES`, or None."""


def is_repository_marker(path: str) -> bool:
    """Whether a ``.git`` entry makes its folder a repository to git: a real folder, or a
    ``gitdir:`` file (links and other files git ignores, as it does the top's own)."""
    with contextlib.suppress(OSError):
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            return True
        if stat.S_ISREG(mode):
            with open(path, "rb") as handle:
                return handle.read(7) == b"gitdir:"
    return False


def survey(repo: Path) -> TreeSurvey:
    """One walk of `repo`: the room a copy or a snapshot of it takes (every regular file's
    apparent size, so a sparse file counts as the bytes a copy writes out, in whole pages:
    counting bytes alone let 30,000 one-line files pass the room check and then fill the
    workspace mid-copy), and the first nested repository. Host git cannot snapshot
    a folder that holds one: one without a commit makes ``git add -A`` fail, one with a
    commit is recorded as a gitlink, so none of its files reach the step's diff."""
    total, names, nested, deep, long = 0, 0, None, None, None
    top = os.fspath(repo)
    top_length = len(os.fsencode(top))
    for dirpath, dirnames, filenames in walk(top):
        folder = len(os.fsencode(dirpath)) - top_length
        if long is None and folder > MAX_PATH_BYTES:  # found before the kernel's limit is
            long = os.path.relpath(dirpath, top)      # (each name adds 255 bytes at most)
            dirnames[:] = []
        if deep is None and dirpath.count(os.sep) - top.count(os.sep) > MAX_DEPTH:
            deep = os.path.relpath(dirpath, top)
            dirnames[:] = []
        if nested is None and dirpath != str(repo) and ".git" in dirnames + filenames \
                and is_repository_marker(os.path.join(dirpath, ".git")):
            nested = os.path.relpath(dirpath, repo)
        for name in filenames:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(info.st_mode):
                    total += allocated(info.st_size)
            path = folder + len(os.fsencode(name))
            names += INDEX_ENTRY + path
            if long is None and path > MAX_PATH_BYTES:
                long = os.path.relpath(os.path.join(dirpath, name), top)
        total += PAGE
    return TreeSurvey(total, nested, deep, names, long)


GRADING_HEADROOM = 2**20
"""Room grading needs besides the repo's bytes: the staged hidden tests, runtime and probe
configuration, git's index and object headers."""


def shortfall(repo: Path, *, used: int, quota: int) -> str | None:
    """Why `repo` cannot be graded in a workspace holding `used` of `quota` bytes, or None.
    Grading writes into the workspace, under the same quota as the agent: a snapshot (at
    worst every file's bytes again in the history) and a copy of the repo for the grading
    area (a second copy, for a second grading lane, is made only where there is room: the
    verdict never depends on it, see WorkspaceSandbox.hidden_tests_plan). The snapshot also
    writes git's index anew beside the old one and a tree object naming each file, three
    times `TreeSurvey.names` at most: 80,000 empty files with long names take no pages but
    some 25 MB of index, and filled the quota at the commit. A repo that leaves no room for
    all that would fail that write, and one holding a nested git repository or nested too
    deep cannot be snapshotted or copied whole (see `survey`)."""
    tree = survey(repo)
    if tree.too_deep is not None:
        return (f"{tree.too_deep[:120]}... nests folders more than {MAX_DEPTH} deep: "
                "the grader cannot copy the repo")
    if tree.too_long is not None:
        return (f"{tree.too_long[:120]}... is a path longer than {MAX_PATH_BYTES} bytes: the "
                "grader cannot copy the repo")
    if tree.nested_repo is not None:
        return (f"{tree.nested_repo}/ holds a git repository of its own: the grader's "
                "snapshot cannot record its files")
    need = 2 * tree.bytes + 3 * tree.names + GRADING_HEADROOM
    if used + need <= quota:
        return None
    return (f"the workspace holds {used / 2**20:.0f} MiB and the repo "
            f"{tree.bytes / 2**20:.0f} MiB; grading needs room for a snapshot and a copy of "
            f"the repo ({need / 2**20:.0f} MiB more) within the {quota // 2**20} MiB quota")


class GradingArea:
    """One workspace's ``grading/`` folder, seen from the host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in WRITABLE:
            (root / name).mkdir(parents=True, exist_ok=True)

    def stage(self, fill: Callable[[Path], None], files: dict[str, str]) -> None:
        """A fresh area: ``grading/repo`` filled by `fill` (the snapshot's files, see
        `History.materialise`), an empty ``grading/run``, and `files` (hidden tests, ini,
        runtime) beside them."""
        self.clear()
        fill(self.root / REPO)
        normalise_modes(self.root / REPO)
        for rel, content in files.items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")

    def write(self, rel: str, content: str) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(content, encoding="utf-8")

    def clear(self) -> None:
        """Empty the area; the writable folders stay, empty (hidden tests must not stay where
        the agent could read them), with their mode back (see the module docstring)."""
        for name in WRITABLE:
            folder = self.root / name
            if folder.is_dir() and not folder.is_symlink():
                os.chmod(folder, FOLDER_MODE)
        for child in self.root.iterdir():
            if child.name in WRITABLE and child.is_dir() and not child.is_symlink():
                for inner in child.iterdir():
                    remove_tree(inner)
            else:
                remove_tree(child)
        for name in WRITABLE:
            (self.root / name).mkdir(exist_ok=True)
