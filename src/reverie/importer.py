"""`reverie import`: bring folders of photos (or image URLs) into a namespace, resumably.

Sources are files, folders (walked recursively) and http(s) URLs. Each file is hashed first and the
target is asked which hashes the namespace already holds, so a second run skips what the first one
imported (and an interrupted run picks up where it stopped). The target is a running server (through
its HTTP API) or a data folder directly. Files go one per upload, several at a time, so that one bad
file is reported on its own and rejects nothing else.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import httpx

from .client import Reverie, ReverieError
from .ingest.images import ALLOWED_EXTENSIONS
from .store.blobs import file_sha256

HASH_BATCH = 200  # the most hashes img_list_page takes in one filter
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


@dataclass
class Source:
    label: str  # what the user gave: a path or a URL
    path: Path  # the local file to upload (a download lands in a temporary folder)
    sha256: str = ""


@dataclass
class Report:
    imported: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the namespace, or twice in this run
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    ignored: int = 0  # files in the folders that are not images by their extension

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)}, skipped {len(self.skipped)} (already there), "
                 f"rejected {len(self.rejected)}, not images {self.ignored}"]
        reasons = Counter(reason for _, reason in self.rejected)
        for label, reason in self.rejected[:20]:
            lines.append(f"  rejected {label}: {reason}")
        if len(self.rejected) > 20:
            lines.append(f"  ... and {len(self.rejected) - 20} more ({len(reasons)} distinct reasons)")
        return "\n".join(lines)


def collect(paths: Iterable[str], report: Report) -> tuple[list[Source], list[str]]:
    """Local image files (folders walked) and the URLs, in a stable order."""
    files, urls = [], []
    for p in paths:
        if p.startswith(("http://", "https://")):
            urls.append(p)
            continue
        path = Path(p)
        if not path.exists():
            report.rejected.append((p, "no such file or folder"))
            continue
        candidates = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
        for q in candidates:
            if q.suffix.lower() in ALLOWED_EXTENSIONS:
                files.append(Source(str(q), q))
            else:
                report.ignored += 1
    return files, urls


def download(url: str, folder: Path) -> Path:
    name = Path(httpx.URL(url).path).name or "download.jpg"
    dest = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    size = 0
    with httpx.stream("GET", url, timeout=60, follow_redirects=True) as res:
        res.raise_for_status()
        with open(dest, "wb") as out:
            for chunk in res.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ValueError(f"larger than {MAX_DOWNLOAD_BYTES} bytes")
                out.write(chunk)
    return dest


class ApiTarget:
    """Import through the HTTP API of a running server."""

    def __init__(self, rv: Reverie):
        self.rv = rv

    def already_there(self, unique_id: str, hashes: list[str]) -> set[str]:
        present: set[str] = set()
        for i in range(0, len(hashes), HASH_BATCH):
            for item in self.rv.iter_images(page_size=200, unique_id=unique_id, sha256=hashes[i : i + HASH_BATCH]):
                present.add(item["sha256"])
        return present

    def upload(self, path: Path, unique_id: str, tags: list[str]) -> int:
        (image_id,) = self.rv.upload_images([path], unique_id=unique_id, tags=tags or None)
        return image_id


class DataFolderTarget:
    """Import straight into a data folder (no server needed), through the same checks and transaction as
    upload_img. A running `reverie serve` or `reverie worker` on that folder indexes what arrives."""

    def __init__(self, store, account_id: int):  # noqa: ANN001
        self.store, self.account_id = store, account_id

    def already_there(self, unique_id: str, hashes: list[str]) -> set[str]:
        from .store import images as image_rows

        present: set[str] = set()
        with self.store.db.read() as conn:
            for i in range(0, len(hashes), HASH_BATCH):
                f = image_rows.ImageFilter(unique_id=unique_id, sha256_any=hashes[i : i + HASH_BATCH])
                _, rows = image_rows.page(conn, self.account_id, f, 1, HASH_BATCH)
                present.update(r.sha256 for r in rows)
        return present

    def upload(self, path: Path, unique_id: str, tags: list[str]) -> int:
        import shutil

        from .errors import ApiError
        from .ingest import images as ingest
        from .ingest.fields import parse_tags, parse_unique_id, with_server_tag
        from .ingest.multipart import FilePart, Form

        staged = Path(tempfile.mkstemp(dir=self.store.settings.staging_dir, prefix="import-")[1])
        shutil.copyfile(path, staged)
        part = FilePart("files", path.name, ingest_mime(path), staged, staged.stat().st_size, file_sha256(staged))
        form = Form(files=[part])
        try:
            meta = ingest.ImageMeta(parse_unique_id(unique_id), None, None, None, with_server_tag(parse_tags(tags, ingest.MAX_TAGS)))
            files = ingest.check_files(form, self.store.settings.max_file_bytes, self.store.settings.max_image_pixels)
            (image_id,) = ingest.store_images(self.store, self.account_id, meta, files)
            return image_id
        except ApiError as err:
            raise ReverieError(err.code, err.msg, 200) from None
        finally:
            form.cleanup()


def ingest_mime(path: Path) -> str:
    from .client import MIME

    return MIME.get(path.suffix.lower(), "application/octet-stream")


def run(
    target: ApiTarget | DataFolderTarget,
    paths: list[str],
    unique_id: str,
    tags: list[str],
    jobs: int = 4,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,  # called with the number of sources to do, returns a bar
) -> Report:
    report = Report()
    sources, urls = collect(paths, report)
    with tempfile.TemporaryDirectory(prefix="reverie-import-") as tmp:
        for url in urls:
            try:
                sources.append(Source(url, download(url, Path(tmp))))
            except (httpx.HTTPError, ValueError, OSError) as exc:
                report.rejected.append((url, f"download failed: {exc}"))
        for s in sources:
            s.sha256 = file_sha256(s.path)
        present = target.already_there(unique_id, sorted({s.sha256 for s in sources}))
        todo, seen = [], set(present)
        for s in sources:
            if s.sha256 in seen:
                report.skipped.append(s.label)
            else:
                seen.add(s.sha256)
                todo.append(s)
        if dry_run:
            report.imported = [(s.label, 0) for s in todo]
            return report
        bar = progress(len(todo)) if progress else None

        def upload(s: Source) -> tuple[Source, int | None, str]:
            try:
                return s, target.upload(s.path, unique_id, tags), ""
            except ReverieError as err:
                # the server names the file part files[0] (name): the source says which file it was
                return s, None, err.msg.split(": ", 1)[-1] if err.msg.startswith("files[0]") else err.msg

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for fut in as_completed([pool.submit(upload, s) for s in todo]):
                s, image_id, reason = fut.result()
                if image_id is None:
                    report.rejected.append((s.label, reason))
                else:
                    report.imported.append((s.label, image_id))
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    return report
