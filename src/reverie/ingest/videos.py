"""The video upload: field rules, a container check from the file's first bytes, and the transaction
that stores the row, its tags, its indexing job and the original together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from .. import store as store_pkg
from ..errors import InvalidInput
from ..index.callbacks import private_address
from ..store import credits, ids, jobs
from ..store import images as namespace_rows
from ..store import videos as video_rows
from ..store.db import now_ms
from ..store.repairs import UploadUndo
from .fields import FormFields, parse_camera_model, parse_datetime, parse_point, parse_tags, parse_unique_id, plain_text, with_server_tag
from .multipart import FilePart, Form

ALLOWED_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov")
MAX_TAGS = 20
MAX_CALLBACK = 299
MAX_PROMPT = 1000
MAX_FILENAME = 255


@dataclass(frozen=True)
class VideoMeta:
    unique_id: str
    datetime_taken_ms: int | None
    camera_model: str | None
    point: tuple[float, float] | None
    tags: list[str]
    callback: str | None
    retain_original: bool
    transcription_prompt: str | None


def _bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    low = value.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise InvalidInput(name, f"must be true or false, got {value!r}")


def parse_callback(value: str | None, allow_private: bool) -> str | None:
    """The callback URL, refused here, at upload, when it points into a private network: the notifier would
    drop it at delivery, and an upload answered 0000 whose callback never comes is a silent failure."""
    if not value:
        return None
    if len(value) > MAX_CALLBACK:
        raise InvalidInput("callback", f"at most {MAX_CALLBACK} characters, got {len(value)}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ord(c) < 33 for c in value):
        raise InvalidInput("callback", "must be an absolute http:// or https:// URL")
    blocked = None if allow_private else private_address(value)
    if blocked:
        raise InvalidInput("callback", f"{parts.hostname} resolves to the non-public address {blocked}; callbacks go to "
                           "public addresses only (the operator can allow private ones: REVERIE_ALLOW_PRIVATE_URLS=true)")
    return value


def parse_meta(fields: list[tuple[str, str]], allow_private_urls: bool) -> VideoMeta:
    f = FormFields.gather(fields, {"tags"})
    taken = f.get("datetime_taken")
    prompt = f.get("video_transcription_prompt") or None
    if prompt is not None and len(prompt) > MAX_PROMPT:
        raise InvalidInput("video_transcription_prompt", f"at most {MAX_PROMPT} characters, got {len(prompt)}")
    if prompt is not None:
        plain_text(prompt, "video_transcription_prompt")
    return VideoMeta(
        unique_id=parse_unique_id(f.get("unique_id")),
        datetime_taken_ms=parse_datetime("datetime_taken", taken) if taken else None,
        camera_model=parse_camera_model(f.get("camera_model")),
        point=parse_point(f.get("latitude"), f.get("longitude")),
        tags=with_server_tag(parse_tags(f.lists.get("tags", []), MAX_TAGS)),
        callback=parse_callback(f.get("callback"), allow_private_urls),
        retain_original=_bool("retain_original_video", f.get("retain_original_video"), True),
        transcription_prompt=prompt,
    )


def sniff_container(head: bytes) -> str | None:
    """mp4 (QuickTime/ISO family: .mp4 and .mov), mkv (Matroska/WebM) or avi, from the first bytes."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def check_file(form: Form, max_bytes: int) -> tuple[FilePart, str]:
    if form.fileless:
        raise InvalidInput(form.fileless[0], "must be a file part with a filename (e.g. curl -F 'file=@clip.mp4')")
    parts = [p for p in form.files if p.field == "file"]
    stray = [p for p in form.files if p.field != "file"]
    if stray:
        raise InvalidInput(stray[0].field, "unexpected file part; send the video in the 'file' field")
    if not parts:
        raise InvalidInput("file", "a video file is required")
    if len(parts) > 1:
        raise InvalidInput("file", "one video per request")
    part = parts[0]
    name = part.filename
    if not name:
        raise InvalidInput("file", "a file name is required")
    if len(name) > MAX_FILENAME:
        raise InvalidInput("file", f"file name longer than {MAX_FILENAME} characters")
    if "/" in name or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput("file", "file name must not contain '/', '\\' or control characters")
    if PurePosixPath(name.lower()).suffix not in ALLOWED_EXTENSIONS:
        raise InvalidInput("file", f"extension must be one of {' '.join(ALLOWED_EXTENSIONS)} (any case)")
    # curl -F file=@talk.mp4 sends application/octet-stream; such a part is judged by its bytes below
    if not part.content_type.lower().startswith(("video/", "application/octet-stream")):
        raise InvalidInput("file", "part Content-Type must start with video/ (or be application/octet-stream), "
                           f"got {part.content_type or 'none'!r}")
    if part.path is None:
        raise InvalidInput("file", f"larger than the {max_bytes}-byte limit")
    if part.size == 0:
        raise InvalidInput("file", "file is empty")
    with open(part.path, "rb") as f:
        container = sniff_container(f.read(16))
    if container is None:
        raise InvalidInput("file", "content is not an MP4, MOV, MKV or AVI video (checked from the bytes, not the name)")
    return part, container


def store_video(store: store_pkg.Store, account_id: int, meta: VideoMeta, part: FilePart, container: str) -> tuple[int, int]:
    """Row, tags, job, credits and the original in one transaction. Returns (video id, upload time ms)."""
    created = now_ms()
    lat, lon = meta.point if meta.point else (None, None)
    undo = UploadUndo(store, account_id, meta.unique_id, store.settings.credits_per_video)
    # One id sequence for images and videos: job subjects never clash.
    video_id = ids.mint(store.db, "image", 1)[0]
    undo.repair.video_ids = [video_id]
    key = video_rows.original_key(video_id, container)

    with store.db.write(on_rollback=undo.rolled_back, in_doubt=undo.in_doubt) as conn:
        # The original first: the credits and rows last, so that the account's row is locked for milliseconds,
        # not while the video travels to S3.
        undo.adopt(key, part.path)
        credits.spend(conn, account_id, store.settings.credits_per_video, "uploading a video")
        namespace_rows.ensure_namespace(conn, account_id, meta.unique_id)
        video_rows.insert(conn, dict(
            id=video_id, account_id=account_id, unique_id=meta.unique_id, name=part.filename, size=part.size,
            sha256=part.sha256, content_type=part.content_type, container=container, original_key=key,
            retain_original=int(meta.retain_original), status="UNPARSE", callback=meta.callback,
            transcription_prompt=meta.transcription_prompt, datetime_taken_ms=meta.datetime_taken_ms,
            camera_model=meta.camera_model, latitude=lat, longitude=lon, created_ms=created,
        ), meta.tags)
        # Pictures and speech are jobs of their own, run side by side (by two threads, or machines).
        jobs.enqueue(conn, jobs.VIDEO_INDEX, [video_id])
        jobs.enqueue(conn, jobs.VIDEO_ASR, [video_id])
    store.jobs_waiting.set()
    return video_id, created
