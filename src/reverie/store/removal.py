"""Deleting images and videos with everything derived from them, and sweeping what a crash left behind.

Originals are shared by every upload of the same bytes, so an original goes only when its last row goes.
It is moved to `trash/` inside the write transaction (an upload of the same bytes, waiting for the lock,
then sees it gone and stores its own copy) and removed for good after the commit. A crash between the two
leaves a trash entry that `sweep` restores or removes by looking at the rows.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from sqlalchemy import Connection, select

from . import Store
from . import images as image_rows
from . import people
from . import videos as video_rows
from .blobs import CLIP_FACES, original_key
from .db import lock_content
from .schema import images, videos

log = logging.getLogger(__name__)

TRASH = "trash"
GRACE_SECONDS = 600  # leave alone what a live upload or delete in another process may still own
# A video of gigabytes may take longer than GRACE_SECONDS to reach S3 in parts: its upload is left a day.
MULTIPART_GRACE_SECONDS = 24 * 3600


def delete_images(store: Store, account_id: int, unique_id: str, image_ids: list[int],
                  also: Callable[[Connection, int], None] | None = None) -> int:
    """`also(conn, rows deleted)` commits with the deletion (a refund for rows that should never have been)."""
    trashed: list[str] = []
    with store.db.write() as conn:
        persons, crops = people.leaving(conn, account_id, unique_id, image_ids)
        rows = image_rows.delete(conn, account_id, unique_id, image_ids)
        if also is not None:
            also(conn, len(rows))
        people.refresh(conn, persons)  # their faces went with the rows
        lock_content(conn, [r.sha256 for r in rows])
        for sha in {r.sha256 for r in rows}:
            if not image_rows.sha_in_use(conn, sha):
                trash_key = f"{TRASH}/{sha}.{secrets.token_hex(4)}"
                if store.blobs.move(original_key(sha), trash_key):
                    trashed.append(trash_key)
    for key in trashed:
        store.blobs.delete(key)
    for r in rows:
        for key in (r.thumbnail_key, r.preview_key):
            if key:
                store.blobs.delete(key)
    for key in crops:
        store.blobs.delete(key)
    return len(rows)


def delete_videos(store: Store, account_id: int, unique_id: str, video_ids: list[int],
                  also: Callable[[Connection, int], None] | None = None) -> int:
    """Rows, clips, their faces, segments, vectors, text indexes, then the original, every keyframe and face.
    `also(conn, rows deleted)` commits with the deletion."""
    with store.db.write() as conn:
        persons = people.leaving_videos(conn, account_id, unique_id, video_ids)
        rows, keyframes = video_rows.delete_rows(conn, account_id, unique_id, video_ids)
        if also is not None:
            also(conn, len(rows))
        people.refresh(conn, persons)
    for r in rows:
        if r.original_key:
            store.blobs.delete(r.original_key)
        for prefix in (f"keyframes/{r.id}", f"{CLIP_FACES}/{r.id}"):  # also those of a job still under way
            for key in store.blobs.keys(prefix):
                store.blobs.delete(key)
    for key in keyframes:
        store.blobs.delete(key)
    return len(rows)


def _age_seconds(store: Store, key: str) -> float:
    return time.time() - store.blobs.modified(key)


def sweep(store: Store, grace_seconds: float = GRACE_SECONDS,
          multipart_grace_seconds: float = MULTIPART_GRACE_SECONDS) -> dict[str, int]:
    """Repair what crashes left: staged uploads never committed, trash never emptied, orphan blobs, uploads in
    parts to S3 cut off before they completed. Files younger than `grace_seconds` and uploads in parts younger
    than `multipart_grace_seconds` are left alone: a live process elsewhere may still own them (0 is safe
    only when nothing else runs on the data folder)."""
    report = {"staged": 0, "restored": 0, "trashed": 0, "orphans": 0, "multipart": 0}
    staging = store.settings.staging_dir
    if staging.exists():
        for p in staging.iterdir():
            if time.time() - p.stat().st_mtime >= grace_seconds:
                p.unlink(missing_ok=True)
                report["staged"] += 1
    for key in store.blobs.keys(TRASH):
        if _age_seconds(store, key) < grace_seconds:
            continue
        sha = key.rsplit("/", 1)[-1].split(".", 1)[0]
        with store.db.write() as conn:
            lock_content(conn, [sha])
            if image_rows.sha_in_use(conn, sha) and not store.blobs.exists(original_key(sha)):
                store.blobs.move(key, original_key(sha))
                report["restored"] += 1
                continue
        store.blobs.delete(key)
        report["trashed"] += 1
    with store.db.read() as conn:
        known_ids = set(conn.execute(select(images.c.id)).scalars())
        known_shas = set(conn.execute(select(images.c.sha256)).scalars())
    for key in store.blobs.keys("originals"):
        sha = key.rsplit("/", 1)[-1]
        if sha not in known_shas and _age_seconds(store, key) >= grace_seconds:
            with store.db.write() as conn:  # re-check under the lock: an upload may have just used it
                lock_content(conn, [sha])
                if not image_rows.sha_in_use(conn, sha):
                    store.blobs.delete(key)
                    report["orphans"] += 1
    with store.db.read() as conn:
        known_videos = set(conn.execute(select(videos.c.id)).scalars())
    for prefix in ("videos", "keyframes", CLIP_FACES):  # videos/<id>.<ext>, keyframes/<id>/keyframe-….jpg
        for key in store.blobs.keys(prefix):
            stem = key.split("/")[1].split(".", 1)[0]
            if stem.isdigit() and int(stem) not in known_videos and _age_seconds(store, key) >= grace_seconds:
                store.blobs.delete(key)
                report["orphans"] += 1
    for prefix in ("thumbnails", "previews", "faces"):  # <prefix>/<id % 256>/<id>[.<face>].jpg
        for key in store.blobs.keys(prefix):
            stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
            if stem.isdigit() and int(stem) not in known_ids and _age_seconds(store, key) >= grace_seconds:
                store.blobs.delete(key)
                report["orphans"] += 1
    report["multipart"] = store.blobs.abort_uploads(multipart_grace_seconds)
    if any(report.values()):
        log.info("sweep repaired %s", report)
    return report
