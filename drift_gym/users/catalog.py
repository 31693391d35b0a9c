"""Finding and loading the user-simulator catalogue (``simulators/``).

Looked up like the scenario catalogue: ``$DRIFT_GYM_PATH`` entries that hold a ``goals/``
folder, then a source checkout (``<repo>/simulators``), then the copy in the wheel
(``drift_gym/_catalog/simulators``). Errors name the file and the field.

A goal is rendered per seed with the same token draw as the repo (`repo.draw_tokens`), so a
goal loaded with the repo's seed names the same package, record type and helpers the agent
sees. Each requirement must be stated by exactly one sentence of its step's request: that
sentence becomes the requirement's statement, which is what the scripted simulator omits or
contradicts and what the lexical tracker recognises.

Every slot also gets its *frames* (`frames`): the goal file's stance frames for the policy,
``preferences.yaml``'s option frames, ``personas.yaml``'s self-reference frames with each
persona's aliases, ``requirements.yaml``'s kinds. A frame that cannot be parsed, or a stance
frame that a request sentence already matches (the request would read as a stance), is a
load error naming the file and field.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..catalog import Catalog as ScenarioCatalog
from ..catalog import CatalogError, LoadedFamily, default_catalog, parse_file
from ..placeholders import TemplateError, render
from ..repo import draw_tokens, value_tokens
from .frames import FrameError, check_frames, check_shape, parse_frame
from .goal import OPPOSITE, Objective, Persona, Slot, UserGoal, Wording, requirement_kind
from .paths import goal_files, search_path
from .schema import (
    GoalFile,
    PersonasFile,
    PersonaSpec,
    PolicySpec,
    PreferenceKind,
    PreferencesFile,
    ProfileSlotSpec,
    RequirementKind,
    RequirementsFile,
    SlotSpec,
)
from .text import has_cue, replace_phrase, says, sentences, squash


def _first(name: str) -> Path:
    for root in search_path():
        if (root / name).is_file():
            return root / name
    roots = ", ".join(str(r) for r in search_path()) or "no simulators/ folder found"
    raise CatalogError(f"no {name} in the simulator catalogue ({roots})")


def _frames_ok(path: Path, texts: tuple[str, ...], field: str) -> None:
    try:
        check_frames(texts, f"{path}: field `{field}`")
    except FrameError as exc:
        raise CatalogError(str(exc)) from None


@lru_cache(maxsize=8)
def _personas(path: Path) -> PersonasFile:
    spec = parse_file(PersonasFile, path)
    for i, slot in enumerate(spec.profile_slots):
        _frames_ok(path, slot.frames, f"profile_slots.{i}.frames")
        for persona in spec.personas:
            value = persona.profile[slot.id]
            said = render(slot.statement, {"value": value}, where=str(path))
            if slot.frames and not any(parse_frame(f).find(said)
                                       for f in _self_frames(slot, persona)):
                raise CatalogError(f"{path}: field `profile_slots.{i}.frames`: none of them "
                                   f"reads the statement “{said}” as {persona.id}'s {slot.id}")
    return spec


def _self_frames(slot: ProfileSlotSpec, persona: PersonaSpec) -> tuple[str, ...]:
    """The slot's self-reference frames filled with the persona's value and its aliases."""
    names = (persona.profile[slot.id], *persona.aliases.get(slot.id, ()))
    return tuple(f.replace("@@value@@", name) for f in slot.frames for name in names)


def load_personas() -> PersonasFile:
    """The persona file of the first root that has one."""
    return _personas(_first("personas.yaml"))


@lru_cache(maxsize=8)
def _preferences(path: Path) -> PreferencesFile:
    spec = parse_file(PreferencesFile, path)
    for i, kind in enumerate(spec.kinds):
        _frames_ok(path, kind.topic, f"kinds.{i}.topic")
        for option, texts in kind.frames.items():
            _frames_ok(path, texts, f"kinds.{i}.frames.{option}")
    return spec


def load_preferences() -> PreferencesFile:
    """The preference kinds of the first root that has a preferences.yaml."""
    return _preferences(_first("preferences.yaml"))


@lru_cache(maxsize=8)
def _requirement_kinds(path: Path) -> RequirementsFile:
    spec = parse_file(RequirementsFile, path)
    for name, kind in spec.kinds.items():
        _frames_ok(path, kind.topic, f"kinds.{name}.topic")
        if kind.shape is not None:
            try:
                check_shape(kind.shape, f"{path}: field `kinds.{name}.shape`")
            except FrameError as exc:
                raise CatalogError(str(exc)) from None
    return spec


def load_requirement_kinds() -> RequirementsFile:
    """How users word each kind of requirement (``requirements.yaml`` of the first root)."""
    return _requirement_kinds(_first("requirements.yaml"))


def load_prompt(name: str) -> str:
    """A prompt template (``prompts/<name>.txt``) of the first root that has it."""
    return _first(f"prompts/{name}.txt").read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def load_goal_file(path: Path) -> GoalFile:
    """One goal file, parsed and checked on its own (errors name file and field)."""
    spec = parse_file(GoalFile, path)
    if path.stem != f"{spec.family}.{spec.value_pair}":
        raise CatalogError(f"{path}: the file must be named {spec.family}.{spec.value_pair}.yaml")
    kinds = {k.id: k for k in load_preferences().kinds}
    for i, objective in enumerate(spec.objectives):
        ids = [s.id for s in objective.requirements] + [p.kind for p in objective.preferences]
        if len(set(ids)) != len(ids):
            raise CatalogError(f"{path}: field `objectives.{i}`: slot ids repeat: {ids}")
        for j, slot in enumerate(objective.requirements):
            _check_values(path, f"objectives.{i}.requirements.{j}", slot.value, slot.alternatives)
        for j, ref in enumerate(objective.preferences):
            if ref.kind not in kinds:
                raise CatalogError(f"{path}: field `objectives.{i}.preferences.{j}.kind`: "
                                   f"unknown kind {ref.kind!r} (preferences.yaml has "
                                   f"{', '.join(kinds)})")
            if ref.value not in kinds[ref.kind].options:
                raise CatalogError(f"{path}: field `objectives.{i}.preferences.{j}.value`: "
                                   f"{ref.value!r} is not an option of kind {ref.kind!r}")
    for value, policy in spec.policy.items():
        _check_values(path, f"policy.{value}", policy.value, policy.alternatives)
    for key, texts in spec.frames.items():
        _frames_ok(path, texts, f"frames.{key}")
    return spec


def _check_values(path: Path, where: str, value: str, alternatives: tuple[str, ...]) -> None:
    """Values must be told apart by whole-phrase matching: none may contain another."""
    phrases = (value, *alternatives)
    for a in phrases:
        for b in phrases:
            if a is not b and says(a, b):
                raise CatalogError(f"{path}: field `{where}`: {a!r} occurs inside {b!r}, so the "
                                   "tracker could not tell them apart")


def _family(spec: GoalFile, path: Path, catalog: ScenarioCatalog) -> LoadedFamily:
    for scenario in catalog.scenarios.values():
        if scenario.spec.family == spec.family and scenario.spec.value_pair == spec.value_pair:
            return scenario.family
    raise CatalogError(f"{path}: fields `family`/`value_pair`: no scenario of family "
                       f"{spec.family!r} with value pair {spec.value_pair!r} in envs/")


def load_goal(family: str, value_pair: str, protected: str, *, seed: int,
              catalog: ScenarioCatalog | None = None,
              tokens: dict[str, str] | None = None) -> UserGoal:
    """The user goal of one scenario direction, rendered for `seed`. Give the repo's `tokens`
    (``RenderedRepo.tokens``) so identifiers match the repo the agent works in; without them
    they are drawn from `seed` as a repo of that seed would draw them."""
    name = f"{family}.{value_pair}"
    files = goal_files(name)
    if name not in files:
        known = ", ".join(goal_files()) or "none"
        raise CatalogError(f"no user goal {name!r} in the simulator catalogue (known: {known}); "
                           f"add simulators/goals/{name}.yaml")
    return render_goal(files[name], protected, seed=seed, catalog=catalog, tokens=tokens)


def render_goal(path: Path, protected: str, *, seed: int,
                catalog: ScenarioCatalog | None = None,
                tokens: dict[str, str] | None = None) -> UserGoal:
    """Render a goal file for one direction and seed (see the module docstring)."""
    spec = load_goal_file(path)
    if protected not in spec.policy:
        raise CatalogError(f"{path}: field `policy`: no stance for protected value "
                           f"{protected!r} (has {', '.join(spec.policy)})")
    family = _family(spec, path, catalog or default_catalog())
    steps = family.steps[spec.value_pair]
    if [o.step for o in spec.objectives] != [s.id for s in steps]:
        raise CatalogError(f"{path}: field `objectives`: steps must be, in order, "
                           f"{[s.id for s in steps]}; got {[o.step for o in spec.objectives]}")
    if tokens is None:
        base = draw_tokens(family.spec, np.random.default_rng(seed))
        tokens = value_tokens(family.spec, base, protected)

    def r(text: str, where: str) -> str:
        try:  # @@value@@ stays a placeholder for the slot's value
            return render(text, {**tokens, "value": "@@value@@"}, where=f"{path}: field `{where}`")
        except TemplateError as exc:
            raise CatalogError(str(exc)) from None

    kinds = {k.id: k for k in load_preferences().kinds}
    personas = load_personas()
    allowed = [p for p in personas.personas if not spec.personas or p.id in spec.personas]
    if not allowed:
        raise CatalogError(f"{path}: field `personas`: none of {list(spec.personas)} is in "
                           "personas.yaml")
    persona = allowed[int(np.random.default_rng([seed, 1]).integers(len(allowed)))]
    profile = tuple(
        Slot(id=f"profile.{s.id}", kind="profile", cue=s.cue, value=persona.profile[s.id],
             alternatives=tuple(sorted({p.profile[s.id] for p in personas.personas}
                                       - {persona.profile[s.id]})),
             statement=s.statement, question=s.question,
             wordings=tuple(Wording(value=p.profile[s.id], frames=_self_frames(s, p))
                            for p in personas.personas))
        for s in personas.profile_slots)
    stance: PolicySpec = spec.policy[protected]
    other = tuple(f for key, texts in spec.frames.items() if key not in ("topic", protected)
                  for f in texts)
    gold = r(stance.value, f"policy.{protected}.value")
    policy = Slot(id="policy", kind="policy", value=gold,
                  alternatives=tuple(r(a, f"policy.{protected}.alternatives")
                                     for a in stance.alternatives),
                  statement="@@value@@", question=stance.question,
                  topic=spec.frames.get("topic", ()),
                  wordings=(Wording(value=gold, frames=spec.frames.get(protected, ())),
                            Wording(value=OPPOSITE, frames=other)))
    kinds_of_requirements = load_requirement_kinds().kinds
    objectives = []
    for i, (ospec, step) in enumerate(zip(spec.objectives, steps, strict=True)):
        title = r(step.title, f"objectives.{i}.title")
        request = r(step.request, f"objectives.{i}.request").strip()
        requirements = tuple(
            _requirement(path, f"objectives.{i}.requirements.{j}", ospec.step, i, title,
                         request, s, r, kinds_of_requirements)
            for j, s in enumerate(ospec.requirements))
        preferences = tuple(_preference(ospec.step, i, kinds[ref.kind], ref.value)
                            for ref in ospec.preferences)
        for slot in (*profile, policy, *preferences):
            for _, _, text in sentences(request):
                if has_cue(slot.cue, text) and any(says(v, text)
                                                   for v in (slot.value, *slot.alternatives)):
                    raise CatalogError(
                        f"{path}: field `objectives.{i}`: a sentence of the request of step "
                        f"{ospec.step!r} reads as a statement of {slot.id} (“{squash(text)}”); "
                        "change that slot's cue or values")
        _no_stance_in_request(path, i, ospec.step, request, spec)
        objectives.append(Objective(id=f"objective.{ospec.step}", step=ospec.step, index=i,
                                    title=title, request=request, requirements=requirements,
                                    preferences=preferences))
    return UserGoal(id=path.stem, version=spec.version, family=spec.family,
                    value_pair=spec.value_pair, protected=protected, seed=seed,
                    source=str(path), persona=Persona(id=persona.id, style=persona.style,
                                                      description=persona.description),
                    profile=profile, policy=policy, objectives=tuple(objectives))


def _no_stance_in_request(path: Path, index: int, step: str, request: str,
                          spec: GoalFile) -> None:
    """A request is the catalogue's own text: none of its sentences may match a stance frame,
    or presenting the request would read as taking a side on the rule."""
    for key, texts in spec.frames.items():
        if key == "topic":
            continue
        for text in texts:
            frame = parse_frame(text)
            for _, _, sentence in sentences(request):
                if frame.find(sentence) is not None:
                    raise CatalogError(
                        f"{path}: field `frames.{key}`: the frame {text!r} matches a sentence "
                        f"of the request of step {step!r} (objectives.{index}): "
                        f"“{squash(sentence)}”; make the frame more specific")


def _requirement(path: Path, where: str, step: str, index: int, title: str, request: str,
                 spec: SlotSpec, r, kinds: dict[str, RequirementKind]) -> Slot:  # noqa: ANN001
    """A requirement slot whose statement is the one request sentence that states it."""
    cue = r(spec.cue, f"{where}.cue") if spec.cue else None
    value = r(spec.value, f"{where}.value")
    alternatives = tuple(r(a, f"{where}.alternatives") for a in spec.alternatives)
    hits = [text for _, _, text in sentences(request)
            if has_cue(cue, text) and any(says(v, text) for v in (value, *alternatives))]
    if len(hits) != 1 or not says(value, hits[0]):
        raise CatalogError(
            f"{path}: field `{where}`: the request of step {step!r} must state the value "
            f"{value!r}{f' with the cue {cue!r}' if cue else ''} in exactly one sentence, and "
            f"no other sentence may mention it or its alternatives; found {len(hits)} "
            "sentences")
    statement = replace_phrase(squash(hits[0]), value, "@@value@@")
    kind = kinds.get(requirement_kind(spec.id), RequirementKind())
    return Slot(id=f"requirement.{step}.{spec.id}", kind="requirement", objective=index,
                cue=cue, value=value, alternatives=alternatives,
                statement=statement, topic=kind.topic, shape=kind.shape, alone=kind.alone,
                suffix=kind.suffix,
                join=kind.join,
                question=spec.question or (
                    f"Quick check on “{title}”: what goes in the blank in "
                    f"“{render(statement, {'value': '___'}, where=where)}”?"))


def _preference(step: str, index: int, kind: PreferenceKind, value: str) -> Slot:
    return Slot(id=f"preference.{step}.{kind.id}", kind="preference", objective=index,
                cue=kind.cue, value=value,
                alternatives=tuple(o for o in kind.options if o != value),
                statement=kind.statement, question=kind.question, topic=kind.topic,
                wordings=tuple(Wording(value=o, frames=kind.frames.get(o, ()))
                               for o in kind.options))
