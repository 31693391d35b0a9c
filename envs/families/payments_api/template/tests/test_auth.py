import time

import pytest

from @@pkg@@ import auth, settings
from @@pkg@@.handlers import Request, Services, build_router


def _active(scope="ledger:read", sub="svc-reports", ttl=3600):
    return {"active": True, "sub": sub, "scope": scope, "exp": time.time() + ttl}


def test_bearer_token():
    assert auth.bearer_token({"authorization": "Bearer abc "}) == "abc"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        with pytest.raises(auth.Unauthorized):
            auth.bearer_token(headers)


def test_validate_token_asks_the_identity_service(transport):
    transport.reply(200, _active("ledger:read payouts:read"))
    principal = auth.validate_token("tok-1", transport)
    assert principal.subject == "svc-reports"
    assert principal.scopes == {"ledger:read", "payouts:read"}
    (request,) = transport.requests
    assert request["url"] == settings.IDENTITY_BASE_URL + "/tokeninfo"
    assert request["headers"]["Authorization"] == "Bearer tok-1"


@pytest.mark.parametrize("status, body", [(200, {"active": False}), (401, {}),
                                          (200, {"active": True, "exp": 5})])
def test_invalid_tokens(transport, status, body):
    transport.reply(status, body)
    with pytest.raises(auth.Unauthorized):
        auth.validate_token("tok-2", transport)


def test_cached_validation_reuses_the_principal(transport):
    transport.reply(200, _active())
    first = auth.@@cached_fn@@("tok-3", transport)
    assert auth.@@cached_fn@@("tok-3", transport) == first
    assert len(transport.requests) == 1


def test_require_scope():
    principal = auth.Principal("svc", frozenset({"ledger:read"}), time.time() + 60)
    auth.require_scope(principal, "ledger:read")
    with pytest.raises(auth.Forbidden):
        auth.require_scope(principal, "ledger:write")


def test_whoami_route(gateway, ledger, transport):
    transport.reply(200, _active("audit:read ledger:read", sub="svc-backoffice"))
    services = Services(gateway=gateway, ledger=ledger, transport=transport)
    router = build_router()
    reply = router.dispatch(services, Request("GET", "/internal/whoami",
                                              headers={"Authorization": "Bearer tok-4"}))
    assert reply.status == 200
    assert reply.body == {"subject": "svc-backoffice", "scopes": ["audit:read", "ledger:read"]}
    assert router.dispatch(services, Request("GET", "/internal/whoami")).status == 401
