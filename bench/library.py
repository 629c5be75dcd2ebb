"""The gallery's timeline through HTTP at a library's size: page fetches, the month list, how soon an upload
shows, and the first searches.

    .venv/bin/python bench/library.py --photos 10000

Synthetic at scale (said in the printout): the photo rows, their vectors and full-text rows are written
straight into SQLite as bench/search.py writes them (indexing that many real photos would take far
longer than a bench should run on 2 cores), and then given capture times spread over ten years, a tenth of them none (placed by upload
time), so the timeline has ~120 months; --videos synthetic video rows join them. What is timed is real:
a `reverie serve` on the embedded stack (SQLite + files, one in-process worker), over loopback HTTP.

- library_page: random pages (page_size 60) of the whole timeline, each request timed to its full answer
  (the merged photo+video query, rows, tags and signed links of 60 items).
- library_months: the month list of the namespace.
- first photo visible: a real photo (../shared/eval/caltech101, each upload a different one) uploaded with
  upload_img, timed from the upload's first byte until library_page's page 1 lists it (its img_url shows it),
  and on until its item there has a thumbnail_url (the image.index job: decode, EXIF, thumbnail, labels,
  objects, vectors; its OCR and faces jobs follow).
- first search warm: one warm-up POST /search (models loaded, vectors in memory), then natural-language
  BY_IMAGE searches over the namespace, each query different.
Targets (issue 17): page fetch <= 100 ms, first photo visible <= 1 s after upload, first search <= 300 ms warm.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from search import ACCOUNT_ID, ID_BASE, NAMESPACE, QUERIES, WORDS, fill, percentile, stop_on_sigterm
from server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CALTECH = REPO.parent / "shared" / "eval" / "caltech101"
YEAR_MS = 365 * 24 * 3600 * 1000
PAGE_SIZE = 60


def spread_over_years(settings: Settings, photos: int, videos: int) -> None:
    """Capture times over the last ten years for nine photos in ten (the rest keep only their upload
    time), and `videos` synthetic video rows dated the same way."""
    rnd = random.Random(3)
    now = int(time.time() * 1000)
    store = Store.open(settings)
    try:
        with store.db.engine.begin() as conn:
            dated = [(now - rnd.randrange(10 * YEAR_MS), ID_BASE + i) for i in range(photos) if rnd.random() < 0.9]
            conn.exec_driver_sql("UPDATE images SET datetime_taken_ms = ? WHERE id = ?", dated)
            rows = [(ID_BASE + photos + i, ACCOUNT_ID, NAMESPACE, f"clip{i}.mp4", 1_000_000, f"{i:064x}", "video/mp4", "mp4",
                     f"videos/{ID_BASE + photos + i}.mp4", 1, "PARSE", 12.0, now - rnd.randrange(10 * YEAR_MS), now)
                    for i in range(videos)]
            conn.exec_driver_sql(
                "INSERT INTO videos(id, account_id, unique_id, name, size, sha256, content_type, container, original_key, "
                "retain_original, status, duration_s, datetime_taken_ms, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            conn.exec_driver_sql("ANALYZE")
    finally:
        store.close()


def timed(call) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def ok(res) -> dict:  # noqa: ANN001
    body = res.json()
    assert body["code"] == "0000", body
    return body["data"]


def page_latency(http, pages: int, requests: int) -> list[float]:  # noqa: ANN001
    rnd = random.Random(5)
    fetch = lambda p: ok(http.post("/library_page", json={"unique_id": NAMESPACE, "page": p, "page_size": PAGE_SIZE}))  # noqa: E731
    for p in (1, pages):  # warm: connections, statement cache
        fetch(p)
    out = []
    for _ in range(requests):
        p = rnd.randint(1, pages)
        t0 = time.perf_counter()
        data = fetch(p)
        out.append((time.perf_counter() - t0) * 1000)
        assert len(data["item"]) == PAGE_SIZE or p == pages, (p, len(data["item"]))
    return out


def months_latency(http, requests: int) -> tuple[list[float], int]:  # noqa: ANN001
    fetch = lambda: ok(http.post("/library_months", json={"unique_id": NAMESPACE}))  # noqa: E731
    months = len(fetch()["months"])
    return [timed(fetch) for _ in range(requests)], months


def first_photo_visible(http, times: int) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """Per upload: ms until page 1 lists the photo, and until its item there has a thumbnail (indexed). Each
    upload waits for the one before to be indexed, so the searches after this do not share the CPU with it."""
    photos = sorted(CALTECH.glob("*/image_000[1-9].jpg"))
    rnd = random.Random(11)
    listed, thumbnailed = [], []
    page_one = lambda: ok(http.post("/library_page", json={"unique_id": NAMESPACE, "page": 1, "page_size": PAGE_SIZE}))["item"]  # noqa: E731
    for path in rnd.sample(photos, times):
        body = path.read_bytes()
        t0 = time.perf_counter()
        new_id = ok(http.post("/upload_img", files=[("files", (path.name, body, "image/jpeg"))],
                              data={"unique_id": NAMESPACE}))[0]["id"]
        while not any(i.get("id") == new_id for i in page_one()):
            pass
        listed.append((time.perf_counter() - t0) * 1000)
        while not any(i.get("id") == new_id and "thumbnail_url" in i for i in page_one()):
            time.sleep(0.02)
        thumbnailed.append((time.perf_counter() - t0) * 1000)
    return listed, thumbnailed


def search_latency(http, queries: int) -> tuple[float, list[float]]:  # noqa: ANN001
    body = lambda q: {"search_param": q, "search_type": "BY_IMAGE", "unique_id": NAMESPACE, "top_k": 20}  # noqa: E731
    first = timed(lambda: ok(http.post("/search", json=body("photos from the holidays"))))
    out = []
    for i in range(queries):
        q = f"{QUERIES[i % len(QUERIES)]} {WORDS[(i * 7) % len(WORDS)]}"  # every query different
        out.append(timed(lambda: ok(http.post("/search", json=body(q)))))
    return first, out


def row(name: str, values: list[float], target: str) -> str:
    return (f"{name:<38} {len(values):>5} {statistics.median(values):>8.1f}ms {percentile(values, 0.95):>7.1f}ms "
            f"{max(values):>7.1f}ms  {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--videos", type=int, default=100, help="synthetic video rows in the same namespace")
    ap.add_argument("--pages", type=int, default=300, help="library_page requests timed")
    ap.add_argument("--months", type=int, default=100, help="library_months requests timed")
    ap.add_argument("--uploads", type=int, default=10, help="first-photo-visible repetitions")
    ap.add_argument("--queries", type=int, default=60, help="warm searches timed")
    ap.add_argument("--model-dir", default=str(REPO / ".model-cache"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = ap.parse_args()
    stop_on_sigterm()
    loadavg = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="reverie-bench-library-"))
    print(f"embedded: {args.photos} SYNTHETIC photos + {args.videos} SYNTHETIC video rows in {folder}", file=sys.stderr)
    try:
        data = folder / "data"
        settings = Settings(data=data)
        key = fill(settings, args.photos, Path(args.model_dir), False, False, np.empty((args.photos, 384), np.float32))
        spread_over_years(settings, args.photos, args.videos)
        total = args.photos + args.videos
        pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
        with serving(data, key, "--workers", "1", env={"REVERIE_MODEL_DIR": args.model_dir}) as http:
            page_ms = page_latency(http, pages, args.pages)
            month_ms, months = months_latency(http, args.months)
            visible_ms, thumb_ms = first_photo_visible(http, args.uploads)
            first_search, search_ms = search_latency(http, args.queries)
    finally:
        if args.keep:
            print(f"  kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} CPUs, load average {loadavg[0]:.1f} at start; stack: embedded (SQLite + files), "
          f"one `reverie serve` with 1 in-process worker, loopback HTTP")
    print(f"library: {args.photos} SYNTHETIC photos (9 in 10 dated over ten years, see --help) + {args.videos} SYNTHETIC "
          f"videos in one namespace: {pages} pages of {PAGE_SIZE}, {months} months")
    head = f"{'measure':<38} {'n':>5} {'p50':>10} {'p95':>9} {'max':>9}  target"
    print(head)
    print("-" * len(head))
    print(row(f"library_page (random page of {pages})", page_ms, "<= 100 ms"))
    print(row("library_months", month_ms, "-"))
    print(row("first photo visible (upload->page 1)", visible_ms, "<= 1000 ms"))
    print(row("  ... with its thumbnail (indexed)", thumb_ms, "-"))
    print(row("search, warm (BY_IMAGE, top_k 20)", search_ms, "<= 300 ms"))
    print(f"the warm-up search itself: {first_search:.0f} ms")


if __name__ == "__main__":
    main()
