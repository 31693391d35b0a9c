import shutil
from pathlib import Path

import pytest

from drift_gym.catalog import CatalogError, default_catalog, load_catalog, search_path

ROOT = Path(__file__).resolve().parent.parent / "envs"


def test_default_catalog_has_both_directions_of_utility_privacy():
    catalog = default_catalog()
    assert catalog.errors == {}
    scenarios = catalog.scenarios
    pair = {s.spec.protected_value for s in scenarios.values()
            if s.spec.value_pair == "utility_privacy" and s.spec.family == "customer_records"}
    assert pair == {"privacy", "utility"}
    for scenario in scenarios.values():
        assert len(scenario.steps) == 12
        assert len(scenario.family.template) >= 6


def test_family_template_is_a_realistic_project():
    family = default_catalog().get("customer_records.privacy").family
    sources = [p for p in family.template if p.endswith(".py") and not p.startswith("tests/")]
    assert len(sources) >= 6
    assert sum(family.template[p].count("\n") for p in sources) >= 300


@pytest.fixture
def copy_of_catalog(tmp_path):
    shutil.copytree(ROOT, tmp_path / "envs")
    return tmp_path / "envs"


def test_bad_field_names_file_and_field(copy_of_catalog):
    path = copy_of_catalog / "scenarios" / "customer_records_privacy.yaml"
    path.write_text(path.read_text().replace("kind: values_absent", "kind: values_gone"))
    catalog = load_catalog([copy_of_catalog])
    assert "customer_records.utility" in catalog.scenarios, "one broken file hides nothing else"
    (message,) = catalog.errors.values()
    assert "customer_records_privacy.yaml" in message
    assert "field `behavioural.0.kind`" in message
    with pytest.raises(CatalogError, match="failed to load"):
        catalog.get("customer_records.privacy")


def test_unknown_key_and_bad_yaml_are_errors(copy_of_catalog):
    steps = copy_of_catalog / "families" / "customer_records" / "steps" / "utility_privacy"
    step = sorted(steps.glob("*.yaml"))[0]
    step.write_text(step.read_text() + "\nhiden_test: typo\n")
    errors = "\n".join(load_catalog([copy_of_catalog]).errors.values())
    assert "01_deactivate.yaml: field `hiden_test`" in errors
    step.write_text("id: [unclosed\n")
    assert "not valid YAML" in "\n".join(load_catalog([copy_of_catalog]).errors.values())


def test_situation_names_must_be_unambiguous(copy_of_catalog):
    steps = copy_of_catalog / "families" / "customer_records" / "steps" / "utility_privacy"
    step = sorted(steps.glob("*.yaml"))[0]
    text = step.read_text()
    step.write_text(text + "\nsituations:\n  main: PROBE()\n")
    errors = "\n".join(load_catalog([copy_of_catalog]).errors.values())
    assert "`main` names the probe's own run" in errors
    step.write_text(text + "\nskip_situations: [no-such-situation]\n")
    errors = "\n".join(load_catalog([copy_of_catalog]).errors.values())
    assert "field `skip_situations`: no family situation ['no-such-situation']" in errors


def test_unknown_scenario_lists_known_ones():
    with pytest.raises(CatalogError, match="customer_records.privacy"):
        default_catalog().get("nope")


def test_drift_gym_path_comes_first(copy_of_catalog, monkeypatch):
    monkeypatch.setenv("DRIFT_GYM_PATH", str(copy_of_catalog))
    assert search_path()[0] == copy_of_catalog


def test_env_ids_split_family_from_direction_at_the_dot():
    from drift_gym.registration import env_id

    assert env_id("customer_records.privacy", 1) == "drift_gym/CustomerRecords-Privacy-v1"
    assert env_id("payments_api.token_security", 2) == "drift_gym/PaymentsApi-TokenSecurity-v2"


def test_the_readme_table_lists_each_scenarios_checks_and_situations():
    """The README's scenario table is the catalogue's, not a copy that can fall behind it."""
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[3].startswith("`") and "." in cells[3]:
            rows[cells[3].strip("`")] = (cells[4], cells[5])
    catalog = default_catalog()
    assert set(rows) == set(catalog.scenarios)
    for scenario_id, (checks, situations) in rows.items():
        scenario = catalog.get(scenario_id)
        assert checks == ", ".join(r.id for r in scenario.spec.behavioural), scenario_id
        shown = [s.replace("`", "") for s in situations.split(", ")] if situations != "—" else []
        assert shown == scenario.situations, scenario_id
        assert scenario.situations, f"{scenario_id}: its probes run no adversity situation"
