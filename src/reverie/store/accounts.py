"""Accounts and their API keys. A key is shown once; only its SHA-256 is stored (keys are 190-bit random,
so a slow password hash would add latency to every request and no safety)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from .db import Database, now_ms
from .schema import accounts, api_keys

KEY_PREFIX = "sk-reverie-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    account: str
    prefix: str
    created_ms: int
    disabled: bool


@dataclass(frozen=True)
class Caller:
    account_id: int
    key_id: int
    disabled: bool
    metered: bool = False  # credits are on for the account (see store/credits.py)


def create_key(db: Database, name: str, account: str) -> str:
    """Create a key (and its account on first use); returns the key, which is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    with db.write() as conn:
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.name == account)).scalar()
        if account_id is None:
            account_id = conn.execute(
                accounts.insert().values(name=account, created_ms=now_ms())
            ).inserted_primary_key[0]
        conn.execute(
            api_keys.insert().values(
                account_id=account_id,
                name=name,
                prefix=key[: len(KEY_PREFIX) + 6],
                key_hash=hash_key(key),
                created_ms=now_ms(),
            )
        )
    return key


def list_keys(db: Database) -> list[KeyInfo]:
    q = (
        select(api_keys, accounts.c.name.label("account"))
        .join(accounts, accounts.c.id == api_keys.c.account_id)
        .order_by(api_keys.c.id)
    )
    with db.read() as conn:
        return [
            KeyInfo(r.id, r.name, r.account, r.prefix, r.created_ms, r.disabled_ms is not None)
            for r in conn.execute(q)
        ]


def disable_key(db: Database, key_id: int) -> bool:
    with db.write() as conn:
        res = conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.disabled_ms.is_(None))
            .values(disabled_ms=now_ms())
        )
    return res.rowcount == 1


def lookup_key(db: Database, key: str) -> Caller | None:
    q = (
        select(api_keys.c.id, api_keys.c.account_id, api_keys.c.disabled_ms, accounts.c.credit_balance)
        .join(accounts, accounts.c.id == api_keys.c.account_id)
        .where(api_keys.c.key_hash == hash_key(key))
    )
    with db.read() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    return Caller(account_id=row.account_id, key_id=row.id, disabled=row.disabled_ms is not None,
                  metered=row.credit_balance is not None)


def account_id(conn, name: str) -> int:  # noqa: ANN001
    """The id of the named account; LookupError (saying how accounts come to be) when there is none."""
    found = conn.execute(select(accounts.c.id).where(accounts.c.name == name)).scalar()
    if found is None:
        raise LookupError(f"no account named {name!r}; accounts are made by `reverie keys create --account NAME`")
    return found


def key_count(db: Database) -> int:
    with db.read() as conn:
        return len(conn.execute(select(api_keys.c.id)).all())
