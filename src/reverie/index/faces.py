"""The faces steps (jobs image.faces and video.faces): find the faces of a photo or of a video's keyframes,
keep a crop of each, and hand them to store/people.py to be grouped.

They run only where the object detector saw a person: HOG costs ~60 ms on a 960 px photo and finds nothing
in most photos (2 faces in 80 COCO dev photos at 640 px, 5 at 960 px, all in photos with a person). With
the detector off, every photo is looked at.
"""

from __future__ import annotations

import io
import json
import math

from PIL import Image

from ..config import Settings
from ..models import Models
from ..models.faces import DETECT_SIDE
from ..models.pixels import rgb_pixels
from ..store import Store
from ..store.blobs import clip_face_key, derived_key
from ..store.people import FoundFace
from .image import JPEG_QUALITY, read_original, upright_rgb

PERSON_SCORE = 0.5  # the detector's own cut: what it keeps, it calls a person


def wanted(settings: Settings, objects: list[dict]) -> bool:
    """Whether a photo (or keyframe) with these objects is looked at for faces."""
    if settings.faces != "on":
        return False
    return settings.objects != "on" or any(o["label"] == "person" and o["score"] >= PERSON_SCORE for o in objects)


def detect_view(size: tuple[int, int]) -> tuple[int, int]:
    fit = min(1.0, DETECT_SIDE / max(size))
    return max(1, math.ceil(size[0] * fit)), max(1, math.ceil(size[1] * fit))


def crop_key(image_id: int, idx: int) -> str:
    return derived_key("faces", image_id, f"{idx}.jpg")  # faces/<id % 256>/<id>.<idx>.jpg: sweep reads the id


def find_faces(store: Store, models: Models, row) -> list[FoundFace]:  # noqa: ANN001
    """The faces of a stored photo, largest first, their crops stored under fixed keys (a redone job writes
    the same keys again). Nothing when faces were switched off after the job was queued."""
    if store.settings.faces != "on":
        return []
    im, _ = read_original(store, row.sha256, detect_view)
    return _kept(store, models.faces.find(rgb_pixels(upright_rgb(im))), lambda idx: crop_key(row.id, idx))


def find_clip_faces(store: Store, models: Models, video_id: int, clips: list) -> dict[int, list[FoundFace]]:
    """The faces of each clip's stored keyframe where the detector saw a person (clip id -> faces)."""
    out = {}
    for clip in clips:
        if not wanted(store.settings, json.loads(clip.objects_json) if clip.objects_json else []):
            continue
        with store.blobs.open(clip.keyframe_key) as f:
            pixels = rgb_pixels(Image.open(io.BytesIO(f.read())))
        found = models.faces.find(pixels)
        out[clip.id] = _kept(store, found, lambda idx: clip_face_key(video_id, clip.idx, idx))
    return out


def _kept(store: Store, found: list, key_of) -> list[FoundFace]:  # noqa: ANN001
    """The faces with their crops stored (JPEG) under the keys `key_of(place among the faces)` gives."""
    out = []
    for idx, face in enumerate(found):
        buffer = io.BytesIO()
        Image.fromarray(face.chip).save(buffer, "JPEG", quality=JPEG_QUALITY)
        key = key_of(idx)
        store.blobs.put_bytes(key, buffer.getvalue())
        out.append(FoundFace(box=face.box, score=face.score, embedding=face.embedding, crop_key=key))
    return out
