"""Transcript query latency through HTTP, warm, over N hours of speech: the exact phrase search
(GET /search_audio_transcripts) and the semantic one (POST /search BY_AUDIO).

    .venv/bin/python bench/transcripts.py --hours 1000

Synthetic at scale (said in every printout): transcribing 1,000 hours takes days on 2 cores, so the rows
are written straight into the data folder. They follow what the pipeline produces: one-hour videos cut into
line-sized segments of about 4 s, each 6-14 words drawn (Zipf) from a 5,000-word vocabulary plus common
English words, with the phrase index filled as indexing fills it. Speech vectors are real
MiniLM embeddings of 4,000 distinct sentences, each reused with noise (norm 0.3) so that no two segments
are equal. Phrase queries are 2-4 word runs cut from random segments (each has at least one hit), 5-word runs with
the middle word replaced (found by the near match) and runs of made-up words (no hit); semantic queries are
real sentences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from server import serving

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.store import Store  # noqa: E402
from reverie.store.accounts import create_key  # noqa: E402
from reverie.store.spoken_words import index_rows  # noqa: E402

COMMON = ("the a of and to in is it you that he was for on are with as his they be at one have this from "
          "or had by word but what some we can out other were all there when up use your how said an each "
          "she which do their time if will way about many then them write would like so these her long make "
          "thing see him two has look more day could go come did number sound no most people my over know "
          "water than call first who may down side been now find").split()
VOCAB = [f"w{i}x" for i in range(5000)]
ZIPF = 1.0 / np.arange(1, len(VOCAB) + 1)
ZIPF /= ZIPF.sum()
SEGMENT_S = 4.0
NEAR = "near:"  # a phrase with one word misheard, in the queries file
SEMANTIC = ["where did we leave the boat", "the budget for next year", "a recipe with tomatoes and garlic",
            "the score at half time", "how to fix a flat tyre", "the weather tomorrow morning",
            "a song about the sea", "the meeting moved to friday"]


def sentences(rng: np.random.Generator, n: int) -> list[str]:
    subjects = ["the team", "my sister", "our client", "the teacher", "a farmer", "the pilot", "the doctor", "we"]
    verbs = ["talked about", "asked for", "forgot", "planned", "cooked", "repaired", "sang about", "counted"]
    objects = ["the boat", "the budget", "dinner", "the garden", "a new car", "the weather", "the match",
               "the meeting", "a holiday", "the river", "an old song", "the harvest", "the flight", "a tyre"]
    tails = ["yesterday", "next week", "again", "in the rain", "at night", "with friends", "for hours", "quietly"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)} {i}" for i in range(n)]


def fill(data: Path, hours: int, model_dir: Path) -> tuple[str, list[str]]:
    from reverie.models.export import TEXT_ENCODER, TOKENIZER, ensure_exported
    from reverie.models.text_embedding import TextEmbedder

    ensure_exported(model_dir)
    embedder = TextEmbedder(model_dir / TEXT_ENCODER, model_dir / TOKENIZER, 2)
    rng = np.random.default_rng(7)
    base_text = sentences(rng, 4000)
    base = embedder.embed(base_text)
    store = Store.open(Settings(data=data))
    key = create_key(store.db, "bench", "bench")
    now = int(time.time() * 1000)
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO namespaces(account_id, name, created_ms) VALUES (1, 'default', 0)")
    per_video = int(3600 / SEGMENT_S)
    seg_id, phrases = 0, []
    for v in range(hours):
        video_id = 20_000_000 + v
        segs, fts, vecs = [], [], []
        for i in range(per_video):
            seg_id += 1
            k = int(rng.integers(0, len(base)))
            words = list(rng.choice(VOCAB, int(rng.integers(3, 8)), p=ZIPF)) + list(rng.choice(COMMON, int(rng.integers(3, 7))))
            rng.shuffle(words)
            text = " ".join(words)
            segs.append((seg_id, video_id, i, i * SEGMENT_S, (i + 1) * SEGMENT_S, text))
            fts.append((seg_id, text))
            vec = base[k] + 0.3 * rng.standard_normal(base.shape[1]) / np.sqrt(base.shape[1])
            vecs.append((video_id, seg_id, "speech", "whisper-tiny.en-int8", (vec / np.linalg.norm(vec)).astype("<f4").tobytes()))
            if rng.random() < 0.0005:
                start = int(rng.integers(0, max(1, len(words) - 3)))
                phrases.append(" ".join(words[start: start + int(rng.integers(2, 5))]))
            if rng.random() < 0.0005 and len(words) >= 5:  # five words said, the middle one misheard
                start = int(rng.integers(0, len(words) - 4))
                five = words[start: start + 5]
                five[2] = "zzqmisheard"
                phrases.append(NEAR + " ".join(five))
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO videos(id, account_id, unique_id, name, size, sha256, content_type, container, retain_original, "
                "status, duration_s, transcribed_ms, created_ms) VALUES (?,1,'default',?,?,?,?,?,1,'PARSE',3600,?,?)",
                (video_id, f"talk{v}.mp4", 10**9, f"{v:064x}", "video/mp4", "mp4", now, now))
            conn.exec_driver_sql("INSERT INTO transcript_segments(id, video_id, idx, start_s, end_s, text) VALUES (?,?,?,?,?,?)", segs)
            rows = index_rows([t.split() for _, t in fts])
            conn.exec_driver_sql("INSERT INTO segment_words(rowid, text, tail) VALUES (?,?,?)",
                                 [(i, t, tail) for (i, _), (t, tail) in zip(fts, rows)])
            conn.exec_driver_sql("INSERT INTO video_vectors(video_id, item_id, space, model, vector) VALUES (?,?,?,?,?)", vecs)
        if (v + 1) % 50 == 0:
            print(f"  wrote {v + 1} synthetic hours ({seg_id} segments)", file=sys.stderr)
    store.close()
    return key, phrases


def table(name: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    return (f"{name:<28} {len(ms):>6} queries   p50 {statistics.median(ms):7.1f} ms   "
            f"p95 {ordered[int(0.95 * (len(ms) - 1))]:7.1f} ms   max {ordered[-1]:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--model-dir", default=str(REPO / ".model-cache"))
    ap.add_argument("--reuse", type=Path, help="a data folder an earlier run filled (it prints where): measure again")
    args = ap.parse_args()
    if args.reuse:
        data = args.reuse
        key, *phrases = (data / "bench-queries.txt").read_text().splitlines()
    else:
        data = Path(tempfile.mkdtemp(prefix="reverie-bench-transcripts-"))
        began = time.monotonic()
        key, phrases = fill(data, args.hours, Path(args.model_dir))
        (data / "bench-queries.txt").write_text("\n".join([key, *phrases]))
        print(f"  filled {data} in {time.monotonic() - began:.0f} s", file=sys.stderr)
    procs: list = []
    with serving(data, key, "--no-workers", env={"REVERIE_MODEL_DIR": args.model_dir}, process=procs) as http:
        began = time.monotonic()
        assert http.post("/search", json={"search_param": "warm up", "search_type": "BY_AUDIO"}).json()["code"] == "0000"
        warm = time.monotonic() - began
        near_phrases = [p.removeprefix(NEAR) for p in phrases if p.startswith(NEAR)]
        phrases = [p for p in phrases if not p.startswith(NEAR)]
        found, missing, semantic, near, hits, near_hits = [], [], [], [], 0, 0
        for i in range(args.queries):
            if near_phrases:
                t0 = time.perf_counter()
                res = http.get("/search_audio_transcripts", params={"query": near_phrases[i % len(near_phrases)],
                                                                     "page_size": 20}).json()
                near.append((time.perf_counter() - t0) * 1000)
                near_hits += res["data"]["total_count"] > 0
            phrase = phrases[i % len(phrases)]
            t0 = time.perf_counter()
            res = http.get("/search_audio_transcripts", params={"query": phrase, "page_size": 20}).json()
            found.append((time.perf_counter() - t0) * 1000)
            hits += res["data"]["total_count"] > 0
            t0 = time.perf_counter()
            res = http.get("/search_audio_transcripts", params={"query": f"zq{i} unheard words"}).json()
            missing.append((time.perf_counter() - t0) * 1000)
            assert res["data"]["total_count"] == 0
            t0 = time.perf_counter()
            res = http.post("/search", json={"search_param": f"{SEMANTIC[i % len(SEMANTIC)]} {i}", "search_type": "BY_AUDIO",
                                             "top_k": 20}).json()
            semantic.append((time.perf_counter() - t0) * 1000)
            assert res["code"] == "0000" and res["data"]
        status = Path(f"/proc/{procs[0].pid}/status").read_text()
        peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    segments = args.hours * int(3600 / SEGMENT_S)
    print(f"machine: {os.cpu_count()} CPUs; {args.hours} hours of SYNTHETIC transcript, {segments:,} segments (see --help)")
    print(f"first BY_AUDIO query (loads the vectors, builds the HNSW graph): {warm:.0f} s")
    print(table("phrase, present", found) + f"   ({hits}/{len(found)} found)")
    print(table("phrase, absent", missing))
    if near:
        print(table("phrase, one word misheard", near) + f"   ({near_hits}/{len(near)} found)")
    print(table("BY_AUDIO (semantic)", semantic))
    print(f"server peak RSS: {peak_mb:.0f} MB (the speech vectors are held in memory, 1.5 KB each, plus the HNSW graph)")


if __name__ == "__main__":
    main()
