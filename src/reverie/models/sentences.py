"""Sentences of speech, and the queries that look for them, in one space whatever their language.

MiniLM (the space every stored speech vector lives in) knows little but English. A sentence in another
language goes through multilingual-e5 and the bridge's map from e5's space into MiniLM's (models/bridge.py),
as a visual query in another language does, so "der Zug hat Verspätung" said in a video is found by the same
words typed, and near its English meaning.
"""

from __future__ import annotations

import numpy as np

from .bridge import Bridge
from .multilingual import QueryLanguages, language_of
from .text_embedding import TextEmbedder
from .vectors import normalise


class SentenceEmbedder:
    def __init__(self, text: TextEmbedder, languages: QueryLanguages, bridge: Bridge):
        self.text, self.languages, self.bridge = text, languages, bridge

    def said(self, texts: list[str], languages: list[str | None]) -> np.ndarray:
        """Vectors of transcript segments, each in the language Whisper heard ('en', 'de', ...)."""
        return self._embed(texts, ["en" if lang in (None, "en") else "other" for lang in languages])

    def queries(self, texts: list[str]) -> np.ndarray:
        """Queries' vectors; each one's language is guessed from its words (models/multilingual.py)."""
        return self._embed(texts, [language_of(t, self.text.knows) for t in texts])

    def _embed(self, texts: list[str], kinds: list[str]) -> np.ndarray:
        vectors = self.text.embed(texts) if texts else np.zeros((0, self.text.dim), np.float32)
        others = [i for i, kind in enumerate(kinds) if kind != "en"]
        if others:
            mapped = self.bridge.from_e5(self.languages.embedder.embed([texts[i] for i in others]))
            for i, v in zip(others, mapped):
                # A query no word places ("Hund", "Berlin") may be either: the mean of both readings.
                vectors[i] = v if kinds[i] == "other" else normalise(vectors[i] + v)
        return vectors
