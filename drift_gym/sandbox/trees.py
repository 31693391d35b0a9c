"""Walking and removing folder trees on the host without recursion.

``os.walk``, ``shutil.copytree`` and ``shutil.rmtree`` recurse once per level (Python 3.11),
so a repo 1,000 folders deep -- one shell loop of the agent's -- raised RecursionError in every
host-side walk of the sandbox layer: the next command crashed the env and grading ended as an
infrastructure error. These use an explicit stack and have no such limit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def walk(top: str | Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` top-down without recursion: the same triples, links to folders
    listed among the folders and never entered, `dirnames` pruned in place as with os.walk,
    unreadable folders skipped."""
    stack = [os.fspath(top)]
    while stack:
        dirpath = stack.pop()
        dirnames: list[str] = []
        filenames: list[str] = []
        try:
            with os.scandir(dirpath) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirnames if is_dir else filenames).append(entry.name)
        except OSError:
            continue
        yield dirpath, dirnames, filenames
        for name in reversed(dirnames):
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                stack.append(path)


def remove_tree(path: Path) -> None:
    """Remove a file, a link (never what it points to) or a whole folder, errors ignored;
    bottom-up over `walk`."""
    if not (path.is_dir() and not path.is_symlink()):
        path.unlink(missing_ok=True)
        return
    folders = []
    for dirpath, dirnames, filenames in walk(path):
        folders.append(dirpath)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(dirpath, name))
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def clear_the_way(top: Path, rel: Path) -> None:
    """Make room for a regular file at `rel` below the folder `top`, as a checkout does: a
    link, file or pipe where one of its folders belongs, and a folder, link or pipe where
    the file belongs, are removed (never what a link points to); missing folders are made.
    `rel` is a plain relative path (see `paths.plain`)."""
    parts = rel.parts
    folder = top
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            remove_tree(folder)
        folder.mkdir(exist_ok=True)
    target = folder / parts[-1]
    if target.is_symlink() or (target.exists() and not target.is_file()):
        remove_tree(target)


def hand_over(uid: int | None, tops: list[Path]) -> None:
    """Give each folder of `tops` and everything in it to `uid` (links themselves, never
    what they point to), where the host is root and there is a uid to give them to."""
    if uid is None or os.geteuid() != 0:
        return
    for top in tops:
        if not top.is_dir():
            continue
        os.lchown(top, uid, uid)
        for dirpath, dirnames, filenames in walk(top):
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(dirpath, name), uid, uid)
