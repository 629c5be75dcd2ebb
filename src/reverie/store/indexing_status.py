"""What an account's indexing is doing: photos and videos by status per namespace, its jobs by kind and
state, and the latest failures with their cause. Read by `GET /indexing_status` and `reverie status --data`."""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, or_, select

from .schema import images, jobs, namespaces, videos
from .videos import video_no

RECENT_FAILURES = 10


def _by_status(conn: Connection, table, account_id: int) -> dict[str, dict[str, int]]:  # noqa: ANN001
    q = (select(table.c.unique_id, table.c.status, func.count()).where(table.c.account_id == account_id)
         .group_by(table.c.unique_id, table.c.status))
    counts: dict[str, dict[str, int]] = {}
    for unique_id, status, n in conn.execute(q):
        counts.setdefault(unique_id, {})[status] = n
    return counts


def _zeroed(counts: dict[str, int]) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in ("UNPARSE", "PARSE", "FAILED")}


def status(conn: Connection, account_id: int, recent: int = RECENT_FAILURES) -> dict:
    """{namespaces: [{unique_id, images: {UNPARSE, PARSE, FAILED}, videos: {...}}], jobs: [{kind, state, count}],
    failures: [{kind, id (a photo's number, a video's "VI…"), unique_id, name, cause, when_ms}]} (failures newest first)."""
    photos, films = _by_status(conn, images, account_id), _by_status(conn, videos, account_id)
    names = conn.execute(select(namespaces.c.name).where(namespaces.c.account_id == account_id)).scalars()
    per_namespace = [{"unique_id": n, "images": _zeroed(photos.get(n, {})), "videos": _zeroed(films.get(n, {}))}
                     for n in sorted(set(names) | set(photos) | set(films))]
    # Jobs name their subject only; the account's are those whose photo or video is the account's. Looked up
    # from the jobs (done ones are removed, so they are few) by primary key, not from the whole library.
    mine = or_(exists().where(images.c.id == jobs.c.subject_id, images.c.account_id == account_id),
               exists().where(videos.c.id == jobs.c.subject_id, videos.c.account_id == account_id))
    q = (select(jobs.c.kind, jobs.c.state, func.count()).where(mine)
         .group_by(jobs.c.kind, jobs.c.state).order_by(jobs.c.kind, jobs.c.state))
    queue = [{"kind": kind, "state": state, "count": n} for kind, state, n in conn.execute(q)]
    failures = []
    for kind, table in (("image", images), ("video", videos)):
        q = (select(table.c.id, table.c.unique_id, table.c.name, table.c.cause, table.c.indexed_ms, table.c.created_ms)
             .where(table.c.account_id == account_id, table.c.status == "FAILED")
             .order_by(func.coalesce(table.c.indexed_ms, table.c.created_ms).desc(), table.c.id.desc()).limit(recent))
        failures += [{"kind": kind, "id": video_no(r.id) if kind == "video" else r.id, "unique_id": r.unique_id,
                      "name": r.name, "cause": r.cause, "when_ms": r.indexed_ms or r.created_ms} for r in conn.execute(q)]
    failures.sort(key=lambda f: f["when_ms"], reverse=True)
    return {"namespaces": per_namespace, "jobs": queue, "failures": failures[:recent]}
