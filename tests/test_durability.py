"""Restarts, kill -9, separate worker processes, job leases and retries, and the crash sweep."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, DISTRIBUTED, blob_files, create_key, db_integrity_ok, db_rows, jpeg, open_store, reverie
from reverie.index.worker import Worker
from reverie.models import Models
from reverie.store import jobs
from reverie.store.blobs import original_key


def _contents(n: int) -> list[bytes]:
    return [jpeg(color=(i * 7 % 256, i * 13 % 256, 77)) for i in range(n)]


def test_acknowledged_uploads_survive_kill_9_and_get_indexed_after_restart(fresh_server, tmp_path):
    server = fresh_server("--no-workers")
    client = server.client(create_key(server.data, "survivor"))
    contents = _contents(6)
    ids = client.upload_ok([(f"{i}.jpg", c, "image/jpeg") for i, c in enumerate(contents)], {"tags": ["keep"]})
    server.stop(signal.SIGKILL)

    again = fresh_server(data=server.data)  # with in-process workers this time
    client = again.client(client.session.headers["Authorization"])
    for image_id, content in zip(ids, contents):
        meta = client.wait_indexed(image_id)
        assert meta["status"] == "PARSE" and meta["tags"] == ["keep", "api"]
        res = client.get("/download", params={"bucket": meta["bucket"], "blob": meta["blob"]})
        assert hashlib.sha256(res.content).hexdigest() == hashlib.sha256(content).hexdigest()
    assert db_integrity_ok(again.data)
    assert db_rows(again.data, "SELECT count(*) FROM jobs") == [(0,)]


def test_a_separate_worker_process_indexes_what_the_server_accepted(fresh_server):
    server = fresh_server("--no-workers")
    client = server.client(create_key(server.data, "split"))
    ids = client.upload_ok([(f"{i}.jpg", c, "image/jpeg") for i, c in enumerate(_contents(4))])
    time.sleep(0.5)
    assert {client.metadata(i)["status"] for i in ids} == {"UNPARSE"}
    worker = subprocess.Popen([str(BIN / "reverie"), "worker", "--data", str(server.data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert {client.wait_indexed(i)["status"] for i in ids} == {"PARSE"}
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


@pytest.fixture
def store_with_jobs(fresh_server):
    """A data folder holding uploads that no worker has touched, opened directly with short leases."""

    def make(n: int, **settings):  # noqa: ANN003
        server = fresh_server("--no-workers")
        client = server.client(create_key(server.data, "jobs"))
        ids = client.upload_ok([(f"{i}.jpg", c, "image/jpeg") for i, c in enumerate(_contents(n))])
        server.stop()
        store = open_store(server.data, **settings)
        return store, ids, client, server

    return make


def test_a_job_held_by_a_dead_worker_is_claimed_again_after_its_lease(store_with_jobs):
    store, (image_id,), _, _ = store_with_jobs(1, job_lease_seconds=1)
    (first,) = jobs.claim(store.db, "worker-a", lease_seconds=1)
    assert first.subject_id == image_id and first.attempts == 1
    assert jobs.claim(store.db, "worker-b", lease_seconds=1) == []  # leased: nobody else gets it
    time.sleep(1.1)
    (second,) = jobs.claim(store.db, "worker-b", lease_seconds=60)
    assert second.id == first.id and second.attempts == 2
    with store.db.write() as conn:
        assert jobs.finish(conn, first) is False  # the dead worker's late result is not taken
        assert jobs.finish(conn, second) is True


def test_a_job_that_keeps_killing_its_worker_is_given_up(store_with_jobs):
    store, (image_id,), _, _ = store_with_jobs(1, job_lease_seconds=1, job_max_attempts=2)
    for _ in range(2):  # two workers die holding it
        assert len(jobs.claim(store.db, "doomed", lease_seconds=0)) == 1
        time.sleep(0.01)
    assert Worker(store, Models(store.settings), "survivor").run_one() is True
    (status, cause), = db_rows(store.settings.data, "SELECT status, cause FROM images WHERE id=?", image_id)
    assert status == "FAILED" and cause == "indexing did not finish after 2 attempts"
    assert Worker(store, Models(store.settings), "survivor").run_one() is False


def test_image_jobs_are_claimed_in_batches_of_first_tries_only(store_with_jobs):
    store, ids, _, _ = store_with_jobs(6)
    batch = jobs.claim(store.db, "a", lease_seconds=1, batches={jobs.IMAGE_INDEX: 4})
    assert [j.subject_id for j in batch] == ids[:4]  # oldest first
    rest = jobs.claim(store.db, "b", lease_seconds=60, batches={jobs.IMAGE_INDEX: 4})
    assert [j.subject_id for j in rest] == ids[4:]  # not the 4 leased to a
    time.sleep(1.1)  # a's lease has run out: as if it had died
    assert [j.subject_id for j in jobs.claim(store.db, "c", 60, batches={jobs.IMAGE_INDEX: 4})] == [ids[0]]
    assert [j.subject_id for j in jobs.claim(store.db, "c", 60)] == [ids[1]]  # no batches asked: one job


def test_a_batch_of_images_is_indexed_together_and_a_broken_one_fails_alone(store_with_jobs):
    store, ids, _, _ = store_with_jobs(3)
    (sha,), = db_rows(store.settings.data, "SELECT sha256 FROM images WHERE id=?", ids[1])
    store.blobs.delete(original_key(sha))
    store.blobs.put_bytes(original_key(sha), b"\xff\xd8 not a JPEG after all")
    worker = Worker(store, Models(store.settings), "w")
    assert worker.run_one() is True  # the three jobs at once
    assert db_rows(store.settings.data, "SELECT id, status FROM images ORDER BY id") == \
        [(ids[0], "PARSE"), (ids[1], "FAILED"), (ids[2], "PARSE")]
    assert db_rows(store.settings.data, "SELECT subject_id, state FROM jobs") == [(ids[1], "failed")]
    assert worker.run_one() is False


def test_a_batch_is_described_as_its_images_one_by_one(store_with_jobs):
    import numpy as np

    from reverie.index.image import ImageFacts, index_images
    from reverie.store import images as image_rows

    store, ids, _, _ = store_with_jobs(3)
    with store.db.read() as conn:
        rows = list(image_rows.get_many_any(conn, ids).values())
    models = Models(store.settings)
    together = index_images(store, models, rows)
    for row, facts in zip(rows, together):
        (alone,) = index_images(store, models, [row])
        assert isinstance(facts, ImageFacts) and isinstance(alone, ImageFacts)
        assert [name for name, _ in facts.labels] == [name for name, _ in alone.labels]
        for space in ("visual", "appearance"):
            assert np.allclose(facts.vectors[space], alone.vectors[space], atol=1e-4)
        assert (facts.width, facts.height, facts.has_text) == (alone.width, alone.height, alone.has_text)


def test_a_job_of_a_batch_taken_over_by_another_worker_keeps_only_its_result_out(store_with_jobs, monkeypatch):
    from reverie.index import worker as worker_module

    store, ids, _, _ = store_with_jobs(3)
    index_images = worker_module.index_images

    def slow_on_the_second(store_, models, rows):  # noqa: ANN001, ANN202
        # while the batch was indexed, the second job's lease ran out and another worker claimed it
        with store.db.write() as conn:
            conn.exec_driver_sql(f"UPDATE jobs SET lease_owner = 'other' WHERE subject_id = {ids[1]}")
        return index_images(store_, models, rows)

    monkeypatch.setattr(worker_module, "index_images", slow_on_the_second)
    assert Worker(store, Models(store.settings), "w").run_one() is True
    assert db_rows(store.settings.data, "SELECT id, status FROM images ORDER BY id") == \
        [(ids[0], "PARSE"), (ids[1], "UNPARSE"), (ids[2], "PARSE")]
    assert db_rows(store.settings.data, "SELECT subject_id, lease_owner FROM jobs") == [(ids[1], "other")]


def test_transient_errors_are_retried_with_backoff_until_they_succeed(store_with_jobs):
    store, (image_id,), _, _ = store_with_jobs(1, job_max_attempts=2)
    (sha,), = db_rows(store.settings.data, "SELECT sha256 FROM images WHERE id=?", image_id)
    with store.blobs.open(original_key(sha)) as f:
        saved = f.read()
    store.blobs.delete(original_key(sha))  # a disk (or bucket) that lost the file: reading it fails
    worker = Worker(store, Models(store.settings), "w")
    assert worker.run_one() is True
    (state, attempts, run_after), = db_rows(store.settings.data, "SELECT state, attempts, run_after_ms FROM jobs")
    assert state == "queued" and attempts == 1 and run_after > time.time() * 1000 + 1000  # 2 s backoff
    assert worker.run_one() is False  # not yet due
    store.blobs.put_bytes(original_key(sha), saved)  # the file came back
    time.sleep(2.1)
    assert worker.run_one() is True
    assert db_rows(store.settings.data, "SELECT status FROM images WHERE id=?", image_id) == [("PARSE",)]


def test_sweep_repairs_what_a_crash_left_behind(store_with_jobs):
    store, ids, _, _ = store_with_jobs(2)
    data = store.settings.data
    stale = data / "staging" / "up-stale"
    stale.write_bytes(b"half an upload")
    orphan = original_key("ab" * 32)
    store.blobs.put_bytes(orphan, b"committed never")
    (sha,), = db_rows(data, "SELECT sha256 FROM images WHERE id=?", ids[0])
    trashed = f"trash/{sha}.dead"  # a delete that crashed before its commit
    assert store.blobs.move(original_key(sha), trashed)
    grace = []
    if DISTRIBUTED:
        grace = ["--grace-seconds", "0"]  # an object's time cannot be set back in S3; nothing else is running
    else:
        old = time.time() - 3600
        for p in (store.blobs.local_path(orphan), store.blobs.local_path(trashed)):
            os.utime(p, (old, old))
    os.utime(stale, (time.time() - 3600,) * 2)
    out = reverie("sweep", "--data", str(data), *grace).stdout
    assert "staged=1 restored=1 trashed=0 orphans=1" in out
    assert not stale.exists() and not store.blobs.exists(orphan) and store.blobs.exists(original_key(sha))
    assert not store.blobs.exists(trashed)
    assert len(blob_files(data)) == 2


def test_errors_that_persist_fail_the_image_with_the_last_error(store_with_jobs):
    store, (image_id,), _, _ = store_with_jobs(1, job_max_attempts=2)
    (sha,), = db_rows(store.settings.data, "SELECT sha256 FROM images WHERE id=?", image_id)
    store.blobs.delete(original_key(sha))
    worker = Worker(store, Models(store.settings), "w")
    assert worker.run_one() is True
    time.sleep(2.1)
    assert worker.run_one() is True
    (status, cause), = db_rows(store.settings.data, "SELECT status, cause FROM images WHERE id=?", image_id)
    assert status == "FAILED" and cause.startswith("indexing failed 2 times; last error: FileNotFoundError")
    assert db_rows(store.settings.data, "SELECT state FROM jobs") == [("failed",)]


def test_sigterm_lets_an_upload_in_flight_finish(fresh_server):
    """Graceful shutdown: a request being received when SIGTERM arrives still completes and is kept."""
    import requests

    from conftest import jpeg as make_jpeg

    server = fresh_server("--no-workers")
    key = create_key(server.data, "graceful")
    boundary = "graceful-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"slow.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    payload = make_jpeg() + b"\0" * (2 * 1024 * 1024)
    tail = f"\r\n--{boundary}--\r\n".encode()

    def slow_body():
        yield head
        for i in range(0, len(payload), 256 * 1024):
            if i == 512 * 1024:
                server.proc.send_signal(signal.SIGTERM)  # mid-body
            time.sleep(0.1)
            yield payload[i : i + 256 * 1024]
        yield tail

    res = requests.post(server.url("/upload_img"), data=slow_body(), timeout=30,
                        headers={"Authorization": key, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert res.json()["code"] == "0000"
    (image_id,) = [d["id"] for d in res.json()["data"]]
    # then it stopped (uvicorn re-raises the signal once done, so the status says SIGTERM)
    assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    again = fresh_server("--no-workers", data=server.data)
    meta = again.client(key).metadata(image_id)
    assert meta["size"] == len(payload)


def test_overload_is_shed_with_0429_not_timeouts(fresh_server):
    """Past --max-in-flight the server answers at once (503, 0429, Retry-After) and stays healthy."""
    import threading

    import requests

    from conftest import jpeg as make_jpeg

    server = fresh_server("--no-workers", "--max-in-flight", "3")
    key = create_key(server.data, "busy")
    release = threading.Event()
    boundary = "B"

    def slow_body():  # holds its slot until released
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"s.jpg\"\r\n"
               "Content-Type: image/jpeg\r\n\r\n").encode()
        release.wait(20)
        yield make_jpeg() + f"\r\n--{boundary}--\r\n".encode()

    results = []

    def slow_upload():
        res = requests.post(server.url("/upload_img"), data=slow_body(), timeout=30,
                            headers={"Authorization": key, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        results.append(res.json()["code"])

    holders = [threading.Thread(target=slow_upload) for _ in range(3)]
    for t in holders:
        t.start()
    time.sleep(1.0)  # all three are in flight
    started = time.monotonic()
    shed = requests.get(server.url("/list_unique_ids"), headers={"Authorization": key}, timeout=5)
    assert time.monotonic() - started < 1.0  # answered at once, not queued
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.json()["code"] == "0429" and shed.json()["msg"].startswith("server busy")
    release.set()
    for t in holders:
        t.join(timeout=30)
    assert results == ["0000"] * 3  # the ones in flight were served
    ok = requests.get(server.url("/list_unique_ids"), headers={"Authorization": key}, timeout=5)
    assert ok.status_code == 200 and ok.json()["code"] == "0000"
