"""The image pipeline: decode and verify, EXIF, thumbnail and preview. Each step turns the image into facts;
`index_image` runs them and returns the facts to store. Model steps (labels, vectors, OCR) join here."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from ..store import Store
from ..store.blobs import derived_key, original_key
from .exif import ExifFacts, read_exif

THUMBNAIL_SIDE = 320
PREVIEW_SIDE = 1280
JPEG_QUALITY = 85


class CorruptImage(Exception):
    """The bytes cannot be decoded as an image: retrying will not help."""


@dataclass
class ImageFacts:
    width: int
    height: int
    exif: ExifFacts
    derived: dict[str, str] = field(default_factory=dict)  # kind -> blob key


def decode(data: bytes, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode every byte (a truncated or corrupt file fails here). Returns the image, possibly decoded at a
    reduced scale (JPEG DCT scaling: a preview needs no more), and the stored pixel size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            size = im.size
            if size[0] * size[1] > max_pixels:
                raise CorruptImage(f"{size[0]}x{size[1]} is more than the {max_pixels}-pixel limit")
            im.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))
            im.load()
    except CorruptImage:
        raise
    except Exception as exc:
        raise CorruptImage(f"image data is truncated or corrupt ({exc})") from None
    return im, size


def upright_rgb(im: Image.Image) -> Image.Image:
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken orientation tag: show the image as stored
        pass
    if im.mode in ("RGBA", "LA", "P", "PA"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im.convert("RGB")


def make_derivatives(store: Store, image_id: int, im: Image.Image) -> dict[str, str]:
    keys = {}
    for kind, side in (("previews", PREVIEW_SIDE), ("thumbnails", THUMBNAIL_SIDE)):
        im = im.copy()
        im.thumbnail((side, side), Image.Resampling.LANCZOS)  # the thumbnail shrinks the preview, not the original
        key = derived_key(kind, image_id)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        store.blobs.put_bytes(key, out.getvalue())
        keys[kind] = key
    return keys


def index_image(store: Store, image_id: int, sha256: str) -> ImageFacts:
    with store.blobs.open(original_key(sha256)) as f:
        data = f.read()
    im, (width, height) = decode(data, store.settings.max_image_pixels)
    exif = read_exif(im)
    if exif.orientation in (5, 6, 7, 8):  # stored sideways: people see it the other way round
        width, height = height, width
    derived = make_derivatives(store, image_id, upright_rgb(im))
    return ImageFacts(width=width, height=height, exif=exif, derived=derived)


def facts_to_columns(facts: ImageFacts, row) -> dict:  # noqa: ANN001
    """Columns to update. Values given at upload win over EXIF."""
    e = facts.exif
    cols = dict(
        width=facts.width,
        height=facts.height,
        orientation=e.orientation,
        exif_json=json.dumps(e.as_dict()),
        thumbnail_key=facts.derived.get("thumbnails"),
        preview_key=facts.derived.get("previews"),
    )
    if row.datetime_taken_ms is None and e.datetime_taken_ms is not None:
        cols["datetime_taken_ms"] = e.datetime_taken_ms
    if row.camera_model is None and e.camera_model:
        cols["camera_model"] = e.camera_model[:200]
    if row.latitude is None and e.latitude is not None:
        cols["latitude"], cols["longitude"] = e.latitude, e.longitude
    return cols
