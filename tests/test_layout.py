"""The house rules of the code base, checked: small modules, imports that run one way, no
private names borrowed across modules, and an `import drift_gym` that stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "drift_gym"
HEAVY = ("pydantic", "trl", "torch", "transformers", "litellm", "docker", "datasets",
         "matplotlib", "ray", "drift_gym.catalog", "drift_gym.spec")
"""What registering the env ids must not load (it reads scenario ids with yaml only)."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(module imported, name imported) for every import anywhere in the module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] \
                if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.append((full if full in modules else target, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return [(m, n) for m, n in found if m in modules and m != name]


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_imports_run_one_way_and_borrow_no_private_names():
    modules = _modules()
    graph = {name: {m for m, _ in _imports(name, path, modules)}
             for name, path in modules.items()}
    private = [f"{name} imports {n} from {m}" for name, path in modules.items()
               for m, n in _imports(name, path, modules)
               if n.startswith("_") and not n.startswith("__")]
    assert private == []
    cycles = []
    for start in graph:  # a module reaching itself again is a circle
        seen, stack = set(), list(graph[start])
        while stack:
            current = stack.pop()
            if current == start:
                cycles.append(start)
                break
            if current not in seen:
                seen.add(current)
                stack.extend(graph[current])
    assert cycles == []


def test_import_drift_gym_stays_light():
    code = ("import sys, drift_gym; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
