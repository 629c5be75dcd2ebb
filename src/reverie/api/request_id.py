"""A request id for every request: in the X-Request-Id header, in the access log, in 5000 messages.

This middleware is also where an unexpected error ends: it logs the traceback under the request id and
answers the 5000 envelope quoting it. (Starlette's own last-resort handler sits outside every
middleware, where the id is gone, and it re-raises, after which uvicorn drops the keep-alive connection.)
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import time

log = logging.getLogger("reverie.access")
log_errors = logging.getLogger("reverie.api")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    """Plain ASGI (no BaseHTTPMiddleware): it must not buffer upload bodies."""

    def __init__(self, app):  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = secrets.token_hex(8)
        token = _request_id.set(rid)
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message):  # noqa: ANN001
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log_errors.exception("request %s %s %s failed", rid, scope["method"], scope["path"])
            if status["code"] == 0:  # nothing sent yet: answer with the envelope
                body = json.dumps({"code": "5000", "msg": f"internal error; quote request id {rid} when reporting it",
                                   "data": None, "success": False, "failed": True}).encode()
                await send_with_id({"type": "http.response.start", "status": 500,
                                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send_with_id({"type": "http.response.body", "body": body})
        finally:
            ms = (time.perf_counter() - started) * 1000
            path = scope["path"]  # never the query string: signed-URL signatures live there
            log.info("%s %s %s %d %.1fms", rid, scope["method"], path, status["code"], ms,
                     extra={"request_id": rid, "method": scope["method"], "path": path, "status": status["code"],
                            "ms": round(ms, 1)})
            _request_id.reset(token)
