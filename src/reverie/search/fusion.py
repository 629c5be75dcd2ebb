"""One calibrated score from every signal: the visual similarity and the lexical match.

The score is a logistic model of "this hit is relevant" over six features of a candidate, fitted on the
dev split of ../shared/eval among each query's top candidates (bench/calibrate.py prints the fit):

    cosine    the visual similarity to the query
    z         how far that similarity stands out from the rest of the namespace (per-query z-score),
              times the share of the query that no text field holds (1 - phrase)
    gap       cosine minus the best cosine of this query (0 for the visual winner), times the same
    lexical   log(1 + bm25) of the full-text match over OCR text, tags, labels, place, camera, file name
    share     the lexical strength relative to this query's best lexical hit (1 for the lexical winner)
    phrase    how much of the whole query, spaces aside, one text field holds (letter-trigram coverage)

So a score means about the same for every query: `filtering_level` high (>= 0.4) keeps mostly right
answers, and a query that matches nothing in particular stays under low (0.15).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Fitted by bench/calibrate.py on the dev split; see its output for the data and the fit's quality.
COEF = {"cosine": 6.088, "z": 0.616, "gap": 20.25, "lexical": -0.151, "share": 1.351, "phrase": 4.821}
BIAS = -6.596
# Photos and video clips share the model, fitted on both (clips' z is measured against ordinary pictures,
# see search/videos.py), so a score means the same for a photo and a clip and `ALL` ranks both in one list.
# Unrelated queries weigh 20 times more in the fit (bench/calibrate.py says why). On the dev split's
# candidates it keeps precision 0.43 / 0.51 / 0.60 at low / medium / high for photos with recall 0.59 /
# 0.50 / 0.29 (0.6 / 0.2 / 0.1 hits per unrelated query), and 0.49 / 0.52 / 0.57 for clips (0.4 / 0.2 / 0.1),
# counting only a caption's own photo as right.

VISUAL_MATCH_Z = 1.5  # a similarity this far above the namespace's usual counts as a visual match
# BM25 below this means the words are in half the namespace or more (idf clamped to 1e-6): they tell
# nothing, and the ratio of two such scores is only the documents' lengths, which SQLite and PostgreSQL
# measure differently (a migrated library ranked two clips of one video apart by it).
NEGLIGIBLE_LEXICAL = 1e-3

LEVELS = {"low": 0.15, "medium": 0.225, "high": 0.4}


@dataclass
class Candidate:
    image_id: int
    cosine: float = 0.0
    z: float = 0.0
    gap: float = 0.0
    lexical: float = 0.0
    share: float = 0.0
    phrase: float = 0.0
    matched: list[str] = field(default_factory=list)
    score: float = 0.0

    def features(self) -> np.ndarray:
        # The visual evidence (z, gap) counts only for the part of the query that no text field holds: a
        # receipt found by the company name printed on it must not rank by how much it looks like those
        # words. Unweighted, that noise decided between receipts of one shop: `reverie eval`'s OCR hit@1
        # went from 0.925 to 0.775 when only the resize filter changed; weighted, it is 0.925 with either.
        unheld = 1.0 - self.phrase
        return np.array([self.cosine, self.z * unheld, self.gap * unheld, np.log1p(self.lexical), self.share,
                         self.phrase])


FEATURES = ("cosine", "z", "gap", "lexical", "share", "phrase")


def calibrated(features: np.ndarray, coef: dict[str, float] = COEF, bias: float = BIAS) -> np.ndarray:
    w = np.array([coef[name] for name in FEATURES])
    return 1.0 / (1.0 + np.exp(-(features @ w + bias)))


def fuse(
    visual_ids: np.ndarray,
    visual_sims: np.ndarray,
    mean: float,
    std: float,
    lexical: list[tuple[int, float, str, float]],
    cosine_of,  # noqa: ANN001  (image id -> cosine, for lexical hits outside the visual top list)
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
        c.matched += [m for m in columns.split(",") if m]
    best_cosine = max((c.cosine for c in by_id.values()), default=0.0)
    best_lexical = max((c.lexical for c in by_id.values()), default=0.0)
    for c in by_id.values():
        c.z = (c.cosine - mean) / std if std > 0 else 0.0
        c.gap = c.cosine - best_cosine
        c.share = c.lexical / best_lexical if best_lexical > NEGLIGIBLE_LEXICAL else 0.0
        if c.z >= VISUAL_MATCH_Z:
            c.matched.insert(0, "visual")
    if by_id:
        scores = calibrated(np.stack([c.features() for c in by_id.values()]), coef, bias)
        for c, s in zip(by_id.values(), scores):
            c.score = float(s)
    return sorted(by_id.values(), key=lambda c: -c.score)
