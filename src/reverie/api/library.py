"""The library as one timeline (extensions): a namespace's photos and videos together, newest first by
when they were taken, else uploaded, and its months, so a gallery can page through it and jump to a month."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ..ingest.fields import parse_unique_id
from ..search import library
from ..store import pointers
from ..store import videos as video_rows
from ..store.accounts import Caller
from .auth import api_key_scheme, limited
from .envelope import ok
from .images import image_item
from .links import Links

router = APIRouter(dependencies=[Depends(api_key_scheme)])


class LibraryPageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    unique_id: str = Field("default", description="the namespace")
    page: int = Field(1, ge=1, le=10_000_000, description="1-based page number")
    page_size: int = Field(60, ge=1, le=200)


class LibraryMonthsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    unique_id: str = Field("default", description="the namespace")


def _when(item: dict[str, Any], row, when_ms: int) -> dict[str, Any]:  # noqa: ANN001
    item.update(when_ms=when_ms, when_source="taken" if row.datetime_taken_ms is not None else "uploaded")
    return item


def _video(shown: library.Shown, links: Links) -> dict[str, Any]:
    row = shown.row
    item: dict[str, Any] = {"kind": "video", "videoNo": video_rows.video_no(row.id), "videoName": row.name.rsplit(".", 1)[0],
                            "videoStatus": row.status, "duration": row.duration_s}
    if shown.keyframe_key:
        frame = pointers.keyframe_pointer(row.id, shown.keyframe_key)
        item["thumbnail_url"] = links.signed(row.account_id, frame["keyframe_bucket"], frame["keyframe_blob"])
    original = pointers.video_pointer(row)
    if original:
        item["video_url"] = links.signed(row.account_id, original["video_bucket"], original["video_blob"])
    item.update(create_time=row.created_ms, unique_id=row.unique_id)
    return _when(item, row, shown.when_ms)


@router.post("/library_page", summary="Photos and videos of a namespace together, newest taken first (extension)",
             description="Every status is listed, a photo from the moment its upload is acknowledged. `when_ms` is the "
                         "capture time when known (`when_source: taken`), else the upload time (`uploaded`); ties by "
                         "upload time, then id. A photo item is an `img_list_page` item, a video item has `videoNo`, "
                         "`videoName`, `videoStatus`, `duration` (s), `thumbnail_url` (its first keyframe, once "
                         "indexed), `video_url` (if the original is kept); each has `kind`.")
def library_page(request: Request, q: LibraryPageRequest = Body(default_factory=LibraryPageRequest),
                 who: Caller = Depends(limited("read"))):
    unique_id = parse_unique_id(q.unique_id)
    total, shown = library.page(request.app.state.store, who.account_id, unique_id, q.page, q.page_size)
    links = Links.of(request)
    items = [_when({"kind": "image", **image_item(s.row, s.tags, links)}, s.row, s.when_ms) if s.kind == "image"
             else _video(s, links) for s in shown]
    return ok({"current_page": q.page, "page_size": q.page_size, "total_count": total, "item": items})


@router.post("/library_months", summary="The months of a namespace's timeline, with where each begins (extension)",
             description="Newest month first (UTC), as `library_page` orders items; `offset` is the 0-based position of "
                         "the month's first item there, so its page is `offset // page_size + 1`.")
def library_months(request: Request, q: LibraryMonthsRequest = Body(default_factory=LibraryMonthsRequest),
                   who: Caller = Depends(limited("read"))):
    total, months = library.months(request.app.state.store, who.account_id, parse_unique_id(q.unique_id))
    return ok({"total_count": total, "months": [{"month": m.month, "count": m.count, "offset": m.offset} for m in months]})
