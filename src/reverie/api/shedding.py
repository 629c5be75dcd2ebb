"""Load shedding: past a set number of requests in flight, answer at once with 0429 (HTTP 503 and
Retry-After) instead of queueing until clients time out. Plain ASGI, so it never buffers a body."""

from __future__ import annotations

import json


class ShedLoad:
    def __init__(self, app, max_in_flight: int, retry_after_s: int = 1):  # noqa: ANN001
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after_s).encode()
        self.in_flight = 0  # one event loop: no lock needed

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http" or self.max_in_flight <= 0:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.max_in_flight:
            body = json.dumps({"code": "0429", "msg": f"server busy: {self.in_flight} requests in flight; retry shortly",
                               "data": None, "success": False, "failed": True}).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", self.retry_after),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
