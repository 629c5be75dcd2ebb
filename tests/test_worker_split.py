"""`reverie worker --only image|ocr|faces|video|asr`: each kind of job goes only to the workers that take it, so the
heavy steps (reading text, videos) can live on machines of their own; an image is PARSE only once every
step it needs is done."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from PIL import Image

from conftest import BIN, EVAL, create_key, db_rows, jpeg, stack_env
from reverie.synthetic_video import make_video

RECEIPT = EVAL / "sroie" / "img" / "000.jpg"  # BOOK TA .K (TAMAN DAYA) SDN BHD
SONNET = EVAL / "speech" / "sonnet1" / "audio.mp3"
FACE = sorted((EVAL / "faces" / "Ian_Thorpe").glob("*.jpg"))[0]


def worker(data, *only: str) -> subprocess.Popen:  # noqa: ANN001
    args = [str(BIN / "reverie"), "worker", "--data", str(data), "--workers", "1"]
    for kind in only:
        args += ["--only", kind]
    return subprocess.Popen(args, env={**os.environ, **stack_env(data)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(check, timeout: float = 90) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def job_kinds(data) -> list[str]:  # noqa: ANN001
    return sorted(kind for (kind,) in db_rows(data, "SELECT kind FROM jobs"))


def test_each_kind_of_job_goes_only_to_the_workers_that_take_it(fresh_server, tmp_path):
    server = fresh_server("--no-workers")
    client = server.client(create_key(server.data, "splitter"))
    receipt, plain, face = client.upload_ok([("receipt.jpg", RECEIPT.read_bytes(), "image/jpeg"),
                                             ("plain.jpg", jpeg(), "image/jpeg"),
                                             ("face.jpg", FACE.read_bytes(), "image/jpeg")])
    clip = make_video(tmp_path / "leopard.mp4", [(Image.open(EVAL / "caltech101" / "Leopards" / "image_0001.jpg"), 8.0)],
                      audio=SONNET)
    with open(clip, "rb") as f:
        video_no = client.post("/upload", files={"file": ("leopard.mp4", f, "video/mp4")}).json()["data"]["videoNo"]

    images = worker(server.data, "image")
    try:
        # The plain photo is done; the receipt's gate saw text, so its reading waits for an OCR worker, and
        # the detector saw a person in the face photo, whose faces wait for a faces worker.
        wait_for(lambda: client.metadata(plain)["status"] == "PARSE")
        wait_for(lambda: job_kinds(server.data) == ["image.faces", "image.ocr", "video.asr", "video.index"])
        time.sleep(1.5)  # a few more polls of the image worker: it leaves them alone
        assert job_kinds(server.data) == ["image.faces", "image.ocr", "video.asr", "video.index"]
        assert client.metadata(receipt)["status"] == client.metadata(face)["status"] == "UNPARSE"
        assert client.get("/get_metadata", params={"video_no": video_no}).json()["data"]["status"] == "UNPARSE"
        search = {"search_param": "taman daya", "search_type": "BY_IMAGE", "top_k": 5}
        found = [int(h["id"]) for h in client.post("/search", json=search).json()["data"]["item"]]
        assert receipt not in found  # not searchable half-done
    finally:
        images.send_signal(signal.SIGTERM)
        assert images.wait(30) == 0

    readers = worker(server.data, "ocr")
    try:
        wait_for(lambda: client.metadata(receipt)["status"] == "PARSE")
        meta = client.metadata(receipt)
        assert "TAMAN DAYA" in meta["ocr_text"].upper()
        hits = client.post("/search", json=search).json()["data"]["item"]
        assert hits and int(hits[0]["id"]) == receipt
        assert "ocr" in hits[0]["matched"]
        assert job_kinds(server.data) == ["image.faces", "video.asr", "video.index"]  # an OCR worker leaves the rest alone
        assert client.metadata(face)["status"] == "UNPARSE"
    finally:
        readers.send_signal(signal.SIGTERM)
        assert readers.wait(30) == 0

    finders = worker(server.data, "faces")
    try:
        wait_for(lambda: client.metadata(face)["status"] == "PARSE")
        assert [f["person_id"][:2] for f in client.metadata(face)["faces"]] == ["PE"]
        assert job_kinds(server.data) == ["video.asr", "video.index"]
    finally:
        finders.send_signal(signal.SIGTERM)
        assert finders.wait(30) == 0

    def video() -> dict:
        return client.get("/get_metadata", params={"video_no": video_no}).json()["data"]

    speech = worker(server.data, "asr")
    try:
        # The speech is stored before any clip exists (the two jobs run side by side): still UNPARSE.
        wait_for(lambda: job_kinds(server.data) == ["video.index"])
        assert video()["status"] == "UNPARSE"
        assert db_rows(server.data, "SELECT count(*) FROM video_clips") == [(0,)]
        assert db_rows(server.data, "SELECT count(*) FROM transcript_segments")[0][0] >= 1
    finally:
        speech.send_signal(signal.SIGTERM)
        assert speech.wait(30) == 0

    films = worker(server.data, "video")
    try:
        assert client.wait_video(video_no, timeout=120)["status"] == "PARSE"
        assert job_kinds(server.data) == []
        said = client.get("/get_audio_transcription", params={"video_no": video_no}).json()["data"]["transcriptions"]
        assert said and all(t["content"] for t in said)
        captions = client.get("/get_video_caption", params={"video_no": video_no}).json()["data"]["transcriptions"]
        assert any("Speech:" in c["content"] for c in captions)  # the clips, stored second, carry the speech
    finally:
        films.send_signal(signal.SIGTERM)
        assert films.wait(30) == 0
