"""Full-text ranking on PostgreSQL with the formula SQLite's FTS5 uses, so that lexical scores mean the same
on both databases (search/fusion.py's calibration reads their size, not only their order).

Scored with BM25 (k1 1.2, b 0.75, FTS5's idf) over the table-wide document count, average length and
document frequencies that FTS5 would use. Photos' words (image_fts) are ranked exactly, in the database:
image_fts_terms (migration 0010) holds each (word, photo) with the word's weighted frequency and the row's
length, so every matching photo's BM25 is summed from that index alone and only the best `limit` rows are
read, their namespace checked best first. A broad word (25,000 photos of a million) then costs a few
milliseconds instead of a visit to each of its rows. Other tables (video clips' text) are found by their
GIN index and a generous pool of them, ranked by ts_rank, is scored here with the same formula. Substrings
are found by a trigram index and scored alike. The statistics cost a scan each, so on a table of
CACHE_FROM rows or more they are cached for a minute (a few new rows move them very little); a smaller
table, a new library above all, is counted on every query.
"""

from __future__ import annotations

import math
import re
import threading
import time

from sqlalchemy import Connection, text

K1, B = 1.2, 0.75
WEIGHTS = {"A": 3.0, "B": 2.0, "C": 1.5, "D": 1.0}  # the tsvector weight letters (migration 0005)
RANK_WEIGHTS = "{0.333,0.5,0.667,1.0}"  # the same over 3, in ts_rank's order (D, C, B, A; it takes 0..1)
STATS_TTL = 60.0
CACHE_FROM = 10_000
POOL_FACTOR, MIN_POOL = 4, 400
TERMS = {"image_fts": "image_fts_terms"}  # full-text tables whose words are also held apart (migration 0010)

_LEXEME = re.compile(r"'((?:[^']|'')*)'(?::(\S+))?")
_cache: dict[tuple, tuple[float, object]] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple, compute, keep) -> object:  # noqa: ANN001
    """compute(), or its value of less than STATS_TTL ago; a value is kept only where keep(value) says."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    if keep(value):
        with _cache_lock:
            _cache[key] = (now + STATS_TTL, value)
    return value


def _stats(conn: Connection, table: str, length: str) -> tuple[int, float]:
    """(rows, average length) of the whole table, as FTS5 keeps them."""
    return _cached(("stats", table), lambda: tuple(conn.execute(text(
        f"SELECT count(*), coalesce(avg({length}), 0) FROM {table}")).one()), lambda v: v[0] >= CACHE_FROM)


def _doc_freq(conn: Connection, table: str, term: str, where: str, params: dict, n_docs: int) -> int:
    return _cached(("df", table, term), lambda: conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                                             params).scalar_one(), lambda _: n_docs >= CACHE_FROM)


def _idf(n_docs: int, df: int) -> float:
    idf = math.log((n_docs - df + 0.5) / (df + 0.5))
    return idf if idf > 0 else 1e-6


def _bm25(freqs: list[tuple[float, float]], length: float, avg_length: float) -> float:
    """freqs: (idf, weighted term frequency) per query term found in the document."""
    norm = K1 * (1 - B + B * length / avg_length) if avg_length > 0 else K1
    return sum(idf * f * (K1 + 1) / (f + norm) for idf, f in freqs if f > 0)


def parse_tsvector(value: str) -> dict[str, float]:
    """'cat':1A,5 'dog':3 -> {"cat": 3.0 + 1.0, "dog": 1.0}: each occurrence counts its weight."""
    out: dict[str, float] = {}
    for lexeme, positions in _LEXEME.findall(value):
        lexeme = lexeme.replace("''", "'")
        weights = [WEIGHTS.get(p[-1], 1.0) if p[-1].isalpha() else 1.0 for p in positions.split(",")] if positions else [1.0]
        out[lexeme] = sum(weights)
    return out


def lexemes(conn: Connection, terms: list[str]) -> list[str]:
    """Each query word as the english configuration stems it (stop words drop out)."""
    rows = conn.execute(text("SELECT DISTINCT lexeme FROM unnest(CAST(:terms AS text[])) AS t, "
                             "unnest(to_tsvector('english', t)) AS v"), {"terms": terms}).scalars()
    return sorted(rows)


def _tsquery(words: list[str]) -> str:
    return " | ".join("'" + w.replace("'", "''") + "'" for w in words)


def bm25(conn: Connection, table: str, columns: tuple[str, ...], scope: str, params: dict, terms: list[str],
         limit: int) -> list[tuple]:
    """Rows (rowid, bm25 strength, *columns) of `table` (alias f) matching any term, best first. `scope`
    joins and filters (SQL after the FROM clause's table, starting with JOIN, ending in WHERE conditions)."""
    words = lexemes(conn, terms)
    if not words:
        return []
    n_docs, avg_length = _stats(conn, table, "length(doc)")
    if table in TERMS:
        return _bm25_from_terms(conn, table, columns, scope, params, words, limit, n_docs, float(avg_length))
    query = _tsquery(words)
    idf = {w: _idf(n_docs, _doc_freq(conn, table, w, "doc @@ to_tsquery('simple', :q)", {"q": _tsquery([w])}, n_docs))
           for w in words}
    rows = conn.execute(text(
        f"SELECT {', '.join(['f.rowid', 'f.doc::text'] + ['f.' + c for c in columns])} FROM {table} f {scope} "
        f"AND f.doc @@ to_tsquery('simple', :tsq) "
        f"ORDER BY ts_rank(CAST('{RANK_WEIGHTS}' AS float4[]), f.doc, to_tsquery('simple', :tsq)) DESC LIMIT :pool"
    ), {**params, "tsq": query, "pool": max(MIN_POOL, POOL_FACTOR * limit)}).all()
    scored = []
    for row in rows:
        doc = parse_tsvector(row[1])
        score = _bm25([(idf[w], doc.get(w, 0.0)) for w in words], len(doc), float(avg_length))
        scored.append((row[0], score, *row[2:]))
    scored.sort(key=lambda r: -r[1])
    return scored[:limit]


def _bm25_from_terms(conn: Connection, table: str, columns: tuple[str, ...], scope: str, params: dict,
                     words: list[str], limit: int, n_docs: int, avg_length: float) -> list[tuple]:
    """bm25 over the table's word index: the exact BM25 of every row holding a word, best first."""
    terms = TERMS[table]
    dfs = [_doc_freq(conn, terms, w, "lexeme = :w", {"w": w}, n_docs) for w in words]
    # _bm25's formula per (word, row), summed per row; the best `ranked` rows are then read in that order
    # until `limit` of them pass the scope (the join keeps the subquery's order: no second sort).
    sql = text(
        f"SELECT {', '.join(['f.rowid', 's.score'] + ['f.' + c for c in columns])} FROM ("
        f"SELECT t.rowid, sum(q.idf * t.freq * {K1 + 1} / (t.freq + :a + :c * t.length)) AS score "
        f"FROM unnest(CAST(:words AS text[]), CAST(:idf AS float8[])) AS q(lexeme, idf) "
        f"JOIN {terms} t ON t.lexeme = q.lexeme GROUP BY t.rowid ORDER BY score DESC, t.rowid LIMIT :ranked) s "
        f"JOIN {table} f ON f.rowid = s.rowid {scope} ORDER BY s.score DESC, s.rowid LIMIT :limit")
    values = {**params, "words": words, "idf": [_idf(n_docs, df) for df in dfs], "a": K1 * (1 - B),
              "c": K1 * B / avg_length if avg_length > 0 else 0.0, "limit": limit}
    # A bounded pool: sorting every row of a broad word costs more than summing it. Only a namespace that
    # holds few of the matching rows (a small one beside large ones) can leave it short, and then every
    # matching row is ranked (the words' document frequencies bound their number).
    pool = max(MIN_POOL, POOL_FACTOR * limit)
    rows = conn.execute(sql, {**values, "ranked": pool}).all()
    if len(rows) < limit and sum(dfs) > pool:
        rows = conn.execute(sql, {**values, "ranked": sum(dfs)}).all()
    return [tuple(r) for r in rows]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def substring_bm25(conn: Connection, table: str, column: str, scope: str, params: dict, terms: list[str],
                   limit: int, pool: int = 2000) -> list[tuple[int, float]]:
    """(rowid, bm25 strength) of rows whose `column` holds any term as a substring, case aside: FTS5's
    trigram tokenizer scored the same way (each occurrence of a term is one phrase match; a row is as long
    as its trigrams)."""
    n_docs, avg_length = _stats(conn, table, f"greatest(length({column}) - 2, 1)")
    idf = {t: _idf(n_docs, _doc_freq(conn, table, t, f"{column} ILIKE :p", {"p": _like(t)}, n_docs)) for t in terms}
    rows = conn.execute(text(f"SELECT f.rowid, f.{column} FROM {table} f {scope} AND f.{column} ILIKE ANY(:pats) LIMIT :pool"),
                        {**params, "pats": [_like(t) for t in terms], "pool": pool}).all()
    scored = []
    for rowid, value in rows:
        lower = value.lower()
        score = _bm25([(idf[t], float(lower.count(t))) for t in terms], max(len(value) - 2, 1), float(avg_length))
        scored.append((rowid, score))
    scored.sort(key=lambda r: -r[1])
    return scored[:limit]
