"""Image search: a text query (or an example image) against one namespace, with filters, fused and
calibrated scores, and pagination."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Table, select

from ..models import Models
from ..models.coco import named_counts
from ..models.vectors import normalise
from ..store import Store
from ..store import images as image_rows
from ..store import search_index
from ..store.schema import images
from ..store.vectors import VectorSearch
from .filters import Filters, allowed_ids, with_named_people
from .fusion import Candidate, fuse

VISUAL_POOL = 100  # candidates from each side considered before fusion (top_k above this widens it)
# A search by example looks for the example averaged with its nearest photos (query expansion, Chum et al.
# 2007): what they share is what the example is of. Only a close neighbour counts (a cosine of Lite2's
# features that 0.16 % of unrelated Caltech pairs reach, 59 % of same-class ones): in a small library the
# nearest photos may be unrelated, and averaging them in scored a street 0.47 like a leopard. Caltech-101 dev
# P@10 of one example a class / of all 606 as examples (probe): Lite2 bare 0.875 / 0.835, expanded at 0.65
# 0.885 / 0.850 (0.875 / 0.844 at 0.6); Lite0 0.826 -> 0.848 / 0.802 -> 0.816 at its 0.55, 4 neighbours.
EXPANSION = 4
NEIGHBOUR_COSINE = 0.65
LEXICAL_POOL = 100
_LEXICAL_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reverie-lexical")


def detected(store: Store, query: str, candidates: set[int], table: Table) -> dict[int, float] | None:
    """For a query that only names COCO classes, how likely the detector finds them in each candidate (photos,
    or with `table` video_clips, clips); None for any other query, or with the detector off (the likelihoods
    would all read 0)."""
    asked = named_counts(query)
    if not asked or store.settings.objects != "on":
        return None
    with store.db.read() as conn:
        return image_rows.class_likelihoods(conn, sorted(candidates), asked, table)


@dataclass
class Searcher:
    store: Store
    models: Models
    visual: VectorSearch
    features: VectorSearch

    @classmethod
    def create(cls, store: Store, models: Models) -> "Searcher":
        return cls(store, models, store.vector_search("visual"), store.vector_search("appearance"))

    def close(self) -> None:
        self.visual.save()
        self.features.save()

    def _searchable(self, hits: list[Candidate], top_k: int) -> list[Candidate]:
        """The first top_k hits whose image is still there and searchable: another process may have
        deleted an image whose vector this process still holds."""
        if not hits:
            return []
        with self.store.db.read() as conn:
            rows = conn.execute(select(images.c.id, images.c.status).where(images.c.id.in_([h.image_id for h in hits]))).all()
        status = dict(rows)
        gone = [h.image_id for h in hits if h.image_id not in status]
        if gone:
            self.visual.forget(gone)
            self.features.forget(gone)
        return [h for h in hits if status.get(h.image_id) == "PARSE"][:top_k]

    def _allowed(self, account_id: int, f: Filters) -> np.ndarray | None:
        if not f.narrows:
            return None
        with self.store.db.read() as conn:
            return allowed_ids(conn, account_id, f)

    def by_text(self, account_id: int, query: str, f: Filters, top_k: int, min_score: float = 0.0) -> list[Candidate]:
        """The best top_k photos for `query`, those scoring under min_score (a filtering level's cut) left out."""
        with self.store.db.read() as conn:
            f = with_named_people(conn, account_id, f, query)
        allowed = self._allowed(account_id, f)
        if allowed is not None and len(allowed) == 0:
            return []
        # The full-text side needs no embedding: it runs beside it (SQLite and ONNX Runtime both release
        # the GIL), which takes a few milliseconds off every query.
        lexical_job = _LEXICAL_THREADS.submit(self._lexical, account_id, f.unique_id, query, max(LEXICAL_POOL, top_k))
        qvec = self.models.visual.embed_text([query])[0]
        ids, sims, mean, std = self.visual.search(qvec, account_id, f.unique_id, max(VISUAL_POOL, top_k), allowed)
        lexical = lexical_job.result()
        if allowed is not None:
            ok = set(allowed.tolist())
            lexical = [hit for hit in lexical if hit[0] in ok]

        seen = set(ids.tolist())
        cosines = self.visual.similarities(qvec, [h[0] for h in lexical if h[0] not in seen])
        hits = self._searchable(fuse(ids, sims, mean, std, lexical, cosines.get,
                                     detected(self.store, query, seen | {h[0] for h in lexical}, images)), top_k)
        return [h for h in hits if h.score >= min_score]

    def _lexical(self, account_id: int, unique_id: str, query: str, limit: int):  # noqa: ANN202
        with self.store.db.read() as conn:
            return search_index.lexical(conn, account_id, unique_id, search_index.query_terms(query), limit, phrase=query)

    def by_example(self, account_id: int, image, f: Filters, top_k: int,  # noqa: ANN001
                   min_score: float = 0.0) -> list[Candidate]:
        """The top_k photos most like the example `image`, those less alike than min_score left out."""
        allowed = self._allowed(account_id, f)
        if allowed is not None and len(allowed) == 0:
            return []
        example = self.models.visual.features([image])[0]
        near, near_cosines, _, _ = self.features.search(example, account_id, f.unique_id, EXPANSION, allowed)
        close = [i for i, c in zip(near.tolist(), near_cosines.tolist()) if c >= NEIGHBOUR_COSINE]
        neighbours = [v for v in map(self.features.vector_of, close) if v is not None]
        expanded = normalise(example + np.sum(neighbours, axis=0)) if neighbours else example
        ids, sims, _mean, _std = self.features.search(expanded, account_id, f.unique_id, top_k + VISUAL_POOL // 10, allowed)
        direct = self.features.similarities(example, ids.tolist())
        cosines = np.array([direct.get(i, 0.0) for i in ids.tolist()], np.float32)
        # The higher of the two: a copy of the example scores 1, as it did before the expansion.
        scores = np.maximum(self.models.visual.similarity(cosines), self.models.visual.similarity(sims, expanded=True))
        hits = [Candidate(i, cosine=c, score=float(s), matched=["visual"]) for i, c, s in zip(ids.tolist(), cosines.tolist(), scores)]
        return [h for h in sorted(self._searchable(hits, len(hits)), key=lambda h: -h.score)[:top_k] if h.score >= min_score]
