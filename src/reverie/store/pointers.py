"""`bucket`/`blob` pointers, the names clients see for stored files, and their resolution to blob keys.

Pointers name an image, not a content hash, so resolving one always goes through the owner's row:
another account's pointer resolves to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row

from . import images as image_rows
from . import people, videos
from .blobs import original_key

ORIGINALS = "reverie-images"
THUMBNAILS = "reverie-thumbnails"
PREVIEWS = "reverie-previews"
VIDEOS = "reverie-videos"  # blob: VI<id>.<container>
KEYFRAMES = "reverie-keyframes"  # blob: VI<id>/keyframe-<ms>.jpg
FACES = "reverie-faces"  # blob: FA<id>.jpg, the aligned crop of one face
VIDEO_MIME = {"mp4": "video/mp4", "mkv": "video/x-matroska", "avi": "video/x-msvideo"}

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "BMP": "bmp", "WEBP": "webp"}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "BMP": "image/bmp", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Resolved:
    key: str
    filename: str
    media_type: str
    source_sha256: str | None = None  # a preview: rendered from this original when its file is missing


def pointer(row: Row, bucket: str) -> dict[str, str] | None:
    if bucket == ORIGINALS:
        return {"bucket": ORIGINALS, "blob": f"{row.id}.{EXTENSIONS[row.format]}"}
    key = row.thumbnail_key if bucket == THUMBNAILS else row.preview_key
    return {"bucket": bucket, "blob": f"{row.id}.jpg"} if key else None


def video_pointer(row: Row) -> dict[str, str] | None:
    return {"video_bucket": VIDEOS, "video_blob": f"{videos.video_no(row.id)}.{row.container}"} if row.original_key else None


def keyframe_pointer(video_id: int, keyframe_key: str) -> dict[str, str]:
    return {"keyframe_bucket": KEYFRAMES, "keyframe_blob": f"{videos.video_no(video_id)}/{keyframe_key.rsplit('/', 1)[-1]}"}


def face_pointer(face_id: int) -> dict[str, str]:
    return {"bucket": FACES, "blob": f"{people.face_no(face_id)}.jpg"}


def _resolve_face(conn: Connection, account_id: int, blob: str) -> Resolved | None:
    stem, _, ext = blob.partition(".")
    face_id = people.parse_no(stem, people.FACE_PREFIX)
    face = people.face_of_account(conn, account_id, face_id) if face_id is not None and ext == "jpg" else None
    return None if face is None else Resolved(face.crop_key, blob, "image/jpeg")


def _resolve_video(conn: Connection, account_id: int, bucket: str, blob: str) -> Resolved | None:
    head, _, rest = blob.partition("/" if bucket == KEYFRAMES else ".")
    video_id = videos.parse_video_no(head)
    row = videos.get(conn, account_id, video_id) if video_id is not None else None
    if row is None:
        return None
    if bucket == VIDEOS:
        if row.original_key is None or rest != row.container:
            return None
        return Resolved(row.original_key, row.name, row.content_type if row.content_type.startswith("video/") else VIDEO_MIME[row.container])
    key = videos.keyframe_key_named(row.id, rest)
    if key is None:
        return None
    return Resolved(key, f"{head}-{rest}", "image/jpeg")


def resolve(conn: Connection, account_id: int, bucket: str, blob: str) -> Resolved | None:
    if bucket in (VIDEOS, KEYFRAMES):
        return _resolve_video(conn, account_id, bucket, blob)
    if bucket == FACES:
        return _resolve_face(conn, account_id, blob)
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
    if bucket == THUMBNAILS:
        return Resolved(key, f"{base}-thumbnail.jpg", "image/jpeg")
    return Resolved(key, f"{base}-preview.jpg", "image/jpeg", source_sha256=row.sha256)
