"""Indexing throughput end-to-end (decode, EXIF, thumbnail + preview, models, OCR gate, index write).

    .venv/bin/python bench/index.py                 # 200 photos of 1.9 MP and 40 receipts
    .venv/bin/python bench/index.py --photos 400 --worker-threads 2

Photos: the COCO images of ../shared/eval scaled to 1600x1200 (no text in most, so OCR stays at its
detector gate). Text-heavy: the SROIE receipt scans (full OCR). Uploads go to a server started with
--no-workers; then one `reverie worker` process indexes them and the clock runs until all are PARSE.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from server import serving

BIN = Path(sys.executable).parent
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def photos(n: int) -> list[bytes]:
    sources = sorted((EVAL / "coco" / "images").glob("*.jpg"))
    out = []
    for i in range(n):
        im = Image.open(sources[i % len(sources)]).convert("RGB").resize((1600, 1200), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=88)
        out.append(buf.getvalue() + os.urandom(8))  # distinct bytes per upload
    return out


def measure(label: str, blobs: list[bytes], threads: int, model_dir: str) -> tuple[str, int, float]:
    data = Path(tempfile.mkdtemp(prefix="reverie-bench-index-"))
    key = subprocess.run([str(BIN / "reverie"), "keys", "create", "--name", "b", "--data", str(data)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    env = {**os.environ, "REVERIE_MODEL_DIR": model_dir}
    with serving(data, key, "--no-workers", env=env) as http:
        for i in range(0, len(blobs), 10):
            files = [("files", (f"{j}.jpg", b, "image/jpeg")) for j, b in enumerate(blobs[i : i + 10])]
            assert http.post("/upload_img", files=files).json()["code"] == "0000"
        # Load the models first, so that the clock measures indexing, not start-up.
        warm = subprocess.run([sys.executable, "-c", "from reverie.config import Settings; from reverie.models import Models; "
                               f"m = Models(Settings(data={str(data)!r}, model_dir={model_dir!r})); m.visual; m.ocr"], env=env)
        assert warm.returncode == 0
        worker = subprocess.Popen([str(BIN / "reverie"), "worker", "--data", str(data), "--workers", str(threads),
                                   "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.time()
        db = sqlite3.connect(data / "reverie.db")
        while db.execute("SELECT count(*) FROM images WHERE status = 'UNPARSE'").fetchone()[0]:
            time.sleep(0.2)
        elapsed = time.time() - started
        worker.terminate()
        worker.wait()
        failed = db.execute("SELECT count(*) FROM images WHERE status = 'FAILED'").fetchone()[0]
        assert failed == 0, f"{failed} images FAILED"
        return label, len(blobs), elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--worker-threads", type=int, default=2)
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    args = ap.parse_args()
    receipts = [p.read_bytes() for p in sorted((EVAL / "sroie" / "img").glob("*.jpg"))]
    rows = [
        measure("photos 1600x1200 (1.9 MP) JPEG", photos(args.photos), args.worker_threads, args.model_dir),
        measure("receipts (text-heavy, full OCR)", receipts, args.worker_threads, args.model_dir),
    ]
    print(f"machine: {os.cpu_count()} CPUs; one worker process with {args.worker_threads} indexing threads\n")
    print(f"{'set':<34} {'images':>6} {'seconds':>8} {'images/s':>9}")
    for label, n, seconds in rows:
        print(f"{label:<34} {n:>6} {seconds:>8.1f} {n / seconds:>9.1f}")


if __name__ == "__main__":
    main()
