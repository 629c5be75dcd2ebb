"""The form in which what was said and what a user types are compared, for phrase search.

Both sides go through the same folding, so none of these keep a phrase from matching: case, accents,
punctuation and hyphens ("self-substantial", "www.Marxists.org"), apostrophes ("youth's", "youths" and
"youth s" are one token), and the common British and American spellings ("spectre" and "specter",
"colour" and "color", "organise" and "organize"). Folding may make two different words equal ("filed"
never does, but "prise" and "prize" do): a phrase search answers with a few extra hits rather than miss one.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['’ʼ`´]")
_NOT_WORD = re.compile(r"[\W_]+")  # letters of every script and digits make words; all else parts them
CLITICS = {"s", "t", "ll", "re", "ve", "d", "m"}  # "youth s", "don t": what is left of a typed apostrophe
SPELLINGS = [  # British -> American endings, applied to words of 5 letters or more
    (re.compile(r"(?<=[a-z]{2})our(s|ed|ing|ite|ites|able|er|ers)?$"), r"or\1"),  # colour, favourite
    (re.compile(r"(?<=[^aeiou])tre(s|d)?$"), r"ter\1"),  # spectre, centre, theatre
    (re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations)$"), r"iz\1"),  # organise, realisation
    (re.compile(r"(?<=[a-z]{2})ys(e|es|ed|ing)$"), r"yz\1"),  # analyse
    (re.compile(r"(?<=[a-z]e)ll(ed|ing|er|ers)$"), r"l\1"),  # travelled, cancelling
    (re.compile(r"(?<=[a-z]{2})ogue(s)?$"), r"og\1"),  # catalogue, dialogue
    (re.compile(r"(?<=[a-z]{2})ence(s)?$"), r"ense\1"),  # defence, licence
]
WORDS = {"grey": "gray", "greys": "grays", "programme": "program", "programmes": "programs", "tyre": "tire",
         "tyres": "tires", "cheque": "check", "cheques": "checks", "aluminium": "aluminum", "plough": "plow",
         "mould": "mold", "whilst": "while", "amongst": "among", "judgement": "judgment", "ageing": "aging"}


def word_tokens(word: str) -> list[str]:
    """The folded tokens of one word as said or typed (one, or several for "www.Marxists.org")."""
    plain = unicodedata.normalize("NFKD", word.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return [_spelling(t) for t in _NOT_WORD.split(_APOSTROPHES.sub("", plain)) if t]


def _spelling(token: str) -> str:
    if token in WORDS:
        return WORDS[token]
    if len(token) >= 5 and token.isalpha():
        for pattern, replacement in SPELLINGS:
            token = pattern.sub(replacement, token)
    return token


def tokens(words: list[str]) -> tuple[list[str], list[int]]:
    """The folded tokens of a run of words, and for each the index of the word it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, word in enumerate(words):
        for t in word_tokens(word):
            if t in CLITICS and out:
                out[-1] = _spelling(out[-1] + t)
            else:
                out.append(t)
                origin.append(i)
    return out, origin


def phrase_tokens(phrase: str) -> list[str]:
    """A typed phrase, folded."""
    return tokens(phrase.split())[0]


def folded(words: list[str]) -> str:
    """Tokens joined by single spaces: the text the phrase index holds."""
    return " ".join(tokens(words)[0])


TAIL_WORDS = 6  # of the next segment, indexed with each segment: a phrase said across two is found whole


def index_rows(segments: list[list[str]]) -> list[tuple[str, str]]:
    """(text, tail) of the phrase index for a video's segments, each given as its words in order: text
    is the segment's folded words followed by its tail, the first TAIL_WORDS of the next segment. A phrase
    found in the tail alone is the next segment's (search/phrases.py)."""
    rows = []
    for i, words in enumerate(segments):
        tail = folded(segments[i + 1][:TAIL_WORDS]) if i + 1 < len(segments) else ""
        rows.append(((folded(words) + " " + tail).strip(), tail))
    return rows
