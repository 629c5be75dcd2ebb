"""Sentences of speech, and the queries that look for them, in one space whatever their language.

MiniLM (the space every stored speech vector lives in) knows little but English. A sentence in another
language goes through the multilingual encoder and the language map into MiniLM's space (models/multilingual.py,
models/language_map.py), as a visual query in another language does, so "der Zug hat Verspätung" said in a
video is found by the same words typed, and near its English meaning.
"""

from __future__ import annotations

import numpy as np

from .language_map import LanguageMap
from .mpnet import EnglishReader
from .multilingual import QueryLanguages, language_of
from .text_embedding import TextEmbedder
from .vectors import normalise


class SentenceEmbedder:
    def __init__(self, text: TextEmbedder, languages: QueryLanguages, language_map: LanguageMap, english: EnglishReader):
        self.text, self.languages, self.language_map, self.english = text, languages, language_map, english

    def said(self, texts: list[str], languages: list[str | None]) -> np.ndarray:
        """Vectors of transcript segments, each in the language Whisper heard ('en', 'de', ...)."""
        return self._embed(texts, ["en" if lang in (None, "en") else "other" for lang in languages], False)

    def queries(self, texts: list[str], for_pictures: bool = False) -> np.ndarray:
        """Queries' vectors; each one's language is guessed from its words (models/multilingual.py). A query
        for pictures in English is read by all three encoders (the maps' readings weighted), which ranks the
        right photo first more often (models/language_map.py, models/mpnet.py); transcripts in English are
        MiniLM's alone."""
        return self._embed(texts, [language_of(t, self.text.knows) for t in texts], for_pictures)

    def _embed(self, texts: list[str], kinds: list[str], for_pictures: bool) -> np.ndarray:
        vectors = self.text.embed(texts) if texts else np.zeros((0, self.text.dim), np.float32)
        english_weight = self.language_map.english_weight if for_pictures else 0.0
        read = [i for i, kind in enumerate(kinds) if kind != "en" or english_weight > 0]
        if read:
            encoded = self.languages.embedder.embed([texts[i] for i in read])
            mapped = self.language_map.pictures(encoded) if for_pictures else self.language_map.sentences(encoded)
            for i, v in zip(read, mapped):
                # A query no word places ("Hund", "Berlin") may be either: the mean of both readings.
                weight = {"en": english_weight, "unknown": 1.0}.get(kinds[i])
                vectors[i] = v if weight is None else normalise(vectors[i] + weight * v)
        english = [i for i, kind in enumerate(kinds) if kind == "en"] if for_pictures else []
        if english:
            by_mpnet = self.english.pictures([texts[i] for i in english])
            vectors[english] = normalise(vectors[english] + self.english.weight * by_mpnet)
        return vectors
