"""How common a word is in English, so that a query's generic words ("shop", "store") weigh less than a
name ("UNIHAKKA") when search_index.held_shares asks how much of a query a picture's text holds.

The counts are `wordsegment`'s unigram counts of the Google web corpus (Apache-2.0), the package indexing
already uses to split glued OCR words (index/glued_words.py). Only the COMMON most frequent words are read
(the file is sorted by count; they hold 95 % of its mass): ~30 ms and a few MB, once, by the first query
that needs them. Any other word, a shop's name or a misread one, counts as rare as a word can be.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

COMMON = 30_000


@cache
def _table() -> tuple[dict[str, int], float]:
    """The COMMON words' counts, and the log of their sum."""
    counts = {}
    with resources.files("wordsegment").joinpath("unigrams.txt").open(encoding="utf-8") as f:
        for line, _ in zip(f, range(COMMON)):
            word, count = line.split("\t")
            counts[word] = int(count)
    return counts, math.log(sum(counts.values()))


def rarity(word: str) -> float:
    """How rare `word` (lower case, letters and digits) is in English, from about 0.2 ("at", "from") through
    0.29 ("shop") and 0.5 ("aeon") to 1 (a word outside the COMMON most frequent): the information a use of
    it carries, as a share of the most a word can carry."""
    counts, log_total = _table()
    count = counts.get(word)
    return 1.0 if count is None else 1.0 - math.log(count) / log_total
