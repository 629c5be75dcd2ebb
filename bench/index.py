"""Indexing throughput end-to-end (decode, EXIF, thumbnail + preview, models, OCR gate, index write).

    .venv/bin/python bench/index.py                 # 200 + 200 photos of 1.9 MP and 40 receipts
    .venv/bin/python bench/index.py --photos 400 --worker-threads 2

Photos: the COCO images of ../shared/eval scaled to 1600x1200 (a few hold signs or writing, which get
full OCR), and Caltech-101 objects scaled the same (some classes carry print: signs, bills, book covers).
Text-heavy: the SROIE receipt scans (full OCR). Uploads go to a server started with
--no-workers; then one `reverie worker` process indexes them. The rate is the steady state, from the
first image indexed to the last (the worker loads its models during its first job).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
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


def photos(n: int, folder: str) -> list[bytes]:
    sources = sorted((EVAL / folder).rglob("*.jpg"))
    out = []
    for i in range(n):
        im = Image.open(sources[i % len(sources)]).convert("RGB").resize((1600, 1200), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=88)
        out.append(buf.getvalue() + os.urandom(8))  # distinct bytes per upload
    return out


def measure(label: str, blobs: list[bytes], threads: int, model_dir: str) -> tuple[str, int, float, int]:
    data = Path(tempfile.mkdtemp(prefix="reverie-bench-index-"))
    try:
        return _measure(label, blobs, threads, model_dir, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _measure(label: str, blobs: list[bytes], threads: int, model_dir: str, data: Path) -> tuple[str, int, float, int]:
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
        db = sqlite3.connect(data / "reverie.db")
        while db.execute("SELECT count(*) FROM images WHERE status = 'UNPARSE'").fetchone()[0]:
            time.sleep(0.2)
        worker.terminate()
        worker.wait()
        failed = db.execute("SELECT count(*) FROM images WHERE status = 'FAILED'").fetchone()[0]
        assert failed == 0, f"{failed} images FAILED"
        # Steady state: from the first image done to the last (the worker loads its models on its first job).
        first, last, with_text = db.execute(
            "SELECT min(indexed_ms), max(indexed_ms), sum(ocr_text IS NOT NULL) FROM images").fetchone()
        return label, len(blobs) - 1, (last - first) / 1000, with_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--worker-threads", type=int, default=2)
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    ap.add_argument("--only", choices=("coco", "caltech", "receipts"), help="measure one set only")
    args = ap.parse_args()
    sets = {
        "coco": ("COCO photos at 1600x1200 (1.9 MP)", lambda: photos(args.photos, "coco/images")),
        "caltech": ("Caltech objects at 1600x1200", lambda: photos(args.photos, "caltech101")),
        "receipts": ("receipts (text-heavy, full OCR)", lambda: [p.read_bytes() for p in sorted((EVAL / "sroie" / "img").glob("*.jpg"))]),
    }
    rows = [measure(label, make(), args.worker_threads, args.model_dir)
            for name, (label, make) in sets.items() if args.only in (None, name)]
    print(f"machine: {os.cpu_count()} CPUs; one worker process with {args.worker_threads} indexing threads\n")
    print(f"{'set':<40} {'images':>6} {'seconds':>8} {'images/s':>9} {'with OCR text':>14}")
    for label, n, seconds, with_text in rows:
        print(f"{label:<40} {n:>6} {seconds:>8.1f} {n / seconds:>9.1f} {with_text:>14}")


if __name__ == "__main__":
    main()
