"""Soak: a steady mix of uploads, searches and listings against one server with in-process indexing.

    .venv/bin/python bench/soak.py --minutes 30 --rate 20

Open loop: requests are sent on a fixed schedule (--rate per second), whatever the answers take, so a
slow server shows as latency and errors rather than as a quietly lower load. The mix: 30 % uploads of
distinct ~50 KB JPEGs, 5 % uploads of 2-second videos, 40 % image searches, 5 % clip searches, 20 % list
pages. Every 10 s it samples the server's RSS.
Prints per-operation throughput, p50/p99 latency and errors, and the RSS trend (least squares over the
samples after the first 5 minutes, in MB per hour): no growth trend means no leak.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from server import BIN, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from reverie.synthetic_video import make_video  # noqa: E402

QUERIES = ["a dog", "a red car", "sunset over the sea", "a receipt", "people at a table", "a cat on a sofa",
           "mountains with snow", "a bicycle", "flowers", "a city street at night"]


def photo(i: int) -> bytes:
    rnd = random.Random(i)
    im = Image.new("RGB", (480, 360), tuple(rnd.randrange(256) for _ in range(3)))
    noise = Image.effect_noise((480, 360), 60).convert("RGB")
    out = io.BytesIO()
    Image.blend(im, noise, 0.4).save(out, "JPEG", quality=85)
    return out.getvalue()


def videos(folder: Path, n: int = 20) -> list[bytes]:
    out = []
    for i in range(n):
        im = Image.open(io.BytesIO(photo(10**6 + i)))
        out.append(make_video(folder / f"v{i}.mp4", [(im, 2.0)], fps=5, size=(160, 120)).read_bytes())
    return out


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 3:
        return float("nan")
    ts, ys = [t for t, _ in samples], [y for _, y in samples]
    mt, my = statistics.mean(ts), statistics.mean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in samples) / den * 3600 if den else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=20, help="requests per second, all kinds together")
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="reverie-soak-"))
    key = subprocess.run([str(BIN / "reverie"), "keys", "create", "--name", "soak", "--data", str(data)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    procs: list = []
    clips = videos(data)
    with serving(data, key, env={"REVERIE_MODEL_DIR": args.model_dir}, process=procs) as http:
        report = soak(http, procs[0].pid, args, clips)
    shutil.rmtree(data, ignore_errors=True)
    print(report)


def soak(http, server_pid: int, args, clips: list[bytes]) -> str:  # noqa: ANN001

    lat: dict[str, list[float]] = {"upload": [], "video": [], "search": [], "clips": [], "list": []}
    errors: dict[str, list[str]] = {k: [] for k in lat}
    lock = threading.Lock()
    counter = iter(range(10**9))

    def one(kind: str) -> None:
        t0 = time.perf_counter()
        try:
            if kind == "upload":
                i = next(counter)
                res = http.post("/upload_img", files=[("files", (f"s{i}.jpg", photo(i), "image/jpeg"))], data={"tags": ["soak"]})
            elif kind == "video":
                i = next(counter)
                res = http.post("/upload", files={"file": (f"v{i}.mp4", clips[i % len(clips)], "video/mp4")}, data={"tags": ["soak"]})
            elif kind == "search":
                res = http.post("/search", json={"search_param": random.choice(QUERIES), "search_type": "BY_IMAGE", "top_k": 20})
            elif kind == "clips":
                res = http.post("/search", json={"search_param": random.choice(QUERIES), "search_type": "BY_CLIP", "top_k": 20})
            else:
                res = http.post("/img_list_page", json={"page": random.randint(1, 5), "page_size": 50})
            code = res.json().get("code")
            problem = None if code == "0000" else f"{code} {res.json().get('msg')}"
        except Exception as exc:  # noqa: BLE001
            problem = f"{type(exc).__name__}: {exc}"
        with lock:
            lat[kind].append((time.perf_counter() - t0) * 1000)
            if problem:
                errors[kind].append(problem)

    rss: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(10):
            rss.append((time.monotonic(), rss_mb(server_pid)))

    threading.Thread(target=sample, daemon=True).start()
    began = time.monotonic()
    end = began + args.minutes * 60
    kinds = ["upload"] * 6 + ["video"] + ["search"] * 8 + ["clips"] + ["list"] * 4
    with ThreadPoolExecutor(max_workers=64) as pool:
        n = 0
        while time.monotonic() < end:
            pool.submit(one, random.choice(kinds))
            n += 1
            time.sleep(max(0.0, began + n / args.rate - time.monotonic()))
    stop.set()
    elapsed = time.monotonic() - began
    unparsed = http.post("/img_list_page", json={"status": "UNPARSE", "page_size": 1}).json()["data"]["total_count"]
    unparsed += http.post("/list_videos", json={"status": "UNPARSE", "size": 1}).json()["data"]["total_count"]
    out: list[str] = []

    out.append(f"machine: {os.cpu_count()} CPUs; {elapsed / 60:.1f} min at {args.rate:g} requests/s (open loop); "
          f"server with 2 in-process indexing threads")
    out.append(f"{'operation':<10} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind, values in lat.items():
        ordered = sorted(values) or [float("nan")]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
        out.append(f"{kind:<10} {len(values):>7} {len(values) / elapsed:>7.1f} {statistics.median(ordered):>8.1f} {p99:>8.1f} {len(errors[kind]):>7}")
    for kind, problems in errors.items():
        for p in sorted(set(problems))[:3]:
            out.append(f"  {kind} error: {p}")
    steady = [(t, y) for t, y in rss if t - began > 300] or rss
    if rss:
        out.append(f"server RSS: first {rss[0][1]:.0f} MB, last {rss[-1][1]:.0f} MB, max {max(y for _, y in rss):.0f} MB; "
              f"trend after 5 min {slope_per_hour(steady):+.0f} MB/hour over {len(steady)} samples")
    out.append(f"still indexing at the end: {unparsed}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
