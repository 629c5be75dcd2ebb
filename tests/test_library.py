"""The library as one timeline (library_page, library_months) and the namespace sizes of list_unique_ids,
against a live server: photos with EXIF capture dates, dates given at upload, photos without either, and
real small videos, interleaved by when they were taken; paging, months, bad input, and account isolation."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import pytest
import requests
from PIL import Image

from conftest import EVAL, create_key, jpeg
from reverie.synthetic_video import make_video

NS = "trip"
ENVELOPE_KEYS = {"code", "msg", "data", "success", "failed"}


def exif_jpeg(taken: str, color=(20, 120, 200)) -> bytes:  # noqa: ANN001
    """A real JPEG whose EXIF DateTimeOriginal is `taken` (yyyy:MM:dd HH:mm:ss, as cameras write it)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken
    out = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(out, "JPEG", exif=exif)
    return out.getvalue()


def ms(utc: str) -> int:
    return int(datetime.strptime(utc, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)


def month_of(when_ms: int) -> str:
    return datetime.fromtimestamp(when_ms / 1000, timezone.utc).strftime("%Y-%m")


def post(client, path: str, body) -> dict:  # noqa: ANN001
    res = client.post(path, json=body)
    assert res.status_code == 200, res.text
    answer = res.json()
    assert answer.keys() == ENVELOPE_KEYS and answer["code"] == "0000", answer
    return answer["data"]


def timeline(client, unique_id: str = NS, page_size: int = 200) -> list[dict]:  # noqa: ANN001
    return post(client, "/library_page", {"unique_id": unique_id, "page": 1, "page_size": page_size})["item"]


def key_of(item: dict) -> str:
    return str(item["id"]) if item["kind"] == "image" else item["videoNo"]


def upload_video(client, path, unique_id: str, **fields) -> str:  # noqa: ANN001
    with open(path, "rb") as f:
        res = client.post("/upload", files={"file": (path.name, f, "video/mp4")}, data={"unique_id": unique_id, **fields}).json()
    assert res["code"] == "0000", res
    return res["data"]["videoNo"]


@pytest.fixture(scope="module")
def library(shared_server, tmp_path_factory):
    """One account's namespace, every item indexed: named by what the test expects of its place."""
    folder = tmp_path_factory.mktemp("library-media")
    leopard = Image.open(EVAL / "caltech101" / "Leopards" / "image_0001.jpg").convert("RGB")
    walk = make_video(folder / "walk.mp4", [(leopard, 2.0)])
    today = make_video(folder / "today.mp4", [(leopard.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 2.0)])
    client = shared_server.client(create_key(shared_server.data, f"photographer-{time.time_ns()}"))
    ids: dict[str, int | str] = {}
    ids["beach"], = client.upload_ok([("beach.jpg", exif_jpeg("2024:07:15 10:30:00"), "image/jpeg")], {"unique_id": NS})
    ids["old"], = client.upload_ok([("old.jpg", exif_jpeg("2023:01:10 08:00:00", (200, 20, 20)), "image/jpeg")], {"unique_id": NS})
    # One request, one capture time: four photos that tie on `when` (and on upload time, most likely).
    burst = client.upload_ok([(f"burst{i}.jpg", jpeg(color=(i * 40, 90, 90)), "image/jpeg") for i in range(4)],
                             {"unique_id": NS, "datetime_taken": "2024-07-31 23:30:00"})
    ids.update({f"burst{i}": v for i, v in enumerate(burst)})
    ids["dawn"], = client.upload_ok([("dawn.jpg", jpeg(color=(250, 200, 10)), "image/jpeg")],
                                    {"unique_id": NS, "datetime_taken": "2024-08-01 00:10:00"})
    ids["walk"] = upload_video(client, walk, NS, datetime_taken="2024-07-20 12:00:00")
    ids["undated"], = client.upload_ok([("undated.jpg", jpeg(color=(5, 5, 250)), "image/jpeg")], {"unique_id": NS})
    ids["today"] = upload_video(client, today, NS)
    ids["only"] = upload_video(client, walk, "only-clips")
    for name, i in ids.items():
        status = client.wait_video(i, timeout=300)["status"] if isinstance(i, str) else client.wait_indexed(i, timeout=300)["status"]
        assert status == "PARSE", (name, status)
    return client, ids


# Newest first: the two undated uploads (the video came last), the dates given at upload and the EXIF dates
# interleaved, the burst's ties by id, newest first.
ORDER = ["today", "undated", "dawn", "burst3", "burst2", "burst1", "burst0", "walk", "beach", "old"]


def test_photos_and_videos_together_newest_taken_first(library):
    client, ids = library
    page = post(client, "/library_page", {"unique_id": NS, "page": 1, "page_size": 200})
    assert page["current_page"] == 1 and page["page_size"] == 200 and page["total_count"] == len(ORDER)
    items = page["item"]
    assert [key_of(i) for i in items] == [str(ids[n]) for n in ORDER]
    by_name = dict(zip(ORDER, items))
    assert by_name["beach"]["when_ms"] == ms("2024-07-15 10:30:00") and by_name["beach"]["when_source"] == "taken"
    assert by_name["old"]["when_ms"] == ms("2023-01-10 08:00:00")
    assert by_name["walk"]["when_ms"] == ms("2024-07-20 12:00:00") and by_name["walk"]["when_source"] == "taken"
    for name in ("undated", "today"):
        assert by_name[name]["when_source"] == "uploaded" and by_name[name]["when_ms"] == by_name[name]["create_time"]
    assert [i["kind"] for i in items] == ["video" if isinstance(ids[n], str) else "image" for n in ORDER]


def test_a_photo_item_is_the_listing_item_and_a_video_item_has_its_keyframe(library):
    client, ids = library
    items = {key_of(i): i for i in timeline(client)}
    listed = {str(i["id"]): i for i in client.list_page(unique_id=NS, page_size=200)["item"]}
    assert len(listed) == 8

    def unsigned(item: dict) -> dict:  # signed URLs carry their expiry second
        return {k: v.split("?")[0] if k.endswith("_url") else v for k, v in item.items()}

    for key, item in listed.items():
        extra = {k: items[key].pop(k) for k in ("kind", "when_ms", "when_source")}
        assert extra["kind"] == "image" and unsigned(items[key]) == unsigned(item)
    photo = items[str(ids["beach"])]
    assert photo["status"] == "PARSE" and photo["datetime_taken"] == ms("2024-07-15 10:30:00")
    assert requests.get(photo["thumbnail_url"], timeout=30).content[:2] == b"\xff\xd8"
    video = items[ids["walk"]]
    assert video["videoName"] == "walk" and video["videoStatus"] == "PARSE" and video["unique_id"] == NS
    assert isinstance(video["duration"], float) and 1.5 <= video["duration"] <= 2.5
    assert isinstance(video["create_time"], int)
    frame = requests.get(video["thumbnail_url"], timeout=30)
    assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
    head = requests.get(video["video_url"], headers={"Range": "bytes=0-7"}, timeout=30)
    assert head.status_code == 206 and head.content[4:8] == b"ftyp"


@pytest.mark.parametrize("page_size", [1, 3, 4, 7])
def test_pages_cover_the_timeline_once(library, page_size):
    client, _ = library
    whole = [key_of(i) for i in timeline(client)]
    seen = []
    for page in range(1, len(whole) // page_size + 3):  # and a page past the end, which is empty
        data = post(client, "/library_page", {"unique_id": NS, "page": page, "page_size": page_size})
        assert data["total_count"] == len(whole) and len(data["item"]) <= page_size
        seen += [key_of(i) for i in data["item"]]
    assert seen == whole


def test_months_count_and_point_at_their_first_item(library):
    client, _ = library
    items = timeline(client)
    data = post(client, "/library_months", {"unique_id": NS})
    assert data["total_count"] == len(items)
    now_month = {month_of(i["when_ms"]) for i in items[:2]}  # the undated ones: this month (or two, at midnight)
    expected = sorted({month_of(i["when_ms"]) for i in items}, reverse=True)
    assert [m["month"] for m in data["months"]] == expected
    counts = {m["month"]: m["count"] for m in data["months"]}
    assert {k: v for k, v in counts.items() if k not in now_month} == {"2024-08": 1, "2024-07": 6, "2023-01": 1}
    assert sum(counts.values()) == len(items)
    for page_size in (2, 3, 60):
        for m in data["months"]:
            page = post(client, "/library_page", {"unique_id": NS, "page": m["offset"] // page_size + 1, "page_size": page_size})
            first = page["item"][m["offset"] % page_size]
            assert month_of(first["when_ms"]) == m["month"]
            assert m["offset"] == 0 or month_of(items[m["offset"] - 1]["when_ms"]) > m["month"]
    assert post(client, "/library_months", {"unique_id": "nothing-here"}) == {"total_count": 0, "months": []}


def test_namespace_sizes_include_a_namespace_of_videos_only(library):
    client, _ = library
    data = client.get("/list_unique_ids").json()["data"]
    assert data["unique_ids"] == ["only-clips", NS]
    assert data["namespaces"] == [{"unique_id": "only-clips", "images": 0, "videos": 1},
                                  {"unique_id": NS, "images": 8, "videos": 2}]
    only = timeline(client, "only-clips")
    assert [i["kind"] for i in only] == ["video"] and only[0]["when_source"] == "uploaded"


def test_another_account_sees_none_of_it(library, shared_server):
    client, ids = library
    other = shared_server.client(create_key(shared_server.data, f"neighbour-{time.time_ns()}"))
    assert post(other, "/library_page", {"unique_id": NS}) == {"current_page": 1, "page_size": 60, "total_count": 0, "item": []}
    assert post(other, "/library_months", {"unique_id": NS}) == {"total_count": 0, "months": []}
    assert other.get("/list_unique_ids").json()["data"] == {"unique_ids": [], "namespaces": []}
    mine, = other.upload_ok([("mine.jpg", jpeg(color=(1, 2, 3)), "image/jpeg")], {"unique_id": NS})
    assert [i["id"] for i in timeline(other)] == [mine]
    assert other.get("/list_unique_ids").json()["data"]["namespaces"] == [{"unique_id": NS, "images": 1, "videos": 0}]
    assert str(mine) not in {key_of(i) for i in timeline(client)} and len(timeline(client)) == len(ids) - 1


@pytest.mark.parametrize("path, body, rule", [
    ("/library_page", {"page": 0}, "page: "),
    ("/library_page", {"page_size": 201}, "page_size: "),
    ("/library_page", {"page_size": 0}, "page_size: "),
    ("/library_page", {"page": "2"}, "page: "),
    ("/library_page", {"page": True}, "page: "),
    ("/library_page", {"page_size": 1.5}, "page_size: "),
    ("/library_page", {"unique_id": 7}, "unique_id: "),
    ("/library_page", {"unique_id": "a/b"}, "unique_id: "),
    ("/library_page", [1, 2], "body"),
    ("/library_months", {"unique_id": ["trip"]}, "unique_id: "),
    ("/library_months", {"unique_id": "x" * 129}, "unique_id: "),
])
def test_bad_input_answers_the_envelope_naming_the_field(library, path, body, rule):
    client, _ = library
    answer = client.post(path, json=body).json()
    assert answer.keys() == ENVELOPE_KEYS and answer["code"] == "0001" and answer["data"] is None, answer
    assert answer["msg"].startswith(rule), answer


@pytest.mark.parametrize("path", ["/library_page", "/library_months"])
def test_a_body_that_is_not_json_answers_the_envelope(library, path):
    client, _ = library
    answer = client.post(path, data=b"{page: 1", headers={"Content-Type": "application/json"}).json()
    assert answer["code"] == "0001" and answer["msg"].startswith("body is not valid JSON"), answer
    answer = client.post(path, data=b"page=1", headers={"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert answer["code"] == "0001" and answer["msg"].startswith("body"), answer


def test_a_photo_is_listed_from_the_moment_its_upload_is_acknowledged(fresh_server):
    server = fresh_server("--no-workers")  # nothing indexes: the photo stays UNPARSE
    client = server.client(create_key(server.data, "quick"))
    taken_later = exif_jpeg("2019:05:05 05:05:05")
    photo, = client.upload_ok([("quick.jpg", taken_later, "image/jpeg")], {"unique_id": "fresh"})
    item, = timeline(client, "fresh")
    assert item["id"] == photo and item["kind"] == "image" and item["status"] == "UNPARSE"
    # its EXIF date is read by indexing; until then it is placed by its upload time
    assert item["when_source"] == "uploaded" and item["when_ms"] == item["create_time"] and "thumbnail_url" not in item
    assert client.get("/list_unique_ids").json()["data"]["namespaces"] == [{"unique_id": "fresh", "images": 1, "videos": 0}]
