"""Video endpoints of memories.ai v1: upload, metadata, listing, delete, download, transcripts, captions,
and the phrase search in transcripts. The reference's mixed casing (videoNo / video_no) is kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ..errors import BadEnum, InvalidInput, NotFound
from ..ingest import videos as ingest
from ..ingest.fields import parse_phrase, parse_point, parse_unique_id, plain_text
from ..ingest.multipart import Form, read_form
from ..ingest.url_fetch import MAX_URL_BYTES, fetch_video
from ..search.filters import Filters, allowed_video_ids
from ..search.phrases import phrase_hits
from ..store import pointers
from ..store import videos as video_rows
from ..store.accounts import Caller
from ..store.removal import delete_videos as remove_videos
from .auth import api_key_scheme, limited
from .envelope import ok
from .files import send_blob
from .links import Links
from .images import STATUS_ALIASES, _time_bound

router = APIRouter(dependencies=[Depends(api_key_scheme)])

UPLOAD_FORM = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": ".mp4 .avi .mkv .mov, part Content-Type video/* or application/octet-stream (the bytes "
                                    "decide), at most 3 GB (h264, h265, vp9, ...)"},
            "unique_id": {"type": "string", "default": "default", "maxLength": 128},
            "callback": {"type": "string", "maxLength": 299, "description": "POSTed {videoNo, status} when indexing "
                         "ends; a public http(s) address (private ones only where the operator allows them)"},
            "datetime_taken": {"type": "string", "example": "2025-09-07 22:52:00"},
            "camera_model": {"type": "string", "maxLength": 200},
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            "retain_original_video": {"type": "boolean", "default": True},
            "video_transcription_prompt": {"type": "string", "maxLength": 1000},
        }}}}},
}


def _resolution(height: int | None) -> str | None:
    if not height:
        return None
    for limit, label in ((2160, "4K"), (1440, "2K"), (1080, "1080P"), (720, "720P"), (480, "480P"), (360, "360P")):
        if height >= limit:
            return label
    return f"{height}P"


def video_item(row, tags: list[str], links: Links) -> dict[str, Any]:  # noqa: ANN001
    item: dict[str, Any] = {
        "video_no": video_rows.video_no(row.id), "video_name": row.name.rsplit(".", 1)[0],
        "duration": round(row.duration_s) if row.duration_s is not None else None, "size": row.size,
        "status": row.status, "create_time": row.created_ms,
    }
    if row.status == "FAILED":
        item["cause"] = row.cause
    if row.height:
        item.update(resolution_label=_resolution(row.height), fps=row.fps, width=row.width, height=row.height)
    for col, key in (("datetime_taken_ms", "datetime_taken"), ("camera_model", "camera_model"),
                     ("latitude", "latitude"), ("longitude", "longitude"), ("place", "place")):
        value = getattr(row, col)
        if value is not None:
            item[key] = value
    if tags:
        item["tags"] = tags
    pointer = pointers.video_pointer(row)
    if pointer:
        item.update(bucket=pointer["video_bucket"], blob=pointer["video_blob"],
                    video_url=links.signed(row.account_id, pointer["video_bucket"], pointer["video_blob"]))
    return item


@router.post("/upload", openapi_extra=UPLOAD_FORM, summary="Upload a video (memories.ai v1)")
async def upload(request: Request, who: Caller = Depends(limited("upload"))):
    store = request.app.state.store
    limit = store.settings.max_video_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise InvalidInput("file", f"request of {declared} bytes is over the {limit}-byte limit")
    form = await read_form(request.stream(), request.headers.get("content-type"), store.settings.staging_dir,
                           max_file_bytes=limit, max_files=1, max_body_bytes=limit + 1024 * 1024,
                           file_fields=("file",))
    try:
        def check_and_store() -> tuple[int, int, str]:
            meta = ingest.parse_meta(form.fields, store.settings.allow_private_urls)
            part, container = ingest.check_file(form, limit)
            video_id, created = ingest.store_video(store, who.account_id, meta, part, container)
            return video_id, created, part.filename

        video_id, created, name = await run_in_threadpool(check_and_store)
    finally:
        form.cleanup()
    return ok({"videoNo": video_rows.video_no(video_id), "videoName": name.rsplit(".", 1)[0],
               "videoStatus": "UNPARSE", "uploadTime": str(created)})


@router.post("/upload_url", summary="Upload a video from an http(s) URL the server fetches (memories.ai v1)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                 "type": "object", "required": ["url"], "properties": {
                     "url": {"type": "string", "description": "http:// or https://, at most 1 GB"},
                     **{k: v for k, v in UPLOAD_FORM["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"].items()
                        if k != "file"}}}}}}})
async def upload_url(request: Request, who: Caller = Depends(limited("upload"))):
    store = request.app.state.store
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > 64 * 1024:
        raise InvalidInput("body", "a form of at most 64 KB with a Content-Length is required")
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    meta = ingest.parse_meta(fields, store.settings.allow_private_urls)  # field errors before any download
    url = dict(fields).get("url")
    part = await fetch_video(url, store.settings.staging_dir, MAX_URL_BYTES, store.settings.allow_private_urls)
    try:
        def check_and_store() -> tuple[int, int]:
            checked, container = ingest.check_file(Form(files=[part]), MAX_URL_BYTES)
            return ingest.store_video(store, who.account_id, meta, checked, container)

        video_id, created = await run_in_threadpool(check_and_store)
    finally:
        if part.path is not None:
            part.path.unlink(missing_ok=True)
    return ok({"videoNo": video_rows.video_no(video_id), "videoName": part.filename.rsplit(".", 1)[0],
               "videoStatus": "UNPARSE", "uploadTime": str(created)})


def _video_id(value: str | None, name: str = "video_no") -> int | None:
    if not value:
        raise InvalidInput(name, "required: a video number like VI605961375402668032")
    return video_rows.parse_video_no(value)


def _own_video(request: Request, who: Caller, video_no: str | None, unique_id: str | None):  # noqa: ANN202
    """The caller's video (in `unique_id` when given), or None."""
    video_id = _video_id(video_no)
    if video_id is None:
        return None, []
    with request.app.state.store.db.read() as conn:
        row = video_rows.get(conn, who.account_id, video_id)
        if row is None or (unique_id and row.unique_id != parse_unique_id(unique_id)):
            return None, []
        return row, video_rows.tags_of(conn, [row.id])[row.id]


@router.get("/get_metadata", summary="One video and its indexing status (memories.ai v1)")
def get_metadata(request: Request, video_no: Annotated[str | None, Query()] = None,
                 unique_id: Annotated[str | None, Query()] = None, who: Caller = Depends(limited("read"))):
    row, tags = _own_video(request, who, video_no, unique_id)
    # An unknown number answers 0000 with data null, as the reference does (the official client polls on it).
    return ok(None if row is None else video_item(row, tags, Links.of(request)))


@router.post("/list_videos", summary="Page through the video library (memories.ai v1)")
def list_videos(request: Request, body: Any = Body(default=None), who: Caller = Depends(limited("read"))):
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    page = _positive(body, "page", 1)
    size = _positive(body, "size", 20, 1000)
    video_nos = body.get("video_nos")
    if video_nos is not None and (not isinstance(video_nos, list) or not all(isinstance(v, str) for v in video_nos)):
        raise InvalidInput("video_nos", "must be an array of strings")
    ids = None
    if body.get("video_no"):
        ids = [video_rows.parse_video_no(_str(body, "video_no")) or 0]
    if video_nos is not None:
        wanted = [video_rows.parse_video_no(v) or 0 for v in video_nos]
        ids = wanted if ids is None else [i for i in ids if i in wanted]
    status = _str(body, "status")
    if status and status.upper() not in STATUS_ALIASES:
        raise BadEnum("status", f"must be one of PARSE, UNPARSE, FAILED, got {status!r}")
    unique_id = parse_unique_id(_str(body, "unique_id"))
    point = parse_point(body.get("latitude"), body.get("longitude"))
    if point is not None:  # "≈ 20 km" of the point; metadata filters match only parsed videos
        with request.app.state.store.db.read() as conn:
            near = allowed_video_ids(conn, who.account_id, Filters(unique_id=unique_id, point=point), ids).tolist()
        ids = near
    tag = _str(body, "tag")
    f = video_rows.VideoFilter(
        unique_id=unique_id, video_ids=ids, name=_str(body, "video_name"),
        statuses=[STATUS_ALIASES[status.upper()]] if status else [], camera_model=_str(body, "camera_model"),
        tags_any=[tag] if tag else [], taken_from_ms=_time_bound("datetime_taken", body.get("datetime_taken")))
    with request.app.state.store.db.read() as conn:
        total, rows = video_rows.page(conn, who.account_id, f, page, size)
        tags = video_rows.tags_of(conn, [r.id for r in rows])
    links = Links.of(request)
    return ok({"current_page": page, "page_size": size, "total_count": total,
               "videos": [video_item(r, tags[r.id], links) for r in rows]})


def _str(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, f"must be a string, got {type(value).__name__}")
    return plain_text(value, name)


def _positive(body: dict, name: str, default: int, high: int = 10_000_000) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInput(name, f"must be an integer from 1 to {high}, got {value!r}")
    return value


@router.post("/delete_videos", summary="Delete videos and everything derived (memories.ai v1)")
def delete_videos(request: Request, video_nos: Annotated[list[Any], Body(description="raw JSON array of video numbers, at most 100")],
                  unique_id: Annotated[str | None, Query()] = None, who: Caller = Depends(limited("delete"))):
    if len(video_nos) > 100:
        raise InvalidInput("body", f"at most 100 video numbers per request, got {len(video_nos)}")
    ids = []
    for i, v in enumerate(video_nos):
        if not isinstance(v, str):
            raise InvalidInput(f"body[{i}]", f"must be a video number string, got {v!r}")
        parsed = video_rows.parse_video_no(v)
        if parsed is not None:
            ids.append(parsed)
    remove_videos(request.app.state.store, who.account_id, parse_unique_id(unique_id), ids)
    return ok(None)  # idempotent: unknown numbers are not an error


@router.post("/download", summary="Stream a video's original file (memories.ai v1)")
def download_video(request: Request, body: Any = Body(default=None), who: Caller = Depends(limited("read"))):
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object with video_no")
    row, _ = _own_video(request, who, _str(body, "video_no"), _str(body, "unique_id") or "default")
    store = request.app.state.store
    if row is None or row.original_key is None or not store.blobs.exists(row.original_key):
        raise NotFound("video not found")
    headers = {"Content-Disposition": f'attachment; filename="{video_rows.video_no(row.id)}.{row.container}"'}
    return send_blob(request, row.original_key, "application/octet-stream", headers)


def _timed(index: int, start: float, end: float, content: str) -> dict:
    return {"index": index, "content": content, "startTime": str(int(start)), "endTime": str(int(end + 0.999))}


@router.get("/get_audio_transcription", summary="A video's speech as timed segments (memories.ai v1)",
            description="Extensions: `language` of the video's speech and of each segment (ISO 639-1, as Whisper "
                        "heard it).")
def get_audio_transcription(request: Request, video_no: Annotated[str | None, Query()] = None,
                            unique_id: Annotated[str | None, Query()] = None, who: Caller = Depends(limited("read"))):
    row, _ = _own_video(request, who, video_no, unique_id)
    if row is None or row.status != "PARSE" or row.transcribed_ms is None:
        return ok(None)  # no audio track, or not transcribed yet
    with request.app.state.store.db.read() as conn:
        segments = video_rows.segments_of(conn, row.id)
    data = {"videoNo": video_rows.video_no(row.id),
            "transcriptions": [{**_timed(s.idx, s.start_s, s.end_s, s.text), "language": s.language or "en"}
                               for s in segments],
            "language": row.language or ("en" if segments else None), "createTime": str(row.transcribed_ms)}
    data.update(pointers.video_pointer(row) or {})
    return ok(data)


@router.get("/get_video_caption", summary="A description of each clip: what it shows, text on screen, speech")
def get_video_caption(request: Request, video_no: Annotated[str | None, Query()] = None,
                      unique_id: Annotated[str | None, Query()] = None, who: Caller = Depends(limited("read"))):
    row, _ = _own_video(request, who, video_no, unique_id)
    if row is None or row.status != "PARSE":
        return ok(None)
    with request.app.state.store.db.read() as conn:
        clips = video_rows.clips_of(conn, row.id)
    return ok({"videoNo": video_rows.video_no(row.id),
               "transcriptions": [_timed(c.idx, c.start_s, c.end_s, c.caption or "") for c in clips]})


@router.get("/search_audio_transcripts", summary="Phrase search in transcripts (memories.ai v1)",
            description="The reference's case-insensitive phrase match, blind to punctuation, apostrophes and "
                        "British or American spelling, across segments; a phrase of 4 words or more also matches "
                        "with one word misheard, missing or extra, when it is heard nowhere as typed. Extensions in each "
                        "item: `endTime`, float `start` and `end` (the phrase's own first and last word), "
                        "`match` (exact or near) and `heard` (the phrase's words found, folded).")
def search_audio_transcripts(request: Request, query: Annotated[str | None, Query()] = None,
                             page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                             page_size: Annotated[int, Query(ge=1, le=500)] = 100,
                             unique_id: Annotated[str | None, Query(description="namespace searched (default: default)")] = None,
                             who: Caller = Depends(limited("search"))):
    phrase = parse_phrase(query, "query")
    store = request.app.state.store
    total, hits = phrase_hits(store, who.account_id, parse_unique_id(unique_id), phrase, page, page_size)
    with store.db.read() as conn:
        rows = video_rows.get_many(conn, who.account_id, list({h.video_id for h in hits}))
    items = []
    for h in hits:
        row = rows[h.video_id]
        items.append({"videoNo": video_rows.video_no(h.video_id), "videoName": row.name.rsplit(".", 1)[0],
                      "startTime": str(int(h.start)), "endTime": str(int(h.end + 0.999)), "start": round(h.start, 2),
                      "end": round(h.end, 2), "match": "exact" if h.exact else "near", "heard": h.heard,
                      "audio_ts": h.text, **(pointers.video_pointer(row) or {})})
    return ok({"current_page": page, "page_size": page_size, "total_count": total, "videos": items})


