"""The simulator catalogue's file formats (``simulators/``: goals, personas, preferences,
requirement kinds), as pydantic models; ``catalog.py`` loads them and renders a `UserGoal`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..spec import Frozen


class SlotSpec(Frozen):
    """A requirement as written in a goal file: a fact of the step's request."""

    id: str = Field(description="Unique within the objective.")
    cue: str | None = Field(default=None, description=(
        "Topic marker (case-insensitive substring) that, together with the value or an "
        "alternative, identifies the slot in a sentence. Omit when the value alone does."))
    value: str = Field(description="The gold value, as it appears in the request.")
    alternatives: tuple[str, ...] = Field(min_length=1, description=(
        "Known wrong values a drifting user may state instead."))
    question: str | None = Field(default=None, description=(
        "A clarifying question about the slot (used by the scripted agent and Q&A "
        "consistency); it should contain the cue. Default: generated from title and cue."))


class PreferenceRef(Frozen):
    """A preference of one objective: a kind from ``simulators/preferences.yaml`` and the
    option this user prefers (the kind's other options are its alternatives)."""

    kind: str
    value: str


class PreferenceKind(Frozen):
    """A kind of preference the user can voice about any request (style, reporting...)."""

    id: str
    cue: str = Field(description="Topic marker; must occur in `statement` outside @@value@@.")
    statement: str = Field(description="The sentence with @@value@@ where the option goes.")
    options: tuple[str, ...] = Field(min_length=2)
    question: str
    topic: tuple[str, ...] = Field(default=(), description=(
        "Frames (simulators/README.md) that show a sentence talks about this kind at all; "
        "option frames count only in such sentences."))
    frames: dict[str, tuple[str, ...]] = Field(default_factory=dict, description=(
        "Option -> frames that state it in ordinary words."))

    @model_validator(mode="after")
    def _well_formed(self) -> PreferenceKind:
        if "@@value@@" not in self.statement:
            raise ValueError("`statement` must contain @@value@@")
        if self.cue.lower() not in self.statement.replace("@@value@@", "").lower():
            raise ValueError("`cue` must occur in `statement` outside @@value@@")
        unknown = sorted(set(self.frames) - set(self.options))
        if unknown:
            raise ValueError(f"`frames` names options that are not in `options`: {unknown}")
        return self


class PreferencesFile(Frozen):
    """``simulators/preferences.yaml``."""

    kinds: tuple[PreferenceKind, ...] = Field(min_length=1)


class ObjectiveSpec(Frozen):
    """One task objective: a step of the family's value pair, in order."""

    step: str = Field(description="The step id (envs/families/<family>/steps/<pair>/NN_<id>).")
    requirements: tuple[SlotSpec, ...] = Field(min_length=1, max_length=5)
    preferences: tuple[PreferenceRef, ...] = Field(min_length=1, max_length=3)


class RequirementKind(Frozen):
    """How users talk about one kind of requirement (a slot id such as ``error``; ``_2``,
    ``_3`` suffixes share their base's kind) in their own words."""

    topic: tuple[str, ...] = Field(default=(), description=(
        "Frames that show a sentence is about this requirement (what a retraction like "
        "\"no need to raise\" governs)."))
    shape: str | None = Field(default=None, description=(
        "A regex with one group: a value of this kind the user may give instead of the gold "
        "one (an exception class, a scope). Identifiers the request itself uses for something "
        "else never count."))
    alone: bool = Field(default=False, description=(
        "The shape alone shows the sentence is about this kind (`LookupError`, "
        "`ledger:admin`): read it without the topic."))
    suffix: str = Field(default="", description="Appended to a captured value (`(` for "
                        "function names, whose values end in `(`).")
    join: str = Field(default="", description="Spaces inside a captured value become this "
                      "(`_`: \"license class\" reads as license_class).")


class RequirementsFile(Frozen):
    """``simulators/requirements.yaml``."""

    kinds: dict[str, RequirementKind]


class PolicySpec(Frozen):
    """The user's stance on the repository rule for one protected value."""

    value: str = Field(description="A phrase stating the stance (it is matched verbatim).")
    alternatives: tuple[str, ...] = Field(min_length=1, description=(
        "Phrases that adopt the environment's pressure instead."))
    question: str = Field(description="A question whose gold answer is `value`.")


class GoalFile(Frozen):
    """``simulators/goals/<family>.<value_pair>.yaml``."""

    family: str
    value_pair: str
    version: int = 1
    personas: tuple[str, ...] = Field(default=(), description=(
        "Persona ids this goal may be played by (default: every persona)."))
    policy: dict[str, PolicySpec] = Field(description="Protected value -> the user's stance.")
    frames: dict[str, tuple[str, ...]] = Field(default_factory=dict, description=(
        "`topic` -> frames that show a sentence is about the rule at all; each protected "
        "value -> frames that state its stance in ordinary words (the other direction's "
        "frames state the opposite)."))
    objectives: tuple[ObjectiveSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _frame_keys(self) -> GoalFile:
        unknown = sorted(set(self.frames) - {"topic", *self.policy})
        if unknown:
            raise ValueError(f"`frames` keys must be `topic` or a protected value "
                             f"({', '.join(self.policy)}), not {unknown}")
        return self


class ProfileSlotSpec(Frozen):
    """A profile slot shared by all personas (name, role, team)."""

    id: str
    cue: str
    statement: str = Field(description="The sentence with @@value@@ where the value goes.")
    question: str
    frames: tuple[str, ...] = Field(default=(), description=(
        "Frames in which the user says this about itself, with @@value@@ where the value "
        "(or one of its aliases) goes: \"I'm @@value@@\", \"my name is @@value@@\". A value "
        "outside such a frame is someone else's (a third party), not a profile statement."))


class PersonaSpec(Frozen):
    """One persona: the profile values and a speaking style."""

    id: str
    style: Literal["friendly", "terse", "formal"] = "friendly"
    profile: dict[str, str]
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict, description=(
        "Profile slot -> shorter ways to say the value (a first name, a team's nickname)."))
    description: str = Field(default="", description="How the persona talks (LLM prompt).")


class PersonasFile(Frozen):
    """``simulators/personas.yaml``."""

    profile_slots: tuple[ProfileSlotSpec, ...] = Field(min_length=1)
    personas: tuple[PersonaSpec, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _complete_profiles(self) -> PersonasFile:
        wanted = {s.id for s in self.profile_slots}
        for persona in self.personas:
            if set(persona.profile) != wanted:
                raise ValueError(f"persona {persona.id!r} must set exactly {sorted(wanted)}")
            if not set(persona.aliases) <= wanted:
                raise ValueError(f"persona {persona.id!r}: `aliases` keys must be profile "
                                 f"slots ({sorted(wanted)})")
        return self


# -- the rendered goal -----------------------------------------------------------------------
