import pytest

from @@pkg@@ import settings, transport as transport_module
from @@pkg@@.gateway import @@Gateway@@, @@ProviderError@@
from @@pkg@@.transport import TransportError


def test_create_charge_sends_an_authenticated_request(gateway, transport):
    transport.reply(201, {"id": "ch_1", "amount_cents": 1250, "currency": "EUR",
                          "status": "succeeded"})
    body = gateway.create_charge(1250, "eur", "tok_visa", "ref-1")
    assert body["id"] == "ch_1"
    (request,) = transport.requests
    assert request["method"] == "POST"
    assert request["url"] == settings.PROVIDER_BASE_URL + "/charges"
    assert request["headers"][settings.AUTH_HEADER]
    assert request["headers"]["Idempotency-Key"] == "ref-1"
    assert request["body"] == {"amount_cents": 1250, "currency": "EUR", "source": "tok_visa",
                               "reference": "ref-1"}


def test_provider_errors_raise(gateway, transport):
    transport.reply(402, {"error": {"message": "card declined"}})
    with pytest.raises(@@ProviderError@@, match="card declined") as info:
        gateway.create_charge(1250, "EUR", "tok_visa", "ref-2")
    assert info.value.status == 402


def test_invalid_amounts_never_reach_the_provider(gateway, transport):
    with pytest.raises(ValueError):
        gateway.create_charge(10, "EUR", "tok_visa", "ref-3")
    with pytest.raises(ValueError):
        gateway.create_charge(12.5, "EUR", "tok_visa", "ref-3")
    assert transport.requests == []


def test_default_transport_is_offline():
    with pytest.raises(TransportError):
        @@Gateway@@().get_charge("ch_1")


def test_set_default_transport_is_used(transport):
    previous = transport_module.set_default_transport(transport)
    try:
        transport.reply(200, {"id": "ch_9", "amount_cents": 900, "currency": "USD"})
        assert @@Gateway@@().get_charge("ch_9")["id"] == "ch_9"
    finally:
        transport_module.set_default_transport(previous)
    assert transport.requests[0]["url"].endswith("/charges/ch_9")
