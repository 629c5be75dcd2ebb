"""The S3 blob backend against a real S3 server (SeaweedFS on a loopback port): every BlobStore method on both
backends, the blob_url forms that are refused, and a `reverie serve` whose blobs live in the bucket only:
images and videos uploaded, indexed, downloaded (with byte ranges, as a video player seeks) and deleted."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from conftest import Server, create_key, jpeg, reverie
from reverie.devstack import SeaweedS3
from reverie.store.blob_stores import open_blob_store
from reverie.store.blobs import CHUNK, FileBlobStore
from reverie.store.s3_blobs import MB, S3BlobStore, parse_blob_url
from reverie.synthetic_video import make_video

BUCKET = "reverie-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    yield server
    server.stop()


@pytest.fixture(params=["file", "s3"])
def blobs(request, tmp_path, s3):
    """Each backend, empty: the S3 one under a prefix of its own in a shared bucket."""
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    return S3BlobStore.from_url(s3.blob_url(BUCKET, f"t{time.time_ns()}"))


def staged(folder: Path, data: bytes, name: str = "staged") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_put_read_and_ranges(blobs):
    data = os.urandom(2 * CHUNK + 12345)
    blobs.put_bytes("originals/ab/cd/abcd", data)
    assert blobs.exists("originals/ab/cd/abcd") and blobs.size("originals/ab/cd/abcd") == len(data)
    assert abs(blobs.modified("originals/ab/cd/abcd") - time.time()) < 60
    with blobs.open("originals/ab/cd/abcd") as f:
        assert f.read(10) == data[:10] and f.read() == data[10:]
    assert [len(c) for c in blobs.open("originals/ab/cd/abcd")] == [CHUNK, CHUNK, 12345]
    assert b"".join(blobs.open("originals/ab/cd/abcd")) == data
    for start, end in ((0, 0), (0, 7), (CHUNK - 3, CHUNK + 3), (len(data) - 1, len(data) - 1), (0, len(data) - 1)):
        with blobs.open_range("originals/ab/cd/abcd", start, end) as f:
            assert f.read() == data[start:end + 1], (start, end)
    assert b"".join(blobs.open_range("originals/ab/cd/abcd", 5, CHUNK + 5)) == data[5:CHUNK + 6]
    blobs.put_bytes("originals/ab/cd/abcd", b"replaced")
    assert blobs.open("originals/ab/cd/abcd").read() == b"replaced"


def test_missing_keys(blobs, tmp_path):
    assert not blobs.exists("thumbnails/00/1.jpg")
    for call in (blobs.size, blobs.modified, blobs.open, lambda k: blobs.open_range(k, 0, 1),
                 lambda k: blobs.fetch_to(k, tmp_path / "copy")):
        with pytest.raises(FileNotFoundError):
            call("thumbnails/00/1.jpg")
    assert not (tmp_path / "copy").exists()
    blobs.delete("thumbnails/00/1.jpg")  # idempotent
    assert blobs.move("thumbnails/00/1.jpg", "trash/1") is False
    assert blobs.keys("thumbnails") == [] and blobs.keys("trash") == []
    for bad in ("", "/etc/passwd", "originals/../../x", "a\x00b"):
        with pytest.raises(ValueError):
            blobs.exists(bad)


def test_adopt_takes_a_staged_file_once(blobs, tmp_path):
    first = staged(tmp_path, b"first bytes", "one")
    assert blobs.adopt("videos/7.mp4", first) is True
    assert not first.exists()
    second = staged(tmp_path, b"other bytes", "two")
    assert blobs.adopt("videos/7.mp4", second) is False
    assert second.read_bytes() == b"other bytes"  # left for the caller
    assert blobs.open("videos/7.mp4").read() == b"first bytes"


def test_keys_list_one_folder_relative_to_the_store(blobs):
    wanted = {f"keyframes/1/keyframe-{i:09d}.jpg" for i in range(3)}
    for key in wanted | {"keyframes/12/keyframe-000000000.jpg", "keyframesX/1", "thumbnails/01/1.jpg"}:
        blobs.put_bytes(key, b"x")
    assert set(blobs.keys("keyframes/1")) == set(blobs.keys("keyframes/1/")) == wanted
    assert len(blobs.keys("keyframes")) == 4
    assert blobs.keys("keyframes/2") == []


def test_move_delete_and_fetch_to(blobs, tmp_path):
    blobs.put_bytes("originals/aa/bb/aabb", b"content")
    assert blobs.move("originals/aa/bb/aabb", "trash/aabb.1234") is True
    assert not blobs.exists("originals/aa/bb/aabb") and blobs.open("trash/aabb.1234").read() == b"content"
    blobs.fetch_to("trash/aabb.1234", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"content"
    blobs.delete("trash/aabb.1234")
    blobs.delete("trash/aabb.1234")
    assert not blobs.exists("trash/aabb.1234") and blobs.keys("trash") == []


def test_only_the_file_backend_has_local_paths(blobs):
    blobs.put_bytes("previews/01/1.jpg", b"jpeg")
    path = blobs.local_path("previews/01/1.jpg")
    if isinstance(blobs, FileBlobStore):
        assert path.read_bytes() == b"jpeg"
    else:
        assert path is None


def test_a_large_file_goes_up_and_is_copied_in_parts(s3, tmp_path):
    blobs = S3BlobStore.from_url(s3.blob_url(BUCKET, f"big{time.time_ns()}"), part_size=16 * MB)
    big = tmp_path / "big"
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(70):
            block = os.urandom(MB)
            digest.update(block)
            f.write(block)
    tail = big.read_bytes()[-(MB + 10):]
    assert blobs.adopt("videos/1.mp4", big) and not big.exists()
    head = s3.client().head_object(Bucket=BUCKET, Key=f"{blobs.prefix}/videos/1.mp4")
    assert head["ETag"].strip('"').endswith("-5")  # 70 MB in 16 MB parts: a multipart upload
    assert blobs.size("videos/1.mp4") == 70 * MB
    assert blobs.open_range("videos/1.mp4", 70 * MB - MB - 10, 70 * MB - 1).read() == tail
    assert blobs.move("videos/1.mp4", "videos/2.mp4")
    assert not blobs.exists("videos/1.mp4")
    blobs.fetch_to("videos/2.mp4", tmp_path / "back")
    with open(tmp_path / "back", "rb") as f:
        assert hashlib.file_digest(f, "sha256").digest() == digest.digest()


def test_keys_pages_past_a_thousand(s3):
    blobs = S3BlobStore.from_url(s3.blob_url(BUCKET, f"many{time.time_ns()}"))
    wanted = {f"thumbnails/{i % 256:02x}/{i}.jpg" for i in range(1100)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: blobs.put_bytes(k, b"t"), wanted))
    assert len(blobs.keys("thumbnails")) == 1100 and set(blobs.keys("thumbnails")) == wanted


def test_blob_url_forms(s3, tmp_path):
    assert isinstance(open_blob_store("", tmp_path / "blobs"), FileBlobStore)
    store = open_blob_store(s3.blob_url("reverie-made-at-start", "a/b/"), tmp_path / "unused")
    assert isinstance(store, S3BlobStore) and store.bucket == "reverie-made-at-start" and store.prefix == "a/b"
    store.put_bytes("x/y", b"1")
    assert s3.client().get_object(Bucket="reverie-made-at-start", Key="a/b/x/y")["Body"].read() == b"1"
    again = open_blob_store(s3.blob_url("reverie-made-at-start"), tmp_path / "unused")  # the bucket exists now
    assert again.keys("a") == ["a/b/x/y"]
    assert not (tmp_path / "unused").exists()
    bad = {
        "file:///srv/blobs": "blob_url must be empty",
        "/srv/blobs": "blob_url must be empty",
        "s3:///prefix-without-bucket": "s3://BUCKET",
        f"{s3.blob_url('b')}&endpont=http://x": "unknown parameter(s) endpont",
        f"{s3.blob_url('b')}&region=a&region=b": "region given more than once",
        f"s3://b?endpoint={s3.endpoint}&key=k": "key and secret go together",
        "s3://b?secret=hunter2": "key and secret go together",
    }
    assert parse_blob_url("s3://photos/a/b?endpoint=https://s3.example:9000&region=eu-west-3&key=AK&secret=x+y/z%26w") == {
        "bucket": "photos", "prefix": "a/b", "endpoint": "https://s3.example:9000", "region": "eu-west-3",
        "key": "AK", "secret": "x+y/z&w"}
    assert parse_blob_url("s3://photos?region=") == {"bucket": "photos", "prefix": ""}
    for url, message in bad.items():
        with pytest.raises(ValueError, match=re.escape(message)) as err:
            open_blob_store(url, tmp_path / "unused")
        assert "hunter2" not in str(err.value)


def test_the_server_refuses_to_start_on_a_bad_blob_url(tmp_path):
    out = reverie("keys", "create", "--name", "x", "--data", str(tmp_path / "data"),
                  env={"REVERIE_BLOB_URL": "gs://bucket"}, check=False)
    assert out.returncode != 0 and "blob_url must be empty" in out.stderr


@pytest.fixture(scope="module")
def served(s3, tmp_path_factory):
    """`reverie serve` on SQLite, with every blob in the bucket under the prefix `srv`."""
    data = tmp_path_factory.mktemp("s3-served") / "data"
    key = create_key(data, "cloudy")
    server = Server(data, "--workers", "1", env={"REVERIE_BLOB_URL": s3.blob_url(BUCKET, "srv")}).start()
    yield server, server.client(key)
    server.stop()


def bucket_keys(s3: SeaweedS3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"srv/{prefix}").get("Contents", [])]


def test_images_live_in_the_bucket_end_to_end(s3, served):
    server, client = served
    content = jpeg(color=(20, 160, 90))
    (image_id,) = client.upload_ok([("green.jpg", content, "image/jpeg")])
    meta = client.wait_indexed(image_id)
    assert meta["status"] == "PARSE", meta
    sha = hashlib.sha256(content).hexdigest()
    original = f"srv/originals/{sha[:2]}/{sha[2:4]}/{sha}"
    assert s3.client().head_object(Bucket=BUCKET, Key=original)["ContentLength"] == len(content)
    assert bucket_keys(s3, "thumbnails") and not bucket_keys(s3, "previews")  # rendered on its first request
    assert not [p for p in server.data.rglob("*") if p.is_file() and "blobs" in p.parts]  # nothing on local disk

    res = client.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]})
    assert res.status_code == 200 and res.content == content
    assert res.headers["content-type"] == "image/jpeg" and int(res.headers["content-length"]) == len(content)
    assert 'attachment; filename="green.jpg"' in res.headers["content-disposition"]
    assert requests.get(meta["img_url"], timeout=10).content == content
    thumb = requests.get(meta["thumbnail"]["url"], timeout=10)
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).format == "JPEG"
    preview = requests.get(meta["preview"]["url"], timeout=10)
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).format == "JPEG"
    assert bucket_keys(s3, "previews")
    part = client.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]}, headers={"Range": "bytes=2-9"})
    assert part.status_code == 206 and part.content == content[2:10]
    elsewhere = client.get("/download", params={"bucket": "elsewhere", "blob": meta["blob"]})
    assert elsewhere.json()["msg"] == "Resource does not exist"

    assert client.post("/delete_imgs", json=[image_id]).json()["code"] == "0000"
    assert bucket_keys(s3, "originals") == [] and bucket_keys(s3, "thumbnails") == [] and bucket_keys(s3, "previews") == []
    assert requests.get(meta["img_url"], timeout=10).json()["msg"] == "Resource does not exist"


def test_a_video_in_the_bucket_indexes_and_seeks_end_to_end(s3, served, tmp_path):
    server, client = served
    film = make_video(tmp_path / "red.mp4", [(Image.new("RGB", (320, 240), (220, 20, 20)), 3.0)], size=(320, 240))
    whole = film.read_bytes()
    size = len(whole)
    with open(film, "rb") as f:
        res = client.post("/upload", files={"file": ("red.mp4", f, "video/mp4")}).json()
    assert res["code"] == "0000", res
    no = res["data"]["videoNo"]
    meta = client.wait_video(no)
    assert meta["status"] == "PARSE", meta  # decoded from a copy fetched out of the bucket
    assert list(server.data.joinpath("staging").iterdir()) == []  # and the copy is gone
    vid = int(no[2:])
    assert bucket_keys(s3, f"videos/{vid}.mp4") == [f"srv/videos/{vid}.mp4"]
    assert bucket_keys(s3, f"keyframes/{vid}/")

    url = meta["video_url"]  # signed: no key needed, the bucket itself is never exposed
    ranges = {"bytes=0-7": (0, 7), "bytes=100-": (100, size - 1), "bytes=-50": (size - 50, size - 1),
              f"bytes=10-{size + 1000}": (10, size - 1)}
    for header, (start, end) in ranges.items():
        part = requests.get(url, headers={"Range": header}, timeout=10)
        assert part.status_code == 206, header
        assert part.content == whole[start:end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}", header
        assert int(part.headers["content-length"]) == end - start + 1 and part.headers["accept-ranges"] == "bytes"
    assert requests.get(url, headers={"Range": "bytes=0-7"}, timeout=10).content[4:8] == b"ftyp"
    for header in (f"bytes={size}-", "bytes=-0"):
        refused = requests.get(url, headers={"Range": header}, timeout=10)
        assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{size}", header
    for header in (None, "bytes=0-1,5-6", "bytes=9-3", "lines=1-2"):  # none, or ignored: the whole file
        full = requests.get(url, headers={"Range": header} if header else {}, timeout=10)
        assert full.status_code == 200 and full.content == whole and full.headers["accept-ranges"] == "bytes", header
    assert requests.get(url.replace("signature=", "signature=0"), headers={"Range": "bytes=0-7"}, timeout=10).status_code == 403

    download = client.post("/download", json={"video_no": no})
    assert download.status_code == 200 and download.content == whole
    assert download.headers["content-disposition"] == f'attachment; filename="{no}.mp4"'

    assert client.post("/delete_videos", json=[no]).json()["code"] == "0000"
    assert bucket_keys(s3, f"videos/{vid}.") == [] and bucket_keys(s3, f"keyframes/{vid}/") == []
    assert requests.get(url, timeout=10).json()["msg"] == "Resource does not exist"
