"""`ALL` (an extension): photos and video clips in one ranking. Both scores are calibrated the same way
(search/fusion.py); hits whose own words hold the query (a photo's OCR text, a clip's speech or screen
text: search/videos.py's HELD) come first, as a photo found by the words printed on it would."""

from __future__ import annotations

from .fusion import Candidate
from .videos import HELD, VideoHit


def photo_held(hit: Candidate) -> bool:
    return "ocr" in hit.matched and hit.phrase >= HELD


def ranked_together(photos: list[Candidate], clips: list[VideoHit], top_k: int) -> list[tuple[str, Candidate | VideoHit]]:
    """("image", photo) and ("clip", clip) pairs, best first, at most top_k."""
    both = [("image", h, photo_held(h)) for h in photos] + [("clip", h, h.held) for h in clips]
    both.sort(key=lambda x: (not x[2], -x[1].score))
    return [(kind, h) for kind, h, _ in both[:top_k]]
