"""A video's jobs: video.index (keyframes, their models and text, clips) and video.asr (speech), queued
together at upload and run side by side, and video.faces (faces in keyframes where the detector saw a
person), queued by video.index. Each stores its result and its outcome in one transaction that starts by
updating the video's row, which on PostgreSQL holds that row's lock until it commits: so whichever of
video.index and video.asr stores second sees what the first stored (the clips, or the speech) and puts the
speech into the clips' captions. A job redone after a crash starts from a clean slate (its rows are
replaced; keyframe and face blobs have fixed keys). Kinds of their own, so that `reverie worker --only asr`
can keep Whisper on machines of its own. The video is PARSE once the last of them is done.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..models import Models
from ..models.speech import Segment
from ..store import Store
from ..store import jobs as job_queue
from ..store import people
from ..store.blobs import CLIP_FACES
from ..store import videos as video_rows
from ..store.db import now_ms
from ..store.jobs import LeaseLost
from ..store.schema import videos
from . import faces as face_step
from .speech import transcribe_video
from .video import CorruptVideo, caption, facts_to_columns, index_video, shown_words, speech_during

log = logging.getLogger(__name__)

Callback = tuple[str, dict]


@contextmanager
def _local_file(store: Store, row) -> Iterator[Path]:  # noqa: ANN001
    """A path FFmpeg can seek in: the blob's own, or a copy brought over from object storage."""
    if row.original_key is None or not store.blobs.exists(row.original_key):
        raise CorruptVideo("the original file is gone; upload the video again")
    path = store.blobs.local_path(row.original_key)
    if path is not None:
        yield path
        return
    fetched = store.settings.staging_dir / f"video-{row.id}-{secrets.token_hex(4)}.{row.container}"
    try:
        store.blobs.fetch_to(row.original_key, fetched)
        yield fetched
    finally:
        fetched.unlink(missing_ok=True)


def _subject(store: Store, job: job_queue.Job):  # noqa: ANN202
    """The job's video; None (and the job finished) when it was deleted while queued."""
    with store.db.read() as conn:
        row = video_rows.get_any(conn, job.subject_id)
    if row is None:
        with store.db.write() as conn:
            job_queue.finish(conn, job)
    return row


def _lease_keeper(store: Store, job: job_queue.Job) -> Callable[[], None]:
    def alive() -> None:
        if not job_queue.extend(store.db, job, store.settings.job_lease_seconds):
            raise LeaseLost()

    return alive


def _parsed(row) -> dict:  # noqa: ANN001
    """The columns of a video whose last job is done: its original is forgotten unless it is kept."""
    return {"status": "PARSE", "original_key": row.original_key if row.retain_original else None}


def _done_if_last(conn, row) -> bool:  # noqa: ANN001
    """Mark the video PARSE when no job of it is left; whether this did. Called after the job's own update
    of the video's row, which holds the row's lock on PostgreSQL: two jobs ending at once cannot both see
    the other still pending. A video that FAILED (another of its jobs gave up) stays FAILED, and one
    already PARSE (its faces looked for later) is not finished again."""
    if job_queue.pending(conn, row.id, job_queue.VIDEO_JOBS):
        return False
    done = conn.execute(videos.update().where(videos.c.id == row.id, videos.c.status == "UNPARSE")
                        .values(**_parsed(row)))
    return done.rowcount > 0


def _caption_with_speech(conn, clip, segments: list) -> None:  # noqa: ANN001
    """A stored clip's caption, rewritten with what is said during it."""
    said = speech_during(segments, clip.start_s, clip.end_s)
    if said:
        objects = json.loads(clip.objects_json) if clip.objects_json else []
        video_rows.set_caption(conn, clip.id, caption(json.loads(clip.labels_json), clip.ocr_text, said, objects),
                               clip.ocr_text, shown_words(clip.ocr_text))


def _finished(store: Store, row) -> Callback | None:  # noqa: ANN001
    """After the last job of a video: the original goes unless kept; the uploader hears of it."""
    if not row.retain_original:
        store.blobs.delete(row.original_key)
    return _callback(row, "PARSE")


def run(store: Store, models: Models, job: job_queue.Job) -> Callback | None:
    """The video.index job: keyframes and clips (captioned with the speech if video.asr stored it first).
    Returns the callback to send, if the upload asked for one and this was the video's last job."""
    started = time.monotonic()
    row = _subject(store, job)
    if row is None:
        return None
    with _local_file(store, row) as path:
        facts = index_video(store, models, row, str(path), _lease_keeper(store, job))
    faces_next = any(face_step.wanted(store.settings, c.objects) for c in facts.clips)
    last = False
    with store.db.write() as conn:
        current = video_rows.get_any(conn, row.id)
        if job_queue.settle(conn, job, current is not None):
            looked = None if faces_next or store.settings.faces != "on" else now_ms()
            conn.execute(videos.update().where(videos.c.id == row.id).values(
                cause=None, indexed_ms=now_ms(), faces_ms=looked, **facts_to_columns(facts)))
            stale = set(video_rows.clear_clips(conn, row.id))
            said = [Segment(s.start_s, s.end_s, s.text) for s in video_rows.segments_of(conn, row.id)]
            for c in facts.clips:  # the speech, if video.asr stored it first
                c.caption = caption(c.labels, c.ocr_text, speech_during(said, c.start, c.end), c.objects)
            tags = video_rows.tags_of(conn, [row.id])[row.id]
            video_rows.write_clips(conn, row.id, facts.clips, tags, row.name, facts.model)
            if faces_next:
                job_queue.enqueue(conn, job_queue.VIDEO_FACES, [row.id])
            last = _done_if_last(conn, row)
    kept = {c.keyframe_key for c in facts.clips}
    if current is None:  # deleted while we worked: drop what we derived
        for key in kept:
            store.blobs.delete(key)
        return None
    for key in stale - kept:
        store.blobs.delete(key)
    log.info("indexed the pictures of video %s (%.0f s of video, %d clips%s) in %.1f s", video_rows.video_no(row.id),
             facts.probe.duration_s, len(facts.clips), ", faces next" if faces_next else "", time.monotonic() - started)
    if faces_next:
        store.jobs_waiting.set()
    return _finished(store, current) if last else None


def transcribe(store: Store, models: Models, job: job_queue.Job) -> Callback | None:
    """The video.asr job: the speech, as segments with vectors, and the captions of the clips stored so far
    rewritten with it (video.index captions the rest). A video without a sound track has no transcript
    (transcribed_ms stays NULL)."""
    started = time.monotonic()
    row = _subject(store, job)
    if row is None:
        return None
    with _local_file(store, row) as path:
        heard = transcribe_video(models, row, str(path), _lease_keeper(store, job))
    segments, vectors = heard if heard is not None else ([], None)
    last = False
    with store.db.write() as conn:
        current = video_rows.get_any(conn, row.id)
        if not job_queue.settle(conn, job, current is not None):
            return None
        conn.execute(videos.update().where(videos.c.id == row.id).values(
            transcribed_ms=now_ms() if heard is not None else None))
        video_rows.clear_segments(conn, row.id)
        if segments:
            video_rows.write_segments(conn, row.id, segments, vectors, models.speech.name)
            for clip in video_rows.clips_of(conn, row.id):
                _caption_with_speech(conn, clip, segments)
        last = _done_if_last(conn, row)
    log.info("transcribed video %s (%s) in %.1f s", video_rows.video_no(row.id),
             f"{len(segments)} speech segments" if heard is not None else "no sound track", time.monotonic() - started)
    return _finished(store, current) if last else None


def find_faces(store: Store, models: Models, job: job_queue.Job) -> Callback | None:
    """The video.faces job: the faces of the keyframes where the detector saw a person, grouped into the
    namespace's people like a photo's."""
    started = time.monotonic()
    row = _subject(store, job)
    if row is None:
        return None
    with store.db.read() as conn:
        clips = video_rows.clips_of(conn, row.id)
    found = face_step.find_clip_faces(store, models, row.id, clips)
    kept = {f.crop_key for faces in found.values() for f in faces}
    last = False
    with store.db.write() as conn:
        current = video_rows.get_any(conn, row.id)
        if job_queue.settle(conn, job, current is not None):
            conn.execute(videos.update().where(videos.c.id == row.id).values(faces_ms=now_ms()))
            # Only the clips still there: a video.index job redone meanwhile replaced them (and queued this
            # job again).
            live = {c.id for c in video_rows.clips_of(conn, row.id)}
            people.replace_clip_faces(conn, current, {i: f for i, f in found.items() if i in live})
            video_rows.write_clip_names(conn, sorted(live))
            last = _done_if_last(conn, row)
    for key in store.blobs.keys(f"{CLIP_FACES}/{row.id}"):  # crops an earlier attempt found and this did not
        if key not in kept or current is None:
            store.blobs.delete(key)
    log.info("found %d faces in %d keyframes of video %s in %.1f s", len(kept), len(found),
             video_rows.video_no(row.id), time.monotonic() - started)
    # A video indexed before faces were found (`reverie models add-faces`) was finished long ago.
    return _finished(store, current) if last and row.status == "UNPARSE" else None


def give_up(store: Store, job: job_queue.Job, cause: str) -> Callback | None:
    log.warning("video %s FAILED: %s", video_rows.video_no(job.subject_id), cause)
    with store.db.write() as conn:
        if not job_queue.fail(conn, job, cause):
            return None
        # Its other jobs may give up too (a corrupt file fails both video.index and video.asr): once is told.
        failed = conn.execute(videos.update().where(videos.c.id == job.subject_id, videos.c.status != "FAILED")
                              .values(status="FAILED", cause=cause)).rowcount
        row = video_rows.get_any(conn, job.subject_id)
    return _callback(row, "FAILED") if row is not None and failed else None


def _callback(row, status: str) -> Callback | None:  # noqa: ANN001
    return (row.callback, {"videoNo": video_rows.video_no(row.id), "status": status}) if row.callback else None
