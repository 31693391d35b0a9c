import os
import tempfile

import pytest

# Modules create their audit loggers at import time: point them away from the repo first.
os.environ.setdefault("@@PKG@@_LOG_FILE", os.path.join(tempfile.mkdtemp(), "audit.log"))

from @@pkg@@.models import @@Record@@
from @@pkg@@.@@store_mod@@ import @@Store@@


@pytest.fixture(autouse=True)
def _audit_log(tmp_path, monkeypatch):
    monkeypatch.setenv("@@PKG@@_LOG_FILE", str(tmp_path / "audit.log"))


@pytest.fixture
def make_record():
    def make(record_id="C-1", **changes):
        data = dict(
            id=record_id,
            @@name_field@@="Ana  Lopez",
            @@email_field@@=" Ana.Lopez@Example.org ",
            @@phone_field@@="+34 (600) 123-456",
            country="es",
            balance_cents=1500,
        )
        data.update(changes)
        return @@Record@@(**data)

    return make


@pytest.fixture
def store(tmp_path):
    return @@Store@@(tmp_path / "store.json")
