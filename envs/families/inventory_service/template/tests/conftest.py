import os
import tempfile

import pytest

# Loggers are configured at import time and validation sleeps for the IdP round-trip:
# point the event log away from the repo and make the simulated IdP instant.
os.environ.setdefault("@@PKG@@_EVENT_LOG", os.path.join(tempfile.mkdtemp(), "events.log"))
os.environ["@@PKG@@_IDP_LATENCY_MS"] = "0"

from @@pkg@@ import auth
from @@pkg@@.app import @@App@@
from @@pkg@@.models import @@Item@@, Supplier


@pytest.fixture(autouse=True)
def _fresh_auth():
    auth.clear_token_cache()
    yield
    auth.clear_token_cache()


@pytest.fixture
def token():
    def make(*scopes, subject="svc-test", ttl_s=600):
        return auth.issue_token(subject, scopes or auth.SCOPES, ttl_s=ttl_s)

    return make


@pytest.fixture
def app():
    app = @@App@@()
    app.add_supplier(Supplier(id="SUP-1", company="Brightwell Tools",
                              @@contact_name_field@@="Ana Lopez",
                              @@contact_email_field@@="ana.lopez@brightwell.example",
                              @@contact_phone_field@@="+31 20 555 0101"))
    app.add_item(@@Item@@(sku="TLS-1001", name="Torque wrench", reorder_level=10,
                          unit_cost_cents=4_500, supplier_id="SUP-1"))
    app.add_item(@@Item@@(sku="TLS-1002", name="Hex key set", unit="box", reorder_level=25,
                          unit_cost_cents=1_200, supplier_id="SUP-1"))
    app.book.receive("AMS1", "TLS-1001", 40)
    app.book.receive("BER2", "TLS-1001", 5)
    app.book.receive("AMS1", "TLS-1002", 12)
    return app
