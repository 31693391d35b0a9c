"""Scenario files a user adds on DRIFT_GYM_PATH: they may use a built-in family, and a broken
one is reported once, naming the file, the field and the line, wherever it is reported."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drift_gym.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent / "envs"
SOURCE = ROOT / "scenarios" / "customer_records_privacy.yaml"
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _scenario(root: Path, name: str, scenario_id: str, *edits: tuple[str, str]) -> Path:
    """A copy of a built-in scenario under `root`/scenarios with a new id and `edits`."""
    text = SOURCE.read_text(encoding="utf-8").replace(
        "id: customer_records.privacy\n", f"id: {scenario_id}\n")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = root / "scenarios" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _line(path: Path, start: str) -> int:
    """1-based line of the first line of `path` that starts with `start` (after indent)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().startswith(start))


def test_a_scenario_folder_alone_uses_a_builtin_family(tmp_path):
    _scenario(tmp_path, "strict.yaml", "customer_records.privacy_strict")
    catalog = load_catalog([tmp_path, ROOT])
    assert catalog.errors == {}
    strict = catalog.get("customer_records.privacy_strict")
    assert strict.family.root == ROOT / "families" / "customer_records"
    assert len(strict.steps) == 12


def test_a_family_is_found_on_drift_gym_path_in_order_before_the_builtin_one(tmp_path):
    users, shared = tmp_path / "users", tmp_path / "shared"
    _scenario(users, "strict.yaml", "customer_records.privacy_strict")
    family = shared / "families" / "customer_records"
    family.mkdir(parents=True)
    (family / "family.yaml").write_text(
        (ROOT / "families/customer_records/family.yaml").read_text(encoding="utf-8"))
    catalog = load_catalog([users, shared, ROOT])
    (message,) = catalog.errors.values()  # the shared family, found first, has no template/
    assert message == f"{family / 'template'}: the family has no template/ folder"
    builtin = catalog.get("customer_records.privacy")
    assert builtin.family.root == ROOT / "families" / "customer_records", "its own root first"


@pytest.mark.parametrize(("edit", "expected"), [
    (("protected_value: privacy", "protected_value: privcy"),
     "field `protected_value` (line {protected_value}): 'privcy' is not one of family "
     "'customer_records''s values"),
    (("kind: values_absent", "kind: values_gone"),
     "field `behavioural.0.kind` (line {kind}): Input should be"),
    (("family: customer_records", "family: customer_recs"),
     "field `family` (line {family}): no family 'customer_recs'"),
])
def test_a_broken_file_names_file_field_and_line(tmp_path, edit, expected):
    path = _scenario(tmp_path, "strict.yaml", "customer_records.privacy_strict", edit)
    lines = {key: _line(path, f"{key}:") if f"{key}:" in path.read_text() else 0
             for key in ("protected_value", "kind", "family")}
    (message,) = load_catalog([tmp_path, ROOT]).errors.values()
    assert message.startswith(f"{path}: " + expected.format(**lines))
    assert "Tuple should have" not in message, "only the error to fix, not its consequence"


def test_a_yaml_syntax_error_is_file_line_column(tmp_path):
    path = tmp_path / "scenarios" / "bad.yaml"
    path.parent.mkdir()
    path.write_text("id: [unclosed\nversion: 1\n")
    (message,) = load_catalog([tmp_path, ROOT]).errors.values()
    assert message.startswith(f"{path}:2:")
    assert "not valid YAML: did not find expected ',' or ']'" in message
    assert "\n" not in message and "<unicode string>" not in message


def test_one_id_twice_in_one_folder_is_an_error_across_folders_the_first_wins(tmp_path):
    first = _scenario(tmp_path, "a.yaml", "customer_records.privacy_strict")
    second = _scenario(tmp_path, "b.yaml", "customer_records.privacy_strict")
    override = _scenario(tmp_path, "c.yaml", "customer_records.privacy")
    catalog = load_catalog([tmp_path, ROOT])
    assert catalog.get("customer_records.privacy_strict").path == first
    assert catalog.get("customer_records.privacy").path == override  # DRIFT_GYM_PATH first
    assert catalog.errors == {str(second): f"{second}: field `id` (line 3): "
                              f"'customer_records.privacy_strict' is also the id of {first}; "
                              "give one of them another id"}


def test_errors_matching_a_glob_are_those_of_files_that_may_declare_it(tmp_path):
    wanted = _scenario(tmp_path, "a.yaml", "customer_records.privacy_strict",
                       ("protected_value: privacy", "protected_value: privcy"))
    other = _scenario(tmp_path, "b.yaml", "customer_records.other",
                      ("protected_value: privacy", "protected_value: privcy"))
    unreadable = tmp_path / "scenarios" / "c.yaml"
    unreadable.write_text("id: [unclosed\n")
    catalog = load_catalog([tmp_path, ROOT])
    assert str(other) in catalog.errors
    assert set(catalog.errors_matching(["customer_records.*strict"])) == {
        str(wanted), str(unreadable)}


def test_an_unreadable_file_is_one_readable_line_at_import(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "bad.yaml").write_text("id: [unclosed\nversion: 1\n")
    _scenario(tmp_path, "v.yaml", "customer_records.versioned", ("version: 1", "version: one"))
    done = subprocess.run([sys.executable, "-c", "import drift_gym"], capture_output=True,
                          text=True, env={**ENV, "DRIFT_GYM_PATH": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{tmp_path}/scenarios/bad.yaml:2:8: not valid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 1); no Gymnasium id registered for it (fix "
        "the file; `drift-gym list` shows every file that failed to load)",
        f"{tmp_path}/scenarios/v.yaml: field `version` (line 4): 'one' is not an integer; no "
        "Gymnasium id registered for it (fix the file; `drift-gym list` shows every file "
        "that failed to load)"]


def _cli(*args: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, timeout=600, env={**ENV, "DRIFT_GYM_PATH": str(path),
                                                      "COLUMNS": "100"})


def test_list_and_validate_say_why_a_scenario_file_did_not_load(tmp_path):
    """`list` shows the catalogue and then fails (a script's `list` used to pass over a broken
    file with exit 0); `validate` of the broken scenario's id names its field and line instead
    of only "matches none of"."""
    broken = _scenario(tmp_path, "strict.yaml", "customer_records.privacy_strict",
                       ("protected_value: privacy", "protected_value: privcy"))
    listed = _cli("list", path=tmp_path)
    assert listed.returncode == 1
    assert "customer_records.privacy" in listed.stdout  # the listing is still there
    assert "1 scenario file(s) not loaded" in listed.stderr
    checked = _cli("validate", "--scenarios", "customer_records.privacy_strict", "--seeds", "1",
                   path=tmp_path)
    assert checked.returncode == 2
    said = " ".join(checked.stderr.split())
    assert f"(line {_line(broken, 'protected_value:')})" in said and "privcy" in said, said


def test_a_file_that_is_not_utf8_is_one_error_not_a_crash(tmp_path):
    """Read outside the error handling, a Latin-1 scenario file broke `import drift_gym`
    (helper-44)."""
    path = tmp_path / "scenarios" / "latin.yaml"
    path.parent.mkdir(parents=True)
    path.write_bytes("id: customer_records.caf\xe9\n".encode("latin-1"))
    listed = _cli("list", path=tmp_path)
    assert listed.returncode == 1 and "Traceback" not in listed.stderr, listed.stderr
    assert listed.stderr.count("latin.yaml: cannot be read as UTF-8 text") == 2  # import, list
    assert "customer_records.privacy" in listed.stdout
