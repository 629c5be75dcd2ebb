"""The web app end to end in headless Chromium (Debian's, driven by Playwright): sign in, upload,
wait for indexing, search, open the hit, query by example, delete. Screenshots land in the test's
folder and are checked."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import requests
from PIL import Image

from conftest import EVAL, Server, create_key
from reverie.search.fusion import LEVELS
from reverie.synthetic_video import make_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

LEOPARD = EVAL / "caltech101" / "Leopards" / "image_0001.jpg"
RECEIPT = EVAL / "sroie" / "img" / "000.jpg"
ELEPHANTS = EVAL / "coco" / "images" / "000000054718.jpg"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def shot(page, path) -> None:  # noqa: ANN001
    page.screenshot(path=str(path), full_page=True)
    assert path.exists() and path.stat().st_size > 10_000  # a real rendering, not an empty page


def upload(page, files: list[str], indexed_in_all: int) -> None:  # noqa: ANN001
    """Drop files on the page and wait until the upload list shows `indexed_in_all` of its files indexed."""
    page.set_input_files("#files", files)
    page.wait_for_function(f"[...document.querySelectorAll('#uploads .state')].filter(s => s.textContent === 'indexed')"
                           f".length === {indexed_in_all}", timeout=120_000)


def search(page, query: str) -> None:  # noqa: ANN001
    page.fill("#query", query)
    page.click("#search-form button[type=submit]")
    page.wait_for_selector(f"#status:has-text('for “{query}”'):not(:has-text('Searching'))")


def test_upload_index_search_open_delete(tmp_path, browser_page):
    server = Server(tmp_path / "data").start()
    try:
        key = create_key(server.data, "web")
        page = browser_page
        page.goto(server.base + "/")
        page.fill("#key", "sk-reverie-wrong")
        page.click("#signin-form button")
        page.wait_for_selector("#signin-error:has-text('0401')")
        page.fill("#key", key)
        page.click("#signin-form button")
        page.wait_for_selector("#app:not([hidden])")
        page.wait_for_selector("#status:has-text('No images')")
        shot(page, tmp_path / "1-empty.png")

        upload(page, [str(LEOPARD), str(RECEIPT)], 2)
        page.wait_for_selector(".tile img", state="attached")
        assert page.locator(".tile").count() == 2
        shot(page, tmp_path / "2-gallery.png")

        search(page, "a leopard")
        first = page.locator(".tile").first
        assert first.get_attribute("title") == "image_0001"
        assert "visual" in first.locator(".score").inner_text() or "labels" in first.locator(".score").inner_text()
        # hits below filtering_level "low" are dimmed, by the cut the API itself applies
        assert json.loads(page.locator('meta[name="reverie-levels"]').get_attribute("content")) == LEVELS
        for hit in page.locator(".tile").all():
            score = float(re.search(r"\d+\.\d\d", hit.locator(".score").inner_text()).group())
            if abs(score - LEVELS["low"]) > 0.005:  # the tile shows two decimals
                assert ("weak" in hit.get_attribute("class").split()) == (score < LEVELS["low"]), score
        assert "weak" not in first.get_attribute("class").split()
        shot(page, tmp_path / "3-search.png")

        first.click()
        page.wait_for_selector("#detail[open] h2:has-text('image_0001.jpg')")
        assert page.locator("#detail .labels .chip").count() >= 1
        shot(page, tmp_path / "4-detail.png")
        page.click("#detail .close")

        search(page, "taman daya")
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('000.jpg')")
        assert "TAMAN" in page.locator("#detail .ocr").inner_text().upper()
        page.click("#detail .close")

        page.set_input_files("#example", str(EVAL / "caltech101" / "Leopards" / "image_0002.jpg"))
        page.wait_for_selector("#status:has-text('images like image_0002.jpg')")
        assert page.locator(".tile").first.get_attribute("title") == "image_0001"

        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open]")
        page.once("dialog", lambda d: d.accept())
        page.click("#detail .delete")
        page.wait_for_selector("#status:has-text('Deleted image_0001.jpg')")
        page.fill("#query", "")
        page.click("#search-form button[type=submit]")
        page.wait_for_selector("#status:has-text('1 image in')")
        shot(page, tmp_path / "5-after-delete.png")
        # A video, dropped in like a photo: its clips come back in search as playable moments.
        clip = make_video(tmp_path / "zoo.mp4", [(Image.open(RECEIPT), 3.0), (Image.open(LEOPARD), 3.0)], size=(320, 240))
        upload(page, [str(clip)], 3)
        page.fill("#query", "a leopard")
        page.click("#search-form button[type=submit]")
        page.wait_for_selector(".tile.clip")
        page.locator(".tile.clip").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('zoo')")
        src = page.locator("#detail video").get_attribute("src")
        assert "#t=3," in src, src  # the leopard's shot, not the receipt's
        part = requests.get(src.split("#")[0], headers={"Range": "bytes=0-99"}, timeout=10)
        assert part.status_code == 206 and len(part.content) == 100  # seekable, as a player needs
        shot(page, tmp_path / "6-clip.png")
        page.click("#detail .close")
        # Objects the detector found: counted by search, outlined on the photo in the detail view.
        upload(page, [str(ELEPHANTS)], 4)
        search(page, "three elephants")
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('000000054718.jpg')")
        assert page.locator("#detail .objects .chip").all_inner_texts()[0].startswith("elephant")
        page.wait_for_selector("#detail .frame.loaded")
        boxes = page.locator("#detail .frame .box")
        assert boxes.count() == 3
        image = page.locator("#detail .frame img").bounding_box()
        for box in (b.bounding_box() for b in boxes.all()):  # drawn on the photo, not beside it
            assert image["x"] - 3 <= box["x"] and box["x"] + box["width"] <= image["x"] + image["width"] + 3
            assert image["y"] - 3 <= box["y"] and box["y"] + box["height"] <= image["y"] + image["height"] + 3
        shot(page, tmp_path / "7-objects.png")
        page.click("#detail .close")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off the side
        shot(page, tmp_path / "8-phone.png")
        assert sorted(p.name for p in tmp_path.glob("*.png")) == [
            "1-empty.png", "2-gallery.png", "3-search.png", "4-detail.png", "5-after-delete.png", "6-clip.png",
            "7-objects.png", "8-phone.png"]
    finally:
        server.stop()


def test_people_named_merged_and_outlined(tmp_path, browser_page):
    """The People strip: a cover face per person, naming inline, a person's photos, faces outlined in the
    detail view with a way to take a wrong one out, and merging two people by ticking them."""
    faces = EVAL / "faces"
    hawn, thorpe = sorted((faces / "Goldie_Hawn").glob("*.jpg"))[:3], sorted((faces / "Ian_Thorpe").glob("*.jpg"))[:2]
    server = Server(tmp_path / "data").start()
    try:
        key = create_key(server.data, "web")
        page = browser_page
        page.goto(server.base + "/")
        page.fill("#key", key)
        page.click("#signin-form button")
        page.wait_for_selector("#app:not([hidden])")
        assert page.locator("#people").is_hidden()  # nobody yet
        upload(page, [str(p) for p in hawn + thorpe], 5)
        page.wait_for_function("document.querySelectorAll('.person').length >= 2 && "
                               "[...document.querySelectorAll('.person .count')].reduce((n, c) => n + parseInt(c.textContent), 0) === 5 && "
                               "[...document.querySelectorAll('.person img')].every(i => i.complete && i.naturalWidth)",
                               timeout=60_000)
        cards = page.locator(".person")
        counts = [int(cards.nth(i).locator(".count").inner_text().split()[0]) for i in range(cards.count())]
        # Her three photos make one person, or more when the upload order splits them (grouping is incremental).
        assert counts == sorted(counts, reverse=True) and sum(counts) == 5
        shot(page, tmp_path / "8-people.png")

        first = counts[0]
        cards.first.locator("input.name").fill("Goldie Hawn")
        cards.first.locator("input.name").press("Enter")
        page.wait_for_selector("#status:has-text('Named Goldie Hawn')")
        cards.first.locator(".face").click()
        page.wait_for_selector(f"#status:has-text('{first} photo{'s' if first > 1 else ''} of Goldie Hawn')")
        assert page.locator(".tile").count() == first
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] .frame.loaded .box.face span:has-text('Goldie Hawn')")
        assert page.locator("#detail .faces .not-them").count() == 1
        shot(page, tmp_path / "9-faces.png")
        page.click("#detail .close")

        search(page, "Goldie Hawn")  # the name finds that person's photos, and only theirs
        assert page.locator(".tile").count() == first

        before = cards.count()
        photos = sum(int(cards.nth(i).locator(".count").inner_text().split()[0]) for i in (0, 1))
        cards.nth(0).locator("input[type=checkbox]").check()
        cards.nth(1).locator("input[type=checkbox]").check()
        page.click("#merge:has-text('Merge 2 people')")
        page.wait_for_selector("#status:has-text('Merged 2 people')")
        page.wait_for_function(f"document.querySelectorAll('.person').length === {before - 1}")
        assert page.locator(".person").first.locator("input.name").input_value() == "Goldie Hawn"
        assert page.locator(".person").first.locator(".count").inner_text() == f"{photos} photos"
        shot(page, tmp_path / "10-merged.png")
    finally:
        server.stop()
