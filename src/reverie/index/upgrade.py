"""`reverie models upgrade-vectors`: give photos and clips indexed before the bridge their bridged vectors.

Such a row's text-shared vector is ConSE's alone (model "conse"), and the normalised features the bridge
reads are stored beside it, so the new vector comes from two stored rows: no photo or video is decoded
again. Rows are rewritten with a new sequence number, so a running server picks them up as it does any
re-index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import and_, func, select

from ..models import Models
from ..store import Store, vector_rows
from ..store.schema import image_vectors, video_vectors

BATCH = 500
OLD_MODEL = "conse"
# (table, the column naming the item, its text-shared space, its features space)
SPACES = ((image_vectors, "image_id", "visual", "features"), (video_vectors, "item_id", "clip_visual", "clip_features"))


def pending(store: Store) -> int:
    with store.db.read() as conn:
        return sum(conn.execute(select(func.count()).select_from(t).where(
            and_(t.c.space == space, t.c.model == OLD_MODEL))).scalar_one() for t, _, space, _ in SPACES)


def upgrade(store: Store, models: Models, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Rewrite every ConSE-only vector as the bridged one; returns how many were rewritten."""
    visual = models.visual
    bridge = getattr(visual, "bridge", None)
    if bridge is None:
        raise RuntimeError("upgrade-vectors needs the bundled visual model with its bridge (--visual-model conse)")
    done = 0
    for table, item, space, features_space in SPACES:
        while True:
            with store.db.write() as conn:
                old = conn.execute(select(table).where(table.c.space == space, table.c.model == OLD_MODEL)
                                   .order_by(table.c.seq).limit(BATCH)).all()
                if not old:
                    break
                ids = [getattr(r, item) for r in old]
                features = {getattr(r, item): vector_rows.loaded(r.vector, r.embedding) for r in conn.execute(
                    select(table).where(table.c.space == features_space, getattr(table.c, item).in_(ids)))}
                kept = [r for r in old if getattr(r, item) in features]
                lone = {r.seq for r in old} - {r.seq for r in kept}
                if kept:
                    conse = np.stack([vector_rows.loaded(r.vector, r.embedding) for r in kept])
                    fused = bridge.fuse(bridge.project(np.stack([features[getattr(r, item)] for r in kept])), conse)
                    conn.execute(table.delete().where(table.c.seq.in_([r.seq for r in old])))
                    conn.execute(table.insert(), [
                        {item: getattr(r, item), "space": space, "model": visual.name,
                         **({"video_id": r.video_id} if table is video_vectors else {}), **vector_rows.stored(conn, vec)}
                        for r, vec in zip(kept, fused)])
                if lone:  # no features to bridge from: marked, so that they are not read again
                    conn.execute(table.update().where(table.c.seq.in_(lone)).values(model=f"{OLD_MODEL}-alone"))
            done += len(kept)
            progress(len(old))
    return done
