"""`reverie import`: bring folders of photos and videos (or their URLs) into a namespace, resumably.

Sources are files, folders (walked recursively) and http(s) URLs; the extension says photo or video. Each
file is hashed first and the target is asked which of them the namespace already holds, so a second run
skips what the first one imported (and an interrupted run picks up where it stopped). Photos are known by
their sha256; through the API videos are known by name and size (the video API lists no hashes), in a data
folder by their sha256. The target is a running server (through its HTTP API) or a data folder directly.
Files go one per upload, several at a time, so that one bad file is reported on its own and rejects nothing
else. `wait` then follows what was imported until each is indexed (PARSE) or FAILED.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import httpx

from .client import MIME, Reverie, ReverieError
from .ingest.images import ALLOWED_EXTENSIONS as PHOTO_EXTENSIONS
from .ingest.videos import ALLOWED_EXTENSIONS as VIDEO_EXTENSIONS
from .store.blobs import file_sha256

HASH_BATCH = 200  # the most hashes img_list_page takes in one filter
MAX_DOWNLOAD_BYTES = {"photo": 20 * 1024 * 1024, "video": 3 * 1024 * 1024 * 1024}
SHOWN = 20  # lines of detail (rejections, files of a dry run) before "… and N more"


def kind_of(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    return "photo" if suffix in PHOTO_EXTENSIONS else "video" if suffix in VIDEO_EXTENSIONS else None


def count_kinds(kinds: Iterable[str]) -> str:
    """"3 photos, 1 video": how many of each kind."""
    n = Counter(kinds)
    return ", ".join(f"{n[k]} {k}{'' if n[k] == 1 else 's'}" for k in ("photo", "video"))


@dataclass
class Source:
    label: str  # what the user gave: a path or a URL
    path: Path  # the local file to upload (a download lands in a temporary folder)
    kind: str  # photo or video
    sha256: str = ""
    size: int = 0


@dataclass
class Imported:
    label: str
    kind: str
    id: int | str  # a photo's id, a video's videoNo
    sha256: str


@dataclass
class Report:
    imported: list[Imported] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the namespace, or twice in this run
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    ignored: int = 0  # files in the folders that are neither photos nor videos by their extension
    dry_run_only: bool = False  # nothing was uploaded: `imported` is what would be

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)} ({count_kinds(i.kind for i in self.imported)}), skipped "
                 f"{len(self.skipped)} (already there), rejected {len(self.rejected)}, not photos or videos {self.ignored}"]
        for label, reason in self.rejected[:SHOWN]:
            lines.append(f"  rejected {label}: {reason}")
        if len(self.rejected) > SHOWN:
            reasons = Counter(reason for _, reason in self.rejected)
            lines.append(f"  … and {len(self.rejected) - SHOWN} more ({len(reasons)} distinct reasons)")
        return "\n".join(lines)

    def dry_run(self) -> str:
        lines = [f"dry run: would import {len(self.imported)} ({count_kinds(i.kind for i in self.imported)}), skip "
                 f"{len(self.skipped)} (already there), not photos or videos {self.ignored}"]
        lines += [f"  would import {i.label}" for i in self.imported[:SHOWN]]
        rest = self.imported[SHOWN:]
        if rest:
            lines.append(f"  … and {len(rest)} more ({count_kinds(i.kind for i in rest)})")
        return "\n".join(lines)


def collect(paths: Iterable[str], report: Report) -> tuple[list[Source], list[str]]:
    """Local photo and video files (folders walked) and the URLs, in a stable order."""
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
            kind = kind_of(q.name)
            if kind:
                files.append(Source(str(q), q, kind))
            else:
                report.ignored += 1
    return files, urls


def download(url: str, folder: Path) -> Source:
    name = Path(httpx.URL(url).path).name or "download.jpg"
    kind = kind_of(name) or "photo"  # a URL without a known extension is tried as a photo: the server sniffs it
    dest = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    size, limit = 0, MAX_DOWNLOAD_BYTES[kind]
    with httpx.stream("GET", url, timeout=60, follow_redirects=True) as res:
        res.raise_for_status()
        with open(dest, "wb") as out:
            for chunk in res.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"larger than {limit} bytes")
                out.write(chunk)
    return Source(url, dest, kind)


class ApiTarget:
    """Import through the HTTP API of a running server."""

    def __init__(self, rv: Reverie):
        self.rv = rv

    def already_there(self, unique_id: str, sources: list[Source]) -> set[str]:
        """The sha256 of each source the namespace holds already."""
        present: set[str] = set()
        hashes = sorted({s.sha256 for s in sources if s.kind == "photo"})
        for i in range(0, len(hashes), HASH_BATCH):
            for item in self.rv.iter_images(page_size=200, unique_id=unique_id, sha256=hashes[i : i + HASH_BATCH]):
                present.add(item["sha256"])
        videos = [s for s in sources if s.kind == "video"]
        if videos:
            held, page = set(), 1
            while True:
                data = self.rv.list_videos(page=page, size=1000, unique_id=unique_id)
                held.update((v["video_name"], v["size"]) for v in data["videos"])
                if page * 1000 >= data["total_count"] or not data["videos"]:
                    break
                page += 1
            present.update(s.sha256 for s in videos if (s.path.name.rsplit(".", 1)[0], s.size) in held)
        return present

    def upload(self, s: Source, unique_id: str, tags: list[str]) -> int | str:
        if s.kind == "video":
            return self.rv.upload_video(s.path, unique_id=unique_id, tags=tags or None)["videoNo"]
        (image_id,) = self.rv.upload_images([s.path], unique_id=unique_id, tags=tags or None)
        return image_id

    def statuses(self, unique_id: str, photos: dict[str, int], videos: list[str]) -> dict[int | str, tuple[str, str]]:
        """{id: (status, cause)} of the imported photos (by sha256 -> id) and videos (by videoNo)."""
        out: dict[int | str, tuple[str, str]] = {}
        hashes = sorted(photos)
        for i in range(0, len(hashes), HASH_BATCH):
            for item in self.rv.iter_images(page_size=200, unique_id=unique_id, sha256=hashes[i : i + HASH_BATCH]):
                out[item["id"]] = (item["status"], "")
        for i in range(0, len(videos), 1000):
            data = self.rv.list_videos(size=1000, unique_id=unique_id, video_nos=videos[i : i + 1000])
            out.update({v["video_no"]: (v["status"], v.get("cause") or "") for v in data["videos"]})
        for image_id, (status, _) in list(out.items()):
            if status == "FAILED" and isinstance(image_id, int):  # listings carry no cause; metadata does
                out[image_id] = (status, self.rv.get_image(image_id).get("cause") or "")
        return out


class DataFolderTarget:
    """Import straight into a data folder (no server needed), through the same checks and transaction as
    upload_img and upload. A running `reverie serve` or `reverie worker` on that folder indexes what arrives."""

    def __init__(self, store, account_id: int):  # noqa: ANN001
        self.store, self.account_id = store, account_id

    def already_there(self, unique_id: str, sources: list[Source]) -> set[str]:
        from sqlalchemy import select

        from .store.schema import images, videos

        present: set[str] = set()
        hashes = sorted({s.sha256 for s in sources})
        with self.store.db.read() as conn:
            for table in (images, videos):
                for i in range(0, len(hashes), HASH_BATCH):
                    q = select(table.c.sha256).where(table.c.account_id == self.account_id, table.c.unique_id == unique_id,
                                                     table.c.sha256.in_(hashes[i : i + HASH_BATCH]))
                    present.update(conn.execute(q).scalars())
        return present

    def upload(self, s: Source, unique_id: str, tags: list[str]) -> int | str:
        from .errors import ApiError
        from .ingest import images as photo_ingest
        from .ingest import videos as video_ingest
        from .ingest.fields import parse_tags, parse_unique_id, with_server_tag
        from .ingest.multipart import FilePart, Form
        from .store.videos import video_no

        staged = Path(tempfile.mkstemp(dir=self.store.settings.staging_dir, prefix="import-")[1])
        shutil.copyfile(s.path, staged)
        mime = MIME.get(s.path.suffix.lower(), "application/octet-stream")
        field_name = "file" if s.kind == "video" else "files"
        form = Form(files=[FilePart(field_name, s.path.name, mime, staged, staged.stat().st_size, file_sha256(staged))])
        try:
            if s.kind == "video":
                meta = video_ingest.parse_meta([("unique_id", unique_id), *(("tags", t) for t in tags)],
                                               self.store.settings.allow_private_urls)
                part, container = video_ingest.check_file(form, self.store.settings.max_video_bytes)
                video_id, _ = video_ingest.store_video(self.store, self.account_id, meta, part, container)
                return video_no(video_id)
            meta = photo_ingest.ImageMeta(parse_unique_id(unique_id), None, None, None,
                                          with_server_tag(parse_tags(tags, photo_ingest.MAX_TAGS)))
            files = photo_ingest.check_files(form, self.store.settings.max_file_bytes, self.store.settings.max_image_pixels)
            (image_id,) = photo_ingest.store_images(self.store, self.account_id, meta, files)
            return image_id
        except ApiError as err:
            raise ReverieError(err.code, err.msg, 200) from None
        finally:
            form.cleanup()

    def statuses(self, unique_id: str, photos: dict[str, int], videos: list[str]) -> dict[int | str, tuple[str, str]]:
        from sqlalchemy import select

        from .store.schema import images, videos as video_table
        from .store.videos import parse_video_no, video_no

        out: dict[int | str, tuple[str, str]] = {}
        with self.store.db.read() as conn:
            for table, ids, name in ((images, list(photos.values()), lambda i: i),
                                     (video_table, [parse_video_no(v) for v in videos], video_no)):
                for i in range(0, len(ids), HASH_BATCH):
                    q = select(table.c.id, table.c.status, table.c.cause).where(
                        table.c.account_id == self.account_id, table.c.id.in_(ids[i : i + HASH_BATCH]))
                    out.update({name(r.id): (r.status, r.cause or "") for r in conn.execute(q)})
        return out


def run(
    target: ApiTarget | DataFolderTarget,
    paths: list[str],
    unique_id: str,
    tags: list[str],
    jobs: int = 4,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,  # called with the number of sources to do, returns a bar
) -> Report:
    report = Report(dry_run_only=dry_run)
    sources, urls = collect(paths, report)
    with tempfile.TemporaryDirectory(prefix="reverie-import-") as tmp:
        for url in urls:
            try:
                sources.append(download(url, Path(tmp)))
            except (httpx.HTTPError, ValueError, OSError) as exc:
                report.rejected.append((url, f"download failed: {exc}"))
        for s in sources:
            s.sha256, s.size = file_sha256(s.path), s.path.stat().st_size
        present = target.already_there(unique_id, sources)
        todo, seen = [], set(present)
        for s in sources:
            if s.sha256 in seen:
                report.skipped.append(s.label)
            else:
                seen.add(s.sha256)
                todo.append(s)
        if dry_run:
            report.imported = [Imported(s.label, s.kind, 0, s.sha256) for s in todo]
            return report
        bar = progress(len(todo)) if progress else None

        def upload(s: Source) -> tuple[Source, int | str | None, str]:
            try:
                return s, target.upload(s, unique_id, tags), ""
            except ReverieError as err:
                if err.code in ("0401", "0403", "0402"):  # the key or the account, not the file: stop here
                    raise
                # the server names the file part (files[0] (name): ..., file: ...): the source says which file it was
                return s, None, err.msg.split(": ", 1)[-1] if err.msg.startswith(("files[0]", "file:")) else err.msg

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for fut in as_completed([pool.submit(upload, s) for s in todo]):
                s, new_id, reason = fut.result()
                if new_id is None:
                    report.rejected.append((s.label, reason))
                else:
                    report.imported.append(Imported(s.label, s.kind, new_id, s.sha256))
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    return report


@dataclass
class Indexed:
    indexed: int = 0
    failed: list[tuple[Imported, str]] = field(default_factory=list)  # (what, cause)

    def summary(self) -> str:
        lines = [f"indexed {self.indexed}, failed {len(self.failed)}"]
        for item, cause in self.failed[:SHOWN]:
            lines.append(f"  failed {item.label} ({item.id}): {cause or 'no cause recorded'}")
        if len(self.failed) > SHOWN:
            lines.append(f"  … and {len(self.failed) - SHOWN} more")
        return "\n".join(lines)


STALL_S = 120.0  # a long video takes minutes, but nothing at all indexed for this long means nobody is indexing


def wait(target: ApiTarget | DataFolderTarget, report: Report, unique_id: str, progress: Callable[[int], object] | None = None,
         poll: float = 1.0, stalled: Callable[[float], None] | None = None) -> Indexed:
    """Poll until every imported photo and video is PARSE or FAILED. `stalled(seconds)` is called once when
    nothing has finished for STALL_S (e.g. --data with no server or worker on that folder)."""
    by_id = {i.id: i for i in report.imported}
    photos = {i.sha256: i.id for i in report.imported if i.kind == "photo"}
    videos = [i.id for i in report.imported if i.kind == "video"]
    bar = progress(len(by_id)) if progress else None
    done: dict[int | str, tuple[str, str]] = {}
    last_change = time.monotonic()
    while len(done) < len(by_id):
        now = target.statuses(unique_id, photos, videos)
        for item_id in [*photos.values(), *videos]:
            status, cause = now.get(item_id, ("FAILED", "deleted before it was indexed"))
            if status in ("PARSE", "FAILED"):
                done[item_id] = (status, cause)
                last_change = time.monotonic()
                if bar is not None:
                    bar.update(1)
        if stalled is not None and time.monotonic() - last_change > STALL_S:
            stalled(STALL_S)
            stalled = None
        photos = {h: i for h, i in photos.items() if i not in done}
        videos = [v for v in videos if v not in done]
        if len(done) < len(by_id):
            time.sleep(poll)
    if bar is not None:
        bar.close()
    result = Indexed()
    for item_id, (status, cause) in done.items():
        if status == "PARSE":
            result.indexed += 1
        else:
            result.failed.append((by_id[item_id], cause))
    return result
