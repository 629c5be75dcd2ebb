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


def test_an_internal_error_answers_5000_quoting_the_request_id_it_logged(fresh_server):
    from conftest import create_key, db_exec, jpeg

    server = fresh_server()
    client = server.client(create_key(server.data, "broken"))
    db_exec(server.data, "DROP TABLE image_tags")  # a damaged database: the upload's insert fails
    res = client.post("/upload_img", files=[("files", ("a.jpg", jpeg(), "image/jpeg"))])
    rid = res.headers["x-request-id"]
    assert res.status_code == 500
    assert res.json() == {"code": "5000", "msg": f"internal error; quote request id {rid} when reporting it",
                          "data": None, "success": False, "failed": True}
    log = server.log.read_text()
    assert f"request {rid} POST /serve/api/v1/upload_img failed" in log
    assert "no such table: image_tags" in log or 'relation \\"image_tags\\" does not exist' in log  # JSON-escaped
    assert client.get("/list_unique_ids").json()["code"] == "0000"  # the connection and the server carry on
