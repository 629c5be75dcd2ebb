"""Business errors. Each carries its envelope code; `msg` always names the field and the rule that failed."""

from __future__ import annotations


class ApiError(Exception):
    code = "0001"
    http_status = 200  # business errors travel as HTTP 200, as the reference does
    headers: dict[str, str] | None = None

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


class InvalidInput(ApiError):
    """A parameter is missing or breaks a rule: `<field>: <rule>`."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field


class BadEnum(InvalidInput):
    code = "0003"


class NotFound(ApiError):
    code = "0001"


class Unauthorized(ApiError):
    code = "0401"
    http_status = 401


class KeyDisabled(ApiError):
    code = "0403"
    http_status = 403


class PermissionDenied(ApiError):
    code = "9009"
    http_status = 403


class StorageFull(ApiError):
    code = "5000"
    http_status = 507


class RateLimited(ApiError):
    code = "0429"
    http_status = 429

    def __init__(self, msg: str, retry_after_s: int):
        super().__init__(msg)
        self.headers = {"Retry-After": str(retry_after_s)}


class CreditsExhausted(ApiError):
    code = "0402"
    http_status = 402


class Unavailable(ApiError):
    """A part Reverie stands on (the database, the object store) is not answering. Nothing of the request was
    stored; the client should retry after `Retry-After` seconds (HTTP 503, code 0503)."""

    code = "0503"
    http_status = 503
    retry_after_s = 2

    def __init__(self, part: str, why: str):
        super().__init__(f"{part} unavailable ({why}); nothing was stored; retry in {self.retry_after_s} s")
        self.why = why
        self.headers = {"Retry-After": str(self.retry_after_s)}


class DatabaseUnavailable(Unavailable):
    def __init__(self, why: str = "the connection failed"):
        super().__init__("database", why)


class BlobStoreUnavailable(Unavailable):
    def __init__(self, why: str = "the connection failed"):
        super().__init__("object store", why)
