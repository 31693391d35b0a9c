"""``drift-gym``: list scenarios, evaluate agents on them, simulate users. One module per group
of commands; each registers its commands on the one Typer app (`common.app`)."""

from __future__ import annotations

import os
from importlib import import_module

import typer

from .common import app

for _group in ("run", "reports", "users", "ops"):  # each registers its commands, in this order
    import_module(f".{_group}", __name__)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"drift-gym {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")) -> None:
    """Gymnasium environments for goal drift in LLM coding agents."""


def main() -> None:
    """Console-script entry point: SIGTERM and SIGHUP clean up sandboxes like Ctrl-C does."""
    from ..sandbox.workspace import install_signal_handlers

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    install_signal_handlers()
    app()
