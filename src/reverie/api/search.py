"""POST /search (BY_IMAGE over the image library) and POST /search_similar_imgs (query by example)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from ..errors import BadEnum, InvalidInput
from ..ingest.fields import parse_number
from ..ingest.images import OPENERS
from ..ingest.multipart import read_form
from ..search import filters as search_filters
from ..search.fusion import LEVELS
from ..store import images as image_rows
from ..store.accounts import Caller
from ..store.credits import charge
from .auth import api_key_scheme, limited
from .envelope import ok
from .images import image_item
from .links import Links

router = APIRouter(dependencies=[Depends(api_key_scheme)])

SEARCH_TYPES = ("BY_CLIP", "BY_VIDEO", "BY_AUDIO", "BY_IMAGE", "BY_CAPTION", "ALL")
# ALL (extension) is one ranked list over everything; until the video library exists, that is the images.
LIBRARY_OF = {"BY_IMAGE": "images", "ALL": "everything"}


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
    "datetime_taken, datetime_from, datetime_to": "capture time at or after / at or before (yyyy-MM-dd HH:mm:ss or ms epoch)",
    "latitude, longitude, radius_km": "within radius_km (default 20) of the point",
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
    level = body.get("filtering_level")
    if level is not None and level not in LEVELS:
        raise BadEnum("filtering_level", f"must be one of low, medium, high, got {level!r}")
    top_k = _int(body, "top_k", 100, 1, 1000)
    page = _int(body, "page", 1, 1, 1000)
    page_size = _int(body, "page_size", 20, 1, 200)
    f = search_filters.parse(body)
    charge(request.app.state.store.db, who, request.app.state.store.settings.credits_per_search, "a search")
    if search_type not in LIBRARY_OF:
        return ok([])  # the video library has no videos until video upload is served
    hits = request.app.state.searcher.by_text(who.account_id, query.strip(), f, top_k)
    if level:
        hits = [h for h in hits if h.score >= LEVELS[level]]
    data = _page(request, who, hits, page, page_size)
    if search_type == "ALL":
        for item in data["item"]:
            item["kind"] = "image"
    return ok(data)


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
    store = request.app.state.store
    form = await read_form(request.stream(), request.headers.get("content-type"), store.settings.staging_dir,
                           max_file_bytes=store.settings.max_file_bytes, max_files=1,
                           max_body_bytes=store.settings.max_file_bytes + 1024 * 1024, file_fields=("file",))
    try:
        return await run_in_threadpool(_similar, request, who, form)
    finally:
        form.cleanup()


def _similar(request: Request, who: Caller, form) -> Any:  # noqa: ANN001
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
            example = im.convert("RGB")
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput("file", "not a readable JPEG, PNG, GIF, BMP or WebP image") from None
    raw_k = fields.get("top_k") or "20"
    if not raw_k.isascii() or not raw_k.isdigit():
        raise InvalidInput("top_k", f"must be an integer, got {raw_k!r}")
    top_k = _int({"top_k": int(raw_k)}, "top_k", 20, 1, 1000)
    similarity = parse_number("similarity", fields["similarity"], 0, 1) if fields.get("similarity") else 0.0
    f = search_filters.parse({k: fields.get(k) for k in ("unique_id", "tag", "camera_tag") if fields.get(k)})
    charge(request.app.state.store.db, who, request.app.state.store.settings.credits_per_search, "a search")
    hits = request.app.state.searcher.by_example(who.account_id, example, f, top_k)
    hits = [h for h in hits if h.score >= similarity]
    return ok(_page(request, who, hits, 1, max(1, len(hits))))
