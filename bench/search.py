"""Text query latency through HTTP, warm, at a given library size; and the recall of the vector index.

    .venv/bin/python bench/search.py --images 100000                        # embedded: SQLite + in-memory index
    .venv/bin/python bench/search.py --images 1000000 --stack distributed   # PostgreSQL + pgvector
    .venv/bin/python bench/search.py --images 1000000 --stack both          # one after the other, one table
    .venv/bin/python bench/search.py --images 3000 --stack both --ann-from 1000   # small, but through HNSW
    nice -n 10 .venv/bin/python bench/search.py --images 1000000 --stack distributed --reuse /tmp/bench-1m

--reuse FOLDER keeps each stack's library in FOLDER/STACK (the database, the PostgreSQL cluster, the
vectors as numpy for the recall, the key) and a later run with the same library options measures it again
without writing it: at 1 M photos the writing and the HNSW build take most of an hour on 2 cores. Another
size or option writes it anew there. The build times printed are then those of the run that wrote it.

Synthetic at scale (said in every printout): the rows, vectors and full-text entries are generated and
written straight into the database, since indexing 100,000 real photos takes hours on 2 cores. They
follow what the real pipeline produces: visual vectors are ConSE mixtures of 20 ImageNet class-name
embeddings, labels are 5 class names, 1-3 tags from 300, and one image in ten carries "OCR text" of
5-15 words drawn (Zipf) from a 5,000-word vocabulary, as text appears in a few photos only.
The queries are real sentences going through the real path: MiniLM embedding, vector search, full text,
fusion, calibration, rows and signed links for the page.

Stacks. embedded: DATA/reverie.db and the in-memory VectorIndex (an hnswlib graph once the namespace
reaches --ann-threshold, 50,000 by default). distributed: a throwaway PostgreSQL (reverie.devstack) filled
with COPY; vector search by pgvector (exact below 20,000 rows in a namespace, HNSW above). The HNSW index
(graph) is built before the clock starts, and its build time is printed.

Recall: 100 MiniLM embeddings of varied sentences are searched through the stack's vector index
(VectorIndex / PgVectorIndex .search, k=10 and k=100 as search asks for) and compared with exact top-k by
numpy over the generated vectors; the raw vector search latency is timed there too. --ann-from N takes
the ANN path from N vectors: on embedded both server and recall (REVERIE_ANN_THRESHOLD); on distributed
only the recall measurement (it patches pg_vectors.EXACT_BELOW in this process; the server keeps 20,000).

Features (the 1280-d image-to-image space "appearance", unused by text search): written on embedded, as before, and
not on distributed (1280-d x 1M is 5 GB); --with-features / --without-features choose.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.models.bridge import Bridge  # noqa: E402
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
# Recall queries: 100 different sentences of the kind people type.
SUBJECTS = ["a dog", "two cats", "an old man", "a young woman", "children", "a red car", "a sailing boat", "a steam train",
            "a brown horse", "a flock of birds", "a bicycle", "a wooden table", "a plate of pasta", "an elephant",
            "a lighthouse", "a snowy owl", "a tennis player", "a guitar", "a bowl of fruit", "a pizza"]
SCENES = ["on the beach at sunset", "in a busy city street", "next to a mountain lake", "in a kitchen",
          "under heavy rain", "in a green forest", "at a market stall", "on a snowy road", "in a living room",
          "near an old stone bridge"]
RECALL_QUERIES = [f"{SUBJECTS[i % len(SUBJECTS)]} {SCENES[(i * 7 + i // len(SUBJECTS)) % len(SCENES)]}" for i in range(100)]
ACCOUNT_ID, NAMESPACE, ID_BASE = 1, "default", 10_000_000
BATCH = 5000


def stop_on_sigterm() -> None:
    """SIGTERM runs the finally blocks (servers and PostgreSQL stopped, folders removed) like Ctrl-C does."""

    def interrupt(*_) -> None:  # noqa: ANN002
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[int(p * (len(ordered) - 1))]


BRIDGE = Bridge.load()
MODEL = f"conse+{BRIDGE.name}"
DIM = BRIDGE.hubs.shape[1] + 1  # the bundled model's: MiniLM's 384 and the picture's hubness (models/bridge.py)


def synthetic(n: int, model_dir: Path, features: bool):
    """Batches of (first row, visual vectors (b x DIM, as the bundled model makes them), features vectors or
    None, full-text rows)."""
    from reverie.models.imagenet import class_names

    names = np.array([lemmas[0] for lemmas in class_names()], dtype=object)
    classes = np.load(model_dir / "conse_class_vectors.npy").astype(np.float32)
    rng = np.random.default_rng(1)
    pick = random.Random(1)
    for start in range(0, n, BATCH):
        b = min(n, start + BATCH) - start
        picks = rng.integers(0, len(classes), (b, 20))
        weights = -np.sort(-rng.dirichlet(np.full(20, 0.3), b), axis=1).astype(np.float32)
        visual = np.einsum("bk,bkd->bd", weights, classes[picks])
        visual = BRIDGE.with_hubness(visual / np.linalg.norm(visual, axis=1, keepdims=True))
        feats = None
        if features:
            feats = np.abs(rng.standard_normal((b, 1280))).astype(np.float32)
            feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        has_ocr = rng.random(b) < 0.1
        lengths = rng.integers(5, 16, b)
        words = rng.choice(VOCAB, int(lengths[has_ocr].sum()), p=ZIPF)
        fts, used = [], 0
        for j in range(b):
            i = start + j
            ocr = ""
            if has_ocr[j]:
                ocr = " ".join(words[used : used + lengths[j]])
                used += lengths[j]
            tags = " ".join(pick.sample(TAGS, pick.randint(1, 3)))
            labels = " ".join(names[picks[j, :5]])
            fts.append((ID_BASE + i, ocr, tags, labels, "", "", f"img{i}"))
        yield start, visual.astype(np.float32), feats, fts


def image_rows(start: int, b: int, now: int) -> list[tuple]:
    return [(ID_BASE + i, ACCOUNT_ID, NAMESPACE, f"img{i}.jpg", f"{i:064x}", 100_000, "image/jpeg", "JPEG", "PARSE", now,
             f"thumbnails/00/{ID_BASE + i}.jpg") for i in range(start, start + b)]


IMAGE_COLUMNS = "id, account_id, unique_id, name, sha256, size, content_type, format, status, created_ms, thumbnail_key"


@dataclass
class Library:
    """A library written once and measured again (--reuse): what it was written with, and its key."""

    folder: Path  # FOLDER/STACK
    options: dict  # images, features, trigrams: a run asking for other ones writes it anew

    @property
    def marker(self) -> Path:
        return self.folder / "library.json"

    def found(self) -> dict | None:
        """The saved facts (key, build) if the folder holds a finished library of these options."""
        if not self.marker.exists():
            return None
        saved = json.loads(self.marker.read_text())
        return saved if saved["options"] == self.options else None

    def clear(self) -> None:
        """Before writing: no marker until the new library is whole, and no old SQLite library under it."""
        self.marker.unlink(missing_ok=True)
        shutil.rmtree(self.folder / "data", ignore_errors=True)

    def save(self, key: str, build: str, matrix: np.ndarray) -> None:
        np.save(self.folder / "visual.npy", matrix)
        # Written last: a run interrupted before this point leaves a folder that the next run writes anew.
        self.marker.write_text(json.dumps({"options": self.options, "key": key, "build": build}))

    def matrix(self, out: np.ndarray) -> None:
        out[:] = np.load(self.folder / "visual.npy", mmap_mode="r")


def fill(settings: Settings, n: int, model_dir: Path, features: bool, trigrams: bool, matrix: np.ndarray) -> str:
    """Writes n synthetic images into the settings' database; their visual vectors into `matrix`. The key."""
    store = Store.open(settings)
    key = create_key(store.db, "bench", "bench")
    now = int(time.time() * 1000)
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO namespaces(account_id, name, created_ms) VALUES (1, 'default', 0)")
    started = time.monotonic()
    writer = _fill_sqlite if store.db.is_sqlite else _fill_postgres
    writer(store, n, model_dir, features, trigrams, matrix, now)
    print(f"  wrote {n} synthetic images in {time.monotonic() - started:.0f} s", file=sys.stderr)
    store.close()
    return key


def _fill_sqlite(store: Store, n: int, model_dir: Path, features: bool, trigrams: bool, matrix: np.ndarray, now: int) -> None:
    for start, visual, feats, fts in synthetic(n, model_dir, features):
        matrix[start : start + len(visual)] = visual
        vecs = [(ID_BASE + start + j, "visual", MODEL, v.astype("<f4").tobytes()) for j, v in enumerate(visual)]
        if feats is not None:
            vecs += [(ID_BASE + start + j, "appearance", MODEL, v.astype("<f4").tobytes()) for j, v in enumerate(feats)]
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO images({IMAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                 image_rows(start, len(visual), now))
            conn.exec_driver_sql("INSERT INTO image_vectors(image_id, space, model, vector) VALUES (?,?,?,?)", vecs)
            conn.exec_driver_sql("INSERT INTO image_fts(rowid, ocr, tags, labels, place, camera, name) VALUES (?,?,?,?,?,?,?)", fts)
            if trigrams:
                conn.exec_driver_sql("INSERT INTO image_ocr_trigrams(rowid, ocr) VALUES (?,?)", [(r[0], r[1]) for r in fts if r[1]])
        if (start + len(visual)) % 50_000 == 0 or start + len(visual) == n:
            print(f"  wrote {start + len(visual)} synthetic images", file=sys.stderr)


def pg_connect(url: str, **kw):  # noqa: ANN201
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, **kw)


def _fill_postgres(store: Store, n: int, model_dir: Path, features: bool, trigrams: bool, matrix: np.ndarray, now: int) -> None:
    from pgvector.psycopg import register_vector

    with pg_connect(store.settings.database_url) as conn:
        register_vector(conn)
        for start, visual, feats, fts in synthetic(n, model_dir, features):
            matrix[start : start + len(visual)] = visual
            with conn.cursor() as cur:
                with cur.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as cp:
                    for row in image_rows(start, len(visual), now):
                        cp.write_row(row)
                with cur.copy("COPY image_vectors (image_id, space, model, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
                    cp.set_types(["int8", "text", "text", "vector"])
                    for space, vecs in (("visual", visual), ("appearance", feats)):
                        if vecs is None:
                            continue
                        for j, v in enumerate(vecs):
                            cp.write_row((ID_BASE + start + j, space, MODEL, v))
                with cur.copy("COPY image_fts (rowid, ocr, tags, labels, place, camera, name) FROM STDIN") as cp:
                    for row in fts:
                        cp.write_row(row)
                if trigrams:
                    with cur.copy("COPY image_ocr_trigrams (rowid, ocr) FROM STDIN") as cp:
                        for row in fts:
                            if row[1]:
                                cp.write_row((row[0], row[1]))
            conn.commit()
            if (start + len(visual)) % 50_000 == 0 or start + len(visual) == n:
                print(f"  wrote {start + len(visual)} synthetic images", file=sys.stderr)
    started = time.monotonic()
    with pg_connect(store.settings.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE: {time.monotonic() - started:.0f} s", file=sys.stderr)


@dataclass
class Result:
    stack: str
    images: int
    http_ms: list[float]
    recall10: float
    recall100: float
    vector_ms: list[float]
    path: str  # which vector search path the recall measurement took
    build: str  # the ANN index build, in words


def exact_top(matrix: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k rows most similar to q, best first."""
    sims = matrix @ q
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    return top[np.argsort(-sims[top], kind="stable")] + ID_BASE


def measure_recall(index, matrix: np.ndarray, queries: np.ndarray) -> tuple[float, float, list[float]]:  # noqa: ANN001
    """recall@10 (k=10), recall@100 (k=100), and the latency of each k=10 search in ms."""
    for q in queries[:5]:  # warm: namespace sample, caches
        index.search(q, ACCOUNT_ID, NAMESPACE, 10)
    r10, r100, ms = [], [], []
    for q in queries:
        truth = exact_top(matrix, q, 100).tolist()
        t0 = time.perf_counter()
        ids, *_ = index.search(q, ACCOUNT_ID, NAMESPACE, 10)
        ms.append((time.perf_counter() - t0) * 1000)
        r10.append(len(set(ids.tolist()) & set(truth[:10])) / len(truth[:10]))
        ids, *_ = index.search(q, ACCOUNT_ID, NAMESPACE, 100)
        r100.append(len(set(ids.tolist()) & set(truth)) / len(truth))
    return float(np.mean(r10)), float(np.mean(r100)), ms


def http_latency(http, queries: int) -> list[float]:  # noqa: ANN001
    body = lambda q: {"search_param": q, "search_type": "BY_IMAGE", "top_k": 20}  # noqa: E731
    # Warm: models loaded, and the index pages a running server keeps in memory read in (a reused PostgreSQL
    # starts with empty buffers: its first hundred queries read the HNSW graph from disk). Other sentences
    # than the timed ones, so no cache can answer those.
    for i in range(queries):
        assert http.post("/search", json=body(f"{QUERIES[i % len(QUERIES)]} warm {WORDS[-1 - i % len(WORDS)]}")).json()["code"] == "0000"
    ms = []
    for i in range(queries):
        t0 = time.perf_counter()
        # every query different: no cache of any kind can answer it
        res = http.post("/search", json=body(f"{QUERIES[i % len(QUERIES)]} {WORDS[i % len(WORDS)]} {i}")).json()
        ms.append((time.perf_counter() - t0) * 1000)
        assert res["code"] == "0000" and len(res["data"]["item"]) == 20, res
    return ms


def query_vectors(model_dir: Path, folder: Path) -> np.ndarray:
    from reverie.models import Models

    models = Models(Settings(data=folder / "models-settings", model_dir=model_dir))
    return np.asarray(models.visual.embed_text(RECALL_QUERIES), np.float32)


def run_embedded(args: argparse.Namespace, folder: Path, matrix: np.ndarray, queries: np.ndarray) -> Result:
    from reverie.store.vectors import VectorIndex

    data = folder / "data"
    threshold = args.ann_from or args.ann_threshold
    settings = Settings(data=data, ann_threshold=threshold)
    library = Library(folder, {"images": args.images, "features": args.features, "trigrams": args.ocr_trigrams,
                               "ann_threshold": threshold})
    saved = library.found() if args.reuse else None
    if saved:
        library.matrix(matrix)
        key = saved["key"]
        print(f"  reused the library in {folder}", file=sys.stderr)
    else:
        library.clear()
        key = fill(settings, args.images, Path(args.model_dir), args.features, args.ocr_trigrams, matrix)
    store = Store.open(settings)
    try:
        # The server would build the graph on its first search; build it here, timed, and save it where the
        # server loads it from (DATA/vectors), as a restarted server finds it.
        t0 = time.perf_counter()
        VectorIndex(store.db, "visual", None, threshold).refresh()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = VectorIndex(store.db, "visual", settings.data / "vectors", threshold)
        index.refresh()
        total_s = time.perf_counter() - t0
        if args.images >= threshold:
            build = f"hnswlib build: {total_s - load_s:.1f} s for {args.images} vectors (loading them from SQLite: {load_s:.1f} s)"
            path = f"hnswlib HNSW (namespace >= ann_threshold {threshold})"
        else:
            build = f"no hnswlib graph: {args.images} vectors < ann_threshold {threshold} (loading them: {load_s:.1f} s)"
            path = f"exact numpy (namespace < ann_threshold {threshold})"
        if saved:
            build = f"{saved['build']} (when written; this run loaded the saved graph)"
        elif args.reuse:
            library.save(key, build, matrix)
        print(f"  {build}", file=sys.stderr)
        env = {"REVERIE_MODEL_DIR": args.model_dir, "REVERIE_ANN_THRESHOLD": str(threshold)}
        with serving(data, key, "--no-workers", env=env) as http:
            t0 = time.perf_counter()
            http_ms = http_latency(http, args.queries)
            print(f"  HTTP: {len(http_ms)} queries in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        r10, r100, vector_ms = measure_recall(index, matrix, queries)
    finally:
        store.close()
    return Result("embedded", args.images, http_ms, r10, r100, vector_ms, path, build)


def run_distributed(args: argparse.Namespace, folder: Path, matrix: np.ndarray, queries: np.ndarray) -> Result:
    from reverie.devstack import Postgres
    from reverie.store import pg_vectors
    from reverie.store.db import Database

    # Sized like a database server of this machine: the HNSW index and the full-text rows in memory.
    pg = Postgres(folder / "postgres", config={"max_connections": "100", "shared_buffers": args.shared_buffers,
                                               "effective_cache_size": "16GB", "maintenance_work_mem": "512MB"}).start()
    try:
        library = Library(folder, {"images": args.images, "features": args.features, "trigrams": args.ocr_trigrams})
        saved = library.found() if args.reuse else None
        data = folder / "data"
        if saved:
            url = pg.url("bench")
            library.matrix(matrix)
            key = saved["key"]
            print(f"  reused the library in {folder}", file=sys.stderr)
        else:
            library.clear()
            url = pg.create_database("bench")
            with pg_connect(pg.url(), autocommit=True) as conn:
                # Per-database: overrides the -c maintenance_work_mem that devstack starts the server with.
                conn.execute(f"ALTER DATABASE bench SET maintenance_work_mem = '{args.maintenance_work_mem}'")
            key = fill(Settings(data=data, database_url=url), args.images, Path(args.model_dir), args.features,
                       args.ocr_trigrams, matrix)
        db = Database(url)
        try:
            if saved:
                build = f"{saved['build']} (when written)"
            else:
                with db.read() as conn:
                    mem = conn.exec_driver_sql("SHOW maintenance_work_mem").scalar()
                    par = conn.exec_driver_sql("SHOW max_parallel_maintenance_workers").scalar()
                # What the first search of a dimension does (pg_vectors.ensure_index), here, timed.
                t0 = time.perf_counter()
                pg_vectors.ensure_index(db, pg_vectors.IMAGES, "visual", matrix.shape[1])
                build = (f"HNSW build: {time.perf_counter() - t0:.1f} s for {args.images} vectors "
                         f"(maintenance_work_mem {mem}, {par} parallel maintenance workers)")
                if args.reuse:
                    library.save(key, build, matrix)
            print(f"  {build}", file=sys.stderr)
            env = {"REVERIE_MODEL_DIR": args.model_dir, "REVERIE_DATABASE_URL": url}
            with serving(data, key, "--no-workers", env=env) as http:
                t0 = time.perf_counter()
                http_ms = http_latency(http, args.queries)
                print(f"  HTTP: {len(http_ms)} queries in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            server_exact_below = pg_vectors.EXACT_BELOW
            if args.ann_from is not None:
                pg_vectors.EXACT_BELOW = args.ann_from  # this process only: the server above kept its own
            exact_below = pg_vectors.EXACT_BELOW
            path = (f"pgvector HNSW, iterative scan (namespace >= {exact_below})" if args.images >= exact_below
                    else f"exact scan (namespace < {exact_below})")
            if args.images < server_exact_below:
                path += f"; the server's HTTP searches were exact scans (namespace < {server_exact_below})"
            index = pg_vectors.PgVectorIndex(db, pg_vectors.IMAGES, "visual")
            r10, r100, vector_ms = measure_recall(index, matrix, queries)
        finally:
            db.dispose()
    finally:
        pg.stop()
    return Result("distributed", args.images, http_ms, r10, r100, vector_ms, path, build)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300, help="HTTP queries timed")
    ap.add_argument("--stack", choices=("embedded", "distributed", "both"), default="embedded")
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    feats = ap.add_mutually_exclusive_group()
    feats.add_argument("--with-features", dest="features", action="store_true", default=None,
                       help="also write 1280-d features vectors (default on embedded, off on distributed)")
    feats.add_argument("--without-features", dest="features", action="store_false")
    ap.add_argument("--ann-threshold", type=int, default=Settings().ann_threshold,
                    help="embedded: the server's ann_threshold (default: the setting's default)")
    ap.add_argument("--ann-from", type=int, default=None,
                    help="take the ANN path from this many vectors (see above); default: each stack's own threshold")
    ap.add_argument("--maintenance-work-mem", default="4GB", help="PostgreSQL's, for the HNSW build")
    ap.add_argument("--shared-buffers", default="6GB", help="PostgreSQL's page cache (a quarter of this machine's RAM)")
    ap.add_argument("--ocr-trigrams", action="store_true",
                    help="also write the OCR text into image_ocr_trigrams, as the indexer does (off: as before)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (printed)")
    ap.add_argument("--reuse", metavar="FOLDER", help="keep each stack's library in FOLDER/STACK and measure it "
                    "again on a later run of the same options instead of writing it (see above)")
    args = ap.parse_args()
    stop_on_sigterm()
    stacks = ("embedded", "distributed") if args.stack == "both" else (args.stack,)
    loadavg = os.getloadavg()
    results: list[Result] = []
    for stack in stacks:
        one = argparse.Namespace(**vars(args))
        if one.features is None:
            one.features = stack == "embedded"
        if args.reuse:
            folder = Path(args.reuse).resolve() / stack
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(tempfile.mkdtemp(prefix=f"reverie-bench-search-{stack}-"))
        print(f"{stack}: {args.images} SYNTHETIC images in {folder}", file=sys.stderr)
        try:
            matrix = np.empty((args.images, DIM), np.float32)
            queries = query_vectors(Path(args.model_dir), folder)
            run = run_embedded if stack == "embedded" else run_distributed
            results.append(run(one, folder, matrix, queries))
            del matrix
        finally:
            if args.keep or args.reuse:
                print(f"  kept {folder}", file=sys.stderr)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} CPUs, load average {loadavg[0]:.1f} at start; library: {args.images} SYNTHETIC "
          f"images (ConSE-like vectors, see --help); {args.queries} HTTP text queries, top_k 20, each different")
    head = (f"{'stack':<12} {'images':>18} {'HTTP p50':>9} {'p95':>7} {'max':>7} {'recall@10':>10} {'@100':>6} "
            f"{'vector p50':>11} {'p95':>6} {'CPUs':>5}  index build")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r.stack:<12} {str(r.images) + ' SYNTHETIC':>18} {statistics.median(r.http_ms):>7.1f}ms "
              f"{percentile(r.http_ms, 0.95):>5.1f}ms {max(r.http_ms):>5.1f}ms {r.recall10:>10.3f} {r.recall100:>6.3f} "
              f"{statistics.median(r.vector_ms):>9.2f}ms {percentile(r.vector_ms, 0.95):>4.1f}ms {os.cpu_count():>5}  {r.build}")
    print()
    for r in results:
        print(f"{r.stack}: recall over {len(RECALL_QUERIES)} MiniLM sentence queries, k=10 and k=100, against exact "
              f"numpy top-k; vector search path: {r.path}")


if __name__ == "__main__":
    main()
