"""The 1000 ImageNet-1k class names in the classifier's output order, read from timm's data files
(installed with `--no-deps`: only its text files are used, timm itself is never imported)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path


def _info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("timm's label files are missing: pip install --no-deps timm")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "_info"


@lru_cache(maxsize=1)
def class_names() -> list[list[str]]:
    """Per class, its lemmas: [['tench', 'Tinca tinca'], ['goldfish', 'Carassius auratus'], ...]."""
    info = _info_dir()
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, text = line.partition("\t")
        lemmas[wnid] = [t.strip() for t in text.split(",") if t.strip()]
    return [lemmas[w] for w in synsets]


def display_name(index: int) -> str:
    return class_names()[index][0]
