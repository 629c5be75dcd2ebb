"""The CLIP-family backend, selected by configuration and loaded from a local folder, with a tiny
random-weight model built here (no real CLIP weights ship in any package)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import Server, create_key, db_rows

torch = pytest.importorskip("torch")

WORDS = ["[PAD]", "[UNK]", "a", "red", "blue", "square", "photo", "of"]


def build_tiny_clip(folder) -> None:  # noqa: ANN001
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    visual = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4, stride=4), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 16))

    class Textual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(len(WORDS), 16)
            self.proj = torch.nn.Linear(16, 16)

        def forward(self, input_ids):  # noqa: ANN001
            return self.proj(self.emb(input_ids).mean(dim=1))

    torch.onnx.export(visual.eval(), (torch.zeros(1, 3, 32, 32),), str(folder / "visual.onnx"), input_names=["pixels"],
                      output_names=["embedding"], dynamic_axes={"pixels": {0: "n"}, "embedding": {0: "n"}}, dynamo=False)
    torch.onnx.export(Textual().eval(), (torch.zeros(1, 8, dtype=torch.int64),), str(folder / "textual.onnx"),
                      input_names=["input_ids"], output_names=["embedding"],
                      dynamic_axes={"input_ids": {0: "n"}, "embedding": {0: "n"}}, dynamo=False)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "reverie.json").write_text(json.dumps(
        {"image_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "context_length": 8, "pad_id": 0}))


def test_clip_backend_indexes_and_searches_with_the_configured_model(tmp_path):
    folder = tmp_path / "tiny-clip"
    folder.mkdir()
    build_tiny_clip(folder)
    server = Server(tmp_path / "data", "--visual-model", "clip", "--clip-path", str(folder), "--workers", "1").start()
    try:
        client = server.client(create_key(server.data, "clip"))
        images = {}
        for name, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), color).save(buf, "PNG")
            # neutral file names: a name matching the query would add a lexical match
            (images[name],) = client.upload_ok([(f"img{len(images)}.png", buf.getvalue(), "image/png")])
        for image_id in images.values():
            meta = client.wait_indexed(image_id, timeout=60)
            assert meta["status"] == "PARSE" and meta["labels"] == []
        # The stored vectors are the configured model's output for these images.
        from reverie.models.clip import ClipEmbedder

        clip = ClipEmbedder(folder)
        for name, image_id in images.items():
            (model, blob, embedding), = db_rows(server.data, "SELECT model, vector, embedding FROM image_vectors WHERE image_id=? AND space='visual'", image_id)
            # float32 bytes on SQLite, pgvector's text form on PostgreSQL
            stored = np.frombuffer(blob, "<f4") if blob is not None else np.array(json.loads(embedding), np.float32)
            thumb = Image.new("RGB", (64, 48), (220, 20, 20) if name == "red" else (20, 20, 220))
            assert model == "clip" and stored.shape == (16,)
            assert np.allclose(stored, clip.analyse([thumb])[0].vector, atol=1e-4)
        # And text queries are embedded by the same model: the order follows its cosine.
        query = clip.embed_text(["a red square"])[0]
        expected = sorted(images, key=lambda n: -float(clip.analyse([Image.new("RGB", (64, 48), (220, 20, 20) if n == "red" else (20, 20, 220))])[0].vector @ query))
        res = client.post("/search", json={"search_param": "a red square", "search_type": "BY_IMAGE", "top_k": 2}).json()
        assert res["code"] == "0000"
        assert [h["id"] for h in res["data"]["item"]] == [images[n] for n in expected]
    finally:
        server.stop()


def test_clip_backend_refuses_an_incomplete_folder(tmp_path):
    from reverie.models.clip import ClipEmbedder

    with pytest.raises(FileNotFoundError, match="lacks visual.onnx"):
        ClipEmbedder(tmp_path)
