"""The image pipeline: decode and verify, EXIF, thumbnail and preview, then the models: labels and vectors,
OCR where the detector sees text, and a place name from the GPS position. Each step turns the image into
facts; `index_image` runs them and `facts_to_columns` says what is stored."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field

from PIL import ExifTags, Image, ImageOps

import numpy as np

from ..models import Models
from ..models.pixels import fitted, rgb_pixels
from ..store import Store
from ..store.blobs import derived_key, original_key
from .exif import ExifFacts, read_exif
from .places import place_name

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
    labels: list[tuple[str, float]] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # space -> vector
    model: str = ""
    has_text: bool = False  # the OCR gate saw text: an image.ocr job reads it (read_text below)
    place: str | None = None


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
            # Ask for the preview's own box: JPEG draft picks the largest DCT scale that still covers it.
            fit = PREVIEW_SIDE / max(size)
            if fit < 1:
                im.draft("RGB", (max(1, int(size[0] * fit)), max(1, int(size[1] * fit))))
            im.load()
    except CorruptImage:
        raise
    except Exception as exc:
        raise CorruptImage(f"image data is truncated or corrupt ({exc})") from None
    return im, size


def upright_rgb(im: Image.Image) -> Image.Image:
    """The image as people see it, in RGB; the decoded image itself when it already is (no copy)."""
    try:
        if im.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            im = ImageOps.exif_transpose(im)
    except Exception:  # a broken orientation tag: show the image as stored
        pass
    if im.mode in ("RGBA", "LA", "P", "PA"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im if im.mode == "RGB" else im.convert("RGB")


def make_derivatives(store: Store, image_id: int, im: Image.Image) -> tuple[np.ndarray, dict[str, str]]:
    """Store a preview and a thumbnail; returns the preview's pixels, which the models read (they are all
    the models need, and far cheaper to resize and scan than the original's)."""
    preview = fitted(rgb_pixels(im), PREVIEW_SIDE)
    keys = {}
    for kind, pixels in (("previews", preview), ("thumbnails", fitted(preview, THUMBNAIL_SIDE))):
        key = derived_key(kind, image_id)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", quality=JPEG_QUALITY)
        store.blobs.put_bytes(key, out.getvalue())
        keys[kind] = key
    return preview, keys


def _original(store: Store, row) -> tuple[Image.Image, tuple[int, int]]:  # noqa: ANN001
    with store.blobs.open(original_key(row.sha256)) as f:
        data = f.read()
    return decode(data, store.settings.max_image_pixels)


def index_image(store: Store, models: Models, row) -> ImageFacts:  # noqa: ANN001
    """Everything but the reading of text, which costs ~0.5 s a photo where there is any: the gate only
    says whether there is (a few ms), and a job of its own reads it, on any worker that takes OCR jobs."""
    im, (width, height) = _original(store, row)
    exif = read_exif(im)
    if exif.orientation in (5, 6, 7, 8):  # stored sideways: people see it the other way round
        width, height = height, width
    upright = upright_rgb(im)
    preview, derived = make_derivatives(store, row.id, upright)
    facts = ImageFacts(width=width, height=height, exif=exif, derived=derived)
    analysis = models.visual.analyse([preview])[0]
    facts.labels = analysis.labels
    facts.vectors = {"visual": analysis.vector, "features": analysis.features}
    facts.model = models.visual.name
    facts.has_text = store.settings.ocr == "on" and models.ocr.has_text(preview)
    lat, lon = (row.latitude, row.longitude) if row.latitude is not None else (exif.latitude, exif.longitude)
    if lat is not None and lon is not None:
        facts.place = place_name(lat, lon)
    return facts


def read_text(store: Store, models: Models, row) -> list[str]:  # noqa: ANN001
    """The lines of text in an image whose gate saw some, read at full size."""
    im, _ = _original(store, row)
    return [text for text, _score in models.ocr.read_lines(upright_rgb(im))]


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
        labels_json=json.dumps([[name, round(p, 4)] for name, p in facts.labels]),
        ocr_text=None,  # the image.ocr job fills it in
        place=facts.place,
    )
    if row.datetime_taken_ms is None and e.datetime_taken_ms is not None:
        cols["datetime_taken_ms"] = e.datetime_taken_ms
    if row.camera_model is None and e.camera_model:
        cols["camera_model"] = e.camera_model[:200]
    if row.latitude is None and e.latitude is not None:
        cols["latitude"], cols["longitude"] = e.latitude, e.longitude
    return cols
