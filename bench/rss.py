"""Peak memory (RSS) of one process holding every default model and using each of them.

    .venv/bin/python bench/rss.py

Loads the visual model (EfficientNet-Lite0 + MiniLM + the bridge), the object detector, the face models, the
OCR engine, the geocoder and Whisper, as a `reverie worker` does, then analyses, looks for objects in and
reads 20 photos and 10 receipts from ../shared/eval (splitting the words OCR glued), finds the faces of 10 dev faces, transcribes 30 s of the
sonnet reading, and embeds 100 English and 20 German and French text queries (MiniLM, mpnet and the
multilingual encoder).
Prints the peak RSS (getrusage) after each stage.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.index.glued_words import unglued  # noqa: E402
from reverie.index.places import place_name  # noqa: E402
from reverie.models import Models  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    model_dir = os.environ.get("REVERIE_MODEL_DIR", str(Path(__file__).resolve().parents[1] / ".model-cache"))
    models = Models(Settings(data=Path(tempfile.mkdtemp()), model_dir=Path(model_dir)))
    rows = [("python + reverie imported", peak_mb())]
    models.visual
    models.detector
    models.faces
    models.ocr
    models.speech
    place_name(43.77, 11.25)
    rows.append(("all models loaded", peak_mb()))
    for p in sorted((EVAL / "coco" / "images").glob("*.jpg"))[:20]:
        im = Image.open(p).convert("RGB")
        models.visual.analyse([im])
        models.detector.detect([np.asarray(im)])
        models.ocr.read(im)
    for p in sorted((EVAL / "faces").rglob("*.jpg"))[:10]:
        models.faces.find(np.asarray(Image.open(p).convert("RGB")))
    for p in sorted((EVAL / "sroie" / "img").glob("*.jpg"))[:10]:
        im = Image.open(p).convert("RGB")
        models.visual.analyse([im])
        unglued([text for text, _ in models.ocr.read(im)])  # loads the word counts (index/glued_words.py)
    rows.append(("after 20 photos + 10 faces + 10 receipts", peak_mb()))
    from faster_whisper import decode_audio

    audio = decode_audio(str(EVAL / "speech" / "sonnet1" / "audio.mp3"))[: 30 * 16_000]
    models.speech.words(audio, 0.0, models.speech.language_of(audio))
    rows.append(("after 30 s of speech", peak_mb()))
    for i in range(100):
        models.visual.embed_text([f"a photo of something number {i}"])
    rows.append(("after 100 text queries", peak_mb()))
    for i in range(10):
        models.visual.embed_text([f"ein Hund am Strand Nummer {i}", f"un chat sur la table numéro {i}"])
    rows.append(("after 20 German and French queries", peak_mb()))
    print(f"machine: {os.cpu_count()} CPUs; peak RSS of one process (MB)")
    for label, mb in rows:
        print(f"{label:<42} {mb:8.0f}")


if __name__ == "__main__":
    main()
