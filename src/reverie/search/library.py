"""The library's timeline composed for a page: the entries the database ordered and paged (store/library.py)
with the rows, tags and first keyframes they are shown with; and its months with where each begins."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Row

from ..store import Store
from ..store import images as image_rows
from ..store import library
from ..store import videos as video_rows


@dataclass
class Shown:
    kind: str  # "image" or "video"
    row: Row
    when_ms: int
    tags: list[str] = field(default_factory=list)  # a photo's
    keyframe_key: str | None = None  # a video's first keyframe, once its pictures are indexed


@dataclass(frozen=True)
class Month:
    month: str  # yyyy-MM, UTC
    count: int
    offset: int  # the position of its first item in the timeline


def page(store: Store, account_id: int, unique_id: str, page_no: int, size: int) -> tuple[int, list[Shown]]:
    """The total and one page."""
    with store.db.read() as conn:
        total = library.count(conn, account_id, unique_id)
        entries = library.page(conn, account_id, unique_id, page_no, size)
        photo_ids = [e.id for e in entries if e.kind == "image"]
        video_ids = [e.id for e in entries if e.kind == "video"]
        photos = image_rows.get_many(conn, account_id, photo_ids)
        tags = image_rows.tags_of(conn, photo_ids)
        films = video_rows.get_many(conn, account_id, video_ids)
        keyframes = library.first_keyframes(conn, video_ids)
    shown = []
    for e in entries:  # on PostgreSQL each statement reads its own snapshot: an item deleted meanwhile is left out
        if e.kind == "image" and e.id in photos:
            shown.append(Shown("image", photos[e.id], e.when_ms, tags=tags[e.id]))
        elif e.kind == "video" and e.id in films:
            shown.append(Shown("video", films[e.id], e.when_ms, keyframe_key=keyframes.get(e.id)))
    return total, shown


def months(store: Store, account_id: int, unique_id: str) -> tuple[int, list[Month]]:
    """The total and the months, newest first. A month's items are contiguous in the timeline (its order
    is by `when` first), so its first item sits after all the items of the newer months."""
    with store.db.read() as conn:
        counted = library.months(conn, account_id, unique_id)
    out, offset = [], 0
    for name, n in counted:
        out.append(Month(name, n, offset))
        offset += n
    return offset, out
