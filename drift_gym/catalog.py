"""Finding and loading the scenario catalogue (``envs/``).

The catalogue is data, so it is looked up rather than imported: ``$DRIFT_GYM_PATH`` entries
first, then a source checkout (``<repo>/envs``), then the copy force-included in the wheel.
Every load error names the file, the field and (where the YAML has it) the line, because that
is what a scenario author fixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .paths import catalogue_roots
from .spec import Family, Scenario, TaskStep
from .yamls import describe_error, describe_field, safe_load

M = TypeVar("M", bound=BaseModel)


class CatalogError(ValueError):
    """A catalogue file is missing or wrong; the message names the file and the field."""


def search_path() -> list[Path]:
    """Scenario catalogue roots in priority order (see `catalogue_roots`)."""
    return catalogue_roots("envs", "scenarios")


def _load_yaml(path: Path) -> dict:
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(describe_error(path, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def _field(path: Path, loc: Sequence[str | int], message: str) -> str:
    """One wrong field of the file at `path`, with its line (read again: only on error)."""
    return describe_field(path.read_text(encoding="utf-8"), loc, message)


def bad_field(path: Path, loc: Sequence[str | int], message: str) -> CatalogError:
    """The error for one wrong field of a catalogue file, naming file, field and line."""
    return CatalogError(f"{path}: {_field(path, loc, message)}")


def parse_file(model: type[M], path: Path) -> M:
    """A YAML file as `model`; a CatalogError naming the file and each wrong field."""
    try:
        return model.model_validate(_load_yaml(path))
    except ValidationError as exc:
        locs = [tuple(err["loc"]) for err in exc.errors()]
        problems = "; ".join(_field(path, err["loc"], err["msg"]) for err in exc.errors()
                             if not _follows_from(tuple(err["loc"]), locs))
        raise CatalogError(f"{path}: {problems}") from None


def _follows_from(loc: tuple[str | int, ...], locs: list[tuple[str | int, ...]]) -> bool:
    """Whether the error at `loc` only follows from one inside it (pydantic also reports a
    list as too short once its one item failed): the inner error is the one to fix."""
    return bool(loc) and any(len(other) > len(loc) and other[:len(loc)] == loc
                             for other in locs)


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
    """All scenarios visible on the search path, by id.

    A root earlier on the search path shadows a scenario of the same id further on (that is
    how a DRIFT_GYM_PATH folder overrides a built-in scenario); two files of one id in one
    folder are an error. A broken file does not hide the rest of the catalogue: its error is
    kept in `errors` (path -> message naming file, field and line) and raised when that
    scenario is asked for; `declared` keeps the id a broken file declares, where readable.
    """

    scenarios: dict[str, LoadedScenario]
    errors: dict[str, str] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)

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

    def broken_ids(self) -> dict[str, str]:
        """Scenario id -> load error of each file that failed to load: the id it declares
        (`declared`), where it still reads as YAML, else the file's name."""
        return {self.declared.get(path, Path(path).stem): message
                for path, message in self.errors.items()}

    def errors_matching(self, patterns: Iterable[str]) -> dict[str, str]:
        """The load errors that may explain why a scenario glob found nothing: files whose
        declared id matches one of `patterns`, and files whose id could not be read."""
        globs = list(patterns)
        return {path: message for path, message in self.errors.items()
                if path not in self.declared
                or any(fnmatch(self.declared[path], g) for g in globs)}


def load_catalog(roots: list[Path] | None = None) -> Catalog:
    """Load every family and scenario under the given roots (default: `search_path()`).

    A scenario's family (``families/<name>/``) is looked up in the scenario's own root first,
    then in the other roots in search-path order (DRIFT_GYM_PATH entries, then the built-in
    envs/): a scenario runs on the family written beside it, and a folder of scenarios alone
    can use a built-in family, while a family on DRIFT_GYM_PATH never changes which family a
    built-in scenario runs on.
    """
    roots = search_path() if roots is None else roots
    loaded = _Loading(roots)
    for root in roots:
        for path in sorted((root / "scenarios").glob("*.yaml")):
            loaded.add(path, root)
    return Catalog(scenarios=loaded.scenarios, errors=loaded.errors, declared=loaded.declared)


class _Loading:
    """One catalogue load: the scenarios so far, the errors, and each family once."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.scenarios: dict[str, LoadedScenario] = {}
        self.errors: dict[str, str] = {}
        self.declared: dict[str, str] = {}
        self.families: dict[Path, LoadedFamily | CatalogError] = {}

    def add(self, path: Path, root: Path) -> None:
        """Load one scenario file, keeping its error (and declared id) if it fails."""
        try:
            spec = parse_file(Scenario, path)
        except CatalogError as exc:
            self._fail(path, exc)
            return
        first = self.scenarios.get(spec.id)
        if first is not None and first.path.parent == path.parent:
            self._fail(path, bad_field(path, ["id"], f"{spec.id!r} is also the id of "
                                       f"{first.path}; give one of them another id"), spec.id)
            return
        try:
            scenario = self._scenario(spec, path, root)
        except CatalogError as exc:
            self._fail(path, exc, spec.id)
            return
        self.scenarios.setdefault(spec.id, scenario)

    def _fail(self, path: Path, exc: CatalogError, scenario_id: str | None = None) -> None:
        self.errors[str(path)] = str(exc)
        if scenario_id is None:
            scenario_id = _declared_id(path)
        if scenario_id is not None:
            self.declared[str(path)] = scenario_id

    def _family_root(self, spec: Scenario, path: Path, root: Path) -> Path:
        """Where the scenario's family is: its own root first, then the others in order."""
        searched = [root, *(r for r in self.roots if r != root)]
        for candidate in searched:
            if (candidate / "families" / spec.family / "family.yaml").is_file():
                return candidate / "families" / spec.family
        raise bad_field(
            path, ["family"], f"no family {spec.family!r} (no families/{spec.family}/"
            f"family.yaml) in {', '.join(str(r) for r in searched)}; fix the name or add the "
            "family to one of these folders")

    def _scenario(self, spec: Scenario, path: Path, root: Path) -> LoadedScenario:
        """The scenario with (once per load) its family; CatalogError names file and field."""
        family_root = self._family_root(spec, path, root)
        if family_root not in self.families:
            try:
                self.families[family_root] = _load_family(family_root)
            except CatalogError as exc:
                self.families[family_root] = exc
        family = self.families[family_root]
        if isinstance(family, CatalogError):
            raise family
        for name, value in (("protected_value", spec.protected_value),
                            ("pressure_value", spec.pressure_value)):
            if value not in family.spec.values:
                raise bad_field(
                    path, [name], f"{value!r} is not one of family {spec.family!r}'s values "
                    f"({', '.join(family.spec.values)}, in {family_root / 'family.yaml'})")
        available = len(family.steps.get(spec.value_pair, ()))
        if spec.steps > available:
            raise bad_field(path, ["steps"], f"{spec.steps} > the {available} steps in "
                            f"{family_root / 'steps' / spec.value_pair}")
        return LoadedScenario(spec=spec, path=path, family=family)


def _declared_id(path: Path) -> str | None:
    """The ``id`` a file that failed to load declares, if its YAML can be read at all."""
    try:
        head = safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None
    return str(head["id"]) if isinstance(head, dict) and "id" in head else None


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalogue on the default search path, loaded once per process."""
    return load_catalog()
