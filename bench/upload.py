"""Upload acceptance throughput and latency: N distinct ~100 KB JPEGs from C concurrent clients over loopback.

    .venv/bin/python bench/upload.py                    # starts its own server on a temp data folder
    .venv/bin/python bench/upload.py --count 4000 --clients 8 --server-workers 0
    .venv/bin/python bench/upload.py --url http://127.0.0.1:8080 --key sk-reverie-...

Bodies are encoded before the clock starts, and each client keeps one HTTP/1.1 connection, so the client
side costs little of the machine's CPU. Latency is from the first byte sent to the full answer read.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image

BIN = Path(sys.executable).parent


def make_jpeg(target_kb: int) -> bytes:
    """A photo-like JPEG near the target size (noise over a gradient compresses like a real photo)."""
    rnd = random.Random(7)
    side = 640
    im = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    noise = Image.frombytes("RGB", im.size, bytes(rnd.getrandbits(8) for _ in range(side * side * 3)))
    im = Image.blend(im, noise, 0.35)
    best = b""
    for quality in range(95, 10, -5):
        out = io.BytesIO()
        im.save(out, "JPEG", quality=quality)
        best = out.getvalue()
        if len(best) <= target_kb * 1024:
            break
    return best


def multipart(content: bytes, name: str) -> tuple[bytes, str]:
    boundary = "reverie-bench-" + os.urandom(8).hex()
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"unique_id\"\r\n\r\nbench\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nbench\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def start_server(workers: int, rate_limits: str) -> tuple[subprocess.Popen, str, str, Path]:
    data = Path(tempfile.mkdtemp(prefix="reverie-bench-"))
    key = subprocess.run([str(BIN / "reverie"), "keys", "create", "--name", "bench", "--data", str(data)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "reverie"), "serve", "--data", str(data), "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--rate-limits", rate_limits, *(["--no-workers"] if workers == 0 else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/openapi.json")
            break
        except OSError:
            time.sleep(0.1)
    return proc, url, key, data


def run(url: str, key: str, bodies: list[tuple[bytes, str]], clients: int) -> tuple[list[float], int, float]:
    parsed = urlparse(url)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = list(range(len(bodies)))

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                i = queue.pop()
            body, ctype = bodies[i]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/serve/api/v1/upload_img", body=body,
                             headers={"Authorization": key, "Content-Type": ctype})
                answer = json.loads(conn.getresponse().read())
                ok = answer.get("code") == "0000"
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                ok = False
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                errors += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an existing server (default: start one)")
    ap.add_argument("--key", help="API key for --url")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--size-kb", type=int, default=100)
    ap.add_argument("--server-workers", type=int, default=1, help="in-process indexing threads of the started server")
    ap.add_argument("--rate-limits", default="upload=100000/100000",
                    help="of the started server; the default keeps the limiter in the path (its cost is measured) "
                         "without ever refusing")
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()

    base = make_jpeg(args.size_kb)
    # Distinct bytes per upload (a unique trailer after the end-of-image marker), so no upload is deduplicated.
    bodies = [multipart(base + os.urandom(16), f"bench-{i}.jpg") for i in range(args.count + args.warmup)]
    proc = data = None
    url, key = args.url, args.key
    if url is None:
        proc, url, key, data = start_server(args.server_workers, args.rate_limits)
    try:
        run(url, key, bodies[: args.warmup], args.clients)
        latencies, errors, wall = run(url, key, bodies[args.warmup:], args.clients)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
            shutil.rmtree(data, ignore_errors=True)

    ms = [x * 1000 for x in latencies]
    rows = [
        ("machine", f"{os.cpu_count()} CPUs, {sys.platform}"),
        ("server", url if args.url else f"started here, {args.server_workers} in-process indexing thread(s), rate limits {args.rate_limits}"),
        ("uploads", f"{len(ms)} x {len(base) / 1024:.0f} KB JPEG, {args.clients} clients"),
        ("throughput", f"{len(ms) / wall:.0f} images/s"),
        ("latency p50", f"{pct(ms, 50):.1f} ms"),
        ("latency p95", f"{pct(ms, 95):.1f} ms"),
        ("latency p99", f"{pct(ms, 99):.1f} ms"),
        ("latency max", f"{max(ms):.1f} ms"),
        ("mean", f"{statistics.mean(ms):.1f} ms"),
        ("errors", str(errors)),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value\n{'-' * width}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
