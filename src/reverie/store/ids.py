"""Image ids: 64-bit, unique, time-ordered, never reused.

An id is (milliseconds since 2020-01-01) << 22 plus a sequence. The last minted value lives in the
`counters` table and only grows, so ids survive restarts, clock steps backwards and deletes without ever
repeating. The ids of an upload that fails are never used: a gap.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from .db import Database, insert_missing
from .schema import counters

EPOCH_MS = 1_577_836_800_000
SEQUENCE_BITS = 22


def _floor_for_now() -> int:
    return (int(time.time() * 1000) - EPOCH_MS) << SEQUENCE_BITS


def mint(db: Database, name: str, count: int) -> list[int]:
    """Reserve `count` consecutive ids, in a transaction of their own: the counter's row is locked for
    milliseconds, not for the whole upload that uses the ids (whose original may take minutes to reach S3,
    while every other upload would wait for the lock)."""
    with db.write() as conn:
        insert_missing(conn, counters, name=name, value=0)
        # FOR UPDATE: on PostgreSQL, concurrent uploads queue here instead of reading the same last value.
        last = conn.execute(select(counters.c.value).where(counters.c.name == name).with_for_update()).scalar_one()
        first = max(last + 1, _floor_for_now())
        new_last = first + count - 1
        conn.execute(counters.update().where(counters.c.name == name).values(value=new_last))
        return list(range(first, new_last + 1))


def created_ms(image_id: int) -> int:
    return (image_id >> SEQUENCE_BITS) + EPOCH_MS
