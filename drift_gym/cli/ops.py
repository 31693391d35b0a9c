"""`drift-gym cleanup` and `drift-gym sandbox build-image`: the sandboxes' own resources."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import (
    app,
    console,
    fail,
    sandbox_app,
)


@app.command("cleanup")
def cleanup(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed; remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove sandbox workspaces, cgroups and containers that killed runs left behind (their
    owner process is gone)."""
    from ..sandbox.registry import sweep_all

    found = sweep_all(dry_run=dry_run)
    if as_json:
        print(json.dumps({"dry_run": dry_run, "removed": [] if dry_run else
                          [str(f.path) for f in found],
                          "found": [{"path": str(f.path), "kind": f.kind} for f in found]}))
        return
    verb = "would remove" if dry_run else "removed"
    for item in found:
        console.print(f"{verb} {item.kind} {item.path}", soft_wrap=True)
    console.print(f"{len(found)} left-over item(s) {verb}" if found
                  else "nothing left behind by earlier runs")


@sandbox_app.command("build-image")
def build_image(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the Docker backend's image from this host's interpreter, libraries and tools
    (no registry), and remove older ones; `--sandbox docker` builds it on first use too.
    Python distributions besides pytest: DRIFT_GYM_SANDBOX_PACKAGES=name,name."""
    from ..sandbox import SandboxError
    from ..sandbox import docker as docker_backend
    from ..sandbox.image import build

    if (reason := docker_backend.unavailable()) is not None:
        fail(reason)
    try:
        built = build(docker_backend.client(), prune=True)
    except (SandboxError, OSError) as exc:
        fail(f"could not build the sandbox image: {exc}")
    if as_json:
        print(json.dumps({"tag": built.tag, "seconds": round(built.seconds, 2),
                          "tar_bytes": built.tar_bytes, "files": built.files}))
        return
    console.print(f"built {built.tag}: {built.files} files, {built.tar_bytes / 2**20:.0f} MiB, "
                  f"{built.seconds:.1f} s")
