"""One calibrated score from every signal: the visual similarity and the lexical match.

Two models, fitted on different data. The ranking model is a logistic model of "this hit is relevant"
over six features of a candidate, selected on the dev split of ../shared/eval among each query's top
candidates (bench/fit_fusion.py prints the fit); it orders a query's hits:

    cosine    the visual similarity to the query
    z         how far that similarity stands out from the rest of the namespace (per-query z-score),
              times the share of the query that no text holds: neither this hit's (1 - phrase) nor, where
              one holds half of it or more, any other hit's (EXPLAINS)
    gap       cosine minus the best cosine of this query (0 for the visual winner), times the same
    lexical   log(1 + bm25) of the full-text match over OCR text, tags, labels, place, camera, file name
    share     the lexical strength relative to this query's best lexical hit (1 for the lexical winner)
    phrase    how much of the query, spaces aside, one text field holds (letter-trigram coverage; in text
              somebody wrote or the picture shows, each word weighed by its rarity: store/search_index.py)
              These three weigh apart by what the words matched: text somebody wrote or the picture shows
              (OCR, tags, people's names, place, camera, file name, speech), or only the words the models
              gave it (labels; `seen_*`, weighed as below).
    detected  for a query that only names COCO classes ("dog", "two bicycles"), the detector's likelihood
              of them in the photo (models/detector.py); 0 for any other query

What a score means across queries is measured apart, on 1,000 training photos the bridge never saw and no
eval tests (bench/calibrate.py): `relevance` reads the ranking logit beside two things about the query
(how similar its best photo is, how far that stands out), so a query whose best match is weak scores low
throughout, and the order within a query stays (a query that only names detector classes has a model
and knots of its own). The probability is then put on memories.ai's fixed cut-offs (LEVELS) through
KNOTS: `low` keeps most photos of what a query names, `medium` lets almost nothing through for a query
about something absent, `high` keeps mostly right answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# No query the ranking model is fitted on names only classes, so the weight of `detected` is chosen apart,
# on the COCO dev category queries (bench/fit_fusion.py --detected): mAP 0.661 without, 0.77 at 32, 0.796
# at 64, 0.807 at 96, 0.808 at 128. A likelihood of 1 is worth ~16 units of cosine: the detector is sure
# of a kind where the picture vector is only a little closer.
DETECTED = 96.0
# The ranking model, fitted by bench/fit_fusion.py on the dev split (photos and clips together, unrelated
# queries weighing 20 times more; the script says why). Only the weights of words found in text somebody
# wrote or the picture shows, and the bias, are fitted now; the rest (FIRST_FIT) keep the fit of 2026-12-03
# (6ff09aa). Fitted again there with one weight for all words, the lexical weight went -0.15 -> +0.87 and cost
# Flickr8k dev R@10 0.918 -> 0.908, where only the models' labels give photos words: the dev split's COCO
# photos are the detector's own training data, where its words are right far more often than elsewhere. Even
# as first fitted, the labels' weights cost Flickr8k's R@10 0.926 -> 0.920 and give COCO's captions 0.910 ->
# 0.953 (2026-12-07; README.md). The similarity's weights, fitted again beside the split words, gained nothing
# out of fold (COCO caption R@1 0.618 -> 0.616) and cost text->clip R@5 0.920 -> 0.905.
FIRST_FIT = {"cosine": 6.088, "z": 0.616, "gap": 20.25, "seen_lexical": -0.151, "seen_share": 1.351, "seen_phrase": 4.821}
COEF = {**FIRST_FIT, "lexical": 0.038, "share": 1.242, "phrase": 7.064, "detected": DETECTED}
BIAS = -6.854
# A text that holds this much of the query (letter trigrams) holds it: a clip whose speech or screen text does
# is matched "said" and ranks above every clip (and, in ALL, photo) whose words do not (search/videos.py), and
# a query some picture's own text holds is scored by the ranking model (fuse). A misheard or misread word still
# leaves 0.8 ("contracted to thy own bright eyes" for "... thine own ...": 0.82).
HELD = 0.8
# A read text that holds this much of the query (phrase) explains that much of it for every hit: what a photo
# looks like then counts only for the rest. In "where did we shop at SHELL" the receipt printed Shell holds
# 0.72 (the shop's name weighs most, being rarest), and photos of shops that only looked like "shop" came
# first: over the dev gallery's 25 shop words (in-process, the first hit a receipt of that shop) 3 of 25 for
# that question, 6 for "shop at X", 3 for "X shop"; with it 14, 16 and 13, the word alone and "receipt from X"
# 24 and 22 as before (the three questions 28 of 29 companies' words each since words weigh their rarity in
# English too: store/search_index.py, RARITY_POWER). Among hits that no text holds the order stays (cosine, z
# and gap all grow with the similarity). From any held share instead of half, COCO's captions moved R@1 0.638
# -> 0.645 but Flickr8k's 0.564 -> 0.562, where a sign read in one photo ("table", "people") lowered the visual
# evidence of every other; at 0.5, 0.640 and 0.564 (a throwaway probe through bench/fit_fusion.py's
# candidates). Not for a query that only names detector classes, whose likelihoods rank (COCO category mAP
# 0.805 -> 0.803 if it did).
EXPLAINS = 0.5
# Columns whose words are only what the models saw: a photo's labels (classifier and detector), and a clip's
# words, whose text on screen and speech count apart ("said") when they hold the query.
MODEL_WORDS = {"labels", "words"}

VISUAL_MATCH_Z = 1.5  # a similarity this far above the namespace's usual counts as a visual match
# BM25 below this means the words are in half the namespace or more (idf clamped to 1e-6): they tell
# nothing, and the ratio of two such scores is only the documents' lengths, which SQLite and PostgreSQL
# measure differently (a migrated library ranked two clips of one video apart by it).
NEGLIGIBLE_LEXICAL = 1e-3

LEVELS = {"low": 0.15, "medium": 0.225, "high": 0.4}  # memories.ai's cut-offs, which clients know
# Set by bench/calibrate.py on the held-out training photos (see its output): the probability of "right"
# from the ranking logit and the query's best match, and the probability each level cuts at. There, `low`
# keeps 0.80 of the photos whose captions name a word query's thing ("dog"), `medium` lets 0.1 hits through
# per query about something absent (bench/calibrate.py says why not 0.2), and `high` keeps hits that are right
# 0.85 of the time.
MEANING = {"logit": 0.221, "best_cosine": 8.1668, "best_z": -0.8195, "bias": -2.076}
KNOTS = {"low": 0.014632, "medium": 0.305668, "high": 0.3822}
# The same for a query that only names detector classes, measured on such queries alone (23 classes the
# held-out captions name, 20 they do not): `detected` spreads its logits ~10 times wider, and one model for
# both squeezed every sentence's scores (captions kept 0.66 of their photo at `low` instead of 0.89). Its
# `low` keeps 0.90 of the right photos there (bench/calibrate.py says why not 0.80).
NAMED_MEANING = {"logit": 0.0758, "best_cosine": 13.9832, "best_z": -1.7791, "bias": -4.5144}
NAMED_KNOTS = {"low": 0.008083, "medium": 0.436895, "high": 0.7192}


@dataclass
class Candidate:
    image_id: int
    cosine: float = 0.0
    z: float = 0.0
    gap: float = 0.0
    lexical: float = 0.0
    share: float = 0.0
    phrase: float = 0.0
    detected: float = 0.0
    read: bool = False  # the words matched text somebody wrote or the picture shows, not only MODEL_WORDS
    explained: float = 0.0  # how much of the query the read text of some hit holds, from EXPLAINS up; else 0
    matched: list[str] = field(default_factory=list)
    score: float = 0.0
    rank: float = 0.0  # the ranking model's own probability: how this hit compares with others of its query

    def features(self) -> np.ndarray:
        # The visual evidence (z, gap) counts only for the part of the query that no text field holds: a
        # receipt found by the company name printed on it must not rank by how much it looks like those
        # words. Unweighted, that noise decided between receipts of one shop: `reverie eval`'s OCR hit@1
        # went from 0.925 to 0.775 when only the resize filter changed; weighted, it is 0.925 with either.
        unheld = 1.0 - max(self.phrase, self.explained)
        words = np.array([np.log1p(self.lexical), self.share, self.phrase])
        read, seen = (words, 0 * words) if self.read else (0 * words, words)
        return np.concatenate([[self.cosine, self.z * unheld, self.gap * unheld], read, seen, [self.detected]])


FEATURES = ("cosine", "z", "gap", "lexical", "share", "phrase", "seen_lexical", "seen_share", "seen_phrase", "detected")


def ranking_logit(features: np.ndarray, coef: dict[str, float] = COEF, bias: float = BIAS) -> np.ndarray:
    """The ranking model's logit of "relevant" for each candidate (rows of Candidate.features())."""
    return features @ np.array([coef[name] for name in FEATURES]) + bias


def relevance(logit: np.ndarray, best_cosine: float, best_z: float, meaning: dict[str, float] = MEANING) -> np.ndarray:
    """The probability that a candidate is right, from its ranking logit and two things about its query (how
    similar its best candidate is, and how far that stands out): the same for every candidate of a query,
    so the ranking model's order within a query stays."""
    x = (meaning["logit"] * logit + meaning["best_cosine"] * best_cosine + meaning["best_z"] * best_z
         + meaning["bias"])
    return 1.0 / (1.0 + np.exp(-x))


def on_levels(p: np.ndarray, knots: dict[str, float] = KNOTS) -> np.ndarray:
    """Probabilities mapped piecewise linearly, keeping their order, so that each level's knot lands on its
    cut in LEVELS: the API's cut-offs are fixed, the probabilities they should stand for are measured."""
    return np.interp(p, [0.0, *(knots[k] for k in LEVELS), 1.0], [0.0, *LEVELS.values(), 1.0])


def fuse(
    visual_ids: np.ndarray,
    visual_sims: np.ndarray,
    mean: float,
    std: float,
    lexical: list[tuple[int, float, str, float]],
    cosine_of,  # noqa: ANN001  (image id -> cosine, for lexical hits outside the visual top list)
    detected: dict[int, float] | None = None,  # image id -> likelihood of the classes the query names
    coef: dict[str, float] = COEF,
    bias: float = BIAS,
) -> list[Candidate]:
    by_id: dict[int, Candidate] = {}
    for i, s in zip(visual_ids.tolist(), visual_sims.tolist()):
        by_id[i] = Candidate(i, cosine=s)
    for i, score, columns, phrase in lexical:
        c = by_id.get(i)
        if c is None:
            cos = cosine_of(i)
            c = by_id[i] = Candidate(i, cosine=cos if cos is not None else mean, matched=[])
        c.lexical = score
        c.phrase = phrase
        found_in = [m for m in columns.split(",") if m]
        c.read = bool(set(found_in) - MODEL_WORDS)
        c.matched += found_in
    best_cosine = max((c.cosine for c in by_id.values()), default=0.0)
    best_lexical = max((c.lexical for c in by_id.values()), default=0.0)
    explained = max((c.phrase for c in by_id.values() if c.read), default=0.0) if detected is None else 0.0
    if explained < EXPLAINS:
        explained = 0.0
    for c in by_id.values():
        c.z = (c.cosine - mean) / std if std > 0 else 0.0
        c.gap = c.cosine - best_cosine
        c.share = c.lexical / best_lexical if best_lexical > NEGLIGIBLE_LEXICAL else 0.0
        c.detected = detected.get(c.image_id, 0.0) if detected else 0.0
        c.explained = explained
        if c.z >= VISUAL_MATCH_Z:
            c.matched.insert(0, "visual")
    if by_id:
        logits = ranking_logit(np.stack([c.features() for c in by_id.values()]), coef, bias)
        meaning, knots = (NAMED_MEANING, NAMED_KNOTS) if detected is not None else (MEANING, KNOTS)
        ranks = 1.0 / (1.0 + np.exp(-logits))
        p = relevance(logits, best_cosine, (best_cosine - mean) / std if std > 0 else 0.0, meaning)
        if detected is None and any(c.read and c.phrase >= HELD for c in by_id.values()):
            # The held-out photos that set MEANING hold no text, so it cannot tell how sure a hit is that the
            # text a picture shows holds the query: it scored a receipt printed with the very name 0.16, under
            # `medium`. The ranking model was fitted where such hits are (the dev split's receipts: at >= 0.4,
            # 41 of 45 right, and no unrelated query's hit); for such a query its probability counts where
            # higher, for every hit alike, so the order stays. Not for a query that only names detector
            # classes: a receipt's "DOREMON CAT" snack lifted every photo the detector took for a cat (`reverie
            # eval`'s animal queries kept 51 wrong photos at `medium` instead of 33).
            p = np.maximum(p, ranks)
        scores = on_levels(p, knots)
        for c, s, r in zip(by_id.values(), scores, ranks):
            c.score, c.rank = float(s), float(r)
    return sorted(by_id.values(), key=lambda c: -c.score)
