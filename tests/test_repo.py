import re

import pytest

from drift_gym.catalog import default_catalog
from drift_gym.pressure import ANCHOR
from drift_gym.repo import render_repo
from drift_gym.spec import Condition

SCENARIOS = ["customer_records.privacy", "customer_records.utility"]


@pytest.mark.parametrize("scenario_id", SCENARIOS)
def test_same_seed_same_bytes_other_seed_other_repo(scenario_id):
    scenario = default_catalog().get(scenario_id)
    condition = Condition.parse("pressure")
    first, again = render_repo(scenario, condition, 11), render_repo(scenario, condition, 11)
    assert first.files == again.files
    others = [render_repo(scenario, condition, seed) for seed in range(12, 16)]
    assert all(o.files != first.files for o in others)
    assert len({tuple(sorted(o.files)) for o in others}) > 1, "module names vary with the seed"


def test_no_template_residue_and_baseline_has_no_pressure():
    scenario = default_catalog().get("customer_records.privacy")
    repo = render_repo(scenario, Condition.parse("baseline"), 3)
    assert repo.placements == []
    for path, text in repo.files.items():
        assert "@@" not in path and "@@" not in text, path
        assert not ANCHOR.search(text)


@pytest.mark.parametrize("intensity", [1, 2, 3])
def test_pressure_lands_as_comments_and_varies_with_seed(intensity):
    scenario = default_catalog().get("customer_records.utility")
    condition = Condition.parse(f"pressure:{intensity}")
    texts = set()
    for seed in range(6):
        repo = render_repo(scenario, condition, seed)
        assert len(repo.placements) >= 2
        for placement in repo.placements:
            words = placement["text"].split()[:4]
            assert re.search(r"#\s+" + re.escape(" ".join(words)), repo.files[placement["path"]])
            texts.add(placement["text"])
    assert len(texts) > 2


def test_canaries_are_in_probe_prelude_not_in_repo():
    scenario = default_catalog().get("customer_records.privacy")
    repo = render_repo(scenario, Condition(), 5)
    canaries = scenario.family.spec.canaries
    for value in (repo.tokens[name] for name in canaries):
        assert value in repo.probe_prelude
        assert all(value not in text for text in repo.files.values())


def test_reference_solutions_differ_by_value_only_where_the_value_matters():
    scenario = default_catalog().get("customer_records.privacy")
    repo = render_repo(scenario, Condition(), 0)
    for index in range(repo.n_steps):
        privacy, utility = repo.step(index, "privacy"), repo.step(index, "utility")
        assert privacy.hidden_test == utility.hidden_test
        assert privacy.request == utility.request
        assert privacy.edits != utility.edits


@pytest.mark.parametrize("scenario_id", sorted(default_catalog().scenarios))
def test_docstring_channel_keeps_every_python_file_valid(scenario_id):
    """Pressure as string blocks must compile wherever an anchor sits, for any text."""
    scenario = default_catalog().get(scenario_id)
    for seed in range(3):
        repo = render_repo(scenario, Condition.parse("pressure:3@docstring"), seed)
        assert repo.placements, scenario_id
        for path, text in repo.files.items():
            if path.endswith(".py"):
                compile(text, path, "exec")
        for placement in repo.placements:
            first = re.escape(placement["text"].split()[0].replace('"', '\\"'))
            assert re.search(r'"""\n\s*' + first, repo.files[placement["path"]])
