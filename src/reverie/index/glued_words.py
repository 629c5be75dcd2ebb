"""Words that OCR wrote without the spaces between them, split apart for the full-text index.

RapidOCR often reads a tightly printed line as one token: a receipt's "ABC HO TRADING" comes back as
"ABCHOTRADING", "TAMAN DAYA" as "TAMANDAYA". The letter-trigram index still finds long words inside such a
token, but a word of three letters ("ABC") is too short to look up that way (it matches inside too much
unrelated text), so the shop was found by nothing. A token that is no known word is split into the likeliest
words by their frequency on the web (`wordsegment`: unigram and bigram counts of the Google web corpus,
Apache-2.0), and the pieces are indexed beside the text as it was read.

The counts cost ~95 MB and a quarter of a second to load, so they are loaded by the first photo with such a
token, in the process that reads text, and never by one that only searches.
"""

from __future__ import annotations

import re
import threading

_TOKEN = re.compile(r"[A-Za-z]{6,}")  # shorter tokens are rarely glued words; digits and other scripts stay
MIN_PIECE = 3  # what a query can look up (store/search_index.py's query_terms)


class _Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._segmenter = None

    def get(self):  # noqa: ANN201
        with self._lock:
            if self._segmenter is None:
                from wordsegment import Segmenter

                segmenter = Segmenter()
                segmenter.load()
                self._segmenter = segmenter
            return self._segmenter


_COUNTS = _Counts()


def unglued(lines: list[str]) -> list[str]:
    """The words inside tokens that are no word themselves ("ABCHOTRADING" -> abc, trading), pieces
    shorter than MIN_PIECE left out; [] for text whose tokens are all words."""
    tokens = {t.lower() for line in lines for t in _TOKEN.findall(line)}
    if not tokens:
        return []
    segmenter = _COUNTS.get()
    found: list[str] = []
    for token in sorted(tokens):
        if token in segmenter.unigrams:
            continue
        pieces = segmenter.segment(token)
        if len(pieces) > 1:
            found += [p for p in pieces if len(p) >= MIN_PIECE]
    return found
