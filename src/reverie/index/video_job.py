"""One video indexing job: run the pipeline, then store clips, segments, vectors and the outcome in one
transaction. A job redone after a crash starts from a clean slate (derived rows are replaced; keyframe
blobs have fixed keys)."""

from __future__ import annotations

import logging
import secrets
import time

from ..models import Models
from ..store import Store
from ..store import jobs as job_queue
from ..store import videos as video_rows
from ..store.db import now_ms
from ..store.jobs import LeaseLost
from ..store.schema import videos
from .video import CorruptVideo, facts_to_columns, index_video

log = logging.getLogger(__name__)

Callback = tuple[str, dict]


def run(store: Store, models: Models, job: job_queue.Job) -> Callback | None:
    """Index the job's video. Returns the callback to send, if the upload asked for one."""
    started = time.monotonic()
    with store.db.read() as conn:
        row = video_rows.get_any(conn, job.subject_id)
    if row is None:  # deleted while queued
        with store.db.write() as conn:
            job_queue.finish(conn, job)
        return None
    if row.original_key is None or not store.blobs.exists(row.original_key):
        raise CorruptVideo("the original file is gone; upload the video again")
    path = store.blobs.local_path(row.original_key)
    fetched = None
    if path is None:  # in object storage: FFmpeg wants a file it can seek in, so bring a copy over
        path = fetched = store.settings.staging_dir / f"video-{row.id}-{secrets.token_hex(4)}.{row.container}"

    def alive() -> None:
        if not job_queue.extend(store.db, job, store.settings.job_lease_seconds):
            raise LeaseLost()

    try:
        if fetched is not None:
            store.blobs.fetch_to(row.original_key, fetched)
        facts = index_video(store, models, row, str(path), alive)
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    with store.db.write() as conn:
        current = video_rows.get_any(conn, row.id)
        if job_queue.settle(conn, job, current is not None):
            stale = set(video_rows.clear_derived(conn, row.id))
            tags = video_rows.tags_of(conn, [row.id])[row.id]
            video_rows.write_clips(conn, row.id, facts.clips, tags, row.name, facts.model)
            if facts.segments:
                video_rows.write_segments(conn, row.id, facts.segments, facts.segment_vectors, models.speech.name)
            conn.execute(videos.update().where(videos.c.id == row.id).values(
                status="PARSE", cause=None, indexed_ms=now_ms(),
                transcribed_ms=now_ms() if facts.probe.audio_codec else None,
                original_key=row.original_key if row.retain_original else None,
                **facts_to_columns(facts)))
    kept = {c.keyframe_key for c in facts.clips}
    if current is None:  # deleted while we worked: drop what we derived
        for key in kept:
            store.blobs.delete(key)
        return None
    for key in stale - kept:
        store.blobs.delete(key)
    if not row.retain_original:
        store.blobs.delete(row.original_key)
    log.info("indexed video %s (%.0f s of video, %d clips, %d speech segments) in %.1f s", video_rows.video_no(row.id),
             facts.probe.duration_s, len(facts.clips), len(facts.segments), time.monotonic() - started)
    return _callback(row, "PARSE")


def give_up(store: Store, job: job_queue.Job, cause: str) -> Callback | None:
    log.warning("video %s FAILED: %s", video_rows.video_no(job.subject_id), cause)
    with store.db.write() as conn:
        if not job_queue.fail(conn, job, cause):
            return None
        conn.execute(videos.update().where(videos.c.id == job.subject_id).values(status="FAILED", cause=cause))
        row = video_rows.get_any(conn, job.subject_id)
    return _callback(row, "FAILED") if row is not None else None


def _callback(row, status: str) -> Callback | None:  # noqa: ANN001
    return (row.callback, {"videoNo": video_rows.video_no(row.id), "status": status}) if row.callback else None
