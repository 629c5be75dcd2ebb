"""Search filters: parsed from the request, applied in SQL before ranking so that no match is lost."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import Connection, and_, exists, select

from ..errors import InvalidInput
from ..ingest.fields import parse_camera_model, parse_datetime, parse_number, parse_point, parse_unique_id, plain_text
from ..store import people
from ..store.schema import faces, image_tags, images, video_clips, video_tags, videos
from ..store.search_index import fold

EARTH_KM = 6371.0
DEFAULT_RADIUS_KM = 20.0
MAX_PEOPLE = 100


@dataclass
class Filters:
    unique_id: str = "default"
    tags_any: list[str] = field(default_factory=list)
    camera_model: str | None = None
    taken_from_ms: int | None = None
    taken_to_ms: int | None = None
    point: tuple[float, float] | None = None
    radius_km: float = DEFAULT_RADIUS_KM
    person_ids: list[int] = field(default_factory=list)  # photos with a face of any of these people
    named: list[list[int]] = field(default_factory=list)  # people a query names: a face of one of each list

    @property
    def narrows(self) -> bool:
        return bool(self.tags_any or self.person_ids or self.named or self.camera_model or self.taken_from_ms is not None
                    or self.taken_to_ms is not None or self.point)


def _time(name: str, value) -> int | None:  # noqa: ANN001
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(name, f"must be yyyy-MM-dd HH:mm:ss or ms since the epoch, got {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise InvalidInput(name, f"must be yyyy-MM-dd HH:mm:ss or ms since the epoch, got {value!r}")
    return parse_datetime(name, value)


def _string(name: str, value) -> str | None:  # noqa: ANN001
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, f"must be a string, got {type(value).__name__}")
    return value or None


def _people(value) -> list[int]:  # noqa: ANN001
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PEOPLE:
        raise InvalidInput("person_ids", f"must be an array of at most {MAX_PEOPLE} person_ids (from list_people)")
    out = []
    for i, v in enumerate(value):
        person_id = people.parse_no(v, people.PERSON_PREFIX)
        if person_id is None:
            raise InvalidInput(f"person_ids[{i}]", f"must be a person_id like \"PE12\", got {v!r}")
        out.append(person_id)
    return out


def parse(body: dict) -> Filters:
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise InvalidInput("tags", "must be an array of strings")
    tag = _string("tag", body.get("tag"))
    lower = [t for t in (_time("datetime_taken", body.get("datetime_taken")), _time("datetime_from", body.get("datetime_from"))) if t is not None]
    radius = body.get("radius_km")
    point = parse_point(body.get("latitude"), body.get("longitude"))
    if radius is not None and point is None:
        raise InvalidInput("radius_km", "needs latitude and longitude")
    return Filters(
        unique_id=parse_unique_id(_string("unique_id", body.get("unique_id"))),
        tags_any=[plain_text(t, "tags") for t in [tag, *(tags or [])] if t],
        camera_model=parse_camera_model(_string("camera_tag", body.get("camera_tag")), "camera_tag"),
        taken_from_ms=max(lower) if lower else None,
        taken_to_ms=_time("datetime_to", body.get("datetime_to")),
        point=point,
        radius_km=DEFAULT_RADIUS_KM if radius is None else parse_number("radius_km", radius, 0.001, 20037.5),
        person_ids=_people(body.get("person_ids")),
    )


def people_wanted(f: Filters) -> list[list[int]]:
    """Each list: a picture must hold a face of one of these people (person_ids, then each name queried)."""
    return ([f.person_ids] if f.person_ids else []) + f.named


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text).lower()))


def with_named_people(conn: Connection, account_id: int, f: Filters, query: str) -> Filters:
    """The filters, narrowed to photos of each person the query names ("Anna at the beach": Anna's photos,
    ranked by the whole query). A name counts when its words stand whole and in order in the query; people
    sharing a name (one person not yet merged) count as one."""
    q = f" {_words(query)} "
    by_name: dict[str, list[int]] = {}
    for r in people.named(conn, account_id, f.unique_id):
        name = _words(r.name)
        if name and f" {name} " in q:
            by_name.setdefault(name, []).append(r.id)
    return replace(f, named=list(by_name.values())) if by_name else f


def haversine_km(lat1, lon1, lat2, lon2):  # noqa: ANN001, ANN201
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def allowed_ids(conn: Connection, account_id: int, f: Filters) -> np.ndarray:
    """Ids of searchable (PARSE) images in the namespace that pass every filter."""
    return _matching(conn, images, image_tags.c.image_id, image_tags.c.tag, account_id, f)


def allowed_video_ids(conn: Connection, account_id: int, f: Filters, video_ids: list[int] | None = None) -> np.ndarray:
    """Ids of searchable (PARSE) videos in the namespace that pass every filter (and `video_nos`)."""
    return _matching(conn, videos, video_tags.c.video_id, video_tags.c.tag, account_id, f, video_ids)


def _matching(conn: Connection, table, tag_owner, tag_column, account_id: int, f: Filters,  # noqa: ANN001
              only: list[int] | None = None) -> np.ndarray:
    cond = [table.c.account_id == account_id, table.c.unique_id == f.unique_id, table.c.status == "PARSE"]
    if only is not None:
        cond.append(table.c.id.in_(only))
    if f.tags_any:
        cond.append(exists().where(tag_owner == table.c.id, tag_column.in_(f.tags_any)))
    for wanted in people_wanted(f):
        if table is images:
            cond.append(exists().where(faces.c.image_id == table.c.id, faces.c.person_id.in_(wanted)))
        else:  # a video in which one of them appears in a keyframe (search/videos.py narrows it to those clips)
            cond.append(exists().where(video_clips.c.video_id == table.c.id, faces.c.clip_id == video_clips.c.id,
                                       faces.c.person_id.in_(wanted)))
    if f.camera_model:
        cond.append(table.c.camera_model == f.camera_model)
    if f.taken_from_ms is not None:
        cond.append(table.c.datetime_taken_ms >= f.taken_from_ms)
    if f.taken_to_ms is not None:
        cond.append(table.c.datetime_taken_ms <= f.taken_to_ms)
    if f.point is None:
        return np.array(conn.execute(select(table.c.id).where(and_(*cond))).scalars().all(), np.int64)
    lat, lon = f.point
    dlat = math.degrees(f.radius_km / EARTH_KM)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    cond += [table.c.latitude.between(lat - dlat, lat + dlat)]
    if dlon < 180:
        lo, hi = lon - dlon, lon + dlon
        if lo < -180 or hi > 180:  # the box crosses the antimeridian
            cond.append((table.c.longitude >= (lo + 360 if lo < -180 else lo)) | (table.c.longitude <= (hi - 360 if hi > 180 else hi)))
        else:
            cond.append(table.c.longitude.between(lo, hi))
    rows = conn.execute(select(table.c.id, table.c.latitude, table.c.longitude).where(and_(*cond))).all()
    if not rows:
        return np.zeros(0, np.int64)
    arr = np.array([(r.latitude, r.longitude) for r in rows])
    near = haversine_km(lat, lon, arr[:, 0], arr[:, 1]) <= f.radius_km
    return np.array([r.id for r, ok in zip(rows, near) if ok], np.int64)
