"""The pixels indexing reads, read back from what a library stores (a photo's original, a clip's keyframe),
for the commands that bring a library up to date or to another model without uploading anything again."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image
from sqlalchemy import ColumnElement, Row, Table, select

from ..models.pixels import rgb_pixels
from ..store import Store
from .image import model_view, read_original, upright_rgb
from .video import MODEL_SIDE

log = logging.getLogger(__name__)
BATCH = 16


def in_batches(store: Store, table: Table, where: ColumnElement, size: int = BATCH) -> Iterator[list[Row]]:
    """The rows of `table` matching `where`, by id, `size` at a time. Each batch is read after the last one
    was handled, so what a running server changed meanwhile is seen."""
    after = 0
    while True:
        with store.db.read() as conn:
            rows = conn.execute(select(table).where(where, table.c.id > after).order_by(table.c.id).limit(size)).all()
        if not rows:
            return
        after = rows[-1].id
        yield rows


def original_pixels(store: Store, sha256: str) -> np.ndarray:
    """A photo upright, at the scale the image job reads it."""
    im, _ = read_original(store, sha256, model_view)
    return rgb_pixels(upright_rgb(im))


def keyframe_pixels(store: Store, key: str) -> np.ndarray:
    """A clip's stored keyframe, at the size the video job gives the models."""
    with store.blobs.open(key) as f:
        im = Image.open(io.BytesIO(f.read()))
        im.thumbnail((MODEL_SIDE, MODEL_SIDE), Image.Resampling.BILINEAR)
    return rgb_pixels(im)


def read_each(where: dict[int, str], read: Callable[[Store, str], np.ndarray], store: Store,
              unreadable: str) -> dict[int, np.ndarray]:
    """id -> pixels for each id whose blob reads; the others are logged with `unreadable`, what becomes of them."""
    pixels = {}
    for item_id, key in where.items():
        try:
            pixels[item_id] = read(store, key)
        except Exception as exc:  # gone or unreadable now
            log.warning("%s: %s", unreadable % item_id, exc)
    return pixels
