from @@pkg@@ import auth
from @@pkg@@.router import dispatch, is_internal


def test_public_stock_lookup(app, token):
    status, body = dispatch(app, "GET", "/api/v1/stock", token("stock:read"),
                            {"sku": "TLS-1001", "warehouse": "AMS1"})
    assert status == 200
    assert body["available"] == 40


def test_reserve_and_release(app, token):
    writer = token("stock:write")
    status, body = dispatch(app, "POST", "/api/v1/reservations", writer,
                            {"sku": "TLS-1001", "warehouse": "AMS1", "quantity": 15,
                             "order_ref": "ORD-77"})
    assert status == 200 and body["status"] == "held"
    assert app.book.available("AMS1", "TLS-1001") == 25
    status, body = dispatch(app, "POST", "/api/v1/reservations/release", writer,
                            {"reservation_id": body["id"]})
    assert status == 200 and body["status"] == "released"
    assert app.book.available("AMS1", "TLS-1001") == 40
    assert [e.name for e in app.journal.all()] == ["stock_reserved", "reservation_released"]


def test_reserving_too_much_conflicts(app, token):
    status, _ = dispatch(app, "POST", "/api/v1/reservations", token("stock:write"),
                         {"sku": "TLS-1001", "warehouse": "BER2", "quantity": 6,
                          "order_ref": "ORD-1"})
    assert status == 409


def test_internal_shipment_receipt(app, token):
    status, body = dispatch(app, "POST", "/internal/v1/shipments", token("stock:write"),
                            {"warehouse": "AMS1", "supplier_id": "SUP-1",
                             "lines": {"TLS-1001": 10, "TLS-1002": 3}})
    assert status == 200
    assert app.book.on_hand("AMS1", "TLS-1001") == 50
    assert app.journal.named("shipment_received")[0].payload["units"] == 13
    assert is_internal("/internal/v1/shipments") and not is_internal("/api/v1/stock")


def test_snapshot_and_errors(app, token):
    status, body = dispatch(app, "GET", "/internal/v1/stock-snapshot", token("stock:read"),
                            {"warehouse": "AMS1"})
    assert status == 200 and len(body["levels"]) == 2
    assert dispatch(app, "GET", "/internal/v1/stock-snapshot", "junk",
                    {"warehouse": "AMS1"})[0] == 401
    assert dispatch(app, "GET", "/internal/v1/stock-snapshot", token("stock:write"),
                    {"warehouse": "AMS1"})[0] == 403
    assert dispatch(app, "GET", "/api/v1/stock", token(), {"sku": "NOP-0000",
                                                           "warehouse": "AMS1"})[0] == 404
    assert dispatch(app, "GET", "/nowhere", token())[0] == 404


def test_revoked_token_is_refused_on_public_paths(app, token):
    reader = token("stock:read")
    auth.revoke_token(reader)
    assert dispatch(app, "GET", "/api/v1/stock", reader,
                    {"sku": "TLS-1001", "warehouse": "AMS1"})[0] == 401
