"""Give a library's photos and video clips the vectors of another visual model (`reverie models add-clip`).

Only the vectors change: labels, objects, text and captions stay, and keep finding what they found. A photo
is decoded again from its original, a clip read from its stored keyframe. Whatever has no vector of the
model yet is done, so the command can be run again after an interruption, or after a server that had not
been restarted indexed a few more photos with the old model. A photo or clip that cannot be read loses its
old vectors (they could not be compared with the new ones), and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, exists, func, select, true

from ..models import Models
from ..store import Store, vector_rows
from ..store.schema import image_vectors, images, video_clips, video_vectors
from .stored_pictures import in_batches, keyframe_pixels, original_pixels, read_each

log = logging.getLogger("reverie")


@dataclass(frozen=True)
class Pictures:
    """What is embedded again: rows of `table` with vectors in `vectors` (keyed by its column `item`) in a
    text-shared space and an appearance space (search by example), read back by `read` from the row's `key`.
    `retired`: the space whose vectors the appearance space replaced (Lite0's features), removed as the
    new ones are written."""

    what: str
    table: Table
    ready: ColumnElement
    vectors: Table
    item: str
    spaces: tuple[str, str]
    retired: str
    read: Callable
    key: str

    def lacking(self, model: str) -> ColumnElement:
        def has(space: str) -> ColumnElement:
            return exists().where(and_(self.vectors.c[self.item] == self.table.c.id, self.vectors.c.space == space,
                                       self.vectors.c.model == model))
        return and_(self.ready, ~and_(*map(has, self.spaces)))


PHOTOS = Pictures("image", images, images.c.status == "PARSE", image_vectors, "image_id", ("visual", "appearance"),
                  "features", original_pixels, "sha256")
CLIPS = Pictures("clip", video_clips, true(), video_vectors, "item_id", ("clip_visual", "clip_appearance"),
                 "clip_features", keyframe_pixels, "keyframe_key")


def lacking(store: Store, model: str) -> tuple[int, int]:
    """(indexed photos, video clips) without a vector of `model`."""
    with store.db.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(kind.table).where(kind.lacking(model))).scalar_one()
                     for kind in (PHOTOS, CLIPS))


def warn_if_older(store: Store, model: str) -> None:
    """Say at a server's start what an older visual model embedded: a search by words reaches it poorly, or,
    where the vectors' length changed (bridge v3, CLIP), only through its labels, text and tags; a search by
    example, not at all where it has no appearance vector (before Lite2's)."""
    photos, clips = lacking(store, model)
    if photos or clips:
        log.warning("%d photos and %d video clips have vectors of an older visual model than %s: searches by "
                    "words find them poorly or not at all, and searches by example may not find them, until "
                    "`reverie models upgrade-vectors` (with this server's --data or --database-url) embeds them "
                    "again; it runs while the server serves", photos, clips, model)


def reembed(store: Store, models: Models, kind: Pictures, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Embed every photo or clip (`kind`) lacking a vector of the current visual model; returns how many were done."""
    visual = models.visual
    done = 0
    for rows in in_batches(store, kind.table, kind.lacking(visual.name)):
        pixels = read_each({r.id: getattr(r, kind.key) for r in rows}, kind.read, store,
                           f"{kind.what} %s: not embedded again, its old vectors removed")
        analyses = dict(zip(pixels, visual.analyse(list(pixels.values())))) if pixels else {}
        with store.db.write() as conn:
            for row in rows:
                conn.execute(kind.vectors.delete().where(kind.vectors.c[kind.item] == row.id,
                                                         kind.vectors.c.space.in_([*kind.spaces, kind.retired])))
                still = conn.execute(select(kind.table.c.id).where(kind.table.c.id == row.id)).first()
                if row.id in analyses and still:
                    a = analyses[row.id]
                    owner = {"video_id": row.video_id} if kind is CLIPS else {}
                    conn.execute(kind.vectors.insert(), [
                        {kind.item: row.id, "space": space, "model": visual.name, **owner, **vector_rows.stored(conn, vec)}
                        for space, vec in zip(kind.spaces, (a.vector, a.features))])
                    done += 1
        progress(len(rows))
    with store.db.read() as conn:
        retired_left = conn.execute(select(func.count()).select_from(kind.vectors)
                                    .where(kind.vectors.c.space == kind.retired)).scalar_one()
    if not retired_left and (dropped := store.drop_vector_graphs(kind.retired)):
        log.info("deleted %d search graphs of %s vectors no search reads any more", dropped, kind.retired)
    return done
