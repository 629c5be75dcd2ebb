"""CLIP's ViT image and text towers in plain torch, built from a checkpoint's own tensors, for exporting
weights a user has on disk (OpenAI's CLIP, LAION's OpenCLIP) to the ONNX folder models/clip.py reads.

Plain torch because OpenCLIP imports torchvision, and the torchvision on PyPI is built for CUDA torch: beside
the CPU torch Reverie pins it fails to import ("operator torchvision::nms does not exist"). The layout is the
one both projects save: `visual.conv1`, `visual.class_embedding`, `visual.transformer.resblocks.N.*`, ...,
`token_embedding`, `transformer.resblocks.N.*`, `ln_final`, `text_projection`. Every size is read from the
tensors; what they cannot tell (heads, the activation) comes from the architecture's config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TowerShape:
    width: int
    layers: int
    heads: int


@dataclass(frozen=True)
class ClipShape:
    vision: TowerShape
    text: TowerShape
    patch: int
    image_size: int
    context_length: int
    vocab_size: int
    embed_dim: int
    quick_gelu: bool


def _layers(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def read_shape(state: dict, config: dict) -> ClipShape:
    """The sizes of a checkpoint's towers. `config` is OpenCLIP's model config (embed_dim, vision_cfg,
    text_cfg, quick_gelu); its head counts are used, as the tensors do not show them."""
    vision_cfg, text_cfg = config.get("vision_cfg", {}), config.get("text_cfg", {})
    missing = [k for k in ("visual.conv1.weight", "visual.proj", "token_embedding.weight", "text_projection") if k not in state]
    if missing:
        raise ValueError(f"not a CLIP ViT checkpoint in OpenAI/OpenCLIP layout: no {', '.join(missing)} "
                         "(ResNet, SigLIP and Hugging Face transformers layouts are not supported)")
    v_width, _, patch, _ = state["visual.conv1.weight"].shape
    grid = math.isqrt(state["visual.positional_embedding"].shape[0] - 1)
    t_width = state["token_embedding.weight"].shape[1]
    vision = TowerShape(v_width, _layers(state, "visual.transformer.resblocks."),
                        v_width // int(vision_cfg.get("head_width", 64)))
    text = TowerShape(t_width, _layers(state, "transformer.resblocks."), int(text_cfg.get("heads", t_width // 64)))
    return ClipShape(vision, text, patch, patch * grid, state["positional_embedding"].shape[0],
                     state["token_embedding.weight"].shape[0], state["text_projection"].shape[1],
                     bool(config.get("quick_gelu", False)))


class QuickGELU(nn.Module):
    """OpenAI's approximation, which their weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    """Multi-head self-attention over nn.MultiheadAttention's tensors, written out so that it exports to
    ONNX as plain matrix products."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, 1.0 / math.sqrt(width // heads)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = (x @ self.in_proj_weight.T + self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(n, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * self.scale
        if mask is not None:
            scores = scores + mask
        out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, width)
        return self.out_proj(out)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, quick_gelu: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", QuickGELU() if quick_gelu else nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, shape: TowerShape, quick_gelu: bool):
        super().__init__()
        self.resblocks = nn.ModuleList(Block(shape.width, shape.heads, quick_gelu) for _ in range(shape.layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisionTower(nn.Module):
    def __init__(self, shape: ClipShape):
        super().__init__()
        width = shape.vision.width
        self.conv1 = nn.Conv2d(3, width, shape.patch, stride=shape.patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty((shape.image_size // shape.patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(shape.vision, shape.quick_gelu)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, shape.embed_dim))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        return self.ln_post(self.transformer(x)[:, 0]) @ self.proj


class TextTower(nn.Module):
    """Token ids to the embedding at the end-of-text token (its first occurrence, whatever pads after it)."""

    def __init__(self, shape: ClipShape, end_id: int):
        super().__init__()
        self.end_id = end_id
        self.token_embedding = nn.Embedding(shape.vocab_size, shape.text.width)
        self.positional_embedding = nn.Parameter(torch.empty(shape.context_length, shape.text.width))
        self.transformer = Transformer(shape.text, shape.quick_gelu)
        self.ln_final = nn.LayerNorm(shape.text.width)
        self.text_projection = nn.Parameter(torch.empty(shape.text.width, shape.embed_dim))
        causal = torch.full((shape.context_length, shape.context_length), float("-inf")).triu(1)
        self.register_buffer("causal", causal, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        x = self.ln_final(self.transformer(x, self.causal[:length, :length]))
        end = (ids == self.end_id).to(torch.int64).argmax(dim=-1)
        return x[torch.arange(x.shape[0]), end] @ self.text_projection


def build(state: dict, config: dict, end_id: int) -> tuple[VisionTower, TextTower, ClipShape]:
    """Both towers with the checkpoint's tensors loaded; every tensor must be used and none may be missing."""
    shape = read_shape(state, config)
    vision, text = VisionTower(shape).eval(), TextTower(shape, end_id).eval()
    vision.load_state_dict({k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")})
    unused = {"logit_scale", "logit_bias", "attn_mask", "input_resolution", "context_length", "vocab_size"}
    text.load_state_dict({k: v for k, v in state.items() if not k.startswith("visual.") and k not in unused})
    return vision, text, shape
