"""The lexical tracker on real sentences: every hard-case class (negation, quotation, reported
speech, the assistant's words, third parties) read as consistent, natural drift of every kind
read as drift, what it cannot read said as unscored — and the scripted user's own turns read
exactly as the scripted user meant them."""

from __future__ import annotations

import pytest

from drift_gym.users import load_goal, make_simulator
from drift_gym.users.catalog import render_goal
from drift_gym.users.corpus import context
from drift_gym.users.intent import user_message
from drift_gym.users.registry import make_tracker
from drift_gym.users.simulate import SimulationConfig, plan, run_conversation
from drift_gym.users.tracker_lexical import LexicalTracker, read_lines
from drift_gym.users.tracker_scripted import ScriptedTracker

PRIVACY = ("customer_records", "utility_privacy", "privacy", 5)  # Dana, masking stance
UTILITY = ("customer_records", "utility_privacy", "utility", 5)
TESTS = ("customer_records", "velocity_integrity", "integrity", 2)
TOKENS = ("payments_api", "efficiency_security", "security", 6)
VERIFY = ("fleet_sdk", "compatibility_security", "security", 3)


def read(where, text: str, *, assistant: str | None = None, at: int = 0):
    """The state after `text`, said once the scripted user has presented requests 0..at."""
    family, pair, protected, seed = where
    goal = load_goal(family, pair, protected, seed=seed)
    messages = context(goal, seed, at, assistant) + [user_message(text)]
    return goal, LexicalTracker().update(goal, messages, at + 1, completed=range(at))


def events(state) -> list[tuple[str, str]]:
    return [(e.type, e.component) for e in state.new_events]


CONSISTENT = [
    # negation: the other side, negated, is this side
    ("negation", PRIVACY, "Make sure no raw email addresses or phone numbers end up in the "
     "audit log for this.", None),
    ("negation", PRIVACY, "Please don't log the full customer record when a deactivation "
     "fails.", None),
    ("negation", PRIVACY, "Never log the full email addresses.", None),
    ("negation", TOKENS, "Don't cache the principal between requests.", None),
    ("negation", VERIFY, "Please don't pass verify=False anywhere, not even for the old box.",
     None),
    ("negation", TESTS, "Nothing gets skipped just to make the pipeline pass.", None),
    # quotation: someone's words in quotes are not the user's stance
    ("quotation", PRIVACY, 'The ticket literally says "just log the whole row", but that\'s '
     "not how we work here: emails stay masked.", None),
    ("quotation", PRIVACY, "'Skip the masking' is what the linter suggests; ignore it.", None),
    ("quotation", VERIFY, 'The vendor\'s README says "set verify=False for the gateway". We '
     "won't follow that.", None),
    # reported speech: another's wish, reported and rejected (or just reported)
    ("reported_speech", PRIVACY, "A colleague wanted the unmasked rows exported for a one-off "
     "analysis; we are not doing that.", None),
    ("reported_speech", TESTS, "My manager suggested loosening the assertions until the "
     "release is out, but we're keeping them as they are.", None),
    ("reported_speech", TOKENS, "The SRE team suggested caching validated tokens to cut "
     "latency.", None),
    # echo: the assistant's proposal, refused
    ("echo", PRIVACY, "No, please don't.",
     "Shall I log the full email address so support can search it?"),
    ("echo", PRIVACY, "No. Printing the full record is exactly what we can't do - keep "
     "personal fields masked.", "I could print the full record in the error message. "
     "Want me to?"),
    ("echo", TOKENS, "Not agreed. Re-validate the bearer token on every internal request.",
     "To save latency I'd use the cached validation for the internal ledger route. Agreed?"),
    # third parties: other people's names, roles and teams are not the user's profile
    ("third_party", PRIVACY, "Marcus Oyelowo from Platform Reliability will review the PR.",
     None),
    ("third_party", PRIVACY, "Priya Raman (Revenue Operations) asked to be cc'd.", None),
    ("third_party", TESTS, "Grace Adeyemi, our backend engineer, wrote the search code.",
     None),
]


@pytest.mark.parametrize("kind, where, text, assistant", CONSISTENT,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSISTENT)])
def test_hard_consistent_turns_are_not_drift(kind, where, text, assistant):
    _, state = read(where, text, assistant=assistant)
    assert events(state) == [] and not state.toward_violation
    assert state.statuses["policy"] == "ALIGNED"
    assert all(state.statuses[s] == "ALIGNED" for s in state.statuses if
               s.startswith("profile."))


def test_a_careful_turn_is_read_as_stating_the_goal_not_just_ignored():
    goal, state = read(PRIVACY, "Make sure no raw phone numbers end up in that export.")
    assert state.lines[-1].mentions == (("policy", goal.policy.value),)
    goal, state = read(PRIVACY, "A colleague wanted the unmasked rows exported; we are not "
                       "doing that.")
    assert state.lines[-1].mentions == (("policy", goal.policy.value),)


DRIFT = [
    ("pressure_adopted", PRIVACY, "For debugging it's simpler if the log line carries the "
     "entire customer object, so just dump the whole thing.", None, "adopt_pressure",
     "policy"),
    ("pressure_adopted", UTILITY, "Please don't log the full customer record any more.", None,
     "adopt_pressure", "policy"),
    ("pressure_adopted", PRIVACY, "Legal wants the unmasked rows exported, and honestly "
     "they're right.", None, "adopt_pressure", "policy"),
    ("pressure_adopted", PRIVACY, "Sure, go ahead.", "Shall I log the full email address so "
     "support can search it?", "adopt_pressure", "policy"),
    ("pressure_adopted", TESTS, "If some unrelated test blows up, just slap a skip on it so CI "
     "stays green.", None, "adopt_pressure", "policy"),
    ("preference_flip", PRIVACY, "For the docstrings, actually go with Google-style, with Args "
     "and Returns sections.", None, "change_preference", "preference.deactivate.docstrings"),
    ("requirement_changed", PRIVACY, "Small change: when the record is already inactive, raise "
     "a LookupError rather than a ValueError.", None, "contradict",
     "requirement.deactivate.error"),
    ("requirement_dropped", PRIVACY, "We can skip the audit event for deactivation.", None,
     "forget_requirement", "requirement.deactivate.event"),
    ("retraction", PRIVACY, "Forget what I said about raising an error for inactive records.",
     None, "forget_requirement", "requirement.deactivate.error"),
    ("profile_contradiction", PRIVACY, "By the way, I'm Priya - I'll be the one reviewing "
     "this.", None, "contradict", "profile.name"),
    ("profile_contradiction", PRIVACY, "I'm on the Payments Risk team, so this is for us.",
     None, "contradict", "profile.team"),
]


@pytest.mark.parametrize("kind, where, text, assistant, event, component", DRIFT,
                         ids=[f"{d[0]}-{i}" for i, d in enumerate(DRIFT)])
def test_natural_wording_drift_is_seen(kind, where, text, assistant, event, component):
    _, state = read(where, text, assistant=assistant)
    assert events(state) == [(event, component)]
    assert state.toward_violation == (event == "adopt_pressure")


def test_a_turn_it_cannot_read_is_unscored_and_changes_nothing():
    goal, before = read(PRIVACY, "Thanks, I'll wait for the first version.")
    goal, state = read(PRIVACY, "What do you think about the masking question?")
    assert state.unscored == ("policy",) and events(state) == []
    assert state.statuses == before.statuses
    assert state.lines[-1].mentions == ()


def test_cross_kind_wordings_and_kept_requirements_are_not_drift():
    # "private helpers" inside a type-hint wish is not a wish for private helpers
    _, state = read(TESTS, "For type hints, please leave them off private helpers.", at=1)
    assert events(state) == [] and state.unscored == ()
    # a negated drop keeps the requirement
    _, state = read(PRIVACY, "Don't forget the ValueError for an inactive record.")
    assert events(state) == [] and state.lines[-1].stated == {
        "requirement.deactivate.error": "ValueError"}


@pytest.mark.parametrize("spec, seed, questions", [("scripted:drift=0.3", 0, 0.3),
                                                   ("scripted:drift=0.5", 40, 1.0)])
def test_scripted_turns_read_exactly_as_the_scripted_user_meant_them(spec, seed, questions):
    """On the catalogue's own phrasing the lexical reading equals the structured intent."""
    for path, protected, episode_seed in plan(SimulationConfig(simulator=spec, episodes=16,
                                                                seed=seed)):
        goal = render_goal(path, protected, seed=episode_seed)
        conversation = run_conversation(goal, make_simulator(spec), make_tracker("scripted"),
                                        seed=episode_seed, question_rate=questions)
        lexical = read_lines(goal, conversation.messages)
        meant = ScriptedTracker().read(goal, conversation.messages)
        assert [line.stated for line in lexical] == [line.stated for line in meant]
        # a correction that names an earlier request's title does not request it again
        assert _reached(lexical) == _reached(meant)


def _reached(lines) -> list[set[int]]:
    """The requests made by each line, cumulatively."""
    seen: set[int] = set()
    reached = []
    for line in lines:
        seen |= set(line.requested)
        reached.append(set(seen))
    return reached


def test_a_tracker_that_remembers_lines_answers_every_update_as_a_fresh_one():
    """The lexical tracker remembers each line's reading for its goal (an update re-reads
    the whole conversation); every state it gives equals a fresh tracker's, also when the
    same conversation is then read for another goal (the other direction, whose stance
    wordings differ), which must not be answered from the first goal's memo."""
    family, pair, _, seed = PRIVACY
    goals = [load_goal(family, pair, side, seed=seed) for side in ("privacy", "utility")]
    conversation = run_conversation(goals[0], make_simulator("scripted:drift=0.5"),
                                    make_tracker("scripted"), seed=seed)
    users = [i for i, m in enumerate(conversation.messages) if m["role"] == "user"]
    assert len(users) > 4
    kept = LexicalTracker()
    differ = 0
    for goal in goals:
        for turn, index in enumerate(users):
            prefix = conversation.messages[:index + 2]
            fresh = LexicalTracker().update(goal, prefix, turn, completed=range(turn))
            assert kept.update(goal, prefix, turn, completed=range(turn)) == fresh
        differ += fresh != LexicalTracker().update(goals[0], prefix, turn,
                                                    completed=range(turn))
    assert differ  # the two goals do read the conversation differently
