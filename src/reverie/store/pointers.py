"""`bucket`/`blob` pointers, the names clients see for stored files, and their resolution to blob keys.

Pointers name an image, not a content hash, so resolving one always goes through the owner's row:
another account's pointer resolves to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row

from . import images as image_rows
from .blobs import original_key

ORIGINALS = "reverie-images"
THUMBNAILS = "reverie-thumbnails"
PREVIEWS = "reverie-previews"

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "BMP": "bmp", "WEBP": "webp"}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "BMP": "image/bmp", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Resolved:
    key: str
    filename: str
    media_type: str


def pointer(row: Row, bucket: str) -> dict[str, str] | None:
    if bucket == ORIGINALS:
        return {"bucket": ORIGINALS, "blob": f"{row.id}.{EXTENSIONS[row.format]}"}
    key = row.thumbnail_key if bucket == THUMBNAILS else row.preview_key
    return {"bucket": bucket, "blob": f"{row.id}.jpg"} if key else None


def resolve(conn: Connection, account_id: int, bucket: str, blob: str) -> Resolved | None:
    if bucket not in (ORIGINALS, THUMBNAILS, PREVIEWS):
        return None
    stem, _, ext = blob.partition(".")
    if not stem.isdigit() or len(stem) > 19:
        return None
    row = image_rows.get(conn, account_id, int(stem))
    if row is None:
        return None
    if bucket == ORIGINALS:
        if ext != EXTENSIONS[row.format]:
            return None
        return Resolved(original_key(row.sha256), row.name, MIME[row.format])
    key = row.thumbnail_key if bucket == THUMBNAILS else row.preview_key
    if key is None or ext != "jpg":
        return None
    base = row.name.rsplit(".", 1)[0]
    return Resolved(key, f"{base}-{'thumbnail' if bucket == THUMBNAILS else 'preview'}.jpg", "image/jpeg")
