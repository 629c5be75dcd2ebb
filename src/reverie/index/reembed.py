"""Give a library's photos and video clips the vectors of another visual model (`reverie models add-clip`).

Only the vectors change: labels, objects, text and captions stay, and keep finding what they found. A photo
is decoded again from its original, a clip read from its stored keyframe. Whatever has no vector of the
model yet is done, so the command can be run again after an interruption, or after a server that had not
been restarted indexed a few more photos with the old model. A photo or clip that cannot be read loses its
old vectors (they could not be compared with the new ones), and is logged.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import numpy as np
from PIL import Image
from sqlalchemy import and_, exists, func, select

from ..models import Models
from ..models.pixels import rgb_pixels
from ..store import Store, vector_rows
from ..store.schema import image_vectors, images, video_clips, video_vectors
from .image import model_view, read_original, upright_rgb
from .video import MODEL_SIDE

log = logging.getLogger(__name__)
BATCH = 16


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
    done, after = 0, 0
    while True:
        with store.db.read() as conn:
            rows = conn.execute(select(images.c.id, images.c.sha256).where(_photos_lacking(visual.name), images.c.id > after)
                                .order_by(images.c.id).limit(BATCH)).all()
        if not rows:
            return done
        after = rows[-1].id
        pixels: dict[int, np.ndarray] = {}
        for row in rows:
            try:
                im, _ = read_original(store, row.sha256, model_view)
                pixels[row.id] = rgb_pixels(upright_rgb(im))
            except Exception as exc:
                log.warning("image %s: not embedded again, its old vectors removed: %s", row.id, exc)
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


def reembed_clips(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Embed the keyframe of every video clip lacking a vector of the current visual model."""
    visual = models.visual
    done, after = 0, 0
    while True:
        with store.db.read() as conn:
            clips = conn.execute(select(video_clips).where(_clips_lacking(visual.name), video_clips.c.id > after)
                                 .order_by(video_clips.c.id).limit(BATCH)).all()
        if not clips:
            return done
        after = clips[-1].id
        pixels: dict[int, np.ndarray] = {}
        for clip in clips:
            try:
                with store.blobs.open(clip.keyframe_key) as f:
                    im = Image.open(io.BytesIO(f.read()))
                    im.thumbnail((MODEL_SIDE, MODEL_SIDE), Image.Resampling.BILINEAR)  # as indexing reads it
                pixels[clip.id] = rgb_pixels(im)
            except Exception as exc:
                log.warning("clip %s: not embedded again, its old vectors removed: %s", clip.id, exc)
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
