"""The Docker backend's image, built on the host from the host's own files, with no registry.

The image is a root filesystem holding what sandboxed commands use, at the paths they have on
the host: a shell and the usual command-line tools, the interpreter drift_gym runs on (base
installation and virtualenv, so ``python`` is the same one bubblewrap shows), only the Python
distributions the graded repos need (pytest and its requirements, plus any named), and the
shared libraries all of these load. It is written as one tar stream and handed to the
engine's ``import`` (what ``docker import`` does), so nothing is downloaded.

Its tag carries a key over the inputs (interpreter, distributions and their versions, the
tools' files), so a changed host gets a new image and a warm one is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

REPOSITORY = "drift-gym-sandbox"
FORMAT = 5
"""Bumped whenever the image layout changes, so old images are not reused."""
PACKAGES = ("pytest",)
"""The Python distributions graded repos import (their requirements are added); more come
from ``DRIFT_GYM_SANDBOX_PACKAGES`` (comma-separated, e.g. for a family of your own)."""
COMMANDS = (
    # GNU coreutils
    "[", "arch", "b2sum", "base32", "base64", "basename", "basenc", "cat", "chgrp", "chmod",
    "chown", "cksum", "comm", "cp", "csplit", "cut", "date", "dd", "df", "dir", "dircolors",
    "dirname", "du", "echo", "env", "expand", "expr", "factor", "false", "fmt", "fold",
    "groups", "head", "hostid", "id", "install", "join", "link", "ln", "logname", "ls",
    "md5sum", "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nice", "nl", "nohup", "nproc",
    "numfmt", "od", "paste", "pathchk", "pr", "printenv", "printf", "ptx", "pwd", "readlink",
    "realpath", "rm", "rmdir", "seq", "sha1sum", "sha224sum", "sha256sum", "sha384sum",
    "sha512sum", "shred", "shuf", "sleep", "sort", "split", "stat", "stdbuf", "stty", "sum",
    "sync", "tac", "tail", "tee", "test", "timeout", "touch", "tr", "true", "truncate",
    "tsort", "tty", "uname", "unexpand", "uniq", "unlink", "vdir", "wc", "whoami", "yes",
    # shells, text and file tools
    "sh", "dash", "bash", "grep", "egrep", "fgrep", "sed", "awk", "find", "xargs", "diff",
    "diff3", "sdiff", "cmp", "patch", "tar", "gzip", "gunzip", "zcat", "less", "more", "file",
    "which", "getopt", "rev", "flock", "setsid", "prlimit", "git", "hostname", "getconf",
    "tput", "clear",
    # processes
    "ps", "kill", "pgrep", "pkill", "free", "uptime", "top", "ipcrm", "ipcs",
)
C_RUNTIME = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
             "libresolv.so.2", "libgcc_s.so.1")
"""The C library's parts and ``libgcc_s`` (which glibc loads when a thread exits), all of
them whether or not the image's tools load them: a harness binary mounted into the container
at run time (OpenCode's) may link or load any of them."""
SEARCH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
STDLIB_SKIPPED = frozenset({"site-packages", "test", "idlelib", "tkinter", "turtledemo",
                            "ensurepip", "lib2to3", "pydoc_data"})
SANDBOX_DIRS = ("sandbox", "sandbox/repo", "sandbox/grading", "sandbox/grading/repo",
                "sandbox/grading/run", "sandbox/control")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
_LDD_PATH = re.compile(r"(/\S+)")


@dataclass
class Plan:
    """The image's content: regular files (path in the image -> host source), symlinks and
    folders (path -> mode), every path absolute."""

    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def add_file(self, path: str, source: Path | None = None) -> None:
        """A file at `path` (its folders' symlinks resolved, so the tree has one spelling),
        its content read through any symlinks of `source`."""
        where = canonical(path)
        if where not in self.links:
            self.files[where] = Path(os.path.realpath(source or path))

    def add_tree(self, top: Path, skip: frozenset[str] = frozenset()) -> None:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in skip]
            for name in filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
                entry = Path(dirpath, name)
                if entry.is_symlink():
                    self.links[canonical(str(entry))] = os.readlink(entry)
                elif entry.is_file():
                    self.add_file(str(entry))


IMAGE_TMP = "/opt/drift-gym/host-tmp"
"""Where the image keeps what it needs from the host's temp folder (a checkout cloned under
``/tmp``, its virtualenv): a container's ``/tmp`` is a scratch tmpfs that hides the image's."""


def image_path(path: str) -> str:
    """Where a host path lives inside the image (and so in every container)."""
    if path == "/tmp" or path.startswith("/tmp/"):  # whatever TMPDIR says: the tmpfs is /tmp
        return IMAGE_TMP + path[len("/tmp"):]
    return path


def canonical(path: str) -> str:
    """`path` with the symlinks of its folders resolved (``/lib64/x`` -> ``/usr/lib64/x``),
    as the image spells it (see `image_path`)."""
    return image_path(os.path.join(os.path.realpath(os.path.dirname(path)),
                                   os.path.basename(path)))


def distributions(names: Iterable[str]) -> list[metadata.Distribution]:
    """The named distributions and everything they require (markers evaluated here)."""
    from packaging.requirements import Requirement

    todo, seen, found = list(names), set(), []
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(dist)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(found, key=lambda d: d.metadata["Name"].lower())


def commands() -> dict[str, Path]:
    """The tools found on the host: name -> host path."""
    found = {}
    for name in COMMANDS:
        path = shutil.which(name, path=SEARCH)
        if path:
            found[name] = Path(path)
    return found


def packages() -> tuple[str, ...]:
    """The distributions the image holds besides the interpreter's standard library."""
    extra = os.environ.get("DRIFT_GYM_SANDBOX_PACKAGES", "")
    return (*PACKAGES, *(name.strip() for name in extra.split(",") if name.strip()))


def key(names: tuple[str, ...]) -> str:
    """A hash of what the image is built from: cheap to compute, changes with the host."""
    parts: list[Any] = [FORMAT, sys.version, os.path.realpath(sys.executable), sys.prefix,
                        sys.base_prefix]
    parts += [(d.metadata["Name"], d.version) for d in distributions(names)]
    for name, path in sorted(commands().items()):
        with contextlib.suppress(OSError):
            info = path.stat()
            parts.append((name, str(path), info.st_size, info.st_mtime_ns))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def tag() -> str:
    """The image's name on this host."""
    return _tag(packages())


@lru_cache(maxsize=8)
def _tag(names: tuple[str, ...]) -> str:
    return f"{REPOSITORY}:{key(names)}"


def _libraries(binaries: Iterable[Path]) -> set[str]:
    """Every shared library the binaries load (their ``ldd`` closure, loader included)."""
    found: set[str] = set()
    for binary in binaries:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True,
                                  timeout=30)
            for line in done.stdout.splitlines():
                match = _LDD_PATH.search(line.split("=>")[-1])
                if match and os.path.exists(match.group(1)):
                    found.add(match.group(1))
    return found


def _is_elf(path: Path) -> bool:
    with contextlib.suppress(OSError), path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"
    return False


def _interpreter(plan: Plan) -> None:
    """The base installation (without its site-packages) and the virtualenv's skeleton."""
    real = Path(os.path.realpath(sys.executable))
    plan.add_file(str(real))
    for folder in {Path(sys.base_prefix) / "bin", Path(sys.executable).parent}:
        for name in ("python", "python3", f"python3.{sys.version_info.minor}"):
            entry = folder / name
            if entry.is_symlink():
                plan.links[canonical(str(entry))] = os.readlink(entry)
    libdir = Path(sysconfig.get_config_var("LIBDIR") or Path(sys.base_prefix) / "lib")
    for entry in libdir.glob("libpython*.so*"):
        if entry.is_symlink():
            plan.links[canonical(str(entry))] = os.readlink(entry)
        elif entry.is_file():
            plan.add_file(str(entry))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    plan.add_tree(stdlib, skip=STDLIB_SKIPPED | {p.name for p in stdlib.glob("config-*")})
    plan.dirs[canonical(str(stdlib / "site-packages"))] = 0o755
    if sys.prefix != sys.base_prefix:
        plan.add_file(str(Path(sys.prefix) / "pyvenv.cfg"))
        for link in (Path(sys.prefix) / "lib64",):
            if link.is_symlink():
                plan.links[canonical(str(link))] = os.readlink(link)


def _site_packages(plan: Plan) -> None:
    """The files of the chosen distributions (modules, metadata, entry-point scripts)."""
    for dist in distributions(packages()):
        for item in dist.files or []:
            source = Path(str(dist.locate_file(item))).resolve()
            if source.is_file():
                plan.add_file(str(source))


def _system(plan: Plan) -> None:
    for path in commands().values():
        plan.add_file(canonical(str(path)), path)
    for top in ("bin", "lib", "lib64", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            plan.links[f"/{top}"] = os.readlink(host)
    for etc in ("/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/localtime"):
        if os.path.isfile(etc):
            plan.add_file(etc)
    plan.texts["/etc/passwd"] = PASSWD
    plan.texts["/etc/group"] = GROUP


def plan() -> Plan:
    """Everything the image holds."""
    content = Plan()
    _system(content)
    _interpreter(content)
    _site_packages(content)
    elves = [source for source in content.files.values() if _is_elf(source)]
    libraries = _libraries(elves)
    for folder in {os.path.dirname(lib) for lib in libraries
                   if os.path.basename(lib) == C_RUNTIME[0]}:
        libraries |= {path for name in C_RUNTIME if os.path.exists(path := f"{folder}/{name}")}
    for library in sorted(libraries):
        content.add_file(library)
    for folder in SANDBOX_DIRS + ("proc", "dev", "sys", "run", "etc", "root"):
        content.dirs[f"/{folder}"] = 0o755
    content.dirs["/tmp"] = 0o1777
    return content


def _folders(paths: Iterable[str]) -> Iterator[str]:
    """Every folder above the given paths (they are created 0755, so any uid can reach the
    interpreter even under ``/root``)."""
    seen = set()
    for path in paths:
        for parent in Path(path).parents:
            text = str(parent)
            if text != "/" and text not in seen:
                seen.add(text)
                yield text


def write_tar(content: Plan, target: Path) -> int:
    """Write the root filesystem as a tar file; return its size in bytes."""
    every = [*content.files, *content.links, *content.dirs, *content.texts]
    folders = sorted(set(_folders(every)) | set(content.dirs), key=lambda p: p.count("/"))
    with tarfile.open(target, "w") as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, content.dirs.get(folder, 0o755)
            tar.addfile(info)
        for path, link in sorted(content.links.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, image_path(link), 0o777
            tar.addfile(info)
        for path, source in sorted(content.files.items()):
            info = tar.gettarinfo(str(source), arcname=path.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode &= 0o755  # nothing writable by others, no setuid bits
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        for path, text in sorted(content.texts.items()):
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return target.stat().st_size


@dataclass(frozen=True)
class Built:
    """An image made by `build`."""

    tag: str
    seconds: float
    tar_bytes: int
    files: int


def build(client: Any, *, prune: bool = False) -> Built:
    """Build the image (whatever exists) and tag it. `prune` removes the other
    drift-gym-sandbox tags no container uses (only when asked: another checkout on the same
    engine may be using its own)."""
    started = time.monotonic()
    wanted = tag()
    content = plan()
    with tempfile.TemporaryDirectory(prefix="drift_gym_image_") as folder:
        archive = Path(folder) / "rootfs.tar"
        size = write_tar(content, archive)
        repository, _, version = wanted.partition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=version)
    for image in client.images.list(name=REPOSITORY) if prune else []:
        for old in image.tags:
            if old != wanted:
                with contextlib.suppress(Exception):
                    client.images.remove(old)
    return Built(wanted, time.monotonic() - started, size, len(content.files))


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build per host at a time (parallel episodes would otherwise all build it)."""
    path = Path(tempfile.gettempdir()) / "drift_gym_image.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(client: Any) -> str:
    """The image's tag, built first when the engine does not have it."""
    from docker.errors import ImageNotFound

    wanted = tag()
    with _build_lock():
        try:
            client.images.get(wanted)
        except ImageNotFound:
            build(client)
    return wanted
