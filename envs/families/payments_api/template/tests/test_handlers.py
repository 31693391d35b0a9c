from @@pkg@@.handlers import Reply, Request, Services, build_router


def test_create_charge_books_the_ledger(gateway, ledger, transport):
    transport.reply(201, {"id": "ch_1", "amount_cents": 2000, "currency": "EUR",
                          "status": "succeeded", "reference": "order-7"})
    services = Services(gateway=gateway, ledger=ledger, transport=transport)
    reply = build_router().dispatch(services, Request("POST", "/charges", {
        "amount_cents": 2000, "source": "tok_visa", "reference": "order-7"}))
    assert reply.status == 201
    assert reply.body["id"] == "ch_1"
    assert ledger.balance("EUR") == 2000


def test_duplicate_reference_is_a_conflict(gateway, ledger, transport):
    ledger.record("charge", "order-7", 2000, "EUR")
    services = Services(gateway=gateway, ledger=ledger, transport=transport)
    reply = build_router().dispatch(services, Request("POST", "/charges", {
        "amount_cents": 2000, "source": "tok_visa", "reference": "order-7"}))
    assert reply.status == 409
    assert transport.requests == []


def test_errors_become_statuses(gateway, ledger, transport):
    services = Services(gateway=gateway, ledger=ledger, transport=transport)
    router = build_router()
    assert router.dispatch(services, Request("GET", "/nope")).status == 404
    assert router.dispatch(services, Request("POST", "/charges", {})).status == 400
    transport.reply(500, {"error": {"message": "boom"}})
    assert router.dispatch(services, Request("GET", "/charges/ch_1")) == Reply(
        502, {"error": "@@Provider@@ error 500: boom", "provider_status": 500})
