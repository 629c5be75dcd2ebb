"""People endpoints (extensions): list the people faces were grouped into, name them, merge them, take a
wrong face out. Every call names its namespace (`unique_id`); a person or face of another account or
namespace is "not found", never shown."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from ..errors import InvalidInput
from ..ingest.fields import parse_unique_id, plain_text
from ..store import Store, pointers
from ..store import images as image_rows
from ..store import people
from ..store import search_index
from ..store import videos as video_rows
from ..store.accounts import Caller
from .auth import api_key_scheme, limited
from .envelope import ok
from .links import Links

router = APIRouter(dependencies=[Depends(api_key_scheme)])

MAX_NAME = 100
MAX_MERGE = 100


def _body(properties: dict[str, dict], required: tuple[str, ...] = ()) -> dict:
    """The OpenAPI request body of a people endpoint: the body is read by hand, so each rule's message can
    name its field."""
    schema: dict[str, Any] = {"type": "object", "properties": {
        "unique_id": {"type": "string", "default": "default", "maxLength": 128}, **properties}}
    if required:
        schema["required"] = list(required)
    return {"requestBody": {"required": bool(required), "content": {"application/json": {"schema": schema}}}}


PERSON_ID = {"type": "string", "pattern": "^PE[0-9]+$", "example": "PE12"}


def _store(request: Request) -> Store:
    store = request.app.state.store
    if store.settings.faces != "on":
        raise InvalidInput("faces", "are off on this server (REVERIE_FACES=off): no faces are found or stored; "
                                    "its operator can turn them on")
    return store


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    return body


def _int(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}, got {value}")
    return value


def _namespace(body: dict) -> str:
    value = body.get("unique_id", "default")
    if not isinstance(value, str):
        raise InvalidInput("unique_id", f"must be a string, got {value!r}")
    return parse_unique_id(value)


def _person(conn, who: Caller, unique_id: str, value: Any, field: str) -> int:  # noqa: ANN001
    person_id = people.parse_no(value, people.PERSON_PREFIX)
    if person_id is None:
        raise InvalidInput(field, f"must be a person_id like \"PE12\" (from list_people), got {value!r}")
    if people.get(conn, who.account_id, unique_id, person_id) is None:
        raise InvalidInput(field, f"no person {value} in this account and namespace {unique_id!r}")
    return person_id


def person_item(row, cover_face: int, links: Links, account_id: int) -> dict[str, Any]:  # noqa: ANN001
    cover = pointers.face_pointer(cover_face)
    return {"person_id": people.person_no(row.id), "name": row.name, "face_count": row.face_count,
            "image_count": row.image_count, "clip_count": row.clip_count,
            "cover": {**cover, "url": links.signed(account_id, **cover)}}


def _rewrite_names(conn, person_ids: list[int]) -> None:  # noqa: ANN001
    """The full-text rows of every photo and clip of these people, with their names as they are now."""
    search_index.write_names(conn, image_rows.tags_of(conn, people.images_of(conn, person_ids)))
    video_rows.write_clip_names(conn, people.clips_of(conn, person_ids))


@router.post("/list_people", summary="The people faces were grouped into, most photos first (extension)",
             openapi_extra=_body({"page": {"type": "integer", "minimum": 1, "default": 1},
                                  "page_size": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}}))
def list_people(request: Request, body: Any = Body(default_factory=dict), who: Caller = Depends(limited("read"))):
    body = _object(body)
    unique_id = _namespace(body)
    number = _int(body, "page", 1, 1, 10_000_000)
    size = _int(body, "page_size", 20, 1, 200)
    with _store(request).db.read() as conn:
        total, rows = people.page(conn, who.account_id, unique_id, number, size)
    links = Links.of(request)
    return ok({"current_page": number, "page_size": size, "total_count": total,
               "people": [person_item(row, cover, links, who.account_id) for row, cover in rows]})


@router.post("/name_person", summary="Name a person, or clear the name with null or \"\" (extension)",
             openapi_extra=_body({"person_id": PERSON_ID,
                                  "name": {"type": ["string", "null"], "maxLength": MAX_NAME}}, ("person_id", "name")))
def name_person(request: Request, body: Any = Body(...), who: Caller = Depends(limited("upload"))):
    body = _object(body)
    unique_id = _namespace(body)
    if "name" not in body:
        raise InvalidInput("name", "is required (a string of 1 to 100 characters; null or \"\" clears it)")
    name = body["name"]
    if name is not None and not isinstance(name, str):
        raise InvalidInput("name", f"must be a string or null, got {name!r}")
    name = plain_text(name.strip(), "name") if name else None
    if name is not None and len(name) > MAX_NAME:
        raise InvalidInput("name", f"must be at most {MAX_NAME} characters, got {len(name)}")
    with _store(request).db.write() as conn:
        person_id = _person(conn, who, unique_id, body.get("person_id"), "person_id")
        people.rename(conn, person_id, name or None)
        _rewrite_names(conn, [person_id])
    return ok({"person_id": people.person_no(person_id), "name": name or None})


@router.post("/merge_people", summary="Move the faces of several people into one (extension)",
             openapi_extra=_body({"person_ids": {"type": "array", "items": PERSON_ID, "minItems": 1,
                                                 "maxItems": MAX_MERGE},
                                  "into": PERSON_ID}, ("person_ids", "into")))
def merge_people(request: Request, body: Any = Body(...), who: Caller = Depends(limited("upload"))):
    body = _object(body)
    unique_id = _namespace(body)
    given = body.get("person_ids")
    if not isinstance(given, list) or not given:
        raise InvalidInput("person_ids", "must be a non-empty array of person_ids (from list_people)")
    if len(given) > MAX_MERGE:
        raise InvalidInput("person_ids", f"at most {MAX_MERGE} people at once, got {len(given)}")
    with _store(request).db.write() as conn:
        into = _person(conn, who, unique_id, body.get("into"), "into")
        ids = [_person(conn, who, unique_id, v, f"person_ids[{i}]") for i, v in enumerate(given)]
        people.merge(conn, who.account_id, unique_id, ids, into)
        _rewrite_names(conn, [into])  # every face of them is into's now
        row = people.get(conn, who.account_id, unique_id, into)
    return ok({"person_id": people.person_no(into), "name": row.name, "face_count": row.face_count})


@router.post("/remove_face", summary="Take a wrongly grouped face out of its person (extension)",
             openapi_extra=_body({"face_id": {"type": "string", "pattern": "^FA[0-9]+$", "example": "FA7"}},
                                 ("face_id",)))
def remove_face(request: Request, body: Any = Body(...), who: Caller = Depends(limited("delete"))):
    body = _object(body)
    unique_id = _namespace(body)
    value = body.get("face_id")
    face_id = people.parse_no(value, people.FACE_PREFIX)
    if face_id is None:
        raise InvalidInput("face_id", f"must be a face_id like \"FA7\" (from get_img_metadata), got {value!r}")
    with _store(request).db.write() as conn:
        face = people.face_in(conn, who.account_id, unique_id, face_id)
        if face is None:
            raise InvalidInput("face_id", f"no face {value} in this account and namespace {unique_id!r}")
        people.take_out(conn, who.account_id, unique_id, face)
        if face.image_id is not None:
            search_index.write_names(conn, image_rows.tags_of(conn, [face.image_id]))
        else:
            video_rows.write_clip_names(conn, [face.clip_id])
    return ok({"face_id": people.face_no(face_id), "person_id": None})

