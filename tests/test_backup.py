"""reverie backup of a live library, and reverie restore into a new folder, round trip."""

from __future__ import annotations

import hashlib
import tarfile

from conftest import EVAL, create_key, reverie

PHOTOS = [EVAL / "caltech101" / "Leopards" / "image_0001.jpg", EVAL / "sroie" / "img" / "000.jpg",
          EVAL / "exif" / "jpg" / "gps" / "DSCN0010.jpg"]


def test_backup_while_serving_then_restore_round_trips(fresh_server, tmp_path):
    server = fresh_server()
    key = create_key(server.data, "keeper")
    client = server.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS], {"tags": ["kept"], "unique_id": "safe"})
    metas = {i: client.wait_indexed(i) for i in ids}
    out = tmp_path / "library.tar"
    done = reverie("backup", str(out), "--data", str(server.data))  # the server keeps running
    assert done.stdout.strip().startswith("backed up 3 images, 9 files to ")

    restored = tmp_path / "restored"
    done = reverie("restore", str(out), "--data", str(restored))
    assert done.stdout.startswith(f"restored 3 images, 9 files into {restored}")
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
    hits = c2.post("/search", json={"search_param": "TAMAN DAYA", "search_type": "BY_IMAGE", "unique_id": "safe"}).json()
    assert hits["data"]["item"][0]["id"] == ids[1]


def test_an_image_deleted_during_the_backup_is_left_out_whole(fresh_server, tmp_path):
    from conftest import blob_files

    server = fresh_server("--no-workers")
    key = create_key(server.data, "racer")
    client = server.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS])
    server.stop()
    # the state a delete leaves between the backup's snapshot and its copy of the files: row there, file gone
    victim = next(p for p in blob_files(server.data) if p.name == hashlib.sha256(PHOTOS[0].read_bytes()).hexdigest())
    victim.unlink()
    done = reverie("backup", str(tmp_path / "b.tar"), "--data", str(server.data))
    assert "2 images, 2 files, 1 deleted during the backup left out" in done.stdout
    reverie("restore", str(tmp_path / "b.tar"), "--data", str(tmp_path / "r"))
    restored = fresh_server("--no-workers", data=tmp_path / "r").client(key)
    assert sorted(it["id"] for it in restored.list_page()["item"]) == sorted(ids[1:])


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
