"""Keys: created by the CLI, shown once, stored hashed; the header rules of the contract."""

from __future__ import annotations

import hashlib

import requests

from conftest import DISTRIBUTED, create_key, db_rows, jpeg, reverie


def test_missing_key_is_401_with_0401(shared_server):
    res = requests.post(shared_server.url("/img_list_page"), json={})
    assert res.status_code == 401
    body = res.json()
    assert body == {"code": "0401", "msg": body["msg"], "data": None, "success": False, "failed": True}
    assert body["msg"].startswith("Authorization: missing")


def test_unknown_key_is_401_and_stores_nothing(shared_server):
    files = [("files", ("a.jpg", jpeg(), "image/jpeg"))]
    res = requests.post(shared_server.url("/upload_img"), files=files, headers={"Authorization": "sk-reverie-nope"})
    assert res.status_code == 401 and res.json()["code"] == "0401"
    assert not any((shared_server.data / "staging").iterdir())


def test_bearer_prefix_is_tolerated(shared_server):
    key = create_key(shared_server.data, "bearer-user")
    res = requests.get(shared_server.url("/list_unique_ids"), headers={"Authorization": f"Bearer {key}"})
    assert res.status_code == 200 and res.json()["code"] == "0000"


def test_disabled_key_gets_0403_and_other_keys_of_the_account_keep_working(shared_server):
    data = str(shared_server.data)
    first = create_key(shared_server.data, "k1", account="team")
    second = create_key(shared_server.data, "k2", account="team")
    key_id = db_rows(shared_server.data, "SELECT id FROM api_keys WHERE name='k1'")[0][0]
    out = reverie("keys", "disable", str(key_id), "--data", data)
    assert f"key {key_id} disabled" in out.stdout
    res = requests.get(shared_server.url("/list_unique_ids"), headers={"Authorization": first})
    assert res.status_code == 403 and res.json()["code"] == "0403"
    res = requests.get(shared_server.url("/list_unique_ids"), headers={"Authorization": second})
    assert res.json()["code"] == "0000"
    again = reverie("keys", "disable", str(key_id), "--data", data, check=False)
    assert again.returncode != 0 and "no active key" in again.stderr


def test_keys_are_stored_only_as_hashes_and_listed_by_prefix(shared_server):
    key = create_key(shared_server.data, "secretive")
    stored = db_rows(shared_server.data, "SELECT * FROM api_keys WHERE name = 'secretive'")
    assert len(stored) == 1 and key not in repr(stored) and hashlib.sha256(key.encode()).hexdigest() in stored[0]
    if not DISTRIBUTED:  # nor anywhere in SQLite's files, free pages and journal included
        raw_db = (shared_server.data / "reverie.db").read_bytes() + (shared_server.data / "reverie.db-wal").read_bytes()
        assert key.encode() not in raw_db
    listing = reverie("keys", "list", "--data", str(shared_server.data)).stdout
    assert "secretive" in listing and key not in listing and key[:17] in listing


def test_keys_of_two_calls_differ_and_are_long(tmp_path):
    a, b = create_key(tmp_path, "a"), create_key(tmp_path, "b")
    assert a != b and len(a) >= 40 and a.startswith("sk-reverie-")


def test_keys_ensure_creates_only_a_first_key(tmp_path):
    first = reverie("keys", "ensure", "--data", str(tmp_path)).stdout.strip().splitlines()[-1]
    assert first.startswith("key: sk-reverie-")
    second = reverie("keys", "ensure", "--data", str(tmp_path)).stdout
    assert "exist already" in second and "sk-reverie-" not in second


def test_every_option_has_an_environment_variable(tmp_path):
    helps = reverie("serve", "--help").stdout
    for opt in ("REVERIE_DATA", "REVERIE_HOST", "REVERIE_PORT", "REVERIE_WORKERS", "REVERIE_NO_WORKERS",
                "REVERIE_MAX_BATCH_FILES", "REVERIE_MAX_FILE_BYTES", "REVERIE_DATABASE_URL"):
        assert opt in helps
    assert "REVERIE_" in reverie("--help").stdout
    # and the variable is honoured: REVERIE_DATA instead of --data
    out = reverie("keys", "create", "--name", "env",
                  env={"REVERIE_DATA": str(tmp_path / "envdata"), "REVERIE_DATABASE_URL": ""}).stdout
    assert out.strip().split()[-1].startswith("sk-reverie-") and (tmp_path / "envdata" / "reverie.db").exists()
