"""Uploads that failed while the database or the object store was away, settled once both answer again.

An upload answered with an error must leave nothing behind, but an outage can stop Reverie from knowing
or undoing what it did: a connection lost during COMMIT leaves the transaction's outcome unknown, and a
store that went away cannot delete the bytes a rolled-back upload had put in it. Such an upload is written
as a repair under DATA/repairs (fsynced, so it survives this process too) before the request answers,
and a background thread settles it: a transaction that did commit is undone (the client was told nothing
was stored: its rows go and its credits come back), then every byte the upload brought that no row holds
is deleted.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import select, text

from ..errors import Unavailable
from . import Store
from . import images as image_rows
from .blobs import original_key
from .credits import refund
from .db import lock_content
from .removal import delete_images, delete_videos
from .schema import videos

log = logging.getLogger(__name__)

FOLDER = "repairs"
EVERY_SECONDS = 2.0


@dataclass
class Repair:
    account_id: int
    unique_id: str
    keys: list[str]  # blobs the upload put in the store
    credits: int = 0  # what the upload cost, given back if its transaction committed after all
    image_ids: list[int] = field(default_factory=list)
    video_ids: list[int] = field(default_factory=list)
    xid: int | None = None  # the transaction whose outcome is unknown; None: it surely rolled back


def record(data: Path, repair: Repair) -> None:
    folder = data / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{secrets.token_hex(8)}.json"
    tmp = final.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(asdict(repair), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    log.warning("upload to %s/%s left to settle when the database and the store answer: %s",
                repair.account_id, repair.unique_id, final.name)


def pending(data: Path) -> list[Path]:
    folder = data / FOLDER
    return sorted(folder.glob("*.json")) if folder.exists() else []


def settle_pending(store: Store) -> int:
    """Settle every recorded repair that can be settled now; the number settled. One that meets an outage
    stays for the next round."""
    done = 0
    for path in pending(store.settings.data):
        try:
            _settle(store, Repair(**json.loads(path.read_text())))
        except Unavailable as exc:
            log.info("repair %s waits: %s", path.name, exc.msg)
            break
        path.unlink()
        done += 1
    if done:
        log.info("settled %d upload(s) that failed during an outage", done)
    return done


def run(store: Store, stop: threading.Event) -> None:
    """The background loop of a server: settle what is pending, every few seconds."""
    while not stop.wait(EVERY_SECONDS):
        try:
            settle_pending(store)
        except Exception:
            log.exception("settling failed uploads went wrong; trying again in %.0f s", EVERY_SECONDS)


def _committed(store: Store, xid: int) -> bool:
    with store.db.read() as conn:
        # NULL: too old to tell (not seen in practice within seconds); only unheld bytes are deleted then.
        return conn.execute(text("SELECT txid_status(:xid)"), {"xid": xid}).scalar() == "committed"


def _settle(store: Store, repair: Repair) -> None:
    if repair.xid is not None and _committed(store, repair.xid):
        def give_back(conn, deleted: int) -> None:  # noqa: ANN001
            # With the rows: a repair tried again after a later outage finds them gone and refunds nothing.
            if deleted:
                refund(conn, repair.account_id, repair.credits)

        if repair.image_ids:
            delete_images(store, repair.account_id, repair.unique_id, repair.image_ids, also=give_back)
        if repair.video_ids:
            delete_videos(store, repair.account_id, repair.unique_id, repair.video_ids, also=give_back)
    for key in repair.keys:
        with store.db.write() as conn:  # deleted under the content lock: an upload of the same bytes waits
            if not _held(conn, key):
                store.blobs.delete(key)


def _held(conn, key: str) -> bool:  # noqa: ANN001
    """Whether a row still needs the blob (its bytes are shared by later uploads of the same content)."""
    if key.startswith("originals/"):
        sha = key.rsplit("/", 1)[-1]
        if key != original_key(sha):
            return True  # not a key this module wrote: leave it
        lock_content(conn, [sha])
        return image_rows.sha_in_use(conn, sha)
    return conn.execute(select(videos.c.id).where(videos.c.original_key == key)).first() is not None


class UploadUndo:
    """What an upload's transaction brings (blobs, ids, credits), and how to take it back when the
    transaction fails: `rolled_back` and `in_doubt` are `Database.write`'s callbacks."""

    def __init__(self, store: Store, account_id: int, unique_id: str, credits: int):
        self.store = store
        self.repair = Repair(account_id=account_id, unique_id=unique_id, keys=[], credits=credits)
        self.adopted: list[str] = []  # keys this upload surely wrote

    def adopt(self, key: str, staged: Path) -> None:
        """Put a staged file under `key` (unless the key exists), as the transaction's own."""
        self.repair.keys.append(key)  # also when the PUT fails: its bytes may have reached the store
        if self.store.blobs.adopt(key, staged):
            self.adopted.append(key)

    def rolled_back(self) -> None:
        if self.store.db.is_sqlite:  # still inside the write lock: no upload of the same bytes can slip in
            for key in self.adopted:
                self.store.blobs.delete(key)
            return
        try:  # the content lock went with the transaction: delete only what no row holds meanwhile
            _settle(self.store, self.repair)
        except Unavailable:
            record(self.store.settings.data, self.repair)

    def in_doubt(self, xid: int) -> None:
        self.repair.xid = xid
        record(self.store.settings.data, self.repair)
