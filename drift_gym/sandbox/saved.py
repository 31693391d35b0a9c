"""Saved states of a reusable sandbox: its repo and history at one moment, kept on the host
inside the workspace (outside every folder a command sees) and materialised again in a few
milliseconds.

GRPO grades many completions of one training row, each from the row's start state. Rebuilding
that state (render the repo, write it, replay reference steps, one git snapshot each) costs
tens of milliseconds; copying a saved one back costs a few. It is never a shared mutable
tree: every restore writes each repo file anew, with an inode of its own, so whatever a
completion does to its files -- a tool's write, ``echo >> file`` appending in place, a
``chmod`` -- reaches only its own copy, never the saved state nor the next completion. The
one thing shared is git's loose objects, by hard link: host git writes each once and never
opens it for writing again (no automatic gc, see history.py), and no command can reach the
history folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

from .paths import CACHES

SAVED = "saved"
"""The folder of the workspace root that holds saved states (never shown to a command)."""
_REPO = "repo"
_GIT = "git"


def not_copied(folder: str, names: list[str]) -> set[str]:
    """Caches, and anything that is not a file, folder or symlink (a FIFO would block the
    copy): a saved state leaves them out, as a snapshot does."""
    skipped = set(CACHES)
    for name in names:
        with contextlib.suppress(OSError):
            if stat.S_IFMT(os.lstat(os.path.join(folder, name)).st_mode) not in (
                    stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                skipped.add(name)
    return skipped


def _is_loose_object(path: str) -> bool:
    """Whether `path` is a loose object of a git folder (``objects/ab/cdef...``)."""
    folder, name = os.path.split(path)
    fan, objects = os.path.basename(folder), os.path.basename(os.path.dirname(folder))
    return (objects == "objects" and len(fan) == 2 and len(name) >= 38
            and all(c in "0123456789abcdef" for c in fan + name))


def _copy_history_file(src: str, dst: str) -> None:
    """A loose object is linked (written once, never rewritten); every other file of the
    history (refs, index, logs appended in place) is copied."""
    if _is_loose_object(src):
        os.link(src, dst)
    else:
        shutil.copyfile(src, dst)


def copy_history(src: Path, dst: Path) -> None:
    """A copy of the git folder `src` at `dst` (which must not exist), objects shared."""
    shutil.copytree(src, dst, symlinks=True, copy_function=_copy_history_file)


def copy_repo(src: Path, dst: Path) -> None:
    """Every file, folder and symlink of `src` copied into the folder `dst` (which exists:
    a backend may have mounted it), each file a new inode with its mode; caches and special
    files left out, as grading leaves them out."""
    shutil.copytree(src, dst, symlinks=True, ignore=not_copied, dirs_exist_ok=True,
                    copy_function=shutil.copy)


def save(root: Path, repo: Path, git_dir: Path, name: str) -> Path:
    """Keep `repo` and its history `git_dir` as ``<root>/saved/<name>``; its path."""
    saved = root / SAVED / name
    saved.mkdir(parents=True)
    (saved / _REPO).mkdir()
    copy_repo(repo, saved / _REPO)
    copy_history(git_dir, saved / _GIT)
    return saved


def restore(saved: Path, repo: Path, git_dir: Path) -> None:
    """Fill the empty folder `repo` and the absent `git_dir` from a saved state (the
    sandbox's wipe before it refuses a repo it could not empty, so nothing is copied over
    what the last completion left)."""
    copy_repo(saved / _REPO, repo)
    copy_history(saved / _GIT, git_dir)


MAX_SOURCES = 4096
"""Files `sources` reads from a saved repo, at most."""


def sources(saved: Path, roots: tuple[str, ...]) -> dict[str, str]:
    """The ``.py`` files of a saved state's repo as a warm grader's jobs name them under each
    of `roots` (the live repo and the grading copy, as the sandbox spells them), each with
    its content's SHA-256: the code a restored episode may keep, since it holds those very
    files (see WarmGrader.forget)."""
    found: dict[str, str] = {}
    top = saved / _REPO
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in CACHES]
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or os.path.islink(path) \
                    or len(found) >= MAX_SOURCES * len(roots):  # an entry per root
                continue
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            rel = os.path.relpath(path, top)
            found.update({f"{root}/{rel}": digest for root in roots})
    return found
