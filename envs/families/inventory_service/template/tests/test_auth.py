import time

import pytest

from @@pkg@@ import auth
from @@pkg@@.auth import @@AuthError@@, ForbiddenError, require_scope


def test_valid_token_gives_principal(token):
    principal = auth.@@validate_fn@@(token("stock:read", subject="svc-wms"))
    assert principal.subject == "svc-wms"
    assert principal.scopes == frozenset({"stock:read"})


def test_forged_expired_and_revoked_tokens_are_rejected(token):
    good = token()
    payload, signature = good.split(".")
    with pytest.raises(@@AuthError@@):
        auth.@@validate_fn@@(payload + "." + signature[::-1])
    with pytest.raises(@@AuthError@@):
        auth.@@validate_fn@@("not-a-token")
    expired = auth.issue_token("svc-old", ["stock:read"], now=time.time() - 7200, ttl_s=60)
    with pytest.raises(@@AuthError@@):
        auth.@@validate_fn@@(expired)
    auth.revoke_token(good)
    with pytest.raises(@@AuthError@@):
        auth.@@validate_fn@@(good)


def test_cache_validates_each_token_once(token, monkeypatch):
    calls = []
    real = auth.@@validate_fn@@

    def counting(value):
        calls.append(value)
        return real(value)

    monkeypatch.setattr(auth, "@@validate_fn@@", counting)
    first, second = token(), token()
    for _ in range(3):
        auth.@@cache_fn@@(first)
    auth.@@cache_fn@@(second)
    assert calls == [first, second]


def test_cache_does_not_keep_failures(token):
    with pytest.raises(@@AuthError@@):
        auth.@@cache_fn@@("broken.token")
    with pytest.raises(@@AuthError@@):
        auth.@@cache_fn@@("broken.token")


def test_require_scope(token):
    principal = auth.@@validate_fn@@(token("stock:read"))
    assert require_scope(principal, "stock:read") is principal
    with pytest.raises(ForbiddenError):
        require_scope(principal, "stock:write")


def test_unknown_scope_cannot_be_issued():
    with pytest.raises(ValueError):
        auth.issue_token("svc", ["stock:everything"])
