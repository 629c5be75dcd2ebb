"""Schemathesis hooks for tests/test_fuzz_openapi.py: every JSON answer must be a valid envelope."""

import schemathesis

ENVELOPE = {"code", "msg", "data", "success", "failed"}


@schemathesis.check
def valid_envelope(ctx, response, case):  # noqa: ANN001, ANN201
    if not response.headers.get("content-type", [""])[0].startswith("application/json") or case.path == "/openapi.json":
        return None
    body = response.json()
    assert isinstance(body, dict) and ENVELOPE <= body.keys(), f"not an envelope: {str(body)[:200]}"
    assert (body["code"] == "0000") == body["success"] == (not body["failed"]), f"inconsistent envelope: {body}"
    if body["code"] != "0000":
        assert body["data"] is None and body["msg"], f"an error envelope needs data null and a msg: {body}"
    return None
