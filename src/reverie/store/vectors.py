"""The embedded vector index: every vector of one space in memory, per namespace.

The database is the source of truth (table image_vectors); this index loads it at start and catches up
with what any worker process wrote by reading rows past the last `seq` it saw, before each search. A
deleted image's vector may linger until a search meets it: search re-checks its candidates against the
image rows (so a stale vector never surfaces) and tells the index to forget the dead ones.

Small namespaces, and filters that leave few rows, are searched exactly (one matrix product: 3.4 ms
for 100,000 vectors here, full recall under any filter). A namespace past `ann_threshold` vectors also
gets an HNSW graph (hnswlib: of usearch, hnswlib and faiss it kept the best recall under a filter,
0.99 at 2 ms for 100,000 ConSE-like vectors; bench/vector_index.py), added to as vectors arrive and saved
beside the data, so a restart loads it instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .db import Database
from .search_index import load_vectors


log = logging.getLogger(__name__)


class VectorSearch(Protocol):
    """What search needs from a vector store; PostgreSQL + pgvector will be the other implementation."""

    def search(self, query: np.ndarray, account_id: int, unique_id: str, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, float]: ...

    def vector_of(self, image_id: int) -> np.ndarray | None: ...

    def similarities(self, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        """The query's similarity to those of `ids` that have a vector (one round trip on PostgreSQL)."""

    def forget(self, image_ids: list[int]) -> None: ...

    def save(self) -> None: ...


SAMPLE_FOR_SPREAD = 4096  # rows that estimate the mean and spread of a query's similarities
EXACT_BELOW = 20_000  # filtered candidate sets smaller than this are searched exactly
HNSW_M, HNSW_EF_BUILD = 16, 100
SAVE_EVERY = 1000  # graph additions between saves


def ef_search(k: int, n: int) -> int:
    """How wide an HNSW search of n vectors looks for k neighbours. Measured recall@10 of 100 text queries
    against exact search, ConSE-like vectors (bench/search.py, M 16): at 100,000 vectors ef 100 gave 0.95
    and 200 0.98; at 1,000,000, 200 gave 0.84 (hnswlib) / 0.80 (pgvector), 400 0.93 / 0.89, 800 0.97 /
    0.96. A pool of k wants at least twice k."""
    return min(1000, max(2 * k, 200 if n < 250_000 else 800))


def drop_graphs(ann_dir: Path, space: str) -> int:
    """Delete the HNSW graphs (and what they hold up to) of a vector space nothing searches any more; how many.
    A namespace's graph of Lite0's features weighed ~250 MB at 50,000 photos."""
    graphs = sorted(ann_dir.glob(graph_name(space, "*"))) if ann_dir.is_dir() else []
    for graph in graphs:
        for path in (graph, meta_path(graph)):
            path.unlink(missing_ok=True)
    return len(graphs)


def graph_name(space: str, key: str) -> str:
    """The file name of a space's graph of one namespace, by its key (dimension, account, digest; "*" matches
    every namespace's)."""
    return f"{space}-{key}.hnsw"


def meta_path(graph: Path) -> Path:
    """Where the last seq a graph holds is kept, beside it."""
    return graph.with_suffix(".json")


class _Graph:
    """An hnswlib graph over one namespace, labelled by image id, persisted with the last seq it holds."""

    def __init__(self, path: Path, dim: int):
        import hnswlib

        self.path, self.meta_path = path, meta_path(path)
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.seq = 0
        self.unsaved = 0
        if path.exists() and self.meta_path.exists():
            self.index.load_index(str(path), max_elements=0, allow_replace_deleted=False)
            self.seq = json.loads(self.meta_path.read_text())["seq"]
        else:
            self.index.init_index(max_elements=1024, ef_construction=HNSW_EF_BUILD, M=HNSW_M)

    def add(self, ids: np.ndarray, vectors: np.ndarray, seq: int) -> None:
        needed = self.index.get_current_count() + len(ids)
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, 2 * self.index.get_max_elements()))
        self.index.add_items(vectors, ids)  # an existing label is updated in place (a re-index)
        self.seq = max(self.seq, seq)
        self.unsaved += len(ids)
        if self.unsaved >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        self.index.save_index(str(tmp))
        tmp.replace(self.path)
        self.meta_path.write_text(json.dumps({"seq": self.seq}))
        self.unsaved = 0

    def search(self, query: np.ndarray, k: int, allowed: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.get_current_count())
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        kw = {"filter": allowed.__contains__} if allowed is not None else {}
        self.index.set_ef(ef_search(k, self.index.get_current_count()))  # callers hold the index's lock
        labels, distances = self.index.knn_query(query, k=k, **kw)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)  # ip distance = 1 - dot


@dataclass
class _Namespace:
    ids: np.ndarray  # int64
    matrix: np.ndarray  # float32, rows L2-normalised
    count: int = 0
    graph: _Graph | None = None

    def add(self, image_id: int, vector: np.ndarray) -> None:
        if self.count == len(self.ids):
            grow = max(64, self.count)
            self.ids = np.concatenate([self.ids, np.zeros(grow, np.int64)])
            self.matrix = np.concatenate([self.matrix, np.zeros((grow, self.matrix.shape[1]), np.float32)])
        self.ids[self.count] = image_id
        self.matrix[self.count] = vector
        self.count += 1


class VectorIndex:
    def __init__(self, db: Database, space: str, ann_dir: Path | None = None, ann_threshold: int = 50_000,
                 loader: Callable = load_vectors):
        """`loader(conn, space, after_seq)` reads new rows: images' vectors by default, video clips' and
        transcript segments' with store.videos.load_vectors (ids are then clip or segment ids)."""
        self.db = db
        self.space = space
        self.loader = loader
        self.ann_dir = ann_dir
        self.ann_threshold = ann_threshold
        self._lock = threading.Lock()
        self._last_seq = 0
        self._namespaces: dict[tuple[int, str], _Namespace] = {}
        self._where: dict[int, tuple[tuple[int, str], int]] = {}  # image id -> (namespace, row)
        self.dim: int | None = None

    def _hold_vectors_of(self, dim: int) -> None:
        """Hold the vectors as long as the query's. A new visual model may write longer or shorter ones (bridge
        v3 added a coordinate; CLIP's are 512): its queries then search its vectors, written since or as
        `reverie models upgrade-vectors` replaces the older model's, instead of finding nothing."""
        with self._lock:
            if self.dim == dim:
                return
            self.dim, self._last_seq = dim, 0
            self._namespaces.clear()
            self._where.clear()

    def refresh(self) -> None:
        held = self.dim
        with self.db.read() as conn:
            rows = self.loader(conn, self.space, self._last_seq)
        if not rows:
            return
        with self._lock:
            if self.dim != held and held is not None:
                return  # read for vectors of another length, from where that index had got to
            touched: dict[tuple[int, str], list[tuple[int, int, np.ndarray]]] = {}
            for seq, image_id, account_id, unique_id, model, blob in rows:
                vec = np.frombuffer(blob, dtype="<f4")
                if self.dim is None:
                    self.dim = len(vec)
                if len(vec) != self.dim:
                    continue  # written by another visual model; only a re-index makes it comparable
                old = self._where.get(image_id)
                if old is not None:  # re-indexed: overwrite in place
                    ns, row = old
                    self._namespaces[ns].matrix[row] = vec
                else:
                    ns = (account_id, unique_id)
                    space = self._namespaces.get(ns)
                    if space is None:
                        space = self._namespaces[ns] = _Namespace(np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32))
                    space.add(image_id, vec)
                    self._where[image_id] = (ns, space.count - 1)
                touched.setdefault(self._where[image_id][0], []).append((seq, image_id, vec))
                self._last_seq = max(self._last_seq, seq)
            for ns, added in touched.items():
                self._update_graph(ns, added)

    def _graph_path(self, ns: tuple[int, str]) -> Path:
        digest = hashlib.sha256(f"{ns[0]}\n{ns[1]}".encode()).hexdigest()[:16]
        # The dimension is in the name: hnswlib loads a graph of another model's vectors without complaint.
        return self.ann_dir / graph_name(self.space, f"{self.dim}-{ns[0]}-{digest}")

    def _update_graph(self, ns: tuple[int, str], added: list[tuple[int, int, np.ndarray]]) -> None:
        space = self._namespaces[ns]
        if self.ann_dir is None or space.count < self.ann_threshold:
            return
        if space.graph is None:
            space.graph = _Graph(self._graph_path(ns), self.dim)
            if space.graph.seq == 0:  # nothing saved: build from every vector held
                log.info("building the %s HNSW graph of a namespace with %d vectors", self.space, space.count)
                space.graph.add(space.ids[: space.count], space.matrix[: space.count], max(a[0] for a in added))
                space.graph.save()
                return
        fresh = [(seq, i, v) for seq, i, v in added if seq > space.graph.seq]
        if fresh:
            space.graph.add(np.array([i for _, i, _ in fresh], np.int64), np.stack([v for _, _, v in fresh]),
                            max(seq for seq, _, _ in fresh))

    def save(self) -> None:
        with self._lock:
            for space in self._namespaces.values():
                if space.graph is not None and space.graph.unsaved:
                    space.graph.save()

    def forget(self, image_ids: list[int]) -> None:
        """Drop vectors whose images are gone. Search calls this for the dead hits it meets, so deletions
        (by any process) leave the index as they are found, the HNSW graph included."""
        with self._lock:
            for image_id in image_ids:
                where = self._where.pop(image_id, None)
                if where is None:
                    continue
                ns, row = where
                space = self._namespaces[ns]
                space.ids[row] = 0  # 0 is never an image id; search skips it
                space.matrix[row] = 0.0
                if space.graph is not None:
                    try:
                        space.graph.index.mark_deleted(image_id)
                        space.graph.unsaved += 1
                    except RuntimeError:  # not in the graph (added after its last save and reload)
                        pass

    def vector_of(self, image_id: int) -> np.ndarray | None:
        with self._lock:
            where = self._where.get(image_id)
            return None if where is None else self._namespaces[where[0]].matrix[where[1]].copy()

    def similarities(self, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        found = {i: self.vector_of(i) for i in ids}
        return {i: float(v @ query) for i, v in found.items() if v is not None and len(v) == len(query)}

    def search(self, query: np.ndarray, account_id: int, unique_id: str, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(image ids, cosine similarities) best first, at most k, optionally only ids in `allowed`; and the
        mean and spread of the similarities over the whole namespace (what is ordinary for this query)."""
        query = query.astype(np.float32)
        self._hold_vectors_of(len(query))
        self.refresh()
        with self._lock:
            ns = self._namespaces.get((account_id, unique_id))
            if ns is None or ns.count == 0 or self.dim != len(query):
                return np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0, 0.0
            ids = ns.ids[: ns.count]
            matrix = ns.matrix[: ns.count]
            graph = ns.graph
            sample = matrix if ns.count <= SAMPLE_FOR_SPREAD else matrix[:: ns.count // SAMPLE_FOR_SPREAD]
            spread = sample @ query
            mean, std = float(spread.mean()), float(spread.std())
            if graph is not None and (allowed is None or len(allowed) >= EXACT_BELOW):
                try:
                    found, sims = graph.search(query, k, None if allowed is None else set(allowed.tolist()))
                    return found, sims, mean, std
                except RuntimeError:  # the graph could not fill k under this filter: fall back to exact
                    pass
            sims = matrix @ query
        keep = ids != 0
        if allowed is not None:
            keep &= np.isin(ids, allowed)
        ids, sims = ids[keep], sims[keep]
        if len(ids) > k:
            top = np.argpartition(-sims, k - 1)[:k]
            ids, sims = ids[top], sims[top]
        order = np.argsort(-sims, kind="stable")
        return ids[order], sims[order], mean, std
