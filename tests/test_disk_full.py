"""A full disk fails the upload with a clear envelope, stores nothing, and the server recovers."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import Server, blob_files, create_key, db_rows, embedded_only, jpeg

MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def free_bytes(path) -> int:  # noqa: ANN001
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def serve_on(small_disk, tmp_path, name: str):  # noqa: ANN001, ANN201
    data = small_disk / "data"
    key = create_key(data, name)
    server = Server(data, "--no-workers")
    server.log = tmp_path / "server.log"  # not on the disk that will be full
    return server.start(), key


def test_disk_full_while_writing_an_upload(small_disk, tmp_path):
    server, key = serve_on(small_disk, tmp_path, "full")
    data = server.data
    try:
        client = server.client(key)
        (first,) = client.upload_ok([("ok.jpg", jpeg(), "image/jpeg")])
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (free_bytes(small_disk) - 2 * MB))  # leave 2 MB
        big = jpeg() + b"\0" * (4 * MB)
        res = client.post("/upload_img", files=[("files", ("big.jpg", big, "image/jpeg"))])
        body = res.json()
        assert res.status_code == 507 and body["code"] == "5000" and body["data"] is None
        assert body["msg"].startswith("storage full: nothing was stored")
        assert client.list_page()["total_count"] == 1
        assert not any((data / "staging").iterdir())  # the partial staging file is gone
        filler.unlink()  # space comes back: so does the service
        (second,) = client.upload_ok([("big.jpg", big, "image/jpeg")])
        assert second > first and client.list_page()["total_count"] == 2
    finally:
        server.stop()


@embedded_only  # the database lives on PostgreSQL's disk there, not the data folder's
def test_disk_full_when_the_database_commits(small_disk, tmp_path):
    server, key = serve_on(small_disk, tmp_path, "full-db")
    try:
        client = server.client(key)
        client.upload_ok([("ok.jpg", jpeg(), "image/jpeg")])
        small = jpeg(16, 16)
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (free_bytes(small_disk) - 4096))  # one block: room for the staged file, not the WAL
        answers = [client.post("/upload_img", files=[("files", (f"{i}.jpg", small, "image/jpeg"))], data={"tags": [f"t{i}"] * 1})
                   for i in range(20)]
        full = [a for a in answers if a.json()["code"] != "0000"]
        assert full, "the disk never filled up"
        for a in full:
            assert a.status_code == 507 and a.json()["msg"].startswith("storage full: nothing was stored")
        stored = len([a for a in answers if a.json()["code"] == "0000"])
        filler.unlink()
        assert client.list_page()["total_count"] == 1 + stored
        # no original without its row: a failed commit takes back the blob it had put in place
        rows = {sha for (sha,) in db_rows(server.data, "SELECT sha256 FROM images")}
        assert {p.name for p in blob_files(server.data)} == rows
        client.upload_ok([("after.jpg", small, "image/jpeg")])
    finally:
        server.stop()
