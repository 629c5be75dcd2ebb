"""Export CLIP weights a user has on disk into the ONNX folder the CLIP backend reads (models/clip.py).

Two forms are accepted, the ones these weights come in:

- a folder in OpenCLIP's Hugging Face layout (what `laion/CLIP-ViT-B-32-laion2B-s34B-b79K` and its kin
  hold): `open_clip_config.json`, `open_clip_model.safetensors` or `open_clip_pytorch_model.bin`, and the
  tokenizer as `tokenizer.json`;
- a checkpoint file (`.safetensors`, `.bin`, `.pt`, OpenAI's TorchScript archives too) with `--arch`
  naming its architecture, and a `tokenizer.json` beside it or given with `--tokenizer`.

The export is checked before anything uses it: the ONNX towers must give the torch towers' embeddings.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .clip import ClipEmbedder

# The head width of the image tower where it is not 64, by OpenCLIP's architecture names (the tensors do
# not show the head count). A name with "-quickgelu" uses OpenAI's activation, as OpenAI's own weights do.
ARCHS = {"ViT-B-32": {}, "ViT-B-16": {}, "ViT-L-14": {}, "ViT-L-14-336": {}, "ViT-H-14": {"head_width": 80},
         "ViT-g-14": {"head_width": 88}, "ViT-bigG-14": {"head_width": 104}}
OPENAI_MEAN, OPENAI_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
FOLDER_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin")
END_OF_TEXT = "<|endoftext|>"
# Sentences the export is checked on: punctuation, digits, accents, and one longer than the context.
CHECK_TEXTS = ["a photo of a dog", "Two children play on the beach!", "Café crème, 5 € à Paris", "word " * 100]
TOLERANCE = 1e-3  # cosine distance allowed between the ONNX and the torch embedding of one input


def architecture(name: str) -> dict:
    """OpenCLIP's model config for a known architecture name, as far as the export needs it."""
    base = name.removesuffix("-quickgelu")
    if base not in ARCHS:
        raise ValueError(f"--arch {name!r} is not a CLIP ViT architecture this export knows "
                         f"({', '.join(ARCHS)}, each also with -quickgelu)")
    return {"vision_cfg": ARCHS[base], "quick_gelu": name.endswith("-quickgelu")}


def load_state(path: Path) -> tuple[dict, bool]:
    """A checkpoint's tensors, and whether it is one of OpenAI's TorchScript archives (QuickGELU)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path)), False
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # OpenAI's released .pt files are TorchScript archives
        try:
            return {k: v for k, v in torch.jit.load(str(path), map_location="cpu").state_dict().items()}, True
        except Exception as exc:
            raise ValueError(f"{path} is neither a torch checkpoint nor a TorchScript archive: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a training checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a dictionary of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}, False


def read_source(weights: Path, arch: str | None, tokenizer: Path | None) -> tuple[dict, dict, dict, Path, Path]:
    """(tensors, model config, preprocessing config, tokenizer.json, weights file) from either form of weights."""
    if weights.is_dir():
        config_file = weights / "open_clip_config.json"
        if not config_file.is_file():
            raise ValueError(f"{weights} has no open_clip_config.json (OpenCLIP's Hugging Face layout); "
                             "pass a checkpoint file and --arch instead")
        found = [weights / f for f in FOLDER_WEIGHTS if (weights / f).is_file()]
        if not found:
            raise ValueError(f"{weights} holds none of {', '.join(FOLDER_WEIGHTS)}")
        config = json.loads(config_file.read_text())
        source = found[0]
        state, _ = load_state(source)
        model_cfg, preprocess = config.get("model_cfg", {}), config.get("preprocess_cfg", {})
        if arch:
            model_cfg = {**model_cfg, **architecture(arch)}
    else:
        if not arch:
            raise ValueError("--arch is required with a checkpoint file (e.g. --arch ViT-B-32)")
        model_cfg, preprocess = architecture(arch), {}
        source = weights
        state, openai = load_state(weights)
        model_cfg["quick_gelu"] = model_cfg["quick_gelu"] or openai
    tokenizer = tokenizer or (weights if weights.is_dir() else weights.parent) / "tokenizer.json"
    if not tokenizer.is_file():
        raise ValueError(f"no tokenizer at {tokenizer}: pass --tokenizer with the model's tokenizer.json "
                         "(its Hugging Face repository has one)")
    return state, model_cfg, preprocess, tokenizer, source


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def export_clip(weights: Path, arch: str | None, models_dir: Path, tokenizer: Path | None = None,
                echo: Callable[[str], None] = print) -> Path:
    """Write visual.onnx, textual.onnx, tokenizer.json and reverie.json to a folder of `models_dir` named by
    the weights' digest, and return it. Nothing is left there unless the export checked out."""
    import torch
    from tokenizers import Tokenizer

    from .clip_vit import build

    state, model_cfg, preprocess, tokenizer_file, source = read_source(weights, arch, tokenizer)
    # The name is the vectors' too, so it covers all that makes the model: the weights, and the config read
    # beside them (the same tensors with QuickGELU are another model), the preprocessing and the tokenizer.
    made_of = json.dumps([file_digest(source), file_digest(tokenizer_file), arch or "", model_cfg, preprocess],
                         sort_keys=True, default=str)
    name = f"clip-{hashlib.sha256(made_of.encode()).hexdigest()[:12]}"
    out = models_dir / name
    try:
        end_id = Tokenizer.from_file(str(tokenizer_file)).token_to_id(END_OF_TEXT)
    except Exception as exc:
        raise ValueError(f"{tokenizer_file} is not a tokenizers file (a Hugging Face tokenizer.json): {exc}") from exc
    if end_id is None:
        raise ValueError(f"{tokenizer_file} has no {END_OF_TEXT} token: not CLIP's tokenizer")
    vision, text, shape = build(state, model_cfg, end_id)
    echo(f"CLIP ViT: {shape.vision.layers} image layers of width {shape.vision.width}, patch {shape.patch}, "
         f"{shape.image_size} px; {shape.text.layers} text layers; {shape.embed_dim}-d embeddings")
    config = {"image_size": shape.image_size, "mean": [float(v) for v in preprocess.get("mean", OPENAI_MEAN)],
              "std": [float(v) for v in preprocess.get("std", OPENAI_STD)], "context_length": shape.context_length,
              "pad_id": 0, "name": name, "weights": str(source.resolve()), "arch": arch or ""}

    # A staging folder of its own: another export of the same weights may run at once (a second machine on a
    # shared model folder, or a test pass beside another), and must neither delete nor read this one's files.
    staging = out.with_name(f"{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    staging.mkdir(parents=True)
    try:
        shutil.copyfile(tokenizer_file, staging / "tokenizer.json")
        (staging / "reverie.json").write_text(json.dumps(config, indent=1))
        pixels = torch.randn(2, 3, shape.image_size, shape.image_size)
        with torch.no_grad():
            torch.onnx.export(vision, (pixels,), str(staging / "visual.onnx"), input_names=["pixels"],
                              output_names=["embedding"], dynamic_axes={"pixels": {0: "n"}, "embedding": {0: "n"}},
                              opset_version=17, dynamo=False)
            example = torch.full((2, shape.context_length), end_id, dtype=torch.int64)  # only its shape is traced
            torch.onnx.export(text, (example,), str(staging / "textual.onnx"), input_names=["input_ids"],
                              output_names=["embedding"], dynamic_axes={"input_ids": {0: "n"}, "embedding": {0: "n"}},
                              opset_version=17, dynamo=False)
            embedder = ClipEmbedder(staging)
            texts = text(torch.from_numpy(embedder.token_ids(CHECK_TEXTS))).numpy()
            (images,) = embedder.visual.run(None, {"pixels": pixels.numpy()})
            for what, a, b in (("image", images, vision(pixels).numpy()), ("text", embedder.embed_text(CHECK_TEXTS), texts)):
                a = a / np.linalg.norm(a, axis=1, keepdims=True)
                b = b / np.linalg.norm(b, axis=1, keepdims=True)
                if float(np.max(1.0 - np.sum(a * b, axis=1))) > TOLERANCE:
                    raise RuntimeError(f"the exported {what} tower disagrees with the checkpoint's; nothing was switched")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        staging.rename(out)
    except OSError:  # already there: the same weights (the name is their digest), exported and checked before
        shutil.rmtree(staging, ignore_errors=True)
        if not (out / "reverie.json").exists():
            raise
    echo(f"exported to {out}")
    return out
