"""kill -9 the server and the worker, again and again, while clients upload: nothing acknowledged is lost.

Three clients upload small JPEGs (some of them the same bytes) and a fourth uploads short videos through a
`reverie serve --no-workers` while a `reverie worker` indexes. At random moments one of the two is killed with SIGKILL and started
again, 20 times. Afterwards every upload that got 0000 must be there with its tags and intact bytes,
everything must reach PARSE, no job or derived row may be doubled, no orphan blob or row may remain,
and SQLite must pass its integrity check.
"""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import threading
import time

import requests

from PIL import Image

from conftest import BIN, Server, blob_files, create_key, db_integrity_ok, db_rows, jpeg, reverie
from reverie.synthetic_video import make_video

KILLS = 20


def test_acknowledged_uploads_survive_twenty_kill_9s(tmp_path):
    videos = [make_video(tmp_path / f"v{i}.mp4", [(Image.new("RGB", (64, 48), (40 * i, 90, 200 - 40 * i)), 1.5)],
                         size=(160, 120)).read_bytes() for i in range(4)]
    acked_videos: dict[str, str] = {}  # videoNo -> sha256
    data = tmp_path / "data"
    key = create_key(data, "crash")
    server = Server(data, "--no-workers").start()
    worker_args = [str(BIN / "reverie"), "worker", "--data", str(data), "--job-lease-seconds", "2", "--log-level", "warning"]
    worker = subprocess.Popen(worker_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acked: dict[int, tuple[str, str]] = {}  # id -> (sha256, tag)
    lock = threading.Lock()
    stop = threading.Event()
    contents = [jpeg(40, 30, color=(i, 255 - i, (7 * i) % 256)) for i in range(200)]  # repeats: shared blobs

    def client(n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = key
        i = 0
        while not stop.is_set():
            body = contents[(n * 997 + i) % len(contents)]
            tag = f"c{n}-{i}"
            i += 1
            try:
                res = session.post(server.url("/upload_img"), timeout=10,
                                   files=[("files", (f"{tag}.jpg", body, "image/jpeg"))], data={"tags": [tag]})
                answer = res.json()
            except (requests.RequestException, ValueError):
                time.sleep(0.05)  # the server is down or went down mid-request: not acknowledged
                continue
            if answer.get("code") == "0000":
                with lock:
                    acked[answer["data"][0]["id"]] = (hashlib.sha256(body).hexdigest(), tag)

    def video_client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = key
        i = 0
        while not stop.is_set():
            body = videos[i % len(videos)]
            i += 1
            try:
                answer = session.post(server.url("/upload"), timeout=10, files={"file": (f"v{i}.mp4", body, "video/mp4")}).json()
            except (requests.RequestException, ValueError):
                time.sleep(0.05)
                continue
            if answer.get("code") == "0000":
                with lock:
                    acked_videos[answer["data"]["videoNo"]] = hashlib.sha256(body).hexdigest()
            time.sleep(0.1)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(3)] + [threading.Thread(target=video_client)]
    for t in clients:
        t.start()
    rng = random.Random(5)
    try:
        for k in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            if k % 2 == 0:
                server.stop(signal.SIGKILL)
                server.start()
            else:
                worker.kill()
                worker.wait()
                worker = subprocess.Popen(worker_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=30)

    assert len(acked) >= 300, f"only {len(acked)} uploads were acknowledged: the test did not load the server"
    assert len(acked_videos) >= 20, f"only {len(acked_videos)} videos were acknowledged"
    print(f"{len(acked)} image and {len(acked_videos)} video uploads acknowledged across {KILLS} kills")
    # Let the worker finish everything (a killed worker's jobs come back after their 2 s lease).
    deadline = time.time() + 240
    while db_rows(data, "SELECT (SELECT count(*) FROM images WHERE status = 'UNPARSE') + "
                        "(SELECT count(*) FROM videos WHERE status = 'UNPARSE')") != [(0,)]:
        assert time.time() < deadline, "indexing did not finish after the kills"
        time.sleep(0.5)
    worker.terminate()
    worker.wait(timeout=30)

    rows = {r[0]: r[1:] for r in db_rows(data, "SELECT id, sha256, status FROM images")}
    tags = {r[0]: r[1] for r in db_rows(data, "SELECT image_id, tag FROM image_tags WHERE tag != 'api'")}
    for image_id, (sha, tag) in acked.items():
        assert image_id in rows, f"acknowledged upload {image_id} is gone"
        assert rows[image_id][0] == sha and tags[image_id] == tag
        assert rows[image_id][1] == "PARSE", (image_id, rows[image_id])
    # Every stored original is intact, and the API serves exactly those bytes.
    session = requests.Session()
    session.headers["Authorization"] = key
    for image_id in random.Random(1).sample(sorted(acked), 40):
        meta = session.get(server.url("/get_img_metadata"), params={"id": image_id}).json()["data"]
        body = session.get(server.url("/download"), params={"bucket": meta["bucket"], "blob": meta["blob"]}).content
        assert hashlib.sha256(body).hexdigest() == acked[image_id][0]
    video_rows = {f"VI{r[0]}": r[1:] for r in db_rows(data, "SELECT id, sha256, status FROM videos")}
    for video_no, sha in acked_videos.items():
        assert video_no in video_rows, f"acknowledged video {video_no} is gone"
        assert video_rows[video_no] == (sha, "PARSE"), (video_no, video_rows[video_no])
    for video_no in random.Random(2).sample(sorted(acked_videos), 10):
        body = session.post(server.url("/download"), json={"video_no": video_no}).content
        assert hashlib.sha256(body).hexdigest() == acked_videos[video_no]
    server.stop()

    # Nothing doubled: one vector per image and space, one full-text row per image, no job left.
    parsed = len([r for r in rows.values() if r[1] == "PARSE"])
    assert db_rows(data, "SELECT count(*) FROM image_vectors") == [(2 * parsed,)]
    assert db_rows(data, "SELECT count(*) FROM image_fts") == [(parsed,)]
    assert db_rows(data, "SELECT count(*) FROM jobs") == [(0,)]
    # Videos: one clip per keyframe slot, one vector per clip and space, one full-text row per clip.
    assert db_rows(data, "SELECT count(*) FROM (SELECT video_id, idx FROM video_clips GROUP BY 1, 2 HAVING count(*) > 1)") == [(0,)]
    clips = db_rows(data, "SELECT count(*) FROM video_clips")[0][0]
    assert clips >= len(acked_videos)
    assert db_rows(data, "SELECT count(*) FROM video_vectors") == [(2 * clips,)]
    assert db_rows(data, "SELECT count(*) FROM clip_fts") == [(clips,)]
    # No orphans once the crash sweep has run: every blob has a row, every row its blob.
    reverie("sweep", "--data", str(data), "--grace-seconds", "0")
    stored = {p.name for p in blob_files(data)}
    assert stored == {sha for sha, _ in rows.values()}
    assert {int(p.stem) for p in blob_files(data, "videos")} == {int(no[2:]) for no in video_rows}
    assert {int(p.parent.name) for p in blob_files(data, "keyframes")} == {int(no[2:]) for no in video_rows}
    assert len(blob_files(data, "keyframes")) == clips
    thumbs = {int(p.stem) for p in blob_files(data, "thumbnails")}
    assert thumbs == {i for i, r in rows.items() if r[1] == "PARSE"}
    assert not list((data / "staging").iterdir())
    assert db_integrity_ok(data)
