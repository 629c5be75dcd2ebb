"""Set the filtering levels of reverie/search/fusion.py (its KNOTS) on photos that `reverie eval` never
tests and the bridge never learnt: the training photos `reverie models train-bridge` held out (their names
are in the bridge file).

    .venv/bin/python bench/calibrate.py /tmp/calibration --model-dir .model-cache
        # indexes the held-out photos into that data folder (once), then prints KNOTS to paste into fusion.py

The ranking model (fusion.COEF, BIAS: a probability of "relevant" from a candidate's evidence) is selected on
the dev split by bench/fit_fusion.py, as any model is; what its probabilities mean is measured here. The
API keeps memories.ai's cut-offs (fusion.LEVELS: 0.15 / 0.225 / 0.4), so the probability is mapped onto them,
piecewise linearly, through the probability where each level should cut (KNOTS).

Queries over the 1,000 held-out Flickr8k photos, each photo labelled by its five human captions:
  captions   every caption; only its own photo is right (reported, not used for a cut)
  words      one word for a kind of thing ("dog", "bicycle", "beach"); right: every photo whose captions
             name it (or a word of its group: "puppy" for "dog")
  unrelated  sentences about things no held-out caption names (checked here); nothing is right

The knots, read off whole rankings (every photo scored):
  low     the highest cut that keeps >= RECALL_AT_LOW of the right photos of the word queries (NAMED_RECALL_AT_LOW)
  medium  the lowest cut that lets <= UNRELATED_AT_MEDIUM hits per unrelated query through
  high    the lowest cut above both where the word queries' kept hits are >= PRECISION_AT_HIGH right
A photo whose captions do not name what it shows counts as wrong, so the precision is a floor.

Queries that only name detector classes ("dog", "ball") are ranked with the detector's likelihood, which
spreads their logits far wider; they get a model and knots of their own (NAMED_MEANING, NAMED_KNOTS), fitted
the same way on the detector classes that >= 5 held-out photos' captions name (23: "dog", "sports ball";
`named_words`) and on 20 classes no held-out caption names ("giraffe"; checked here). Every other query
keeps MEANING and KNOTS, fitted on all queries scored without the likelihood, so what a sentence's score
means did not move when the detector's likelihood came.
Video clips share the model (their z is measured against ordinary pictures, see search/videos.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.evaluation import UNRELATED as EVAL_UNRELATED  # noqa: E402
from reverie.evaluation import _upload_and_wait, local_server  # noqa: E402
from reverie.models import Models  # noqa: E402
from reverie.models.bridge import Bridge  # noqa: E402
from reverie.models.coco import NAMES, OTHER_NAMES, plural  # noqa: E402
from reverie.search import fusion  # noqa: E402
from reverie.search.images import Searcher  # noqa: E402
from reverie.store import Store  # noqa: E402
from reverie.store.schema import images  # noqa: E402

from fit_fusion import candidates, fit  # noqa: E402  (bench/ is the script's folder, first on sys.path)

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "train" / "flickr8k"
NAMESPACE = "calibration"
CAPTION_TOP = 50  # a caption's candidates: whether its own photo is among them is all that is reported
RECALL_AT_LOW = 0.8  # the targets themselves (issue 20); 0.85 here kept 0.95 on the COCO dev labels
# For classes alone the held-out photos' right answers are mostly dogs, which the detector sees well; the COCO
# dev categories (forks, cups, handbags) are harder. With `low` at 0.80 here they kept 0.73 of their right
# photos, at 0.85 0.77, at 0.90 0.90, which lets ~11 % of the photos through for a class nobody
# photographed (other queries let ~7 % through at `low`; at `medium` both let 0.2 photos through).
NAMED_RECALL_AT_LOW = 0.9
# The target is 0.2, on any library. These photos are Flickr's people, dogs and streets; a library of
# objects and buildings holds look-alikes for more unrelated queries (bridge v5, which first read the
# detector's scene, levels set here at 0.2: "a lighthouse on a cliff in a storm" kept 12 pyramids, pagodas
# and minarets at `medium` among the dev split's Caltech images, 0.75 hits per unrelated query in all; at 0.1,
# 0.25), so `medium` lets half as many through here (bridge v6: 0.05 on the dev split).
UNRELATED_AT_MEDIUM = 0.1  # (several of these queries are near things the photos hold: "a cruise ship in port")
PRECISION_AT_HIGH = 0.85

# query -> the caption words that make a photo right; each names a kind of thing in >= 10 held-out photos
WORDS = {
    "dog": "dog dogs puppy puppies", "horse": "horse horses pony", "bird": "bird birds",
    "bicycle": "bicycle bicycles bike bikes cyclist biker", "motorcycle": "motorcycle motorcycles motorbike",
    "car": "car cars", "truck": "truck trucks", "boat": "boat boats canoe kayak", "ball": "ball balls",
    "frisbee": "frisbee", "skateboard": "skateboard skateboarder skateboarding", "surfboard": "surfboard surfer surfing",
    "bench": "bench benches", "backpack": "backpack backpacks", "hat": "hat hats cap", "helmet": "helmet helmets",
    "sunglasses": "sunglasses", "jacket": "jacket jackets coat", "dress": "dress dresses",
    "water": "water ocean lake river pool sea", "snow": "snow snowy", "grass": "grass grassy",
    "beach": "beach shore", "street": "street road sidewalk", "mountain": "mountain mountains",
    "rock": "rock rocks rocky", "crowd": "crowd", "building": "building buildings", "tree": "tree trees",
    "sand": "sand sandy", "fence": "fence", "toy": "toy toys", "stick": "stick", "guitar": "guitar",
    "table": "table", "baby": "baby", "swing": "swing", "bag": "bag", "wave": "wave waves", "playground": "playground",
    "person": "person people man men woman women boy boys girl girls child children kid kids baby toddler lady guy",
    "child": "child children kid kids boy boys girl girls baby toddler",
}
# (query, a word of it that no held-out caption may hold); none of these is among `reverie eval`'s
UNRELATED = [
    ("a plate of spaghetti", "spaghetti"), ("a laptop showing a spreadsheet", "spreadsheet"),
    ("a giraffe on the savanna", "giraffe"), ("a grand piano in an empty hall", "piano"),
    ("a pizza fresh from the oven", "pizza"), ("a gothic cathedral", "cathedral"),
    ("a scientist at a microscope", "microscope"), ("an elephant bathing in a river", "elephant"),
    ("a thunderstorm with lightning over a city", "lightning"), ("a vase of tulips", "tulips"),
    ("a shop receipt", "receipt"), ("a screenshot of a phone chat", "screenshot"),
    ("a computer keyboard close up", "keyboard"), ("an open refrigerator", "refrigerator"),
    ("a helicopter landing", "helicopter"), ("a cruise ship in port", "cruise"), ("a herd of zebras", "zebras"),
    ("a rocket launch", "rocket"), ("a spiral galaxy", "galaxy"), ("a bathroom sink", "bathroom"),
    ("a bowl of tomato soup", "soup"), ("a stack of pancakes", "pancakes"), ("a tractor ploughing", "tractor"),
    ("a hospital ward", "hospital"), ("an orchestra", "orchestra"), ("a glacier", "glacier"),
    ("a cactus in a pot", "cactus"), ("a ballet dancer on stage", "ballet"), ("a microwave oven", "microwave"),
    ("a newborn in a crib", "newborn"),
]
# Classes the detector knows that no held-out caption names (checked here), each a query of its own
NAMED_UNRELATED = [("giraffe", "giraffe"), ("pizza", "pizza"), ("elephant", "elephant"), ("zebra", "zebra"),
                   ("refrigerator", "refrigerator"), ("microwave", "microwave"), ("toaster", "toaster"),
                   ("laptop", "laptop"), ("keyboard", "keyboard"), ("broccoli", "broccoli"), ("toilet", "toilet"),
                   ("hair drier", "drier"), ("scissors", "scissors"), ("vase", "vase"), ("teddy bear", "teddy"),
                   ("toothbrush", "toothbrush"), ("sandwich", "sandwich"), ("donut", "donut"), ("oven", "oven"),
                   ("suitcase", "suitcase")]
_WORD = re.compile(r"[a-z]+")


def caption_words(captions: list[str]) -> set[str]:
    return {w for c in captions for w in _WORD.findall(c.lower())}


def named_words(held_out: list[str], captions: dict[str, list[str]], id_of: dict[str, int]) -> dict[str, set[int]]:
    """Detector classes as queries, each with the photos whose captions name it (its plural, or another
    name search reads as it: "bike"), where >= 5 photos do. Not "person": a man, a woman or a child is in
    most photos, and pooled, its right photos would set the cut for every class. Not "orange": the
    captions' oranges are colours."""
    said = {n: " " + " ".join(" ".join(_WORD.findall(c.lower())) for c in captions[n]) + " " for n in held_out}
    out = {}
    for name in NAMES.values():
        if name in ("person", "orange"):
            continue
        forms = {name, plural(name)} | {other for other, kind in OTHER_NAMES.items() if kind == name}
        right = {id_of[n] for n, text in said.items() if any(f" {f} " in text for f in forms)}
        if len(right) >= 5:
            out[name] = right
    return out


def indexed_library(data: Path, held_out: list[str], model_dir: Path) -> None:
    """Index the held-out photos into `data` through a real server, unless a previous run did."""
    store = Store.open(Settings(data=data, model_dir=model_dir))
    with store.db.read() as conn:
        have = conn.execute(images.select().where(images.c.unique_id == NAMESPACE, images.c.status == "PARSE")).all()
    store.db.dispose()
    if len(have) == len(held_out):
        return
    if have:
        raise SystemExit(f"{data} holds a part of the calibration library: remove the folder and run again")
    with local_server(data, {"model_dir": model_dir, "visual_model": "conse", "workers": 1}) as (url, key):
        http = httpx.Client(base_url=url + "/serve/api/v1", headers={"Authorization": key}, timeout=300)
        _upload_and_wait(http, [TRAIN / "images" / n for n in held_out], NAMESPACE)


@dataclass
class Ranked:
    """A query's candidates as search scores them, and what fusion.relevance reads of them."""
    kind: str
    candidates: list[fusion.Candidate]
    logits: np.ndarray
    best_cosine: float
    best_z: float
    right: np.ndarray  # per candidate

    def probability(self, meaning: dict[str, float]) -> np.ndarray:
        return fusion.relevance(self.logits, self.best_cosine, self.best_z, meaning)


def ranked(searcher: Searcher, account_id: int, kind: str, query: str, top: int, right: set[int],
           named: bool = False) -> Ranked:
    """Scored as search scores it; `named`: as a query that only names detector classes (with `detected`),
    otherwise as any other query (NAMED_MEANING and MEANING are fitted apart)."""
    cands = candidates(searcher, account_id, query, NAMESPACE, top, top, named)
    best = max(cands, key=lambda c: c.cosine)  # its z is the query's best_z: z = (cosine - mean) / std
    return Ranked(kind, cands, fusion.ranking_logit(np.stack([c.features() for c in cands])), best.cosine, best.z,
                  np.array([c.image_id in right for c in cands]))


def meaning(queries: list[Ranked]) -> dict[str, float]:
    """Fit fusion.MEANING: each kind of query weighs the same in all, each of its queries alike."""
    X, y, weight = [], [], []
    for kind in ("captions", "words", "unrelated"):
        mine = [q for q in queries if q.kind == kind]
        for q in mine:
            n = len(q.logits)
            X.append(np.column_stack([q.logits, np.full(n, q.best_cosine), np.full(n, q.best_z)]))
            y.append(q.right.astype(float))
            weight.append(np.full(n, 1.0 / (len(mine) * n)))
    X, y, weight = np.vstack(X), np.concatenate(y), np.concatenate(weight)
    w = fit(X, y, weight * len(y) / len({q.kind for q in queries}))
    assert w[0] > 0, "the ranking logit must count for relevance, or the order within a query would turn"
    return {name: round(float(v), 4) for name, v in zip(("logit", "best_cosine", "best_z", "bias"), w)}


def knots(words: list[tuple[np.ndarray, np.ndarray]], unrelated: list[np.ndarray], recall: float) -> dict[str, float]:
    """The fitted probability where each level cuts, from (scores, right) of every photo for each word query and scores for each unrelated one."""
    right = np.concatenate([s[r] for s, r in words])
    kept_scores = np.concatenate([s for s, _ in words])
    kept_right = np.concatenate([r for _, r in words])
    noise = np.sort(np.concatenate(unrelated))[::-1]
    low = float(np.quantile(right, 1 - recall))
    allowed = int(UNRELATED_AT_MEDIUM * len(unrelated))  # hits all unrelated queries may let through together
    medium = float(noise[allowed]) + 1e-4 if allowed < len(noise) else 0.0
    high = max(medium, low)
    for cut in np.unique(np.round(kept_scores[kept_scores >= medium], 4)):
        high = float(cut)
        if kept_right[kept_scores >= cut].mean() >= PRECISION_AT_HIGH:
            break
    low = max(low, 1e-4)  # the knots must rise strictly from 0
    medium = max(medium, low + 1e-4)
    return {"low": round(low, 6), "medium": round(medium, 6), "high": round(max(high, medium + 1e-4), 6)}


def report(name: str, cuts: dict[str, float], words, unrelated, captions) -> None:  # noqa: ANN001
    for level, cut in cuts.items():
        kept = sum(((s >= cut) & r).sum() for s, r in words)
        total = sum(r.sum() for _, r in words)
        shown = sum((s >= cut).sum() for s, _ in words)
        own = f"; captions keep {np.mean([s >= cut for s in captions]):.2f} of their photo" if captions else ""
        print(f"{name} {level:>6} >= {cut:.3f}: words keep {kept / total:.2f} of right photos at precision "
              f"{kept / max(1, shown):.2f}; {sum((s >= cut).sum() for s in unrelated) / len(unrelated):.2f} hits per "
              f"unrelated query{own}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="data folder for the calibration library (made on the first run)")
    ap.add_argument("--model-dir", type=Path, default=Path(".model-cache"))
    args = ap.parse_args()
    captions: dict[str, list[str]] = json.loads((TRAIN / "captions.json").read_text())
    held_out = list(Bridge.load().held_out)
    said = {n: caption_words(captions[n]) for n in held_out}
    clash = [q for q, w in UNRELATED + NAMED_UNRELATED if any(w in ws for ws in said.values())]
    assert not clash and not {q for q, _ in UNRELATED} & set(EVAL_UNRELATED), clash
    indexed_library(args.data, held_out, args.model_dir)

    store = Store.open(Settings(data=args.data, model_dir=args.model_dir))
    searcher = Searcher.create(store, Models(store.settings))
    with store.db.read() as conn:
        rows = conn.execute(images.select().where(images.c.unique_id == NAMESPACE)).all()
    account_id, id_of = rows[0].account_id, {r.name: r.id for r in rows}
    everything = len(rows)
    queries = [("captions", c, {id_of[n]}) for n in held_out for c in captions[n]]
    queries += [("words", q, {id_of[n] for n in held_out if said[n] & set(group.split())}) for q, group in WORDS.items()]
    queries += [("unrelated", q, set()) for q, _ in UNRELATED]
    plain = [ranked(searcher, account_id, kind, q, CAPTION_TOP if kind == "captions" else everything, right)
             for kind, q, right in queries]
    # Each detector class that >= 5 held-out photos' captions name, as its query ("dog", "sports ball"),
    # scored with the detector's likelihood, and classes no held-out caption names ("giraffe")
    named = [ranked(searcher, account_id, "words", q, everything, right, named=True)
             for q, right in named_words(held_out, captions, id_of).items()]
    named += [ranked(searcher, account_id, "unrelated", q, everything, set(), named=True) for q, _ in NAMED_UNRELATED]
    print(f"{len(held_out)} held-out photos; {sum(q.kind == 'captions' for q in plain)} captions, {len(WORDS)} words, "
          f"{len(UNRELATED)} unrelated queries; {len(named) - len(NAMED_UNRELATED)} detector classes and "
          f"{len(NAMED_UNRELATED)} absent ones as queries")
    calibrate("MEANING", plain, (fusion.MEANING, fusion.KNOTS), RECALL_AT_LOW)
    calibrate("NAMED_MEANING", named, (fusion.NAMED_MEANING, fusion.NAMED_KNOTS), NAMED_RECALL_AT_LOW)


def calibrate(name: str, queries: list[Ranked], shipped: tuple[dict, dict], recall: float) -> None:
    """Fit one relevance model and its knots on `queries`, and print them beside what the shipped ones keep."""
    def split(scores: list[np.ndarray]) -> tuple[list, list, list]:
        """(words: (scores, right), unrelated: scores, captions: the own photo's score) for report/knots."""
        words = [(s, q.right) for q, s in zip(queries, scores) if q.kind == "words"]
        unrelated = [s for q, s in zip(queries, scores) if q.kind == "unrelated"]
        own = [s[q.right].max(initial=0.0) for q, s in zip(queries, scores) if q.kind == "captions"]
        return words, unrelated, own

    print(f"{name}:")
    report("shipped", shipped[1], *split([q.probability(shipped[0]) for q in queries]))
    fitted_meaning = meaning(queries)
    probabilities = split([q.probability(fitted_meaning) for q in queries])
    fitted = knots(probabilities[0], probabilities[1], recall)
    report("new    ", fitted, *probabilities)  # cutting the probability at the knots = the mapped score at LEVELS
    for recall in (0.7, 0.75, 0.8, 0.85, 0.9):
        cut = float(np.quantile(np.concatenate([s[r] for s, r in probabilities[0]]), 1 - recall))
        print(f"  a low keeping {recall:.2f} of the words' right photos cuts at {cut:.5f}: "
              f"{sum((s >= cut).sum() for s in probabilities[1]) / len(probabilities[1]):.1f} hits per unrelated query")
    print(f"{name} = " + json.dumps(fitted_meaning))
    print(f"{name.replace('MEANING', 'KNOTS')} = " + json.dumps(fitted))


if __name__ == "__main__":
    main()
