"""Indexing throughput end-to-end (decode, EXIF, thumbnail, models, OCR gate, index write; a preview is
rendered on its first request, not here).

    .venv/bin/python bench/index.py                 # 200 photos without text, 200 + 200 of 1.9 MP, 40 receipts
    .venv/bin/python bench/index.py --photos 400 --worker-threads 2 --only plain

Photos without text: COCO and Caltech-101 images of ../shared/eval scaled to 1600x1200 (1.9 MP), or to
--side, in which the OCR gate finds no text (screened with the gate itself before the upload; their
indexing still runs the gate). Mixed photos: the COCO images scaled the same (a few hold signs or writing,
which get full OCR), and Caltech-101 objects (some classes carry print: signs, bills, book covers).
Text-heavy: the SROIE receipt scans (full OCR). Uploads go to a server started with
--no-workers; then one `reverie worker` process indexes them. The rate is the steady state: the images
stored after the first write, over the time from it to the last (the worker loads its models during its
first job).
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


def scaled(path: Path, side: tuple[int, int]) -> Image.Image:
    return Image.open(path).convert("RGB").resize(side, Image.Resampling.BICUBIC)


def jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=88)
    return buf.getvalue() + os.urandom(8)  # distinct bytes per upload


def photos(n: int, folder: str, side: tuple[int, int]) -> list[bytes]:
    sources = sorted((EVAL / folder).rglob("*.jpg"))
    return [jpeg(scaled(sources[i % len(sources)], side)) for i in range(n)]


def photos_without_text(n: int, side: tuple[int, int], model_dir: str) -> list[bytes]:
    """Distinct COCO and Caltech photos in which the OCR gate finds no text, decoded as indexing does."""
    from reverie.config import Settings
    from reverie.index.image import decode, model_view, upright_rgb
    from reverie.models import Models
    from reverie.models.pixels import rgb_pixels

    gate = Models(Settings(data=Path(tempfile.gettempdir()), model_dir=Path(model_dir))).ocr
    out = []
    for path in sorted((EVAL / "coco" / "images").rglob("*.jpg")) + sorted((EVAL / "caltech101").rglob("*.jpg")):
        data = jpeg(scaled(path, side))
        if not gate.has_text(rgb_pixels(upright_rgb(decode(data, 10**9, model_view)[0]))):
            out.append(data)
        if len(out) == n:
            return out
    raise SystemExit(f"only {len(out)} photos without text in ../shared/eval; ask for fewer")


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
                               f"m = Models(Settings(data={str(data)!r}, model_dir={model_dir!r})); m.visual; m.ocr; m.detector"], env=env)
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
        # Steady state: the images done after the first write, over the time since it (the worker loads its
        # models on its first job; a batch of images shares one write time).
        first, last, with_text = db.execute(
            "SELECT min(indexed_ms), max(indexed_ms), sum(ocr_text IS NOT NULL) FROM images").fetchone()
        after_first = db.execute("SELECT count(*) FROM images WHERE indexed_ms > ?", (first,)).fetchone()[0]
        return label, after_first, (last - first) / 1000, with_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--worker-threads", type=int, default=2)
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    ap.add_argument("--side", default="1600x1200", help="photo size, WIDTHxHEIGHT (default 1600x1200, 1.9 MP)")
    ap.add_argument("--only", choices=("plain", "coco", "caltech", "receipts"), help="measure one set only")
    args = ap.parse_args()
    side = tuple(int(v) for v in args.side.split("x"))
    mp = f"{args.side} ({side[0] * side[1] / 1e6:.1f} MP)"
    sets = {
        "plain": (f"photos without text at {mp}", lambda: photos_without_text(args.photos, side, args.model_dir)),
        "coco": (f"COCO photos at {mp}", lambda: photos(args.photos, "coco/images", side)),
        "caltech": (f"Caltech objects at {mp}", lambda: photos(args.photos, "caltech101", side)),
        "receipts": ("receipts (text-heavy, full OCR)", lambda: [p.read_bytes() for p in sorted((EVAL / "sroie" / "img").glob("*.jpg"))]),
    }
    rows = [measure(label, make(), args.worker_threads, args.model_dir)
            for name, (label, make) in sets.items() if args.only in (None, name)]
    print(f"machine: {os.cpu_count()} CPUs; one worker process with {args.worker_threads} indexing threads\n")
    print(f"{'set':<45} {'images':>6} {'seconds':>8} {'images/s':>9} {'with OCR text':>14}")
    for label, n, seconds, with_text in rows:
        print(f"{label:<45} {n:>6} {seconds:>8.1f} {n / seconds:>9.1f} {with_text:>14}")


if __name__ == "__main__":
    main()
