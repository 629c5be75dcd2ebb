"""The shipped COCO detector (SSD-MobileNet-v2, TensorFlow's model zoo) rebuilt as a torch module from its
frozen graph, for the ONNX export (models/export.py): torch is imported only there, in a child process.

The text graph lists the network node by node; each node's weights come from the frozen graph by name.
The module also decodes the boxes (TensorFlow's centre-size coding against the text graph's PriorBox
anchors), so the ONNX graph answers in image fractions and only non-maximum suppression is left to
models/detector.py. Checked against OpenCV 4.14's DNN on the COCO dev photos: same boxes to ~0.01.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .detector import SIDE  # the input the anchors were laid out for
from .tf_graph import frozen_constants, text_graph_nodes

BOX_SCALE = (10.0, 10.0, 5.0, 5.0)  # TF's box coder: ty, tx, th, tw are scaled by these
# MobileNetV2's last 1 x 1 convolution (1,280 channels), before the SSD's extra layers: what the detector
# has learnt of the whole picture. Read before its ReLU6, whose zeros would hide how far below its threshold
# each channel is (the bridge trained on the mean after it: Flickr8k dev R@1 0.497 against 0.512 before it).
BACKBONE = "FeatureExtractor/MobilenetV2/Conv_1/BatchNorm/batchnorm/add_1"
_SKIPPED = ("PriorBox", "DetectionOutput")  # OpenCV's layers: the anchors and decoding are done below


def _list(value: list) -> list[int]:
    return [int(v) for _, v in dict(value)["list"]]


def _floats(value: list) -> list[float]:
    return [float(v) for k, v in dict(value)["tensor"] if k == "float_val"]


class SsdGraph(torch.nn.Module):
    def __init__(self, nodes: list[dict], constants: dict[str, np.ndarray], anchors: np.ndarray, classes: int):
        super().__init__()
        skipped = {n["name"] for n in nodes if n["op"] in _SKIPPED}
        self.nodes = []
        for n in nodes:
            if n["op"] in ("Const", "Placeholder"):
                continue
            if n["name"] in skipped or any(i in skipped for i in n["inputs"]):
                skipped.add(n["name"])
            else:
                self.nodes.append(n)
        self.slots: dict[str, str] = {}
        for n in self.nodes:
            for name in n["inputs"]:
                if name in constants and name not in self.slots:
                    self.slots[name] = f"w{len(self.slots)}"
                    self.register_buffer(self.slots[name], torch.from_numpy(self._torch_layout(n["op"], constants[name])))
        self.pads = _same_pads(self.nodes, constants)
        self.register_buffer("anchors", torch.from_numpy(anchors))
        self.register_buffer("box_scale", torch.tensor(BOX_SCALE))
        self.classes = classes

    @staticmethod
    def _torch_layout(op: str, value: np.ndarray) -> np.ndarray:
        value = np.ascontiguousarray(value, dtype=np.float32)
        if op == "Conv2D" and value.ndim == 4:  # HWIO -> OIHW
            return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
        if op == "DepthwiseConv2dNative":  # H W C multiplier -> (C*multiplier) 1 H W
            h, w = value.shape[:2]
            return np.ascontiguousarray(value.transpose(2, 3, 0, 1).reshape(-1, 1, h, w))
        return value

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """pixels: N x 3 x 300 x 300, RGB 0..255. Returns boxes N x A x 4 (x0, y0, x1, y1 as fractions of
        the image), class scores N x A x classes (COCO's ids 1..90; the background column dropped) and the
        scene N x 1280: the backbone's last map (10 x 10) averaged, which the bridge reads (models/bridge.py)."""
        values: dict[str, torch.Tensor] = {"image_tensor": pixels}

        def arg(node: dict, i: int) -> torch.Tensor:
            name = node["inputs"][i]
            return getattr(self, self.slots[name]) if name in self.slots else values[name]

        for n in self.nodes:
            op, a = n["op"], n["attrs"]
            if op in ("Mul", "Sub", "Add"):
                x, y = arg(n, 0), arg(n, 1)
                out = x * y if op == "Mul" else x - y if op == "Sub" else x + y
            elif op in ("Conv2D", "DepthwiseConv2dNative"):
                x, w = arg(n, 0), arg(n, 1)
                stride = _list(a["strides"])[1]
                if n["name"] in self.pads:
                    x = F.pad(x, self.pads[n["name"]])
                out = F.conv2d(x, w, stride=stride, groups=1 if op == "Conv2D" else x.shape[1])
            elif op == "FusedBatchNorm":
                out = F.batch_norm(arg(n, 0), arg(n, 3), arg(n, 4), arg(n, 1), arg(n, 2), False, 0.0,
                                   float(dict(a["epsilon"])["f"]))
            elif op == "BiasAdd":
                out = arg(n, 0) + arg(n, 1)[None, :, None, None]
            elif op == "Relu6":
                out = torch.clamp(arg(n, 0), 0.0, 6.0)
            elif op == "Identity":
                out = arg(n, 0)
            elif op == "Flatten":  # in TF's channels-last order
                x = arg(n, 0)
                out = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
            elif op == "ConcatV2":
                out = torch.cat([values[i] for i in n["inputs"][:-1]], dim=1)
            elif op == "Sigmoid":
                out = torch.sigmoid(arg(n, 0))
            else:
                raise ValueError(f"the detector graph has an op the export does not know: {op}")
            values[n["name"]] = out
        batch = pixels.shape[0]
        codes = values["BoxEncodingPredictor/concat"].reshape(batch, -1, 4) / self.box_scale
        scores = values["ClassPredictor/concat/sigmoid"].reshape(batch, -1, self.classes + 1)[:, :, 1:]
        a = self.anchors  # y, x, h, w
        cy = codes[..., 0] * a[:, 2] + a[:, 0]
        cx = codes[..., 1] * a[:, 3] + a[:, 1]
        h = torch.exp(codes[..., 2]) * a[:, 2]
        w = torch.exp(codes[..., 3]) * a[:, 3]
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
        return boxes, scores, values[BACKBONE].mean(dim=(2, 3))


def _sides(nodes: list[dict]) -> dict[str, int]:
    """Each node's output side at 300 px, followed through the strides: the shapes are static, so the
    padding is known before any pixel flows (and exports as constants ONNX's Conv can absorb)."""
    sides = {"image_tensor": SIDE}
    for n in nodes:
        source = next((sides[i] for i in n["inputs"] if i in sides), None)
        if source is None:
            continue
        stride = _list(n["attrs"]["strides"])[1] if "strides" in n["attrs"] else 1
        sides[n["name"]] = -(-source // stride)
    return sides


def _same_pads(nodes: list[dict], constants: dict[str, np.ndarray]) -> dict[str, tuple[int, int, int, int]]:
    """(left, right, top, bottom) of every SAME convolution: TF pads the odd pixel after, not before."""
    sides, pads = _sides(nodes), {}
    for n in nodes:
        if n["op"] in ("Conv2D", "DepthwiseConv2dNative") and dict(n["attrs"]["padding"])["s"] == "SAME":
            size, kernel = sides[n["inputs"][0]], constants[n["inputs"][1]].shape[0]
            stride = _list(n["attrs"]["strides"])[1]
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            if total:
                pads[n["name"]] = (total // 2, total - total // 2, total // 2, total - total // 2)
    return pads


def _grid_sides(nodes: list[dict]) -> list[int]:
    """The side of each PriorBox's grid at 300 px (19, 10, 5, 3, 2, 1)."""
    sides = _sides(nodes)
    return [sides[n["inputs"][0]] for n in nodes if n["op"] == "PriorBox"]


def anchors(nodes: list[dict]) -> np.ndarray:
    """SSD's anchors (y, x, h, w as fractions), cell by cell and box by box, as the box predictors emit
    them: each PriorBox node lists its boxes' heights and widths in pixels of the 300 px input."""
    out = []
    priors = [n for n in nodes if n["op"] == "PriorBox"]
    for node, side in zip(priors, _grid_sides(nodes), strict=True):
        heights, widths = _floats(node["attrs"]["height"]), _floats(node["attrs"]["width"])
        centres = (np.arange(side) + 0.5) / side
        for y in centres:
            for x in centres:
                out.extend([y, x, h / SIDE, w / SIDE] for h, w in zip(heights, widths))
    return np.array(out, dtype=np.float32)


def build(frozen: Path, text_graph: Path) -> SsdGraph:
    nodes = text_graph_nodes(text_graph.read_text())
    names = {n["name"] for n in nodes}
    constants = frozen_constants(frozen.read_bytes(), {i for n in nodes for i in n["inputs"] if i not in names})
    classes = next(int(dict(n["attrs"]["num_classes"])["i"]) for n in nodes if n["op"] == "DetectionOutput") - 1
    return SsdGraph(nodes, constants, anchors(nodes), classes).eval()
