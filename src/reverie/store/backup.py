"""`reverie backup` and `reverie restore`: a whole data folder as one tar file, taken while it serves.

The database is copied with SQLite's online backup (a consistent snapshot, writers keep going), then every
blob that snapshot refers to (image originals, thumbnails, previews; video originals and keyframes) is
added. An image or video deleted between the snapshot and the copy of its files is dropped from the
snapshot too, so the archive is always a state the library really had. Restore unpacks into an empty folder and verifies
every original against its row before saying it is done.
"""

from __future__ import annotations

import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .blobs import file_sha256, original_key

DB_NAME = "reverie.db"


@dataclass
class Summary:
    images: int
    blobs: int
    dropped: int = 0  # images and videos deleted while the backup ran
    videos: int = 0

    def __str__(self) -> str:
        extra = f", {self.dropped} deleted during the backup left out" if self.dropped else ""
        return f"{self.images} images, {self.videos} videos, {self.blobs} files{extra}"


def backup(settings: Settings, out: Path) -> Summary:
    if not settings.database_url.startswith("sqlite") or settings.blob_url:
        raise ValueError("backup covers the embedded stack (SQLite + files); back up PostgreSQL (pg_dump or its "
                         "continuous archiving) and the bucket (versioning or replication) with their own tools, or "
                         "`reverie migrate-store` the library to an embedded folder and back that up")
    db_path = settings.data / DB_NAME
    if not db_path.exists():
        raise FileNotFoundError(f"no Reverie database in {settings.data}")
    with tempfile.TemporaryDirectory(prefix="reverie-backup-") as tmp:
        snapshot = Path(tmp) / DB_NAME
        with sqlite3.connect(db_path) as src, sqlite3.connect(snapshot) as dst:
            src.backup(dst)
        conn = sqlite3.connect(snapshot)
        try:
            rows = conn.execute("SELECT id, sha256, thumbnail_key, preview_key FROM images").fetchall()
            files: dict[str, Path] = {}
            gone: list[int] = []
            blobs = settings.blob_dir
            for image_id, sha, thumb, preview in rows:
                original = blobs / original_key(sha)
                if not original.exists():
                    gone.append(image_id)
                    continue
                files[original_key(sha)] = original
                for key in (thumb, preview):
                    if key and (blobs / key).exists():
                        files[key] = blobs / key
            if gone:
                marks = ",".join("?" * len(gone))
                for table, column in (("image_tags", "image_id"), ("image_vectors", "image_id"), ("faces", "image_id"),
                                      ("jobs", "subject_id")):
                    conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", gone)
                conn.execute(f"DELETE FROM image_fts WHERE rowid IN ({marks})", gone)
                conn.execute(f"DELETE FROM image_ocr_trigrams WHERE rowid IN ({marks})", gone)
                conn.execute(f"DELETE FROM images WHERE id IN ({marks})", gone)
                conn.commit()
            for (key,) in conn.execute("SELECT crop_key FROM faces"):
                if (blobs / key).exists():
                    files[key] = blobs / key
            video_count, gone_videos = _video_files(conn, blobs, files)
        finally:
            conn.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with tarfile.open(partial, "w") as tar:  # originals are already compressed: no gzip
            tar.add(snapshot, arcname=DB_NAME)
            for key, path in sorted(files.items()):
                tar.add(path, arcname=f"blobs/{key}")
        partial.replace(out)
    return Summary(images=len(rows) - len(gone), blobs=len(files), dropped=len(gone) + gone_videos, videos=video_count)


def _video_files(conn: sqlite3.Connection, blobs: Path, files: dict[str, Path]) -> tuple[int, int]:
    """Add each video's original and keyframes to `files`; drop from the snapshot the videos whose
    original went away meanwhile (a delete that ran after the snapshot). Returns (kept, dropped)."""
    rows = conn.execute("SELECT id, original_key FROM videos").fetchall()
    gone = [vid for vid, key in rows if key is not None and not (blobs / key).exists()]
    for vid, key in rows:
        if vid in gone:
            continue
        if key is not None:
            files[key] = blobs / key
        for (frame,) in conn.execute("SELECT keyframe_key FROM video_clips WHERE video_id = ?", (vid,)):
            if (blobs / frame).exists():
                files[frame] = blobs / frame
    if gone:
        marks = ",".join("?" * len(gone))
        clips = f"SELECT id FROM video_clips WHERE video_id IN ({marks})"
        segments = f"SELECT id FROM transcript_segments WHERE video_id IN ({marks})"
        conn.execute(f"DELETE FROM clip_fts WHERE rowid IN ({clips})", gone)
        conn.execute(f"DELETE FROM segment_words WHERE rowid IN ({segments})", gone)
        for table, column in (("video_vectors", "video_id"), ("video_clips", "video_id"), ("transcript_segments", "video_id"),
                              ("video_tags", "video_id"), ("jobs", "subject_id"), ("videos", "id")):
            conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", gone)
        conn.commit()
    return len(rows) - len(gone), len(gone)


def restore(archive: Path, settings: Settings) -> Summary:
    if not settings.database_url.startswith("sqlite") or settings.blob_url:
        raise ValueError("restore writes an embedded library (SQLite + files): leave the database and blob URLs "
                         "empty, then `reverie migrate-store` it to PostgreSQL and S3 if that is where it should live")
    data = settings.data
    if (data / DB_NAME).exists():
        raise FileExistsError(f"{data} already holds a library; restore into an empty folder")
    data.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r") as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or name.startswith("/") or ".." in Path(name).parts or not (
                name == DB_NAME or name.startswith("blobs/")
            ):
                raise ValueError(f"{archive} is not a Reverie backup (unexpected entry {name!r})")
        tar.extractall(data, filter="data")
    conn = sqlite3.connect(data / DB_NAME)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValueError("the restored database fails SQLite's integrity check")
        rows = conn.execute("SELECT id, sha256 FROM images").fetchall()
        video_rows = conn.execute("SELECT id, sha256, original_key FROM videos").fetchall()
    finally:
        conn.close()
    bad = [image_id for image_id, sha in rows
           if not (settings.blob_dir / original_key(sha)).exists() or file_sha256(settings.blob_dir / original_key(sha)) != sha]
    if bad:
        raise ValueError(f"{len(bad)} originals are missing or damaged in {archive} (e.g. image {bad[0]})")
    bad = [vid for vid, sha, key in video_rows
           if key is not None and (not (settings.blob_dir / key).exists() or file_sha256(settings.blob_dir / key) != sha)]
    if bad:
        raise ValueError(f"{len(bad)} video originals are missing or damaged in {archive} (e.g. video VI{bad[0]})")
    return Summary(images=len(rows), videos=len(video_rows), blobs=sum(1 for p in settings.blob_dir.rglob("*") if p.is_file()))
