"""Place names from a GPS position, offline: GeoNames cities (population > 1000) shipped inside the
`reverse-geocoder` package, country names from `pycountry`."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_geocoder = None

# Farther than this from any GeoNames town, a name would mislead (open sea, polar ice).
MAX_DISTANCE_DEGREES = 1.0


def _rg():
    global _geocoder
    with _lock:
        if _geocoder is None:
            import reverse_geocoder

            _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False)
        return _geocoder


def country_name(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


def place_name(latitude: float, longitude: float) -> str | None:
    """"Arezzo, Tuscany, Italy" for the nearest town, or None when nothing is near."""
    (hit,) = _rg().query([(latitude, longitude)])
    if abs(float(hit["lat"]) - latitude) + abs(float(hit["lon"]) - longitude) > 2 * MAX_DISTANCE_DEGREES:
        return None
    parts = [hit["name"], hit["admin1"], country_name(hit["cc"])]
    return ", ".join(dict.fromkeys(p for p in parts if p))
