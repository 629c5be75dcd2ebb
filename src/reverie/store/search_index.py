"""What search reads besides the image rows: vectors per space, and the full-text index (FTS5 with trigram
tokens on SQLite; tsvector and pg_trgm on PostgreSQL, scored alike by pg_text.py). Written by the indexer in
the same transaction as the image's PARSE status."""

from __future__ import annotations

import math
import re
import unicodedata

from sqlalchemy import Connection, delete, select, text

from . import english_words, people, pg_text, vector_rows
from .schema import image_vectors, images

# Words that say nothing about a picture; dropped from lexical queries (the vector side still reads them).
# The verbs and pronouns of a question ("have I been to AEON", "where did we shop at AEON") too: no text
# holds them, so they only thinned how much of the query a receipt printed AEON holds (held_shares). Not
# "may", "will", "can" or "mine": a month, a name and things a picture's text may say.
STOPWORDS = frozenset(
    "a an the and or of to in on at by for with from into onto over under near is are was were be been "
    "being this that these those it its his her their our your my some any all each every no not there "
    "here very just than then as up down out off who whom which what when where while how why photo picture "
    "image shot showing shows show do does did done have has had could would should you she him they them "
    "we ours me buy bought".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
_ACRONYM = re.compile(r"(?<!\w)(?:\w\.){2,}\w?", re.UNICODE)
# A class name is text evidence only when the classifier gives it this much. Its softmax is flat: on the
# dev photos the median top class has 0.07 and the median 5th 0.015, and a real leopard is "leopard" at
# 0.032 behind "cheetah". A 1.9 % "Christmas stocking" on a STOP sign made "Christmas" find that sign with
# a confident score. The vector side still weighs every class by its probability.
LABEL_MIN_PROBABILITY = 0.03


def confident_labels(labels: list) -> str:  # noqa: ANN001  ([name, probability] pairs)
    return " ".join(name for name, p in labels if p >= LABEL_MIN_PROBABILITY)


def write(conn: Connection, row, facts, tags: list[str]) -> None:  # noqa: ANN001
    conn.execute(delete(image_vectors).where(image_vectors.c.image_id == row.id))
    conn.execute(
        image_vectors.insert(),
        [dict(image_id=row.id, space=space, model=facts.model, **vector_rows.stored(conn, vec))
         for space, vec in facts.vectors.items()],
    )
    conn.execute(text("DELETE FROM image_fts WHERE rowid = :id"), {"id": row.id})
    conn.execute(text("DELETE FROM image_ocr_trigrams WHERE rowid = :id"), {"id": row.id})
    conn.execute(
        text("INSERT INTO image_fts(rowid, ocr, tags, labels, place, camera, name) VALUES (:id, :ocr, :tags, :labels, :place, :camera, :name)"),
        dict(
            id=row.id,
            ocr="",  # write_text adds it
            tags=tag_text(tags, people.names_in(conn, [row.id])[row.id]),
            labels=fold(facts.label_words()),
            place=fold(facts.place or ""),
            camera=fold(row.camera_model or facts.exif.camera_model or ""),
            name=fold(row.name.rsplit(".", 1)[0].replace("_", " ").replace("-", " ")),
        ),
    )


def tag_text(tags: list[str], names: list[str]) -> str:
    """The `tags` text of a photo or clip: the names of the people in it are words its owner gave it, as its
    tags are, and weigh the same."""
    return fold(" ".join([*tags, *names]))


def write_names(conn: Connection, tags: dict[int, list[str]]) -> None:
    """The people's names in these images' full-text rows again (image id -> its tags), after a person is
    named, merged or loses a face."""
    names = people.names_in(conn, list(tags))
    for i, given in tags.items():
        conn.execute(text("UPDATE image_fts SET tags = :tags WHERE rowid = :id"),
                     {"id": i, "tags": tag_text(given, names[i])})


def write_text(conn: Connection, image_id: int, lines: list[str], unglued: list[str]) -> None:
    """The text read in an image (the image.ocr job), into its full-text row and the trigram index; `unglued`:
    words that OCR wrote without spaces between them, split apart (index/glued_words.py), indexed beside it."""
    conn.execute(text("DELETE FROM image_ocr_trigrams WHERE rowid = :id"), {"id": image_id})
    if lines:
        conn.execute(text("INSERT INTO image_ocr_trigrams(rowid, ocr) VALUES (:id, :ocr)"),
                     {"id": image_id, "ocr": "\n".join(lines)})
    read = "\n".join(lines)
    conn.execute(text("UPDATE image_fts SET ocr = :ocr WHERE rowid = :id"),
                 {"id": image_id, "ocr": searchable_text(read, read, unglued)})


def searchable_text(words: str, read: str, unglued: list[str]) -> str:
    """What the full-text index holds for `words` that include text read in a picture (`read`): beside them,
    its dotted initials written whole, its neighbouring words written together, and the words OCR glued
    together, split apart."""
    return fold(" ".join([words, *acronyms(read), *joined(read), *unglued]))


def remove(conn: Connection, image_ids: list[int]) -> None:
    conn.execute(delete(image_vectors).where(image_vectors.c.image_id.in_(image_ids)))
    for i in image_ids:
        conn.execute(text("DELETE FROM image_fts WHERE rowid = :id"), {"id": i})
        conn.execute(text("DELETE FROM image_ocr_trigrams WHERE rowid = :id"), {"id": i})


def fold(text_: str) -> str:
    """Accents off ("Café" -> "Cafe"), as SQLite's tokenizer does by itself; PostgreSQL's `english`
    configuration keeps them, so both databases are given folded text and folded queries."""
    decomposed = unicodedata.normalize("NFKD", text_)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def acronyms(text_: str) -> list[str]:
    """Dotted initials written whole: "MR D.I.Y." -> ["DIY"]. The tokenizers cut them into letters that
    match anything, so the OCR text is indexed with these beside it and queries look for them too."""
    return [a.replace(".", "") for a in _ACRONYM.findall(text_)]


# Neighbouring words written together: people type a name as its brand spells it ("Speedmart", "7eleven")
# where the print spaces it ("99 SPEED MART"), and the word index finds only whole words. Up to three words,
# so that the number before a name joins it too; a join shorter than MIN_JOINED ("ab cd") is nobody's spelling.
MAX_JOINED_WORDS = 3
MIN_JOINED = 5


def joined(text_: str) -> list[str]:
    """Runs of two or three neighbouring words of a line, written as one: "99 SPEED MART" -> 99speed,
    speedmart, 99speedmart. Dotted initials count as one word ("MR D.I.Y." -> mrdiy); single letters, which
    OCR strews about, break a run."""
    found: dict[str, None] = {}
    for line in text_.lower().split("\n"):
        words = _WORD.findall(_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), line))
        for size in range(2, MAX_JOINED_WORDS + 1):
            for start in range(len(words) - size + 1):
                run = words[start : start + size]
                if all(len(w) >= 2 or w.isdigit() for w in run) and len(word := "".join(run)) >= MIN_JOINED:
                    found[word] = None
    return list(found)


def query_terms(query: str) -> list[str]:
    """Distinct words of 3+ characters that carry meaning (trigram matching needs 3), and dotted initials."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(fold(query.lower())) + [a for a in acronyms(fold(query.lower())) if len(a) >= 3]:
        if len(w) >= 3 and w not in STOPWORDS:
            seen[w] = None
    return list(seen)


# bm25 column weights: ocr, tags, labels, place, camera, name
_WEIGHTS = "bm25(image_fts, 1.0, 3.0, 1.0, 2.0, 2.0, 1.5)"
COLUMNS = ("ocr", "tags", "labels", "place", "camera", "name")
MIN_TRIGRAM_TERM = 4  # shorter words match inside too many unrelated OCR strings
TRIGRAM_WEIGHT = 0.5
SHORT_PHRASE_TRIGRAMS = 4  # a phrase with fewer letter trigrams (under 6 letters) must be found whole
HOLDS = 0.8  # a field with this share of a word's letter trigrams holds it, a misread letter aside
# A query word weighs its rarity in English (english_words.py) to this power, beside its rarity among the
# rows: "shop" 0.29 -> 0.025, "aeon" 0.5 -> 0.12, an unknown name 1. The rows alone cannot tell a generic word
# from a name: among the dev gallery's receipts "shop" is printed on two and UNIHAKKA on five, so "UNIHAKKA
# shop" made a receipt printed SHOP hold most of it. Over the 29 dev shop words (in-process, the first hit a
# receipt of that shop), "X shop" / "shop at X" / "where did we shop at X" / "X store" put it first for 14 /
# 18 / 15 / 2 without, 23 / 21 / 20 / 8 at the power 1, 26 / 28 / 27 / 12 at 2 and 28 / 28 / 28 / 20 at 3;
# "receipt from X" 28 throughout.
RARITY_POWER = 3


def _match(terms: list[str]) -> str:
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def compact(text_: str) -> str:
    """Lower case, letters and digits only: "Taman Daya" and OCR's "TAMANDAYA" compare equal."""
    return "".join(ch for ch in text_.lower() if ch.isalnum())


def trigrams(text_: str) -> set[str]:
    return {text_[i : i + 3] for i in range(len(text_) - 2)}


def coverage(wanted: set[str], text_: str) -> float:
    """Share of the phrase's letter trigrams (`wanted`) found in the text, spaces and punctuation aside:
    1.0 when the whole phrase is there, still high when OCR misread a letter or two. A short word ("AEON",
    "Shell", "D.I.Y.") counts only whole: half of its two or three trigrams are in much unrelated text."""
    return _held(wanted, trigrams(compact(text_)))


def _held(wanted: set[str], have: set[str]) -> float:
    if not wanted:
        return 0.0
    share = len(wanted & have) / len(wanted)
    return share if len(wanted) >= SHORT_PHRASE_TRIGRAMS else float(share == 1.0)


def held_shares(terms: list[str], fields: dict[int, list[str]]) -> dict[int, float]:
    """How much of the query one field of each row holds: each word's share of its letter trigrams found in the
    field (`coverage`, spaces aside), the words weighted by how rare they are among these rows (BM25's idf over
    them) and in English (RARITY_POWER). Weighed alike, as the trigrams of the whole query were, the common word
    "receipt" made every receipt printed RECEIPT hold most of "CASTLE receipt", above the receipt printed CASTLE. A
    word no row holds tells them nothing apart and weighs as the others do on average: as the rarest, which idf
    makes it, it swamped the shop's name of "receipt from ZHENG" in a small library, and a photo that only looked
    like something outranked the receipt printed ZHENG; as nothing, any field that held the other words held the
    whole query (dev split: unrelated queries let 0.55 hits through at `medium` instead of 0.05, COCO captions R@1
    0.625 -> 0.388)."""
    kept = [(word, g) for word in map(compact, terms) if (g := trigrams(word))]
    if not kept:
        return {}
    wanted = [g for _, g in kept]
    covers = {i: [[_held(g, have) for g in wanted] for have in (trigrams(compact(v)) for v in values if v)]
              for i, values in fields.items()}
    rows_holding = [sum(any(c[k] >= HOLDS for c in cs) for cs in covers.values()) for k in range(len(wanted))]
    idf = {k: math.log((len(fields) + 1) / (n + 0.5)) for k, n in enumerate(rows_holding) if n}
    usual = sum(idf.values()) / len(idf) if idf else 1.0
    weights = [idf.get(k, usual) * english_words.rarity(word) ** RARITY_POWER for k, (word, _) in enumerate(kept)]
    return {i: max((sum(w * c for w, c in zip(weights, cover)) / sum(weights) for cover in cs), default=0.0)
            for i, cs in covers.items()}


def lexical(conn: Connection, account_id: int, unique_id: str, terms: list[str], limit: int,
            phrase: str = "") -> list[tuple[int, float, str, float]]:
    """(image id, bm25 strength as a positive number, matched fields, phrase coverage) best first: bm25
    over words, plus half the bm25 of substring (trigram) matches in OCR text (text read without its
    spaces); the coverage says how much of the query one field holds, where `phrase` (the query) is given:
    a field of text somebody wrote or the picture shows by held_shares, the models' labels by the share of
    the whole query's letter trigrams they hold. Weighing the labels' words by rarity too measured no
    better on the dev split (`reverie eval`: COCO captions R@5 0.905 -> 0.895, Flickr8k R@10 0.919 -> 0.922),
    and the ranking model's weights for the labels were fitted on this measure."""
    if not terms:
        return []
    hits: dict[int, list] = {}
    long_terms = [t for t in terms if len(t) >= MIN_TRIGRAM_TERM]
    words, grams = (_sqlite_matches if conn.dialect.name == "sqlite" else _postgres_matches)(
        conn, account_id, unique_id, terms, long_terms, limit)
    stems = [t[:5] for t in terms]  # porter stems share a prefix with the word
    for r in words:
        matched = [c for c, value in zip(COLUMNS, r[2:]) if value and any(s in value.lower() for s in stems)]
        hits[r[0]] = [float(r[1]), matched]
    for image_id, score in grams:
        hit = hits.setdefault(image_id, [0.0, []])
        hit[0] += TRIGRAM_WEIGHT * float(score)
        if "ocr" not in hit[1]:
            hit[1].append("ocr")
    ranked = sorted(hits.items(), key=lambda kv: -kv[1][0])[:limit]
    cover: dict[int, float] = {}
    if phrase and ranked:
        ids = ",".join(str(int(i)) for i, _ in ranked)
        rows = conn.execute(text(f"SELECT rowid, {', '.join(COLUMNS)} FROM image_fts WHERE rowid IN ({ids})")).all()
        at = COLUMNS.index("labels")
        read = held_shares(terms, {row[0]: [v for k, v in enumerate(row[1:]) if k != at] for row in rows})
        wanted = trigrams(compact(phrase))
        cover = {row[0]: max(read.get(row[0], 0.0), coverage(wanted, row[1 + at]) if row[1 + at] else 0.0)
                 for row in rows}
    return [(i, score, ",".join(cols), cover.get(i, 0.0)) for i, (score, cols) in ranked]


def _sqlite_matches(conn: Connection, account_id: int, unique_id: str, terms: list[str], long_terms: list[str],
                    limit: int) -> tuple[list, list]:
    """(rows of (id, bm25, *COLUMNS) over words, rows of (id, bm25) over OCR substrings), through FTS5."""
    scope = "JOIN images ON images.id = {t}.rowid WHERE {t} MATCH :match AND images.account_id = :account AND images.unique_id = :ns"
    params = dict(account=account_id, ns=unique_id, limit=limit)
    words = conn.execute(text(
        f"SELECT image_fts.rowid, -{_WEIGHTS}, " + ", ".join(f"image_fts.{c}" for c in COLUMNS)
        + " FROM image_fts " + scope.format(t="image_fts") + f" ORDER BY {_WEIGHTS} LIMIT :limit"
    ), dict(params, match=_match(terms))).all()
    grams = conn.execute(text(
        "SELECT image_ocr_trigrams.rowid, -bm25(image_ocr_trigrams) FROM image_ocr_trigrams "
        + scope.format(t="image_ocr_trigrams") + " ORDER BY bm25(image_ocr_trigrams) LIMIT :limit"
    ), dict(params, match=_match(long_terms))).all() if long_terms else []
    return words, grams


def _postgres_matches(conn: Connection, account_id: int, unique_id: str, terms: list[str], long_terms: list[str],
                      limit: int) -> tuple[list, list]:
    """The same as _sqlite_matches, through tsvector and trigram indexes (store/pg_text.py)."""
    scope = "JOIN images ON images.id = f.rowid WHERE images.account_id = :account AND images.unique_id = :ns"
    params = dict(account=account_id, ns=unique_id)
    words = pg_text.bm25(conn, "image_fts", COLUMNS, scope, params, terms, limit)
    grams = pg_text.substring_bm25(conn, "image_ocr_trigrams", "ocr", scope, params, long_terms, limit) if long_terms else []
    return words, grams


def load_vectors(conn: Connection, space: str, after_seq: int):  # noqa: ANN201
    """Rows written since `after_seq`: (seq, image_id, account_id, unique_id, model, vector bytes)."""
    q = (
        select(image_vectors.c.seq, image_vectors.c.image_id, images.c.account_id, images.c.unique_id,
               image_vectors.c.model, image_vectors.c.vector)
        .join(images, images.c.id == image_vectors.c.image_id)
        .where(image_vectors.c.space == space, image_vectors.c.seq > after_seq)
        .order_by(image_vectors.c.seq)
    )
    return conn.execute(q).all()
