"""POST /search (BY_IMAGE over the image library) and POST /search_similar_imgs (query by example)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from ..errors import BadEnum, InvalidInput
from ..ingest.fields import parse_number, whole_characters
from ..ingest.images import OPENERS
from ..ingest.multipart import read_form
from ..search import filters as search_filters
from ..search.combined import search_everything
from ..search.fusion import LEVELS
from ..store import images as image_rows
from ..store import pointers
from ..store import videos as video_rows
from ..store.accounts import Caller
from ..store.credits import charge
from .auth import api_key_scheme, limited
from .envelope import ok
from .images import image_item
from .links import Links

router = APIRouter(dependencies=[Depends(api_key_scheme)])

SEARCH_TYPES = ("BY_CLIP", "BY_VIDEO", "BY_AUDIO", "BY_IMAGE", "BY_CAPTION", "ALL")


def _int(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}, got {value}")
    return value


def _page(request: Request, who: Caller, hits, page: int, page_size: int) -> dict:  # noqa: ANN001
    window = hits[(page - 1) * page_size : page * page_size]
    with request.app.state.store.db.read() as conn:
        rows = image_rows.get_many(conn, who.account_id, [h.image_id for h in window])
        tags = image_rows.tags_of(conn, list(rows))
    links = Links.of(request)
    items = []
    for h in window:
        row = rows.get(h.image_id)
        if row is None:  # deleted since the vectors were read
            continue
        item = image_item(row, tags[row.id], links)
        item["score"] = round(h.score, 4)
        item["matched"] = h.matched
        items.append(item)
    return {"current_page": page, "page_size": page_size, "total_count": len(hits), "item": items}


SEARCH_BODY = {
    "search_param": "what to find, in words",
    "search_type": "BY_IMAGE searches the image library; BY_CLIP (default), BY_VIDEO, BY_AUDIO, BY_CAPTION the video "
                   "library; ALL (extension) both in one ranked list, each item with its `kind`",
    "unique_id": "namespace, default 'default'",
    "top_k": "1..1000 hits at most (default 100)",
    "filtering_level": "low / medium / high: keep scores >= 0.15 / 0.225 / 0.4",
    "tag, tags, camera_tag": "filters: a tag, any of several tags, the camera model",
    "person_ids": "extension: only photos, and for BY_CLIP and ALL the clips, with a face of any of these people "
                  "(from list_people; at most 100); a named person's name is also searchable text",
    "datetime_taken, datetime_from, datetime_to": "capture time at or after / at or before (yyyy-MM-dd HH:mm:ss or ms epoch)",
    "latitude, longitude, radius_km": "within radius_km (default 20) of the point",
    "video_nos": "video searches only: within these videos (at most 100)",
    "page, page_size": "1-based page of the hits (default 1), page size 1..200 (default 20)",
}


@router.post("/search", summary="Search the private library by text (memories.ai v1)",
             description="JSON body fields: " + "; ".join(f"`{k}`: {v}" for k, v in SEARCH_BODY.items()))
def search(request: Request, body: Any = Body(default=None), who: Caller = Depends(limited("search"))):
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    search_type = body.get("search_type") or "BY_CLIP"
    if search_type not in SEARCH_TYPES:
        raise BadEnum("search_type", f"must be one of {', '.join(SEARCH_TYPES)}, got {search_type!r}")
    query = body.get("search_param")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("search_param", "required: a non-empty string")
    whole_characters(query, "search_param")
    level = body.get("filtering_level")
    if level is not None and level not in LEVELS:
        raise BadEnum("filtering_level", f"must be one of low, medium, high, got {level!r}")
    top_k = _int(body, "top_k", 100, 1, 1000)
    page = _int(body, "page", 1, 1, 1000)
    page_size = _int(body, "page_size", 20, 1, 200)
    f = search_filters.parse(body)
    video_ids = _video_nos(body)
    answer = _text_search(request, who, search_type, query.strip(), LEVELS.get(level, 0.0), f, top_k, page,
                          page_size, video_ids)
    _charge(request, who)
    return answer


def _text_search(request: Request, who: Caller, search_type: str, query: str, cut: float, f, top_k: int,  # noqa: ANN001
                 page: int, page_size: int, video_ids) -> Any:  # noqa: ANN001
    videos = request.app.state.video_searcher
    if search_type in ("BY_CLIP", "BY_VIDEO"):
        return ok(_video_items(request, who, videos.clips_by_text(who.account_id, query, f, top_k, video_ids, cut), keyframes=True))
    if search_type == "BY_AUDIO":
        return ok(_video_items(request, who, videos.speech_by_text(who.account_id, query, f, top_k, video_ids, cut), keyframes=False))
    if search_type == "BY_CAPTION":
        hits = videos.clips_by_text(who.account_id, query, f, top_k, video_ids, cut)
        # user_id: the reference's md5 of the namespace; vector: the best clip's stored (visual) embedding.
        user_id = hashlib.md5(f.unique_id.encode()).hexdigest()
        return ok([{"video_no": video_rows.video_no(h.video_id), "text": h.text,
                    "vector": _listed(videos.clips.vector_of(h.best_id)),
                    "user_id": user_id, "start_time": round(h.start, 3), "end_time": round(h.end, 3),
                    "score": round(h.score, 4)} for h in hits])
    if search_type == "BY_IMAGE":
        return ok(_page(request, who, request.app.state.searcher.by_text(who.account_id, query, f, top_k, cut), page, page_size))
    # ALL (extension): images and video clips in one ranking.
    ranked = search_everything(request.app.state.searcher, videos, who.account_id, query, f, top_k, video_ids, cut)
    window = ranked[(page - 1) * page_size: page * page_size]
    image_page = _page(request, who, [h for kind, h in window if kind == "image"], 1, page_size)["item"]
    clip_items = _video_items_by_hit(request, who, [h for kind, h in window if kind == "clip"], keyframes=True)
    by_image = {item["id"]: item for item in image_page}
    items = []
    for kind, h in window:  # a photo or video deleted since the vectors were read is skipped
        if kind == "image" and h.image_id in by_image:
            items.append({"kind": "image", **by_image[h.image_id]})
        elif kind == "clip" and id(h) in clip_items:
            items.append({"kind": "clip", **clip_items[id(h)]})
    return ok({"current_page": page, "page_size": page_size, "total_count": len(ranked), "item": items})


def _listed(vector) -> list[float]:  # noqa: ANN001
    return [] if vector is None else [round(float(x), 5) for x in vector]


def _video_nos(body: dict) -> list[int] | None:
    value = body.get("video_nos")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("video_nos", "must be an array of video number strings")
    if len(value) > 100:
        raise InvalidInput("video_nos", f"at most 100, got {len(value)}")
    return [video_rows.parse_video_no(v) or 0 for v in value]


def _video_items(request: Request, who: Caller, hits, keyframes: bool) -> list[dict]:  # noqa: ANN001
    by_hit = _video_items_by_hit(request, who, hits, keyframes)
    return [by_hit[id(h)] for h in hits if id(h) in by_hit]


def _video_items_by_hit(request: Request, who: Caller, hits, keyframes: bool) -> dict[int, dict]:  # noqa: ANN001
    """The reference's item for each hit whose video is still there, keyed by id(hit)."""
    with request.app.state.store.db.read() as conn:
        rows = video_rows.get_many(conn, who.account_id, list({h.video_id for h in hits}))
    links = Links.of(request)
    items = {}
    for h in hits:
        row = rows.get(h.video_id)
        if row is None:
            continue
        item = {"videoNo": video_rows.video_no(row.id), "videoName": row.name.rsplit(".", 1)[0],
                "startTime": str(int(h.start)), "endTime": str(math.ceil(h.end)),
                "audio_ts": h.text if not keyframes else "", "score": round(h.score, 4),
                **(pointers.video_pointer(row) or {})}
        if keyframes and h.keyframe_key:
            item.update(pointers.keyframe_pointer(row.id, h.keyframe_key))
            # Extensions: signed links, so a browser can show the keyframe and play the moment.
            item["keyframe_url"] = links.signed(row.account_id, item["keyframe_bucket"], item["keyframe_blob"])
        if "video_bucket" in item:
            item["video_url"] = links.signed(row.account_id, item["video_bucket"], item["video_blob"])
        item["matched"] = h.matched
        items[id(h)] = item
    return items


SIMILAR_FORM = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "the example image (JPEG, PNG, GIF, BMP, WebP)"},
                "unique_id": {"type": "string", "default": "default"},
                "top_k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                "similarity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0, "description": "keep hits at least this similar"},
                "tag": {"type": "string"}, "camera_tag": {"type": "string"},
            }}}},
    }
}


@router.post("/search_similar_imgs", openapi_extra=SIMILAR_FORM, summary="Find images like an example image (extension)")
async def search_similar_imgs(request: Request, who: Caller = Depends(limited("search"))):
    return await _with_example(request, who, _similar)


def _example(request: Request, form) -> tuple[Image.Image, dict[str, str]]:  # noqa: ANN001
    """The example image of a query-by-example form, decoded at the scale the models read, and its fields."""
    fields = dict(form.fields)
    files = [p for p in form.files if p.field == "file"]
    if not files:
        raise InvalidInput("file", "an example image file is required")
    part = files[0]
    if part.path is None:
        raise InvalidInput("file", f"larger than the {request.app.state.store.settings.max_file_bytes}-byte limit")
    max_pixels = request.app.state.store.settings.max_image_pixels
    try:
        with Image.open(part.path, formats=OPENERS) as im:
            if im.width * im.height > max_pixels:
                raise InvalidInput("file", f"{im.width}x{im.height} is more than the {max_pixels}-pixel limit")
            im.draft("RGB", (640, 640))  # the models look at a few hundred pixels: decode no more than that
            im.load()
            return im.convert("RGB"), fields
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput("file", "not a readable JPEG, PNG, GIF, BMP or WebP image") from None


def _charge(request: Request, who: Caller) -> None:
    """Charged once the answer is ready: a search that fails (a database outage, a video not found) costs nothing."""
    charge(request.app.state.store.db, who, request.app.state.store.settings.credits_per_search, "a search")


async def _with_example(request: Request, who: Caller, handler):  # noqa: ANN001, ANN202
    store = request.app.state.store
    form = await read_form(request.stream(), request.headers.get("content-type"), store.settings.staging_dir,
                           max_file_bytes=store.settings.max_file_bytes, max_files=1,
                           max_body_bytes=store.settings.max_file_bytes + 1024 * 1024, file_fields=("file",))
    try:
        return await run_in_threadpool(lambda: handler(request, who, *_example(request, form)))
    finally:
        form.cleanup()


def _similar(request: Request, who: Caller, example: Image.Image, fields: dict[str, str]) -> Any:
    top_k = _form_int(fields, "top_k", 20)
    similarity = parse_number("similarity", fields["similarity"], 0, 1) if fields.get("similarity") else 0.0
    f = search_filters.parse({k: fields.get(k) for k in ("unique_id", "tag", "camera_tag") if fields.get(k)})
    hits = request.app.state.searcher.by_example(who.account_id, example, f, top_k, similarity)
    page = _page(request, who, hits, 1, max(1, len(hits)))
    _charge(request, who)
    return ok(page)


KEYFRAME_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the example image"},
        "unique_id": {"type": "string", "default": "default"},
        "similarity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.85},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}}}}}}}


@router.post("/search_similar_images", openapi_extra=KEYFRAME_FORM,
             summary="Find video keyframes like an example image (memories.ai v1)")
async def search_similar_images(request: Request, who: Caller = Depends(limited("search"))):
    return await _with_example(request, who, _similar_keyframes)


def _similar_keyframes(request: Request, who: Caller, example: Image.Image, fields: dict[str, str]) -> Any:
    similarity = parse_number("similarity", fields["similarity"], 0, 1) if fields.get("similarity") else 0.85
    top_k = _form_int(fields, "top_k", 20)
    f = search_filters.parse({"unique_id": fields.get("unique_id")} if fields.get("unique_id") else {})
    hits = request.app.state.video_searcher.frames_by_image(who.account_id, example, f, top_k, min_score=similarity)
    items = _video_items(request, who, hits, keyframes=True)
    _charge(request, who)
    return ok(items)


CLIPS_BY_IMAGE_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "video_no", "prompt"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the example image"},
        "video_no": {"type": "string"}, "prompt": {"type": "string", "description": "what to look for, in words"},
        "unique_id": {"type": "string", "default": "default"}}}}}}}


@router.post("/search_clips_by_image", openapi_extra=CLIPS_BY_IMAGE_FORM,
             summary="Moments of one video that look like an example image and match a prompt (memories.ai v1)")
async def search_clips_by_image(request: Request, who: Caller = Depends(limited("search"))):
    return await _with_example(request, who, _clips_by_image)


def _clips_by_image(request: Request, who: Caller, example: Image.Image, fields: dict[str, str]) -> Any:
    video_id = video_rows.parse_video_no(fields.get("video_no") or "")
    if not fields.get("video_no"):
        raise InvalidInput("video_no", "required: the video to search in")
    prompt = (fields.get("prompt") or "").strip()
    if not prompt:
        raise InvalidInput("prompt", "required: a non-empty description of what to find")
    f = search_filters.parse({"unique_id": fields.get("unique_id")} if fields.get("unique_id") else {})
    hits = request.app.state.video_searcher.clips_by_image(who.account_id, example, prompt, f, video_id or 0)
    with request.app.state.store.db.read() as conn:
        rows = video_rows.get_many(conn, who.account_id, list({h.video_id for h in hits}))
    _charge(request, who)
    return ok([{"start_time": round(h.start, 3), "end_time": round(h.end, 3), "score": round(h.score, 4),
                **(pointers.video_pointer(rows[h.video_id]) or {})} for h in hits if h.video_id in rows])


def _form_int(fields: dict[str, str], name: str, default: int) -> int:
    raw = fields.get(name) or str(default)
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(name, f"must be an integer, got {raw!r}")
    return _int({name: int(raw)}, name, default, 1, 1000)
