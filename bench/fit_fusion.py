"""Fit the ranking model of reverie/search/fusion.py (COEF, BIAS) on the dev split, and show how well it fits;
the filtering levels (KNOTS) are set apart from it, on held-out training photos, by bench/calibrate.py.

    .venv/bin/reverie eval --data /tmp/evaldata                  # indexes ../shared/eval (photos and videos)
    .venv/bin/python bench/fit_fusion.py /tmp/evaldata           # prints COEF and BIAS to paste into fusion.py
    .venv/bin/python bench/fit_fusion.py /tmp/evaldata --detected  # the sweep that sets fusion.DETECTED

Photos: for every query (COCO captions, receipt company names, unrelated queries) it takes the candidates
search considers (visual top 50 plus every lexical hit) and labels the right image 1 and the rest 0. A
caption's own photo and every receipt of the company count as right, so the fit is conservative for
generic queries. Clips: the same captions over the eval videos; a clip is right when it lies on the
caption's photo's shot. One logistic regression (Newton's method, small L2) over the features of
fusion.Candidate fits both, the clips weighing half as much as the photos in all, so that a score means
the same for a photo and a clip; the weights in fusion.FIRST_FIT stay as they are (fusion.py says why).
It prints what the fit keeps at each filtering level, for each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.evaluation import NAMESPACE, UNRELATED, Gallery, company_key  # noqa: E402
from reverie.models import Models  # noqa: E402
from reverie.search import fusion  # noqa: E402
from reverie.search.images import Searcher, detected  # noqa: E402
from reverie.store import Store, search_index  # noqa: E402
from reverie.store.schema import images  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
VISUAL_TOP = 50
CLIP_WEIGHT = 0.5  # the clips' examples together weigh this much of the photos'
# Candidates of unrelated queries weigh this many times more: a fit that weighs them like the rest let 0.8
# hits per unrelated query through at `medium` once the bridge made every photo a little similar to every
# sentence (with 5: 0.6; with 20: 0.2, and recall at `low` 0.59 instead of 0.70).
UNRELATED_WEIGHT = 20
IDENTITY = {"logit": 1.0, "best_cosine": 0.0, "best_z": 0.0, "bias": 0.0}


def candidates(searcher: Searcher, account_id: int, query: str, namespace: str = NAMESPACE, top: int = VISUAL_TOP,
               lexical_top: int = 300, named: bool = True) -> list[fusion.Candidate]:
    """A query's candidates as search scores them: the visual top `top` and the lexical top `lexical_top`.
    `named=False` scores a query that only names detector classes as any other (bench/calibrate.py)."""
    qvec = searcher.models.visual.embed_text([query])[0]
    ids, sims, mean, std = searcher.visual.search(qvec, account_id, namespace, top)
    with searcher.store.db.read() as conn:
        lexical = search_index.lexical(conn, account_id, namespace, search_index.query_terms(query), lexical_top,
                                       phrase=query)
    cos = lambda i: (lambda v: None if v is None else float(v @ qvec))(searcher.visual.vector_of(i))  # noqa: E731
    likely = detected(searcher.store, query, set(ids.tolist()) | {h[0] for h in lexical}, images) if named else None
    return fusion.fuse(ids, sims, mean, std, lexical, cos, likely)


def fit(X: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-2, iters: int = 50,
        offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Weights of X's columns and a bias; `offset` is each row's logit from the weights held (not fitted)."""
    X1 = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(X1.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X1 @ w + offset)))
        grad = X1.T @ (weight * (p - y)) + l2 * np.r_[w[:-1], 0]
        hess = (X1 * (weight * p * (1 - p))[:, None]).T @ X1 + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def clip_examples(store: Store) -> tuple[list, list, list, int]:
    """(features, labels, query index) over the eval videos' captions and the unrelated queries; a clip is
    right when it lies on the caption's photo's shot."""
    from reverie.evaluation import SHOT_S, VIDEO_NAMESPACE, video_plan
    from reverie.search.filters import Filters
    from reverie.search.videos import VideoSearcher
    from reverie.store.schema import videos

    searcher = VideoSearcher.create(store, Models(store.settings))
    gallery = Gallery.load(EVAL)
    plans = video_plan(gallery, EVAL)
    with store.db.read() as conn:
        rows = conn.execute(videos.select().where(videos.c.unique_id == VIDEO_NAMESPACE)).all()
    account_id = rows[0].account_id
    shot_of: dict[str, tuple[int, float]] = {}
    for r in rows:
        for i, (_, name) in enumerate(plans[int(r.name.removeprefix("eval-").removesuffix(".mp4"))]):
            if name is not None:
                shot_of[name] = (r.id, i * SHOT_S)
    queries = [(c, shot_of[name]) for name, caps in gallery.coco.items() for c in caps] + [(q, None) for q in UNRELATED]
    X, y, group = [], [], []
    for qi, (query, target) in enumerate(queries):
        ranked, clip_rows = searcher.clip_candidates(account_id, query, Filters(unique_id=VIDEO_NAMESPACE), pool=VISUAL_TOP)
        for c in ranked:
            row = clip_rows.get(c.image_id)
            if row is None:
                continue
            X.append(c.features())
            y.append(1.0 if target and row.video_id == target[0] and target[1] <= row.start_s < target[1] + SHOT_S else 0.0)
            group.append(qi)
    return X, y, group, sum(len(c) for c in gallery.coco.values())


def photo_examples(store: Store) -> tuple[list, list, list, int, int]:
    """(features, labels, query index, captions, companies) over the photo queries."""
    searcher = Searcher.create(store, Models(store.settings))
    gallery = Gallery.load(EVAL)
    with store.db.read() as conn:
        rows = conn.execute(images.select().where(images.c.unique_id == NAMESPACE)).all()
    account_id = rows[0].account_id
    by_name = {r.name: r.id for r in rows}
    queries = [(c, {by_name[name]}) for name, caps in gallery.coco.items() for c in caps]
    same_company: dict[str, set[int]] = {}
    for path, company in gallery.receipts:
        same_company.setdefault(company_key(company), set()).add(by_name[path.name])
    labels = sorted({company for _, company in gallery.receipts})  # each spelling a query, as `reverie eval` asks
    queries += [(company, same_company[company_key(company)]) for company in labels]
    queries += [(q, set()) for q in UNRELATED]
    X, y, group = [], [], []
    for qi, (query, target) in enumerate(queries):
        for c in candidates(searcher, account_id, query):
            X.append(c.features())
            y.append(1.0 if c.image_id in target else 0.0)
            group.append(qi)
    return X, y, group, sum(len(c) for c in gallery.coco.values()), len(labels)


def kept_at_levels(p: np.ndarray, y: np.ndarray, unrelated: np.ndarray, what: str) -> None:
    for level, cut in fusion.LEVELS.items():
        kept = p >= cut
        precision = y[kept].mean() if kept.any() else float("nan")
        print(f"{what:>6} {level:>6} (>= {cut}): precision {precision:.2f}, recall {y[kept].sum() / y.sum():.2f}, "
              f"{(kept & unrelated).sum() / len(UNRELATED):.1f} hits per unrelated query")


def detected_sweep(store: Store) -> None:
    """The COCO dev category queries' mAP (as `reverie eval` measures it) for weights of `detected`: no query
    the fit sees names only classes, so its weight (fusion.DETECTED) is chosen here."""
    from reverie.evaluation import COCO_NAMESPACE

    searcher = Searcher.create(store, Models(store.settings))
    objects: dict[str, dict[str, int]] = json.loads((EVAL / "coco" / "objects.json").read_text())
    with store.db.read() as conn:
        rows = conn.execute(images.select().where(images.c.unique_id == COCO_NAMESPACE)).all()
    by_name = {r.name: r.id for r in rows}
    queries = []
    for category in sorted({c for counts in objects.values() for c in counts}):
        right = {by_name[n] for n, counts in objects.items() if category in counts}
        cands = candidates(searcher, rows[0].account_id, category, COCO_NAMESPACE, len(rows))
        queries.append((np.stack([c.features() for c in cands]), np.array([c.image_id in right for c in cands]), len(right)))
    for weight in (0, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256):
        precisions = []
        for X, right, n in queries:
            hits = right[np.argsort(-fusion.ranking_logit(X, {**fusion.COEF, "detected": weight}))]
            precisions.append((np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits].sum() / n)
        print(f"detected weight {weight:>2}: COCO category mAP {np.mean(precisions):.3f}")


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--detected"]
    store = Store.open(Settings(data=Path(args[0]), model_dir=Path(args[1]) if len(args) > 1 else Path("")))
    if "--detected" in sys.argv:
        detected_sweep(store)
        return
    PX, Py, Pg, n_captions, n_companies = photo_examples(store)
    VX, Vy, Vg, n_clip_captions = clip_examples(store)
    PX, Py, Pg, VX, Vy, Vg = map(np.array, (PX, Py, Pg, VX, Vy, Vg))
    weight = np.r_[np.ones(len(Py)), np.full(len(Vy), CLIP_WEIGHT * len(Py) / len(Vy))]
    weight[:len(Py)][Pg >= n_captions + n_companies] *= UNRELATED_WEIGHT
    weight[len(Py):][Vg >= n_clip_captions] *= UNRELATED_WEIGHT
    # Held, not fitted: `detected` (always 0 here: set apart, --detected) and fusion.FIRST_FIT (fusion.py says why)
    held = {"detected": fusion.DETECTED, **fusion.FIRST_FIT}
    fitted = np.array([n not in held for n in fusion.FEATURES])
    X = np.vstack([PX, VX])
    w = fit(X[:, fitted], np.r_[Py, Vy], weight,
            offset=X[:, ~fitted] @ np.array([held[n] for n in np.array(fusion.FEATURES)[~fitted]]))
    coef = {n: round(float(v), 3) for n, v in zip(np.array(fusion.FEATURES)[fitted], w[:-1])}
    coef.update(held)
    bias = round(float(w[-1]), 3)
    print(f"photos: {Pg.max() + 1} queries, {len(Py)} candidates, {int(Py.sum())} right; "
          f"clips: {Vg.max() + 1} queries, {len(Vy)} candidates, {int(Vy.sum())} right")
    print("COEF = " + json.dumps(coef))
    print(f"BIAS = {bias}")
    # the model's own probabilities: what the levels cut is set apart, by bench/calibrate.py
    p, v = (fusion.on_levels(fusion.relevance(fusion.ranking_logit(X, coef, bias), 0.0, 0.0, IDENTITY), fusion.LEVELS)
            for X in (PX, VX))
    hit_at = lambda qi, k: Py[Pg == qi][np.argsort(-p[Pg == qi])[:k]].any()  # noqa: E731
    print(f"with this fit: caption R@10 {np.mean([hit_at(qi, 10) for qi in range(n_captions)]):.3f}, "
          f"company hit@1 {np.mean([hit_at(qi, 1) for qi in range(n_captions, n_captions + n_companies)]):.3f} "
          f"(over {n_companies} distinct company labels)")
    kept_at_levels(p, Py, Pg >= n_captions + n_companies, "photos")
    kept_at_levels(v, Vy, Vg >= n_clip_captions, "clips")


if __name__ == "__main__":
    main()
