"""The image pipeline: decode and verify, EXIF, thumbnail, colours, then the models: labels and vectors,
objects, OCR where the text detector sees text, and a place name from the GPS position. Each step turns
the image into facts; `index_images` runs them and `facts_to_columns` says what is stored.

Indexing decodes a JPEG at the smallest DCT scale the models and the thumbnail can use. The 1280 px
preview needs the whole decode and costs more than the classifier, so it is rendered on its first
request instead (`render_preview`): most previews are never opened."""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import ExifTags, Image, ImageOps

import numpy as np

from ..models import Models
from ..models.ocr import GATE_PIXELS
from ..models.pixels import fitted, rgb_pixels
from ..store import Store
from ..store.blobs import derived_key, original_key
from ..store.search_index import confident_labels
from .colours import photo_colours
from .exif import ExifFacts, read_exif
from .objects import find_objects, object_words, scenes, sightings
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
    objects: list[dict] = field(default_factory=list)  # index/objects.py
    likelihoods: dict[str, float] = field(default_factory=dict)  # COCO class -> the detector's best score
    colours: list[str] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # space -> vector
    model: str = ""
    has_text: bool = False  # the OCR gate saw text: an image.ocr job reads it (read_text below)
    place: str | None = None

    def label_words(self) -> str:
        return label_words(self.labels, self.objects)


def label_words(labels: list, objects: list[dict]) -> str:
    """What the full-text index holds of what the models saw."""
    return " ".join(w for w in (confident_labels(labels), object_words(objects)) if w)


def preview_view(size: tuple[int, int]) -> tuple[int, int]:
    """The preview's box; also all that reading text needs (its detector looks at 1280 px)."""
    fit = min(1.0, PREVIEW_SIDE / max(size))
    return max(1, int(size[0] * fit)), max(1, int(size[1] * fit))


def model_view(size: tuple[int, int]) -> tuple[int, int]:
    """The least size indexing reads without enlarging: the OCR gate's pixel count (it loses small text
    below it) and the thumbnail's side. The classifier's 320 px square takes it squashed."""
    fit = min(1.0, max(math.sqrt(GATE_PIXELS / (size[0] * size[1])), THUMBNAIL_SIDE / max(size)))
    return max(1, math.ceil(size[0] * fit)), max(1, math.ceil(size[1] * fit))


def decode(data: bytes, max_pixels: int, view: Callable[[tuple[int, int]], tuple[int, int]],
           ) -> tuple[Image.Image, tuple[int, int]]:
    """Decode every byte (a truncated or corrupt file fails here). Returns the image, possibly decoded at a
    reduced scale (JPEG DCT scaling) that still covers `view(stored size)`, and the stored pixel size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            size = im.size
            if size[0] * size[1] > max_pixels:
                raise CorruptImage(f"{size[0]}x{size[1]} is more than the {max_pixels}-pixel limit")
            box = view(size)
            if box != size:
                im.draft("RGB", box)  # the largest DCT scale whose result still covers the box
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


def read_original(store: Store, sha256: str, view: Callable) -> tuple[Image.Image, tuple[int, int]]:
    with store.blobs.open(original_key(sha256)) as f:
        data = f.read()
    return decode(data, store.settings.max_image_pixels, view)


def _put_jpeg(store: Store, key: str, pixels: np.ndarray) -> None:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=JPEG_QUALITY)
    store.blobs.put_bytes(key, out.getvalue())


def store_thumbnail(store: Store, image_id: int, pixels: np.ndarray) -> str:
    key = derived_key("thumbnails", image_id)
    _put_jpeg(store, key, fitted(pixels, THUMBNAIL_SIDE))
    return key


def render_preview(store: Store, sha256: str, key: str) -> None:
    """Store the preview of an indexed image at `key`, from its original; on its first request, or again
    if the file was lost. Renders racing each other write the same bytes."""
    im, _ = read_original(store, sha256, preview_view)
    _put_jpeg(store, key, fitted(rgb_pixels(upright_rgb(im)), PREVIEW_SIDE))


def index_images(store: Store, models: Models, rows: list) -> list[ImageFacts | Exception]:
    """Everything but the reading of text, for each row: its facts, or in its place what went wrong with it
    (CorruptImage: retrying will not help). The classifier sees the images in one batch (~15 % cheaper a
    photo than one by one). Reading text costs ~0.5 s a photo where there is any: the gate only says
    whether there is (a few ms), and a job of its own reads it, on any worker that takes OCR jobs."""
    out: list[ImageFacts | Exception] = []
    pixels: list[np.ndarray] = []
    for row in rows:
        try:
            facts, upright = _describe(store, models, row)
        except Exception as exc:
            out.append(exc)
            continue
        out.append(facts)
        pixels.append(upright)
    analysed = [facts for facts in out if isinstance(facts, ImageFacts)]
    if not analysed:
        return out
    try:
        seen = sightings(store.settings, models, pixels)
        analyses = models.visual.analyse(pixels, scenes(seen))
        objects = find_objects(store.settings, models, pixels, seen)
    except Exception as exc:  # the batch's model run failed: each image fails with it, and is retried
        return [exc if isinstance(facts, ImageFacts) else facts for facts in out]
    for facts, analysis, found in zip(analysed, analyses, objects):
        facts.labels = analysis.labels
        facts.objects, facts.likelihoods = found.objects, found.likelihoods
        facts.vectors = {"visual": analysis.vector, "appearance": analysis.features}
        facts.model = models.visual.name
    return out


def _describe(store: Store, models: Models, row) -> tuple[ImageFacts, np.ndarray]:  # noqa: ANN001
    """The facts of one image but the classifier's, and its upright pixels for the classifier."""
    im, (width, height) = read_original(store, row.sha256, model_view)
    exif = read_exif(im)
    if exif.orientation in (5, 6, 7, 8):  # stored sideways: people see it the other way round
        width, height = height, width
    pixels = rgb_pixels(upright_rgb(im))
    derived = {"thumbnails": store_thumbnail(store, row.id, pixels), "previews": derived_key("previews", row.id)}
    facts = ImageFacts(width=width, height=height, exif=exif, derived=derived, colours=photo_colours(pixels))
    facts.has_text = store.settings.ocr == "on" and models.ocr.has_text(pixels)
    lat, lon = (row.latitude, row.longitude) if row.latitude is not None else (exif.latitude, exif.longitude)
    if lat is not None and lon is not None:
        facts.place = place_name(lat, lon)
    return facts, pixels


def read_text(store: Store, models: Models, row) -> list[str]:  # noqa: ANN001
    """The lines of text in an image whose gate saw some, read at full size."""
    im, _ = read_original(store, row.sha256, preview_view)
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
        objects_json=json.dumps(facts.objects),
        object_likelihoods_json=json.dumps(facts.likelihoods),
        colours_json=json.dumps(facts.colours),
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
