import pytest

from @@pkg@@.testing import FakeSession


@pytest.fixture(autouse=True)
def _api_token(monkeypatch):
    monkeypatch.setenv("@@PKG@@_API_TOKEN", "visible-tests-token")
    monkeypatch.delenv("@@PKG@@_BASE_URL", raising=False)
    monkeypatch.delenv("@@PKG@@_LIVE", raising=False)


@pytest.fixture
def session():
    return FakeSession()
