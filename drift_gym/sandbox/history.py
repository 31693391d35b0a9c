"""The repo's git history, kept *outside* the repo (``<workspace>/git``) and run on the host.

The agent can neither rewrite history nor plant hooks or config that host-side git would run:
hooks, fsmonitor, signing and system/global config are all switched off, and the commit dates
are fixed so the same episode gives the same ids. No automatic ``gc`` either: loose objects
are never rewritten, so a copied history may share them (see `copy_history`). Shared by every
backend.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .base import SandboxError
from .paths import CACHES

GIT_DATE = "2025-01-01T00:00:00+0000"
NEUTRAL_ATTRIBUTES = "* !text !crlf !eol !working-tree-encoding !filter !ident !diff\n"
"""The grader's own attributes (``info/attributes``, which take precedence over every
``.gitattributes`` in the tree): the agent's attribute files must not decide how host git
reads the work tree. A ``working-tree-encoding`` git cannot decode makes ``git add`` fail
(an infrastructure error: no reward, no penalty), and ``-diff`` or ``binary`` would turn the
step's added lines into "Binary files differ", out of sight of the static rules. Unspecified,
every file is stored as its bytes and diffed as text unless git sees binary content."""
COMPILED = (".pyc", ".pyo", ".so", ".pyd")
"""What Python imports as a compiled module: bytecode, and native extensions (every
``importlib.machinery.EXTENSION_SUFFIXES`` entry ends in one of these)."""
UNRECORDED = (":(exclude,icase,glob)**/.git", ":(exclude,icase,glob)**/.git/**",
              ":(exclude,icase,glob)**/.gitmodules",
              *(f":(exclude,glob)**/{cache}/**" for cache in CACHES),
              *(f":(exclude,glob)**/*{suffix}" for suffix in COMPILED))
"""Names a snapshot leaves out, as pathspecs. Caches, whatever the tree's ``.gitignore``
says: a planted ``__pycache__/m.cpython-311.pyc`` of the unchecked-hash kind is imported in
place of its source, which is all the diff would show. Compiled modules anywhere (a
sourceless ``pkg/zz.pyc``, a native ``.so``) for the same reason: code that runs, which the
diff, the static and tamper rules and the judge see only as "Binary files differ". And the
paths git refuses to record, through any spelling of ``.git`` (``.GIT/x.py``) or a symlinked
``.gitmodules``: one of them made ``git add -A`` fail, a one-command infrastructure error.
Left out, they are simply not part of the commit, and so not graded either (see
`History.materialise`). Git's NTFS and HFS protections are off: this history is only ever
read on this host, where ``git~1`` or ``.git.`` are ordinary names, and refusing them was
the same infrastructure error."""


class History:
    """Snapshots of one work tree, in a git directory beside it."""

    def __init__(self, git_dir: Path, work_tree: Path, *, home: Path) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.home = home
        self._compared: tuple[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]] | None \
            = None

    def init(self) -> None:
        self._git("init", "-q", "-b", "main", "--template=")  # no sample hooks to copy
        info = self.git_dir / "info"
        info.mkdir(exist_ok=True)
        (info / "attributes").write_text(NEUTRAL_ATTRIBUTES, encoding="utf-8")

    def _git(self, *args: str, author: str | None = None) -> str:
        env = {
            "GIT_DIR": str(self.git_dir), "GIT_WORK_TREE": str(self.work_tree),
            "GIT_AUTHOR_NAME": "drift-gym", "GIT_AUTHOR_EMAIL": "drift-gym@localhost",
            "GIT_COMMITTER_NAME": "drift-gym", "GIT_COMMITTER_EMAIL": "drift-gym@localhost",
            "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(self.home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        if author:
            env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = author
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
             "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", "-c", "gc.auto=0",
             "-c", "core.protectNTFS=false", "-c", "core.protectHFS=false",
             *args],
            cwd=self.work_tree, env=env, capture_output=True, timeout=60,
        )
        if done.returncode != 0:
            raise SandboxError(f"git {args[0]} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode("utf-8", errors="replace")

    def snapshot(self, label: str, *, author: str | None = None,
                 paths: Sequence[str] | None = None) -> str:
        """Commit the work tree, or only `paths` (literal repo-relative paths, recorded even
        where an agent's ``.gitignore`` names them): a teammate's commit records its own files
        and leaves whatever else is in the tree -- the agent's changes of a step that could
        not be graded -- for the agent's next diff, where they belong."""
        if paths is None:
            self._git("add", "-A", "--", ".", *UNRECORDED)
        elif paths:
            self._git("add", "-A", "--force", "--", *(f":(literal){path}" for path in paths))
        self._git("commit", "-q", "--allow-empty", "--no-verify", "-m", label, author=author)
        return self._head()

    def materialise(self, target: Path) -> None:
        """Write the files of the last snapshot (git's index, which equals it) into the
        empty folder `target`. Grading runs on this copy, so what is graded is exactly what
        the step's diff, the static and tamper rules and the judge see: a file git did not
        record (hidden by an agent's ``.gitignore``, put in a folder the template ignores,
        or inside a ``.git`` folder) is not run either."""
        self._git("checkout-index", "-a", "-f", f"--prefix={target}/")

    def _head(self) -> str:
        """The id just committed, read from the branch's ref file where git left it there
        (one git process less per snapshot, which every graded step and reset pays); git
        itself answers when the ref is packed or HEAD is not a branch."""
        head = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref: refs/heads/"):
            ref = self.git_dir / head[len("ref: "):]
            with contextlib.suppress(OSError):
                commit = ref.read_text(encoding="utf-8").strip()
                if len(commit) == 40 and all(c in "0123456789abcdef" for c in commit):
                    return commit
        return self._git("rev-parse", "HEAD").strip()

    def log(self, limit: int) -> str:
        return self._git("log", f"-{max(1, limit)}", "--no-color", "--format=commit %h%n"
                         "Author: %an%n%n%w(0,4,4)%B")

    def diff(self, base: str, head: str) -> str:
        return self._compare(base, head)[0]

    def changed_files(self, base: str, head: str) -> list[tuple[str, str]]:
        """(status letter, path) of every file that differs between two snapshots (renames
        as a deletion and an addition)."""
        return list(self._compare(base, head)[1])

    def _compare(self, base: str, head: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The unified diff and the changed files of two snapshots, from one git process
        (``--raw -p``: the raw lines, then the very patch a plain ``git diff`` prints) and
        kept for the pair: a graded step asks for both, and commit ids name fixed trees.
        Where git paired a rename or copy, the file list is asked of git without rename
        detection, as before."""
        if self._compared is not None and self._compared[0] == (base, head):
            return self._compared[1]
        out = self._git("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-U3",
                        "--raw", "-p", base, head)
        raw, _, patch = out.partition("\n\n") if out.startswith(":") else ("", "", out)
        changed = []
        for line in raw.splitlines():
            meta, _, path = line.partition("\t")
            changed.append((meta.split()[-1][0], path))
        if any(status in "RC" for status, _ in changed):
            names = self._git("diff", "--name-status", "--no-renames", base, head)
            changed = [(line[0], line.split("\t", 1)[1]) for line in names.splitlines()
                       if "\t" in line]
        result = (patch, tuple(changed))
        self._compared = ((base, head), result)
        return result
