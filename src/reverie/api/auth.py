"""`Authorization: <key>` (a `Bearer ` prefix is tolerated) to the calling account, and that account's
rate limit for the endpoint's class."""

from __future__ import annotations

from typing import Callable

from fastapi import Request
from fastapi.security import APIKeyHeader

from ..errors import KeyDisabled, Unauthorized
from ..store.accounts import Caller, lookup_key

# Declared for the OpenAPI document; the check itself is below.
api_key_scheme = APIKeyHeader(name="Authorization", auto_error=False, description="Your Reverie key, no Bearer")


def caller(request: Request) -> Caller:
    raw = request.headers.get("authorization", "").strip()
    if raw[:7].lower() == "bearer ":
        raw = raw[7:].strip()
    if not raw:
        raise Unauthorized("Authorization: missing; send your key as `Authorization: <key>`")
    found = lookup_key(request.app.state.store.db, raw)
    if found is None:
        raise Unauthorized("Authorization: unknown key")
    if found.disabled:
        raise KeyDisabled("Authorization: this key is disabled; create a new one with `reverie keys create`")
    return found


def limited(endpoint_class: str) -> Callable[[Request], Caller]:
    """A dependency: the caller, once a token of their `endpoint_class` bucket is spent. It runs before
    the body is read, so a limited upload stores nothing and costs no bandwidth beyond its headers."""

    def dependency(request: Request) -> Caller:
        who = caller(request)
        request.app.state.limiter.take(who.account_id, endpoint_class)
        return who

    return dependency
