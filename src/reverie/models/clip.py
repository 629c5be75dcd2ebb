"""A CLIP-family backend (OpenCLIP, SigLIP, ...) for users who have the weights on disk.

It reads a folder exported to ONNX (see the README, "A stronger visual model"):

    visual.onnx      pixels (N, 3, S, S) float32  -> image embeddings (N, D)
    textual.onnx     input_ids (N, L) int64       -> text embeddings (N, D)
    tokenizer.json   a Hugging Face `tokenizers` file
    reverie.json     {"image_size": S, "mean": [..3], "std": [..3], "context_length": L, "pad_id": 0,
                      "name": "clip-…" (optional; names the vectors it makes, so a re-index can tell models apart)}

`reverie models add-clip` writes such a folder from OpenAI or OpenCLIP weights (models/clip_export.py).

Image-to-image similarity uses the same image embedding; labels stay empty (CLIP has no classes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from tokenizers import Tokenizer

from .pixels import rgb_pixels
from .runtime import session
from .vectors import normalise
from .visual import ImageAnalysis

REQUIRED = ("visual.onnx", "textual.onnx", "tokenizer.json", "reverie.json")


def clip_name(folder: Path) -> str:
    """What an exported CLIP model's vectors are stored under (the vectors table's model column holds 32)."""
    return str(json.loads((folder / "reverie.json").read_text()).get("name", "clip"))[:32]


class ClipEmbedder:
    def __init__(self, folder: Path, threads: int = 1):
        missing = [f for f in REQUIRED if not (folder / f).exists()]
        if missing:
            raise FileNotFoundError(f"CLIP model folder {folder} lacks {', '.join(missing)} (see README: a stronger visual model)")
        self.config = json.loads((folder / "reverie.json").read_text())
        self.name = clip_name(folder)
        self.visual = session(folder / "visual.onnx", threads)
        self.textual = session(folder / "textual.onnx", threads)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        length = int(self.config["context_length"])
        self.tokenizer.enable_truncation(length)
        self.tokenizer.enable_padding(length=length, pad_id=int(self.config.get("pad_id", 0)))
        self.dim = int(self.visual.get_outputs()[0].shape[-1])
        self.side = int(self.config["image_size"])
        self.mean = np.array(self.config["mean"], np.float32)[:, None, None]
        self.std = np.array(self.config["std"], np.float32)[:, None, None]

    def _pixels(self, im: Image.Image | np.ndarray) -> np.ndarray:
        im = Image.fromarray(rgb_pixels(im))  # OpenCLIP's own preprocessing: bicubic, then a centre crop
        w, h = im.size
        s = self.side / min(w, h)
        im = im.resize((max(self.side, round(w * s)), max(self.side, round(h * s))), Image.Resampling.BICUBIC)
        left, top = (im.width - self.side) // 2, (im.height - self.side) // 2
        im = im.crop((left, top, left + self.side, top + self.side))
        return (np.asarray(im, np.float32).transpose(2, 0, 1) / 255.0 - self.mean) / self.std

    def analyse(self, images: list[Image.Image | np.ndarray], scenes: np.ndarray | None = None) -> list[ImageAnalysis]:
        return [ImageAnalysis(vector=e, features=e, labels=[]) for e in self.features(images)]

    def features(self, images: list[Image.Image | np.ndarray]) -> np.ndarray:
        batch = np.stack([self._pixels(im) for im in images]).astype(np.float32)
        (emb,) = self.visual.run(None, {self.visual.get_inputs()[0].name: batch})
        return normalise(emb).astype(np.float32)

    def token_ids(self, texts: list[str]) -> np.ndarray:
        return np.array([e.ids for e in self.tokenizer.encode_batch(texts)], dtype=np.int64)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        (emb,) = self.textual.run(None, {self.textual.get_inputs()[0].name: self.token_ids(texts)})
        return normalise(emb).astype(np.float32)

    def similarity(self, cosines: np.ndarray, expanded: bool = False) -> np.ndarray:
        return np.clip(cosines, 0.0, 1.0)  # unmeasured: no CLIP weights are here to measure with

    def background(self) -> None:
        return None  # a CLIP export comes without a picture collection to draw ordinary vectors from
