"""Phrase search in transcripts (GET /search_audio_transcripts): the words typed, found where they are said.

The phrase index (segment_words) holds each segment's words folded (store/spoken_words.py: case, accents,
punctuation, apostrophes and British or American spelling aside), followed by the first words of the next
segment, so a phrase said across two segments is found whole. It is looked up by word positions: FTS5's
phrase and NEAR queries on SQLite, tsquery's <-> and <N> on PostgreSQL. A hit is

    exact   the folded phrase's words, in order; where no segment holds them so, the last one may be the
            start of a longer word (as the reference's case-insensitive substring match finds a phrase
            typed so far);
    near    the same letters spaced otherwise ("thy self" heard as "thyself"), or, in a phrase of
            MIN_NEAR_WORDS words or more, one word misheard, missing or extra; in one of 5 or 6 words, also
            two words misheard as words that sound alike ("thine" as "thy", "churl" as "churro": spelled
            within half their letters of each other).

Exact hits come newest video first, then in the order they are said. Near ones are looked for only when
the phrase is heard nowhere as typed (most words heard first). A hit's times are those of its own first and
last word, from Whisper's word timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import text

from ..store import Store
from ..store.spoken_words import phrase_tokens, tokens

MIN_NEAR_WORDS = 4  # shorter phrases match exactly or not at all: "the old man" is not "the young man"
TWO_MISHEARD = (5, 6)  # phrase lengths in which two alike-sounding words may be misheard
NEAR_CANDIDATES = 200  # segments the near search checks (hits past them are not counted)
ROW = "SELECT s.id, s.video_id, s.idx, s.start_s, s.end_s, s.text, s.words_json "
_SQLITE = ("FROM segment_words t CROSS JOIN transcript_segments s CROSS JOIN videos v WHERE segment_words MATCH :q "
           "AND s.id = t.rowid AND v.id = s.video_id AND {scope}")  # CROSS JOIN: SQLite starts from the word index
_POSTGRES = ("FROM segment_words t JOIN transcript_segments s ON s.id = t.rowid JOIN videos v ON v.id = s.video_id "
             "WHERE t.doc @@ to_tsquery('simple', :q) {tail} AND {scope}")
_SCOPE = "v.account_id = :a AND v.unique_id = :u AND v.status = 'PARSE'"


def _exact(dialect: str, wanted: list[str], cut_short: bool = False) -> tuple[str, str]:
    """(FROM ... WHERE, query) of the segments holding the phrase, but not in their tail alone (a phrase
    there is the next segment's); `cut_short`: its last word may be the start of a longer one."""
    if dialect == "sqlite":
        phrase = '"' + " ".join(wanted) + '"' + ("*" if cut_short else "")
        return _SQLITE.format(scope=_SCOPE), f"{phrase} NOT tail : {phrase}"
    query = " <-> ".join(f"'{w}'" for w in wanted) + (":*" if cut_short else "")
    return _POSTGRES.format(tail="AND NOT (t.tail_doc @@ to_tsquery('simple', :q))", scope=_SCOPE), query


def _near_groups(wanted: list[str]) -> list[tuple[list[list[str]], int]]:
    """What a near hit may look like, as (runs of the phrase's words, most words heard between them)."""
    n, groups = len(wanted), []
    if n >= MIN_NEAR_WORDS:
        groups += [([wanted[:j], wanted[j + 1:]], 1) for j in range(n)]  # one misheard or not heard
        groups += [([wanted[:k], wanted[k:]], 1) for k in range(1, n)]  # one heard that was not typed
    if n in TWO_MISHEARD:
        groups += [([wanted[:j], wanted[j + 1:k], wanted[k + 1:]], 2) for j in range(n) for k in range(j + 1, n)]
    groups += [([wanted[:j] + [wanted[j] + wanted[j + 1]] + wanted[j + 2:]], 0) for j in range(n - 1)]  # "thyself"
    return [([run for run in runs if run], gap) for runs, gap in groups if any(runs)]


def _near_query(dialect: str, wanted: list[str]) -> str:
    groups = _near_groups(wanted)
    if dialect == "sqlite":
        return " OR ".join('"' + " ".join(runs[0]) + '"' if len(runs) == 1 else
                           "NEAR(" + " ".join('"' + " ".join(run) + '"' for run in runs) + f", {gap})"
                           for runs, gap in groups)
    alternatives = []
    for runs, gap in groups:  # tsquery's <N> is an exact distance: each spread of the gap is one alternative
        spreads = [()] if len(runs) == 1 else _spreads(len(runs) - 1, gap)
        for spread in spreads:
            parts = [" <-> ".join(f"'{w}'" for w in runs[0])]
            for run, between in zip(runs[1:], spread):
                parts.append(f" <{between + 1}> " + " <-> ".join(f"'{w}'" for w in run))
            alternatives.append("(" + "".join(parts) + ")")
    return " | ".join(alternatives)


def _spreads(gaps: int, most: int) -> list[tuple[int, ...]]:
    """Every way to put at most `most` words into `gaps` gaps."""
    if gaps == 0:
        return [()]
    return [(first, *rest) for first in range(most + 1) for rest in _spreads(gaps - 1, most - first)]


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
    dialect = store.db.engine.dialect.name
    first = (page - 1) * size
    with store.db.read() as conn:
        # Whole words first; a phrase found nowhere so may end in a word typed so far ("the gaudy spr"):
        # the prefix search reads every word it could be, so it runs only then.
        for cut_short in (False, True):
            scope, query = _exact(dialect, wanted, cut_short)
            params = {"a": account_id, "u": unique_id, "q": query}
            exact_total = conn.execute(text("SELECT count(*) " + scope), params).scalar_one()
            if exact_total:
                break
        # Near hits are looked for only where the phrase is heard nowhere as typed, so that a phrase said as
        # typed is answered at the exact search's speed.
        near = _near(conn, dialect, account_id, unique_id, wanted) if exact_total == 0 else []
        rows = conn.execute(text(ROW + scope + " ORDER BY s.video_id DESC, s.idx LIMIT :n OFFSET :o"),
                            {**params, "n": size, "o": first}).all() if first < exact_total else []
        following = _following(conn, rows)
    hits = [hit for r in rows
            for hit in _matches(r, following.get((r.video_id, r.idx + 1)), wanted, exact=True, cut_short=cut_short)[:1]]
    taken = max(0, first - exact_total)
    hits += near[taken: taken + size - len(hits)]
    return exact_total + len(near), hits


def _near(conn, dialect: str, account_id: int, unique_id: str, wanted: list[str]) -> list[PhraseHit]:  # noqa: ANN001
    """Near hits, most words heard first: candidates whose words come close to the phrase's (one word
    missing, extra or misheard, or two alike; two words heard as one), each checked word by word."""
    if len(wanted) < 2:
        return []
    scope = _SQLITE.format(scope=_SCOPE) if dialect == "sqlite" else _POSTGRES.format(tail="", scope=_SCOPE)
    params = {"a": account_id, "u": unique_id, "q": _near_query(dialect, wanted), "n": NEAR_CANDIDATES}
    rows = conn.execute(text(ROW + scope + " LIMIT :n"), params).all()
    following = _following(conn, rows)
    found: dict[tuple[int, float], PhraseHit] = {}
    for r in rows:
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


def _matches(row, following, wanted: list[str], exact: bool, cut_short: bool = True) -> list[PhraseHit]:  # noqa: ANN001
    """The hits in one segment (a phrase starting in it, maybe running into the next), exact or near ones;
    `cut_short`: an exact hit's last word may be the start of a longer one."""
    own = _timed_words(row)
    words = own + (_timed_words(following) if following is not None else [])
    folded, origin = tokens([w for w, _, _ in words])
    own_tokens = sum(1 for i in origin if i < len(own))
    starts = _exact_starts(folded, " ".join(wanted), cut_short)
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


def _exact_starts(folded: list[str], phrase: str, cut_short: bool = True) -> list[tuple[int, int]]:
    """(first token, last token) of each place the folded text holds the phrase, from a token's start and,
    unless `cut_short`, to a token's end."""
    joined = " ".join(folded)
    token_at: list[int] = []
    for k, t in enumerate(folded):
        token_at += [k] * (len(t) + 1)  # the space after a token counts as the token's
    spans, at = [], joined.find(phrase)
    while at >= 0:
        end = at + len(phrase)
        if (at == 0 or joined[at - 1] == " ") and (cut_short or end == len(joined) or joined[end] == " "):
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
