"""The models on their own: the OCR gate on real receipts, and the resizing every model input goes through."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EVAL
from PIL import Image

from reverie.config import Settings
from reverie.index.image import PREVIEW_SIDE
from reverie.models import Models
from reverie.models.pixels import fitted, resized, rgb_pixels


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Models:
    return Models(Settings(data=tmp_path_factory.mktemp("data")))


def test_the_ocr_gate_sees_text_on_every_receipt(models):
    receipts = sorted((EVAL / "sroie" / "img").glob("*.jpg"))
    missed = [p.name for p in receipts if not models.ocr.has_text(fitted(rgb_pixels(Image.open(p)), PREVIEW_SIDE))]
    assert missed == []


def test_the_ocr_gate_passes_over_plain_pictures(models):
    blank = np.full((960, 1280, 3), 180, np.uint8)
    sky = np.linspace(90, 230, 960 * 1280 * 3).reshape(960, 1280, 3).astype(np.uint8)
    assert not models.ocr.has_text(blank) and not models.ocr.has_text(sky)


def test_halving_averages_each_block_of_pixels():
    photo = rgb_pixels(Image.open(EVAL / "coco" / "images" / "000000000790.jpg"))[:400, :600]
    quarter = resized(photo, (150, 100))
    blocks = photo.reshape(100, 4, 150, 4, 3).astype(np.float32).mean(axis=(1, 3))
    assert quarter.shape == (100, 150, 3)
    assert np.abs(quarter.astype(np.float32) - blocks).max() <= 1.0


@pytest.mark.parametrize("shape, side, expected", [
    ((1200, 1600), 1280, (960, 1280)),
    ((1601, 1067), 320, (320, 213)),  # odd sides: halvings drop a row or column, the last step sizes exactly
    ((333, 3000), 320, (36, 320)),
    ((200, 300), 1280, (200, 300)),  # never enlarged
])
def test_fitted_keeps_the_shape_within_the_box(shape, side, expected):
    pixels = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = fitted(pixels, side)
    assert out.shape == (*expected, 3) and out.dtype == np.uint8
