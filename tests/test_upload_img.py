"""upload_img against the seed page: both of its examples, then one test per rule."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import pytest

from conftest import SHARED, blob_files, blob_store, create_key, db_rows, image_bytes, jpeg

SEED = (SHARED / "seed" / "000_9bac9f70e4c60919.txt").read_text()
MB = 1024 * 1024


def seed_block(start: str, end: str) -> str:
    i = SEED.index(start)
    j = SEED.index(end, i) + len(end)
    return SEED[i:j]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_example(account, tmp_path):
    """The page's curl command, with only the host and the doc's placeholders (<api-key>, <string>,
    example-file) filled in."""
    cmd = seed_block("curl --request POST", "--form files.items='@example-file'")
    cmd = cmd.replace("https://api.memories.ai", account.server.base)
    cmd = cmd.replace("<api-key>", account.session.headers["Authorization"])
    cmd = cmd.replace("files=<string>", "files=@photo1.jpg").replace("@example-file", "@photo2.png")
    (tmp_path / "photo1.jpg").write_bytes(jpeg())
    (tmp_path / "photo2.png").write_bytes(image_bytes("PNG"))
    out = subprocess.run(["bash", "-c", cmd + " --silent --show-error"], cwd=tmp_path, capture_output=True, text=True, check=True)
    import json

    body = json.loads(out.stdout)
    assert body["code"] == "0000" and body["success"] is True and body["failed"] is False, body
    assert len(body["data"]) == 2
    first, second = (account.wait_indexed(d["id"]) for d in body["data"])
    assert first["name"] == "photo1" and second["name"] == "photo2"
    for meta in (first, second):
        assert meta["unique_id"] == "default"
        assert meta["tags"] == ["test1", "test2", "api"]
        assert meta["camera_model"] == "Canon EOS 5D"
        assert meta["datetime_taken"] == 1757285520000  # 2025-09-07 22:52:00 read as UTC
        assert (meta["latitude"], meta["longitude"]) == (39.9042, 116.4074)


def test_seed_requests_example(account, tmp_path, monkeypatch):
    """The page's Python example, run as written except for the host and the key."""
    code = seed_block("import requests", "print(response.json())")
    code = code.replace("https://api.memories.ai", account.server.base)
    code = code.replace('"sk-mavi-..."', repr(account.session.headers["Authorization"]))
    (tmp_path / "photo1.jpg").write_bytes(jpeg())
    (tmp_path / "photo2.png").write_bytes(image_bytes("PNG"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "seed-example", "exec"), scope)
    body = scope["response"].json()
    assert body["code"] == "0000", body
    ids = [d["id"] for d in body["data"]]
    assert len(ids) == 2 and ids[0] < ids[1]
    metas = [account.wait_indexed(i) for i in ids]
    assert [m["file_name"] for m in metas] == ["photo1.jpg", "photo2.png"]
    assert metas[1]["format"] == "PNG"
    assert all(m["unique_id"] == "my-project" and m["tags"] == ["outdoor", "2025", "api"] for m in metas)
    assert "my-project" in account.get("/list_unique_ids").json()["data"]["unique_ids"]


def rejected(account, files, data=None, expect: str = "") -> str:  # noqa: ANN001
    """Upload, assert it was refused with 0001 and that nothing of it is stored; returns msg."""
    before = account.list_page(page_size=1)["total_count"]
    body = account.upload(files, data)
    assert body["code"] in ("0001", "0003"), body
    assert body["data"] is None and body["success"] is False and body["failed"] is True
    if expect:
        assert re.search(expect, body["msg"]), body["msg"]
    assert account.list_page(page_size=1)["total_count"] == before
    return body["msg"]


GOOD = ("ok.jpg", jpeg(), "image/jpeg")


@pytest.mark.parametrize("name", ["a.jpg", "b.JPEG", "c.Png", "d.gif", "e.BMP", "f.webp"])
def test_every_allowed_extension_in_any_case(account, name):
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "webp": "WEBP"}[name.split(".")[1].lower()]
    (image_id,) = account.upload_ok([(name, image_bytes(fmt), "image/" + fmt.lower())])
    meta = account.wait_indexed(image_id)
    assert meta["status"] == "PARSE" and meta["format"] == fmt and meta["width"] == 40


@pytest.mark.parametrize("name", ["photo.txt", "photo", "photo.jpg.exe", "photo.tiff", ".jpg.svg"])
def test_extension_outside_the_list_is_rejected(account, name):
    rejected(account, [(name, jpeg(), "image/jpeg")], expect=r"^files\[0\] \(.*\): extension must be one of")


@pytest.mark.parametrize("ctype", ["application/octet-stream", "text/plain", "", "imagex/jpeg"])
def test_part_content_type_must_start_with_image(account, ctype):
    rejected(account, [("a.jpg", jpeg(), ctype)], expect=r"^files\[0\] \(a\.jpg\): part Content-Type must start with image/")


def test_file_at_the_size_limit_is_accepted_and_one_byte_more_is_not(account):
    base = jpeg()
    at_limit = base + b"\0" * (20 * MB - len(base))  # JPEG decoders stop at the end-of-image marker
    (image_id,) = account.upload_ok([("big.jpg", at_limit, "image/jpeg")])
    assert account.metadata(image_id)["size"] == 20 * MB
    rejected(account, [("big.jpg", at_limit + b"\0", "image/jpeg")], expect=r"larger than the 20971520-byte limit")


def test_renamed_executable_is_rejected(account):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(range(256)) * 40
    rejected(account, [("setup.jpg", exe, "image/jpeg")], expect=r"not a JPEG, PNG, GIF, BMP or WebP image")


def test_random_bytes_are_rejected(account):
    noise = hashlib.sha512(b"seed").digest() * 500
    rejected(account, [("noise.png", noise, "image/png")], expect=r"checked from the bytes")


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM"])
def test_real_images_of_other_formats_are_rejected(account, fmt):
    rejected(account, [("x.jpg", image_bytes(fmt), "image/jpeg")], expect=r"not a JPEG, PNG, GIF, BMP or WebP")


def test_empty_file_is_rejected(account):
    rejected(account, [("empty.jpg", b"", "image/jpeg")], expect=r"files\[0\] \(empty\.jpg\): file is empty")


def test_declared_pixel_bomb_is_rejected_at_upload(account):
    import struct
    import zlib

    # A valid PNG header declaring 30000 x 30000 pixels (900 MP) with a few bytes of data.
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    rejected(account, [("bomb.png", bomb, "image/png")], expect=r"pixel|decompression bomb")


def test_batch_cap_names_the_cap(account):
    # The shared server runs with --max-batch-files 10.
    account.upload_ok([GOOD] * 10)
    rejected(account, [GOOD] * 11, expect=r"^files: at most 10 files per request")


def test_no_files_is_rejected(account):
    before = account.list_page(page_size=1)["total_count"]
    body = account.post("/upload_img", files=[("unique_id", (None, "default"))]).json()
    assert body["code"] == "0001" and body["msg"].startswith("files: at least one image file is required")
    assert account.list_page(page_size=1)["total_count"] == before


def test_files_sent_as_a_text_field_is_explained(account):
    body = account.post("/upload_img", files=[("files", (None, "not-a-file"))]).json()
    assert body["code"] == "0001" and "must be a file part with a filename" in body["msg"]


def test_one_bad_file_rejects_the_whole_batch_and_spends_no_id(account):
    data = account.server.data
    counter_before = db_rows(data, "SELECT value FROM counters WHERE name='image'")
    originals_before = len(blob_files(data))
    msg = rejected(account, [GOOD, ("bad.txt", jpeg(), "image/jpeg"), ("c.png", image_bytes("PNG"), "image/png")])
    assert msg.startswith("files[1] (bad.txt): extension")
    assert db_rows(data, "SELECT value FROM counters WHERE name='image'") == counter_before
    assert len(blob_files(data)) == originals_before
    assert not any((data / "staging").iterdir())


def test_one_bad_field_rejects_the_whole_batch(account):
    rejected(account, [GOOD, GOOD], {"latitude": "91", "longitude": "10"}, expect=r"^latitude: must be between -90 and 90")


def test_ids_come_back_in_upload_order(account):
    names = [f"p{i}.jpg" for i in range(5)]
    ids = account.upload_ok([(n, jpeg(color=(i * 40, 0, 0)), "image/jpeg") for i, n in enumerate(names)])
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(isinstance(i, int) and 0 < i < 2**63 for i in ids)
    assert [account.metadata(i)["file_name"] for i in ids] == names


@pytest.mark.parametrize(
    "value", ["2025-09-07T22:52:00", "2025/09/07 22:52:00", "2025-13-01 00:00:00", "2025-02-30 10:00:00",
              "2025-09-07 24:00:00", "2025-09-07", "07-09-2025 22:52:00", "2025-09-07 22:52:00.123", "now"]
)
def test_invalid_datetime_taken_is_rejected(account, value):
    rejected(account, [GOOD], {"datetime_taken": value}, expect=r"^datetime_taken: (must be yyyy-MM-dd HH:mm:ss|not a real date)")


def test_valid_datetime_taken_is_stored_as_ms_epoch(account):
    (image_id,) = account.upload_ok([GOOD], {"datetime_taken": "2024-02-29 23:59:59"})
    assert account.metadata(image_id)["datetime_taken"] == 1709251199000


def test_camera_model_length(account):
    (image_id,) = account.upload_ok([GOOD], {"camera_model": "C" * 200})
    assert account.metadata(image_id)["camera_model"] == "C" * 200
    rejected(account, [GOOD], {"camera_model": "C" * 201}, expect=r"^camera_model: at most 200 characters, got 201")


@pytest.mark.parametrize(
    "lat,lon,expect",
    [
        ("90.0001", "0", r"^latitude: must be between -90 and 90"),
        ("-91", "0", r"^latitude: must be between -90 and 90"),
        ("0", "180.5", r"^longitude: must be between -180 and 180"),
        ("north", "10", r"^latitude: must be a number"),
        ("NaN", "10", r"^latitude: must be a finite number"),
        ("10", "inf", r"^longitude: must be a finite number"),
        ("10", None, r"^longitude: latitude and longitude must be given together"),
    ],
)
def test_coordinates_must_be_numbers_in_range(account, lat, lon, expect):
    data = {"latitude": lat}
    if lon is not None:
        data["longitude"] = lon
    rejected(account, [GOOD], data, expect=expect)


def test_coordinates_at_the_edges_are_accepted(account):
    (image_id,) = account.upload_ok([GOOD], {"latitude": "-90", "longitude": "180"})
    meta = account.metadata(image_id)
    assert (meta["latitude"], meta["longitude"]) == (-90.0, 180.0)


def test_fifty_tags_are_accepted_and_api_is_appended(account):
    tags = [f"t{i}" for i in range(50)]
    (image_id,) = account.upload_ok([GOOD], {"tags": tags})
    assert account.metadata(image_id)["tags"] == tags + ["api"]


def test_fifty_one_tags_are_rejected(account):
    rejected(account, [GOOD], {"tags": [f"t{i}" for i in range(51)]}, expect=r"^tags: at most 50 tags, got 51")


def test_indexed_tags_spelling_keeps_index_order(account):
    form = [("tags[1]", "second"), ("tags[0]", "first"), ("tags[2]", "api")]
    body = account.post("/upload_img", files=[("files", GOOD), *[(k, (None, v)) for k, v in form]]).json()
    assert body["code"] == "0000", body
    assert account.metadata(body["data"][0]["id"])["tags"] == ["first", "second", "api"]


def test_repeated_tags_are_deduplicated(account):
    (image_id,) = account.upload_ok([GOOD], {"tags": ["sea", "sea", "sun"]})
    assert account.metadata(image_id)["tags"] == ["sea", "sun", "api"]


@pytest.mark.parametrize("value", ["../etc", "a/b", "tab\there", "nul\x00", " padded", "x" * 129])
def test_bad_unique_id_is_rejected(account, value):
    rejected(account, [GOOD], {"unique_id": value}, expect=r"^unique_id: ")


def test_filename_with_path_or_control_characters_is_rejected(account):
    rejected(account, [("../../evil.jpg", jpeg(), "image/jpeg")], expect=r"^files\[0\]: file name must not contain")
    rejected(account, [("bell\x07.jpg", jpeg(), "image/jpeg")], expect=r"^files\[0\]: file name must not contain")


def test_not_multipart_is_rejected(account):
    body = account.post("/upload_img", json={"files": []}).json()
    assert body["code"] == "0001" and body["msg"].startswith("Content-Type: must be multipart/form-data")


def test_truncated_multipart_body_is_rejected(account):
    boundary = "XyZ"
    raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n"
           "Content-Type: image/jpeg\r\n\r\n").encode() + jpeg()  # never closed
    before = account.list_page(page_size=1)["total_count"]
    body = account.post("/upload_img", data=raw, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}).json()
    assert body["code"] == "0001" and body["msg"].startswith("multipart: body ended before the closing boundary")
    assert account.list_page(page_size=1)["total_count"] == before


def test_same_bytes_twice_get_two_ids_and_one_stored_blob(fresh_server, tmp_path):
    server = fresh_server()
    client = server.client(create_key(server.data, "dup"))
    content = jpeg(color=(1, 2, 3))
    first = client.upload_ok([("a.jpg", content, "image/jpeg")])
    second = client.upload_ok([("b.jpg", content, "image/jpeg"), ("c.jpg", content, "image/jpeg")])
    assert len(set(first + second)) == 3
    stored = blob_files(server.data)
    with blob_store(server.data).open(str(stored[0])) as f:
        assert len(stored) == 1 and f.read() == content
    assert stored[0].name == hashlib.sha256(content).hexdigest()


def test_folder_id_is_accepted_and_ignored(account):
    (image_id,) = account.upload_ok([GOOD], {"folder_id": "-1"})
    assert account.metadata(image_id)["unique_id"] == "default"


def _peak_rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def test_upload_bodies_are_streamed_not_held_in_memory(fresh_server):
    """190 MB in one request must not raise the server's peak memory by anything like 190 MB."""
    server = fresh_server("--no-workers", "--max-batch-files", "10")
    client = server.client(create_key(server.data, "streamer"))
    client.upload_ok([GOOD])  # warm every code path first
    before = _peak_rss_kb(server.proc.pid)
    big = jpeg() + b"\0" * (19 * MB)
    ids = client.upload_ok([(f"big{i}.jpg", big, "image/jpeg") for i in range(10)])
    assert len(ids) == 10
    grown_mb = (_peak_rss_kb(server.proc.pid) - before) / 1024
    assert grown_mb < 60, f"peak RSS grew by {grown_mb:.0f} MB for a 190 MB upload"
