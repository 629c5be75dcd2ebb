"""The object store failing under a running Reverie: refusing connections, resetting them, answering 503 Slow
Down, or answering too slowly (tests/s3_fault_proxy.py, between Reverie and the session's SeaweedFS).

One `reverie serve` and its `reverie worker` talk to the bucket through the proxy; the test reads the bucket
directly. During each outage, uploads (images and a video) and reads (a download, a thumbnail, a signed link)
answer 503 with code 0503, a Retry-After and a message naming the object store, within a bound, and leave no
row, no object and no charge; once the store is back, the same requests work without restarting anything. An
image whose worker meets the outage is indexed once the store is back, and a multipart upload cut off
half-way is aborted by `reverie sweep`.
"""

from __future__ import annotations

import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from PIL import Image

from conftest import DISTRIBUTED, Client, Server, create_key, db_rows, jpeg, reverie, stack_env
from reverie.devstack import SeaweedS3
from reverie.errors import BlobStoreUnavailable
from reverie.store.s3_blobs import MB, S3BlobStore, parse_blob_url
from reverie.synthetic_video import make_video
from s3_fault_proxy import FaultProxy

pytestmark = pytest.mark.skipif(not DISTRIBUTED, reason="faults of the distributed stack's S3")

FAULTS = ("refuse", "reset", "http503", "slow")
# Refused, reset or 503: botocore's one retry and its backoff, well under the 2 s target; a loaded 2-core
# machine gets some slack, and the figures are printed.
FAST_BOUND_S = 3.0
# A store that hangs: two attempts of s3_blobs.READ_TIMEOUT (2 s), the backoff, and for a PUT up to 1 s of
# waiting for `100 Continue`: ~4-6 s measured.
SLOW_BOUND_S = 10.0
SLOW_DELAY_S = 5.0  # each piece the proxy forwards in `slow` mode waits this long: past READ_TIMEOUT
GRANT = 1000


@dataclass
class Rig:
    server: Server
    client: Client
    proxy: FaultProxy
    s3: SeaweedS3  # read directly, not through the proxy
    bucket: str
    prefix: str
    video: bytes
    answered: list[tuple[str, int, float]] = field(default_factory=list)  # (mode, HTTP status, seconds) in outages
    added: int = 0  # objects that outages left in the bucket

    def objects(self) -> set[str]:
        listing = self.s3.client().get_paginator("list_objects_v2")
        pages = listing.paginate(Bucket=self.bucket, Prefix=self.prefix + "/")
        return {o["Key"] for page in pages for o in page.get("Contents", ())}

    def uploads_in_parts(self) -> list[str]:
        found = self.s3.client().list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix + "/")
        return [u["Key"] for u in found.get("Uploads", ())]

    def rows(self) -> tuple:
        data = self.server.data
        return (db_rows(data, "SELECT count(*) FROM images")[0][0], db_rows(data, "SELECT count(*) FROM videos")[0][0],
                db_rows(data, "SELECT credit_balance, credits_spent FROM accounts WHERE name = 'metered'")[0])


@pytest.fixture(scope="module")
def rig(distributed_stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("s3-faults")
    data = folder / "data"
    direct = stack_env(data)["REVERIE_BLOB_URL"]
    proxy = FaultProxy(distributed_stack.s3.port, delay=SLOW_DELAY_S).start()
    key = create_key(data, "metered")
    reverie("credits", "grant", "metered", str(GRANT), "--data", str(data))
    # One attempt per job: a worker that counted the outage as a failed attempt would mark the image FAILED.
    server = Server(data, "--job-max-attempts", "1",
                    env={"REVERIE_BLOB_URL": direct.replace(distributed_stack.s3.endpoint, proxy.endpoint)}).start()
    film = make_video(folder / "blue.mp4", [(Image.new("RGB", (160, 120), (20, 20, 220)), 1.0)], size=(160, 120))
    where = parse_blob_url(direct)
    rig = Rig(server, server.client(key), proxy, distributed_stack.s3, where["bucket"], where["prefix"],
              film.read_bytes())
    yield rig
    proxy.set("pass")
    server.stop()
    proxy.stop()
    fast = [s for mode, _, s in rig.answered if mode != "slow"]
    slow = [s for mode, _, s in rig.answered if mode == "slow"]
    errors = sum(status == 500 for _, status, _ in rig.answered)
    print(f"\ns3 faults: {len(rig.answered)} requests during outages, {errors} HTTP 500,"
          f" max answer {max(fast, default=0):.2f} s (slow store: {max(slow, default=0):.2f} s), "
          f"{rig.added} objects left")


@pytest.fixture(scope="module")
def indexed(rig):
    """A photo uploaded and indexed before any outage, with its metadata (signed links, thumbnail)."""
    content = jpeg(color=(200, 30, 30))
    (image_id,) = rig.client.upload_ok([("red.jpg", content, "image/jpeg")])
    meta = rig.client.wait_indexed(image_id)
    assert meta["status"] == "PARSE", meta
    return content, meta


def _requests(rig: Rig, meta: dict) -> dict:
    """Every kind of request that needs the store, by name: the uploads, then the reads of `meta`'s image."""
    c = rig.client
    return {
        "upload_img": lambda: c.post("/upload_img", files=[("files", ("a.jpg", jpeg(color=(1, 2, 3)), "image/jpeg")),
                                                            ("files", ("b.jpg", jpeg(color=(4, 5, 6)), "image/jpeg"))]),
        # Uploads at once queue on their transactions' locks: each must still answer within the bound.
        "another upload_img": lambda: c.post("/upload_img",
                                             files=[("files", ("c.jpg", jpeg(color=(7, 8, 9)), "image/jpeg"))]),
        "upload video": lambda: c.post("/upload", files={"file": ("blue.mp4", rig.video, "video/mp4")}),
        "download": lambda: c.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]}),
        "thumbnail": lambda: requests.get(meta["thumbnail"]["url"], timeout=60),
        "signed link": lambda: requests.get(meta["img_url"], timeout=60),
    }


def _timed(call) -> tuple[requests.Response, float]:  # noqa: ANN001
    start = time.monotonic()
    res = call()
    return res, time.monotonic() - start


def _jobs_idle(rig: Rig, timeout: float = 120) -> None:
    """Wait until the worker has nothing queued or running."""
    deadline = time.time() + timeout
    while db_rows(rig.server.data, "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")[0][0]:
        assert time.time() < deadline, "indexing did not finish"
        time.sleep(0.2)


@pytest.mark.parametrize("mode", FAULTS)
def test_during_an_outage_requests_answer_503_and_nothing_is_stored(rig, indexed, mode):
    content, meta = indexed
    _jobs_idle(rig)  # the worker writes no thumbnail meanwhile: every object that comes is an upload's
    before_rows, before_objects = rig.rows(), rig.objects()
    calls = _requests(rig, meta)
    rig.proxy.set(mode)
    try:
        with ThreadPoolExecutor(len(calls)) as pool:  # at once: a slow store costs each request seconds
            answers = dict(zip(calls, pool.map(_timed, calls.values())))
    finally:
        rig.proxy.set("pass")
        started_waiting = time.monotonic()
    bound = SLOW_BOUND_S if mode == "slow" else FAST_BOUND_S
    for name, (res, seconds) in answers.items():
        rig.answered.append((mode, res.status_code, seconds))
        body = res.json()
        assert res.status_code == 503 and body["code"] == "0503" and body["data"] is None, (name, body)
        assert "object store unavailable" in body["msg"] and "nothing was stored" in body["msg"], (name, body)
        assert int(res.headers["Retry-After"]) > 0, name
        assert seconds < bound, f"{name} answered after {seconds:.1f} s with the store in mode {mode}"
    said = {"refuse": ("connection refused",), "reset": ("connection reset", "connection closed"),
            "http503": ("HTTP 503",), "slow": ("timed out",)}[mode]
    for name, (res, _) in answers.items():  # the words say what the store did
        assert any(words in res.json()["msg"] for words in said), (name, res.json()["msg"])

    added = rig.objects() - before_objects
    rig.added += len(added)
    assert added == set(), f"the outage left objects: {sorted(added)}"
    assert rig.rows() == before_rows  # no image or video row, and not one credit spent
    assert not list((rig.server.data / "staging").iterdir())

    # Back, without restarting anything: after Retry-After (the server does not ask the store again before;
    # a call cut off as the proxy switched back may have begun that pause just then), the same requests work,
    # and search too.
    wait = int(answers["upload_img"][0].headers["Retry-After"]) + 0.5
    time.sleep(max(0.0, started_waiting + wait - time.monotonic()))
    again = {name: call() for name, call in calls.items()}
    for name in ("upload_img", "another upload_img"):
        assert again[name].json()["code"] == "0000", again[name].json()
    video = again["upload video"].json()
    assert video["code"] == "0000", video
    assert again["download"].content == content and again["signed link"].content == content
    assert again["thumbnail"].status_code == 200 and Image.open(io.BytesIO(again["thumbnail"].content)).format == "JPEG"
    found = rig.client.post("/search", json={"search_param": "red", "search_type": "BY_IMAGE"}).json()
    assert found["code"] == "0000" and "item" in found["data"], found
    # The video would keep the worker busy with its pictures and speech: gone again, as any client may do.
    assert rig.client.post("/delete_videos", json=[video["data"]["videoNo"]]).json()["code"] == "0000"


def test_an_image_whose_worker_meets_the_outage_is_indexed_once_the_store_is_back(rig):
    _jobs_idle(rig)
    worker = rig.server.worker
    worker.send_signal(signal.SIGSTOP)  # idle: it holds no job, and takes none until the store is down
    try:
        (image_id,) = rig.client.upload_ok([("late.jpg", jpeg(color=(30, 200, 30)), "image/jpeg")])
        rig.proxy.set("refuse")
    finally:
        worker.send_signal(signal.SIGCONT)
    try:
        deadline = time.time() + 60
        while not db_rows(rig.server.data, "SELECT count(*) FROM jobs WHERE subject_id = ? AND last_error LIKE ?",
                          image_id, "%object store unavailable%")[0][0]:
            assert time.time() < deadline, "the worker never met the outage"
            time.sleep(0.2)
    finally:
        rig.proxy.set("pass")
    meta = rig.client.wait_indexed(image_id, timeout=60)
    assert meta["status"] == "PARSE", meta  # not FAILED: the outage was no attempt of the job's (max 1 here)
    assert meta["thumbnail"] and requests.get(meta["thumbnail"]["url"], timeout=60).status_code == 200


def test_a_multipart_upload_cut_off_is_aborted_by_sweep(rig, tmp_path):
    # The server's parts are 64 MB; a store of its own with 5 MB parts (S3's least) makes 16 MB a multipart upload.
    url = stack_env(rig.server.data)["REVERIE_BLOB_URL"].replace(rig.s3.endpoint, rig.proxy.endpoint)
    blobs = S3BlobStore.from_url(url, part_size=5 * MB)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(16 * MB))
    before = rig.objects()
    rig.proxy.cut_after(7 * MB)  # the upload begun, some parts sent, then every connection reset
    try:
        with pytest.raises(BlobStoreUnavailable, match="object store unavailable"):
            blobs.adopt("videos/999999.mp4", big)
    finally:
        rig.proxy.set("pass")
    assert big.exists()  # the staged file stays for its caller to remove
    assert rig.objects() == before
    # boto3 tried to abort the upload, but the store was gone by then: its parts stay, unlisted, costing storage.
    assert rig.uploads_in_parts() == [f"{rig.prefix}/videos/999999.mp4"]
    out = reverie("sweep", "--grace-seconds", "0", "--multipart-grace-seconds", "0", "--data", str(rig.server.data)).stdout
    assert "multipart=1" in out, out
    assert rig.uploads_in_parts() == []
    assert rig.client.upload_ok([("after.jpg", jpeg(color=(9, 9, 90)), "image/jpeg")])
