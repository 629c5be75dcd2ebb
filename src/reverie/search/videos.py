"""Video search: clips by text (visual vector + words of the clip, fused and calibrated as for images),
speech by meaning (transcript segments), keyframes by example image, and moments of one video by an example
image and a prompt (phrases: search/phrases.py). Adjacent hits from one video merge into one clip."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sqlalchemy import exists, select, text

from ..models import Models
from ..store import Store
from ..store import pg_text
from ..store.schema import faces, transcript_segments, video_clips, videos
from ..store.search_index import compact, coverage, query_terms, trigrams
from ..store.vectors import VectorSearch
from .filters import Filters, allowed_video_ids, people_wanted, with_named_people
from .fusion import HELD, fuse
from .images import detected

POOL = 200
MERGE_GAP_S = 1.0  # hits of one video closer than this may become one clip
# ... when they score at least this share of the best of them. 0.85 split a still shot's keyframes (0.84 of
# each other) once English queries were read by the language map too; at 0.8 text -> clip R@5 0.885 -> 0.903.
MERGE_RELATIVE = 0.8
# A speech hit gains this times the share of the query's words said in it. Graded rather than all-or-nothing:
# a sentence typed as it was said, with one word misheard, still counts (`reverie eval` BY_AUDIO top-1 with
# all-or-nothing / graded: English 0.929 / 1.0, German 0.583 / 0.75, French 0.417 / 0.5).
LEXICAL_BONUS = 0.15
# A moment found by an example image and a prompt (search_clips_by_image): the picture decides most, the
# prompt re-orders among look-alikes. At most this many moments: the endpoint takes no top_k.
BY_PICTURE, BY_PROMPT = 0.7, 0.3
MOMENTS = 20


@dataclass
class VideoHit:
    video_id: int
    start: float
    end: float
    score: float
    item_ids: list[int] = field(default_factory=list)
    text: str = ""
    matched: list[str] = field(default_factory=list)
    keyframe_key: str = ""
    # What merge compares within a video, where it differs from the score: a clip's ranking-model probability
    # (fusion.Candidate.rank), whose ratios say how close two clips come; the calibrated score squeezes them.
    rank: float | None = None

    @property
    def strength(self) -> float:
        return self.score if self.rank is None else self.rank

    @property
    def held(self) -> bool:
        """Its speech or screen text holds the query (see HELD)."""
        return "said" in self.matched

    @property
    def best_id(self) -> int:
        """The item (clip or segment) that gave the hit its score; merge keeps it first."""
        return self.item_ids[0]


@dataclass
class VideoSearcher:
    store: Store
    models: Models
    clips: VectorSearch
    frames: VectorSearch
    speech: VectorSearch

    @classmethod
    def create(cls, store: Store, models: Models) -> "VideoSearcher":
        return cls(store, models, *(store.vector_search(space, videos=True)
                                    for space in ("clip_visual", "clip_appearance", "speech")))

    def close(self) -> None:
        for index in (self.clips, self.frames, self.speech):
            index.save()

    def _allowed_items(self, account_id: int, f: Filters, video_ids: list[int] | None, table) -> np.ndarray | None:  # noqa: ANN001
        if not f.narrows and video_ids is None:
            return None
        with self.store.db.read() as conn:
            vids = allowed_video_ids(conn, account_id, f, video_ids)
            if len(vids) == 0:
                return np.zeros(0, np.int64)
            q = select(table.c.id).where(table.c.video_id.in_(vids.tolist()))
            if table is video_clips:  # a person filter keeps the clips the person is seen in
                for wanted in people_wanted(f):
                    q = q.where(exists().where(faces.c.clip_id == video_clips.c.id, faces.c.person_id.in_(wanted)))
            return np.array(conn.execute(q).scalars().all(), np.int64)

    def _rows(self, table, ids: list[int]) -> dict[int, object]:  # noqa: ANN001
        """Live rows of PARSE videos for these item ids. Items gone from the database (their video was
        deleted, maybe by another process) are forgotten by the vector indexes that still hold them."""
        if not ids:
            return {}
        with self.store.db.read() as conn:
            q = (select(table, videos.c.status).join(videos, videos.c.id == table.c.video_id)
                 .where(table.c.id.in_(ids)))
            found = {r.id: r for r in conn.execute(q)}
        gone = [i for i in ids if i not in found]
        if gone:
            for index in ((self.clips, self.frames) if table is video_clips else (self.speech,)):
                index.forget(gone)
        return {i: r for i, r in found.items() if r.status == "PARSE"}

    def clips_by_text(self, account_id: int, query: str, f: Filters, top_k: int,
                      video_ids: list[int] | None = None, min_score: float = 0.0, merged: bool = True) -> list[VideoHit]:
        ranked, rows = self.clip_candidates(account_id, query, f, video_ids, max(POOL, top_k))
        hits = [VideoHit(rows[c.image_id].video_id, rows[c.image_id].start_s, rows[c.image_id].end_s, c.score,
                         [c.image_id], rows[c.image_id].caption or "", c.matched, rows[c.image_id].keyframe_key, c.rank)
                for c in ranked if c.image_id in rows and c.score >= min_score]
        return (disjoint(merge(hits)) if merged else hits)[:top_k]

    def clip_candidates(self, account_id: int, query: str, f: Filters, video_ids: list[int] | None = None,
                        pool: int = POOL) -> tuple[list, dict]:
        """Scored clips (fusion.Candidate, ids being clip ids), best first, and their live rows."""
        with self.store.db.read() as conn:
            f = with_named_people(conn, account_id, f, query)
        allowed = self._allowed_items(account_id, f, video_ids, video_clips)
        if allowed is not None and len(allowed) == 0:
            return [], {}
        qvec = self.models.visual.embed_text([query])[0]
        ids, sims, mean, std = self.clips.search(qvec, account_id, f.unique_id, pool, allowed)
        background = self.models.visual.background()
        if background is not None:
            # A video's keyframes repeat within each shot, so the namespace says little about what is
            # ordinary for this query; ordinary pictures do (see VisualEmbedder.background).
            ordinary = background @ qvec
            mean, std = float(ordinary.mean()), float(ordinary.std())
        lexical = self._clip_lexical(account_id, f.unique_id, query)
        if allowed is not None:
            ok = set(allowed.tolist())
            lexical = [hit for hit in lexical if hit[0] in ok]

        seen = set(ids.tolist())
        cosines = self.clips.similarities(qvec, [h[0] for h in lexical if h[0] not in seen])
        ranked = fuse(ids, sims, mean, std, lexical, cosines.get,
                      detected(self.store, query, seen | {h[0] for h in lexical}, video_clips))
        ranked.sort(key=lambda c: ("said" not in c.matched, -c.score))  # stable: by score within each tier
        return ranked, self._rows(video_clips, [c.image_id for c in ranked])

    def _clip_lexical(self, account_id: int, unique_id: str, query: str) -> list[tuple[int, float, str, float]]:
        """(clip id, bm25 strength, "words", phrase coverage) of the clips whose words (caption: labels, text
        on screen, speech; tags; file name) hold the query's: the same evidence a photo's OCR text gives."""
        terms = query_terms(query)
        if not terms:
            return []
        columns = ("caption", "labels", "tags", "name")
        with self.store.db.read() as conn:
            if conn.dialect.name == "sqlite":
                match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
                rows = conn.execute(text(
                    "SELECT f.rowid, -bm25(clip_fts), f.caption, f.labels, f.tags, f.name FROM clip_fts f "
                    "JOIN video_clips c ON c.id = f.rowid JOIN videos v ON v.id = c.video_id WHERE clip_fts MATCH :m "
                    "AND v.account_id = :a AND v.unique_id = :u ORDER BY bm25(clip_fts) LIMIT :n"),
                    {"m": match, "a": account_id, "u": unique_id, "n": POOL}).all()
            else:
                rows = pg_text.bm25(conn, "clip_fts", columns, "JOIN video_clips c ON c.id = f.rowid JOIN videos v ON "
                                    "v.id = c.video_id WHERE v.account_id = :a AND v.unique_id = :u",
                                    {"a": account_id, "u": unique_id}, terms, POOL)
        wanted = trigrams(compact(query))
        out = []
        for r in rows:
            held = coverage(wanted, spoken_or_shown(r[2] or ""))
            out.append((r[0], float(r[1]), "words,said" if held >= HELD else "words",
                        max(coverage(wanted, v) for v in r[2:] if v)))
        return out

    def speech_by_text(self, account_id: int, query: str, f: Filters, top_k: int,
                       video_ids: list[int] | None = None, min_score: float = 0.0) -> list[VideoHit]:
        allowed = self._allowed_items(account_id, f, video_ids, transcript_segments)
        if allowed is not None and len(allowed) == 0:
            return []
        qvec = self.models.sentences.queries([query])[0]  # a query in any language (models/sentences.py)
        ids, sims, _mean, _std = self.speech.search(qvec, account_id, f.unique_id, max(POOL, top_k), allowed)
        rows = self._rows(transcript_segments, ids.tolist())
        terms = query_terms(query)
        hits = []
        for seg_id, sim in zip(ids.tolist(), sims.tolist()):
            row = rows.get(seg_id)
            if row is None:
                continue
            words = set(query_terms(row.text))
            said = sum(t in words for t in terms) / len(terms) if terms else 0.0
            score = float(sim) + LEXICAL_BONUS * said
            if score >= min_score:
                hits.append(VideoHit(row.video_id, row.start_s, row.end_s, min(1.0, max(0.0, score)), [seg_id], row.text,
                                     ["speech"]))
        hits.sort(key=lambda h: -h.score)
        return disjoint(merge(hits))[:top_k]

    def frames_by_image(self, account_id: int, example: Image.Image, f: Filters, top_k: int,
                        video_ids: list[int] | None = None, min_score: float = 0.0) -> list[VideoHit]:
        allowed = self._allowed_items(account_id, f, video_ids, video_clips)
        if allowed is not None and len(allowed) == 0:
            return []
        example = example.copy()
        example.thumbnail((320, 320))
        features = self.models.visual.features([example])[0]
        ids, sims, _mean, _std = self.frames.search(features, account_id, f.unique_id, max(POOL, top_k), allowed)
        rows = self._rows(video_clips, ids.tolist())
        scores = self.models.visual.similarity(sims)
        hits = [VideoHit(rows[i].video_id, rows[i].start_s, rows[i].end_s, float(s), [i],
                         matched=["image"], keyframe_key=rows[i].keyframe_key)
                for i, s in zip(ids.tolist(), scores) if i in rows and s >= min_score]
        return hits[:top_k]

    def clips_by_image(self, account_id: int, example: Image.Image, prompt: str, f: Filters, video_id: int) -> list[VideoHit]:
        """Moments of one video that look like `example` and match `prompt`, best first."""
        by_picture = self.frames_by_image(account_id, example, f, 1000, [video_id])
        by_prompt = {h.item_ids[0]: h.score for h in self.clips_by_text(account_id, prompt, f, 1000, [video_id], merged=False)}
        for h in by_picture:
            h.score = BY_PICTURE * h.score + BY_PROMPT * by_prompt.get(h.item_ids[0], 0.0)
        return merge(sorted(by_picture, key=lambda h: -h.score))[:MOMENTS]


def spoken_or_shown(caption: str) -> str:
    """The part of a clip's caption (index/video.py's `caption`) that was said in it or printed on screen."""
    at = [caption.find(mark) for mark in ("Text on screen: ", "Speech: ") if mark in caption]
    return caption[min(at):] if at else ""


def disjoint(hits: list[VideoHit]) -> list[VideoHit]:
    """The hits (best first) with none overlapping another of its video, as clients read them: in whole
    seconds, start rounded down and end up. A hit overlapping a better one is dropped; two that only the
    rounding would make overlap (touching, or less than a second apart) share the second nearest their
    boundary. Best first in the result."""
    kept: dict[int, list[VideoHit]] = {}
    out = []
    for h in hits:
        mine = kept.setdefault(h.video_id, [])
        if any(h.start < k.end and k.start < h.end for k in mine):
            continue
        mine.append(h)
        out.append(h)
    for mine in kept.values():
        mine.sort(key=lambda h: h.start)
        for a, b in zip(mine, mine[1:]):
            if math.ceil(a.end) > math.floor(b.start):
                a.end = b.start = float(round((a.end + b.start) / 2))
    return [h for h in out if h.end > h.start]


def merge(hits: list[VideoHit]) -> list[VideoHit]:
    """Join each hit with the touching hits of its video (within MERGE_GAP_S) that score nearly as well
    (MERGE_RELATIVE of it), best hits first: a run of good matches becomes one clip, while one strong
    moment inside a long stretch of speech stays a moment. Best first in the result: those whose words hold
    the query, then by score."""
    by_video: dict[int, list[VideoHit]] = {}
    for h in hits:
        by_video.setdefault(h.video_id, []).append(h)
    merged = []
    for group in by_video.values():
        group.sort(key=lambda h: h.start)
        taken = [False] * len(group)
        for seed in sorted(range(len(group)), key=lambda i: -group[i].strength):
            if taken[seed]:
                continue
            taken[seed] = True
            lo = hi = seed
            floor = group[seed].strength * MERGE_RELATIVE
            while lo > 0 and not taken[lo - 1] and group[lo].start - group[lo - 1].end <= MERGE_GAP_S and group[lo - 1].strength >= floor:
                lo -= 1
                taken[lo] = True
            while hi + 1 < len(group) and not taken[hi + 1] and group[hi + 1].start - group[hi].end <= MERGE_GAP_S and group[hi + 1].strength >= floor:
                hi += 1
                taken[hi] = True
            run, best = group[lo: hi + 1], group[seed]
            items = best.item_ids + [i for h in run if h is not best for i in h.item_ids]
            merged.append(VideoHit(best.video_id, run[0].start, max(h.end for h in run), best.score, items,
                                   " ".join(h.text for h in run if h.text), sorted({m for h in run for m in h.matched}),
                                   best.keyframe_key, best.rank))
    merged.sort(key=lambda h: (not h.held, -h.score))
    return merged
