"""GET /download?bucket=&blob= and the signed img_url links Reverie serves itself."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qs, urlparse, urlencode

import requests

from conftest import create_key, db_rows, jpeg


def _upload(client, content=None):  # noqa: ANN001
    content = content or jpeg(color=(9, 99, 199))
    (image_id,) = client.upload_ok([("mine.jpg", content, "image/jpeg")])
    return client.wait_indexed(image_id), content


def test_download_returns_the_original_bytes(account):
    meta, content = _upload(account)
    res = account.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]})
    assert res.status_code == 200
    assert hashlib.sha256(res.content).digest() == hashlib.sha256(content).digest()
    assert res.headers["content-type"] == "image/jpeg"
    assert 'attachment; filename="mine.jpg"' in res.headers["content-disposition"]
    assert int(res.headers["content-length"]) == len(content)


def test_download_errors_use_the_reference_messages(account):
    meta, _ = _upload(account)
    cases = [
        ({"blob": meta["blob"]}, "bucket: Bucket cannot be null or empty"),
        ({"bucket": meta["bucket"], "blob": ""}, "blob: Blob cannot be null or empty"),
        ({"bucket": meta["bucket"], "blob": "123.jpg"}, "Resource does not exist"),
        ({"bucket": "elsewhere", "blob": meta["blob"]}, "Resource does not exist"),
        ({"bucket": meta["bucket"], "blob": "../../reverie.db"}, "Resource does not exist"),
    ]
    for params, msg in cases:
        res = account.get("/download", params=params)
        assert res.headers["content-type"] == "application/json", params
        body = res.json()
        assert body["code"] == "0001" and body["msg"] == msg and body["failed"] is True, (params, body)


def test_another_accounts_pointer_does_not_resolve(account, shared_server):
    meta, _ = _upload(account)
    other = shared_server.client(create_key(shared_server.data, f"intruder-{time.time_ns()}"))
    body = other.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]}).json()
    assert body["code"] == "0001" and body["msg"] == "Resource does not exist"
    assert other.get("/get_img_metadata", params={"id": meta["id"]}).json()["code"] == "0001"


def test_signed_img_url_works_without_a_key(account):
    meta, content = _upload(account)
    res = requests.get(meta["img_url"], timeout=10)
    assert res.status_code == 200 and res.content == content
    assert res.headers["content-disposition"].startswith("inline")
    thumb = requests.get(meta["thumbnail"]["url"], timeout=10)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def _with(url: str, **changes) -> str:  # noqa: ANN003
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update({k: str(v) for k, v in changes.items()})
    return parts._replace(query=urlencode(query)).geturl()


def test_tampered_signed_urls_are_refused(account, shared_server):
    meta, _ = _upload(account)
    url = meta["img_url"]
    q = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    other_meta, _ = _upload(shared_server.client(create_key(shared_server.data, f"victim-{time.time_ns()}")))
    tampered = [
        _with(url, expires=int(q["expires"]) + 1000),  # longer life
        _with(url, account=int(q["account"]) + 1),  # someone else's account
        _with(url, signature=q["signature"][:-1] + ("0" if q["signature"][-1] != "0" else "1")),
        url.replace(meta["blob"], other_meta["blob"]),  # another image under the same signature
        url.replace("reverie-images", "reverie-previews").replace(".jpg", ".jpg"),  # another bucket
    ]
    for bad in tampered:
        res = requests.get(bad, timeout=10)
        assert res.status_code == 403, bad
        body = res.json()
        assert body["code"] == "9009" and body["msg"].startswith("signature: signature does not match"), body


def test_expired_signed_url_is_refused(account, shared_server):
    import hmac

    meta, _ = _upload(account)
    q = {k: v[0] for k, v in parse_qs(urlparse(meta["img_url"]).query).items()}
    secret = bytes.fromhex(db_rows(shared_server.data, "SELECT value FROM server_settings WHERE key='signing_secret'")[0][0])
    expired = int(time.time()) - 5
    msg = f"{q['account']}\n{meta['bucket']}\n{meta['blob']}\n{expired}".encode()
    sig = hmac.new(secret, msg, hashlib.sha256).hexdigest()[:40]
    res = requests.get(_with(meta["img_url"], expires=expired, signature=sig), timeout=10)
    assert res.status_code == 403 and "expired" in res.json()["msg"]


def test_signed_url_of_a_deleted_image_stops_working(account):
    meta, _ = _upload(account)
    assert account.post("/delete_imgs", json=[meta["id"]]).json()["code"] == "0000"
    body = requests.get(meta["img_url"], timeout=10).json()
    assert body["code"] == "0001" and body["msg"] == "Resource does not exist"
