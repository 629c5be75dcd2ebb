"""Storage: the metadata database and the blob store, opened together from the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..config import Settings
from .blobs import BlobStore, FileBlobStore
from .db import Database, migrate


@dataclass
class Store:
    settings: Settings
    db: Database
    blobs: BlobStore
    # Set when new jobs are queued, so in-process workers wake without waiting for their poll.
    jobs_waiting: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(cls, settings: Settings) -> "Store":
        settings.staging_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        migrate(db, lock_dir=settings.data)
        return cls(settings=settings, db=db, blobs=FileBlobStore(settings.blob_dir))

    def close(self) -> None:
        self.db.dispose()
