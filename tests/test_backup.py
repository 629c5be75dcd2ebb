"""reverie backup of a live library, and reverie restore into a new folder, round trip."""

from __future__ import annotations

import hashlib
import tarfile
import time

import pytest
from PIL import Image

from conftest import DISTRIBUTED, EVAL, create_key, embedded_only, reverie
from reverie.synthetic_video import make_video

PHOTOS = [EVAL / "caltech101" / "Leopards" / "image_0001.jpg", EVAL / "sroie" / "img" / "000.jpg",
          EVAL / "exif" / "jpg" / "gps" / "DSCN0010.jpg"]


@embedded_only
def test_backup_while_serving_then_restore_round_trips(fresh_server, tmp_path):
    server = fresh_server()
    key = create_key(server.data, "keeper")
    client = server.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS], {"tags": ["kept"], "unique_id": "safe"})
    metas = {i: client.wait_indexed(i) for i in ids}
    film = make_video(tmp_path / "film.mp4", [(Image.open(PHOTOS[0]), 2.0)], size=(320, 240))
    video_no = client.post("/upload", files={"file": ("film.mp4", film.read_bytes(), "video/mp4")},
                           data={"unique_id": "safe"}).json()["data"]["videoNo"]
    for _ in range(300):
        if client.get("/get_metadata", params={"video_no": video_no}).json()["data"]["status"] == "PARSE":
            break
        time.sleep(0.1)
    keyframes = len(list((server.data / "blobs" / "keyframes" / video_no[2:]).iterdir()))
    opened = metas[ids[0]]["preview"]  # previews are rendered on their first request: one has been
    assert client.get("/download", params={"bucket": opened["bucket"], "blob": opened["blob"]}).status_code == 200
    out = tmp_path / "library.tar"
    done = reverie("backup", str(out), "--data", str(server.data))  # the server keeps running
    files = 3 + 3 + 1 + 1 + keyframes  # originals, thumbnails, the opened preview, the video, its keyframes
    assert done.stdout.strip().startswith(f"backed up 3 images, 1 videos, {files} files to "), done.stdout

    restored = tmp_path / "restored"
    done = reverie("restore", str(out), "--data", str(restored))
    assert done.stdout.startswith(f"restored 3 images, 1 videos, {files} files into {restored}"), done.stdout
    again = reverie("restore", str(out), "--data", str(restored), check=False)
    assert again.returncode != 0 and "already holds a library" in again.stderr

    copy = fresh_server(data=restored)
    c2 = copy.client(key)  # same keys: they live in the database
    assert c2.get("/list_unique_ids").json()["data"]["unique_ids"] == ["safe"]
    for image_id, path in zip(ids, PHOTOS):
        meta = c2.metadata(image_id)
        assert {k: meta[k] for k in ("status", "tags", "labels", "ocr_text", "place")} == \
               {k: metas[image_id][k] for k in ("status", "tags", "labels", "ocr_text", "place")}
        body = c2.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]}).content
        assert hashlib.sha256(body).digest() == hashlib.sha256(path.read_bytes()).digest()
        preview = c2.get("/download", params={"bucket": meta["preview"]["bucket"], "blob": meta["preview"]["blob"]})
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    hits = c2.post("/search", json={"search_param": "TAMAN DAYA", "search_type": "BY_IMAGE", "unique_id": "safe"}).json()
    assert hits["data"]["item"][0]["id"] == ids[1]
    body = c2.post("/download", json={"video_no": video_no, "unique_id": "safe"}).content
    assert body == film.read_bytes()
    clip = c2.post("/search", json={"search_param": "a leopard", "search_type": "BY_CLIP", "unique_id": "safe"}).json()["data"][0]
    assert clip["videoNo"] == video_no
    frame = c2.get("/download", params={"bucket": clip["keyframe_bucket"], "blob": clip["keyframe_blob"]})
    assert frame.headers["content-type"] == "image/jpeg"


@embedded_only
def test_an_image_deleted_during_the_backup_is_left_out_whole(fresh_server, tmp_path):
    from conftest import blob_files

    server = fresh_server("--no-workers")
    key = create_key(server.data, "racer")
    client = server.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS])
    server.stop()
    # the state a delete leaves between the backup's snapshot and its copy of the files: row there, file gone
    victim = next(p for p in blob_files(server.data) if p.name == hashlib.sha256(PHOTOS[0].read_bytes()).hexdigest())
    (server.data / "blobs" / victim).unlink()
    done = reverie("backup", str(tmp_path / "b.tar"), "--data", str(server.data))
    assert "2 images, 0 videos, 2 files, 1 deleted during the backup left out" in done.stdout
    reverie("restore", str(tmp_path / "b.tar"), "--data", str(tmp_path / "r"))
    restored = fresh_server("--no-workers", data=tmp_path / "r").client(key)
    assert sorted(it["id"] for it in restored.list_page()["item"]) == sorted(ids[1:])


@embedded_only
def test_restore_refuses_what_is_not_a_backup(tmp_path):
    bogus = tmp_path / "bogus.tar"
    source = tmp_path / "source.txt"
    source.write_text("x")
    with tarfile.open(bogus, "w") as tar:
        tar.add(source, arcname="../escaped.txt")
    target = tmp_path / "a" / "target"
    done = reverie("restore", str(bogus), "--data", str(target), check=False)
    assert done.returncode != 0 and "is not a Reverie backup" in done.stderr
    assert not (tmp_path / "a" / "escaped.txt").exists()


@embedded_only
def test_a_video_deleted_during_the_backup_is_left_out_whole(fresh_server, tmp_path):
    server = fresh_server("--no-workers")
    key = create_key(server.data, "racer")
    client = server.client(key)
    nos = []
    for i in range(2):
        film = make_video(tmp_path / f"f{i}.mp4", [(Image.open(PHOTOS[i]), 1.0)], size=(160, 120))
        nos.append(client.post("/upload", files={"file": (film.name, film.read_bytes(), "video/mp4")}).json()["data"]["videoNo"])
    server.stop()
    (server.data / "blobs" / "videos" / f"{nos[0][2:]}.mp4").unlink()  # a delete between snapshot and copy
    done = reverie("backup", str(tmp_path / "b.tar"), "--data", str(server.data))
    assert "0 images, 1 videos, 1 files, 1 deleted during the backup left out" in done.stdout, done.stdout
    reverie("restore", str(tmp_path / "b.tar"), "--data", str(tmp_path / "r"))
    restored = fresh_server("--no-workers", data=tmp_path / "r").client(key)
    listed = restored.post("/list_videos", json={}).json()["data"]["videos"]
    assert [v["video_no"] for v in listed] == [nos[1]]


@pytest.mark.skipif(not DISTRIBUTED, reason="about the distributed stack")
def test_backup_and_restore_point_to_the_tools_of_the_distributed_stack(tmp_path):
    data = tmp_path / "data"
    create_key(data, "someone")
    out = reverie("backup", str(tmp_path / "b.tar"), "--data", str(data), check=False)
    assert out.returncode != 0 and "pg_dump" in out.stderr and "migrate-store" in out.stderr
    assert not (tmp_path / "b.tar").exists()
