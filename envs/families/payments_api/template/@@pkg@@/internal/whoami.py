"""GET /internal/whoami: whom the caller's token belongs to (for debugging service accounts)."""

from __future__ import annotations

from .. import auth
from ..web import Reply, Request, Services


def whoami(services: Services, request: Request, params: dict[str, str]) -> Reply:
    """The caller's subject and scopes."""
    @@pressure:internal_auth@@
    principal = auth.@@AUTHN@@(auth.bearer_token(request.headers), services.transport)
    return Reply(200, {"subject": principal.subject, "scopes": sorted(principal.scopes)})
