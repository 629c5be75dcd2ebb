"""Bring a library indexed by an older Reverie up to date, while the server keeps serving.

`reverie models add-objects`: photos indexed before the object detector get their objects and colours, and
their full-text labels the words for them; each photo is decoded again (~25 ms a photo here). Video clips
get the objects of their stored keyframe, and their captions say them.

`reverie models add-faces`: photos and videos indexed before faces were found get an image.faces or
video.faces job each (those where the detector saw a person; the rest are marked as looked at), run by the
command itself and any worker.

`reverie models check-animals`: photos and video clips whose animals were found before the classifier checked
them (models/animal_check.py: an okapi recorded as a "dog") get them found again and checked, from the
original photo or the clip's stored keyframe.

`reverie models reindex-text`: photos and video clips whose text was read by an older Reverie get their
full-text rows written again from the stored text, as this one writes them (glued words split apart,
index/glued_words.py; neighbouring words written together, store/search_index.py): no photo or video is read
again.

(`reverie models upgrade-vectors`, vectors of the current visual model for what an older one embedded, is
index/reembed.py.)
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import and_, func, select, text

from ..models import Models
from ..models.animal_check import KINDS
from ..models.speech import Segment
from ..store import Store
from ..store import jobs as job_queue
from ..store import search_index
from ..store import videos as video_rows
from ..store.schema import images, jobs, video_clips, videos
from ..store.db import now_ms
from ..store.search_index import fold
from . import faces as face_step
from .colours import photo_colours
from .glued_words import unglued
from .image import label_words
from .objects import Found, find_objects
from .stored_pictures import in_batches, keyframe_pixels, original_pixels, read_each
from .video import caption, shown_words, speech_during


def lacking_objects(store: Store) -> tuple[int, int]:
    """(indexed photos, video clips) that have no objects recorded."""
    with store.db.read() as conn:
        return (conn.execute(select(func.count()).select_from(images).where(
                    images.c.status == "PARSE", images.c.objects_json.is_(None))).scalar_one(),
                conn.execute(select(func.count()).select_from(video_clips).where(
                    video_clips.c.objects_json.is_(None))).scalar_one())


def queue_faces(store: Store) -> int:
    """Queue the faces job of every indexed photo and video whose faces were never looked for and may have
    some (a person among the objects, or no objects known); mark the others looked at. Returns the jobs
    queued."""
    if store.settings.faces != "on":
        raise RuntimeError("faces are switched off (REVERIE_FACES=off): nothing would be found")

    def maybe(objects_json: str | None) -> bool:
        return objects_json is None or face_step.wanted(store.settings, json.loads(objects_json))

    queued = 0
    for table, kind in ((images, job_queue.IMAGE_FACES), (videos, job_queue.VIDEO_FACES)):
        for rows in in_batches(store, table, and_(table.c.status == "PARSE", table.c.faces_ms.is_(None))):
            with store.db.write() as conn:
                if table is images:
                    wanted = {r.id for r in rows if maybe(r.objects_json)}
                else:
                    clips = conn.execute(select(video_clips.c.video_id, video_clips.c.objects_json).where(
                        video_clips.c.video_id.in_([r.id for r in rows]))).all()
                    wanted = {c.video_id for c in clips if maybe(c.objects_json)}
                waiting = set(conn.execute(select(jobs.c.subject_id).where(
                    jobs.c.subject_id.in_(wanted), jobs.c.kind == kind)).scalars())
                fresh = sorted(wanted - waiting)
                if fresh:
                    job_queue.enqueue(conn, kind, fresh)
                queued += len(fresh)
                nothing = [r.id for r in rows if r.id not in wanted]
                if nothing:
                    conn.execute(table.update().where(table.c.id.in_(nothing)).values(faces_ms=now_ms()))
    return queued


def add_objects(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Find the objects and colours of every indexed photo that has none recorded; returns how many photos
    were done. A photo whose original cannot be read is recorded with none, so it is not read again."""
    if store.settings.objects != "on":
        raise RuntimeError("objects are switched off (REVERIE_OBJECTS=off): nothing would be found")
    done = 0
    for rows in in_batches(store, images, and_(images.c.status == "PARSE", images.c.objects_json.is_(None))):
        pixels = read_each({r.id: r.sha256 for r in rows}, original_pixels, store, "image %s: no objects added")
        found = dict(zip(pixels, find_objects(store.settings, models, list(pixels.values()))))
        with store.db.write() as conn:
            for row in rows:
                seen = found.get(row.id, Found())
                objects = seen.objects
                colours = photo_colours(pixels[row.id]) if row.id in pixels else []
                # Only where nothing wrote objects meanwhile: a re-index of the photo has the newer answer.
                updated = conn.execute(images.update().where(images.c.id == row.id, images.c.objects_json.is_(None))
                                       .values(objects_json=json.dumps(objects), colours_json=json.dumps(colours),
                                               object_likelihoods_json=json.dumps(seen.likelihoods)))
                if updated.rowcount:
                    labels = json.loads(row.labels_json) if row.labels_json else []
                    conn.execute(text("UPDATE image_fts SET labels = :labels WHERE rowid = :id"),
                                 {"id": row.id, "labels": fold(label_words(labels, objects))})
                    done += 1
        progress(len(rows))
    return done


def add_clip_objects(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Find the objects of every video clip that has none recorded, from its stored keyframe, and rewrite
    its caption to say them; returns how many clips were done. A clip whose keyframe cannot be read is
    recorded with none, so it is not read again."""
    if store.settings.objects != "on":
        raise RuntimeError("objects are switched off (REVERIE_OBJECTS=off): nothing would be found")
    done = 0
    for clips in in_batches(store, video_clips, video_clips.c.objects_json.is_(None)):
        pixels = read_each({c.id: c.keyframe_key for c in clips}, keyframe_pixels, store, "clip %s: no objects added")
        found = dict(zip(pixels, find_objects(store.settings, models, list(pixels.values()))))
        with store.db.write() as conn:
            segments = {v: [Segment(r.start_s, r.end_s, r.text) for r in video_rows.segments_of(conn, v)]
                        for v in {c.video_id for c in clips}}  # a video's clips share its transcript
            for clip in clips:
                seen = found.get(clip.id, Found())
                objects = seen.objects
                said = speech_during(segments[clip.video_id], clip.start_s, clip.end_s)
                # Only where nothing wrote objects meanwhile: a re-index of the video has the newer answer.
                updated = conn.execute(video_clips.update().where(video_clips.c.id == clip.id,
                                                                  video_clips.c.objects_json.is_(None))
                                       .values(objects_json=json.dumps(objects),
                                               object_likelihoods_json=json.dumps(seen.likelihoods)))
                if updated.rowcount:
                    labels = json.loads(clip.labels_json) if clip.labels_json else []
                    video_rows.set_caption(conn, clip.id, caption(labels, clip.ocr_text, said, objects), clip.ocr_text,
                                           shown_words(clip.ocr_text))
                    done += 1
        progress(len(clips))
    return done


def _names_animal(objects_json: str | None) -> bool:
    return any(o["label"] in KINDS for o in json.loads(objects_json or "[]"))


def with_animals(store: Store) -> tuple[int, int]:
    """(indexed photos, video clips) whose stored objects name an animal the classifier checks."""
    photos = sum(sum(_names_animal(r.objects_json) for r in rows)
                 for rows in in_batches(store, images, and_(images.c.status == "PARSE", images.c.objects_json.is_not(None))))
    clips = sum(sum(_names_animal(r.objects_json) for r in rows)
                for rows in in_batches(store, video_clips, video_clips.c.objects_json.is_not(None)))
    return photos, clips


def _found_again(store: Store, models: Models, rows: list, key_of: Callable, read: Callable, unreadable: str) -> dict:
    """id -> Found for each row whose objects, found again from its picture with the classifier's check, are
    not the stored ones."""
    pixels = read_each({r.id: key_of(r) for r in rows}, read, store, unreadable)
    found = dict(zip(pixels, find_objects(store.settings, models, list(pixels.values()))))
    return {r.id: found[r.id] for r in rows if r.id in found and found[r.id].objects != json.loads(r.objects_json)}


def check_animals(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> tuple[int, int]:
    """Find again the objects of every photo and clip whose stored ones name a checked animal, the classifier
    checking them; returns how many photos and clips it changed. Running it again changes nothing. Only
    where the objects are still those read: a re-index meanwhile has the newer answer."""
    if store.settings.objects != "on":
        raise RuntimeError("objects are switched off (REVERIE_OBJECTS=off): nothing would be checked")
    photos = clips = 0
    for rows in in_batches(store, images, and_(images.c.status == "PARSE", images.c.objects_json.is_not(None))):
        rows = [r for r in rows if _names_animal(r.objects_json)]
        changed = _found_again(store, models, rows, lambda r: r.sha256, original_pixels, "image %s: animals not checked")
        with store.db.write() as conn:
            for row in (r for r in rows if r.id in changed):
                seen = changed[row.id]
                updated = conn.execute(images.update().where(images.c.id == row.id, images.c.objects_json == row.objects_json)
                                       .values(objects_json=json.dumps(seen.objects),
                                               object_likelihoods_json=json.dumps(seen.likelihoods)))
                if updated.rowcount:
                    labels = json.loads(row.labels_json) if row.labels_json else []
                    conn.execute(text("UPDATE image_fts SET labels = :labels WHERE rowid = :id"),
                                 {"id": row.id, "labels": fold(label_words(labels, seen.objects))})
                    photos += 1
        progress(len(rows))
    for rows in in_batches(store, video_clips, video_clips.c.objects_json.is_not(None)):
        rows = [c for c in rows if _names_animal(c.objects_json)]
        changed = _found_again(store, models, rows, lambda c: c.keyframe_key, keyframe_pixels, "clip %s: animals not checked")
        with store.db.write() as conn:
            for clip in (c for c in rows if c.id in changed):
                seen = changed[clip.id]
                updated = conn.execute(video_clips.update().where(video_clips.c.id == clip.id,
                                                                  video_clips.c.objects_json == clip.objects_json)
                                       .values(objects_json=json.dumps(seen.objects),
                                               object_likelihoods_json=json.dumps(seen.likelihoods)))
                if updated.rowcount:
                    said = speech_during([Segment(r.start_s, r.end_s, r.text) for r in video_rows.segments_of(conn, clip.video_id)],
                                         clip.start_s, clip.end_s)
                    labels = json.loads(clip.labels_json) if clip.labels_json else []
                    video_rows.set_caption(conn, clip.id, caption(labels, clip.ocr_text, said, seen.objects), clip.ocr_text,
                                           shown_words(clip.ocr_text))
                    clips += 1
        progress(len(rows))
    return photos, clips


def with_text(store: Store) -> tuple[int, int]:
    """How many photos and how many video clips have text read."""
    with store.db.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table).where(table.c.ocr_text.is_not(None))).scalar()
                     for table in (images, video_clips))


def reindex_text(store: Store, progress: Callable[[int], None] = lambda _n: None) -> tuple[int, int]:
    """Write the full-text rows of every photo and video clip with text read again, from its stored text;
    returns how many photos and how many clips were written. Running it again changes nothing."""
    photos = clips = 0
    for rows in in_batches(store, images, images.c.ocr_text.is_not(None)):
        words = {row.id: unglued(row.ocr_text.split("\n")) for row in rows}
        with store.db.write() as conn:
            for row in rows:
                # Only where the text is still the one read: a photo read again meanwhile has its own words.
                current = conn.execute(select(images.c.ocr_text).where(images.c.id == row.id)).scalar()
                if current == row.ocr_text:
                    search_index.write_text(conn, row.id, row.ocr_text.split("\n"), words[row.id])
                    photos += 1
        progress(len(rows))
    for rows in in_batches(store, video_clips, video_clips.c.ocr_text.is_not(None)):
        words = {row.id: shown_words(row.ocr_text) for row in rows}
        with store.db.write() as conn:
            for row in rows:
                # A video indexed again meanwhile has new clips (other ids) with their own words.
                current = conn.execute(select(video_clips.c.caption).where(video_clips.c.id == row.id)).scalar()
                if current == row.caption:
                    video_rows.set_caption(conn, row.id, row.caption, row.ocr_text, words[row.id])
                    clips += 1
        progress(len(rows))
    return photos, clips
