"""Blob storage: originals (content-addressed) and derived files (thumbnails, previews).

Keys are relative paths such as `originals/ab/cd/<sha256>` or `thumbnails/3f/<id>.jpg`. Every write lands
whole or not at all (temp file, fsync, rename, fsync of the folder), so a crash never leaves half a file
under a real key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The content address of a file, read in 1 MB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def original_key(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def derived_key(kind: str, image_id: int, ext: str = "jpg") -> str:
    return f"{kind}/{image_id % 256:02x}/{image_id}.{ext}"


CLIP_FACES = "clip-faces"


def clip_face_key(video_id: int, clip_idx: int, face_idx: int) -> str:
    """The crop of a face in a clip's keyframe; all of a video's lie under `clip-faces/<video id>`."""
    return f"{CLIP_FACES}/{video_id}/{clip_idx}.{face_idx}.jpg"


def check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\x00" in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobReader:
    """A blob's bytes, or one range of them, as a stream: `read(n)`, `with`, and iteration in 1 MB pieces
    (StreamingResponse iterates its content; a file would hand it lines, however long)."""

    def __init__(self, raw: BinaryIO, length: int | None = None):
        self._raw = raw
        self._left = length  # bytes left of a range that `raw` runs on past; None: `raw` ends with the range

    def read(self, n: int = -1) -> bytes:
        if self._left is not None:
            n = self._left if n < 0 else min(n, self._left)
        data = self._raw.read() if n < 0 else self._raw.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        with self:  # closed at the end, or when the consumer drops it (a client gone mid-download)
            while chunk := self.read(CHUNK):
                yield chunk


class BlobStore(Protocol):
    def adopt(self, key: str, staged: Path) -> bool:
        """Take a staged file under `key` unless the key exists. True if it was taken (the staged file is then
        gone); False leaves the staged file where it is."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Raises FileNotFoundError for a missing key."""

    def modified(self, key: str) -> float:
        """When the blob was written, in seconds since the epoch. Raises FileNotFoundError for a missing key."""

    def open(self, key: str) -> BlobReader:
        """Raises FileNotFoundError for a missing key."""

    def open_range(self, key: str, start: int, end: int) -> BlobReader:
        """Bytes `start` to `end` inclusive (`end` within the blob). Raises FileNotFoundError for a missing key."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path to stream from, where the backend has one."""

    def fetch_to(self, key: str, dest: Path) -> None:
        """A copy of the blob at `dest`, for readers that need a real file. Raises FileNotFoundError."""

    def delete(self, key: str) -> None:
        """Idempotent: a missing key is not an error."""

    def move(self, key: str, new_key: str) -> bool:
        """False if `key` does not exist."""

    def keys(self, prefix: str) -> list[str]:
        """Every key under the folder `prefix` (`keyframes/12` holds `keyframes/12/…`, not `keyframes/123/…`)."""

    def abort_uploads(self, grace_seconds: float) -> int:
        """Abort uploads in parts begun more than `grace_seconds` ago and never finished (a process cut off
        mid-upload leaves them, costing storage); how many were aborted."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self._made: set[Path] = set()  # folders known to exist: mkdir is a syscall per blob otherwise

    def _folder(self, path: Path) -> None:
        if path not in self._made:
            path.mkdir(parents=True, exist_ok=True)
            self._made.add(path)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def adopt(self, key: str, staged: Path) -> bool:
        dest = self._path(key)
        if dest.exists():
            return False
        self._folder(dest.parent)
        os.replace(staged, dest)
        _fsync_dir(dest.parent)
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        dest = self._path(key)
        self._folder(dest.parent)
        tmp = self._tmp / secrets.token_hex(8)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def modified(self, key: str) -> float:
        return self._path(key).stat().st_mtime

    def open(self, key: str) -> BlobReader:
        return BlobReader(open(self._path(key), "rb"))

    def open_range(self, key: str, start: int, end: int) -> BlobReader:
        f = open(self._path(key), "rb")
        f.seek(start)
        return BlobReader(f, end - start + 1)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def fetch_to(self, key: str, dest: Path) -> None:
        src = self._path(key)
        try:
            os.link(src, dest)  # blobs are never written in place, so sharing the inode is safe
        except FileNotFoundError:
            raise
        except OSError:  # another filesystem, or one without hard links
            shutil.copyfile(src, dest)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def move(self, key: str, new_key: str) -> bool:
        src, dest = self._path(key), self._path(new_key)
        self._folder(dest.parent)
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            return False
        _fsync_dir(dest.parent)
        return True

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.exists():
            return []
        return [str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()]

    def abort_uploads(self, grace_seconds: float) -> int:
        return 0  # files are written whole in one go: there are no uploads in parts
