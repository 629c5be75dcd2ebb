"""Structured logs: one JSON object per line, the request id on every request's events, no secrets."""

from __future__ import annotations

import json

import requests

from conftest import create_key, jpeg


def test_logs_are_json_lines_with_request_ids_and_no_secrets(fresh_server):
    server = fresh_server("--no-workers")
    key = create_key(server.data, "logged")
    client = server.client(key)
    (image_id,) = client.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"tags": ["x"]})
    url = client.metadata(image_id)["img_url"]
    assert requests.get(url, timeout=10).status_code == 200
    signature = url.split("signature=")[1]
    res = client.get("/get_img_metadata", params={"id": 1})
    rid = res.headers["x-request-id"]
    server.stop()

    events = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in events)
    access = [e for e in events if e["logger"] == "reverie.access"]
    assert {"request_id", "method", "path", "status", "ms"} <= access[-1].keys()
    assert any(e["request_id"] == rid and e["path"] == "/serve/api/v1/get_img_metadata" for e in access)
    assert any(e["msg"].startswith("Reverie on http://") for e in events)
    text = server.log.read_text()
    assert key not in text and signature not in text
