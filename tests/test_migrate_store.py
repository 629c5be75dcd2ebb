"""`reverie migrate-store`: a library moves from SQLite + files to PostgreSQL + S3 and back, and the API
answers the same afterwards, with the same key, ids, files and search results."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from conftest import EVAL, DistributedStack, Server, jpeg, reverie
from reverie.synthetic_video import make_video

COCO = sorted((EVAL / "coco" / "images").glob("*.jpg"))[:6]
EMBEDDED = {"REVERIE_DATABASE_URL": "", "REVERIE_BLOB_URL": ""}


@pytest.fixture(scope="module")
def stack(distributed_stack, tmp_path_factory):
    """The session's PostgreSQL + S3 on the distributed run; servers of this module's own otherwise."""
    if distributed_stack is not None:
        yield distributed_stack
        return
    own = DistributedStack(tmp_path_factory.mktemp("migrate-stack"))
    yield own
    own.stop()


def snapshot(client, video_no: str) -> dict:  # noqa: ANN001
    """What a user sees of the library: listings, metadata, search answers, and the files' hashes."""
    photos = client.list_page(page=1, page_size=50)["item"]
    found = client.post("/search", json={"search_param": "a pizza", "search_type": "BY_IMAGE", "top_k": 5}).json()
    clips = client.post("/search", json={"search_param": "a leopard", "search_type": "BY_CLIP", "top_k": 5}).json()
    originals = {}
    for p in photos:
        res = client.get("/download", params={"bucket": p["bucket"], "blob": p["blob"]})
        assert res.status_code == 200, res.text
        originals[p["id"]] = hashlib.sha256(res.content).hexdigest()
    video = client.post("/download", json={"video_no": video_no})
    assert video.status_code == 200
    return {
        "photos": sorted((p["id"], p["name"], p["status"], tuple(sorted(p.get("tags") or []))) for p in photos),
        "search": [(h["id"], round(h["score"], 4)) for h in found["data"]["item"]],
        "clips": [(h["videoNo"], h["startTime"], round(h["score"], 4)) for h in clips["data"]],
        "originals": originals,
        "video": hashlib.sha256(video.content).hexdigest(),
    }


def make_key(data, name: str, env: dict) -> str:  # noqa: ANN001
    """A key on the stack `env` names (the suite's own stack would be chosen otherwise)."""
    out = reverie("keys", "create", "--name", name, "--data", str(data), env=env)
    return out.stdout.strip().splitlines()[-1].split()[-1]


def test_a_library_moves_to_postgres_and_s3_and_back(tmp_path, stack):
    source = Server(tmp_path / "embedded", "--workers", "2", env=EMBEDDED).start()
    key = make_key(source.data, "studio", EMBEDDED)
    client = source.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in COCO], {"tags": "trip"})
    for i in ids:
        assert client.wait_indexed(i)["status"] == "PARSE"
    clip = make_video(tmp_path / "leopard.mp4", [(Image.open(EVAL / "caltech101" / "Leopards" / "image_0001.jpg"), 4.0)])
    with open(clip, "rb") as f:
        video_no = client.post("/upload", files={"file": ("leopard.mp4", f, "video/mp4")}).json()["data"]["videoNo"]
    assert client.wait_video(video_no, timeout=120)["status"] == "PARSE"
    before = snapshot(client, video_no)
    source.stop()

    distributed = stack.fresh()
    out = reverie("migrate-store", "--data", str(source.data), "--to-data", str(tmp_path / "distributed"),
                  "--to-database-url", distributed["REVERIE_DATABASE_URL"],
                  "--to-blob-url", distributed["REVERIE_BLOB_URL"], env=EMBEDDED)
    assert "MISMATCH" not in out.stdout and "sha256 verified" in out.stdout, out.stdout + out.stderr
    counts = {line.split()[0]: line.split()[1:3] for line in out.stdout.splitlines() if len(line.split()) == 3}
    assert counts["images"] == [str(len(ids))] * 2 and counts["videos"] == ["1", "1"]
    assert int(counts["image_vectors"][1]) == 2 * len(ids) and int(counts["video_clips"][1]) >= 1

    moved = Server(tmp_path / "distributed", env=distributed).start()
    try:
        client = moved.client(key)  # the same key: accounts and key hashes came along
        assert snapshot(client, video_no) == before
        # New rows continue after the copied ones (sequences were moved past them).
        new_key = make_key(moved.data, "second", distributed)
        new_id = moved.client(new_key).upload_ok([("new.jpg", jpeg(), "image/jpeg")])[0]
        assert new_id > max(ids)
        assert moved.client(new_key).wait_indexed(new_id)["status"] == "PARSE"
        assert moved.client(new_key).post("/delete_imgs", json=[new_id]).json()["code"] == "0000"
    finally:
        moved.stop()

    # A non-empty target is refused, and nothing is written to it.
    refused = reverie("migrate-store", "--data", str(tmp_path / "distributed"), "--to-data", str(tmp_path / "distributed"),
                      "--to-database-url", distributed["REVERIE_DATABASE_URL"],
                      "--to-blob-url", distributed["REVERIE_BLOB_URL"], env=distributed, check=False)
    assert refused.returncode != 0 and "empty library only" in refused.stderr

    back = reverie("migrate-store", "--data", str(tmp_path / "distributed"), "--to-data", str(tmp_path / "back"),
                   env=distributed)
    assert "sha256 verified" in back.stdout and "MISMATCH" not in back.stdout, back.stdout + back.stderr
    home = Server(tmp_path / "back", env=EMBEDDED).start()
    try:
        after = snapshot(home.client(key), video_no)
        assert after == before
    finally:
        home.stop()
