"""Per-account token buckets per endpoint class: 0429 with Retry-After, refilled at the configured rate,
shared by every server process on one data folder, kept across restarts, overridable per account."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Server, blob_files, create_key, db_rows, jpeg, reverie


def _search(client, query: str = "a red square") -> requests.Response:  # noqa: ANN001
    return client.post("/search", json={"search_param": query, "search_type": "BY_IMAGE"})


def test_over_the_limit_is_0429_with_retry_after_and_touches_no_other_bucket(tmp_path):
    data = tmp_path / "data"
    a = create_key(data, "a")
    b = create_key(data, "b")
    server = Server(data, "--no-workers", "--rate-limits", "search=0.5/3,upload=0.5/2").start()
    try:
        ca, cb = server.client(a), server.client(b)
        # The first search loads the text models (~2 s here), in which a's bucket would earn a token back:
        # b's search pays for that, and spends one of b's tokens only.
        assert _search(cb).json()["code"] == "0000"
        assert [_search(ca).json()["code"] for _ in range(3)] == ["0000"] * 3
        over = _search(ca)
        assert over.status_code == 429
        body = over.json()
        assert body["code"] == "0429" and body["data"] is None and body["failed"] is True
        assert "search" in body["msg"] and "0.5 requests/s" in body["msg"]
        assert 1 <= int(over.headers["Retry-After"]) <= 2
        # Another class of the same account, and the same class of another account, are untouched.
        assert ca.get("/list_unique_ids").json()["code"] == "0000"
        assert _search(cb).json()["code"] == "0000"
        # A limited upload is refused before its body is read: nothing stored.
        assert len(ca.upload_ok([("1.jpg", jpeg(color=(1, 2, 3)), "image/jpeg")])) == 1
        assert len(ca.upload_ok([("2.jpg", jpeg(color=(4, 5, 6)), "image/jpeg")])) == 1
        refused = ca.post("/upload_img", files=[("files", ("3.jpg", jpeg(color=(7, 8, 9)), "image/jpeg"))])
        assert refused.status_code == 429 and refused.json()["code"] == "0429"
        assert db_rows(data, "SELECT count(*) FROM images")[0][0] == 2
        assert len(blob_files(data)) == 2
        assert not any((data / "staging").iterdir())
    finally:
        server.stop()


def test_tokens_come_back_at_the_configured_rate(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "a")
    server = Server(data, "--no-workers", "--rate-limits", "read=4/1").start()
    try:
        c = server.client(key)
        assert c.get("/list_unique_ids").json()["code"] == "0000"
        assert c.get("/list_unique_ids").json()["code"] == "0429"
        time.sleep(0.35)  # a token every 0.25 s
        assert c.get("/list_unique_ids").json()["code"] == "0000"
    finally:
        server.stop()


def test_an_empty_bucket_stays_empty_across_a_restart(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "a")
    args = ("--no-workers", "--rate-limits", "search=0.01/2")
    server = Server(data, *args).start()
    c = server.client(key)
    assert [_search(c).json()["code"] for _ in range(3)] == ["0000", "0000", "0429"]
    server.stop()
    server = Server(data, *args).start()
    try:
        res = _search(server.client(key))
        assert res.json()["code"] == "0429" and int(res.headers["Retry-After"]) > 60
    finally:
        server.stop()


def test_two_server_processes_share_one_bucket_under_concurrency(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "a")
    args = ("--no-workers", "--rate-limits", "search=0.001/20")
    servers = [Server(data, *args).start(), Server(data, *args).start()]
    try:
        clients = [s.client(key) for s in servers]
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda i: _search(clients[i % 2]).json()["code"], range(60)))
        assert codes.count("0000") == 20 and codes.count("0429") == 40
    finally:
        for s in servers:
            s.stop()


def test_a_per_account_override_reaches_a_running_server_and_can_be_reset(tmp_path):
    data = tmp_path / "data"
    vip, other = create_key(data, "vip"), create_key(data, "other")
    server = Server(data, "--no-workers", "--rate-limits", "search=0.01/2").start()
    try:
        cv, co = server.client(vip), server.client(other)
        assert [_search(cv).json()["code"] for _ in range(3)] == ["0000", "0000", "0429"]
        out = reverie("limits", "set", "vip", "search", "0", "--data", str(data)).stdout
        assert "not limited" in out
        time.sleep(2.5)  # servers re-read overrides every 2 s
        assert {_search(cv).json()["code"] for _ in range(10)} == {"0000"}
        assert [_search(co).json()["code"] for _ in range(3)] == ["0000", "0000", "0429"]
        shown = reverie("limits", "show", "vip", "--data", str(data), "--rate-limits", "search=0.01/2").stdout
        assert "search" in shown and "none" in shown and "account" in shown
        reverie("limits", "reset", "vip", "search", "--data", str(data))
        time.sleep(2.5)
        assert _search(cv).json()["code"] == "0429"
    finally:
        server.stop()


def test_bad_limit_settings_are_refused_with_the_rule(tmp_path):
    data = tmp_path / "data"
    create_key(data, "a")
    for value, words in (("serch=1/2", "unknown endpoint class"), ("search=fast", "CLASS=PER_SECOND/BURST"),
                         ("search=0/5", "rate above 0")):
        out = reverie("serve", "--data", str(data), "--rate-limits", value, check=False)
        assert out.returncode != 0 and words in out.stderr, out.stderr
    out = reverie("limits", "set", "nobody", "search", "5", "--data", str(data), check=False)
    assert out.returncode != 0 and "no account named 'nobody'" in out.stderr
