"""Text query latency through HTTP, warm, at a given library size.

    .venv/bin/python bench/search.py --images 100000

Synthetic at scale (said in every printout): the rows, vectors and full-text entries are generated and
written straight into the data folder (random unit vectors in the 384-d space, a few random words of
"OCR text", tags and labels per image), since indexing 100,000 real photos takes hours on 2 cores.
The queries are real sentences going through the real path: MiniLM embedding, vector search, FTS5,
fusion, calibration, rows and signed links for the page.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.store import Store  # noqa: E402
from reverie.store.accounts import create_key  # noqa: E402

WORDS = ("beach dog cat car tree house mountain river city street market bridge snow sunset flower bird boat "
         "train bicycle horse child garden kitchen table window door road lake forest cloud").split()
QUERIES = ["a dog on the beach", "sunset over the mountains", "a red car in the street", "children playing in the snow",
           "a boat on a lake", "flowers in a garden", "a horse near a river", "a city bridge at night"]


def fill(data: Path, n: int) -> str:
    store = Store.open(Settings(data=data))
    key = create_key(store.db, "bench", "bench")
    rng = np.random.default_rng(1)
    account_id = 1
    now = int(time.time() * 1000)
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO namespaces(account_id, name, created_ms) VALUES (1, 'default', 0)")
    batch = 5000
    for start in range(0, n, batch):
        rows, vecs, fts = [], [], []
        for i in range(start, min(n, start + batch)):
            image_id = 10_000_000 + i
            rows.append((image_id, account_id, "default", f"img{i}.jpg", f"{i:064x}", 100_000, "image/jpeg", "JPEG",
                         "PARSE", now, f"thumbnails/00/{image_id}.jpg"))
            for space, dim in (("visual", 384), ("features", 1280)):
                v = rng.standard_normal(dim).astype("<f4")
                vecs.append((image_id, space, "conse", (v / np.linalg.norm(v)).tobytes()))
            words = " ".join(random.choices(WORDS, k=4))
            fts.append((image_id, words, random.choice(WORDS), random.choice(WORDS), "", "", f"img{i}"))
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO images(id, account_id, unique_id, name, sha256, size, content_type, format, status, created_ms, thumbnail_key) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            conn.exec_driver_sql("INSERT INTO image_vectors(image_id, space, model, vector) VALUES (?,?,?,?)", vecs)
            conn.exec_driver_sql("INSERT INTO image_fts(rowid, ocr, tags, labels, place, camera, name) VALUES (?,?,?,?,?,?,?)", fts)
        print(f"  wrote {min(n, start + batch)} synthetic images", file=sys.stderr)
    store.close()
    return key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="reverie-bench-search-"))
    key = fill(data, args.images)
    with serving(data, key, "--no-workers", env={"REVERIE_MODEL_DIR": args.model_dir}) as http:
        body = lambda q: {"search_param": q, "search_type": "BY_IMAGE", "top_k": 20}  # noqa: E731
        for q in QUERIES:  # warm: models loaded, vectors in memory
            assert http.post("/search", json=body(q)).json()["code"] == "0000"
        ms = []
        for i in range(args.queries):
            t0 = time.perf_counter()
            res = http.post("/search", json=body(QUERIES[i % len(QUERIES)] + f" {WORDS[i % len(WORDS)]}")).json()
            ms.append((time.perf_counter() - t0) * 1000)
            assert res["code"] == "0000" and len(res["data"]["item"]) == 20
    ordered = sorted(ms)
    print(f"machine: {os.cpu_count()} CPUs; library: {args.images} SYNTHETIC images (random vectors and words)")
    print(f"{'queries':<12} {len(ms)}\n{'p50':<12} {statistics.median(ms):.1f} ms\n"
          f"{'p95':<12} {ordered[int(0.95 * (len(ms) - 1))]:.1f} ms\n{'max':<12} {ordered[-1]:.1f} ms")


if __name__ == "__main__":
    main()
