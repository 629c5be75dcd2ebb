"""How `reverie eval` (evaluation.py, speech_evaluation.py) calls the API: an answer's data or an error that
names the call, and searches that wait out the rate limit."""

from __future__ import annotations

import time

import httpx

from .client import _retry_after


def checked(res: httpx.Response) -> dict | list | None:
    body = res.json()
    if body.get("code") != "0000":
        raise RuntimeError(f"{res.request.url.path}: {body.get('code')} {body.get('msg')}")
    return body["data"]


def searched(http: httpx.Client, body: dict) -> dict | list:
    """POST /search, waiting out the rate limit as a polite client does: on a small namespace the eval's
    searches outrun the default 100 a second."""
    for attempt in range(10):
        res = http.post("/search", json=body)
        wait = _retry_after(res, attempt, 0.25)
        if wait is None:
            break
        time.sleep(wait)
    return checked(res)
