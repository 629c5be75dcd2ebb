"""The indexing job queue: a table in the metadata database.

A claim picks due jobs and leases them inside one write transaction, so two workers never get the same job.
A claimed job carries a lease; a worker killed mid-job leaves it `running` with a lease in the past,
and the next claim picks it up again. A job that keeps crashing its worker stops after max attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, or_, select

from .db import Database, now_ms
from .schema import jobs

IMAGE_INDEX = "image.index"
IMAGE_OCR = "image.ocr"  # reading the text the image.index job's gate saw
IMAGE_FACES = "image.faces"  # finding and grouping the faces of a photo where the detector saw a person
IMAGE_FOLLOW_UPS = (IMAGE_OCR, IMAGE_FACES)  # an image is PARSE once none of these is left
VIDEO_INDEX = "video.index"
VIDEO_ASR = "video.asr"  # the speech of a video, queued with its video.index job: the two run side by side
VIDEO_FACES = "video.faces"  # the faces of a video's keyframes where the detector saw a person
VIDEO_JOBS = (VIDEO_INDEX, VIDEO_ASR, VIDEO_FACES)  # a video is PARSE once none of these is left
KINDS = {"image": (IMAGE_INDEX,), "ocr": (IMAGE_OCR,), "faces": (IMAGE_FACES, VIDEO_FACES), "video": (VIDEO_INDEX,),
         "asr": (VIDEO_ASR,)}  # `worker --only` names


class LeaseLost(Exception):
    """Another worker took the job over (our lease ran out); its result wins."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    subject_id: int
    attempts: int
    owner: str


def enqueue(conn: Connection, kind: str, subject_ids: list[int]) -> None:
    t = now_ms()
    conn.execute(
        jobs.insert(),
        [
            dict(kind=kind, subject_id=s, state="queued", attempts=0, run_after_ms=t, created_ms=t, updated_ms=t)
            for s in subject_ids
        ],
    )


def claim(db: Database, owner: str, lease_seconds: int, kinds: tuple[str, ...] | None = None,
          batches: dict[str, int] | None = None) -> list[Job]:
    """Due jobs leased to `owner`, oldest first: the next one (of `kinds`, when given) and, where `batches`
    names its kind, up to that many in all of its kind, so that one transaction claims them and one stores
    their results. A job whose lease ran out counts as due, so a killed worker's job is retried; jobs
    that were claimed before go alone, so that one which kills its worker takes no other job down with it.
    [] when nothing is due. PostgreSQL workers skip rows another worker is claiming."""
    t = now_ms()
    claimable = or_(
        and_(jobs.c.state == "queued", jobs.c.run_after_ms <= t),
        and_(jobs.c.state == "running", jobs.c.lease_until_ms < t),
    )
    if kinds is not None:
        claimable = and_(claimable, jobs.c.kind.in_(kinds))

    def pick(where, limit: int):  # noqa: ANN001, ANN202
        q = select(jobs.c.id, jobs.c.kind, jobs.c.attempts).where(where)
        q = q.order_by(jobs.c.run_after_ms, jobs.c.id).limit(limit)
        return q if db.is_sqlite else q.with_for_update(skip_locked=True)

    with db.write() as conn:
        first = conn.execute(pick(claimable, 1)).first()
        if first is None:
            return []
        ids = [first.id]
        batch = (batches or {}).get(first.kind, 1) if first.attempts == 0 else 1
        if batch > 1:
            more = and_(claimable, jobs.c.kind == first.kind, jobs.c.attempts == 0, jobs.c.id != first.id)
            ids += conn.execute(pick(more, batch - 1)).scalars().all()
        rows = conn.execute(
            jobs.update()
            .where(jobs.c.id.in_(ids))
            .values(state="running", attempts=jobs.c.attempts + 1, lease_owner=owner,
                    lease_until_ms=t + lease_seconds * 1000, updated_ms=t)
            .returning(jobs.c.id, jobs.c.kind, jobs.c.subject_id, jobs.c.attempts)
        ).all()
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted((Job(r.id, r.kind, r.subject_id, r.attempts, owner) for r in rows), key=lambda j: order[j.id])


def _mine(job: Job):
    return and_(jobs.c.id == job.id, jobs.c.lease_owner == job.owner, jobs.c.state == "running")


def finish(conn: Connection, job: Job) -> bool:
    """Remove a done job (the image's status keeps the outcome). False if the lease was lost."""
    return conn.execute(jobs.delete().where(_mine(job))).rowcount == 1


def settle(conn: Connection, job: Job, subject_exists: bool) -> bool:
    """Finish a job in the transaction that stores its result. True when the result should be stored;
    False when the subject was deleted meanwhile; LeaseLost when another worker owns the job now."""
    if not finish(conn, job) and subject_exists:
        raise LeaseLost()
    return subject_exists


def extend(db: Database, job: Job, lease_seconds: int) -> bool:
    """Renew the lease of a long job (a video); False if another worker has taken it over."""
    with db.write() as conn:
        return conn.execute(
            jobs.update().where(_mine(job)).values(lease_until_ms=now_ms() + lease_seconds * 1000, updated_ms=now_ms())
        ).rowcount == 1


def fail(conn: Connection, job: Job, error: str) -> bool:
    res = conn.execute(
        jobs.update().where(_mine(job)).values(state="failed", last_error=error[:2000], updated_ms=now_ms())
    )
    return res.rowcount == 1


def retry_later(db: Database, job: Job, error: str, delay_seconds: float) -> None:
    t = now_ms()
    with db.write() as conn:
        conn.execute(
            jobs.update()
            .where(_mine(job))
            .values(
                state="queued",
                run_after_ms=t + int(delay_seconds * 1000),
                lease_owner=None,
                lease_until_ms=None,
                last_error=error[:2000],
                updated_ms=t,
            )
        )


def postpone(db: Database, job: Job, why: str, delay_seconds: float) -> None:
    """Queue a job again for later without counting this attempt: it met an outage of the database or the
    object store, which says nothing about the job itself."""
    t = now_ms()
    with db.write() as conn:
        conn.execute(jobs.update().where(_mine(job)).values(
            state="queued", attempts=jobs.c.attempts - 1, run_after_ms=t + int(delay_seconds * 1000),
            lease_owner=None, lease_until_ms=None, last_error=why[:2000], updated_ms=t))


def release(db: Database, owner: str) -> int:
    """Hand back every job `owner` holds, due now and uncounted: after an outage a worker cannot tell which of
    its jobs' results were stored (those jobs are gone) and which were not, nor whether a claim it never
    heard back from went through. Without this they would wait for their lease to run out."""
    t = now_ms()
    with db.write() as conn:
        return conn.execute(jobs.update().where(jobs.c.lease_owner == owner, jobs.c.state == "running").values(
            state="queued", attempts=jobs.c.attempts - 1, run_after_ms=t, lease_owner=None,
            lease_until_ms=None, updated_ms=t)).rowcount


def pending(conn: Connection, subject_id: int, kinds: tuple[str, ...]) -> bool:
    """Whether a job of these kinds is still queued or running for the subject (failed ones are done)."""
    q = select(jobs.c.id).where(jobs.c.subject_id == subject_id, jobs.c.kind.in_(kinds),
                                jobs.c.state.in_(("queued", "running"))).limit(1)
    return conn.execute(q).first() is not None


def delete_for(conn: Connection, subject_ids: list[int]) -> None:
    # Images and videos draw their ids from one sequence, so a subject id names one thing.
    conn.execute(jobs.delete().where(jobs.c.subject_id.in_(subject_ids)))
