"""`reverie migrate-store`: copy a whole library from one stack to another (SQLite + files to PostgreSQL +
S3, or back), then prove the copy by row counts and content hashes.

Run it with the servers and workers stopped: the source is read as it stands. The target must be empty
(freshly migrated); every row keeps its id, so links, video numbers and API answers stay the same.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Connection, func, select, text
from tqdm import tqdm

from . import Store, vector_rows
from .pg_vectors import IMAGES, VIDEO_ITEMS, ensure_index
from .schema import image_vectors, images, metadata, video_vectors, videos

# The full-text tables, FTS5 on SQLite and plain tables on PostgreSQL, with the same columns (migration 0005).
TEXT_TABLES = {
    "image_fts": ("ocr", "tags", "labels", "place", "camera", "name"),
    "image_ocr_trigrams": ("ocr",),
    "clip_fts": ("caption", "labels", "tags", "name"),
    "segment_words": ("text", "tail"),
}
SKIPPED = {"rate_buckets"}  # fill levels of rate limits: they refill by themselves
BLOB_PREFIXES = ("originals", "thumbnails", "previews", "videos", "keyframes")
BATCH = 1000


@dataclass
class Report:
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (source, target)
    blobs: int = 0
    blob_bytes: int = 0
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and all(a == b for a, b in self.rows.values())


def _count(conn: Connection, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _refuse_non_empty(target: Store) -> None:
    with target.db.read() as conn:
        held = conn.execute(select(func.count()).select_from(images)).scalar_one() + \
            conn.execute(select(func.count()).select_from(videos)).scalar_one()
    if held:
        raise ValueError(f"the target already holds {held} images and videos; migrate-store copies into an "
                         "empty library only (a fresh database and an empty bucket or folder)")


def _copy_rows(source: Store, target: Store, progress: Callable[[int], None]) -> None:
    vector_tables = {image_vectors.name, video_vectors.name}
    with source.db.read() as src, target.db.write() as dst:
        for table in metadata.sorted_tables:
            if table.name in SKIPPED:
                continue
            for batch in src.execute(select(table)).yield_per(BATCH).partitions():
                rows = [dict(r._mapping) for r in batch]
                if table.name in vector_tables:
                    for r in rows:
                        vec = vector_rows.loaded(r.pop("vector"), r.pop("embedding"))
                        r.update(vector_rows.stored(dst, vec))
                dst.execute(table.insert(), rows)
                progress(len(rows))
        for name, columns in TEXT_TABLES.items():
            cols = ", ".join(("rowid",) + columns)
            marks = ", ".join(":" + c for c in ("rowid",) + columns)
            result = src.execute(text(f"SELECT {cols} FROM {name}"))
            for batch in result.yield_per(BATCH).partitions():
                dst.execute(text(f"INSERT INTO {name} ({cols}) VALUES ({marks})"), [dict(r._mapping) for r in batch])
                progress(len(batch))
        if dst.dialect.name == "postgresql":
            # Rows came with their ids: each sequence must start past them.
            serials = dst.execute(text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'")).all()
            for table, column in serials:
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                 f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"))


def _build_vector_indexes(target: Store, show_progress: bool) -> None:
    """Build the HNSW indexes now rather than at the first search, which would hold up writers meanwhile."""
    wanted = []
    with target.db.read() as conn:
        for where in (IMAGES, VIDEO_ITEMS):
            wanted += [(where, space, dim) for space, dim in conn.execute(text(
                f"SELECT DISTINCT space, vector_dims(embedding) FROM {where.table}"))]
    for where, space, dim in tqdm(wanted, unit="index", desc="HNSW ", disable=not show_progress):
        ensure_index(target.db, where, space, dim)


def _blob_keys(store: Store) -> list[str]:
    return [k for prefix in BLOB_PREFIXES for k in store.blobs.keys(prefix)]


def _hash_stream(f) -> tuple[str, int]:  # noqa: ANN001
    h, size = hashlib.sha256(), 0
    while chunk := f.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _copy_blob(source: Store, target: Store, key: str) -> tuple[str, int]:
    """Copy one blob through a staged file, hashing it on the way; returns its (sha256, size)."""
    staged = target.settings.staging_dir / f"migrate-{secrets.token_hex(8)}"
    h, size = hashlib.sha256(), 0
    try:
        with source.blobs.open(key) as src, open(staged, "wb") as out:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        target.blobs.adopt(key, staged)
    finally:
        staged.unlink(missing_ok=True)
    return h.hexdigest(), size


def migrate_store(source: Store, target: Store, show_progress: bool = True) -> Report:
    _refuse_non_empty(target)
    target.settings.staging_dir.mkdir(parents=True, exist_ok=True)
    report = Report()
    with source.db.read() as conn:
        counts = {t.name: _count(conn, t.name) for t in metadata.sorted_tables if t.name not in SKIPPED}
        counts.update({name: _count(conn, name) for name in TEXT_TABLES})
    keys = _blob_keys(source)
    with tqdm(total=sum(counts.values()), unit="row", desc="rows ", disable=not show_progress) as bar:
        _copy_rows(source, target, bar.update)
    hashes: dict[str, tuple[str, int]] = {}
    with tqdm(total=len(keys), unit="file", desc="files", disable=not show_progress) as bar:
        for key in keys:
            hashes[key] = _copy_blob(source, target, key)
            bar.update(1)
    if not target.db.is_sqlite:
        _build_vector_indexes(target, show_progress)
    with target.db.read() as conn:
        for name, n in counts.items():
            report.rows[name] = (n, _count(conn, name))
    with tqdm(total=len(keys), unit="file", desc="verify", disable=not show_progress) as bar:
        for key in keys:
            with target.blobs.open(key) as f:
                got = _hash_stream(f)
            want = hashes[key]
            if got != want or (key.startswith("originals/") and want[0] != key.rsplit("/", 1)[-1]):
                report.mismatched.append(key)
            report.blobs += 1
            report.blob_bytes += want[1]
            bar.update(1)
    return report


def describe(report: Report) -> str:
    lines = [f"{'TABLE':<22} {'SOURCE':>10} {'TARGET':>10}"]
    for name, (a, b) in report.rows.items():
        lines.append(f"{name:<22} {a:>10} {b:>10}{'' if a == b else '  MISMATCH'}")
    lines.append(f"files: {report.blobs} ({report.blob_bytes / (1 << 20):.1f} MB), sha256 verified on the target"
                 + (f"; {len(report.mismatched)} differ: {', '.join(report.mismatched[:5])}" if report.mismatched else ""))
    return "\n".join(lines)
