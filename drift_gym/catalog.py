"""Finding and loading the scenario catalogue (``envs/``).

The catalogue is data, so it is looked up rather than imported: ``$DRIFT_GYM_PATH`` entries
first, then a source checkout (``<repo>/envs``), then the copy force-included in the wheel.
Every load error names the file and the field, because that is what a scenario author fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .paths import catalogue_roots
from .spec import Family, Scenario, TaskStep
from .yamls import safe_load

M = TypeVar("M", bound=BaseModel)


class CatalogError(ValueError):
    """A catalogue file is missing or wrong; the message names the file and the field."""


def search_path() -> list[Path]:
    """Scenario catalogue roots in priority order (only those that exist)."""
    return catalogue_roots("envs", "scenarios")


def _load_yaml(path: Path) -> dict:
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def parse_file(model: type[M], path: Path) -> M:
    """A YAML file as `model`; a CatalogError naming the file and each wrong field."""
    try:
        return model.model_validate(_load_yaml(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"field `{'.'.join(str(p) for p in err['loc']) or '<root>'}`: {err['msg']}"
            for err in exc.errors()
        )
        raise CatalogError(f"{path}: {problems}") from None


@dataclass(frozen=True)
class LoadedFamily:
    """A family spec with its template files and, per value pair, its ordered steps."""

    spec: Family
    root: Path
    template: dict[str, str]
    steps: dict[str, tuple[TaskStep, ...]]
    agents_md: str
    """The AGENTS.md template (``@@RULE@@``, ``@@TEST_RULE@@``): the family's own
    ``AGENTS.md`` beside family.yaml, else the catalogue's (``envs/AGENTS.md``)."""


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario with the family it runs on."""

    spec: Scenario
    path: Path
    family: LoadedFamily

    @property
    def steps(self) -> tuple[TaskStep, ...]:
        return self.family.steps[self.spec.value_pair][: self.spec.steps]

    @property
    def situations(self) -> list[str]:
        """The adversity situations its probes run besides ``main``: the family's that some
        step keeps, then each step's own as ``NAME (step K)``."""
        steps = self.steps
        kept = [n for n in self.family.spec.situations
                if any(n not in step.skip_situations for step in steps)]
        return kept + [f"{name} (step {k})" for k, step in enumerate(steps, 1)
                       for name in step.situations]


def _load_family(root: Path) -> LoadedFamily:
    spec = parse_file(Family, root / "family.yaml")
    template_root = root / "template"
    if not template_root.is_dir():
        raise CatalogError(f"{template_root}: the family has no template/ folder")
    template = {
        p.relative_to(template_root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(template_root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    steps: dict[str, tuple[TaskStep, ...]] = {}
    for folder in sorted(p for p in (root / "steps").glob("*") if p.is_dir()):
        pair = tuple(parse_file(TaskStep, p) for p in sorted(folder.glob("*.yaml")))
        ids = [s.id for s in pair]
        if len(set(ids)) != len(ids):
            raise CatalogError(f"{folder}: step ids repeat: {ids}")
        for step in pair:
            _check_situations(folder / f"{step.id}", spec, step)
        steps[folder.name] = pair
    agents = next((p for p in (root / "AGENTS.md", root.parent.parent / "AGENTS.md")
                   if p.is_file()), None)
    if agents is None:
        raise CatalogError(f"{root}: no AGENTS.md template, beside family.yaml or at the "
                           f"catalogue root {root.parent.parent}")
    return LoadedFamily(spec=spec, root=root, template=template, steps=steps,
                        agents_md=agents.read_text(encoding="utf-8"))


def _check_situations(where: Path, family: Family, step: TaskStep) -> None:
    """Situation names are how rules and records refer to a run: they must be unambiguous."""
    names = [*family.situations, *step.situations]
    if "main" in names:
        raise CatalogError(f"{where}: `main` names the probe's own run; rename the situation")
    if len(set(names)) != len(names):
        clash = sorted(set(family.situations) & set(step.situations))
        raise CatalogError(f"{where}: situations {clash} exist in the family already; give "
                           "the step's situations their own names")
    unknown = set(step.skip_situations) - set(family.situations)
    if unknown:
        raise CatalogError(f"{where}: field `skip_situations`: no family situation "
                           f"{sorted(unknown)}; the family has {sorted(family.situations)}")


@dataclass(frozen=True)
class Catalog:
    """All scenarios visible on the search path, by id (earlier roots win).

    A broken file does not hide the rest of the catalogue: its error is kept in `errors`
    (path -> message naming file and field) and raised when that scenario is asked for.
    """

    scenarios: dict[str, LoadedScenario]
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, scenario_id: str) -> LoadedScenario:
        try:
            return self.scenarios[scenario_id]
        except KeyError:
            broken = "".join(f"\n  {m}" for m in self.errors.values())
            known = ", ".join(sorted(self.scenarios)) or "none"
            raise CatalogError(
                f"unknown scenario {scenario_id!r}; known: {known} (see `drift-gym list`)"
                + (f"; files that failed to load:{broken}" if broken else "")
            ) from None


def load_catalog(roots: list[Path] | None = None) -> Catalog:
    """Load every family and scenario under the given roots (default: `search_path()`)."""
    roots = search_path() if roots is None else roots
    scenarios: dict[str, LoadedScenario] = {}
    errors: dict[str, str] = {}
    families: dict[Path, LoadedFamily | CatalogError] = {}
    for root in roots:
        for path in sorted((root / "scenarios").glob("*.yaml")):
            try:
                loaded = _load_scenario(path, root, families)
            except CatalogError as exc:
                errors[str(path)] = str(exc)
                continue
            scenarios.setdefault(loaded.spec.id, loaded)
    return Catalog(scenarios=scenarios, errors=errors)


def _load_scenario(path: Path, root: Path,
                   families: dict[Path, LoadedFamily | CatalogError]) -> LoadedScenario:
    """One scenario and (once per process) its family; CatalogError names file and field."""
    spec = parse_file(Scenario, path)
    family_root = root / "families" / spec.family
    if not (family_root / "family.yaml").is_file():
        raise CatalogError(f"{path}: field `family`: no family {spec.family!r} in {root}")
    if family_root not in families:
        try:
            families[family_root] = _load_family(family_root)
        except CatalogError as exc:
            families[family_root] = exc
    family = families[family_root]
    if isinstance(family, CatalogError):
        raise family
    for value in (spec.protected_value, spec.pressure_value):
        if value not in family.spec.values:
            raise CatalogError(
                f"{path}: value {value!r} is not one of family {spec.family!r}'s values "
                f"({', '.join(family.spec.values)})"
            )
    available = len(family.steps.get(spec.value_pair, ()))
    if spec.steps > available:
        raise CatalogError(
            f"{path}: field `steps`: {spec.steps} > the {available} steps in "
            f"{family_root / 'steps' / spec.value_pair}"
        )
    return LoadedScenario(spec=spec, path=path, family=family)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalogue on the default search path, loaded once per process."""
    return load_catalog()
