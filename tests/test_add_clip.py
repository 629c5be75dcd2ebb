"""`reverie models add-clip`: CLIP weights on disk become the library's visual model in one command (export,
switch, embed again), and `reverie models use-bundled` switches back. The weights are random, written here
in OpenCLIP's layout (no real CLIP weights ship in any package); models/clip_vit.py was checked against
OpenCLIP itself when it was written (the closing note of the issue says how)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import EVAL, create_key, db_rows, reverie, stack_free

torch = pytest.importorskip("torch")

PHOTOS = [EVAL / "coco" / "images" / "000000054718.jpg", EVAL / "flickr8k" / "images" / "1392272228_cf104086e6.jpg"]
WORDS = ["<|startoftext|>", "<|endoftext|>", "[UNK]", "a", "red", "blue", "photo", "of", "three", "elephants", "dog"]
WIDTH, LAYERS, PATCH, SIDE, EMBED, CONTEXT = 64, 2, 16, 64, 16, 16


def write_openclip_folder(folder, quick_gelu: bool = False) -> None:  # noqa: ANN001
    """A random-weight CLIP ViT saved as OpenCLIP saves one for the Hugging Face hub, with a word-level
    tokenizer that frames text with start and end of text as CLIP's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)

    def rand(*shape):  # noqa: ANN002, ANN202
        return torch.randn(*shape, generator=g) * 0.05

    def tower(prefix: str) -> dict:
        state = {}
        for i in range(LAYERS):
            p = f"{prefix}transformer.resblocks.{i}."
            state |= {p + "ln_1.weight": 1 + rand(WIDTH), p + "ln_1.bias": rand(WIDTH),
                      p + "attn.in_proj_weight": rand(3 * WIDTH, WIDTH), p + "attn.in_proj_bias": rand(3 * WIDTH),
                      p + "attn.out_proj.weight": rand(WIDTH, WIDTH), p + "attn.out_proj.bias": rand(WIDTH),
                      p + "ln_2.weight": 1 + rand(WIDTH), p + "ln_2.bias": rand(WIDTH),
                      p + "mlp.c_fc.weight": rand(4 * WIDTH, WIDTH), p + "mlp.c_fc.bias": rand(4 * WIDTH),
                      p + "mlp.c_proj.weight": rand(WIDTH, 4 * WIDTH), p + "mlp.c_proj.bias": rand(WIDTH)}
        return state

    state = {"visual.conv1.weight": rand(WIDTH, 3, PATCH, PATCH), "visual.class_embedding": rand(WIDTH),
             "visual.positional_embedding": rand((SIDE // PATCH) ** 2 + 1, WIDTH),
             "visual.ln_pre.weight": 1 + rand(WIDTH), "visual.ln_pre.bias": rand(WIDTH),
             "visual.ln_post.weight": 1 + rand(WIDTH), "visual.ln_post.bias": rand(WIDTH),
             "visual.proj": rand(WIDTH, EMBED), **tower("visual."),
             "token_embedding.weight": rand(len(WORDS), WIDTH), "positional_embedding": rand(CONTEXT, WIDTH),
             "ln_final.weight": 1 + rand(WIDTH), "ln_final.bias": rand(WIDTH), "text_projection": rand(WIDTH, EMBED),
             "logit_scale": torch.tensor(4.6), **tower("")}
    torch.save(state, folder / "open_clip_pytorch_model.bin")
    (folder / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": {"embed_dim": EMBED, "quick_gelu": quick_gelu,
                      "vision_cfg": {"image_size": SIDE, "layers": LAYERS, "width": WIDTH, "patch_size": PATCH, "head_width": 32},
                      "text_cfg": {"context_length": CONTEXT, "vocab_size": len(WORDS), "width": WIDTH, "heads": 2, "layers": LAYERS}},
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A <|endoftext|>",
                                                       special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
    tok.save(str(folder / "tokenizer.json"))


def _vector_models(data) -> set[tuple[str, int]]:  # noqa: ANN001
    rows = db_rows(data, "SELECT model, vector, embedding FROM image_vectors WHERE space IN ('visual', 'appearance')")
    rows += db_rows(data, "SELECT model, vector, embedding FROM video_vectors WHERE space IN ('clip_visual', 'clip_appearance')")
    return {(model, len(np.frombuffer(blob, "<f4")) if blob is not None else len(json.loads(embedding)))
            for model, blob, embedding in rows}


@stack_free
def test_the_exported_towers_are_the_checkpoints(tmp_path):
    from PIL import Image

    from reverie.models.clip import ClipEmbedder
    from reverie.models.clip_export import export_clip, load_state, read_source
    from reverie.models.clip_vit import build

    for quick in (False, True):
        source = tmp_path / f"weights-{quick}"
        write_openclip_folder(source, quick_gelu=quick)
        folder = export_clip(source, None, tmp_path / "models", echo=lambda _m: None)
        config = json.loads((folder / "reverie.json").read_text())
        assert config["image_size"] == SIDE and config["context_length"] == CONTEXT and config["name"].startswith("clip-")
        clip = ClipEmbedder(folder)
        state, cfg, _, _, _ = read_source(source, None, None)
        vision, text, shape = build(state, cfg, WORDS.index("<|endoftext|>"))
        assert (shape.vision.heads, shape.text.heads, shape.quick_gelu) == (2, 2, quick)
        photo = Image.open(PHOTOS[0])
        with torch.no_grad():
            expected = vision(torch.from_numpy(clip._pixels(photo)[None])).numpy()[0]
            said = text(torch.from_numpy(clip.token_ids(["a red dog"]))).numpy()[0]
        assert clip.analyse([photo])[0].vector == pytest.approx(expected / np.linalg.norm(expected), abs=1e-4)
        assert clip.embed_text(["a red dog"])[0] == pytest.approx(said / np.linalg.norm(said), abs=1e-4)
        # padding after the end of text changes nothing: the text is read at its end token
        assert clip.token_ids(["a dog"])[0][:4].tolist() == [0, 3, 10, 1]
    # The same tensors from a .safetensors file, and from a TorchScript archive as OpenAI released theirs
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "open_clip_model.safetensors"))
    text.visual = vision
    torch.jit.trace(text, torch.from_numpy(clip.token_ids(["a dog"]))).save(str(tmp_path / "ViT-tiny.pt"))
    for path, openai in (("open_clip_model.safetensors", False), ("ViT-tiny.pt", True)):
        loaded, is_openai = load_state(tmp_path / path)
        held = set(state) - {"logit_scale"}  # the towers do not hold it
        assert is_openai == openai and held <= set(loaded) and all(torch.equal(loaded[k], state[k]) for k in held)


def test_add_clip_switches_the_library_and_use_bundled_switches_back(fresh_server, tmp_path):
    from PIL import Image

    from reverie.synthetic_video import make_video

    server = fresh_server()
    key = create_key(server.data, "switch")
    client = server.client(key)
    ids = client.upload_ok([(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS])
    for image_id in ids:
        client.wait_indexed(image_id)
    video = make_video(tmp_path / "two.mp4", [(Image.open(p), 3.0) for p in PHOTOS], size=(320, 240))
    with open(video, "rb") as f:
        no = client.post("/upload", files={"file": (video.name, f, "video/mp4")}).json()["data"]["videoNo"]
    assert client.wait_video(no)["status"] == "PARSE"
    bundled = _vector_models(server.data)
    server.stop()

    source = tmp_path / "laion-like"
    write_openclip_folder(source)
    models_dir = os.environ["REVERIE_MODEL_DIR"]
    out = reverie("models", "add-clip", str(source), "--data", str(server.data), "--model-dir", models_dir)
    clips = len(db_rows(server.data, "SELECT id FROM video_clips"))
    assert f"embedded 2 photos and {clips} video clips" in out.stdout, out.stderr
    (name, dim), = _vector_models(server.data)  # every photo and clip vector is the new model's
    assert name.startswith("clip-") and dim == EMBED and f"now uses {name}" in out.stdout
    again = reverie("models", "add-clip", str(source), "--data", str(server.data), "--model-dir", models_dir)
    assert "embedded 0 photos and 0 video clips" in again.stdout, again.stderr

    # A server started without naming a model uses the library's: the same photo is its own best match
    server = fresh_server(data=server.data)
    client = server.client(key)
    for path, image_id in zip(PHOTOS, ids):
        res = client.post("/search_similar_imgs", files=[("file", (path.name, path.read_bytes(), "image/jpeg"))],
                          data={"top_k": "2"}).json()
        assert res["code"] == "0000" and res["data"]["item"][0]["id"] == image_id, res
    hits = client.post("/search", json={"search_param": "a red dog", "search_type": "BY_CLIP"}).json()
    assert hits["code"] == "0000" and hits["data"], hits
    server.stop()

    back = reverie("models", "use-bundled", "--data", str(server.data), "--model-dir", models_dir)
    assert f"embedded 2 photos and {clips} video clips" in back.stdout, back.stderr
    assert _vector_models(server.data) == bundled
    client = fresh_server(data=server.data).client(key)
    hits = client.post("/search", json={"search_param": "three elephants", "search_type": "BY_IMAGE"}).json()["data"]["item"]
    assert hits[0]["id"] == ids[0], hits


@stack_free  # the weights are refused before the library is touched
def test_add_clip_says_what_is_wrong_with_the_weights(tmp_path):
    from reverie.models.clip_export import export_clip

    data = tmp_path / "data"
    checkpoint = tmp_path / "model.bin"
    torch.save({"visual.conv1.weight": torch.zeros(8, 3, 4, 4)}, checkpoint)
    write_openclip_folder(tmp_path / "good")
    (tmp_path / "broken.json").write_text("{}")
    cases = [((checkpoint, None, None), "--arch is required with a checkpoint file"),
             ((checkpoint, "ViT-Q-99", None), "'ViT-Q-99' is not a CLIP ViT architecture"),
             ((tmp_path, None, None), "has no open_clip_config.json"),
             ((checkpoint, "ViT-B-32", None), "pass --tokenizer with the model's tokenizer.json"),
             ((checkpoint, "ViT-B-32", tmp_path / "broken.json"), "is not a tokenizers file"),
             ((checkpoint, "ViT-B-32", tmp_path / "good" / "tokenizer.json"), "not a CLIP ViT checkpoint in OpenAI/OpenCLIP layout")]
    for (weights, arch, tokenizer), message in cases:
        with pytest.raises(ValueError, match=message):
            export_clip(weights, arch, data / "models", tokenizer, echo=lambda _m: None)
    # On the command line: one line that says what to do, no traceback, nothing exported or switched
    res = reverie("models", "add-clip", str(checkpoint), "--data", str(data), check=False)
    assert res.returncode == 1 and "Error: --arch is required" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not list(data.glob("models/clip-*"))
    assert db_rows(data, "SELECT value FROM server_settings WHERE key = 'visual_model'") == []
