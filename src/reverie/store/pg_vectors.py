"""Vector search on PostgreSQL with pgvector: the VectorSearch of store/vectors.py for many machines.

The database holds the vectors (column `embedding`) and searches them; nothing is kept in a process but a
short-lived sample per namespace, from which a query's ordinary similarity (mean and spread) is read.

- One HNSW index per space and dimension, partial (WHERE space = … AND vector_dims(embedding) = …) over a
  cast to the fixed dimension that HNSW needs, so a change of model starts a new index beside the old.
  The first search of a dimension builds it if it is missing (logged: on a full table it takes a while).
- Filters keep recall: small sets (a small namespace, or a filter that leaves few items) are searched
  exactly, by a scan the planner cannot hand to the index; large ones walk the index with pgvector's
  iterative scan, which goes on past ef_search until enough rows pass the filter.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from .db import Database
from .vectors import ef_search

log = logging.getLogger(__name__)

SAMPLE_FOR_SPREAD = 4096
EXACT_BELOW = 20_000
HNSW_M, HNSW_EF_BUILD = 16, 64
MAX_SCAN_TUPLES = 200_000  # how far an iterative scan may walk before it gives up on a filter
SAMPLE_TTL = 60.0  # a full sample (a large namespace) is read again after this
SMALL_SAMPLE_TTL = 2.0  # a small namespace's, after this: it may be growing from nothing


@dataclass(frozen=True)
class VectorTable:
    """Where one kind of item keeps its vectors, and how an item finds its account and namespace."""

    table: str
    item: str  # the item id column
    owner_join: str  # joins the owner table as `o` to the vectors as `v`


IMAGES = VectorTable("image_vectors", "image_id", "JOIN images o ON o.id = v.image_id")
VIDEO_ITEMS = VectorTable("video_vectors", "item_id", "JOIN videos o ON o.id = v.video_id")


def _array(value) -> np.ndarray:  # noqa: ANN001
    """A vector as psycopg hands it over: pgvector's Vector (binary, store/db.py registers it), or the text
    '[1,2,3]' on a connection opened before the extension existed."""
    if isinstance(value, str):
        return np.fromstring(value.strip("[]"), dtype=np.float32, sep=",")
    if hasattr(value, "to_numpy"):
        return value.to_numpy().astype(np.float32, copy=False)
    return np.asarray(value, np.float32)


def ensure_index(db: Database, where: VectorTable, space: str, dim: int) -> None:
    """Build the HNSW index for (space, dim) unless it exists. Several processes may start at once: an
    advisory lock lets one build while the others wait for it."""
    name = f"ix_{where.table}_hnsw_{space}_{dim}"
    with db.write() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
        if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
            return
        rows = conn.execute(text(f"SELECT count(*) FROM {where.table} WHERE space = :s"), {"s": space}).scalar_one()
        if rows:
            log.info("building the HNSW index %s over %d vectors; searches wait for it", name, rows)
        started = time.monotonic()
        conn.execute(text(
            f"CREATE INDEX {name} ON {where.table} USING hnsw ((embedding::vector({dim})) vector_ip_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_BUILD}) "
            f"WHERE space = '{space}' AND vector_dims(embedding) = {dim}"))
        if rows:
            log.info("built %s in %.1f s", name, time.monotonic() - started)


class PgVectorIndex:
    def __init__(self, db: Database, where: VectorTable, space: str):
        self.db = db
        self.where = where
        self.space = space
        self._samples: dict[tuple[int, str, int], tuple[float, int, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._indexed: set[int] = set()  # dimensions whose HNSW index this process has seen to exist

    def _namespace(self, conn: Connection, account_id: int, unique_id: str, dim: int) -> tuple[int, np.ndarray]:
        """(vectors of this dimension in the namespace, a sample of them), cached for a while; an empty
        namespace is never cached."""
        key = (account_id, unique_id, dim)
        with self._lock:
            cached = self._samples.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        w = self.where
        scope = (f"FROM {w.table} v {w.owner_join} WHERE v.space = :s AND vector_dims(v.embedding) = {dim} "
                 f"AND o.account_id = :a AND o.unique_id = :u")
        params = {"s": self.space, "a": account_id, "u": unique_id}
        rows = conn.execute(text(f"SELECT v.embedding {scope} LIMIT {SAMPLE_FOR_SPREAD}"), params).scalars().all()
        if not rows:
            return 0, np.zeros((0, 0), np.float32)
        sample = np.stack([_array(r) for r in rows])
        count, ttl = len(rows), SMALL_SAMPLE_TTL
        if count == SAMPLE_FOR_SPREAD:
            count, ttl = conn.execute(text(f"SELECT count(*) {scope}"), params).scalar_one(), SAMPLE_TTL
        with self._lock:
            self._samples[key] = (time.monotonic() + ttl, count, sample)
        return count, sample

    def search(self, query: np.ndarray, account_id: int, unique_id: str, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
        query = np.asarray(query, np.float32)
        dim = len(query)
        w = self.where
        if dim not in self._indexed:
            ensure_index(self.db, w, self.space, dim)
            self._indexed.add(dim)
        with self.db.read() as conn:
            count, sample = self._namespace(conn, account_id, unique_id, dim)
            if count == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0, 0.0
            spread = sample @ query
            mean, std = float(spread.mean()), float(spread.std())
            params = {"s": self.space, "a": account_id, "u": unique_id, "q": query, "k": k}
            cond = (f"v.space = :s AND vector_dims(v.embedding) = {dim} AND o.account_id = :a AND o.unique_id = :u")
            if allowed is not None:
                cond += f" AND v.{w.item} = ANY(:ids)"
                params["ids"] = [int(i) for i in allowed]
            distance = f"(v.embedding::vector({dim})) <#> CAST(:q AS vector({dim}))"  # :q goes binary
            if count < EXACT_BELOW or (allowed is not None and len(allowed) < EXACT_BELOW):
                # MATERIALIZED fences the rows off from the index: every one of them is compared.
                rows = conn.execute(text(
                    f"WITH c AS MATERIALIZED (SELECT v.{w.item} AS id, {distance} AS d FROM {w.table} v {w.owner_join} "
                    f"WHERE {cond}) SELECT id, d FROM c ORDER BY d LIMIT :k"), params).all()
            else:
                # SET LOCAL, in one round trip: on a busy server each one waits for the backend's turn.
                conn.execute(text("SELECT set_config('hnsw.ef_search', :ef, true), "
                                  "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                                  "set_config('hnsw.max_scan_tuples', :tuples, true)"),
                             {"ef": str(ef_search(k, count)), "tuples": str(MAX_SCAN_TUPLES)})
                rows = conn.execute(text(
                    f"SELECT v.{w.item}, {distance} AS d FROM {w.table} v {w.owner_join} WHERE {cond} "
                    f"ORDER BY d LIMIT :k"), params).all()
        rows.sort(key=lambda r: r[1])  # relaxed order: nearly sorted by the index
        ids = np.array([r[0] for r in rows], np.int64)
        sims = np.array([-r[1] for r in rows], np.float32)  # <#> is the negated inner product
        return ids, sims, mean, std

    def vector_of(self, item_id: int) -> np.ndarray | None:
        with self.db.read() as conn:
            value = conn.execute(text(f"SELECT embedding FROM {self.where.table} WHERE {self.where.item} = :i AND space = :s"),
                                 {"i": item_id, "s": self.space}).scalar()
        return None if value is None else _array(value)

    def similarities(self, query: np.ndarray, item_ids: list[int]) -> dict[int, float]:
        if not item_ids:
            return {}
        query = np.asarray(query, np.float32)
        with self.db.read() as conn:
            rows = conn.execute(text(
                f"SELECT {self.where.item}, embedding <#> CAST(:q AS vector) FROM {self.where.table} "
                f"WHERE {self.where.item} = ANY(:ids) AND space = :s AND vector_dims(embedding) = {len(query)}"),
                {"q": query, "ids": [int(i) for i in item_ids], "s": self.space}).all()
        return {r[0]: -float(r[1]) for r in rows}

    def forget(self, item_ids: list[int]) -> None:
        """Nothing to do: a deleted item's vector row went with it."""

    def save(self) -> None:
        """Nothing to do: PostgreSQL persists the index."""
