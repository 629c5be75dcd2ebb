"""Stored files: `GET /download?bucket=&blob=` with a key, and signed URLs without one."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..store import Store, pointers
from ..store.accounts import Caller
from .auth import api_key_scheme, limited
from .signed_urls import PATH as SIGNED_PATH, verify

router = APIRouter()


def _disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _send(store: Store, account_id: int, bucket: str, blob: str, disposition: str):
    with store.db.read() as conn:
        found = pointers.resolve(conn, account_id, bucket, blob)
    if found is None or not store.blobs.exists(found.key):
        raise NotFound("Resource does not exist")
    headers = {"Content-Disposition": _disposition(disposition, found.filename), "Cache-Control": "private, max-age=3600"}
    path = store.blobs.local_path(found.key)
    if path is not None:
        return FileResponse(path, media_type=found.media_type, headers=headers)
    return StreamingResponse(store.blobs.open(found.key), media_type=found.media_type, headers=headers)


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
    return _send(request.app.state.store, who.account_id, bucket, blob, "attachment")


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
    return _send(request.app.state.store, account, bucket, blob, "inline")
