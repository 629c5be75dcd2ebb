"""Give a library's photos and video clips the vectors of another visual model (`reverie models add-clip`).

Only the vectors change: labels, objects, text and captions stay, and keep finding what they found. A photo
is decoded again from its original, a clip read from its stored keyframe. Whatever has no vector of the
model yet is done, so the command can be run again after an interruption, or after a server that had not
been restarted indexed a few more photos with the old model. A photo or clip that cannot be read loses its
old vectors (they could not be compared with the new ones), and is logged.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, exists, func, select

from ..models import Models
from ..store import Store, vector_rows
from ..store.schema import image_vectors, images, video_clips, video_vectors
from .stored_pictures import in_batches, keyframe_pixels, original_pixels, read_each


def _photos_lacking(model: str):  # noqa: ANN202
    has = exists().where(and_(image_vectors.c.image_id == images.c.id, image_vectors.c.space == "visual",
                              image_vectors.c.model == model))
    return and_(images.c.status == "PARSE", ~has)


def _clips_lacking(model: str):  # noqa: ANN202
    return ~exists().where(and_(video_vectors.c.item_id == video_clips.c.id, video_vectors.c.space == "clip_visual",
                                video_vectors.c.model == model))


def lacking(store: Store, model: str) -> tuple[int, int]:
    """(indexed photos, video clips) without a vector of `model`."""
    with store.db.read() as conn:
        return (conn.execute(select(func.count()).select_from(images).where(_photos_lacking(model))).scalar_one(),
                conn.execute(select(func.count()).select_from(video_clips).where(_clips_lacking(model))).scalar_one())


def reembed_photos(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Embed every indexed photo lacking a vector of the current visual model; returns how many were done."""
    visual = models.visual
    done = 0
    for rows in in_batches(store, images, _photos_lacking(visual.name)):
        pixels = read_each({r.id: r.sha256 for r in rows}, original_pixels, store,
                           "image %s: not embedded again, its old vectors removed")
        analyses = dict(zip(pixels, visual.analyse(list(pixels.values())))) if pixels else {}
        with store.db.write() as conn:
            for row in rows:
                conn.execute(image_vectors.delete().where(image_vectors.c.image_id == row.id,
                                                          image_vectors.c.space.in_(("visual", "features"))))
                still = conn.execute(select(images.c.id).where(images.c.id == row.id)).first()
                if row.id in analyses and still:
                    a = analyses[row.id]
                    conn.execute(image_vectors.insert(), [
                        dict(image_id=row.id, space=space, model=visual.name, **vector_rows.stored(conn, vec))
                        for space, vec in (("visual", a.vector), ("features", a.features))])
                    done += 1
        progress(len(rows))
    return done


def reembed_clips(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Embed the keyframe of every video clip lacking a vector of the current visual model."""
    visual = models.visual
    done = 0
    for clips in in_batches(store, video_clips, _clips_lacking(visual.name)):
        pixels = read_each({c.id: c.keyframe_key for c in clips}, keyframe_pixels, store,
                           "clip %s: not embedded again, its old vectors removed")
        analyses = dict(zip(pixels, visual.analyse(list(pixels.values())))) if pixels else {}
        with store.db.write() as conn:
            for clip in clips:
                conn.execute(video_vectors.delete().where(video_vectors.c.item_id == clip.id,
                                                          video_vectors.c.space.in_(("clip_visual", "clip_features"))))
                still = conn.execute(select(video_clips.c.id).where(video_clips.c.id == clip.id)).first()
                if clip.id in analyses and still:
                    a = analyses[clip.id]
                    conn.execute(video_vectors.insert(), [
                        dict(video_id=clip.video_id, item_id=clip.id, space=space, model=visual.name,
                             **vector_rows.stored(conn, vec))
                        for space, vec in (("clip_visual", a.vector), ("clip_features", a.features))])
                    done += 1
        progress(len(clips))
    return done
