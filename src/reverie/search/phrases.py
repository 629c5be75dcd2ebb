"""Phrase search in transcripts (GET /search_audio_transcripts): the words typed, found where they are said.

The phrase index holds each segment's words folded (store/spoken_words.py: case, accents, punctuation,
apostrophes and British or American spelling aside), followed by the first words of the next segment, so a
phrase said across two segments is found whole. A hit is

    exact   the folded phrase is in the folded words (the reference's case-insensitive substring match);
    near    the same letters spaced otherwise ("thy self" heard as "thyself"), or, in a phrase of
            MIN_NEAR_WORDS words or more, one word misheard, missing or extra; in one of 5 or 6 words, also
            two words misheard as words that sound alike ("thine" as "thy", "churl" as "churro": spelled
            within half their letters of each other).

Exact hits come first (newest video first, then in the order they are said), then near ones (most words
heard first). A hit's times are those of its own first and last word, from Whisper's word timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import text

from ..store import Store
from ..store.spoken_words import phrase_tokens, tokens

MIN_NEAR_WORDS = 4  # shorter phrases match exactly or not at all: "the old man" is not "the young man"
TWO_MISHEARD = (5, 6)  # phrase lengths in which two alike-sounding words may be misheard (more patterns to look up)
NEAR_CANDIDATES = 100  # segments each pattern of the near search may bring (hits past it are not counted)
SCOPE = ("FROM segment_trigrams t CROSS JOIN transcript_segments s CROSS JOIN videos v "
         "WHERE {match} AND s.id = t.rowid AND v.id = s.video_id AND v.account_id = :a AND v.unique_id = :u "
         "AND v.status = 'PARSE'")  # CROSS JOIN: SQLite starts from the trigram index, not every segment
ROW = "SELECT s.id, s.video_id, s.idx, s.start_s, s.end_s, s.text, s.words_json "


@dataclass
class PhraseHit:
    video_id: int
    start: float
    end: float
    text: str  # the segment's text, and the next segment's words through the phrase's end
    exact: bool
    heard: list[str] = field(default_factory=list)  # the phrase's (folded) words that were heard


def phrase_hits(store: Store, account_id: int, unique_id: str, phrase: str, page: int, size: int) -> tuple[int, list[PhraseHit]]:
    """(hits in all, the hits of this page)."""
    wanted = phrase_tokens(phrase)
    if not wanted:  # nothing but punctuation: nothing to find
        return 0, []
    folded = " ".join(wanted)
    params = {"a": account_id, "u": unique_id, "p": f"%{folded}%"}
    exact_scope = SCOPE.format(match="t.text LIKE :p AND NOT (t.tail LIKE :p)")  # the tail's are the next segment's
    first = (page - 1) * size
    with store.db.read() as conn:
        exact_total = conn.execute(text("SELECT count(*) " + exact_scope), params).scalar_one()
        near = _near(conn, params, wanted)
        rows = conn.execute(text(ROW + exact_scope + " ORDER BY s.video_id DESC, s.idx LIMIT :n OFFSET :o"),
                            {**params, "n": size, "o": first}).all() if first < exact_total else []
        following = _following(conn, rows)
    hits = [hit for r in rows for hit in _matches(r, following.get((r.video_id, r.idx + 1)), wanted, exact=True)[:1]]
    taken = max(0, first - exact_total)
    hits += near[taken: taken + size - len(hits)]
    return exact_total + len(near), hits


def _near(conn, params: dict, wanted: list[str]) -> list[PhraseHit]:  # noqa: ANN001
    """Near hits, best first: candidates from LIKE patterns that leave one word out (or, for a short phrase,
    let the spaces move), each checked word by word."""
    n = len(wanted)
    if n in TWO_MISHEARD:  # two words left out: each piece between them must be there as typed
        patterns = ["%" + "%".join(p for p in (" ".join(wanted[:j]), " ".join(wanted[j + 1:k]), " ".join(wanted[k + 1:])) if p) + "%"
                    for j in range(n) for k in range(j + 1, n)]
    elif n >= MIN_NEAR_WORDS:
        patterns = ["%" + " ".join(wanted[:j]) + "%" + " ".join(wanted[j + 1:]) + "%" for j in range(n)]
    elif len(wanted) > 1:
        patterns = ["%" + "%".join(wanted) + "%"]
    else:
        return []
    # A pattern without three letters in a row has no trigram to look up: it would read every segment.
    patterns = [p for p in patterns if max(len(piece) for piece in p.split("%")) >= 3]
    rows: dict[int, object] = {}
    for pattern in patterns:
        q = ROW + SCOPE.format(match="t.text LIKE :p") + " ORDER BY s.video_id DESC, s.idx LIMIT :n"
        for r in conn.execute(text(q), {**params, "p": pattern, "n": NEAR_CANDIDATES}):
            rows[r.id] = r
    following = _following(conn, list(rows.values()))
    found: dict[tuple[int, float], PhraseHit] = {}
    for r in rows.values():
        for hit in _matches(r, following.get((r.video_id, r.idx + 1)), wanted, exact=False):
            found.setdefault((hit.video_id, hit.start), hit)
    return sorted(found.values(), key=lambda h: (-len(h.heard), -h.video_id, h.start))


def _following(conn, rows: list) -> dict[tuple[int, int], object]:  # noqa: ANN001
    """The segment after each of these, by (video id, idx): its first words are in their tails."""
    if not rows:
        return {}
    videos = ",".join(str(int(v)) for v in {r.video_id for r in rows})
    positions = ",".join(str(int(i)) for i in {r.idx + 1 for r in rows})
    q = f"SELECT video_id, idx, start_s, end_s, text, words_json FROM transcript_segments WHERE video_id IN ({videos}) AND idx IN ({positions})"
    return {(r.video_id, r.idx): r for r in conn.execute(text(q))}


def _timed_words(row) -> list[tuple[str, float, float]]:  # noqa: ANN001
    if row.words_json:
        return [(w, float(s), float(e)) for w, s, e in json.loads(row.words_json)]
    said = row.text.split()  # no word times (transcribed before they were kept): spread over the segment
    step = (row.end_s - row.start_s) / max(1, len(said))
    return [(w, row.start_s + i * step, row.start_s + (i + 1) * step) for i, w in enumerate(said)]


def _matches(row, following, wanted: list[str], exact: bool) -> list[PhraseHit]:  # noqa: ANN001
    """The hits in one segment (a phrase starting in it, maybe running into the next), exact or near ones."""
    own = _timed_words(row)
    words = own + (_timed_words(following) if following is not None else [])
    folded, origin = tokens([w for w, _, _ in words])
    own_tokens = sum(1 for i in origin if i < len(own))
    starts = _exact_starts(folded, " ".join(wanted))
    if exact:
        spans = [(i, j, list(wanted)) for i, j in starts if i < own_tokens]
    else:
        exact_at = {i for i, _ in starts}
        found = [span for i in range(own_tokens) if i not in exact_at for span in _near_at(folded, i, wanted)[:1]]
        spans, taken = [], set()
        for span in sorted(found, key=lambda s: (-len(s[2]), s[0])):  # overlapping ones are one place
            covered = set(range(span[0], span[1] + 1))
            if not covered & taken and not any(a <= span[1] and span[0] <= b for a, b in starts):
                spans.append(span)
                taken |= covered
        spans.sort()
    hits = []
    for i, j, heard in spans:
        first, last = origin[i], origin[j]
        said = " ".join(w for w, _, _ in words[: max(len(own), last + 1)])
        hits.append(PhraseHit(row.video_id, words[first][1], words[last][2], said, exact, heard))
    return hits


def _exact_starts(folded: list[str], phrase: str) -> list[tuple[int, int]]:
    """(first token, last token) of each place the phrase is found as a substring of the folded text."""
    joined = " ".join(folded)
    token_at: list[int] = []
    for k, t in enumerate(folded):
        token_at += [k] * (len(t) + 1)  # the space after a token counts as the token's
    spans, at = [], joined.find(phrase)
    while at >= 0:
        spans.append((token_at[at], token_at[at + len(phrase) - 1]))
        at = joined.find(phrase, at + 1)
    return spans


def _near_at(folded: list[str], i: int, wanted: list[str]) -> list[tuple[int, int, list[str]]]:
    """Near matches starting at token i: (first token, last token, the phrase's words heard)."""
    n, out = len(wanted), []
    letters, k, joined = "".join(wanted), i, ""
    while k < len(folded) and len(joined) < len(letters):
        joined += folded[k]
        k += 1
    if joined == letters and k - i != n:  # the same letters, spaced otherwise
        out.append((i, k - 1, list(wanted)))
    if n < MIN_NEAR_WORDS:
        return out
    window = folded[i: i + n]
    wrong = [m for m in range(len(window)) if window[m] != wanted[m]]
    if len(window) == n and (len(wrong) == 1 or (  # one word misheard, or two that sound alike
            n in TWO_MISHEARD and len(wrong) == 2 and all(alike(window[m], wanted[m]) for m in wrong))):
        out.append((i, i + n - 1, [w for m, w in enumerate(wanted) if m not in wrong]))
    for m in range(n):  # one word not heard
        rest = wanted[:m] + wanted[m + 1:]
        if folded[i: i + n - 1] == rest:
            out.append((i, i + n - 2, rest))
            break
    extra = folded[i: i + n + 1]
    if len(extra) == n + 1 and extra[0] == wanted[0] and extra[-1] == wanted[-1]:  # one word too many
        if any(extra[:m] + extra[m + 1:] == wanted for m in range(1, n)):
            out.append((i, i + n, list(wanted)))
    return sorted(out, key=lambda span: -len(span[2]))


def alike(heard: str, typed: str) -> bool:
    """Spelled within half their letters of each other (Levenshtein), as a misheard word often is."""
    if not heard or not typed:
        return False
    previous = list(range(len(typed) + 1))
    for i, a in enumerate(heard, 1):
        current = [i]
        for j, b in enumerate(typed, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] <= max(1, round(max(len(heard), len(typed)) / 2))
