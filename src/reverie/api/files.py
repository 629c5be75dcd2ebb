"""Stored files: `GET /download?bucket=&blob=` with a key, and signed URLs without one."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..index.image import CorruptImage, render_preview
from ..store import Store, pointers
from ..store.accounts import Caller
from .auth import api_key_scheme, limited
from .signed_urls import PATH as SIGNED_PATH, verify

router = APIRouter()

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a Range header asks for, the last clipped to the blob; a first byte at or past
    `size` means the range cannot be satisfied. None for no Range, or one that is ignored as RFC 9110 allows
    (several ranges, other units, malformed): the whole blob then goes out."""
    m = _RANGE.fullmatch(header.strip()) if header else None
    if m is None or not (m[1] or m[2]):
        return None
    if not m[1]:  # bytes=-n: the last n bytes
        return max(size - int(m[2]), 0), size - 1
    start = int(m[1])
    if m[2] and int(m[2]) < start:
        return None
    return start, min(int(m[2]), size - 1) if m[2] else size - 1


def send_blob(request: Request, key: str, media_type: str, headers: dict[str, str]) -> Response:
    """The blob at `key`: from its file where the backend has one, else streamed from the backend with
    single byte ranges of a GET honoured (as FileResponse does), so that video players can seek."""
    blobs = request.app.state.store.blobs
    path = blobs.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    size = blobs.size(key)
    headers = {**headers, "Accept-Ranges": "bytes"}
    span = _byte_range(request.headers.get("range"), size) if request.method == "GET" else None
    if span is None:
        return StreamingResponse(blobs.open(key), media_type=media_type, headers={**headers, "Content-Length": str(size)})
    start, end = span
    if start >= size:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    return StreamingResponse(blobs.open_range(key, start, end), status_code=206, media_type=media_type, headers={
        **headers, "Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)})


def _disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _send(request: Request, account_id: int, bucket: str, blob: str, disposition: str) -> Response:
    store: Store = request.app.state.store
    with store.db.read() as conn:
        found = pointers.resolve(conn, account_id, bucket, blob)
    if found is None:
        raise NotFound("Resource does not exist")
    if not store.blobs.exists(found.key):
        if found.source_sha256 is None:
            raise NotFound("Resource does not exist")
        try:  # a preview not yet opened, or whose file was lost
            render_preview(store, found.source_sha256, found.key)
        except (FileNotFoundError, CorruptImage):  # deleted meanwhile, or the original was lost
            raise NotFound("Resource does not exist") from None
    headers = {"Content-Disposition": _disposition(disposition, found.filename), "Cache-Control": "private, max-age=3600"}
    return send_blob(request, found.key, found.media_type, headers)


@router.get("/download", dependencies=[Depends(api_key_scheme)], summary="Download a stored file by bucket and blob")
def download(
    request: Request,
    bucket: Annotated[str | None, Query()] = None,
    blob: Annotated[str | None, Query()] = None,
    who: Caller = Depends(limited("read")),
):
    if not bucket:
        raise InvalidInput("bucket", "Bucket cannot be null or empty")
    if not blob:
        raise InvalidInput("blob", "Blob cannot be null or empty")
    return _send(request, who.account_id, bucket, blob, "attachment")


@router.get(SIGNED_PATH.removeprefix("/serve/api/v1") + "/{bucket}/{blob:path}", summary="A signed, time-limited file URL (no key)")
def signed_file(
    request: Request,
    bucket: str,
    blob: str,
    account: Annotated[int, Query()],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
):
    problem = verify(request.app.state.signing_secret, account, bucket, blob, expires, signature)
    if problem:
        raise PermissionDenied(f"signature: {problem}")
    return _send(request, account, bucket, blob, "inline")
