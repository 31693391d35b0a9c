"""A run's results on disk: the append-only record log and the manifest.

Results are append-only JSONL, flushed and fsync'd per record: ``steps.jsonl`` (one
`StepRecord` per graded step) and ``episodes.jsonl`` (one `EpisodeRecord` per finished
episode, written once, at its end), so a crash loses at most the episode in flight. Beside
them, ``manifest.json`` (the resolved run) and ``summary.json`` (its aggregates).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .outputs import OutputError, ensure_folder, write_file, writing
from .records import EpisodeRecord, Record, StepRecord

LOGS = ("steps.jsonl", "episodes.jsonl")
R = TypeVar("R", bound=Record)

RESUME_MUST_MATCH = ("agents", "scenarios", "conditions", "seeds", "context", "start_step",
                     "max_steps", "max_turns", "judge", "api_base", "text_tools", "simulator",
                     "user_drift_weight", "user_tracker")
"""The manifest's config keys a ``--resume`` must repeat: together they decide which episodes
the run plans and how each record was made (who played, through which endpoint and tool
protocol, in which sandbox, graded how), so records made under two of them are two runs in
one folder. Free to differ: how the same run is carried out (``workers``, ``executor``,
``ray_address``, the response cache flags), the invocation's own ``run_id``, and ``preset``
(only a name for the grid, whose resolved scenarios, conditions, seeds and steps are compared
here). A key an older manifest lacks is not compared: that version did not record it. A list
or a comma-separated value is compared as a set (``--scenarios a,b`` is ``b,a``), and the
sandbox as the tier it resolved to (``--sandbox bwrap`` continues a run made with ``auto``
that ran on bubblewrap; ``auto`` on a host that now resolves to a weaker tier does not)."""


def _as_set(value: Any) -> Any:
    """A setting whose order means nothing, as a sorted list; any other as it is."""
    if isinstance(value, list):
        return sorted({json.dumps(v, sort_keys=True) for v in value})
    if isinstance(value, str):
        return sorted({part.strip() for part in value.split(",") if part.strip()})
    return value


class RecordError(ValueError):
    """A complete line of a results file that is not a record of its kind (names the file
    and line): a results file written by something else, or edited by hand."""


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The drift_gym checkout's commit, when it is one (asked once per process, not once per
    episode)."""
    here = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of every complete line of a JSONL file (a torn or corrupt
    line is skipped; no file, no lines)."""
    if not path.exists():
        return
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield number, value


def job_statuses(out: Path) -> dict[str, str]:
    """Each job key's status in its latest episode record in `out` (read from the raw lines:
    a finished episode is never rerun, even one whose record a reader could not type)."""
    return {value["job_key"]: str(value.get("status"))
            for _, value in _json_objects(out / "episodes.jsonl") if "job_key" in value}


class ResultLog:
    """Append-only JSONL files in an output folder (flushed and fsync'd per record).

    An episode's step records are written first and its episode record last, so an episode
    counts as finished exactly when its episode record is complete; a torn last line (a crash
    mid-write) is ignored, and step records of unfinished episodes are ignored by readers.
    An episode that ended in an infrastructure error is finished but measured nothing:
    ``--resume`` runs its job again, and the new record supersedes the old for readers (the
    old line stays, since the files are only ever appended to).
    A write that fails (a full disk) is rolled back to the episode's start and raised as an
    `OutputError`: the episodes written before stay intact, and ``--resume`` reruns the rest.
    """

    def __init__(self, out: Path) -> None:
        self.out = ensure_folder(out)
        for name in LOGS:
            self._drop_torn_tail(out / name)

    @staticmethod
    def _drop_torn_tail(path: Path) -> None:
        """Cut an unterminated last line (a crash mid-write), so appends start clean."""
        with writing(path):
            if not path.exists():
                return
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                with path.open("r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)

    def append(self, name: str, record: Record) -> None:
        line = json.dumps(record.to_dict(), sort_keys=True, default=str) + "\n"  # ASCII
        with writing(self.out / name), (self.out / name).open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _sizes(self) -> dict[str, int]:
        sizes = {}
        for name in LOGS:
            try:
                sizes[name] = (self.out / name).stat().st_size
            except FileNotFoundError:
                sizes[name] = 0
        return sizes

    def write_episode(self, episode: EpisodeRecord) -> None:
        """Append the episode's step records, then its episode record: all, or (as far as
        the file system lets us cut them back) none."""
        with writing(self.out):
            before = self._sizes()
        try:
            for step in episode.steps:
                self.append("steps.jsonl", step)
            self.append("episodes.jsonl", episode)
        except OutputError:
            for name, size in before.items():
                with suppress(OSError), (self.out / name).open("r+b") as handle:
                    handle.truncate(size)  # frees what the failed episode used, too
            raise

    def _typed(self, kind: type[R], name: str, number: int, value: dict[str, Any]) -> R:
        """One line's record, or a RecordError naming the file, the line and the field."""
        try:
            return kind.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            raise RecordError(f"{self.out / name} line {number}: not a valid {kind.__name__}: "
                              f"{where}: {first['msg']}") from None

    def episodes(self) -> list[EpisodeRecord]:
        """Finished episodes with their step records (first record wins on a duplicate id;
        a later record of the same job supersedes an earlier one, see the class)."""
        lines = list(_json_objects(self.out / "episodes.jsonl"))
        latest = {value["job_key"]: number for number, value in lines if "job_key" in value}
        episodes: dict[str, EpisodeRecord] = {}
        for number, value in lines:
            superseded = latest.get(value.get("job_key"), number) != number
            if value.get("episode_id") not in episodes and not superseded:
                episode = self._typed(EpisodeRecord, "episodes.jsonl", number, value)
                episodes[episode.episode_id] = episode
        for number, value in _json_objects(self.out / "steps.jsonl"):
            episode_id = value.get("episode_id")
            if isinstance(episode_id, str) and episode_id in episodes:
                step = self._typed(StepRecord, "steps.jsonl", number, value)
                episodes[episode_id].steps.append(step)
        return list(episodes.values())

    def finished_keys(self) -> set[str]:
        """The job keys of finished episodes (``--resume`` skips those whose latest record
        is not an infrastructure error: see `job_statuses`)."""
        return set(job_statuses(self.out))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_file(self.out / "manifest.json", json.dumps(manifest, indent=2, default=str))

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_file(self.out / "summary.json", json.dumps(summary, indent=2))


def resume_conflicts(out: Path, config: dict[str, Any], job_keys: list[str],
                     statuses: dict[str, str]) -> list[str]:
    """How the run already in `out` (its `job_statuses`: `statuses`) differs from the one
    `config` and `job_keys` describe,
    one ``key: old -> new`` per `RESUME_MUST_MATCH` key, else recorded episodes of jobs the
    new run does not plan (the catalogue changed under the same globs); empty when
    ``--resume`` may continue it. A folder without a manifest (written before manifests, or
    by hand) says too little to compare and is continued as it is. Only reads: a refused
    resume must leave `out` as it was."""
    new = json.loads(json.dumps(config, default=str))  # compared as the manifest stores it
    path = out / "manifest.json"
    if not path.exists():
        return []
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        old = stored["config"]
        differing = [k for k in RESUME_MUST_MATCH
                     if k in old and _as_set(old[k]) != _as_set(new.get(k))]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path} is not a readable manifest ({type(exc).__name__}: {exc})"]
    conflicts = [f"{k}: {old[k]!r} -> {new.get(k)!r}" for k in differing]
    if "sandbox" in stored and "sandbox" in new:
        from .sandbox.registry import isolation

        tier = isolation(str(new["sandbox"]))
        if stored["sandbox"] != tier:
            conflicts.append(f"sandbox tier: {stored['sandbox']!r} -> {tier!r}")
    stray = sorted(set(statuses) - set(job_keys))
    if stray and not conflicts:  # the same options, but a catalogue that changed under them
        conflicts.append(f"{len(stray)} recorded episodes of jobs this command does not plan "
                         f"(first: {stray[0]})")
    return conflicts


def manifest(job_keys: list[str], sandbox: str, config: dict[str, Any]) -> dict[str, Any]:
    """The resolved run: config, versions, git SHA, the sandbox tier of `sandbox`, and the
    planned episodes by their job keys (`Job.key`)."""
    from importlib import metadata

    from . import __version__
    from .sandbox.registry import isolation

    versions: dict[str, str | None] = {}
    for package in ("gymnasium", "litellm", "transformers", "trl", "torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"drift_gym": __version__, "git_sha": git_sha(), "packages": versions,
            "sandbox": isolation(sandbox), "config": config, "planned_episodes": len(job_keys),
            "jobs": job_keys}
