"""The embedded vector index: every vector of one space in memory, searched exactly within a namespace.

The database is the source of truth (table image_vectors); this index loads it at start and catches up
with what any worker process wrote by reading rows past the last `seq` it saw, before each search. A
deleted image's vector may linger here; search re-checks its candidates against the image rows, so a
stale vector never surfaces.

Why exact, not ANN: search is always inside one account's namespace, usually with filters, and a
matrix product over the namespace's rows is exact, keeps full recall under any filter, and measured
faster than the ANN libraries' filtered search up to a few 100,000 vectors on this machine
(bench/vector_index.py). Past that, PostgreSQL + pgvector's HNSW takes over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .db import Database
from .search_index import load_vectors


@dataclass
class _Namespace:
    ids: np.ndarray  # int64
    matrix: np.ndarray  # float32, rows L2-normalised
    count: int = 0

    def add(self, image_id: int, vector: np.ndarray) -> None:
        if self.count == len(self.ids):
            grow = max(64, self.count)
            self.ids = np.concatenate([self.ids, np.zeros(grow, np.int64)])
            self.matrix = np.concatenate([self.matrix, np.zeros((grow, self.matrix.shape[1]), np.float32)])
        self.ids[self.count] = image_id
        self.matrix[self.count] = vector
        self.count += 1


class VectorIndex:
    def __init__(self, db: Database, space: str):
        self.db = db
        self.space = space
        self._lock = threading.Lock()
        self._last_seq = 0
        self._namespaces: dict[tuple[int, str], _Namespace] = {}
        self._where: dict[int, tuple[tuple[int, str], int]] = {}  # image id -> (namespace, row)
        self.dim: int | None = None
        self.models: set[str] = set()

    def refresh(self) -> None:
        with self.db.read() as conn:
            rows = load_vectors(conn, self.space, self._last_seq)
        if not rows:
            return
        with self._lock:
            for seq, image_id, account_id, unique_id, model, blob in rows:
                vec = np.frombuffer(blob, dtype="<f4")
                if self.dim is None:
                    self.dim = len(vec)
                if len(vec) != self.dim:
                    continue  # written by another visual model; only a re-index makes it comparable
                self.models.add(model)
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
                self._last_seq = max(self._last_seq, seq)

    def vector_of(self, image_id: int) -> np.ndarray | None:
        with self._lock:
            where = self._where.get(image_id)
            return None if where is None else self._namespaces[where[0]].matrix[where[1]].copy()

    def search(self, query: np.ndarray, account_id: int, unique_id: str, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(image ids, cosine similarities) best first, at most k, optionally only ids in `allowed`; and the
        mean and spread of the similarities over the whole namespace (what is ordinary for this query)."""
        self.refresh()
        with self._lock:
            ns = self._namespaces.get((account_id, unique_id))
            if ns is None or ns.count == 0 or self.dim != len(query):
                return np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0, 0.0
            ids = ns.ids[: ns.count]
            sims = ns.matrix[: ns.count] @ query.astype(np.float32)
        mean, std = float(sims.mean()), float(sims.std())
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, sims = ids[keep], sims[keep]
        if len(ids) > k:
            top = np.argpartition(-sims, k - 1)[:k]
            ids, sims = ids[top], sims[top]
        order = np.argsort(-sims, kind="stable")
        return ids[order], sims[order], mean, std
