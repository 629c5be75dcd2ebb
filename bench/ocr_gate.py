"""What the OCR gate's int8 layers and a smaller first look cost and save, and what text they would miss.

    .venv/bin/python bench/ocr_gate.py                      # every dev photo: Flickr8k, COCO, Caltech, receipts
    .venv/bin/python bench/ocr_gate.py --caltech-every 2 --budgets 27648,49152

The gate (models/ocr.py) runs the text detector, two of its layers in int8 (models/quantize.py), on a copy of
GATE_PIXELS pixels of every photo, and is one of the largest steps of indexing a photo without text
(bench/stages.py). First this compares it with the float detector reading the same copy: their median costs
and the photos on which they disagree. Then a cascade: it would look at a smaller copy first and run the
gate only where that look traces text. For each smaller look this prints its median cost, how many photos
would still go on to the gate, the expected cost a photo, and what it loses: photos in which OCR reads a word
(three letters or more) that the small look passes over, and receipts it passes over.
Photos are decoded, gated and read as indexing does; one thread.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.index.image import decode, model_view, preview_view, upright_rgb  # noqa: E402
from reverie.models import Models  # noqa: E402
from reverie.models.export import TEXT_DETECTOR, TEXT_RECOGNISER  # noqa: E402
from reverie.models.ocr import GATE_PIXELS, TextReader  # noqa: E402
from reverie.models.pixels import rgb_pixels  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
WORD = re.compile(r"[^\W\d_]{3,}")


def timed(run):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    out = run()
    return out, (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="12288,27648,49152,76800", help="pixel counts of the first look")
    ap.add_argument("--caltech-every", type=int, default=1, help="take every n-th Caltech-101 image")
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[1] / ".model-cache"))
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    sets = {"flickr8k": sorted((EVAL / "flickr8k" / "images").glob("*.jpg")),
            "coco": sorted((EVAL / "coco" / "images").glob("*.jpg")),
            "caltech": sorted((EVAL / "caltech101").glob("*/*.jpg"))[::args.caltech_every],
            "receipts": sorted((EVAL / "sroie" / "img").glob("*.jpg"))}
    with tempfile.TemporaryDirectory(prefix="reverie-bench-gate-") as folder:
        ocr = Models(Settings(data=Path(folder), model_dir=Path(args.model_dir), model_threads=1)).ocr
        float_gate = TextReader(Path(args.model_dir) / TEXT_DETECTOR, Path(args.model_dir) / TEXT_RECOGNISER)
        rows, floats = [], []
        for kind, paths in sets.items():
            for path in paths:
                data = path.read_bytes()
                pixels = rgb_pixels(upright_rgb(decode(data, 10**9, model_view)[0]))
                gate, gate_ms = timed(lambda: ocr.has_text(pixels))
                floats.append(timed(lambda: float_gate.has_text(pixels)))
                # read as the image.ocr job reads (index/image.py read_text)
                words = (gate or floats[-1][0]) and any(WORD.search(text) for text, _ in
                                                        ocr.read_lines(upright_rgb(decode(data, 10**9, preview_view)[0])))
                looks = {b: timed(lambda b=b: ocr.has_text(pixels, b)) for b in budgets}
                rows.append((kind, gate, gate_ms, words, looks))
            print(f"{kind}: {len(paths)} photos", file=sys.stderr)
    with_words = sum(r[3] for r in rows)
    gate_ms = statistics.median(r[2] for r in rows)
    print(f"{len(rows)} dev photos; the gate ({GATE_PIXELS:,} px) sees text in {sum(r[1] for r in rows)}, "
          f"OCR reads a word in {with_words}; the gate alone: {gate_ms:.1f} ms a photo\n")
    differ = [(r, f) for r, (f, _) in zip(rows, floats) if r[1] != f]
    print(f"the float detector as the gate: {statistics.median(ms for _, ms in floats):.1f} ms a photo; it and the "
          f"gate disagree on {len(differ)} photos: {sum(1 for r, f in differ if f and not r[1])} the float one "
          f"sees text in ({sum(1 for r, f in differ if r[3] and f)} with words, "
          f"{sum(1 for r, f in differ if r[0] == 'receipts')} receipts)\n")
    print(f"{'first look':>12} {'its ms':>7} {'go on to the gate':>18} {'expected ms':>12} "
          f"{'photos with words missed':>25} {'receipts missed':>16}")
    for b in budgets:
        ms = statistics.median(r[4][b][1] for r in rows)
        passed = [r for r in rows if r[4][b][0]]
        missed = sum(1 for r in rows if r[3] and not r[4][b][0])
        receipts = sum(1 for r in rows if r[0] == "receipts" and not r[4][b][0])
        print(f"{b:>12,} {ms:>7.1f} {len(passed):>10} of {len(rows):<5} {ms + gate_ms * len(passed) / len(rows):>12.1f} "
              f"{missed:>17} of {with_words:<5} {receipts:>9} of {len(sets['receipts'])}")


if __name__ == "__main__":
    main()
