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

from conftest import EVAL, create_key, jpeg
from reverie.synthetic_video import make_video

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


def _good_video() -> bytes:
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        path = make_video(Path(d) / "v.mp4", [(Image.open(EVAL / "caltech101" / "Leopards" / "image_0001.jpg"), 1.0)],
                          size=(160, 120))
        return path.read_bytes()


VIDEO = _good_video()


def video_case(files=None, data=None, raw=None, ctype=None):  # noqa: ANN001, ANN201
    return {"files": files if files is not None else [("file", ("v.mp4", VIDEO, "video/mp4"))], "data": data or {},
            "raw": raw, "ctype": ctype}


VIDEO_UPLOADS: dict[str, tuple[dict, str]] = {}
for ext in ["txt", "exe", "webm", "flv", "wmv", "mp3", "gif", "", "mp4.exe", "mov ", "m4v", "3gp", "ts", "mpg"]:
    VIDEO_UPLOADS[f"video extension .{ext}"] = (video_case(files=[("file", (f"v.{ext}" if ext else "v", VIDEO, "video/mp4"))]), "0001")
for ctype in ["image/jpeg", "text/plain", "audio/mpeg", "vide/mp4", "application/mp4"]:
    VIDEO_UPLOADS[f"video part content-type {ctype}"] = (video_case(files=[("file", ("v.mp4", VIDEO, ctype))]), "0001")
# application/octet-stream (what curl sends) is let through to the container check, which these bytes fail
VIDEO_UPLOADS["octet-stream that is not a video"] = (
    video_case(files=[("file", ("v.mp4", b"just some words" * 10, "application/octet-stream"))]), "0001")
for label, body in {"renamed exe": b"MZ\x90\x00" + b"\x00" * 500, "zip": b"PK\x03\x04" + b"\x00" * 200, "jpeg": GOOD,
                    "riff wave": b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 100, "text": b"just some words" * 10,
                    "zeros": b"\x00" * 4096, "html polyglot": b"<html>" + VIDEO, "mp3": b"ID3\x04\x00" + b"\x00" * 300,
                    "ebml header cut": b"\x1a\x45", "riff avi cut": b"RIFF\x00\x00"}.items():
    VIDEO_UPLOADS[f"video content: {label}"] = (video_case(files=[("file", ("v.mp4", body, "video/mp4"))]), "0001")
VIDEO_UPLOADS["video empty file"] = (video_case(files=[("file", ("v.mp4", b"", "video/mp4"))]), "0001")
VIDEO_UPLOADS["video two files"] = (video_case(files=[("file", ("a.mp4", VIDEO, "video/mp4")), ("file", ("b.mp4", VIDEO, "video/mp4"))]), "0001")
VIDEO_UPLOADS["video under files"] = (video_case(files=[("files", ("a.mp4", VIDEO, "video/mp4"))]), "0001")
VIDEO_UPLOADS["video no file"] = (video_case(files=[("unique_id", (None, "x"))]), "0001")
for name in ["../v.mp4", "a/b.mp4", "x" * 300 + ".mp4", "v\x07.mp4"]:
    VIDEO_UPLOADS[f"video file name {name[:20]!r}"] = (video_case(files=[("file", (name, VIDEO, "video/mp4"))]), "0001")
for field, value in [("tags", [f"t{i}" for i in range(21)]), ("tags", ["ok", " "]), ("datetime_taken", "2025-02-30 00:00:00"),
                     ("datetime_taken", "yesterday"), ("camera_model", "x" * 201), ("unique_id", "a/b"), ("unique_id", "x" * 129),
                     ("callback", "ftp://example.com/hook"), ("callback", "javascript:alert(1)"), ("callback", "http://"),
                     ("callback", "http://example.com/" + "a" * 290), ("callback", "http://exa mple.com/"), ("callback", "example.com/hook"),
                     ("retain_original_video", "maybe"), ("retain_original_video", "2"), ("video_transcription_prompt", "x" * 1001),
                     ("video_transcription_prompt", "names:\x00")]:
    VIDEO_UPLOADS[f"video {field}={str(value)[:24]!r}"] = (video_case(data={field: value}), "0001")
for lat, lon in [("91", "0"), ("nan", "0"), ("0", "inf"), ("", "10"), ("north", "east")]:
    VIDEO_UPLOADS[f"video latitude {lat!r} longitude {lon!r}"] = (video_case(data={"latitude": lat, "longitude": lon}), "0001")
for label, raw, ctype in [
    ("json body", b'{"file": "v.mp4"}', "application/json"),
    ("never closed", b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n\r\n" + VIDEO, "multipart/form-data; boundary=B"),
    ("garbage", b"\x00\x01\x02" * 100, "multipart/form-data; boundary=B"),
    ("empty body", b"", "multipart/form-data; boundary=B"),
]:
    VIDEO_UPLOADS[f"video multipart: {label}"] = (video_case(raw=raw, ctype=ctype), "0001")


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    from conftest import Server

    # Rate limits off: the corpus fires hundreds of requests a second at one account (test_rate_limits.py
    # covers the limiter).
    server = Server(tmp_path_factory.mktemp("corpus") / "data", "--no-workers", "--max-batch-files", "10",
                    "--rate-limits", "off").start()
    key = create_key(server.data, "corpus")
    yield server, key
    server.stop()


def count(server, key) -> int:  # noqa: ANN001
    body = requests.post(server.url("/img_list_page"), json={"page_size": 1, "unique_id": "default"},
                         headers={"Authorization": key}, timeout=10).json()
    total = body["data"]["total_count"]
    names = requests.get(server.url("/list_unique_ids"), headers={"Authorization": key}, timeout=10).json()["data"]["unique_ids"]
    videos = requests.post(server.url("/list_videos"), json={"size": 1}, headers={"Authorization": key}, timeout=10).json()
    return total * 1_000_000 + videos["data"]["total_count"] * 1000 + len(names)


def test_the_corpus_is_large():
    total = len(UPLOADS) + len(JSON_CASES) + len(VIDEO_UPLOADS) + len(GET_CASES)
    assert total >= 200, total


@pytest.mark.parametrize("label", sorted(VIDEO_UPLOADS))
def test_bad_video_upload(victim, label):
    server, key = victim
    case, code = VIDEO_UPLOADS[label]
    before = count(server, key)
    headers = {"Authorization": key}
    if case["raw"] is not None:
        headers["Content-Type"] = case["ctype"]
        res = requests.post(server.url("/upload"), data=case["raw"], headers=headers, timeout=30)
    else:
        res = requests.post(server.url("/upload"), files=case["files"], data=case["data"], headers=headers, timeout=30)
    body = res.json()
    assert body["code"] == code and body["data"] is None and ": " in body["msg"], (label, body)
    assert count(server, key) == before
    assert not any((server.data / "staging").iterdir())
    assert not (server.data / "blobs" / "videos").exists() or not any((server.data / "blobs" / "videos").iterdir())


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
                    ("sha256", "abc"), ("sha256", ["a"] * 201), ("tag", "a\x00b"), ("tags", ["ok", "\x07"]),
                    ("camera_tag", "Sony\x00")]:
    JSON_CASES[f"img_list_page {name}={value!r}"] = ("/img_list_page", "", {name: value}, "0001")
JSON_CASES["img_list_page status=DONE"] = ("/img_list_page", "", {"status": "DONE"}, "0003")
JSON_CASES["img_list_page body is a list"] = ("/img_list_page", "", [1, 2], "0001")
for name, value in [("search_param", ""), ("search_param", 5), ("search_param", None), ("search_param", ["a"]),
                    ("top_k", 0), ("top_k", 1001), ("top_k", "10"), ("top_k", 2.5), ("top_k", True), ("page", 0),
                    ("page_size", 500), ("latitude", 91), ("latitude", "x"), ("longitude", 200), ("radius_km", -1),
                    ("radius_km", "far"), ("tags", "x"), ("tags", [None]), ("tag", 1), ("camera_tag", 1),
                    ("unique_id", 1), ("unique_id", "a\x00b"), ("tag", "a\x00b"), ("tags", ["\x00"]),
                    ("datetime_taken", "now"), ("datetime_from", []),
                    ("datetime_to", {}), ("search_param", "a \ud800 leopard"), ("tag", "\udfff")]:
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


for name, value in [("page", 0), ("size", "x"), ("size", 0), ("video_nos", "VI1"), ("video_nos", [1]), ("unique_id", 7),
                    ("datetime_taken", "now"), ("latitude", 10), ("video_name", 5), ("tag", ["a"]),
                    ("video_name", "talk\x00"), ("camera_model", "\x1b[31m")]:
    JSON_CASES[f"list_videos {name}={value!r}"] = ("/list_videos", "", {name: value}, "0001")
JSON_CASES["list_videos status=DONE"] = ("/list_videos", "", {"status": "DONE"}, "0003")
for body in [{"video_nos": ["VI1"]}, [1], [None], ["VI1"] * 101, "VI1"]:
    JSON_CASES[f"delete_videos {str(body)[:30]}"] = ("/delete_videos", "", body, "0001")
JSON_CASES["delete_videos bad unique_id"] = ("/delete_videos", "?unique_id=a%2Fb", ["VI1"], "0001")
for body in [["VI1"], {"video_no": 5}, {"video_no": ""}, "VI1"]:
    JSON_CASES[f"download {str(body)[:30]}"] = ("/download", "", body, "0001")
for kind in ["BY_CLIP", "BY_AUDIO", "BY_CAPTION"]:
    for value in ["VI1", [1], ["VI1"] * 101]:
        JSON_CASES[f"search {kind} video_nos={str(value)[:20]}"] = ("/search", "", {"search_param": "x", "search_type": kind, "video_nos": value}, "0001")
for name, value in [("page", "1"), ("page", 0), ("page_size", 201), ("page_size", True), ("unique_id", 5),
                    ("unique_id", "a/b")]:
    JSON_CASES[f"list_people {name}={value!r}"] = ("/list_people", "", {name: value}, "0001")
JSON_CASES["list_people body is a list"] = ("/list_people", "", ["PE1"], "0001")
for body in [{"person_id": "PE1"}, {"person_id": "PE1", "name": 5}, {"person_id": 1, "name": "A"},
             {"person_id": "PE", "name": "A"}, {"person_id": "PE1x", "name": "A"}, {"person_id": "PE1", "name": "A\x00"},
             {"person_id": "PE1", "name": "x" * 101}, {"person_id": "PE99999999", "name": "A"}, "PE1", None,
             {"person_id": "PE1", "name": "An\ud800na"}, {"person_id": "PE018101568813400943", "name": "A"},
             {"person_id": "PE2147483648", "name": "A"}]:
    JSON_CASES[f"name_person {str(body)[:40]}"] = ("/name_person", "", body, "0001")
for body in [{"person_ids": "PE1", "into": "PE1"}, {"person_ids": [], "into": "PE1"}, {"person_ids": ["PE1"]},
             {"person_ids": ["PE1"] * 101, "into": "PE1"}, {"person_ids": [1], "into": "PE1"}, ["PE1"],
             {"person_ids": ["PE12"], "into": "PE018101568813400943"}]:
    JSON_CASES[f"merge_people {str(body)[:40]}"] = ("/merge_people", "", body, "0001")
for body in [{}, {"face_id": 1}, {"face_id": "FA"}, {"face_id": "PE1"}, {"face_id": "FA99999999"}, "FA1",
             {"face_id": "FA99999999999"}, {"face_id": "FA0"}]:
    JSON_CASES[f"remove_face {str(body)[:40]}"] = ("/remove_face", "", body, "0001")
for value in ["PE1", [1], ["PE1"] * 101, ["FA1"], [None], ["PE9223372036854775808"]]:
    JSON_CASES[f"search person_ids={str(value)[:20]}"] = ("/search", "", {"search_param": "x", "search_type": "BY_IMAGE", "person_ids": value}, "0001")

@pytest.mark.parametrize("label", sorted(JSON_CASES))
def test_bad_json_request(victim, label):
    server, key = victim
    path, query, body, code = JSON_CASES[label]
    before = count(server, key)
    res = requests.post(server.url(path + query), json=body, headers={"Authorization": key}, timeout=30)
    answer = res.json()
    assert answer["code"] == code and answer["data"] is None and answer["msg"], (label, answer)
    assert count(server, key) == before


GET_CASES: dict[str, tuple[str, dict, str]] = {
    "search_audio_transcripts without query": ("/search_audio_transcripts", {}, "0001"),
    "search_audio_transcripts blank query": ("/search_audio_transcripts", {"query": "  "}, "0001"),
    "search_audio_transcripts NUL in query": ("/search_audio_transcripts", {"query": "to be\x00 or not"}, "0001"),
    "search_audio_transcripts page 0": ("/search_audio_transcripts", {"query": "x", "page": 0}, "0001"),
    "search_audio_transcripts page_size 501": ("/search_audio_transcripts", {"query": "x", "page_size": 501}, "0001"),
    "search_audio_transcripts page_size x": ("/search_audio_transcripts", {"query": "x", "page_size": "x"}, "0001"),
    "search_audio_transcripts bad unique_id": ("/search_audio_transcripts", {"query": "x", "unique_id": "a/b"}, "0001"),
    "get_metadata without video_no": ("/get_metadata", {}, "0001"),
    "get_audio_transcription without video_no": ("/get_audio_transcription", {}, "0001"),
    "get_video_caption without video_no": ("/get_video_caption", {}, "0001"),
}


@pytest.mark.parametrize("label", sorted(GET_CASES))
def test_bad_get_request(victim, label):
    server, key = victim
    path, params, code = GET_CASES[label]
    res = requests.get(server.url(path), params=params, headers={"Authorization": key}, timeout=30).json()
    assert res["code"] == code and res["data"] is None and res["msg"], (label, res)
