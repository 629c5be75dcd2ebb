"""Storage: the metadata database and the blob store, opened together from the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..config import Settings
from . import search_index, visual_choice
from . import videos as video_rows
from .blob_stores import open_blob_store
from .blobs import BlobStore
from .db import Database, migrate
from .pg_vectors import IMAGES, VIDEO_ITEMS, PgVectorIndex
from .vectors import VectorIndex, VectorSearch, drop_graphs


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
        settings = visual_choice.resolved(db, settings)
        return cls(settings=settings, db=db, blobs=open_blob_store(settings.blob_url, settings.blob_dir))

    def vector_search(self, space: str, videos: bool = False) -> VectorSearch:
        """The index of one vector space, for images or (videos=True) clips and transcript segments:
        held in memory beside SQLite, searched by pgvector on PostgreSQL."""
        if not self.db.is_sqlite:
            return PgVectorIndex(self.db, VIDEO_ITEMS if videos else IMAGES, space)
        loader = video_rows.load_vectors if videos else search_index.load_vectors
        return VectorIndex(self.db, space, self.settings.data / "vectors", self.settings.ann_threshold, loader=loader)

    def drop_vector_graphs(self, space: str) -> int:
        """Delete the search graphs of a vector space nothing searches any more: SQLite's live in the data
        folder (pgvector keeps its own in the database); how many."""
        return drop_graphs(self.settings.data / "vectors", space) if self.db.is_sqlite else 0

    def close(self) -> None:
        self.db.dispose()
