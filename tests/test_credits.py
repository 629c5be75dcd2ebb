"""Credit metering: off by default; when granted, uploads and searches deduct in the same transaction as
their work, a short balance answers 0402 with nothing stored, and no credit is spent twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conftest import Server, blob_files, create_key, db_rows, jpeg, reverie


def _balance(data, account: str) -> list[str]:  # noqa: ANN001
    line = reverie("credits", "show", account, "--data", str(data)).stdout.strip().splitlines()[-1]
    return line.split()[1:]  # balance, spent, granted


def _search(client) -> dict:  # noqa: ANN001
    return client.post("/search", json={"search_param": "red", "search_type": "BY_IMAGE"}).json()


def test_accounts_are_unmetered_until_credits_are_granted(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "free")
    server = Server(data, "--no-workers").start()
    try:
        c = server.client(key)
        for i in range(3):
            c.upload_ok([(f"{i}.jpg", jpeg(color=(i, 0, 0)), "image/jpeg")])
        assert _search(c)["code"] == "0000"
        assert _balance(data, "free") == ["unmetered", "0", "0"]
    finally:
        server.stop()


def test_uploads_and_searches_deduct_and_a_short_balance_stores_nothing(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "metered")
    assert "balance 3" in reverie("credits", "grant", "metered", "3", "--data", str(data)).stdout
    server = Server(data, "--no-workers").start()
    try:
        c = server.client(key)
        c.upload_ok([("a.jpg", jpeg(color=(1, 1, 1)), "image/jpeg"), ("b.jpg", jpeg(color=(2, 2, 2)), "image/jpeg")])
        assert _balance(data, "metered") == ["1", "2", "3"]
        res = c.post("/upload_img", files=[("files", ("c.jpg", jpeg(color=(3, 3, 3)), "image/jpeg")),
                                           ("files", ("d.jpg", jpeg(color=(4, 4, 4)), "image/jpeg"))])
        assert res.status_code == 402
        body = res.json()
        assert body["code"] == "0402" and body["data"] is None
        assert "costs 2 credits and the account has 1" in body["msg"]
        assert db_rows(data, "SELECT count(*) FROM images")[0][0] == 2
        assert len(blob_files(data)) == 2 and not any((data / "staging").iterdir())
        # A refused search costs nothing; a served one costs one credit.
        assert c.post("/search", json={"search_param": "red", "top_k": 0}).json()["code"] == "0001"
        assert _balance(data, "metered")[0] == "1"
        assert _search(c)["code"] == "0000"
        assert _search(c)["code"] == "0402"
    finally:
        server.stop()
    # The balance is in the database: a restarted server sees it.
    server = Server(data, "--no-workers").start()
    try:
        c = server.client(key)
        assert _search(c)["code"] == "0402"
        reverie("credits", "grant", "metered", "1", "--note", "top-up", "--data", str(data))
        c.upload_ok([("e.jpg", jpeg(color=(5, 5, 5)), "image/jpeg")])
        assert _balance(data, "metered") == ["0", "4", "4"]
        reverie("credits", "unmeter", "metered", "--data", str(data))
        c.upload_ok([("f.jpg", jpeg(color=(6, 6, 6)), "image/jpeg")])
        assert _balance(data, "metered") == ["unmetered", "4", "4"]
    finally:
        server.stop()


def test_no_credit_is_spent_twice_by_concurrent_uploads_on_two_servers(tmp_path):
    data = tmp_path / "data"
    key = create_key(data, "racer")
    reverie("credits", "grant", "racer", "15", "--data", str(data))
    servers = [Server(data, "--no-workers").start(), Server(data, "--no-workers").start()]
    try:
        clients = [s.client(key) for s in servers]

        def upload(i: int) -> str:
            # steps of 6: nearby solid colours can encode to the same JPEG bytes (one stored blob for two)
            files = [("files", (f"{i}.jpg", jpeg(color=(6 * i, 255 - 6 * i, 7)), "image/jpeg"))]
            return clients[i % 2].post("/upload_img", files=files).json()["code"]

        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(upload, range(40)))
        assert codes.count("0000") == 15 and codes.count("0402") == 25
        assert db_rows(data, "SELECT count(*) FROM images")[0][0] == 15
        assert len(blob_files(data)) == 15
        assert _balance(data, "racer") == ["0", "15", "15"]
    finally:
        for s in servers:
            s.stop()


def test_granting_to_an_unknown_account_says_how_accounts_are_made(tmp_path):
    out = reverie("credits", "grant", "ghost", "5", "--data", str(tmp_path / "data"), check=False)
    assert out.returncode != 0 and "reverie keys create --account" in out.stderr
