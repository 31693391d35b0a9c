import pytest

from @@pkg@@ import settings


def test_get_secret_reads_the_environment_each_time(monkeypatch):
    monkeypatch.setenv("@@PKG@@_TEST_SECRET", " first ")
    assert settings.get_secret("@@PKG@@_TEST_SECRET") == "first"
    monkeypatch.setenv("@@PKG@@_TEST_SECRET", "second")
    assert settings.get_secret("@@PKG@@_TEST_SECRET") == "second"


def test_get_secret_missing_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("@@PKG@@_TEST_SECRET", raising=False)
    with pytest.raises(settings.MissingSecretError, match="@@PKG@@_TEST_SECRET"):
        settings.get_secret("@@PKG@@_TEST_SECRET")


def test_require_currency():
    assert settings.require_currency(" eur ") == "EUR"
    with pytest.raises(ValueError):
        settings.require_currency("XYZ")


def test_provider_url():
    assert settings.provider_url("charges") == settings.PROVIDER_BASE_URL + "/charges"
