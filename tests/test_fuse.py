"""The rewrites of RapidOCR's graphs (models/fuse.py): each on a small graph built here, then the shipped
detector and recogniser against their rewritten copies on real receipts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import EVAL, stack_free
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from reverie.models.export import EXPORTED, TEXT_DETECTOR, TEXT_GATE, TEXT_RECOGNISER, _shipped_ocr_graph, export_all
from reverie.models.fuse import fuse_graph
from reverie.models.ocr import TextReader

pytestmark = stack_free  # the models on their own

RNG = np.random.default_rng(7)


def _const(name: str, value) -> onnx.NodeProto:  # noqa: ANN001
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _conv(name: str, x: str, out: str, channels: int, kernel: int, pads: int = 0, group: int = 1) -> list:
    weight = RNG.normal(0, 0.3, (channels, channels // group, kernel, kernel))
    return [_const(f"{name}_w", weight), _const(f"{name}_b", RNG.normal(0, 0.1, channels)),
            helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], kernel_shape=[kernel, kernel],
                             pads=[pads] * 4, group=group)]


def _affine(name: str, x: str, out: str, scale: float, shift: float) -> list:
    return [_const(f"{name}_s", scale), _const(f"{name}_t", shift),
            helper.make_node("Mul", [x, f"{name}_s"], [f"{name}_m"]),
            helper.make_node("Add", [f"{name}_m", f"{name}_t"], [out])]


def _hard_swish_spelled_out(name: str, x: str, out: str) -> list:
    return [_const(f"{name}_3", 3.0), _const(f"{name}_0", 0.0), _const(f"{name}_6", 6.0),
            helper.make_node("Add", [x, f"{name}_3"], [f"{name}_a"]),
            helper.make_node("Clip", [f"{name}_a", f"{name}_0", f"{name}_6"], [f"{name}_c"]),
            helper.make_node("Mul", [x, f"{name}_c"], [f"{name}_m"]),
            helper.make_node("Div", [f"{name}_m", f"{name}_6"], [out])]


def _save(nodes: list, path: Path, channels: int = 8) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # compare the graphs as written
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node if n.op_type != "Constant")


def test_each_rewrite_computes_what_the_graph_did(tmp_path):
    nodes = (_conv("c1", "x", "c1_out", 8, 3, pads=1)
             + _affine("a1", "c1_out", "a1_out", 1.7, -0.4)  # after a conv: folds into it
             + _hard_swish_spelled_out("h1", "a1_out", "h1_out")
             + _affine("a2", "h1_out", "a2_out", 0.8, 0.3)  # before a 1x1 conv: folds into it
             + _conv("c2", "a2_out", "c2_out", 8, 1)
             + _hard_swish_spelled_out("h2", "c2_out", "h2_out")
             + _affine("a3", "h2_out", "a3_out", 1.3, 0.5)  # before a padded depthwise conv: must stay
             + _conv("c3", "a3_out", "y", 8, 3, pads=1, group=8))
    source, dest = _save(nodes, tmp_path / "in.onnx"), tmp_path / "out.onnx"
    counts = fuse_graph(source, dest)
    assert counts == {"affine after conv": 1, "hard-swish": 2, "affine before 1x1 conv": 1}
    assert _ops(dest) == Counter(Conv=3, HardSwish=2, Mul=1, Add=1)
    x = RNG.normal(0, 2, (1, 8, 12, 12)).astype(np.float32)
    before, after = _run(source, x), _run(dest, x)
    assert np.abs(after - before).max() < 1e-4 * np.abs(before).max()


def test_an_affine_whose_output_is_also_used_elsewhere_stays(tmp_path):
    nodes = (_conv("c1", "x", "c1_out", 8, 1) + _affine("a1", "c1_out", "a1_out", 2.0, 1.0)
             + [helper.make_node("Relu", ["c1_out"], ["r"])]  # the conv's raw output has a second reader
             + _conv("c2", "a1_out", "c2_out", 8, 3, pads=1)
             + [helper.make_node("Add", ["c2_out", "r"], ["y"])])
    source, dest = _save(nodes, tmp_path / "in.onnx"), tmp_path / "out.onnx"
    assert fuse_graph(source, dest)["affine after conv"] == 0
    x = RNG.normal(0, 1, (1, 8, 12, 12)).astype(np.float32)
    assert np.allclose(_run(source, x), _run(dest, x), atol=1e-5)


@pytest.fixture(scope="module")
def fused(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("fused")
    out = {}
    for task in ("det", "rec"):
        counts = fuse_graph(_shipped_ocr_graph(task), folder / f"{task}.onnx")
        assert min(counts.values()) >= 10, counts  # the patterns are found in the graphs as shipped
        out[task] = (_shipped_ocr_graph(task), folder / f"{task}.onnx")
    return out


def test_the_rewritten_detector_and_recogniser_agree_with_the_shipped_ones(fused):
    receipt = Image.open(sorted((EVAL / "sroie" / "img").glob("*.jpg"))[0]).convert("RGB")
    page = np.asarray(receipt.resize((384, 640)), np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
    line = np.asarray(receipt.crop((0, 100, receipt.width, 160)).resize((320, 48)), np.float32)
    inputs = {"det": page, "rec": line.transpose(2, 0, 1)[None] / 127.5 - 1.0}
    for task, (shipped, rewritten) in fused.items():
        before, after = _run(shipped, inputs[task]), _run(rewritten, inputs[task])
        assert np.abs(after - before).max() < 1e-3, task
        assert _ops(rewritten)["Clip"] == 0 and _ops(rewritten)["Div"] < _ops(shipped)["Div"]


def test_the_rewritten_graphs_read_the_same_text(fused):
    shipped = TextReader(fused["det"][0], fused["rec"][0])
    rewritten = TextReader(fused["det"][1], fused["rec"][1])
    for path in sorted((EVAL / "sroie" / "img").glob("*.jpg"))[:3]:
        receipt = Image.open(path).convert("RGB")
        receipt.thumbnail((1280, 1280))
        pixels = np.asarray(receipt)
        lines = [text for text, _ in shipped.read_lines(pixels)]
        assert len(lines) > 5 and [text for text, _ in rewritten.read_lines(pixels)] == lines, path.name


def test_a_cache_made_before_the_rewrites_gets_only_them(tmp_path):
    made_before = [name for name in EXPORTED if name not in (TEXT_DETECTOR, TEXT_GATE, TEXT_RECOGNISER)]
    for name in made_before:
        (tmp_path / name).write_bytes(b"exported earlier")
    export_all(tmp_path)  # would need torch, and overwrite these, if it exported them again
    assert all((tmp_path / name).read_bytes() == b"exported earlier" for name in made_before)
    assert _ops(tmp_path / TEXT_DETECTOR)["HardSwish"] > 0 and _ops(tmp_path / TEXT_RECOGNISER)["HardSwish"] > 0
    assert _ops(tmp_path / TEXT_GATE)["DequantizeLinear"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*EXPORTED, ".export.lock"])
