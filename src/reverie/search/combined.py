"""`ALL` (an extension): photos and video clips in one ranking. Both scores are calibrated the same way
(search/fusion.py); hits whose own words hold the query (a photo's OCR text, a clip's speech or screen
text: search/fusion.py's HELD) come first, as a photo found by the words printed on it would."""

from __future__ import annotations

from .filters import Filters
from .fusion import HELD, Candidate
from .images import Searcher
from .videos import VideoHit, VideoSearcher


def photo_held(hit: Candidate) -> bool:
    return "ocr" in hit.matched and hit.phrase >= HELD


def ranked_together(photos: list[Candidate], clips: list[VideoHit], top_k: int) -> list[tuple[str, Candidate | VideoHit]]:
    """("image", photo) and ("clip", clip) pairs, best first, at most top_k."""
    both = [("image", h, photo_held(h)) for h in photos] + [("clip", h, h.held) for h in clips]
    both.sort(key=lambda x: (not x[2], -x[1].score))
    return [(kind, h) for kind, h, _ in both[:top_k]]


def search_everything(photos: Searcher, clips: VideoSearcher, account_id: int, query: str, f: Filters, top_k: int,
                      video_ids: list[int] | None, min_score: float) -> list[tuple[str, Candidate | VideoHit]]:
    """Photos and clips for a text query in one ranking, at most top_k, none scoring under min_score."""
    return ranked_together(photos.by_text(account_id, query, f, top_k, min_score),
                           clips.clips_by_text(account_id, query, f, top_k, video_ids, min_score), top_k)
