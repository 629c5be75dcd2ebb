"""A corpus of bad requests, over 200 distinct ones: each gets its exact code and stores nothing.

The rules themselves have their own tests (test_upload_img.py, test_search.py, ...); this corpus walks
the space around them: every control character in a name, every near-miss of a date, lying types,
polyglot and truncated files, bombs, malformed multipart, JSON type confusion, unknown enums.
"""

from __future__ import annotations

import struct
import zlib

import pytest
import requests

from conftest import create_key, jpeg

GOOD = jpeg()


def png_declaring(w: int, h: int) -> bytes:
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def gif_declaring(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00;"


def upload_case(files=None, data=None, raw=None, ctype=None):  # noqa: ANN001, ANN201
    return {"files": files if files is not None else [("files", ("a.jpg", GOOD, "image/jpeg"))], "data": data or {},
            "raw": raw, "ctype": ctype}


UPLOADS: dict[str, tuple[dict, str]] = {}
for ext in ["txt", "exe", "svg", "tiff", "tif", "heic", "ico", "pdf", "html", "js", "php", "jpg.exe", "png ", "jpe", "jfif",
            "jp2", "avif", "psd", "raw", "cr2", "mp4", "zip", "", "JPG.txt", "webm", "bm", "gi", "pn", "jpgx", "weird"]:
    UPLOADS[f"extension .{ext}"] = (upload_case(files=[("files", (f"photo.{ext}" if ext else "photo", GOOD, "image/jpeg"))]), "0001")
for ctype in ["text/plain", "application/octet-stream", "application/pdf", "video/mp4", "imag/jpeg", "img/jpeg",
              "application/x-msdownload", "multipart/mixed", "text/html", "audio/mpeg", "font/woff", "model/gltf+json"]:
    UPLOADS[f"part content-type {ctype}"] = (upload_case(files=[("files", ("a.jpg", GOOD, ctype))]), "0001")
BAD_BYTES = {
    "renamed exe": b"MZ\x90\x00" + b"\x00" * 500,
    "zip": b"PK\x03\x04" + b"\x00" * 200,
    "pdf": b"%PDF-1.7\n" + b"0" * 200,
    "html": b"<!doctype html><script>alert(1)</script>",
    "svg": b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
    "jpeg header only": b"\xff\xd8\xff",
    "png signature only": b"\x89PNG\r\n\x1a\n",
    "gif signature only": b"GIF89a",
    "bmp signature only": b"BM",
    "riff not webp": b"RIFF\x10\x00\x00\x00WAVEfmt ",
    "text": b"hello world, I am not a picture",
    "zeros": b"\x00" * 4096,
    "polyglot html with jpeg tail": b"<html>" + GOOD,
    "png bomb 100000x100000": png_declaring(100_000, 100_000),
    "png bomb 20000x20000": png_declaring(20_000, 20_000),
    "gif bomb 65535x65535": gif_declaring(65535, 65535),
}
for label, body in BAD_BYTES.items():
    UPLOADS[f"content: {label}"] = (upload_case(files=[("files", ("x.png", body, "image/png"))]), "0001")
UPLOADS["empty file"] = (upload_case(files=[("files", ("e.jpg", b"", "image/jpeg"))]), "0001")
for code in list(range(0, 32)) + [127]:
    # raw bytes: clients such as requests would escape CR and LF in a file name (%0D, %0A) before sending
    UPLOADS[f"control character {code:#04x} in file name"] = (upload_case(
        raw=(b"--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a" + bytes([code]) + b"b.jpg\"\r\n"
             b"Content-Type: image/jpeg\r\n\r\n" + GOOD + b"\r\n--B--\r\n"),
        ctype="multipart/form-data; boundary=B"), "0001")
# (a Windows path such as C:\x\a.jpg is not here: the multipart parser keeps its last part, as browsers mean)
for name in ["../a.jpg", "..\\a.jpg", "/etc/passwd.jpg", "a/b.jpg", "x" * 300 + ".jpg"]:
    UPLOADS[f"file name {name[:30]!r}"] = (upload_case(files=[("files", (name, GOOD, "image/jpeg"))]), "0001")
for code in list(range(0, 32)) + [127]:
    UPLOADS[f"control character {code:#04x} in unique_id"] = (upload_case(data={"unique_id": f"ns{chr(code)}x"}), "0001")
for ns in ["../x", "a/b", "a\\b", " lead", "trail ", "x" * 129, "\u200bzero-width"]:
    UPLOADS[f"unique_id {ns[:20]!r}"] = (upload_case(data={"unique_id": ns}), "0001")
for value in ["2025-9-7 22:52:00", "2025-09-07 22:52", "2025-09-07 22:52:60", "2025-09-07 25:00:00", "2025-00-10 00:00:00",
              "2025-02-29 00:00:00", "2025-04-31 00:00:00", "0000-01-01 00:00:00x", "2025-09-07T22:52:00Z", "09/07/2025",
              "1757285520000", "yesterday", "2025-09-07  22:52:00", " 2025-09-07 22:52:00", "２０２５-09-07 22:52:00",
              "2025-09-07 22:52:00+02:00", "2025-09-07\t22:52:00", "2025/09/07", "2025-09-07 22-52-00", "9999-99-99 99:99:99"]:
    UPLOADS[f"datetime_taken {value!r}"] = (upload_case(data={"datetime_taken": value}), "0001")
for lat, lon in [("91", "0"), ("-90.5", "0"), ("0", "181"), ("0", "-180.01"), ("nan", "0"), ("0", "NaN"), ("inf", "0"),
                 ("0", "-Infinity"), ("1e400", "0"), ("north", "east"), ("45°", "9"), ("0x10", "0"), ("", "10"), ("10", "")]:
    UPLOADS[f"latitude {lat!r} longitude {lon!r}"] = (upload_case(data={"latitude": lat, "longitude": lon}), "0001")
UPLOADS["camera_model of 201 characters"] = (upload_case(data={"camera_model": "x" * 201}), "0001")
UPLOADS["camera_model with a newline"] = (upload_case(data={"camera_model": "Canon\nEOS"}), "0001")
UPLOADS["51 tags"] = (upload_case(data={"tags": [f"t{i}" for i in range(51)]}), "0001")
UPLOADS["empty tag"] = (upload_case(data={"tags": ["ok", " "]}), "0001")
UPLOADS["tag of 101 characters"] = (upload_case(data={"tags": ["x" * 101]}), "0001")
UPLOADS["tag with a control character"] = (upload_case(data={"tags": ["a\x07b"]}), "0001")
UPLOADS["unique_id given twice"] = (upload_case(data={"unique_id": ["a", "b"]}), "0001")
UPLOADS["indexed field that is not a list"] = (upload_case(data={"camera_model[0]": "x"}), "0001")
UPLOADS["no files"] = (upload_case(files=[("unique_id", (None, "x"))]), "0001")
UPLOADS["files as a text field"] = (upload_case(files=[("files", (None, "not a file"))]), "0001")
UPLOADS["file under another field name"] = (upload_case(files=[("photo", ("a.jpg", GOOD, "image/jpeg"))]), "0001")
UPLOADS["over the batch cap"] = (upload_case(files=[("files", ("a.jpg", GOOD, "image/jpeg"))] * 11), "0001")
UPLOADS["good file beside a bad one"] = (upload_case(files=[("files", ("a.jpg", GOOD, "image/jpeg")),
                                                             ("files", ("b.txt", GOOD, "image/jpeg"))]), "0001")
UPLOADS["non-UTF-8 field"] = (upload_case(raw=(b"--B\r\nContent-Disposition: form-data; name=\"unique_id\"\r\n\r\n\xff\xfe\r\n"
                                               b"--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n"
                                               b"Content-Type: image/jpeg\r\n\r\n" + GOOD + b"\r\n--B--\r\n"),
                                          ctype="multipart/form-data; boundary=B"), "0001")
for label, raw, ctype in [
    ("no boundary", GOOD, "multipart/form-data"),
    ("json body", b'{"files": []}', "application/json"),
    ("urlencoded body", b"files=a.jpg", "application/x-www-form-urlencoded"),
    ("never closed", b"--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n" + GOOD, "multipart/form-data; boundary=B"),
    ("garbage", b"\x00\x01\x02" * 100, "multipart/form-data; boundary=B"),
    ("part without disposition", b"--B\r\nContent-Type: image/jpeg\r\n\r\nxx\r\n--B--\r\n", "multipart/form-data; boundary=B"),
    ("header flood", b"--B\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) + b"\r\nxx\r\n--B--\r\n", "multipart/form-data; boundary=B"),
    ("empty body", b"", "multipart/form-data; boundary=B"),
    ("field of 70 KB", b"--B\r\nContent-Disposition: form-data; name=\"camera_model\"\r\n\r\n" + b"x" * 70_000 + b"\r\n--B--\r\n", "multipart/form-data; boundary=B"),
]:
    UPLOADS[f"multipart: {label}"] = (upload_case(raw=raw, ctype=ctype), "0001")


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    from conftest import Server

    server = Server(tmp_path_factory.mktemp("corpus") / "data", "--no-workers", "--max-batch-files", "10").start()
    key = create_key(server.data, "corpus")
    yield server, key
    server.stop()


def count(server, key) -> int:  # noqa: ANN001
    body = requests.post(server.url("/img_list_page"), json={"page_size": 1, "unique_id": "default"},
                         headers={"Authorization": key}, timeout=10).json()
    total = body["data"]["total_count"]
    names = requests.get(server.url("/list_unique_ids"), headers={"Authorization": key}, timeout=10).json()["data"]["unique_ids"]
    return total * 1000 + len(names)


def test_the_corpus_is_large():
    assert len(UPLOADS) + len(JSON_CASES) >= 200, len(UPLOADS) + len(JSON_CASES)


@pytest.mark.parametrize("label", sorted(UPLOADS))
def test_bad_upload(victim, label):
    server, key = victim
    case, code = UPLOADS[label]
    before = count(server, key)
    headers = {"Authorization": key}
    if case["raw"] is not None:
        headers["Content-Type"] = case["ctype"]
        res = requests.post(server.url("/upload_img"), data=case["raw"], headers=headers, timeout=30)
    else:
        res = requests.post(server.url("/upload_img"), files=case["files"], data=case["data"], headers=headers, timeout=30)
    body = res.json()
    assert body["code"] == code and body["data"] is None and body["msg"], (label, body)
    assert ": " in body["msg"]  # names the field and the rule
    assert count(server, key) == before
    assert not any((server.data / "staging").iterdir())


JSON_CASES: dict[str, tuple[str, str, object, str]] = {}  # label -> (method path, query, body, code)
for name, value in [("page", "1"), ("page", 1.5), ("page", True), ("page", {"n": 1}), ("page", -1), ("page", [1]),
                    ("page_size", 0), ("page_size", 201), ("page_size", "20"), ("unique_id", 5), ("unique_id", ["a"]),
                    ("unique_id", "a/b"), ("tags", "x"), ("tags", [1, 2]), ("tag", 3), ("camera_tag", {"a": 1}),
                    ("datetime_from", "2025-13-01 00:00:00"), ("datetime_to", True), ("datetime_taken", 5),
                    ("sha256", "abc"), ("sha256", ["a"] * 201)]:
    JSON_CASES[f"img_list_page {name}={value!r}"] = ("/img_list_page", "", {name: value}, "0001")
JSON_CASES["img_list_page status=DONE"] = ("/img_list_page", "", {"status": "DONE"}, "0003")
JSON_CASES["img_list_page body is a list"] = ("/img_list_page", "", [1, 2], "0001")
for name, value in [("search_param", ""), ("search_param", 5), ("search_param", None), ("search_param", ["a"]),
                    ("top_k", 0), ("top_k", 1001), ("top_k", "10"), ("top_k", 2.5), ("top_k", True), ("page", 0),
                    ("page_size", 500), ("latitude", 91), ("latitude", "x"), ("longitude", 200), ("radius_km", -1),
                    ("radius_km", "far"), ("tags", "x"), ("tags", [None]), ("tag", 1), ("camera_tag", 1),
                    ("unique_id", 1), ("unique_id", "a\x00b"), ("datetime_taken", "now"), ("datetime_from", []),
                    ("datetime_to", {})]:
    body = {"search_param": "a leopard", "search_type": "BY_IMAGE", name: value}
    if name in ("latitude",):
        body["longitude"] = 10
    if name in ("longitude",):
        body["latitude"] = 10
    if name == "radius_km":
        body.update(latitude=10, longitude=10)
    if name == "search_param" and value is None:
        body.pop("search_param")
    JSON_CASES[f"search {name}={value!r}"] = ("/search", "", body, "0001")
for value in ["BY_PHOTO", "by_image", 5, "ALL ", ["BY_IMAGE"]]:
    JSON_CASES[f"search search_type={value!r}"] = ("/search", "", {"search_param": "x", "search_type": value}, "0003")
JSON_CASES["search filtering_level=extreme"] = ("/search", "", {"search_param": "x", "search_type": "BY_IMAGE", "filtering_level": "extreme"}, "0003")
JSON_CASES["search body is a string"] = ("/search", "", "a leopard", "0001")
for body in [{"ids": [1]}, ["abc"], [True], [1.5], [-1], [2**64], [None], [[1]], list(range(1, 102)), "1"]:
    JSON_CASES[f"delete_imgs {str(body)[:30]}"] = ("/delete_imgs", "", body, "0001")
JSON_CASES["delete_imgs bad unique_id"] = ("/delete_imgs", "?unique_id=a%2Fb", [1], "0001")


@pytest.mark.parametrize("label", sorted(JSON_CASES))
def test_bad_json_request(victim, label):
    server, key = victim
    path, query, body, code = JSON_CASES[label]
    before = count(server, key)
    res = requests.post(server.url(path + query), json=body, headers={"Authorization": key}, timeout=30)
    answer = res.json()
    assert answer["code"] == code and answer["data"] is None and answer["msg"], (label, answer)
    assert count(server, key) == before
