"""Rules for the metadata fields shared by uploads and filters. Each parser names its field in its error."""

from __future__ import annotations

import math
import re
import unicodedata
from calendar import timegm
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import InvalidInput

DATETIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")  # ASCII digits: \d takes ２０２５
_INDEXED_RE = re.compile(r"^(?P<name>[A-Za-z_]+)\[(?P<index>\d{0,6})\]$")

MAX_UNIQUE_ID = 128
MAX_CAMERA_MODEL = 200
MAX_TAG = 100
DEFAULT_NAMESPACE = "default"
SERVER_TAG = "api"


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text)


def plain_text(value: str, name: str) -> str:
    """Text to look for (a phrase, a filter) or to keep (a prompt): stored text never holds control
    characters, so a filter with one could match nothing, and NUL cannot even reach PostgreSQL. Refused,
    on either database."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput(name, "must not contain control characters")
    return whole_characters(value, name)


def whole_characters(value: str, name: str) -> str:
    """A lone UTF-16 surrogate ("\\ud800" in JSON) is no character: neither the tokenizers nor PostgreSQL
    take it, so it is refused with the field's name rather than failing deep inside."""
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise InvalidInput(name, "must be valid Unicode text (a lone surrogate such as \\ud800 is not a character)")
    return value


def parse_phrase(value: str | None, name: str) -> str:
    if not value or not value.strip():
        raise InvalidInput(name, "required: the phrase to find")
    return plain_text(value.strip(), name)


def parse_datetime(name: str, value: str) -> int:
    """`yyyy-MM-dd HH:mm:ss` as wall-clock time, stored as ms since the epoch read as UTC."""
    if not _DATETIME_RE.fullmatch(value):
        raise InvalidInput(name, f"must be {DATETIME_FORMAT}, got {value!r}")
    try:
        dt = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidInput(name, f"not a real date and time: {value!r}") from None
    return timegm(dt.timetuple()) * 1000


def format_datetime(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def parse_unique_id(value: str | None, name: str = "unique_id") -> str:
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if len(value) > MAX_UNIQUE_ID:
        raise InvalidInput(name, f"at most {MAX_UNIQUE_ID} characters, got {len(value)}")
    if value != value.strip() or _has_control(value) or "/" in value or "\\" in value:
        raise InvalidInput(
            name, "printable characters only: no control characters, '/', '\\' or surrounding spaces"
        )
    return value


def parse_camera_model(value: str | None, name: str = "camera_model") -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_CAMERA_MODEL:
        raise InvalidInput(name, f"at most {MAX_CAMERA_MODEL} characters, got {len(value)}")
    if _has_control(value):
        raise InvalidInput(name, "must not contain control characters")
    return value


def parse_number(name: str, value: str | float | int, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise InvalidInput(name, f"must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInput(name, f"must be a finite number, got {value!r}")
    if not low <= number <= high:
        raise InvalidInput(name, f"must be between {low:g} and {high:g}, got {value}")
    return number


def parse_point(lat: str | float | None, lon: str | float | None) -> tuple[float, float] | None:
    lat = None if lat == "" else lat
    lon = None if lon == "" else lon
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        missing = "latitude" if lat is None else "longitude"
        raise InvalidInput(missing, "latitude and longitude must be given together")
    return parse_number("latitude", lat, -90, 90), parse_number("longitude", lon, -180, 180)


def parse_tags(values: list[str], max_tags: int, name: str = "tags") -> list[str]:
    """De-duplicated tags in the order given; the cap applies before the server appends `api`."""
    tags: list[str] = []
    for i, raw in enumerate(values):
        tag = raw.strip()
        if not tag:
            raise InvalidInput(f"{name}[{i}]", "a tag must not be empty")
        if len(tag) > MAX_TAG:
            raise InvalidInput(f"{name}[{i}]", f"at most {MAX_TAG} characters, got {len(tag)}")
        if _has_control(tag):
            raise InvalidInput(f"{name}[{i}]", "must not contain control characters")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > max_tags:
        raise InvalidInput(name, f"at most {max_tags} tags, got {len(tags)}")
    return tags


def with_server_tag(tags: list[str]) -> list[str]:
    return tags if SERVER_TAG in tags else [*tags, SERVER_TAG]


@dataclass
class FormFields:
    """Text fields of a multipart form, with list fields gathered from both spellings:
    repeated (`tags=a&tags=b`, `tags[]=a`) and indexed (`tags[0]=a&tags[1]=b`)."""

    single: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def gather(cls, pairs: list[tuple[str, str]], list_names: set[str]) -> "FormFields":
        out = cls()
        indexed: dict[str, list[tuple[int, str]]] = {}
        for key, value in pairs:
            m = _INDEXED_RE.match(key)
            base = m.group("name") if m else key
            if base in list_names:
                if m and m.group("index"):
                    indexed.setdefault(base, []).append((int(m.group("index")), value))
                else:
                    out.lists.setdefault(base, []).append(value)
                continue
            if m:
                raise InvalidInput(key, f"{base!r} is not a list field")
            if key in out.single:
                raise InvalidInput(key, "given more than once; send it once")
            out.single[key] = value
        for base, items in indexed.items():
            out.lists.setdefault(base, []).extend(v for _, v in sorted(items, key=lambda iv: iv[0]))
        return out

    def get(self, name: str) -> str | None:
        return self.single.get(name)
