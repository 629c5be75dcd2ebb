"""Image ids: 64-bit, unique, time-ordered, never reused.

An id is (milliseconds since 2020-01-01) << 22 plus a sequence. The last minted value lives in the
`counters` table and only grows, inside the same transaction as the rows that use the ids, so ids
survive restarts, clock steps backwards and deletes without ever repeating.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, select

from .db import insert_missing
from .schema import counters

EPOCH_MS = 1_577_836_800_000
SEQUENCE_BITS = 22


def _floor_for_now() -> int:
    return (int(time.time() * 1000) - EPOCH_MS) << SEQUENCE_BITS


def mint(conn: Connection, name: str, count: int) -> list[int]:
    """Reserve `count` consecutive ids. Call inside a write transaction."""
    insert_missing(conn, counters, name=name, value=0)
    # FOR UPDATE: on PostgreSQL, concurrent uploads queue here instead of reading the same last value.
    last = conn.execute(select(counters.c.value).where(counters.c.name == name).with_for_update()).scalar_one()
    first = max(last + 1, _floor_for_now())
    new_last = first + count - 1
    conn.execute(counters.update().where(counters.c.name == name).values(value=new_last))
    return list(range(first, new_last + 1))


def created_ms(image_id: int) -> int:
    return (image_id >> SEQUENCE_BITS) + EPOCH_MS
