"""Where indexing one photo spends its time: each step of the image job, on one thread.

    .venv/bin/python bench/stages.py                      # 60 COCO photos at 1600x1200 (1.9 MP)
    .venv/bin/python bench/stages.py --side 2000x1500 --photos 100

Runs the steps of reverie.index.image one by one on the same photos, as the image job does (the thumbnail
written to a blob folder on disk), and prints the median milliseconds of each, from a second round (the
first warms the models and the caches); then what rendering a preview on its first request costs, and an
example image's features for a search by example (Lite2's, from the decoded photo). The
classifier runs here one photo at a time; the worker runs it on batches of four (~1 ms less a photo).
What it leaves out is the job around the steps: claiming it, reading the original, and writing the row,
vectors and full-text entry (bench/index.py measures the whole).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.index.colours import photo_colours  # noqa: E402
from reverie.index.exif import read_exif  # noqa: E402
from reverie.index.image import decode, model_view, render_preview, store_thumbnail, upright_rgb  # noqa: E402
from reverie.index.objects import described  # noqa: E402
from reverie.models.pixels import rgb_pixels  # noqa: E402
from reverie.models import Models  # noqa: E402
from reverie.store.blobs import FileBlobStore, original_key  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


class BlobsOnly:
    """What the image steps need of a Store: somewhere to write the files, and the settings."""

    def __init__(self, folder: Path, settings: Settings):
        self.blobs = FileBlobStore(folder)
        self.settings = settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--side", default="1600x1200")
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    args = ap.parse_args()
    side = tuple(int(v) for v in args.side.split("x"))
    blobs = []
    for path in sorted((EVAL / "coco" / "images").glob("*.jpg"))[: args.photos]:
        buf = io.BytesIO()
        Image.open(path).convert("RGB").resize(side, Image.Resampling.BICUBIC).save(buf, "JPEG", quality=88)
        blobs.append(buf.getvalue())
    with tempfile.TemporaryDirectory(prefix="reverie-bench-stages-") as folder:
        settings = Settings(data=Path(folder), model_dir=Path(args.model_dir), model_threads=1)
        models, store = Models(settings), BlobsOnly(Path(folder) / "blobs", settings)
        for _ in range(2):
            times: dict[str, list[float]] = {}
            rendering: list[float] = []
            example: list[float] = []

            def timed(step: str, run):  # noqa: ANN001, ANN202
                start = time.perf_counter()
                out = run()
                times.setdefault(step, []).append((time.perf_counter() - start) * 1000)
                return out

            for i, data in enumerate(blobs):
                im, _ = timed("decode (DCT-scaled to the models' size)", lambda: decode(data, 100_000_000, model_view))
                timed("EXIF", lambda: read_exif(im))
                pixels = timed("upright RGB", lambda: rgb_pixels(upright_rgb(im)))
                timed("thumbnail (resize, JPEG, write)", lambda: store_thumbnail(store, i, pixels))
                found = timed("object detector (int8), the bridge's scene", lambda: models.detector.detect([pixels])[0])
                timed("Lite0 + Lite2 + ConSE + bridge vector", lambda: models.visual.analyse([pixels], found.scene[None]))
                timed("object and photo colours", lambda: (described(pixels, found.objects), photo_colours(pixels)))
                timed("OCR gate (text detector)", lambda: models.ocr.has_text(pixels))
                sha256 = f"{i:064x}"
                store.blobs.put_bytes(original_key(sha256), data)
                start = time.perf_counter()
                render_preview(store, sha256, f"previews/{i}.jpg")
                rendering.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                models.visual.features([pixels])
                example.append((time.perf_counter() - start) * 1000)
    medians = {step: statistics.median(ms) for step, ms in times.items()}
    print(f"machine: {os.cpu_count()} CPUs; one thread; {len(blobs)} COCO photos at {args.side}\n")
    for step, ms in medians.items():
        print(f"{step:<45} {ms:6.1f} ms")
    print(f"{'total':<45} {sum(medians.values()):6.1f} ms  ({1000 / sum(medians.values()):.0f} photos/s on one core)")
    print(f"\nnot part of indexing: the preview, on its first request (decode, resize, JPEG, write) "
          f"{statistics.median(rendering):.1f} ms; an example's features for a search by example "
          f"{statistics.median(example):.1f} ms")


if __name__ == "__main__":
    main()
