"""upload_img: the file and field rules of the seed page, then one transaction for blobs, rows and jobs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from .. import store as store_pkg
from ..errors import InvalidInput
from ..store import credits, ids, images as image_rows, jobs
from ..store.blobs import original_key
from ..store.db import lock_content, now_ms
from ..store.repairs import UploadUndo
from .fields import FormFields, parse_camera_model, parse_datetime, parse_point, parse_tags, parse_unique_id, with_server_tag
from .multipart import FilePart, Form

ALLOWED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
# Pillow's names for what we accept; MPO is the multi-picture JPEG many phones write.
SNIFFED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF", "BMP": "BMP", "WEBP": "WEBP"}
OPENERS = ["JPEG", "PNG", "GIF", "BMP", "WEBP"]  # the JPEG opener also yields MPO
FILE_FIELDS = ("files", "files.items", "files[]")
MAX_TAGS = 50
MAX_FILENAME = 255


@dataclass(frozen=True)
class ImageMeta:
    unique_id: str
    datetime_taken_ms: int | None
    camera_model: str | None
    point: tuple[float, float] | None
    tags: list[str]


@dataclass(frozen=True)
class AcceptedImage:
    part: FilePart
    format: str


def is_file_field(name: str) -> bool:
    return name in FILE_FIELDS or (name.startswith("files[") and name.endswith("]"))


def parse_meta(form: Form) -> ImageMeta:
    f = FormFields.gather(form.fields, {"tags"})
    point = parse_point(f.get("latitude"), f.get("longitude"))
    taken = f.get("datetime_taken")
    return ImageMeta(
        unique_id=parse_unique_id(f.get("unique_id")),
        datetime_taken_ms=parse_datetime("datetime_taken", taken) if taken else None,
        camera_model=parse_camera_model(f.get("camera_model")),
        point=point,
        tags=with_server_tag(parse_tags(f.lists.get("tags", []), MAX_TAGS)),
    )


def _sniff(part: FilePart, label: str, max_pixels: int) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(part.path, formats=OPENERS) as im:
                fmt, (w, h) = im.format, im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput(label, f"declares more than {max_pixels} pixels (decompression bomb guard)") from None
    except Exception:
        raise InvalidInput(
            label, "content is not a JPEG, PNG, GIF, BMP or WebP image (checked from the bytes, not the name)"
        ) from None
    if w * h > max_pixels:
        raise InvalidInput(label, f"{w}x{h} is more than the {max_pixels}-pixel limit")
    return SNIFFED_FORMATS[fmt]


def check_files(form: Form, max_file_bytes: int, max_pixels: int) -> list[AcceptedImage]:
    """Every rule for every file; the first broken one rejects the whole batch."""
    if form.fileless:
        raise InvalidInput(
            form.fileless[0], "must be a file part with a filename (e.g. curl -F 'files=@photo.jpg')"
        )
    stray = [p for p in form.files if not is_file_field(p.field)]
    if stray:
        raise InvalidInput(stray[0].field, "unexpected file part; send images in the 'files' field")
    if not form.files:
        raise InvalidInput("files", "at least one image file is required")
    accepted = []
    for i, part in enumerate(form.files):
        label = f"files[{i}] ({part.filename})"
        name = part.filename
        if not name:
            raise InvalidInput(f"files[{i}]", "a file name is required")
        if len(name) > MAX_FILENAME:
            raise InvalidInput(label, f"file name longer than {MAX_FILENAME} characters")
        if "/" in name or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidInput(f"files[{i}]", "file name must not contain '/', '\\' or control characters")
        if PurePosixPath(name.lower()).suffix not in ALLOWED_EXTENSIONS:
            raise InvalidInput(label, f"extension must be one of {' '.join(ALLOWED_EXTENSIONS)} (any case)")
        if not part.content_type.lower().startswith("image/"):
            raise InvalidInput(label, f"part Content-Type must start with image/, got {part.content_type or 'none'!r}")
        if part.path is None:
            raise InvalidInput(label, f"larger than the {max_file_bytes}-byte limit per file")
        if part.size == 0:
            raise InvalidInput(label, "file is empty")
        accepted.append(AcceptedImage(part=part, format=_sniff(part, label, max_pixels)))
    return accepted


def store_images(store: store_pkg.Store, account_id: int, meta: ImageMeta, files: list[AcceptedImage]) -> list[int]:
    """Blobs, rows, jobs and the credits they cost in one transaction: when this returns, the upload
    survives a crash; when it raises, nothing of it remains."""
    created = now_ms()
    lat, lon = meta.point if meta.point else (None, None)
    n = len(files)
    cost = n * store.settings.credits_per_image
    undo = UploadUndo(store, account_id, meta.unique_id, cost)
    new_ids = undo.repair.image_ids = ids.mint(store.db, "image", n)

    with store.db.write(on_rollback=undo.rolled_back, in_doubt=undo.in_doubt) as conn:
        # The originals first, under their content locks (a concurrent delete of the same bytes cannot remove
        # them under us); the credits and rows last, so that an account's row is locked for milliseconds, not
        # while the originals travel to S3.
        lock_content(conn, [f.part.sha256 for f in files])
        for f in files:
            if f.part.path.exists():
                undo.adopt(original_key(f.part.sha256), f.part.path)
        credits.spend(conn, account_id, cost, f"uploading {n} image{'s' if n != 1 else ''}")
        image_rows.ensure_namespace(conn, account_id, meta.unique_id)
        rows = [
            dict(
                id=image_id,
                account_id=account_id,
                unique_id=meta.unique_id,
                name=f.part.filename,
                sha256=f.part.sha256,
                size=f.part.size,
                content_type=f.part.content_type,
                format=f.format,
                status="UNPARSE",
                datetime_taken_ms=meta.datetime_taken_ms,
                camera_model=meta.camera_model,
                latitude=lat,
                longitude=lon,
                created_ms=created,
            )
            for image_id, f in zip(new_ids, files)
        ]
        image_rows.insert(conn, rows, meta.tags)
        jobs.enqueue(conn, jobs.IMAGE_INDEX, new_ids)
    store.jobs_waiting.set()
    return new_ids
