"""Per-account token buckets, one per endpoint class (upload, search, read, delete).

Bucket fill levels live in a database every server process shares, so the limit holds across processes
and restarts: each take is a read-modify-write under the database's write lock. On the embedded stack
that is its own SQLite file (DATA/limits.db, synchronous=NORMAL): the check runs on every request, and
sharing the library's write lock would queue searches behind upload commits that wait for fsync.
Losing the last moments of fill levels to a power cut is harmless; deleting the file refills every bucket.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import delete, select

from ..config import ENDPOINT_CLASSES, RateLimit, Settings, parse_rate_limits
from ..errors import RateLimited
from .accounts import account_id
from .db import Database, insert_missing
from .schema import account_rate_limits, rate_buckets, rate_buckets_metadata

OVERRIDE_TTL_S = 2.0  # how soon a `reverie limits set` reaches running servers


class RateLimiter:
    def __init__(self, db: Database, buckets: Database, defaults: dict[str, RateLimit]):
        self.db = db
        self.buckets = buckets
        self.defaults = defaults
        self._overrides: dict[int, tuple[float, dict[str, RateLimit]]] = {}
        if buckets is not db:  # their own SQLite file; on PostgreSQL a migration made the table
            rate_buckets_metadata.create_all(buckets.engine)

    @classmethod
    def open(cls, settings: Settings, db: Database) -> "RateLimiter":
        buckets = Database(f"sqlite:///{settings.data / 'limits.db'}", durable=False) if db.is_sqlite else db
        return cls(db, buckets, parse_rate_limits(settings.rate_limits))

    def close(self) -> None:
        if self.buckets is not self.db:
            self.buckets.dispose()

    def limit(self, account: int, endpoint_class: str) -> RateLimit | None:
        cached = self._overrides.get(account)
        if cached is None or time.monotonic() - cached[0] > OVERRIDE_TTL_S:
            with self.db.read() as conn:
                rows = conn.execute(select(account_rate_limits).where(account_rate_limits.c.account_id == account))
                cached = (time.monotonic(), {r.endpoint_class: RateLimit(r.per_second, r.burst) for r in rows})
            self._overrides[account] = cached
        limit = cached[1].get(endpoint_class, self.defaults.get(endpoint_class))
        return limit if limit is not None and limit.per_second > 0 else None

    def take(self, account: int, endpoint_class: str) -> None:
        """Spend one token, or raise RateLimited saying when the next one will be there."""
        limit = self.limit(account, endpoint_class)
        if limit is None:
            return
        key = (rate_buckets.c.account_id == account) & (rate_buckets.c.endpoint_class == endpoint_class)
        with self.buckets.write() as conn:
            now = time.time() * 1000
            insert_missing(conn, rate_buckets, account_id=account, endpoint_class=endpoint_class,
                           tokens=float(limit.burst), updated_ms=int(now))
            row = conn.execute(select(rate_buckets.c.tokens, rate_buckets.c.updated_ms).where(key).with_for_update()).one()
            tokens = min(float(limit.burst), row.tokens + max(0.0, now - row.updated_ms) / 1000 * limit.per_second)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            conn.execute(rate_buckets.update().where(key).values(tokens=tokens, updated_ms=int(now)))
        if not allowed:
            wait = max(1, math.ceil((1 - tokens) / limit.per_second))
            raise RateLimited(
                f"Request has exceeded the limit: {endpoint_class} allows {limit.per_second:g} requests/s "
                f"(bursts of {limit.burst}) per account; retry after {wait} s", wait)


def set_limit(db: Database, account: str, endpoint_class: str, per_second: float, burst: int) -> None:
    """Override a default for one account; per_second 0 means not limited."""
    if endpoint_class not in ENDPOINT_CLASSES:
        raise ValueError(f"endpoint class must be one of {', '.join(ENDPOINT_CLASSES)}, got {endpoint_class!r}")
    if per_second < 0 or burst < 1:
        raise ValueError("the rate must be 0 (not limited) or more, and the burst at least 1")
    with db.write() as conn:
        acc = account_id(conn, account)
        key = (account_rate_limits.c.account_id == acc) & (account_rate_limits.c.endpoint_class == endpoint_class)
        conn.execute(delete(account_rate_limits).where(key))
        conn.execute(account_rate_limits.insert().values(account_id=acc, endpoint_class=endpoint_class,
                                                         per_second=per_second, burst=burst))


def clear_limit(db: Database, account: str, endpoint_class: str) -> bool:
    with db.write() as conn:
        acc = account_id(conn, account)
        return conn.execute(delete(account_rate_limits).where(
            (account_rate_limits.c.account_id == acc) & (account_rate_limits.c.endpoint_class == endpoint_class))).rowcount > 0


def effective_limits(db: Database, account: str, defaults: dict[str, RateLimit]) -> dict[str, tuple[RateLimit | None, str]]:
    """Each endpoint class's limit for the account and where it comes from (default or account)."""
    with db.read() as conn:
        acc = account_id(conn, account)
        rows = conn.execute(select(account_rate_limits).where(account_rate_limits.c.account_id == acc))
        overrides = {r.endpoint_class: RateLimit(r.per_second, r.burst) for r in rows}
    out = {}
    for cls in ENDPOINT_CLASSES:
        limit, source = (overrides[cls], "account") if cls in overrides else (defaults.get(cls), "default")
        out[cls] = (limit if limit is not None and limit.per_second > 0 else None, source)
    return out
