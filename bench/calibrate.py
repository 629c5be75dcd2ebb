"""Fit the fused-score model of reverie/search/fusion.py on the dev split, and show how well it fits.

    .venv/bin/reverie eval --data /tmp/evaldata                  # indexes ../shared/eval into /tmp/evaldata
    .venv/bin/python bench/calibrate.py /tmp/evaldata            # prints COEF and BIAS to paste into fusion.py
    .venv/bin/python bench/calibrate.py /tmp/evaldata --clips    # the shared model on the eval videos, and a refit

For every query (COCO captions, receipt company names, unrelated queries) it takes the candidates search
considers (visual top 50 plus every lexical hit), labels the right image 1 and the rest 0, and fits a
logistic regression (Newton's method, small L2) over the features of fusion.Candidate. A caption's own photo
and every receipt of the company count as right, so the fit is conservative for generic queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.evaluation import NAMESPACE, UNRELATED, Gallery  # noqa: E402
from reverie.models import Models  # noqa: E402
from reverie.search import fusion  # noqa: E402
from reverie.search.images import Searcher  # noqa: E402
from reverie.store import Store, search_index  # noqa: E402
from reverie.store.schema import images  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
VISUAL_TOP = 50


def candidates(searcher: Searcher, account_id: int, query: str) -> list[fusion.Candidate]:
    qvec = searcher.models.visual.embed_text([query])[0]
    ids, sims, mean, std = searcher.visual.search(qvec, account_id, NAMESPACE, VISUAL_TOP)
    with searcher.store.db.read() as conn:
        lexical = search_index.lexical(conn, account_id, NAMESPACE, search_index.query_terms(query), 300, phrase=query)
    cos = lambda i: (lambda v: None if v is None else float(v @ qvec))(searcher.visual.vector_of(i))  # noqa: E731
    return fusion.fuse(ids, sims, mean, std, lexical, cos)


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    X1 = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(X1.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-X1 @ w))
        grad = X1.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = (X1 * (p * (1 - p))[:, None]).T @ X1 + l2 * np.eye(len(w))
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


def main_clips(store: Store) -> None:
    """How the shared model (fusion.COEF) scores clips, beside a model fitted on clips alone."""
    X, y, group, n_captions = clip_examples(store)
    X, y, group = np.array(X), np.array(y), np.array(group)
    w = fit(X, y)
    refit = {n: round(float(v), 3) for n, v in zip(fusion.FEATURES, w[:-1])}
    print(f"{group.max() + 1} queries, {len(y)} candidate clips, {int(y.sum())} right")
    print(f"refit on clips: COEF = {json.dumps(refit)}, BIAS = {w[-1]:.3f}")
    for name, coef, bias in (("shared", fusion.COEF, fusion.BIAS), ("refit", refit, float(w[-1]))):
        p = fusion.calibrated(X, coef, bias)
        for level, cut in fusion.LEVELS.items():
            kept = p >= cut
            precision = y[kept].mean() if kept.any() else float("nan")
            unrelated = (kept & (group >= n_captions)).sum() / max(1, len(UNRELATED))
            print(f"{name:>6} {level:>6} (>= {cut}): precision {precision:.2f}, recall {y[kept].sum() / y.sum():.2f}, "
                  f"{unrelated:.1f} clips per unrelated query")


def main() -> None:
    data = Path(sys.argv[1])
    store = Store.open(Settings(data=data, model_dir=Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "--clips" else Path("")))
    if "--clips" in sys.argv:
        main_clips(store)
        return
    searcher = Searcher.create(store, Models(store.settings))
    gallery = Gallery.load(EVAL)
    with store.db.read() as conn:
        rows = conn.execute(images.select().where(images.c.unique_id == NAMESPACE)).all()
    account_id = rows[0].account_id
    by_name = {r.name: r.id for r in rows}
    queries = [(c, {by_name[name]}) for name, caps in gallery.coco.items() for c in caps]
    same_company: dict[str, set[int]] = {}
    for path, company in gallery.receipts:
        same_company.setdefault(company, set()).add(by_name[path.name])
    queries += [(company, ids) for company, ids in same_company.items()]
    queries += [(q, set()) for q in UNRELATED]
    X, y, group = [], [], []
    for qi, (query, target) in enumerate(queries):
        for c in candidates(searcher, account_id, query):
            X.append(c.features())
            y.append(1.0 if c.image_id in target else 0.0)
            group.append(qi)
    X, y, group = np.array(X), np.array(y), np.array(group)
    w = fit(X, y)
    names = list(fusion.FEATURES)
    print(f"{len(queries)} queries, {len(y)} candidates, {int(y.sum())} right")
    print("COEF = " + json.dumps({n: round(float(v), 3) for n, v in zip(names, w[:-1])}))
    print(f"BIAS = {w[-1]:.3f}")
    p = 1 / (1 + np.exp(-(np.hstack([X, np.ones((len(X), 1))]) @ w)))
    n_captions = sum(len(c) for c in gallery.coco.values())
    hit_at = lambda qi, k: y[group == qi][np.argsort(-p[group == qi])[:k]].any()  # noqa: E731
    print(f"with this fit: caption R@10 {np.mean([hit_at(qi, 10) for qi in range(n_captions)]):.3f}, "
          f"company hit@1 {np.mean([hit_at(qi, 1) for qi in range(n_captions, n_captions + len(same_company))]):.3f} "
          f"(over {len(same_company)} distinct companies)")
    for level, cut in fusion.LEVELS.items():
        kept = p >= cut
        precision = y[kept].mean() if kept.any() else float("nan")
        print(f"{level:>6} (>= {cut}): keeps {kept.sum():5d} candidates, precision {precision:.2f}, recall {y[kept].sum() / y.sum():.2f}")


if __name__ == "__main__":
    main()
