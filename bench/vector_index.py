"""Vector search options on this machine: exact (numpy) against usearch, hnswlib and faiss HNSW.

    .venv/bin/python bench/vector_index.py --n 100000 [--kind conse|random]
    (usearch, hnswlib and faiss-cpu are not Reverie dependencies: pip install them to compare)

Synthetic, two kinds: "random" unit vectors (no structure: the worst case for graph indexes), and
"conse" vectors made the way Reverie's are, a probability-weighted mean of 20 ImageNet class-name
embeddings with peaked (Dirichlet) weights (needs the model cache: REVERIE_MODEL_DIR or .model-cache).
For each library: build time, query latency p50/p95 for top-20 (single query, as a search request
does), recall@10 against exact search, and the same with a filter that keeps 10 % of the rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np

K = 20


def timed(fn, queries):  # noqa: ANN001, ANN201
    out, ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return out, ms[len(ms) // 2], ms[int(len(ms) * 0.95)]


def recall(found, truth) -> float:  # noqa: ANN001
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--kind", choices=("conse", "random"), default="conse")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    if args.kind == "conse":
        cache = Path(os.environ.get("REVERIE_MODEL_DIR", Path(__file__).resolve().parents[1] / ".model-cache"))
        classes = np.load(cache / "conse_class_vectors.npy")
        args.dim = classes.shape[1]
        picks = rng.integers(0, len(classes), (args.n, 20))
        weights = rng.dirichlet(np.full(20, 0.3), args.n).astype(np.float32)
        data = np.einsum("nk,nkd->nd", weights, classes[picks]).astype(np.float32)
    else:
        data = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[rng.choice(args.n, args.queries, replace=False)] + 0.05 * rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    allowed = np.sort(rng.choice(args.n, args.n // 10, replace=False))
    mask = np.zeros(args.n, bool)
    mask[allowed] = True

    def exact(q, keep=None):  # noqa: ANN001, ANN202
        sims = data @ q
        if keep is not None:
            sims = np.where(keep, sims, -np.inf)
        top = np.argpartition(-sims, K)[:K]
        return top[np.argsort(-sims[top])]

    truth, p50, p95 = timed(exact, queries)
    truth_f, fp50, fp95 = timed(lambda q: exact(q, mask), queries)
    rows = [("exact (numpy)", 0.0, p50, p95, 1.0, fp50, fp95, 1.0)]

    if importlib.util.find_spec("hnswlib"):
        import hnswlib

        t0 = time.perf_counter()
        index = hnswlib.Index(space="ip", dim=args.dim)
        index.init_index(max_elements=args.n, ef_construction=100, M=16)
        index.add_items(data, np.arange(args.n))
        build = time.perf_counter() - t0
        index.set_ef(100)
        found, p50, p95 = timed(lambda q: index.knn_query(q, k=K)[0][0], queries)
        found_f, fp50, fp95 = timed(lambda q: index.knn_query(q, k=K, filter=lambda i: mask[i])[0][0], queries)
        rows.append(("hnswlib M16 ef100", build, p50, p95, recall(found, truth), fp50, fp95, recall(found_f, truth_f)))

    if importlib.util.find_spec("usearch"):
        from usearch.index import Index

        t0 = time.perf_counter()
        index = Index(ndim=args.dim, metric="ip", connectivity=16, expansion_add=100, expansion_search=100)
        index.add(np.arange(args.n), data)
        build = time.perf_counter() - t0
        found, p50, p95 = timed(lambda q: index.search(q, K).keys, queries)
        # usearch's Python API has no predicate: over-fetch and filter, the usual workaround
        found_f, fp50, fp95 = timed(lambda q: [k for k in index.search(q, K * 20).keys if mask[k]][:K], queries)
        rows.append(("usearch M16 ef100", build, p50, p95, recall(found, truth), fp50, fp95, recall(found_f, truth_f)))

    if importlib.util.find_spec("faiss"):
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(args.dim, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 100
        index.add(data)
        build = time.perf_counter() - t0
        index.hnsw.efSearch = 100
        found, p50, p95 = timed(lambda q: index.search(q[None], K)[1][0], queries)
        sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=100)
        found_f, fp50, fp95 = timed(lambda q: index.search(q[None], K, params=params)[1][0], queries)
        rows.append(("faiss HNSW M16 ef100", build, p50, p95, recall(found, truth), fp50, fp95, recall(found_f, truth_f)))

    print(f"machine: {os.cpu_count()} CPUs; {args.n} SYNTHETIC {args.kind} unit vectors, dim {args.dim}; top-{K}; "
          f"filter keeps {len(allowed)} rows\n")
    print(f"{'index':<22} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'R@10':>5} | {'filtered p50':>12} {'p95':>6} {'R@10':>5}")
    for name, build, p50, p95, r, fp50, fp95, fr in rows:
        print(f"{name:<22} {build:>8.1f} {p50:>7.2f} {p95:>7.2f} {r:>5.2f} | {fp50:>12.2f} {fp95:>6.2f} {fr:>5.2f}")


if __name__ == "__main__":
    main()
