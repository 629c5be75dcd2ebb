"""`reverie models train-bridge` and `train-languages`: learn the bridge (models/bridge.py), and the maps that
carry queries to its pictures (models/language_map.py, models/mpnet.py), from photos with human captions.

Seeded, and the training itself runs on one thread, so the same data on the same CPU gives the same file.
On the 2-core development machine the bridge's run over ../shared/train/flickr8k took 15.5 minutes with one
thread a network while an eval ran beside it: the classifier over 7,091 photos (2.5 min), MiniLM over 35,455
captions (6.5 min), the training (~15 s), and multilingual-e5 for the map that the language map has since
replaced (6 min). The language map's run takes 3 minutes, and mpnet over the captions ~6.5 more (its map is fitted
beside the language map; 9.5 minutes in all on 2026-12-07). The commands give the networks both cores. torch is needed only here (it is
installed for the ONNX export anyway).

The training photos are 224 px squares; indexing would read them whole (no DCT scaling below the OCR
gate's size), so Pillow's plain decode gives the classifier the pixels indexing would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .bridge import Bridge
from .detector import ObjectDetector
from .detector import scenes as scenes_of
from .vectors import dequantised, normalise, quantised
from .visual import ConseEmbedder

# v6: Lite2's features beside them too (models/details.py); v5: the detector's scene beside the classifier's
# features (models/bridge.py); v4: the mean of maps trained from several seeds; v3: pictures carry their
# hubness (models/bridge.py); v2: GeM-pooled features; v1: plain mean
VERSION = "v6"


@dataclass
class Recipe:
    """What was selected on ../shared/eval (dev split) with throwaway probes; see weights/README.md."""
    epochs: int = 20
    batch: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.1
    input_dropout: float = 0.5
    conse_weight: float = 0.5  # ConSE beside the bridge: 0.2 suits Flickr-like photos best, 1.0 COCO-like
    background: int = 512  # ordinary photos' vectors kept in the file
    # A picture's hubness: its mean similarity to its `hub_neighbours` closest among `hubs` training captions
    # (one each of as many photos), weighted by `hub_weight` (dev probe, weights/README.md).
    hubs: int = 512
    hub_neighbours: int = 30
    hub_weight: float = 0.35
    # Photos the bridge never sees: bench/calibrate.py sets the filtering levels on them, so the levels are
    # not fitted on the photos `reverie eval` tests (and not on photos the bridge learnt, whose similarities
    # run higher than a user's). Holding out 1,000 of 7,091 moved dev R@10 by under a point (probe).
    held_out: int = 1000
    seed: int = 0
    # The map is the mean of the maps trained from this many seeds (seed, seed + 1, ...): one seed's map ranks
    # the right photo first for 0.479-0.502 of the Flickr8k dev captions and 0.502-0.530 of COCO's depending
    # on the seed; the mean of five 0.498 and 0.530 (weights/README.md). A linear map's mean is one map.
    seeds: int = 5


def image_evidence(visual: ConseEmbedder, detector: ObjectDetector, paths: list[Path],
                   echo: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(normalised Lite0 features, Lite2 features, scenes, ConSE vectors) of each photo, as indexing computes them."""
    features, details, scenes, conse = [], [], [], []
    started = time.time()
    for i in range(0, len(paths), 16):
        pixels = [np.asarray(Image.open(p).convert("RGB")) for p in paths[i:i + 16]]
        analyses = visual.analyse(pixels)
        features.append(np.stack([a.pooled for a in analyses]))
        conse.append(np.stack([a.conse for a in analyses]))
        details.append(np.stack([a.features for a in analyses]))
        scenes.append(scenes_of(detector.detect(pixels)))
        if (i // 16) % 50 == 0:
            echo(f"  photos {i + len(pixels)}/{len(paths)} ({time.time() - started:.0f} s)")
    return np.concatenate(features), np.concatenate(details), np.concatenate(scenes), np.concatenate(conse)


def fit_bridge(features: np.ndarray, captions: np.ndarray, caption_photo: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """A linear map features -> caption space, by symmetric InfoNCE with a learned temperature: each step
    pairs every photo of a batch with one of its captions, drawn at random."""
    import torch

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(recipe.seed)
    of_photo: list[list[int]] = [[] for _ in range(len(features))]
    for c, p in enumerate(caption_photo):
        of_photo[p].append(c)
    x, y = torch.tensor(features), torch.tensor(captions)
    linear = torch.nn.Linear(features.shape[1], captions.shape[1])
    dropout = torch.nn.Dropout(recipe.input_dropout)
    log_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
    opt = torch.optim.AdamW(list(linear.parameters()) + [log_scale], lr=recipe.learning_rate,
                            weight_decay=recipe.weight_decay)
    steps_per_epoch = len(features) // recipe.batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.learning_rate, pct_start=0.1,
                                                   total_steps=recipe.epochs * steps_per_epoch)
    target = torch.arange(recipe.batch)
    for _ in range(recipe.epochs):
        order = rng.permutation(len(features))
        for s in range(steps_per_epoch):
            photos = order[s * recipe.batch:(s + 1) * recipe.batch]
            chosen = [of_photo[p][rng.integers(len(of_photo[p]))] for p in photos]
            z = torch.nn.functional.normalize(linear(dropout(x[photos])), dim=-1)
            logits = z @ y[chosen].T * log_scale.exp().clamp(max=100)
            loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    return linear.weight.detach().numpy().T.copy(), linear.bias.detach().numpy().copy()


@dataclass
class LanguageRecipe:
    """The language map's recipe (models/language_map.py), selected on ../shared/eval's German and French
    sentences with throwaway probes; see weights/README.md."""
    ridge: float = 3e-4  # the least-squares start (1e-3: German / French R@10 0.80 / 0.82 after training); speech's map
    epochs: int = 3  # 10 epochs at 1e-4 found as many; 5 at 3e-4 a point fewer in German
    batch: int = 256
    learning_rate: float = 3e-4
    weight_decay: float = 0.1
    input_dropout: float = 0.3
    temperature: float = 0.05
    # The map's reading beside MiniLM's, for English queries: 0.5 ranks best (Flickr8k dev R@1 0.496 against
    # 0.475 at 0.3), but blurs what a score means for one-word queries: on the held-out photos `medium` then
    # keeps 0.12 of their right photos, at 0.25 0.28, without the map 0.37 (bench/calibrate.py).
    english_weight: float = 0.25
    # The caption bank (models/language_map.py): the 10 nearest photos by their captions, a softmax at 0.05 over
    # their closeness, at 0.25 beside the map. Of 5 / 10 / 20 neighbours, 0.03 / 0.05 / 0.1 and 0.15 / 0.25 /
    # 0.4, every one gained in German and French (R@10 0.822-0.859 and 0.859-0.892 against 0.816 and 0.838).
    bank_neighbours: int = 10
    bank_temperature: float = 0.05
    bank_weight: float = 0.25
    # Main directions kept of the captions' vectors and the pictures': German / French R@10 with all of them
    # 0.849 / 0.886, with 128 and 64 the same (the file then stays under 2 MB), with 96 and 64 0.843 / 0.886.
    bank_directions: int = 128
    bank_picture_directions: int = 64
    # mpnet's reading of an English query beside the other two (models/mpnet.py), its map fitted as `to_pictures`
    # is: Flickr8k dev R@1 / R@10 0.522 / 0.926 -> 0.543 / 0.930 at 0.25, 0.559 / 0.937 at 0.5, 0.559 / 0.937 at
    # 1.0; COCO's captions 0.583 / 0.915 -> 0.583 / 0.925, 0.578 / 0.925, 0.578 / 0.905 (probe).
    mpnet_weight: float = 0.5
    seed: int = 0


def first_captions(pairs: list[tuple[int, str]], photos: int) -> list[int]:
    """The index in `pairs` ((photo, caption), ...) of each photo's first caption, photo by photo."""
    first: dict[int, int] = {}
    for k, (photo, _) in enumerate(pairs):
        first.setdefault(photo, k)
    return [first[photo] for photo in range(photos)]


def ridge_map(source: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    """Least squares with a ridge, source -> target (rows paired)."""
    gram = source.T @ source + ridge * len(source) * np.eye(source.shape[1])
    return np.linalg.solve(gram, source.T @ target)


def caption_bank(sentences: np.ndarray, caption_photo: np.ndarray, pictures: np.ndarray, recipe: LanguageRecipe) -> dict:
    """The language map's caption bank (models/language_map.py::CaptionBank) as the file holds it: each photo's
    captions as the mean of their vectors, and its picture vector, each in its side's main directions."""
    read = np.zeros((len(pictures), sentences.shape[1]))
    np.add.at(read, caption_photo, sentences)
    read = normalise(read)
    directions = np.linalg.svd(read, full_matrices=False)[2][:recipe.bank_directions]
    mean = pictures.mean(axis=0)
    picture_directions = np.linalg.svd(pictures - mean, full_matrices=False)[2][:recipe.bank_picture_directions]
    stored_sentences, sentences_scale = quantised(normalise(read @ directions.T))
    stored_pictures, pictures_scale = quantised((pictures - mean) @ picture_directions.T)
    return dict(bank_directions=directions.astype(np.float16), bank_sentences=stored_sentences,
                bank_sentences_scale=sentences_scale, bank_picture_directions=picture_directions.astype(np.float16),
                bank_picture_mean=mean.astype(np.float16), bank_pictures=stored_pictures,
                bank_pictures_scale=pictures_scale, bank_neighbours=np.int32(recipe.bank_neighbours),
                bank_temperature=np.float32(recipe.bank_temperature), bank_weight=np.float32(recipe.bank_weight))


def fit_language_map(sentences: np.ndarray, pictures: np.ndarray, recipe: LanguageRecipe) -> np.ndarray:
    """A linear map from the multilingual encoder's vectors of captions to their photos' picture vectors:
    least squares with a ridge, then symmetric InfoNCE (each caption against the other pictures of its batch)."""
    import torch

    start = ridge_map(sentences, pictures, recipe.ridge)
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(recipe.seed)
    weight = torch.nn.Parameter(torch.tensor(start, dtype=torch.float32))
    x, y = torch.tensor(sentences, dtype=torch.float32), torch.tensor(pictures, dtype=torch.float32)
    opt = torch.optim.AdamW([weight], lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    target = torch.arange(recipe.batch)
    for _ in range(recipe.epochs):
        order = rng.permutation(len(x))
        for s in range(len(x) // recipe.batch):
            pairs = order[s * recipe.batch:(s + 1) * recipe.batch]
            z = torch.nn.functional.normalize(torch.nn.functional.dropout(x[pairs], recipe.input_dropout) @ weight, dim=-1)
            logits = z @ y[pairs].T / recipe.temperature
            loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
    return weight.detach().numpy().copy()


def train_language_map(data: Path, out: Path, models, bridge: Bridge, echo: Callable[[str], None] = print,  # noqa: ANN001
                       recipe: LanguageRecipe | None = None) -> dict:
    """Train the language map on `data` (images/ and captions.json) toward `bridge`'s pictures; write it to `out`,
    and mpnet's map beside it (models/mpnet.py: MAP's name). The photos the bridge held out stay unseen here
    too (bench/calibrate.py sets the levels on them)."""
    from .mpnet import MAP, MpnetTextEmbedder
    from .multilingual import MultilingualTextEmbedder

    recipe = recipe or LanguageRecipe()
    captions: dict[str, list[str]] = json.loads((data / "captions.json").read_text())
    held_out = set(bridge.held_out)
    names = [n for n in sorted(captions) if n not in held_out]
    pairs = [(i, c) for i, name in enumerate(names) for c in captions[name]]
    echo(f"{len(names)} photos, {len(pairs)} captions from {data}")
    paths = [data / "images" / n for n in names]
    features, details, scenes, conse = image_evidence(models.without_bridge(), models.detector, paths, echo)
    pictures = bridge.fuse(bridge.project(features, details, scenes), conse)
    echo("embedding the captions with the multilingual encoder")
    sentences = MultilingualTextEmbedder(models.cache, models.settings.model_threads).embed([c for _, c in pairs], echo=echo)
    echo("training the language map")
    to_pictures = fit_language_map(sentences.astype(np.float64), pictures[[i for i, _ in pairs]].astype(np.float64), recipe)
    echo("embedding one caption a photo with MiniLM, for the map that speech takes")
    first = first_captions(pairs, len(names))
    minilm = models.text.embed([pairs[k][1] for k in first], batch_size=128).astype(np.float64)
    to_sentences = ridge_map(sentences[first].astype(np.float64), minilm, recipe.ridge)
    bank = caption_bank(sentences.astype(np.float64), np.array([i for i, _ in pairs]), pictures.astype(np.float64), recipe)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, to_pictures=to_pictures.astype(np.float16), to_sentences=to_sentences.astype(np.float16),
                        english_weight=np.float32(recipe.english_weight), bridge=np.str_(bridge.name), **bank)
    tmp.replace(out)
    echo("embedding the captions with mpnet")
    english = MpnetTextEmbedder(models.cache, models.settings.model_threads).embed([c for _, c in pairs], echo=echo)
    echo("training mpnet's map")
    to_pictures_en = fit_language_map(english.astype(np.float64), pictures[[i for i, _ in pairs]].astype(np.float64), recipe)
    stored, scale = quantised(to_pictures_en)
    mpnet_out = out.with_name(MAP.name)
    tmp = mpnet_out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, to_pictures=stored, to_pictures_scale=scale, weight=np.float32(recipe.mpnet_weight),
                        bridge=np.str_(bridge.name))
    tmp.replace(mpnet_out)
    return {"photos": len(names), "captions": len(pairs), "bytes": out.stat().st_size, "mpnet_map": mpnet_out,
            "mpnet_bytes": mpnet_out.stat().st_size}


def train(data: Path, out: Path, models, echo: Callable[[str], None] = print, recipe: Recipe | None = None) -> dict:  # noqa: ANN001
    """Train on `data` (images/ and captions.json: {file: [captions]}) and write the bridge file to `out`."""
    recipe = recipe or Recipe()
    captions: dict[str, list[str]] = json.loads((data / "captions.json").read_text())
    every = sorted(captions)
    held_out = set(np.random.default_rng(recipe.seed).choice(every, min(recipe.held_out, len(every) // 2), replace=False).tolist())
    names = [n for n in every if n not in held_out]
    pairs = [(i, c) for i, name in enumerate(names) for c in captions[name]]
    echo(f"{len(names)} photos, {len(pairs)} captions from {data} ({len(held_out)} photos held out for calibration)")
    paths = [data / "images" / n for n in names]
    features, details, scenes, conse = image_evidence(models.without_bridge(), models.detector, paths, echo)
    evidence = Bridge.evidence(features, details, scenes)
    echo("embedding the captions with MiniLM")
    minilm = models.text.embed([c for _, c in pairs], batch_size=128).astype(np.float32)
    maps = []
    for k in range(recipe.seeds):
        echo(f"training the bridge from seed {recipe.seed + k} ({k + 1} of {recipe.seeds})")
        maps.append(fit_bridge(evidence, minilm, np.array([i for i, _ in pairs]), replace(recipe, seed=recipe.seed + k)))
    weight, bias = np.mean([w for w, _ in maps], axis=0), np.mean([b for _, b in maps], axis=0)
    first = first_captions(pairs, len(names))
    rng = np.random.default_rng(recipe.seed)
    ordinary = rng.choice(len(features), recipe.background, replace=False)
    hub_photos = rng.choice(len(features), min(recipe.hubs, len(features)), replace=False)
    stored_hubs, hubs_scale = quantised(minilm[[first[photo] + int(rng.integers(len(captions[names[photo]]))) for photo in hub_photos]])
    hubs = dequantised(stored_hubs, hubs_scale)
    stored, weight_scale = quantised(weight)
    weight = dequantised(stored, weight_scale)  # as the file holds it
    bridge = Bridge(weight, bias, recipe.conse_weight, np.zeros((0, weight.shape[1])), VERSION, hubs,
                    recipe.hub_weight, recipe.hub_neighbours)
    background = bridge.fuse(bridge.project(features[ordinary], details[ordinary], scenes[ordinary]), conse[ordinary])
    stored_background, background_scale = quantised(background)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, weight=stored, weight_scale=weight_scale, bias=bias.astype(np.float16),
                        conse_weight=np.float32(recipe.conse_weight), background=stored_background,
                        background_scale=background_scale, version=np.str_(VERSION),
                        hubs=stored_hubs, hubs_scale=hubs_scale, hub_weight=np.float32(recipe.hub_weight),
                        hub_neighbours=np.int32(recipe.hub_neighbours), held_out=np.array(sorted(held_out)))
    tmp.replace(out)
    return {"photos": len(names), "captions": len(pairs), "held_out": len(held_out), "bytes": out.stat().st_size}
