"""The web app end to end in headless Chromium (Debian's, driven by Playwright): sign in, the namespace
picker, upload, the gallery by capture date with its timeline, the detail view and its previous/next,
search results in words, query by example, delete, videos and their moments, a phone's width. Screenshots
of each state land in the test's folder and are checked."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
import requests
from PIL import Image

from conftest import EVAL, Server, client_side, create_key
from reverie.search.fusion import LEVELS
from reverie.synthetic_video import make_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
              client_side]

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


# Finished rows leave the upload list after a few seconds: the page records each file that reached "indexed".
WATCH_UPLOADS = """() => { if (window.indexedNames) return; window.indexedNames = new Set();
  new MutationObserver(() => document.querySelectorAll('#uploads li').forEach((li) => {
    if (li.querySelector('.state').textContent === 'indexed') window.indexedNames.add(li.querySelector('.name').textContent); }))
  .observe(document.getElementById('uploads'), { subtree: true, childList: true, characterData: true }); }"""


def upload(page, files: list[str]) -> None:  # noqa: ANN001
    """Drop files on the page and wait until the upload list has shown each of them indexed."""
    page.evaluate(WATCH_UPLOADS)
    page.set_input_files("#files", files)
    names = json.dumps([Path(f).name for f in files])
    page.wait_for_function(f"{names}.every((n) => window.indexedNames.has(n))", timeout=120_000)


def search(page, query: str) -> None:  # noqa: ANN001
    page.fill("#query", query)
    page.click("#search-form button[type=submit]")
    page.wait_for_selector(f"#status:has-text('for “{query}”'):not(:has-text('Searching'))")


def show_gallery(page) -> None:  # noqa: ANN001
    page.fill("#query", "")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#grid.gallery")


def dated_copy(src: Path, dest: Path, taken: str) -> Path:
    """The photo with an EXIF capture time, as a camera writes it."""
    im = Image.open(src)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    im.save(dest, exif=exif, quality=92)
    return dest


def swipe(page, dx: int) -> None:  # noqa: ANN001
    page.evaluate("""(dx) => { const d = document.getElementById('detail');
      const at = (x) => [new Touch({ identifier: 1, target: d, clientX: x, clientY: 300 })];
      d.dispatchEvent(new TouchEvent('touchstart', { changedTouches: at(200), touches: at(200), bubbles: true }));
      d.dispatchEvent(new TouchEvent('touchend', { changedTouches: at(200 + dx), touches: [], bubbles: true })); }""", dx)


def inside(inner: dict, outer: dict, slack: float = 1) -> bool:
    return (outer["x"] - slack <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
            and outer["y"] - slack <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


def test_library_upload_search_open_delete(tmp_path, browser_page):
    server = Server(tmp_path / "data").start()
    try:
        key = create_key(server.data, "web")
        # A namespace that already holds a photo: the app opens on it rather than on the empty "default".
        with open(EVAL / "caltech101" / "Leopards" / "image_0003.jpg", "rb") as f:
            sent = requests.post(server.base + "/serve/api/v1/upload_img", headers={"Authorization": key},
                                 files={"files": ("tuscany.jpg", f, "image/jpeg")}, data={"unique_id": "trip"}, timeout=60)
        assert sent.json()["code"] == "0000", sent.text
        page = browser_page
        page.goto(server.base + "/")
        page.fill("#key", "sk-reverie-wrong")
        page.click("#signin-form button")
        page.wait_for_selector("#signin-error:has-text('0401')")
        page.fill("#key", key)
        page.click("#signin-form button")
        page.wait_for_selector("#app:not([hidden])")
        page.wait_for_selector("#status:has-text('1 photo in “trip”')")
        assert page.input_value("#namespace") == "trip"
        assert page.locator("#namespace option").all_inner_texts() == ["default (0)", "trip (1)"]
        page.select_option("#namespace", "default")
        page.wait_for_selector("#status:has-text('No photos in “default”')")
        shot(page, tmp_path / "01-empty.png")

        # A photo shows in the gallery as soon as its upload answers, before it is indexed; a file that is
        # no photo gets a row that stays until dismissed, while the finished rows fade away.
        notes = tmp_path / "notes.txt"
        notes.write_text("not a photo")
        page.evaluate(WATCH_UPLOADS)
        page.set_input_files("#files", [str(LEOPARD), str(RECEIPT), str(notes)])
        # Listed as soon as the upload answers; how far indexing got by then depends on the machine, so a tile
        # shows either its thumbnail or says it is being indexed.
        page.wait_for_selector(".gallery .tile[title^='image_0001']")
        page.wait_for_selector(".gallery .tile[title^='000']")
        assert page.evaluate("[...document.querySelectorAll('.gallery .tile')].every((t) => t.querySelector('img') ||"
                             " /indexing/.test(t.querySelector('.badge.status')?.textContent || ''))")
        shot(page, tmp_path / "02-uploading.png")
        page.wait_for_function("['image_0001.jpg', '000.jpg'].every((n) => window.indexedNames.has(n))", timeout=120_000)
        page.wait_for_function("document.querySelectorAll('#uploads li').length === 1", timeout=30_000)
        failed = page.locator("#uploads li.failed")
        assert "notes.txt" in failed.inner_text() and "not uploaded" in failed.inner_text()
        page.wait_for_selector("#status:has-text('2 photos in “default”')")
        page.wait_for_function("[...document.querySelectorAll('.gallery .tile img')].length === 2")
        assert page.locator(".gallery .tile .badge.status").count() == 0
        assert page.locator(".gallery .month").count() == 1 and page.locator(".gallery .day h3").count() == 1
        shot(page, tmp_path / "03-gallery.png")
        page.click("#uploads .dismiss")
        assert page.locator("#uploads li").count() == 0

        # The detail view: a tall receipt fits inside it; previous/next by key, button and swipe.
        page.locator(".gallery .tile[title^='000']").click()
        page.wait_for_selector("#detail[open] h2:has-text('000.jpg')")
        page.wait_for_selector("#detail .frame.loaded")
        photo = page.locator("#detail .frame img").bounding_box()
        assert photo["height"] > photo["width"] and inside(photo, page.locator("#detail").bounding_box())
        assert photo["y"] + photo["height"] <= 900
        shot(page, tmp_path / "04-receipt.png")
        forward = "ArrowRight" if page.locator("#next").is_enabled() else "ArrowLeft"
        page.keyboard.press(forward)
        page.wait_for_selector("#detail h2:has-text('image_0001.jpg')")
        page.click("#prev" if forward == "ArrowRight" else "#next")
        page.wait_for_selector("#detail h2:has-text('000.jpg')")
        swipe(page, -120 if forward == "ArrowRight" else 120)
        page.wait_for_selector("#detail h2:has-text('image_0001.jpg')")
        page.click("#detail .close")

        # Results in words: no scores or signal names on the tiles; hits under the API's "low" cut go under
        # a heading of their own, the rest above it.
        search(page, "a leopard")
        first = page.locator(".tile").first
        assert first.get_attribute("title").startswith("image_0001\n")
        assert re.search(r"Looks like|Recognised in it", first.get_attribute("title"))
        assert not re.search(r"\d\.\d\d|visual|labels", page.locator("#grid").inner_text())
        assert json.loads(page.locator('meta[name="reverie-levels"]').get_attribute("content")) == LEVELS
        same = requests.post(server.base + "/serve/api/v1/search", headers={"Authorization": key}, timeout=60, json={
            "search_param": "a leopard", "search_type": "ALL", "unique_id": "default", "top_k": 200, "page_size": 200}).json()
        below = {str(i["id"]) for i in same["data"]["item"] if i["score"] < LEVELS["low"]}
        above = {str(i["id"]) for i in same["data"]["item"] if i["score"] >= LEVELS["low"]}
        assert {t.get_attribute("data-id") for t in page.locator(".tiles.weak .tile").all()} == below
        assert {t.get_attribute("data-id") for t in page.locator(".tiles.good .tile").all()} == above
        assert page.locator(".less-likely:has-text('More results, less likely')").count() == (1 if below else 0)
        assert "weak" not in first.evaluate("(t) => t.parentElement.className")
        shot(page, tmp_path / "05-search.png")

        first.click()
        page.wait_for_selector("#detail[open] h2:has-text('image_0001.jpg')")
        assert re.search(r"Looks like: a leopard|Recognised in it: .*leopard", page.locator("#detail .why").inner_text(), re.I)
        assert page.locator("#detail .labels .chip").count() >= 1
        shot(page, tmp_path / "06-detail.png")
        page.click("#detail .close")

        search(page, "taman daya")
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('000.jpg')")
        assert "TAMAN" in page.locator("#detail .ocr").inner_text().upper()
        why = page.locator("#detail .why").inner_text()
        assert re.search(r"Matches the words in the photo: taman daya", why, re.I), why
        page.click("#detail .close")

        page.set_input_files("#example", str(EVAL / "caltech101" / "Leopards" / "image_0002.jpg"))
        page.wait_for_selector("#status:has-text('images like image_0002.jpg')")
        assert page.locator(".tile").first.get_attribute("title").startswith("image_0001\nLooks like image_0002.jpg")

        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open]")
        page.once("dialog", lambda d: d.accept())
        page.click("#detail .delete")
        page.wait_for_selector("#status:has-text('Deleted image_0001.jpg')")
        show_gallery(page)
        page.wait_for_selector("#status:has-text('1 photo in “default”')")
        shot(page, tmp_path / "07-after-delete.png")

        # A video in the gallery among the photos: its length on the tile, playing muted under the pointer,
        # and the player on a click.
        clip = make_video(tmp_path / "zoo.mp4", [(Image.open(RECEIPT), 3.0), (Image.open(LEOPARD), 3.0)], size=(320, 240))
        upload(page, [str(clip)])
        page.wait_for_selector(".gallery .tile.video img")
        assert page.locator(".gallery .tile.video .duration").inner_text() == "▶ 0:06"
        page.hover(".gallery .tile.video")
        page.wait_for_selector(".gallery .tile.video video.preview", state="attached")
        assert page.locator(".gallery .tile.video video.preview").evaluate("(v) => v.muted")
        assert page.locator(".gallery .tile.video .duration").evaluate(  # its length stays in sight over the preview
            "(b) => { const r = b.getBoundingClientRect(); return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === b; }")
        shot(page, tmp_path / "08-video-tile.png")
        page.click(".gallery .tile.video")
        page.wait_for_selector("#detail[open] h2:has-text('zoo')")
        assert "#t=" not in page.locator("#detail video").get_attribute("src")
        page.click("#detail .close")

        # Its clips come back in search as playable moments, one tile per moment.
        search(page, "a leopard")
        page.wait_for_selector(".tile.clip")
        spans = [tuple(map(int, re.findall(r"\d+:(\d\d)", t))) for t in page.locator(".tile.clip .moment").all_inner_texts()]
        assert all(a[1] <= b[0] or b[1] <= a[0] for i, a in enumerate(spans) for b in spans[i + 1:]), spans
        page.locator(".tile.clip").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('zoo')")
        src = page.locator("#detail video").get_attribute("src")
        assert "#t=3," in src, src  # the leopard's shot, not the receipt's
        assert "0:03-0:06" in page.locator("#detail dl").inner_text()
        part = requests.get(src.split("#")[0], headers={"Range": "bytes=0-99"}, timeout=10)
        assert part.status_code == 206 and len(part.content) == 100  # seekable, as a player needs
        shot(page, tmp_path / "09-clip.png")
        page.click("#detail .close")

        # A video with speech: a hit on what was said shows the line on its tile and under the player.
        sonnet = make_video(tmp_path / "sonnet.mp4", [(Image.open(EVAL / "caltech101" / "accordion" / "image_0001.jpg"), 12.0)],
                            audio=EVAL / "speech" / "sonnet1" / "audio.mp3", size=(320, 240))
        upload(page, [str(sonnet)])
        search(page, "the rose might never die")
        said = page.locator(".tile.clip:has(.said)").first
        assert "rose" in said.locator(".said").inner_text().lower()
        said.click()
        page.wait_for_selector("#detail[open] h2:has-text('sonnet')")
        assert "rose might never die" in page.locator("#detail .line").inner_text().lower()
        assert re.search(r"Said at 0:0\d: “.*rose", page.locator("#detail .why").inner_text(), re.I)
        shot(page, tmp_path / "10-said.png")
        page.click("#detail .close")

        # Objects the detector found: counted by search, outlined on the photo in the detail view. The photo
        # carries a capture date from 2019, so the gallery gets a second month.
        elephants = dated_copy(ELEPHANTS, tmp_path / ELEPHANTS.name, "2019:07:14 10:30:00")
        upload(page, [str(elephants)])
        search(page, "three elephants")
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] h2:has-text('000000054718.jpg')")
        assert page.locator("#detail .objects .chip").all_inner_texts()[0].startswith("elephant")
        page.wait_for_selector("#detail .frame.loaded")
        boxes = page.locator("#detail .frame .box")
        assert boxes.count() == 3
        image = page.locator("#detail .frame img").bounding_box()
        for box in (b.bounding_box() for b in boxes.all()):  # drawn on the photo, not beside it
            assert inside(box, image, 3)
        shot(page, tmp_path / "11-objects.png")
        page.click("#detail .close")

        # The timeline: a month per entry, and a click goes to that month's photos.
        show_gallery(page)
        page.wait_for_selector("#timeline:not([hidden]) button[data-month='2019-07']")
        assert page.locator("#timeline button").count() == 2
        page.click("#timeline button[data-month='2019-07']")
        july = page.locator(".gallery .month[data-month='2019-07']")
        assert july.locator("h2").inner_text() == "July 2019"
        assert july.locator(".day h3").inner_text() == "Sunday 14 July"
        assert july.locator(".tile").get_attribute("title").startswith("000000054718")
        page.wait_for_function("(() => { const r = document.querySelector(\".month[data-month='2019-07']\").getBoundingClientRect();"
                               " return r.top >= 0 && r.top < innerHeight; })()")
        page.wait_for_selector("#timeline button.current[data-month='2019-07']")
        shot(page, tmp_path / "12-timeline.png")

        # A phone: nothing runs off the side, the header fits, badges stay on their tiles.
        page.set_viewport_size({"width": 390, "height": 844})
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for part in ("header .brand", "#namespace", "#signout", "#query", "#search-form button[type=submit]"):
            box = page.locator(part).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, part
        assert page.locator("header").bounding_box()["height"] < 120
        shot(page, tmp_path / "13-phone.png")
        search(page, "a leopard")
        for t in page.locator(".tile").all():
            for b in t.locator(".badge").all():
                assert inside(b.bounding_box(), t.bounding_box())
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, tmp_path / "14-phone-search.png")
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail[open] .why")
        assert inside(page.locator("#detail").bounding_box(), {"x": 0, "y": 0, "width": 390, "height": 844})
        shot(page, tmp_path / "15-phone-detail.png")
        page.click("#detail .close")

        # The namespace looked at last opens next time; without one, the largest.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.select_option("#namespace", "trip")
        page.wait_for_selector("#status:has-text('1 photo in “trip”')")
        page.reload()
        page.wait_for_selector("#status:has-text('1 photo in “trip”')")
        assert page.input_value("#namespace") == "trip"
        page.evaluate("localStorage.removeItem('reverie-ns')")
        page.reload()
        page.wait_for_selector("#status:has-text('in “default”')")
        assert page.input_value("#namespace") == "default"

        # A library longer than a page: the timeline's oldest month loads the pages up to it and goes there.
        # (Photos are listed from their upload on, so these need no indexing to be paged through.)
        def colour(i: int) -> tuple[str, bytes, str]:
            buf = io.BytesIO()
            Image.new("RGB", (48, 48), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(buf, "JPEG")
            return (f"c{i:03}.jpg", buf.getvalue(), "image/jpeg")

        # the capture time given with the upload (EXIF's is read later, by indexing)
        batches = [([colour(i) for i in range(n, n + 50)], {}) for n in (0, 50)] + [([colour(100)], {"datetime_taken": "2018-03-09 08:00:00"})]
        for batch, fields in batches:
            sent = requests.post(server.base + "/serve/api/v1/upload_img", headers={"Authorization": key},
                                 files=[("files", f) for f in batch], data={"unique_id": "archive", **fields}, timeout=120)
            assert sent.json()["code"] == "0000", sent.text
        page.reload()
        page.wait_for_selector("#app:not([hidden])")
        page.select_option("#namespace", "archive")
        page.wait_for_selector("#status:has-text('101 photos in “archive”')")
        assert page.locator(".gallery .tile").count() == 100  # one page
        page.click("#timeline button[data-month='2018-03']")
        page.wait_for_selector(".gallery .month[data-month='2018-03'] .tile[title^='c100']")
        assert page.locator(".gallery .tile").count() == 101
        page.wait_for_function("(() => { const r = document.querySelector(\".month[data-month='2018-03']\").getBoundingClientRect();"
                               " return r.top >= 0 && r.top < innerHeight; })()")
        page.wait_for_selector("#timeline button.current[data-month='2018-03']")
        page.screenshot(path=str(tmp_path / "16-jump.png"))  # the view the click led to
        assert sorted(p.name for p in tmp_path.glob("*.png")) == [
            "01-empty.png", "02-uploading.png", "03-gallery.png", "04-receipt.png", "05-search.png", "06-detail.png",
            "07-after-delete.png", "08-video-tile.png", "09-clip.png", "10-said.png", "11-objects.png", "12-timeline.png",
            "13-phone.png", "14-phone-search.png", "15-phone-detail.png", "16-jump.png"]
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
        upload(page, [str(p) for p in hawn + thorpe])
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
        assert "Goldie Hawn is in it" in page.locator("#detail .why").inner_text()
        assert page.locator("#detail .faces .not-them").count() == 1
        shot(page, tmp_path / "9-faces.png")
        page.click("#detail .close")

        search(page, "Goldie Hawn")  # the name finds that person's photos, and only theirs
        assert page.locator(".tile").count() == first

        before = cards.count()
        photos = sum(int(cards.nth(i).locator(".count").inner_text().split()[0]) for i in (0, 1))
        cards.first.locator(".face").click()  # her photos on screen while she is merged: then the merged person's
        page.wait_for_selector(f"#status:has-text('{first} photo{'s' if first > 1 else ''} of Goldie Hawn')")
        cards.nth(0).locator("input[type=checkbox]").check()
        cards.nth(1).locator("input[type=checkbox]").check()
        page.click("#merge:has-text('Merge 2 people')")
        page.wait_for_selector(f"#status:has-text('Merged 2 people into one: {photos} photos of Goldie Hawn')")
        assert page.locator(".tile").count() == photos
        assert page.locator(".person input[type=checkbox]:checked").count() == 0  # nothing left ticked to merge
        page.wait_for_function(f"document.querySelectorAll('.person').length === {before - 1}")
        assert page.locator(".person").first.locator("input.name").input_value() == "Goldie Hawn"
        assert page.locator(".person").first.locator(".count").inner_text() == f"{photos} photos"
        shot(page, tmp_path / "10-merged.png")

        # The strip reloads as each photo finishes indexing: a name half typed in it survives that.
        pid = page.locator(".person").first.get_attribute("data-id")
        typing = page.locator(f".person[data-id='{pid}'] input.name")
        typing.fill("Goldie Hawn, act")
        shown = sum(int(c.split()[0]) for c in page.locator(".person .count").all_inner_texts())
        upload(page, [str(sorted((faces / "Ian_Thorpe").glob("*.jpg"))[2])])
        page.wait_for_function("[...document.querySelectorAll('.person .count')].reduce((n, c) => n + parseInt(c.textContent), 0) "
                               f"=== {shown + 1}")
        assert page.evaluate("document.activeElement.closest('.person')?.dataset.id") == pid
        assert typing.input_value() == "Goldie Hawn, act"
    finally:
        server.stop()
