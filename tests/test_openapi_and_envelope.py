"""The OpenAPI document and the envelope on paths and methods that do not exist."""

from __future__ import annotations

import requests

ENDPOINTS = {
    ("post", "/serve/api/v1/upload_img"),
    ("get", "/serve/api/v1/get_img_metadata"),
    ("post", "/serve/api/v1/img_list_page"),
    ("post", "/serve/api/v1/delete_imgs"),
    ("get", "/serve/api/v1/list_unique_ids"),
    ("get", "/serve/api/v1/download"),
    ("get", "/serve/api/v1/files/{bucket}/{blob}"),
}


def test_openapi_describes_every_endpoint_and_both_envelopes(shared_server):
    doc = requests.get(shared_server.base + "/openapi.json", timeout=10).json()
    served = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert ENDPOINTS <= served
    schemas = doc["components"]["schemas"]
    assert {"code", "msg", "data", "success", "failed"} <= schemas["Envelope"]["properties"].keys()
    assert "ErrorEnvelope" in schemas
    upload = doc["paths"]["/serve/api/v1/upload_img"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["files"] and form["properties"]["tags"]["maxItems"] == 50
    responses = doc["paths"]["/serve/api/v1/img_list_page"]["post"]["responses"]
    assert {"200", "401"} <= responses.keys()
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "Authorization"


def test_docs_page_is_served(shared_server):
    res = requests.get(shared_server.base + "/docs", timeout=10)
    assert res.status_code == 200 and "swagger" in res.text.lower()


def test_unknown_path_and_wrong_method_get_the_envelope(shared_server):
    res = requests.get(shared_server.url("/no_such_thing"), timeout=10)
    assert res.status_code == 404
    assert res.json() == {"code": "0001", "msg": "No static resource /serve/api/v1/no_such_thing.", "data": None,
                          "success": False, "failed": True}
    res = requests.get(shared_server.url("/upload_img"), timeout=10)
    assert res.status_code == 405 and res.json()["code"] == "0001"
    assert res.headers["x-request-id"]
