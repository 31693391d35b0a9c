"""Internal endpoints (`/internal/...`), called by our own back-office services.

Every internal endpoint authenticates the caller's bearer token and checks one scope.
"""
