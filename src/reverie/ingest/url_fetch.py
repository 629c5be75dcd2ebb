"""upload_url: the server fetches the video itself, streamed to staging with a size and a time limit.

Only http and https; every hop (redirects are followed by hand) must resolve to public addresses unless
the operator allows private ones (REVERIE_ALLOW_PRIVATE_URLS), so an upload cannot make the server read
from its own network.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
import time
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from ..errors import InvalidInput
from ..index.callbacks import private_address
from .multipart import FilePart
from .videos import ALLOWED_EXTENSIONS

MAX_URL_BYTES = 1024 * 1024 * 1024
TYPE_EXTENSIONS = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-msvideo": ".avi", "video/x-matroska": ".mkv",
                   "video/webm": ".mkv"}
MAX_SECONDS = 600
MAX_REDIRECTS = 5


def _check(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url", "must be an absolute http:// or https:// URL")
    if not allow_private:
        blocked = private_address(url)
        if blocked:
            raise InvalidInput("url", f"resolves to the non-public address {blocked}; "
                                      "the operator can allow such addresses with REVERIE_ALLOW_PRIVATE_URLS=true")


async def fetch_video(url: str | None, staging: Path, max_bytes: int, allow_private: bool) -> FilePart:
    if not url:
        raise InvalidInput("url", "required: the http(s) address of the video")
    if len(url) > 2048:
        raise InvalidInput("url", "at most 2048 characters")
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"url-{secrets.token_hex(8)}"
    digest, size, began = hashlib.sha256(), 0, time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as http:
            for _ in range(MAX_REDIRECTS + 1):
                _check(url, allow_private)
                async with http.stream("GET", url) as res:
                    if res.is_redirect:
                        url = urljoin(url, res.headers.get("location", ""))
                        continue
                    if res.status_code != 200:
                        raise InvalidInput("url", f"the server answered HTTP {res.status_code}")
                    declared = res.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise InvalidInput("url", f"the video is {declared} bytes, over the {max_bytes}-byte limit")
                    with open(path, "wb") as out:
                        async for chunk in res.aiter_bytes(1 << 20):
                            size += len(chunk)
                            if size > max_bytes:
                                raise InvalidInput("url", f"the video is over the {max_bytes}-byte limit")
                            if time.monotonic() - began > MAX_SECONDS:
                                raise InvalidInput("url", f"the download took over {MAX_SECONDS} s")
                            digest.update(chunk)
                            out.write(chunk)
                    ctype = res.headers.get("content-type", "").split(";")[0].strip().lower()
                    break
            else:
                raise InvalidInput("url", f"more than {MAX_REDIRECTS} redirects")
    except InvalidInput:
        path.unlink(missing_ok=True)
        raise
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise InvalidInput("url", f"could not be fetched ({type(exc).__name__})") from None
    name = PurePosixPath(unquote(urlsplit(url).path)).name or "video"
    if PurePosixPath(name.lower()).suffix not in ALLOWED_EXTENSIONS:
        # Links often carry no extension (…/watch?id=3): name it by its type; the bytes decide anyway.
        name += TYPE_EXTENSIONS.get(ctype, ".mp4")
    if not ctype.startswith("video/"):  # many servers say application/octet-stream: judge by the name
        ctype = mimetypes.guess_type(name)[0] or "video/mp4"
    return FilePart(field="file", filename=name[:255], content_type=ctype, path=path, size=size, sha256=digest.hexdigest())
