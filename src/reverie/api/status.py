"""`GET /indexing_status` (extension): what the caller's indexing is doing, for `reverie status`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..store import indexing_status
from ..store.accounts import Caller
from .auth import api_key_scheme, limited
from .envelope import ok

router = APIRouter(dependencies=[Depends(api_key_scheme)])


@router.get("/indexing_status", summary="Photos and videos by indexing status, the job queue, recent failures")
def get_indexing_status(request: Request, who: Caller = Depends(limited("read"))):
    """Per namespace, the photos and videos in each status (UNPARSE, PARSE, FAILED); the account's indexing jobs
    by kind and state (queued, running, done, failed); the latest failed photos and videos with their cause."""
    with request.app.state.store.db.read() as conn:
        return ok(indexing_status.status(conn, who.account_id))
