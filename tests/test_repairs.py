"""Uploads left in doubt by an outage are settled by what PostgreSQL says of their transaction.

A COMMIT cut off by the database going away cannot be produced on demand, so these tests write the repair
such an upload records (store/repairs.py) for transactions whose outcome is known: one that did commit (an
upload's own, read from its row's xmin), one rolled back. The first must be undone as if never stored (rows,
bytes, credits), the second must lose only the bytes no row holds. A worker's `release` is tested too.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from conftest import DISTRIBUTED, create_key, jpeg, open_store, reverie
from reverie.store import jobs as job_queue
from reverie.store.blobs import original_key
from reverie.store.repairs import Repair, pending, record, settle_pending

pytestmark = pytest.mark.skipif(not DISTRIBUTED, reason="transactions in doubt happen on PostgreSQL only")


def _balance(store) -> int:  # noqa: ANN001
    with store.db.read() as conn:
        return conn.execute(text("SELECT credit_balance FROM accounts WHERE name = 'doubt'")).scalar()


def _account(store) -> int:  # noqa: ANN001
    with store.db.read() as conn:
        return conn.execute(text("SELECT id FROM accounts WHERE name = 'doubt'")).scalar()


def test_an_upload_that_committed_unannounced_is_undone_with_its_bytes_and_credits(fresh_server):
    server = fresh_server("--no-workers")
    key = create_key(server.data, "doubt", account="doubt")
    reverie("credits", "grant", "doubt", "10", "--data", str(server.data))
    client = server.client(key)
    kept_id, doubted_id = client.upload_ok([("kept.jpg", jpeg(color=(1, 2, 3)), "image/jpeg")]) + \
        client.upload_ok([("doubted.jpg", jpeg(color=(9, 8, 7)), "image/jpeg")])
    store = open_store(server.data)
    with store.db.read() as conn:
        sha = conn.execute(text("SELECT sha256 FROM images WHERE id = :i"), {"i": doubted_id}).scalar()
        xid = conn.execute(text("SELECT xmin::text::bigint FROM images WHERE id = :i"), {"i": doubted_id}).scalar()
    assert _balance(store) == 8 and store.blobs.exists(original_key(sha))

    record(server.data, Repair(account_id=_account(store), unique_id="default", keys=[original_key(sha)], credits=1,
                               image_ids=[doubted_id], xid=xid))
    assert settle_pending(store) == 1
    assert not pending(server.data)
    ids = [item["id"] for item in client.list_page(page=1, page_size=20)["item"]]
    assert ids == [kept_id]
    assert not store.blobs.exists(original_key(sha))
    assert _balance(store) == 9
    store.close()


def test_a_rolled_back_upload_loses_only_the_bytes_no_row_holds(fresh_server):
    server = fresh_server("--no-workers")
    key = create_key(server.data, "doubt", account="doubt")
    client = server.client(key)
    held = jpeg(color=(50, 60, 70))
    client.upload_ok([("held.jpg", held, "image/jpeg")])
    store = open_store(server.data)
    held_key = original_key(hashlib.sha256(held).hexdigest())
    stray_key = original_key(hashlib.sha256(b"bytes of an upload that never committed").hexdigest())
    store.blobs.put_bytes(stray_key, b"bytes of an upload that never committed")
    with store.db.engine.connect() as conn:
        xid = conn.execute(text("SELECT txid_current()")).scalar()
        conn.rollback()

    record(server.data, Repair(account_id=_account(store), unique_id="default", keys=[held_key, stray_key], credits=1,
                               image_ids=[123456789], xid=xid))
    assert settle_pending(store) == 1
    assert store.blobs.exists(held_key) and not store.blobs.exists(stray_key)
    assert len(client.list_page(page=1, page_size=20)["item"]) == 1
    store.close()


def test_a_worker_back_from_an_outage_hands_back_its_jobs_uncounted(fresh_server):
    server = fresh_server("--no-workers")
    client = server.client(create_key(server.data, "doubt"))
    image_id = client.upload_ok([("a.jpg", jpeg(), "image/jpeg")])[0]
    store = open_store(server.data)
    (job,) = job_queue.claim(store.db, "cut-off-worker", lease_seconds=300)
    assert job.subject_id == image_id and job.attempts == 1
    assert job_queue.release(store.db, "someone-else") == 0
    assert job_queue.release(store.db, "cut-off-worker") == 1
    (again,) = job_queue.claim(store.db, "another-worker", lease_seconds=300)
    assert again.id == job.id and again.attempts == 1  # due at once, and the cut-off attempt not counted
    store.close()
