"""Time-limited signed URLs that Reverie serves itself (`img_url` and friends).

The signature binds account, bucket, blob and expiry under a server secret kept in the database (so every
server process agrees). A URL works without a key until it expires; a changed character breaks it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import quote

from sqlalchemy import select

from ..store import Store
from ..store.db import insert_missing
from ..store.schema import server_settings

PATH = "/serve/api/v1/files"


def load_secret(store: Store) -> bytes:
    with store.db.write() as conn:
        # The first process to start picks the secret; every other one reads that one.
        insert_missing(conn, server_settings, key="signing_secret", value=secrets.token_hex(32))
        value = conn.execute(select(server_settings.c.value).where(server_settings.c.key == "signing_secret")).scalar_one()
    return bytes.fromhex(value)


def signature(secret: bytes, account_id: int, bucket: str, blob: str, expires: int) -> str:
    msg = f"{account_id}\n{bucket}\n{blob}\n{expires}".encode("utf-8", "surrogateescape")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:40]


def signed_url(secret: bytes, base: str, account_id: int, bucket: str, blob: str, ttl: int) -> str:
    expires = int(time.time()) + ttl
    sig = signature(secret, account_id, bucket, blob, expires)
    return f"{base}{PATH}/{quote(bucket)}/{quote(blob)}?account={account_id}&expires={expires}&signature={sig}"


def verify(secret: bytes, account_id: int, bucket: str, blob: str, expires: int, sig: str) -> str | None:
    """None when valid, else what is wrong."""
    given = sig.encode("utf-8", "surrogateescape")  # compare_digest refuses non-ASCII str
    if not hmac.compare_digest(signature(secret, account_id, bucket, blob, expires).encode(), given):
        return "signature does not match this URL"
    if expires < time.time():
        return "URL expired; fetch a fresh one from get_img_metadata or search"
    return None
