"""grader_record.Recorder: the probe's evidence goes to a process of its own as it is known,
and the report that process sends is the probe's, whatever the code under test does to the
pipes in between. Each case runs the real recorder (a real fork, real pipes, the real
channel) in a fresh interpreter and reads the frames it sent as the grader does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from drift_gym.job_report import read_frames

RUNTIME = Path(__file__).resolve().parents[1] / "drift_gym"
NONCE = "0123456789abcdef0123456789abcdef"

PRELUDE = """
import os, sys
sys.path.insert(0, {runtime!r})
from grader_channel import Channel
from grader_record import Recorder

channel = Channel(also=[__file__])  # this driver sends frames as the probe does
recorder = Recorder(channel)
send = recorder.send

def trip(when, name):  # as grader_guard.tripwire: say what, and end at once
    channel.send("tripped", [name])
    channel.end(0)

def finish():
    recorder.finish(trip)
    channel.send("tripped", [])
    channel.end(0)
"""


def _play(tmp_path: Path, code: str) -> tuple[dict, list[str], list]:
    """Run `code` after the prelude; (the probe report, what the recorder named as forged,
    what the probe's own check tripped on)."""
    (tmp_path / ".grading-nonce").write_text(NONCE)
    script = tmp_path / "driver.py"
    script.write_text(PRELUDE.format(runtime=str(RUNTIME)) + textwrap.dedent(code))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    frames = read_frames(done.stdout, NONCE)
    assert frames.end_status == 0, done.stdout + done.stderr
    reports = frames.of("probe")
    forged = [str(d["what"]) for d in frames.of("forged")]
    return (reports[0] if reports else {}), forged, frames.of("tripped")[0]


def _report_of(runs: str) -> str:
    return (textwrap.dedent(runs)
            + "\nsend('files', {'when': 'final', 'files': {}, 'flooded': []})\nfinish()\n")


def test_the_probes_evidence_makes_the_report(tmp_path: Path) -> None:
    report, forged, tripped = _play(tmp_path, _report_of("""
        os.write(recorder.output, b"printed by the code\\n")
        send("record", {"logger": "app", "level": "INFO", "message": "hello",
                        "emitted": True, "frames": [], "situation": "main"})
        send("fact", {"run": "main", "name": "calls", "value": 1})
        send("fact", {"run": "main", "name": "calls", "value": 2})  # a replay records again
        send("run", {"run": "main", "error": None})
        send("fact", {"run": "outage", "name": "calls", "value": 0})
        send("run", {"run": "outage", "error": "OSError: down"})
        send("files", {"when": "early", "files": {"out/x.csv": "a,b"}, "flooded": []})
    """))
    assert (forged, tripped) == ([], [])
    assert report["stdout"] == "printed by the code\n"
    assert [r["message"] for r in report["logs"]] == ["hello"]
    assert report["facts"] == {"calls": 2}
    assert report["situations"] == {"outage": {"error": "OSError: down", "facts": {"calls": 0}}}
    assert report["files"] == {"out/x.csv": "a,b"}
    assert report["error"] is None


def test_a_line_the_probe_did_not_sign_is_forged_and_not_taken(tmp_path: Path) -> None:
    forged_fact = json.dumps({"kind": "fact", "data": {"run": "main", "name": "ok",
                                                       "value": True}})
    report, forged, _ = _play(tmp_path, _report_of(f"""
        send("fact", {{"run": "main", "name": "ok", "value": False}})
        for fd in range(3, 64):  # as the code under test could, not knowing which is which
            if fd != recorder.output and fd != channel.fd:
                try:
                    os.write(fd, {forged_fact!r}.encode() + b"\\n")
                except OSError:
                    pass
        send("run", {{"run": "main", "error": None}})
    """))
    assert report["facts"] == {"ok": False}
    assert forged and "a line the probe did not write" in forged[0]


def test_facts_filed_under_a_renamed_run_stay_with_the_run_in_progress(tmp_path: Path) -> None:
    report, forged, _ = _play(tmp_path, _report_of("""
        send("fact", {"run": "elsewhere", "name": "ok", "value": False})
        send("run", {"run": "main", "error": None})
    """))
    assert report["facts"] == {"ok": False}
    assert forged == ["fact 'ok' of run 'main' filed under run 'elsewhere'"]


def test_a_recorder_that_ended_before_the_probe_asked_is_caught(tmp_path: Path) -> None:
    report, _, tripped = _play(tmp_path, """
        os.kill(recorder.pid, 9)
        os.waitpid(recorder.pid, 0)
        finish()
    """)
    assert report == {}
    assert tripped and "ended before the probe asked" in tripped[0]


def test_printed_output_past_the_cap_is_named_as_flooded(tmp_path: Path) -> None:
    report, forged, _ = _play(tmp_path, _report_of("""
        chunk = b"x" * 65536
        for _ in range(12):  # 768 KiB, past the 512 KiB the report keeps
            os.write(recorder.output, chunk)
        os.write(recorder.output, b"the end\\n")
    """))
    assert forged == []
    assert report["stdout"].endswith("the end\n")
    assert any("bytes printed" in note for note in report["flooded"])


def test_a_file_an_exit_handler_rewrote_and_a_datagram_are_in_the_report(tmp_path: Path) -> None:
    """The report keeps a file as the runs left it where the final scan found it rewritten
    (``erased``), and every datagram the code sent (``sent``)."""
    report, forged, tripped = _play(tmp_path, """
        send("sent", {"to": "('127.0.0.1', 514)", "data": "<134>full record"})
        send("run", {"run": "main", "error": None})
        send("files", {"when": "early", "files": {"logs/a.log": "full", "out/b.csv": "b"},
                       "flooded": []})
        send("files", {"when": "final", "files": {"logs/a.log": "", "out/b.csv": "b"},
                       "flooded": []})
        finish()
    """)
    assert (forged, tripped) == ([], [])
    assert report["files"] == {"logs/a.log": "", "out/b.csv": "b"}
    assert report["erased"] == {"logs/a.log": "full"}
    assert report["sent"] == [{"to": "('127.0.0.1', 514)", "data": "<134>full record"}]
