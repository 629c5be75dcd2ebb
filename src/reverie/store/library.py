"""The library as one timeline: a namespace's photos and videos together, newest first by when each was
taken (else uploaded), paged and counted by month in the database.

Both arms of the timeline can be walked in the order of their (account, namespace, when, upload time, id)
index (migration 0009) and the two ordered streams merged: SQLite does so (an ordered compound select over
covering indexes), so a page costs its offset in index entries, never a sort of the namespace; PostgreSQL
chooses between that (Merge Append) and a scan and sort by its statistics. `when` must be written
exactly as the index's expression for the index to serve it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, func, literal, select, union_all

from .schema import images, video_clips, videos


def when_ms(table: Table):  # noqa: ANN201
    """Capture time when known, else upload time: the expression the library indexes are built on."""
    return func.coalesce(table.c.datetime_taken_ms, table.c.created_ms)


@dataclass(frozen=True)
class Entry:
    kind: str  # "image" or "video"
    id: int
    when_ms: int


def _arm(table: Table, kind: str, account_id: int, unique_id: str):  # noqa: ANN202
    return select(
        literal(kind).label("kind"), table.c.id.label("id"), when_ms(table).label("when_ms"),
        table.c.created_ms.label("created_ms"),
    ).where(table.c.account_id == account_id, table.c.unique_id == unique_id)


def count(conn: Connection, account_id: int, unique_id: str) -> int:
    total = 0
    for table in (images, videos):
        total += conn.execute(select(func.count()).select_from(table).where(
            table.c.account_id == account_id, table.c.unique_id == unique_id)).scalar_one()
    return total


def page(conn: Connection, account_id: int, unique_id: str, page_no: int, size: int) -> list[Entry]:
    """One page of the timeline: newest `when` first, ties by upload time then id (one id sequence serves
    photos and videos, so the order is total and pages never overlap)."""
    both = union_all(_arm(images, "image", account_id, unique_id), _arm(videos, "video", account_id, unique_id))
    cols = both.selected_columns
    q = both.order_by(cols.when_ms.desc(), cols.created_ms.desc(), cols.id.desc()).offset((page_no - 1) * size).limit(size)
    return [Entry(r.kind, r.id, r.when_ms) for r in conn.execute(q)]


def _month(conn: Connection, column):  # noqa: ANN001, ANN202
    """`yyyy-MM` of a ms timestamp, in UTC (fractional seconds, so times before 1970 fall in their month)."""
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m", column / 1000.0, "unixepoch")
    return func.to_char(func.timezone("UTC", func.to_timestamp(column / 1000.0)), "YYYY-MM")


def months(conn: Connection, account_id: int, unique_id: str) -> list[tuple[str, int]]:
    """(month, items) of the timeline, newest month first."""
    per_month: dict[str, int] = {}
    for table in (images, videos):
        month = _month(conn, when_ms(table)).label("month")
        q = (select(month, func.count()).where(table.c.account_id == account_id, table.c.unique_id == unique_id)
             .group_by(month))
        for name, n in conn.execute(q):
            per_month[name] = per_month.get(name, 0) + n
    return sorted(per_month.items(), reverse=True)


def first_keyframes(conn: Connection, video_ids: list[int]) -> dict[int, str]:
    """The blob key of each video's first keyframe, for those whose pictures are indexed."""
    if not video_ids:
        return {}
    q = select(video_clips.c.video_id, video_clips.c.keyframe_key).where(
        video_clips.c.video_id.in_(video_ids), video_clips.c.idx == 0)
    return dict(conn.execute(q).all())
