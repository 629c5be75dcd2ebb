"""Blob storage: originals (content-addressed) and derived files (thumbnails, previews).

Keys are relative paths such as `originals/ab/cd/<sha256>` or `thumbnails/3f/<id>.jpg`. Every write lands
whole or not at all (temp file, fsync, rename, fsync of the folder), so a crash never leaves half a file
under a real key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Protocol


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


class BlobStore(Protocol):
    def adopt(self, key: str, staged: Path) -> bool:
        """Move a staged file (same filesystem) under `key` unless the key exists. True if it moved."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def open(self, key: str) -> BinaryIO: ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path to stream from, where the backend has one."""

    def delete(self, key: str) -> None: ...

    def move(self, key: str, new_key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]: ...


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
        if not key or key.startswith("/") or ".." in key.split("/") or "\x00" in key:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

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

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

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
