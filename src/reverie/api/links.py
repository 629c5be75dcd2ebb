"""Absolute signed URLs for a request: the public base (configured, or this request's own host)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .signed_urls import signed_url


@dataclass(frozen=True)
class Links:
    secret: bytes
    base: str
    ttl: int

    @classmethod
    def of(cls, request: Request) -> "Links":
        state = request.app.state
        base = state.store.settings.public_url or str(request.base_url)
        return cls(secret=state.signing_secret, base=base.rstrip("/"), ttl=state.store.settings.signed_url_ttl)

    def signed(self, account_id: int, bucket: str, blob: str) -> str:
        return signed_url(self.secret, self.base, account_id, bucket, blob, self.ttl)
