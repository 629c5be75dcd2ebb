"""The fused score: within a query it keeps the ranking model's order, and the filtering levels cut where
bench/calibrate.py measured them, on training photos the bridge never saw and no eval tests."""

from __future__ import annotations

import json

import numpy as np

from conftest import EVAL, REPO, stack_free
from reverie.models.bridge import Bridge
from reverie.search import fusion

TRAIN = REPO.parent / "shared" / "train" / "flickr8k"


@stack_free
def test_each_level_cuts_where_its_knot_was_measured():
    for measured in (fusion.KNOTS, fusion.NAMED_KNOTS):
        knots = np.array([measured[level] for level in fusion.LEVELS])
        assert np.allclose(fusion.on_levels(knots, measured), list(fusion.LEVELS.values()))
    grid = np.linspace(0, 1, 10001)
    assert np.all(np.diff(fusion.on_levels(grid)) > 0)  # order kept: nothing ties that the model tells apart
    assert fusion.on_levels(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]


@stack_free
def test_a_query_keeps_the_ranking_models_order_whatever_its_scale():
    rng = np.random.default_rng(0)
    ids = np.arange(60)
    lexical = [(int(i), float(rng.uniform(0, 6)), "ocr", float(rng.uniform(0, 1))) for i in rng.choice(80, 12, replace=False)]
    for low, high, mean, std in ((0.05, 0.3, 0.1, 0.05), (0.3, 0.7, 0.4, 0.1)):
        sims = np.sort(rng.uniform(low, high, 60))[::-1]
        ranked = fusion.fuse(ids, sims, mean, std, lexical, lambda i: float(rng.uniform(low, high)))
        logits = fusion.ranking_logit(np.stack([c.features() for c in ranked]))
        assert np.all(np.diff(logits) <= 1e-9), "sorted by score must be sorted by the ranking model"
        assert all(0 <= c.score <= 1 for c in ranked)


@stack_free
def test_a_query_whose_best_match_is_stronger_scores_higher_at_the_same_rank():
    """What the calibration learnt: how similar a query's best photo is says how likely its hits are right,
    which the ranking model (which sees each hit against its query's best) cannot say."""
    logit = np.array([2.0])
    weak, strong = fusion.relevance(logit, 0.25, 2.0), fusion.relevance(logit, 0.6, 2.0)
    assert fusion.MEANING["logit"] > 0 and strong > weak


@stack_free
def test_the_photos_held_out_for_calibration_are_training_photos_no_eval_holds():
    held = set(Bridge.load().held_out)
    assert len(held) == 1000
    assert not held & set(json.loads((EVAL / "flickr8k" / "captions.json").read_text()))
    assert not held & set(json.loads((EVAL / "coco" / "captions.json").read_text()))
    if TRAIN.exists():
        assert held <= set(json.loads((TRAIN / "captions.json").read_text()))


@stack_free
def test_for_a_query_naming_a_class_the_detectors_likelihood_orders_alike_photos():
    """Two photos equally like the query "dog" and both labelled dog: the one the detector is surer of is first,
    and a likelihood given for no photo changes nothing."""
    ids, sims = np.array([1, 2, 3]), np.array([0.30, 0.30, 0.20])
    lexical = [(1, 2.0, "labels", 1.0), (2, 2.0, "labels", 1.0)]
    ranked = fusion.fuse(ids, sims, 0.1, 0.05, lexical, lambda i: None, {1: 0.55, 2: 0.93, 3: 0.04})
    assert [c.image_id for c in ranked] == [2, 1, 3] and ranked[0].detected == 0.93
    plain = fusion.fuse(ids, sims, 0.1, 0.05, lexical, lambda i: None)
    assert {c.image_id: c.detected for c in plain} == {1: 0.0, 2: 0.0, 3: 0.0}
    assert plain[0].score == plain[1].score  # nothing else tells 1 and 2 apart


@stack_free
def test_a_query_naming_classes_keeps_the_ranking_models_order_too():
    rng = np.random.default_rng(1)
    ids = np.arange(40)
    sims = np.sort(rng.uniform(0.1, 0.4, 40))[::-1]
    lexical = [(int(i), float(rng.uniform(0, 6)), "labels", 1.0) for i in rng.choice(40, 8, replace=False)]
    detected = {int(i): float(rng.uniform(0, 1)) for i in ids}
    ranked = fusion.fuse(ids, sims, 0.1, 0.05, lexical, lambda i: None, detected)
    logits = fusion.ranking_logit(np.stack([c.features() for c in ranked]))
    assert np.all(np.diff(logits) <= 1e-9)
    assert fusion.NAMED_MEANING["logit"] > 0  # else the order would turn over


@stack_free
def test_words_the_picture_shows_weigh_apart_from_the_models_own_labels():
    """The same match in OCR text and in the labels the models gave weighs differently (fusion.py says why);
    a clip's words count as read only where its speech or text on screen holds the query ("said")."""
    ids, sims = np.array([1, 2]), np.array([0.2, 0.2])
    lexical = [(1, 3.0, "ocr", 0.9), (2, 3.0, "labels", 0.9), (3, 3.0, "words,said", 0.9), (4, 3.0, "words", 0.9)]
    by_id = {c.image_id: c for c in fusion.fuse(ids, sims, 0.1, 0.05, lexical, lambda i: 0.2)}
    assert [by_id[i].read for i in (1, 2, 3, 4)] == [True, False, True, False]
    read, seen = by_id[1].features(), by_id[2].features()
    names = list(fusion.FEATURES)
    assert read[names.index("lexical")] > 0 and read[names.index("seen_lexical")] == 0
    assert seen[names.index("seen_phrase")] == read[names.index("phrase")] and seen[names.index("phrase")] == 0


@stack_free
def test_a_name_printed_on_a_receipt_outranks_a_photo_only_like_its_words():
    """`reverie eval`'s "99 SPEED MART S/B": OCR read "99 SPEED MART 57B…" (the phrase 0.82 held), while the
    words "speed mart" drew a bus photo far closer in the picture space. The fit before text read in a picture
    weighed apart put the bus first."""
    mean, std = 0.0164, 0.0756  # the eval namespace's cosines for that query
    ids, sims = np.array([10, 11]), np.array([0.306, 0.030])
    ranked = fusion.fuse(ids, sims, mean, std, [(11, 7.42, "ocr", 0.82)], lambda i: None)
    assert [c.image_id for c in ranked] == [11, 10]


@stack_free
def test_a_shops_name_on_its_receipt_outranks_photos_only_like_the_rest_of_the_question():
    """"where did we shop at SHELL" over `reverie eval`'s library: the receipt printed Shell holds 0.72 of the
    question, and two photos of shops stood far closer in the picture space to "shop". What the receipt's text
    explains, the photos' looks no longer count for, and they keep their order. A text holding less than half
    a query, or a query naming detector classes, leaves the photos' evidence as it is without the text."""
    mean, std = 0.0196, 0.0754  # that query's cosines over the namespace
    ids, sims = np.array([1, 2, 3]), np.array([0.371, 0.350, -0.028])

    def photos(lexical: list, detected: dict | None = None) -> dict:
        ranked = fusion.fuse(ids, sims, mean, std, lexical, lambda i: None, detected)
        return {c.image_id: c.features().tolist() for c in ranked if c.image_id != 3}

    ranked = fusion.fuse(ids, sims, mean, std, [(3, 5.0, "ocr", 0.72)], lambda i: None)
    assert [c.image_id for c in ranked] == [3, 1, 2]
    assert photos([(3, 5.0, "ocr", 0.72)]) != photos([])
    assert photos([(3, 5.0, "ocr", fusion.EXPLAINS - 0.05)]) == photos([])
    named = {1: 0.6, 2: 0.5}
    assert photos([(3, 5.0, "ocr", 0.72)], named) == photos([], named)


@stack_free
def test_a_query_a_pictures_own_text_holds_scores_its_picture_as_the_ranking_model_does():
    """"UNIHAKKA INTERNATIONAL SDN BHD" in `reverie eval`: the receipts printed with it scored 0.16, under
    `medium`, by the calibration set on photos that hold no text. Held by read text, the receipt now keeps
    the ranking model's probability; the same words in the models' labels, or half the name, do not."""
    ids, sims, mean, std = np.array([1, 2]), np.array([0.149, 0.039]), -0.024, 0.05
    ranked = fusion.fuse(ids, sims, mean, std, [(2, 6.56, "ocr", 1.0)], lambda i: None)
    assert ranked[0].image_id == 2 and ranked[0].score >= fusion.LEVELS["high"]
    assert ranked[1].score < fusion.LEVELS["medium"]  # the photo the text does not hold is not lifted with it
    for columns, phrase in (("labels", 1.0), ("ocr", 0.5)):
        receipt = fusion.fuse(ids, sims, mean, std, [(2, 6.56, columns, phrase)], lambda i: None)[0]
        assert receipt.image_id == 2 and receipt.score < fusion.LEVELS["medium"]


@stack_free
def test_a_query_naming_a_detector_class_is_not_lifted_by_a_word_of_a_receipt():
    """"cat" is printed on a receipt ("DOREMON CAT" snacks): the photos the detector takes for cats keep the
    scores their own calibration gives them."""
    ids, sims = np.array([1, 2]), np.array([0.30, 0.05])
    lexical = [(2, 4.0, "ocr", 1.0)]
    with_receipt = {c.image_id: c.score for c in fusion.fuse(ids, sims, 0.1, 0.05, lexical, lambda i: None, {1: 0.9})}
    without = {c.image_id: c.score for c in fusion.fuse(ids, sims, 0.1, 0.05, [], lambda i: None, {1: 0.9})}
    assert with_receipt[1] == without[1]
