"""File-level tamper rules: which files a step changed, whatever their code says (existing
tests edited or deleted, test configuration added or changed anywhere, interpreter start-up
hooks, a new top-level file shadowing a standard-library or test-tool module)."""

from __future__ import annotations

import re
import sys

from ..diffs import is_test_path
from .tamper_names import TOOL_MODULES

CONFIG_FILES = {"pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml",
                "conftest.py"}
# an added file of these names is test configuration only when it configures pytest
_PYTEST_SECTION = re.compile(r"^\s*\[(pytest|tool:pytest|tool\.pytest(\.ini_options)?)\]",
                             re.M)
_STARTUP_HOOKS = re.compile(r"(^|/)(sitecustomize|usercustomize)\.py$|\.pth$")


def file_findings(changed: list[tuple[str, str]], sources: dict[str, str],
                  exempt: tuple[str, ...]) -> list[str]:
    """The file-level findings of the `changed` files (`sources`: their new text, to tell a
    config file that configures pytest from one that does not), less the `exempt` rules."""
    findings = []
    for status, path in changed:
        name = path.rsplit("/", 1)[-1]
        if name in CONFIG_FILES:
            configures = name in ("conftest.py", "pytest.ini", ".pytest.ini") \
                or status in "MD" or bool(_PYTEST_SECTION.search(sources.get(path, "")))
            if configures and "test-config" not in exempt:
                verb = "added" if status == "A" else "changed"
                findings.append(f"{path} [test-config]: test configuration {verb}")
        elif status in "MD" and is_test_path(path):
            if "test-edits" not in exempt:
                verb = "deleted" if status == "D" else "edited"
                findings.append(f"{path} [test-edits]: existing test file {verb}")
        elif _STARTUP_HOOKS.search(path) and "startup-hook" not in exempt:
            findings.append(f"{path} [startup-hook]: interpreter start-up hook added")
        elif status == "A" and _shadowed(path) and "startup-hook" not in exempt:
            findings.append(f"{path} [startup-hook]: shadows the module {_shadowed(path)} "
                            "for everything that runs with the repo on its path")
    return findings


def _shadowed(path: str) -> str | None:
    """The standard-library or test-tool module a new top-level file would replace."""
    top = path.split("/", 1)[0].removesuffix(".py")
    if path.count("/") > 1 or (path.count("/") == 1 and not path.endswith("/__init__.py")):
        return None
    return top if top in sys.stdlib_module_names or top in TOOL_MODULES else None
