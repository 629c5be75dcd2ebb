"""Text query latency through HTTP, warm, at a given library size.

    .venv/bin/python bench/search.py --images 100000

Synthetic at scale (said in every printout): the rows, vectors and full-text entries are generated and
written straight into the data folder, since indexing 100,000 real photos takes hours on 2 cores. They
follow what the real pipeline produces: visual vectors are ConSE mixtures of 20 ImageNet class-name
embeddings, labels are 5 class names, 1-3 tags from 300, and one image in ten carries "OCR text" of
5-15 words drawn (Zipf) from a 5,000-word vocabulary, as text appears in a few photos only.
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
VOCAB = [f"w{i}" for i in range(5000)]
ZIPF = 1.0 / np.arange(1, len(VOCAB) + 1)
ZIPF /= ZIPF.sum()
TAGS = [f"tag{i}" for i in range(300)]
QUERIES = ["a dog on the beach", "sunset over the mountains", "a red car in the street", "children playing in the snow",
           "a boat on a lake", "flowers in a garden", "a horse near a river", "a city bridge at night"]


def fill(data: Path, n: int, model_dir: Path) -> str:
    from reverie.models.imagenet import class_names

    names = [lemmas[0] for lemmas in class_names()]
    classes = np.load(model_dir / "conse_class_vectors.npy")
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
            picks = rng.integers(0, len(classes), 20)
            weights = np.sort(rng.dirichlet(np.full(20, 0.3)))[::-1]
            visual = (weights[:, None] * classes[picks]).sum(axis=0)
            features = np.abs(rng.standard_normal(1280))
            for space, v in (("visual", visual), ("features", features)):
                vecs.append((image_id, space, "conse", (v / np.linalg.norm(v)).astype("<f4").tobytes()))
            ocr = " ".join(rng.choice(VOCAB, rng.integers(5, 16), p=ZIPF)) if rng.random() < 0.1 else ""
            tags = " ".join(random.sample(TAGS, random.randint(1, 3)))
            labels = " ".join(names[c] for c in picks[:5])
            fts.append((image_id, ocr, tags, labels, "", "", f"img{i}"))
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
    key = fill(data, args.images, Path(args.model_dir))
    with serving(data, key, "--no-workers", env={"REVERIE_MODEL_DIR": args.model_dir}) as http:
        body = lambda q: {"search_param": q, "search_type": "BY_IMAGE", "top_k": 20}  # noqa: E731
        for q in QUERIES:  # warm: models loaded, vectors in memory
            assert http.post("/search", json=body(q)).json()["code"] == "0000"
        ms = []
        for i in range(args.queries):
            t0 = time.perf_counter()
            # every query different: no cache of any kind can answer it
            res = http.post("/search", json=body(f"{QUERIES[i % len(QUERIES)]} {WORDS[i % len(WORDS)]} {i}")).json()
            ms.append((time.perf_counter() - t0) * 1000)
            assert res["code"] == "0000" and len(res["data"]["item"]) == 20
    ordered = sorted(ms)
    print(f"machine: {os.cpu_count()} CPUs; library: {args.images} SYNTHETIC images (ConSE-like vectors, see --help)")
    print(f"{'queries':<12} {len(ms)}\n{'p50':<12} {statistics.median(ms):.1f} ms\n"
          f"{'p95':<12} {ordered[int(0.95 * (len(ms) - 1))]:.1f} ms\n{'max':<12} {ordered[-1]:.1f} ms")


if __name__ == "__main__":
    main()
