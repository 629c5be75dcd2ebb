"""Capture facts from EXIF. Real files carry broken tags of every kind: each fact is read on its own and a
bad one is dropped, never allowed to fail the image."""

from __future__ import annotations

import math
from calendar import timegm
from dataclasses import asdict, dataclass
from datetime import datetime

from PIL import Image

TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
IFD_EXIF, IFD_GPS = 0x8769, 0x8825
TAG_DATETIME_ORIGINAL, TAG_DATETIME_DIGITIZED = 0x9003, 0x9004
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4


@dataclass
class ExifFacts:
    datetime_taken_ms: int | None = None
    make: str | None = None
    model: str | None = None
    camera_model: str | None = None  # what a person calls the camera: model, prefixed by make if needed
    latitude: float | None = None
    longitude: float | None = None
    orientation: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _datetime_ms(value) -> int | None:
    text = _text(value)
    if not text:
        return None
    try:
        dt = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return timegm(dt.timetuple()) * 1000


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    if not math.isfinite(deg):
        return None
    if _text(ref) in ("S", "W"):
        deg = -deg
    return deg


def _camera(make: str | None, model: str | None) -> str | None:
    """`NIKON COOLPIX P6000`, `Canon EOS 40D`, `CASIO EX-Z750`: the maker's first word, unless the model
    already starts with it (makers write `CASIO COMPUTER CO.,LTD` as the make)."""
    if not model:
        return make
    brand = make.split()[0].rstrip(",.") if make and make.split() else ""
    if brand and not model.lower().startswith(brand.lower()):
        return f"{brand} {model}"
    return model


def read_exif(im: Image.Image) -> ExifFacts:
    facts = ExifFacts()
    try:
        exif = im.getexif()
    except Exception:
        return facts
    readers = {
        "make": lambda: _text(exif.get(TAG_MAKE)),
        "model": lambda: _text(exif.get(TAG_MODEL)),
        "orientation": lambda: (o if isinstance(o := exif.get(TAG_ORIENTATION), int) and 1 <= o <= 8 else None),
        "datetime_taken_ms": lambda: (
            _datetime_ms((ifd := exif.get_ifd(IFD_EXIF)).get(TAG_DATETIME_ORIGINAL))
            or _datetime_ms(ifd.get(TAG_DATETIME_DIGITIZED))
            or _datetime_ms(exif.get(TAG_DATETIME))
        ),
    }
    for name, read in readers.items():
        try:
            setattr(facts, name, read())
        except Exception:
            pass
    try:
        gps = exif.get_ifd(IFD_GPS)
        lat = _degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF))
        lon = _degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF))
        # (0, 0) is what many cameras write without a fix; out-of-range values are corrupt tags.
        if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                facts.latitude, facts.longitude = lat, lon
    except Exception:
        pass
    facts.camera_model = _camera(facts.make, facts.model)
    return facts
