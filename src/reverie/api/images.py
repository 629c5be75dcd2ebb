"""Image endpoints: upload_img (the seed page), and Reverie's management extensions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..errors import BadEnum, InvalidInput
from ..ingest import images as ingest
from ..ingest.fields import parse_datetime, parse_unique_id, plain_text
from ..ingest.multipart import MAX_FIELD_BYTES, MAX_FIELDS, Form, read_form
from ..store import Store
from ..store import images as image_rows
from ..store import people, pointers
from ..store.accounts import Caller
from ..store.removal import delete_images
from .auth import api_key_scheme, limited
from .envelope import ok
from .links import Links

router = APIRouter(dependencies=[Depends(api_key_scheme)])

UPLOAD_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One part per image (.jpg .jpeg .png .gif .bmp .webp, part Content-Type "
                            "image/*, at most 20 MB each; the bytes must really be such an image). "
                            "`files.items` and `files[N]` are accepted as the same field.",
                        },
                        "unique_id": {"type": "string", "default": "default", "maxLength": 128},
                        "datetime_taken": {"type": "string", "example": "2025-09-07 22:52:00"},
                        "camera_model": {"type": "string", "maxLength": 200},
                        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                        "tags": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": 50,
                            "description": "Repeated (`tags=a&tags=b`) or indexed (`tags[0]=a`); `api` is appended.",
                        },
                    },
                }
            }
        },
    }
}


def _store(request: Request) -> Store:
    return request.app.state.store


def image_item(row, tags: list[str], links: Links) -> dict[str, Any]:  # noqa: ANN001
    """The item shape of BY_IMAGE search results, shared by listings. Absent capture fields are omitted."""
    item: dict[str, Any] = {"id": row.id, "name": row.name.rsplit(".", 1)[0]}
    original = pointers.pointer(row, pointers.ORIGINALS)
    item["img_url"] = links.signed(row.account_id, **original)
    for col, key in (("datetime_taken_ms", "datetime_taken"), ("camera_model", "camera_model"),
                     ("latitude", "latitude"), ("longitude", "longitude")):
        value = getattr(row, col)
        if value is not None:
            item[key] = value
    item.update(original)
    thumb = pointers.pointer(row, pointers.THUMBNAILS)
    if thumb:
        item["thumbnail_url"] = links.signed(row.account_id, **thumb)
    item["unique_id"] = row.unique_id
    item["status"] = row.status
    if tags:
        item["tags"] = tags
    item["create_time"] = row.created_ms
    item["sha256"] = row.sha256
    return item


def shown_objects(row) -> list[dict[str, Any]]:  # noqa: ANN001
    """The detected objects with boxes in pixels of the photo as displayed (stored as fractions)."""
    if not row.objects_json or not row.width:
        return []
    out = []
    for o in json.loads(row.objects_json):
        x0, y0, x1, y1 = o["box"]
        box = {"x": round(x0 * row.width), "y": round(y0 * row.height),
               "w": round((x1 - x0) * row.width), "h": round((y1 - y0) * row.height)}
        out.append({"label": o["label"], "score": o["score"], "box": box, "colour": o["colour"]})
    return out


def shown_faces(conn, row) -> list[dict[str, Any]]:  # noqa: ANN001
    """The image's faces, with boxes in pixels of the photo as displayed (stored as fractions), and the
    person each was grouped into (None once taken out of it)."""
    found = people.of_image(conn, row.id)
    names = people.names_by_person(conn, [f.person_id for f in found])
    out = []
    for f in found:
        box = {"x": round(f.x0 * row.width), "y": round(f.y0 * row.height),
               "w": round((f.x1 - f.x0) * row.width), "h": round((f.y1 - f.y0) * row.height)}
        out.append({"face_id": people.face_no(f.id),
                    "person_id": None if f.person_id is None else people.person_no(f.person_id),
                    "name": names.get(f.person_id), "box": box, "score": round(f.score, 4)})
    return out


def _upload_limits(store: Store) -> dict[str, int]:
    s = store.settings
    per_part_overhead = 4096
    return dict(
        max_file_bytes=s.max_file_bytes,
        max_files=s.max_batch_files,
        max_body_bytes=s.max_batch_files * (s.max_file_bytes + per_part_overhead) + MAX_FIELDS * MAX_FIELD_BYTES,
    )


def _check_and_store(store: Store, account_id: int, form: Form) -> list[int]:
    try:
        meta = ingest.parse_meta(form)
        files = ingest.check_files(form, store.settings.max_file_bytes, store.settings.max_image_pixels)
        return ingest.store_images(store, account_id, meta, files)
    finally:
        form.cleanup()


@router.post("/upload_img", openapi_extra=UPLOAD_FORM_SCHEMA, summary="Upload images (memories.ai v1)")
async def upload_img(request: Request, who: Caller = Depends(limited("upload"))):
    store = _store(request)
    limits = _upload_limits(store)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits["max_body_bytes"]:
        raise InvalidInput(
            "request",
            f"body of {declared} bytes is over the {limits['max_body_bytes']}-byte limit "
            f"({store.settings.max_batch_files} files of at most {store.settings.max_file_bytes} bytes)",
        )
    form = await read_form(
        request.stream(),
        request.headers.get("content-type"),
        store.settings.staging_dir,
        file_fields=("files",),
        **limits,
    )
    new_ids = await run_in_threadpool(_check_and_store, store, who.account_id, form)
    return ok([{"id": i} for i in new_ids])


@router.get("/get_img_metadata", summary="One image with everything Reverie knows of it (extension)")
def get_img_metadata(
    request: Request,
    id: Annotated[int, Query(description="the image id from upload_img", ge=1, le=2**63 - 1)],
    unique_id: Annotated[str | None, Query()] = None,
    who: Caller = Depends(limited("read")),
):
    store = _store(request)
    with store.db.read() as conn:
        row = image_rows.get(conn, who.account_id, id)
        if row is None or (unique_id is not None and row.unique_id != parse_unique_id(unique_id)):
            raise InvalidInput("id", f"no image {id} in this account{' and namespace' if unique_id else ''}")
        tags = image_rows.tags_of(conn, [row.id])[row.id]
        faces = shown_faces(conn, row)
    links = Links.of(request)
    data = image_item(row, tags, links)
    data.update(
        file_name=row.name,
        size=row.size,
        format=row.format,
        content_type=row.content_type,
        width=row.width,
        height=row.height,
        orientation=row.orientation,
        exif=json.loads(row.exif_json) if row.exif_json else None,
        labels=[{"name": n, "score": p} for n, p in json.loads(row.labels_json)] if row.labels_json else [],
        objects=shown_objects(row),
        colours=json.loads(row.colours_json) if row.colours_json else [],
        faces=faces,
        ocr_text=row.ocr_text,
        place=row.place,
        indexed_time=row.indexed_ms,
    )
    for bucket, name in ((pointers.THUMBNAILS, "thumbnail"), (pointers.PREVIEWS, "preview")):
        p = pointers.pointer(row, bucket)
        data[name] = None if p is None else {**p, "url": links.signed(row.account_id, **p)}
    if row.status == "FAILED":
        data["cause"] = row.cause
    return ok(data)


STATUS_ALIASES = {"PARSE": "PARSE", "UNPARSE": "UNPARSE", "FAILED": "FAILED", "FAIL": "FAILED", "PARSE_ERROR": "FAILED"}


class ImageListRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    page: int = Field(1, ge=1, le=10_000_000, description="1-based page number")
    page_size: int = Field(20, ge=1, le=200)
    unique_id: str = "default"
    tag: str | None = Field(None, description="images carrying this tag")
    tags: list[str] | None = Field(None, description="images carrying any of these tags")
    camera_tag: str | None = Field(None, description="exact camera model (as search's camera_tag)")
    camera_model: str | None = Field(None, description="alias of camera_tag")
    datetime_taken: str | None = Field(None, description="taken at or after, yyyy-MM-dd HH:mm:ss")
    datetime_from: str | int | None = Field(None, description="taken at or after: yyyy-MM-dd HH:mm:ss or ms epoch")
    datetime_to: str | int | None = Field(None, description="taken at or before: yyyy-MM-dd HH:mm:ss or ms epoch")
    status: str | None = Field(None, description="PARSE, UNPARSE or FAILED (FAIL and PARSE_ERROR also accepted)")
    sha256: list[str] | None = Field(None, max_length=200, description="only images with these content hashes "
                                     "(how `reverie import` skips what is already there)")


def _time_bound(name: str, value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        if isinstance(value, bool) or value < 0:
            raise InvalidInput(name, f"must be ms since the epoch or yyyy-MM-dd HH:mm:ss, got {value!r}")
        return value
    return parse_datetime(name, value)


def _filter(q: ImageListRequest) -> image_rows.ImageFilter:
    tags = [plain_text(t, "tags") for t in [q.tag, *(q.tags or [])] if t]
    for name in ("camera_tag", "camera_model"):
        if getattr(q, name):
            plain_text(getattr(q, name), name)
    if q.camera_tag and q.camera_model and q.camera_tag != q.camera_model:
        raise InvalidInput("camera_tag", "differs from camera_model; give one of them")
    statuses = []
    if q.status:
        if q.status.upper() not in STATUS_ALIASES:
            raise BadEnum("status", f"must be one of PARSE, UNPARSE, FAILED (FAIL, PARSE_ERROR), got {q.status!r}")
        statuses = [STATUS_ALIASES[q.status.upper()]]
    lower = [b for b in (_time_bound("datetime_taken", q.datetime_taken), _time_bound("datetime_from", q.datetime_from)) if b is not None]
    return image_rows.ImageFilter(
        unique_id=parse_unique_id(q.unique_id),
        tags_any=tags,
        camera_model=q.camera_tag or q.camera_model,
        taken_from_ms=max(lower) if lower else None,
        taken_to_ms=_time_bound("datetime_to", q.datetime_to),
        statuses=statuses,
        sha256_any=[h.lower() for h in q.sha256 or []],
    )


@router.post("/img_list_page", summary="Page through the image library with filters (extension)")
def img_list_page(request: Request, q: ImageListRequest = Body(default_factory=ImageListRequest), who: Caller = Depends(limited("read"))):
    f = _filter(q)
    store = _store(request)
    with store.db.read() as conn:
        total, rows = image_rows.page(conn, who.account_id, f, q.page, q.page_size)
        tags = image_rows.tags_of(conn, [r.id for r in rows])
    links = Links.of(request)
    return ok(
        {
            "current_page": q.page,
            "page_size": q.page_size,
            "total_count": total,
            "item": [image_item(r, tags[r.id], links) for r in rows],
        }
    )


MAX_DELETE = 100


def parse_ids(values: list[Any]) -> list[int]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63:
            out.append(v)
        elif isinstance(v, str) and v.isascii() and v.isdigit() and 0 < int(v) < 2**63:
            out.append(int(v))
        else:
            raise InvalidInput(f"body[{i}]", f"must be an image id (a positive integer or a string of digits), got {v!r}")
    return out


@router.post("/delete_imgs", summary="Delete images and everything derived from them (extension)")
def delete_imgs(
    request: Request,
    ids: Annotated[list[Any], Body(description="raw JSON array of image ids, at most 100")],
    unique_id: Annotated[str | None, Query()] = None,
    who: Caller = Depends(limited("delete")),
):
    if len(ids) > MAX_DELETE:
        raise InvalidInput("body", f"at most {MAX_DELETE} ids per request, got {len(ids)}")
    image_ids = parse_ids(ids)
    delete_images(_store(request), who.account_id, parse_unique_id(unique_id), image_ids)
    return ok(None)


@router.get("/list_unique_ids", summary="The namespaces of this account (memories.ai v1)",
            description="Extension: `namespaces`, in the same order, with the number of photos and videos of each "
                        "(every status).")
def list_unique_ids(request: Request, who: Caller = Depends(limited("read"))):
    with _store(request).db.read() as conn:
        sizes = image_rows.namespace_sizes(conn, who.account_id)
    return ok({"unique_ids": [name for name, _, _ in sizes],
               "namespaces": [{"unique_id": name, "images": n_images, "videos": n_videos} for name, n_images, n_videos in sizes]})
