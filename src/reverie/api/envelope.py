"""The response envelope every JSON answer wears, and the mapping of errors onto it."""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import ApiError
from ..store.db import FULL
from .request_id import current_request_id

log = logging.getLogger("reverie.api")

OK = "0000"


class Envelope(BaseModel):
    """Success: code 0000, data holds the payload. Failure: a non-0000 code, data null, msg naming the
    field and the rule (`tags: at most 50 tags, got 51`)."""

    code: str
    msg: str
    data: Any = None
    success: bool
    failed: bool


class ErrorEnvelope(Envelope):
    data: None = None


def body(code: str, msg: str, data: Any = None) -> dict:
    ok = code == OK
    return {"code": code, "msg": msg, "data": data, "success": ok, "failed": not ok}


def ok(data: Any = None) -> JSONResponse:
    return JSONResponse(body(OK, "success", data))


def error(code: str, msg: str, http_status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body(code, msg), status_code=http_status, headers=headers)


def _validation_msg(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":  # pydantic's own words are "0: JSON decode error"
        e = errors[0]
        at = e["loc"][-1] if len(e.get("loc", ())) > 1 else 0
        return f"body is not valid JSON: {e.get('ctx', {}).get('error', 'cannot be parsed')} at character {at}"
    if errors and errors[0].get("loc") == ("body",) and isinstance(errors[0].get("input"), (bytes, str)):
        return "body: must be a JSON object sent with Content-Type: application/json"
    parts = []
    for e in errors[:3]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error(exc.code, exc.msg, exc.http_status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error("0001", _validation_msg(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        msg = {404: f"No static resource {request.url.path}.", 405: f"method {request.method} not allowed here"}
        return error("0001", msg.get(exc.status_code, str(exc.detail)), exc.status_code)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("storage full while serving %s: %s", request.url.path, exc)
            return error(FULL.code, FULL.msg, FULL.http_status)
        return _internal(request, exc)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    rid = current_request_id()
    log.error("request %s %s failed", rid, request.url.path, exc_info=exc)
    return error("5000", f"internal error; quote request id {rid} when reporting it", 500)
