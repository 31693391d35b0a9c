"""checks/canary.py: a canary is found through every encoding and compression the code could
wrap it in, and inflating is bounded (the text is the code's, so it may be a bomb)."""

from __future__ import annotations

import base64
import bz2
import codecs
import gzip
import io
import json
import lzma
import zipfile
import zlib

import pytest

from drift_gym.checks import canary
from drift_gym.checks.canary import find

EMAIL = "ilse.x.ab12@q.test"
RECORD = json.dumps({"email": EMAIL, "name": "Ilse Q", "note": "x" * 200}).encode()


@pytest.mark.parametrize(("text", "view"), [
    (base64.b64encode(zlib.compress(RECORD)).decode(), "base64-decoded, inflated"),
    (base64.b64encode(gzip.compress(b"first") + gzip.compress(RECORD)).decode(),
     "base64-decoded, inflated"),  # gzip.open(..., "a") appends one stream per write
    (bz2.compress(RECORD).hex(), "hex-decoded, inflated"),
    (base64.b64encode(lzma.compress(RECORD)).decode(), "base64-decoded, inflated"),
    (f"snapshot {zlib.compress(RECORD)!s}", "bytes literal, inflated"),
    (base64.b64encode(gzip.compress(base64.b64encode(RECORD))).decode(),
     "base64-decoded, inflated, base64-decoded"),
    (base64.b64encode(zlib.compress(RECORD)[:60]).decode(), "base64-decoded, inflated"),
], ids=["zlib", "gzip-two-streams", "bz2-hex", "xz", "bytes-literal", "nested", "cut-stream"])
def test_a_compressed_canary_is_found(text, view):
    hit = find(EMAIL, text)
    assert hit is not None and hit.view == view, hit


def _as_reported(data: bytes) -> str:
    """A written file as the probe reports it: UTF-8 as it is, anything else as base64 after
    a marker line (grader_record.text_of, a runtime module)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(data):,} bytes, not UTF-8: base64>\n" + base64.b64encode(data).decode()


def _zipped(*members: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for index, member in enumerate(members):
            archive.writestr(f"event-{index}.json", member)
    return buffer.getvalue()


@pytest.mark.parametrize(("data", "view"), [
    (f"deactivated b32:{base64.b32encode(RECORD).decode()}".encode(), "base32-decoded"),
    (f"deactivated {base64.b85encode(RECORD).decode()}".encode(), "base85-decoded"),
    (f"deactivated {base64.a85encode(RECORD).decode()}".encode(), "base85-decoded"),
    (codecs.encode(RECORD.decode(), "rot13").encode(), "rot13"),
    (_zipped(b"{}", RECORD), "base64-decoded, inflated"),
    (_zipped(RECORD, method=zipfile.ZIP_STORED), "base64-decoded"),
    (_zipped(b"\0" * 2_000_000, RECORD)[:-40], "base64-decoded, inflated"),
], ids=["base32", "base85", "ascii85", "rot13", "zip", "zip-stored", "zip-padded-and-cut"])
def test_a_canary_in_an_encoding_that_once_hid_it_is_found(data, view):
    """Found in a written file as the probe reports it: a base32 audit line and a zipped
    event archive each hid whole records from the checks (session 11)."""
    hit = find(EMAIL, _as_reported(data))
    assert hit is not None and hit.view == view, hit


def test_a_masked_or_absent_value_is_not_found_in_compressed_text():
    masked = RECORD.replace(b"ilse.x.ab12", b"i***")
    assert find(EMAIL, base64.b64encode(gzip.compress(masked)).decode()) is None
    assert find(EMAIL, base64.b64encode(b"\x1f\x8b not really gzip at all").decode()) is None


def test_inflating_is_bounded_by_the_ratio_and_the_cap():
    bomb = zlib.compress(b"\0" * 20_000_000)
    out = canary._inflated(bomb)
    assert out is not None and len(out) == canary.INFLATION_RATIO * len(bomb)
    assert canary._inflated(b"plain text, not compressed") is None
    behind = zlib.compress(b"\0" * 5_000_000 + EMAIL.encode())  # past the cap: unseen
    assert find(EMAIL, base64.b64encode(behind).decode()) is None


def test_in_the_probes_state_folder_only_a_log_or_journal_name_is_a_sink():
    """The probe keeps its stores and its own input files (a partner's CSV to import) in
    STATE_DIR: a journal beside the store is a sink there, a CSV is not."""
    assert canary.is_sink("STATE_DIR/store.audit.jsonl", "out/")
    assert canary.is_sink("STATE_DIR/events.log", "out/")
    assert not canary.is_sink("STATE_DIR/partner.csv", "out/")
    assert not canary.is_sink("STATE_DIR/store.json", "out/")
    assert canary.is_sink("var/partner.csv", "out/")  # elsewhere a CSV is an export
    assert not canary.is_sink("STATE_DIR/catalog.json", "out/")  # a word, not a fragment
    assert not canary.is_sink("STATE_DIR/store.db-journal", "out/")  # a database's sidecar
