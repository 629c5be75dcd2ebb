"""get_img_metadata, img_list_page, delete_imgs and list_unique_ids: the management extensions."""

from __future__ import annotations

import time

from conftest import blob_files, create_key, db_rows, jpeg


def test_list_filters_and_pagination(account):
    a = account.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"tags": ["sea"], "camera_model": "X100", "datetime_taken": "2021-06-01 10:00:00"})
    b = account.upload_ok([("b.jpg", jpeg(), "image/jpeg")], {"tags": ["sea", "sun"], "datetime_taken": "2022-06-01 10:00:00"})
    c = account.upload_ok([("c.jpg", jpeg(), "image/jpeg")], {"tags": ["city"], "camera_model": "X100", "unique_id": "work"})
    for i in a + b + c:
        account.wait_indexed(i)
    ids = lambda **f: [it["id"] for it in account.list_page(**f)["item"]]  # noqa: E731
    assert ids() == b + a  # newest first, namespace "default" only
    assert ids(unique_id="work") == c
    assert ids(tag="sun") == b
    assert ids(tags=["sun", "sea"]) == b + a
    assert ids(camera_tag="X100") == a
    assert ids(datetime_from="2022-01-01 00:00:00") == b
    assert ids(datetime_to=1640995200000) == a  # 2022-01-01 as ms epoch
    assert ids(datetime_taken="2021-06-01 10:00:00") == b + a
    assert ids(status="PARSE") == b + a and ids(status="FAIL") == []
    page = account.list_page(page=2, page_size=1)
    assert page == {**page, "current_page": 2, "page_size": 1, "total_count": 2}
    assert [it["id"] for it in page["item"]] == a
    item = page["item"][0]
    assert {"id", "name", "img_url", "datetime_taken", "camera_model", "bucket", "blob"} <= item.keys()


def test_list_rejects_bad_parameters_with_named_fields(account):
    cases = [
        ({"page": 0}, "0001", "page: "),
        ({"page_size": 500}, "0001", "page_size: "),
        ({"page": "2"}, "0001", "page: "),
        ({"status": "DONE"}, "0003", "status: must be one of"),
        ({"datetime_from": "yesterday"}, "0001", "datetime_from: must be yyyy-MM-dd HH:mm:ss"),
        ({"tags": "sea"}, "0001", "tags: "),
    ]
    for body, code, prefix in cases:
        res = account.post("/img_list_page", json=body).json()
        assert res["code"] == code and res["msg"].startswith(prefix), (body, res)
    res = account.post("/img_list_page", data="not json", headers={"Content-Type": "application/json"}).json()
    assert res["code"] == "0001"


def test_unique_ids_are_created_on_first_use_and_listed_per_account(account, shared_server):
    assert account.get("/list_unique_ids").json()["data"] == {"unique_ids": [], "namespaces": []}
    account.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"unique_id": "Holiday 2025"})
    account.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"unique_id": "holiday 2025"})
    account.upload_ok([("a.jpg", jpeg(), "image/jpeg")])
    assert account.get("/list_unique_ids").json()["data"]["unique_ids"] == ["Holiday 2025", "default", "holiday 2025"]
    other = shared_server.client(create_key(shared_server.data, f"other-{time.time_ns()}"))
    assert other.get("/list_unique_ids").json()["data"]["unique_ids"] == []


def test_metadata_respects_the_namespace_when_given(account):
    (image_id,) = account.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"unique_id": "ns1"})
    ok = account.get("/get_img_metadata", params={"id": image_id, "unique_id": "ns1"}).json()
    assert ok["code"] == "0000" and ok["data"]["unique_id"] == "ns1"
    other = account.get("/get_img_metadata", params={"id": image_id, "unique_id": "ns2"}).json()
    assert other["code"] == "0001" and other["msg"].startswith("id: no image")
    bad = account.get("/get_img_metadata", params={"id": "abc"}).json()
    assert bad["code"] == "0001" and bad["msg"].startswith("id: ")


def test_delete_removes_rows_blobs_and_derivatives_and_is_idempotent(fresh_server):
    server = fresh_server()
    client = server.client(create_key(server.data, "deleter"))
    shared_bytes = jpeg(color=(5, 5, 5))
    keep, gone = client.upload_ok([("k.jpg", shared_bytes, "image/jpeg"), ("g.jpg", shared_bytes, "image/jpeg")])
    (solo,) = client.upload_ok([("s.png", jpeg(color=(250, 1, 1)), "image/png")])
    for i in (keep, gone, solo):
        client.wait_indexed(i)
    assert len(blob_files(server.data)) == 2 and len(blob_files(server.data, "thumbnails")) == 3

    res = client.post("/delete_imgs", json=[gone, str(solo)]).json()
    assert res == {"code": "0000", "msg": "success", "data": None, "success": True, "failed": False}
    assert [it["id"] for it in client.list_page()["item"]] == [keep]
    # the shared original stays for `keep`; the solo one is gone; both deleted images' thumbnails too
    assert len(blob_files(server.data)) == 1 and len(blob_files(server.data, "thumbnails")) == 1
    assert db_rows(server.data, "SELECT count(*) FROM image_tags WHERE image_id IN (?, ?)", gone, solo) == [(0,)]
    assert db_rows(server.data, "SELECT count(*) FROM jobs WHERE subject_id IN (?, ?)", gone, solo) == [(0,)]
    assert client.get("/get_img_metadata", params={"id": gone}).json()["code"] == "0001"
    # again, and with unknown ids: still fine
    assert client.post("/delete_imgs", json=[gone, solo, 12345]).json()["code"] == "0000"
    # the last reference goes: so does the original
    assert client.post("/delete_imgs", json=[keep]).json()["code"] == "0000"
    assert blob_files(server.data) == [] and blob_files(server.data, "previews") == []
    # a deleted id never comes back
    (new,) = client.upload_ok([("k.jpg", shared_bytes, "image/jpeg")])
    assert new > max(keep, gone, solo)
    assert client.wait_indexed(new)["status"] == "PARSE"


def test_delete_is_scoped_to_namespace_and_account(account, shared_server):
    (in_work,) = account.upload_ok([("a.jpg", jpeg(), "image/jpeg")], {"unique_id": "work"})
    assert account.post("/delete_imgs", json=[in_work]).json()["code"] == "0000"  # namespace "default"
    assert account.metadata(in_work)["id"] == in_work
    other = shared_server.client(create_key(shared_server.data, f"thief-{time.time_ns()}"))
    assert other.post("/delete_imgs?unique_id=work", json=[in_work]).json()["code"] == "0000"
    assert account.metadata(in_work)["id"] == in_work
    assert account.post("/delete_imgs?unique_id=work", json=[in_work]).json()["code"] == "0000"
    assert account.get("/get_img_metadata", params={"id": in_work}).json()["code"] == "0001"


def test_delete_rejects_bad_bodies(account):
    cases = [
        (list(range(1, 102)), "body: at most 100 ids per request, got 101"),
        (["abc"], "body[0]: must be an image id"),
        ([1, True], "body[1]: must be an image id"),
        ([2**64], "body[0]: must be an image id"),
        ([-4], "body[0]: must be an image id"),
    ]
    for body, msg in cases:
        res = account.post("/delete_imgs", json=body).json()
        assert res["code"] == "0001" and res["msg"].startswith(msg), (body, res)
    assert account.post("/delete_imgs", json={"ids": [1]}).json()["code"] == "0001"


def test_deleting_the_last_copy_while_the_same_bytes_are_uploaded_keeps_the_new_upload(tmp_path):
    """Two servers on one library: one deletes the only image holding some bytes while the other takes a
    new upload of the same bytes. Whichever commits first, the acknowledged upload keeps its original."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import Server

    data = tmp_path / "data"
    key = create_key(data, "racer")
    servers = [Server(data, "--no-workers").start(), Server(data, "--no-workers").start()]
    try:
        deleter, uploader = (s.client(key) for s in servers)
        for round_no in range(25):
            content = jpeg(color=(round_no * 9 % 256, 40, 200))
            (old,) = uploader.upload_ok([("old.jpg", content, "image/jpeg")])
            with ThreadPoolExecutor(2) as pool:
                gone = pool.submit(deleter.post, "/delete_imgs", json=[old])
                new = pool.submit(uploader.upload_ok, [("new.jpg", content, "image/jpeg")])
                assert gone.result().json()["code"] == "0000"
                (fresh,) = new.result()
            meta = uploader.metadata(fresh)
            got = uploader.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]})
            assert got.status_code == 200 and got.content == content, round_no
    finally:
        for s in servers:
            s.stop()
