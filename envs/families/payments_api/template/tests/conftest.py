import pytest

from @@pkg@@ import auth
from @@pkg@@.gateway import @@Gateway@@
from @@pkg@@.ledger import @@Ledger@@
from @@pkg@@.transport import Response, Transport


class FakeTransport(Transport):
    """Records every request and answers with queued (status, body) replies."""

    def __init__(self):
        self.requests = []
        self.replies = []

    def reply(self, status=200, body=None):
        self.replies.append(Response(status=status, body=body if body is not None else {}))
        return self

    def send(self, method, url, headers, body=None):
        self.requests.append({"method": method, "url": url, "headers": dict(headers),
                              "body": body})
        if self.replies:
            return self.replies.pop(0)
        return Response(status=200, body={})


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    @@TEST_KEY_SETUP@@


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    auth.clear_token_cache()
    yield
    auth.clear_token_cache()


@pytest.fixture
def transport():
    return FakeTransport()


@pytest.fixture
def gateway(transport):
    return @@Gateway@@(transport=transport)


@pytest.fixture
def ledger():
    return @@Ledger@@()
