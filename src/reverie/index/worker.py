"""Indexing workers: claim a job (or a batch of image jobs), run its pipeline, store the facts and the
outcome in one transaction.

Runs as threads inside `reverie serve` or as `reverie worker` processes; both share the job table, so any
mix of them can run against one data folder. Work is idempotent (derived blobs have fixed keys, the row
update overwrites), so a job redone after a crash changes nothing twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from ..errors import Unavailable
from ..models import Models
from ..store import Store
from ..store import images as image_rows
from ..store import search_index
from ..store import jobs as job_queue
from ..store import people
from ..store.jobs import LeaseLost
from ..store.db import now_ms
from ..store.schema import images
from . import video_job
from . import faces as face_step
from .callbacks import Notifier
from .glued_words import unglued
from .image import CorruptImage, ImageFacts, facts_to_columns, index_images, read_text
from .video import CorruptVideo

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
OUTAGE_WAIT_CAP_SECONDS = 5.0  # how often a worker cut off from the database tries it again
POSTPONE_SECONDS = 5.0  # a job that met an outage of the object store is tried again after this
# Image jobs claimed together, and their results stored together: two write transactions for four photos
# instead of eight (plain 1.9 MP photos, bench/index.py: 57.5 -> 59.9 images/s), for a wait of ~0.1 s
# before the first image of a burst is searchable.
IMAGE_BATCH = 4


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, store: Store, models: Models, name: str | None = None, kinds: tuple[str, ...] | None = None):
        self.store = store
        self.models = models
        self.name = name or worker_name()
        self.kinds = kinds  # job kinds this worker takes; None: all
        self.settings = store.settings
        self.notifier = Notifier(store.settings.allow_private_urls)

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.name)
        outage_wait = 0.0  # > 0 after an outage (of the database, or the store where no job could take it)
        while not stop.is_set():
            try:
                if outage_wait:
                    # Back: hand back what this worker held when it was cut off, then work as before.
                    released = job_queue.release(self.store.db, self.name)
                    log.warning("worker %s: reconnected; %d held job(s) queued again", self.name, released)
                    outage_wait = 0.0
                if not self.run_one():
                    self.store.jobs_waiting.clear()
                    if not self.run_one():  # a job queued between the empty claim and the clear
                        self.store.jobs_waiting.wait(POLL_SECONDS)
            except Unavailable as exc:
                outage_wait = min(OUTAGE_WAIT_CAP_SECONDS, max(POLL_SECONDS, outage_wait * 2))
                log.warning("worker %s: %s; trying again in %.1f s", self.name, exc.msg.split(";")[0], outage_wait)
                stop.wait(outage_wait)
            except Exception:
                log.exception("worker %s: unexpected error; retrying in %ss", self.name, POLL_SECONDS)
                stop.wait(POLL_SECONDS)
        log.info("worker %s stopped", self.name)

    def run_one(self) -> bool:
        """Claim and run the next job, or the next batch of image jobs. False when there was nothing to do."""
        claimed = job_queue.claim(self.store.db, self.name, self.settings.job_lease_seconds, self.kinds,
                                  batches={job_queue.IMAGE_INDEX: IMAGE_BATCH})
        if not claimed:
            return False
        if claimed[0].kind == job_queue.IMAGE_INDEX:
            self._index(claimed)
            return True
        (job,) = claimed
        pipelines = {job_queue.IMAGE_OCR: self._read_text,
                     job_queue.IMAGE_FACES: self._faces,
                     job_queue.VIDEO_INDEX: lambda j: self._video(video_job.run, j),
                     job_queue.VIDEO_ASR: lambda j: self._video(video_job.transcribe, j),
                     job_queue.VIDEO_FACES: lambda j: self._video(video_job.find_faces, j)}
        if job.kind not in pipelines:
            self._give_up(job, f"no pipeline for job kind {job.kind!r}")
        elif not self._gave_up_on_crashes(job):
            pipelines[job.kind](job)
        return True

    def _gave_up_on_crashes(self, job: job_queue.Job) -> bool:
        if job.attempts > self.settings.job_max_attempts:
            # It got here by lease expiry: it crashed or hung its worker every time.
            self._give_up(job, f"indexing did not finish after {job.attempts - 1} attempts")
            return True
        return False

    def _video(self, step, job: job_queue.Job) -> None:  # noqa: ANN001
        try:
            done = step(self.store, self.models, job)
        except CorruptVideo as exc:
            self._give_up(job, str(exc))
            return
        except LeaseLost:
            log.warning("job %s (video %s): lease lost to another worker; dropping result", job.id, job.subject_id)
            return
        except Exception as exc:
            self._retry(job, exc)
            return
        if done is not None:
            self.notifier.send(*done)

    def _derive(self, job: job_queue.Job, compute: Callable) -> tuple | None:
        """(the job's image, what compute(image) derives from it); None when the image was deleted while
        queued (the job is finished) or the work failed (the job is given up or queued again)."""
        with self.store.db.read() as conn:
            row = image_rows.get_any(conn, job.subject_id)
        if row is None:
            with self.store.db.write() as conn:
                job_queue.finish(conn, job)
            return None
        try:
            return row, compute(row)
        except CorruptImage as exc:
            self._give_up(job, str(exc))
        except Exception as exc:
            self._retry(job, exc)
        return None

    def _index(self, batch: list[job_queue.Job]) -> None:
        """Index a batch of images and store their results in one transaction."""
        started = time.monotonic()
        batch = [job for job in batch if not self._gave_up_on_crashes(job)]
        with self.store.db.read() as conn:
            rows = image_rows.get_many_any(conn, [job.subject_id for job in batch])
        present = [job for job in batch if job.subject_id in rows]
        results = dict(zip((job.id for job in present),
                           index_images(self.store, self.models, [rows[job.subject_id] for job in present])))
        done: list[tuple[job_queue.Job, ImageFacts | None]] = []  # None: the image was deleted while queued
        for job in batch:
            facts = results.get(job.id)
            if isinstance(facts, CorruptImage):
                self._give_up(job, str(facts))
            elif isinstance(facts, Exception):
                self._retry(job, facts)
            else:
                done.append((job, facts))
        dropped: list[str] = []  # blobs derived for images deleted meanwhile
        follow_ups = False
        with self.store.db.write() as conn:
            written = now_ms()  # one time for the batch: its rows become visible together
            indexed = [job.subject_id for job, facts in done if facts is not None]
            currents, tags = image_rows.get_many_any(conn, indexed), image_rows.tags_of(conn, indexed)
            for job, facts in done:
                current = currents.get(job.subject_id) if facts is not None else None
                try:
                    keep = job_queue.settle(conn, job, current is not None)
                except LeaseLost:  # nothing of this job is written yet: the others' results stand
                    log.warning("job %s (image %s): lease lost to another worker; dropping result",
                                job.id, job.subject_id)
                    continue
                if not keep:  # deleted while queued (no facts) or while we worked
                    dropped += facts.derived.values() if facts is not None else ()
                    continue
                # With text to read or faces to find, the image is PARSE once those jobs are done too.
                kinds = ([job_queue.IMAGE_OCR] if facts.has_text else []) + \
                    ([job_queue.IMAGE_FACES] if face_step.wanted(self.settings, facts.objects) else [])
                looked = None if job_queue.IMAGE_FACES in kinds or self.settings.faces != "on" else written
                conn.execute(
                    images.update()
                    .where(images.c.id == current.id)
                    .values(status="UNPARSE" if kinds else "PARSE", cause=None, indexed_ms=written,
                            faces_ms=looked, **facts_to_columns(facts, current))
                )
                search_index.write(conn, current, facts, tags[current.id])
                for kind in kinds:
                    job_queue.enqueue(conn, kind, [current.id])
                follow_ups = follow_ups or bool(kinds)
        for key in dropped:
            self.store.blobs.delete(key)
        if follow_ups:
            self.store.jobs_waiting.set()  # their ocr and faces jobs: idle threads of this process take them now
        log.debug("indexed %s images in %.0f ms", len(done), (time.monotonic() - started) * 1000)

    def _read_text(self, job: job_queue.Job) -> None:
        derived = self._derive(job, lambda row: read_text(self.store, self.models, row))
        if derived is None:
            return
        row, lines = derived
        split = unglued(lines)
        try:
            with self.store.db.write() as conn:
                current = image_rows.get_any(conn, row.id)
                if job_queue.settle(conn, job, current is not None):
                    conn.execute(images.update().where(images.c.id == row.id).values(
                        ocr_text="\n".join(lines) or None, indexed_ms=now_ms()))
                    search_index.write_text(conn, row.id, lines, split)
                    _parsed_when_done(conn, row.id)
        except LeaseLost:
            log.warning("job %s (text of image %s): lease lost to another worker; dropping result", job.id, row.id)

    def _faces(self, job: job_queue.Job) -> None:
        derived = self._derive(job, lambda row: face_step.find_faces(self.store, self.models, row))
        if derived is None:
            return
        row, found = derived
        stale = [f.crop_key for f in found]  # the crops just written, unless the result is stored
        try:
            with self.store.db.write() as conn:
                current = image_rows.get_any(conn, row.id)
                if job_queue.settle(conn, job, current is not None):
                    # The row's update first: on PostgreSQL it holds the image's row lock, so an OCR job
                    # finishing at the same moment sees this job gone before it decides about PARSE.
                    conn.execute(images.update().where(images.c.id == row.id).values(faces_ms=now_ms()))
                    stale = people.replace_faces(conn, current, found)
                    search_index.write_names(conn, image_rows.tags_of(conn, [row.id]))
                    _parsed_when_done(conn, row.id)
        except LeaseLost:  # the crops under these keys are the other worker's now
            log.warning("job %s (faces of image %s): lease lost to another worker; dropping result", job.id, row.id)
            stale = []
        for key in stale:
            self.store.blobs.delete(key)

    def _give_up(self, job: job_queue.Job, cause: str) -> None:
        if job.kind in job_queue.VIDEO_JOBS:
            done = video_job.give_up(self.store, job, cause)
            if done is not None:
                self.notifier.send(*done)
            return
        log.warning("image %s FAILED: %s", job.subject_id, cause)
        with self.store.db.write() as conn:
            if job_queue.fail(conn, job, cause):
                conn.execute(
                    images.update().where(images.c.id == job.subject_id).values(status="FAILED", cause=cause)
                )

    def _retry(self, job: job_queue.Job, exc: Exception) -> None:
        if isinstance(exc, Unavailable):  # raises Unavailable itself when the database is the part away
            log.warning("job %s (%s of %s): %s; postponed %.0f s", job.id, job.kind, job.subject_id,
                        exc.msg.split(";")[0], POSTPONE_SECONDS)
            job_queue.postpone(self.store.db, job, exc.msg, POSTPONE_SECONDS)
            return
        error = f"{type(exc).__name__}: {exc}"
        if job.attempts >= self.settings.job_max_attempts:
            self._give_up(job, f"indexing failed {job.attempts} times; last error: {error}")
            return
        delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS ** job.attempts)
        log.warning("job %s (%s of %s) attempt %s failed: %s; retry in %.0fs", job.id, job.kind, job.subject_id,
                    job.attempts, error, delay)
        job_queue.retry_later(self.store.db, job, error, delay)


def _parsed_when_done(conn, image_id: int) -> None:  # noqa: ANN001
    """PARSE once no text or faces job of the image is left (called after the image's row is updated, which
    holds its row lock on PostgreSQL, so two jobs finishing at once cannot both see the other pending)."""
    if not job_queue.pending(conn, image_id, job_queue.IMAGE_FOLLOW_UPS):
        conn.execute(images.update().where(images.c.id == image_id, images.c.status == "UNPARSE")
                     .values(status="PARSE"))


def start_threads(store: Store, models: Models, count: int, stop: threading.Event,
                  kinds: tuple[str, ...] | None = None) -> list[threading.Thread]:
    threads = []
    for i in range(count):
        w = Worker(store, models, name=f"{worker_name()}-t{i}", kinds=kinds)
        t = threading.Thread(target=w.run, args=(stop,), name=f"reverie-worker-{i}", daemon=True)
        t.start()
        threads.append(t)
    return threads
