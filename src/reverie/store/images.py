"""Image rows: insert, read, list with filters, delete with everything derived from them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, Row, Table, and_, exists, func, select

from . import jobs as job_queue
from . import search_index
from .db import insert_missing, now_ms
from .schema import faces, image_tags, images, namespaces, videos

STATUSES = ("UNPARSE", "PARSE", "FAILED")


def ensure_namespace(conn: Connection, account_id: int, name: str) -> None:
    insert_missing(conn, namespaces, account_id=account_id, name=name, created_ms=now_ms())


def namespace_sizes(conn: Connection, account_id: int) -> list[tuple[str, int, int]]:
    """(namespace, photos, videos) of every namespace of the account, by name; every status counts. A
    namespace exists from its first upload of either kind."""
    counted = {}
    for table in (images, videos):
        q = select(table.c.unique_id, func.count()).where(table.c.account_id == account_id).group_by(table.c.unique_id)
        counted[table.name] = dict(conn.execute(q).all())
    q = select(namespaces.c.name).where(namespaces.c.account_id == account_id).order_by(namespaces.c.name)
    return [(n, counted["images"].get(n, 0), counted["videos"].get(n, 0)) for n in conn.execute(q).scalars()]


def insert(conn: Connection, rows: list[dict], tags: list[str]) -> None:
    conn.execute(images.insert(), rows)
    if tags:
        conn.execute(image_tags.insert(), [dict(image_id=r["id"], tag=t, position=i) for r in rows for i, t in enumerate(tags)])


def get(conn: Connection, account_id: int, image_id: int) -> Row | None:
    return conn.execute(
        select(images).where(images.c.id == image_id, images.c.account_id == account_id)
    ).first()


def get_many(conn: Connection, account_id: int, image_ids: list[int]) -> dict[int, Row]:
    # By primary key only: with account_id in the WHERE, SQLite picked the (account, namespace, id) index
    # and walked every row of the account (8 ms at 100,000 images). The owner is checked here instead.
    return {i: r for i, r in get_many_any(conn, image_ids).items() if r.account_id == account_id}


def get_any(conn: Connection, image_id: int) -> Row | None:
    """For the indexer, which works on behalf of whichever account owns the image."""
    return conn.execute(select(images).where(images.c.id == image_id)).first()


def get_many_any(conn: Connection, image_ids: list[int]) -> dict[int, Row]:
    """`get_any` of a batch of images; the deleted ones are missing."""
    return {r.id: r for r in conn.execute(select(images).where(images.c.id.in_(image_ids)))} if image_ids else {}


def class_likelihoods(conn: Connection, ids: list[int], asked: dict[str, int], table: Table = images) -> dict[int, float]:
    """How likely the detector finds what a query asks for in each photo (with `table` video_clips: each clip's
    keyframe), averaged over the classes `asked` ({class: how many}). One of a class: its likelihood. More
    ("two dogs"): the score of the n-th of its sure objects; a photo with fewer sure ones gets nothing from
    the detector and ranks by its picture and words, as a sentence does (half its likelihood for a lone dog
    of two still kept it at `high`; README.md has the figures). One indexed before likelihoods were kept
    counts the scores of its stored objects (those the detector was sure of)."""
    if not ids or not asked:
        return {}
    rows = conn.execute(select(table.c.id, table.c.object_likelihoods_json, table.c.objects_json)
                        .where(table.c.id.in_(ids))).all()
    counting = any(count > 1 for count in asked.values())
    out = {}
    for item_id, likelihoods_json, objects_json in rows:
        sure: dict[str, list[float]] = {}
        if counting or likelihoods_json is None:  # a query for one of each reads the likelihoods alone
            for o in json.loads(objects_json or "[]"):
                sure.setdefault(o["label"], []).append(o["score"])
        seen = json.loads(likelihoods_json) if likelihoods_json is not None else {c: max(s) for c, s in sure.items()}
        evidence = [seen.get(kind, 0.0) if count == 1 else _nth_best(sure.get(kind, []), count)
                    for kind, count in asked.items()]
        out[item_id] = sum(evidence) / len(evidence)
    return out


def _nth_best(scores: list[float], n: int) -> float:
    return sorted(scores, reverse=True)[n - 1] if len(scores) >= n else 0.0


def tags_of(conn: Connection, image_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in image_ids}
    if image_ids:
        q = (
            select(image_tags.c.image_id, image_tags.c.tag)
            .where(image_tags.c.image_id.in_(image_ids))
            .order_by(image_tags.c.image_id, image_tags.c.position)
        )
        for image_id, tag in conn.execute(q):
            out[image_id].append(tag)
    return out


@dataclass
class ImageFilter:
    unique_id: str
    tags_any: list[str] = field(default_factory=list)
    camera_model: str | None = None
    taken_from_ms: int | None = None
    taken_to_ms: int | None = None
    statuses: list[str] = field(default_factory=list)
    sha256_any: list[str] = field(default_factory=list)


def _where(account_id: int, f: ImageFilter):
    cond = [images.c.account_id == account_id, images.c.unique_id == f.unique_id]
    if f.tags_any:
        cond.append(
            exists().where(image_tags.c.image_id == images.c.id, image_tags.c.tag.in_(f.tags_any))
        )
    if f.camera_model is not None:
        cond.append(images.c.camera_model == f.camera_model)
    if f.taken_from_ms is not None:
        cond.append(images.c.datetime_taken_ms >= f.taken_from_ms)
    if f.taken_to_ms is not None:
        cond.append(images.c.datetime_taken_ms <= f.taken_to_ms)
    if f.statuses:
        cond.append(images.c.status.in_(f.statuses))
    if f.sha256_any:
        cond.append(images.c.sha256.in_(f.sha256_any))
    return and_(*cond)


def page(conn: Connection, account_id: int, f: ImageFilter, page_no: int, size: int) -> tuple[int, list[Row]]:
    where = _where(account_id, f)
    total = conn.execute(select(func.count()).select_from(images).where(where)).scalar_one()
    rows = conn.execute(
        select(images).where(where).order_by(images.c.id.desc()).offset((page_no - 1) * size).limit(size)
    ).all()
    return total, rows


def delete(conn: Connection, account_id: int, unique_id: str, image_ids: list[int]) -> list[Row]:
    """Delete rows, tags and jobs; returns the deleted rows so the caller can remove their blobs."""
    rows = conn.execute(
        select(images).where(
            images.c.account_id == account_id, images.c.unique_id == unique_id, images.c.id.in_(image_ids)
        )
    ).all()
    ids = [r.id for r in rows]
    if ids:
        conn.execute(image_tags.delete().where(image_tags.c.image_id.in_(ids)))
        conn.execute(faces.delete().where(faces.c.image_id.in_(ids)))
        job_queue.delete_for(conn, ids)
        search_index.remove(conn, ids)
        conn.execute(images.delete().where(images.c.id.in_(ids)))
    return rows


def sha_in_use(conn: Connection, sha256: str) -> bool:
    return conn.execute(select(images.c.id).where(images.c.sha256 == sha256).limit(1)).first() is not None
