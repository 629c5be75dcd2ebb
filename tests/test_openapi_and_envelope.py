"""The OpenAPI document and the envelope on paths and methods that do not exist."""

from __future__ import annotations

import io
import re

import pytest
import requests
from PIL import Image

from conftest import client_side
from test_web_app import ARGS, CHROMIUM

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


def test_docs_and_redoc_need_no_internet(shared_server):
    """Every script, stylesheet and icon the two pages load comes from this server (no CDN)."""
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        res = requests.get(shared_server.base + page, timeout=10)
        assert res.status_code == 200 and asset in res.text, page
        loaded = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", res.text)
        assert loaded and all(u.startswith("/") for u in loaded), (page, loaded)
        for url in loaded:
            got = requests.get(shared_server.base + url, timeout=10)
            assert got.status_code == 200 and len(got.content) > 1000, (page, url, got.status_code)
    css = requests.get(shared_server.base + "/docs-assets/swagger-ui.css", timeout=10)
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
@client_side
def test_docs_render_their_operations_in_a_browser_with_no_internet(shared_server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        outside = []
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: (outside.append(route.request.url), route.abort()))
        page.goto(shared_server.base + "/docs")
        page.wait_for_selector('.opblock-summary-path:has-text("/serve/api/v1/upload_img")', timeout=30_000)
        page.screenshot(path=str(tmp_path / "docs.png"))
        page.goto(shared_server.base + "/redoc")
        page.wait_for_selector('h2:has-text("Upload images (memories.ai v1)")', timeout=30_000)
        page.screenshot(path=str(tmp_path / "redoc.png"))
        browser.close()
    assert outside == []


def test_favicon_is_a_real_icon(shared_server):
    res = requests.get(shared_server.base + "/favicon.ico", timeout=10)
    assert res.status_code == 200 and res.headers["content-type"] == "image/vnd.microsoft.icon"
    icon = Image.open(io.BytesIO(res.content))
    assert icon.format == "ICO" and icon.size[0] >= 16


def test_a_body_that_is_not_json_says_so(account):
    for raw, ctype, words in ((b'{"search_param": "dog",', "application/json", "body is not valid JSON: "),
                              (b"{'page': 1}", "application/json", "body is not valid JSON: "),
                              (b"page=1", "text/plain", "body: must be a JSON object")):
        for path in ("/search", "/img_list_page"):
            res = account.post(path, data=raw, headers={"Content-Type": ctype})
            body = res.json()
            assert res.status_code == 200 and body["code"] == "0001" and body["msg"].startswith(words), (path, raw, body)
            assert "character" in body["msg"] or ctype == "text/plain", body


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
