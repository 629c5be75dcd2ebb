"""What `reverie models add-clip` costs with a ViT-B-32-sized model: export time and memory, then what the
exported model costs a photo and a query on one thread.

    .venv/bin/python bench/clip.py                 # ViT-B-32 (OpenCLIP's sizes), random weights
    .venv/bin/python bench/clip.py --photos 40

No CLIP weights ship, so it writes random ones of the real sizes in OpenCLIP's layout, with a word-level
tokenizer that frames text as CLIP's does (the text tower reads 77 positions either way, so the query cost
is CLIP's). Prints seconds to export, the process's peak RSS, the export's size on disk, and the median
milliseconds per photo (preprocessing included) and per query.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from reverie.models.clip import ClipEmbedder  # noqa: E402
from reverie.models.clip_export import export_clip  # noqa: E402
from reverie.models.clip_vit import ClipShape, TextTower, TowerShape, VisionTower  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
B32 = ClipShape(vision=TowerShape(768, 12, 12), text=TowerShape(512, 12, 8), patch=32, image_size=224,
                context_length=77, vocab_size=49408, embed_dim=512, quick_gelu=False)


def write_weights(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    torch.manual_seed(0)
    state = {}
    for prefix, tower in (("visual.", VisionTower(B32)), ("", TextTower(B32, end_id=1))):
        for p in tower.parameters():
            torch.nn.init.normal_(p, std=0.02)
        state |= {prefix + k: v for k, v in tower.state_dict().items()}
    folder.mkdir()
    torch.save(state, folder / "open_clip_pytorch_model.bin")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 512, "text_cfg": {"heads": 8}}}))
    words = ["<|startoftext|>", "<|endoftext|>", "[UNK]"] + "a photo of dog cat on the beach two children".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A <|endoftext|>",
                                                       special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
    tok.save(str(folder / "tokenizer.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "weights"
        write_weights(source)
        started = time.perf_counter()
        folder = export_clip(source, None, Path(tmp) / "models", echo=lambda m: print(m, file=sys.stderr))
        exported = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        clip = ClipEmbedder(folder, threads=1)
        photos = [Image.open(p).convert("RGB") for p in sorted((EVAL / "coco" / "images").iterdir())[: args.photos]]
        clip.analyse(photos[:1])
        per_photo = []
        for im in photos:
            t = time.perf_counter()
            clip.analyse([im])
            per_photo.append((time.perf_counter() - t) * 1000)
        per_query = []
        for query in ["a photo of a dog", "two children on the beach"] * 10:
            t = time.perf_counter()
            clip.embed_text([query])
            per_query.append((time.perf_counter() - t) * 1000)
    print(f"export (ViT-B-32, random weights): {exported:.1f} s, peak RSS {peak:.0f} MB, {size:.0f} MB on disk")
    print(f"per photo (1 thread): {statistics.median(per_photo):.1f} ms median over {len(per_photo)}")
    print(f"per query (1 thread): {statistics.median(per_query):.1f} ms median over {len(per_query)}")


if __name__ == "__main__":
    main()
