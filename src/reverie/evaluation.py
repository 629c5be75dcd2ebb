"""`reverie eval`: retrieval quality on ../shared/eval, measured through the public HTTP API.

Gallery (one namespace): the COCO photos, the Caltech-101 images and the SROIE receipts. Then:
  text -> image   each COCO caption as a query; R@1/5/10 of its photo
  image -> image  one image per Caltech class as the example (search_similar_imgs); P@10 counts same-class
                  hits among the top 10 (the query itself excluded), divided by min(10, other images of
                  the class), since the set has only 6 images a class
  OCR             each receipt's company name (key/*.json) as a query; hit@1 of a receipt of that company
                  (labels equal but for punctuation, spaces and case name one company: `company_key`), and
                  how many of those right first hits each filtering level keeps;
                  and one word of each company's name ("AEON", "D.I.Y.", `shop_word`), where a receipt of any
                  company whose name holds the word counts
  unrelated       queries about things absent from the gallery; hits each filtering level lets through
  Flickr8k        (own namespace: its 200 photos) each English caption, and the German and French sentence
                  of 185 of them, as a query; R@1/5/10 of its photo; and queries that count what the
                  detector knows ("two dogs", `COUNTED`), right where two or more of a photo's captions say
                  so: mAP, and how many hits `high` keeps and how many of those are right
  COCO categories (own namespace: the 80 COCO photos) each COCO category present in them as a query ("dog",
                  "dining table"), judged by COCO's own object labels: mean average precision over the
                  categories, the share of hits kept at `high` that are right, and of right photos kept at `low`
  text -> clip    (--videos) the COCO photos as 3-second shots of 10 videos, among videos of Caltech images;
                  each caption as a BY_CLIP query; R@1/5/10 of a clip on its photo's shot, and what each
                  filtering level keeps of right answers and of unrelated queries; each COCO category as a
                  BY_CLIP query, mAP judged by COCO's labels of the shots' photos
  image -> frame  (--videos) each Caltech image left out of the videos as the example (search_similar_images,
                  any similarity): average precision of the 2 shots of its class, and R@1 of one of them
  speech          (--speech) phrase search and BY_AUDIO on read and synthesised speech (speech_evaluation.py)
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .eval_api import checked, searched
from .search.fusion import LEVELS

NAMESPACE = "eval"
VIDEO_NAMESPACE = "eval-videos"
FLICKR_NAMESPACE = "eval-flickr8k"
COCO_NAMESPACE = "eval-coco"
SHOT_S = 3.0
SHOTS_PER_VIDEO = 8
DISTRACTORS_PER_CLASS = 2  # Caltech images a class in the distractor videos

UNRELATED = [
    "fireworks over a harbour at night", "a bowl of ramen noodles", "a bride in a white wedding dress",
    "a surfer riding a big wave", "a snowy mountain peak at sunrise", "a hot air balloon festival",
    "an x-ray of a broken arm", "a chess tournament", "a field of sunflowers", "a volcano erupting",
    "a scuba diver near a coral reef", "a spreadsheet with quarterly revenue", "a marathon finish line",
    "a lighthouse on a cliff in a storm", "a plate of sushi", "a rainbow over a waterfall",
    "a frozen lake with ice skaters", "a desert with sand dunes", "a tattoo on an arm", "a violin concert",
]


@dataclass
class Gallery:
    coco: dict[str, list[str]]  # file name -> captions
    caltech: dict[str, list[Path]]  # class -> images
    receipts: list[tuple[Path, str]]  # image, company

    @classmethod
    def load(cls, root: Path) -> "Gallery":
        coco = json.loads((root / "coco" / "captions.json").read_text())
        caltech: dict[str, list[Path]] = {}
        for p in sorted((root / "caltech101").glob("*/*.jpg")):
            caltech.setdefault(p.parent.name, []).append(p)
        receipts = []
        for key in sorted((root / "sroie" / "key").glob("*.json")):
            images = list((root / "sroie" / "img").glob(key.stem + ".*"))
            company = json.loads(key.read_text()).get("company", "").strip()
            if images and company:
                receipts.append((images[0], company))
        return cls(coco, caltech, receipts)

    def files(self, root: Path) -> list[tuple[Path, str]]:
        """(path, kind:label) for every image."""
        out = [(root / "coco" / "images" / name, f"coco:{name}") for name in sorted(self.coco)]
        out += [(p, f"caltech:{c}") for c, ps in sorted(self.caltech.items()) for p in ps]
        out += [(p, f"receipt:{p.stem}") for p, _ in self.receipts]
        return out


# Words of a company name that name no shop in particular; a "shop word" query is the first other word.
GENERIC = set("""SDN BHD S/B CO ENTERPRISE TRADING HARDWARE ELECTRICAL STATIONERY BOOKS BOOK RESTAURANTS RESTAURANT
RESTORAN MARKET MART MINI CITY GALLERY INTERNATIONAL MACHINERY MOTOR OWNER HOME GIFT DECO PERNIAGAAN""".split())


ASKED = "receipt from {}"  # a shop word as people ask for its receipt
SHOPPED = "where did we shop at {}"  # and for the shop: "shop" is printed on other receipts, and looks like photos of shops


def shop_word(company: str) -> str:
    """The word a person would type for the shop: dotted initials ("D.I.Y.") whole, else the first word of
    4 or more letters that is not a business word ("YHM AEON TEBRAU CITY" -> "AEON")."""
    tokens = company.replace("(", " ").replace(")", " ").replace("&", " ").split()
    for t in tokens:
        if t.count(".") >= 2 and sum(ch.isalpha() for ch in t) >= 2:
            return t
    for t in tokens:
        word = t.strip(".,")
        if len(word) >= 4 and word.isalpha() and word.upper() not in GENERIC:
            return word
    return next((t for t in tokens if len(t) >= 3), company)


def name_as_one_word(company: str) -> str | None:
    """The shop's name as people type a brand, its first two words written together ("PERNIAGAAN ZHENG HUI" ->
    "zhenghui", "OWNER BY CASTLE BLUE S/B" -> "castleblue", "MR. D.I.Y. (M)" -> "mrdiy") where the receipt
    prints them spaced; None where those two are not both the shop's own words ("ASIA MART", "AEON CO.") or join
    to fewer than 5 letters ("C W KHOO": "cw"), which nobody types as one."""
    def business(word: str) -> bool:
        return word.strip(".,").upper() in GENERIC | {"BY"}

    words = re.sub(r"\(.*?\)", " ", company).replace("&", " ").split()
    while words and (business(words[0]) or not any(ch.isalpha() for ch in words[0])):
        words.pop(0)
    if len(words) < 2 or any(business(w) for w in words[:2]):
        return None
    glued = "".join(words[:2]).replace(".", "").lower()
    return glued if len(glued) >= 5 else None


def company_key(company: str) -> str:
    """Which shop a receipt's label names: SROIE spells one shop "MR. D.I.Y. (M) SDN BHD" on one receipt and
    "MR D.I.Y. (M) SDN BHD" on another, so punctuation, spaces and case do not tell two shops apart."""
    return "".join(ch for ch in company.lower() if ch.isalnum())


MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def video_plan(gallery: Gallery, root: Path) -> list[list[tuple[Path, str | None]]]:
    """Videos to make: lists of (picture, COCO name or None for a distractor), SHOTS_PER_VIDEO a video."""
    coco = [(root / "coco" / "images" / name, name) for name in sorted(gallery.coco)]
    distractors = [(p, None) for _, ps in sorted(gallery.caltech.items()) for p in ps[:DISTRACTORS_PER_CLASS]]
    shots = coco + distractors
    return [shots[i: i + SHOTS_PER_VIDEO] for i in range(0, len(shots), SHOTS_PER_VIDEO)]


CATEGORY_HITS = 200  # clips a category query lists: more than the COCO shots (80), so every right one can show


def run_videos(http: httpx.Client, root: Path, gallery: Gallery, echo=print) -> dict:  # noqa: ANN001
    import tempfile

    from PIL import Image

    from .synthetic_video import make_video

    started = time.time()
    where: dict[str, tuple[str, float]] = {}  # COCO name -> (videoNo, shot start)
    shots_of: dict[str, list[tuple[str, float]]] = {}  # Caltech class -> its shots (videoNo, start)
    in_videos: set[Path] = set()  # the Caltech images shown in them
    numbers = []
    with tempfile.TemporaryDirectory(prefix="reverie-eval-videos-") as tmp:
        for n, plan in enumerate(video_plan(gallery, root)):
            path = make_video(Path(tmp) / f"eval-{n:03d}.mp4", [(Image.open(p), SHOT_S) for p, _ in plan], fps=4, size=(640, 480))
            with open(path, "rb") as f:
                no = checked(http.post("/upload", files={"file": (path.name, f, "video/mp4")},
                                      data={"unique_id": VIDEO_NAMESPACE}))["videoNo"]
            numbers.append(no)
            for i, (picture, name) in enumerate(plan):
                if name is not None:
                    where[name] = (no, i * SHOT_S)
                else:
                    shots_of.setdefault(picture.parent.name, []).append((no, i * SHOT_S))
                    in_videos.add(picture)
    echo(f"uploaded {len(numbers)} videos in {time.time() - started:.0f}s; indexing...")
    while True:
        page = checked(http.post("/list_videos", json={"unique_id": VIDEO_NAMESPACE, "status": "UNPARSE", "size": 1}))
        if page["total_count"] == 0:
            break
        time.sleep(2)
    echo(f"videos indexed in {time.time() - started:.0f}s")

    def search(query: str, level: str | None = None) -> list[dict]:
        body = {"search_param": query, "search_type": "BY_CLIP", "unique_id": VIDEO_NAMESPACE, "top_k": 10}
        if level:
            body["filtering_level"] = level
        return searched(http, body)

    def on_shot(hit: dict, no: str, start: float) -> bool:
        a, b = int(hit["startTime"]), int(hit["endTime"])
        return hit["videoNo"] == no and a < start + SHOT_S and b > start and b - a <= 2 * SHOT_S + 1

    ranks, right_scores = [], []
    for name, captions in gallery.coco.items():
        no, start = where[name]
        for caption in captions:
            hits = search(caption)
            rank = next((i for i, h in enumerate(hits) if on_shot(h, no, start)), 99)
            ranks.append(rank)
            if rank < 99:
                right_scores.append(hits[rank]["score"])
    levels = {}
    for level, cut in LEVELS.items():
        unrelated = sum(len(search(q, level)) for q in UNRELATED) / len(UNRELATED)
        levels[level] = {"unrelated_hits_per_query": unrelated,
                         "right_answers_kept": sum(s >= cut for s in right_scores) / max(1, len(ranks))}

    # Categories: each COCO category the shots show as a query; a hit is right on a shot whose photo COCO
    # labels with it, counted once (the first hit on it), as the photos' category queries count photos.
    objects: dict[str, dict[str, int]] = json.loads((root / "coco" / "objects.json").read_text())
    precisions = []
    for category in sorted({c for name in where for c in objects.get(name, {})}):
        relevant = {name for name in where if category in objects.get(name, {})}
        body = {"search_param": category, "search_type": "BY_CLIP", "unique_id": VIDEO_NAMESPACE, "top_k": CATEGORY_HITS}
        found, ap = set(), 0.0
        for rank, hit in enumerate(searched(http, body), 1):
            shot = next((n for n in relevant - found if on_shot(hit, *where[n])), None)
            if shot is not None:
                found.add(shot)
                ap += len(found) / rank
        precisions.append(ap / len(relevant))

    # Keyframes by example: a shot counts once, on its first hit, as for the categories.
    frame_aps, frame_firsts = [], []
    for cls, paths in gallery.caltech.items():
        for example in [p for p in paths if p not in in_videos]:
            res = http.post("/search_similar_images", files=[("file", (example.name, example.read_bytes(), "image/jpeg"))],
                            data={"unique_id": VIDEO_NAMESPACE, "top_k": "10", "similarity": "0"})
            found, ap = set(), 0.0
            hits = checked(res)
            for rank, hit in enumerate(hits, 1):
                shot = next((s for s in set(shots_of[cls]) - found if on_shot(hit, *s)), None)
                if shot is not None:
                    found.add(shot)
                    ap += len(found) / rank
            frame_aps.append(ap / len(shots_of[cls]))
            frame_firsts.append(bool(hits) and any(on_shot(hits[0], *s) for s in shots_of[cls]))
    return {"videos": len(numbers), "queries": len(ranks),
            "recall": {f"R@{k}": sum(r < k for r in ranks) / len(ranks) for k in (1, 5, 10)}, "levels": levels,
            "categories": {"categories": len(precisions), "mAP": sum(precisions) / len(precisions)},
            "frames_by_example": {"queries": len(frame_aps), "mAP": sum(frame_aps) / max(1, len(frame_aps)),
                                  "R@1": sum(frame_firsts) / max(1, len(frame_firsts))}}


def _upload_and_wait(http: httpx.Client, files: list[Path], namespace: str, echo=print) -> dict[str, int]:  # noqa: ANN001
    """Upload `files` into `namespace`, wait until every one is indexed; file name -> image id."""
    ids: dict[str, int] = {}
    for i in range(0, len(files), 10):
        batch = files[i: i + 10]
        parts = [("files", (p.name, p.read_bytes(), MIME.get(p.suffix.lower(), "image/jpeg"))) for p in batch]
        for p, item in zip(batch, checked(http.post("/upload_img", files=parts, data={"unique_id": namespace}))):
            ids[p.name] = item["id"]
    while checked(http.post("/img_list_page", json={"unique_id": namespace, "status": "UNPARSE", "page_size": 1}))["total_count"]:
        time.sleep(2)
    echo(f"{namespace}: {len(files)} images indexed")
    return ids


def _search(http: httpx.Client, namespace: str, query: str, top_k: int, level: str | None = None) -> list[dict]:
    body = {"search_param": query, "search_type": "BY_IMAGE", "unique_id": namespace, "top_k": top_k, "page_size": top_k}
    if level:
        body["filtering_level"] = level
    return searched(http, body)["item"]


def _recall(ranks: list[int]) -> dict[str, float]:
    return {f"R@{k}": sum(r < k for r in ranks) / max(1, len(ranks)) for k in (1, 5, 10)}


def _average_precision(hits: list[dict], is_right: Callable[[int], bool], relevant: int) -> float:
    """Average precision of a ranked hit list, `relevant` right answers in all (those ranked below it count
    as not found)."""
    found, ap = 0, 0.0
    for rank, h in enumerate(hits, 1):
        if is_right(h["id"]):
            found += 1
            ap += found / rank
    return ap / relevant


_PEOPLE = r"(?:people|men|women|boys|girls|children|kids|persons|guys|ladies|adults|teenagers)"
# Queries that count a kind the detector knows, and how a Flickr8k caption says that many of it.
COUNTED = {
    "two dogs": r"\btwo (?:\w+ )?dogs\b", "three dogs": r"\bthree (?:\w+ )?dogs\b",
    "two people": rf"\btwo (?:\w+ )?{_PEOPLE}\b|\ba (?:man|woman|boy|girl) and an? (?:man|woman|boy|girl)\b",
    "three people": rf"\bthree (?:\w+ )?{_PEOPLE}\b",
    "several dogs": r"\b(?:three|four|five|several|many) (?:\w+ )?dogs\b|\b(?:group|pack) of dogs\b",
    "many people": rf"\b(?:group|crowd|team|lots) of (?!dogs)|\b(?:several|many|three|four|five) (?:\w+ )?{_PEOPLE}\b",
}


def run_counted(http: httpx.Client, captions: dict[str, list[str]], ids: dict[str, int]) -> dict:
    """COUNTED over the Flickr8k photos (the first ANIMAL_HITS hits of each), right where two or more of a
    photo's captions say that many; queries no photo's captions count are left out."""
    precisions, kept_high, right_high, asked = [], 0, 0, []
    for query, pattern in COUNTED.items():
        right = {ids[n] for n, said in captions.items() if sum(bool(re.search(pattern, c.lower())) for c in said) >= 2}
        if not right:
            continue
        asked.append(query)
        hits = _search(http, FLICKR_NAMESPACE, query, ANIMAL_HITS)
        precisions.append(_average_precision(hits, right.__contains__, len(right)))
        high = [h for h in hits if h["score"] >= LEVELS["high"]]
        kept_high += len(high)
        right_high += sum(h["id"] in right for h in high)
    return {"queries": asked, "mAP": sum(precisions) / len(precisions) if precisions else None,
            "kept_at_high": kept_high, "right_at_high": right_high}


def run_flickr(http: httpx.Client, root: Path, echo=print) -> tuple[dict, dict]:  # noqa: ANN001
    """R@1/5/10 of each language's captions ({language: figures}), and run_counted()'s figures."""
    folder = root / "flickr8k"
    captions: dict[str, list[str]] = json.loads((folder / "captions.json").read_text())
    translations: dict[str, dict[str, str]] = json.loads((folder / "translations.json").read_text())
    ids = _upload_and_wait(http, [folder / "images" / name for name in sorted(captions)], FLICKR_NAMESPACE, echo)
    queries = {"en": [(c, name) for name in sorted(captions) for c in captions[name]]}
    for lang in ("de", "fr"):
        queries[lang] = [(t[lang], name) for name, t in sorted(translations.items()) if t.get(lang)]
    out = {}
    for lang, pairs in queries.items():
        ranks = []
        for query, name in pairs:
            hits = [h["id"] for h in _search(http, FLICKR_NAMESPACE, query, 10)]
            ranks.append(hits.index(ids[name]) if ids[name] in hits else 99)
        out[lang] = {**_recall(ranks), "queries": len(ranks)}
    return out, run_counted(http, captions, ids)


def run_coco_categories(http: httpx.Client, root: Path, echo=print) -> dict:  # noqa: ANN001
    objects: dict[str, dict[str, int]] = json.loads((root / "coco" / "objects.json").read_text())
    ids = _upload_and_wait(http, [root / "coco" / "images" / name for name in sorted(objects)], COCO_NAMESPACE, echo)
    categories = sorted({c for counts in objects.values() for c in counts})
    precisions, kept_high, right_high, right, kept_low = [], 0, 0, 0, 0
    for category in categories:
        relevant = {ids[name] for name, counts in objects.items() if category in counts}
        hits = _search(http, COCO_NAMESPACE, category, len(ids))
        precisions.append(_average_precision(hits, relevant.__contains__, len(relevant)))
        high = [h for h in hits if h["score"] >= LEVELS["high"]]
        kept_high += len(high)
        right_high += sum(h["id"] in relevant for h in high)
        right += len(relevant)
        kept_low += sum(h["id"] in relevant and h["score"] >= LEVELS["low"] for h in hits)
    return {"categories": len(categories), "mAP": sum(precisions) / len(precisions),
            "precision_at_high": right_high / kept_high if kept_high else None, "kept_at_high": kept_high,
            "recall_at_low": kept_low / right}


@contextlib.contextmanager
def local_server(data: Path, values: dict) -> Iterator[tuple[str, str]]:
    """A `reverie serve` on a free loopback port over the data folder `data`, with a new key: (url, key).
    `values` holds the model settings (model_dir, visual_model, clip_path, workers)."""
    key = subprocess.run([sys.executable, "-m", "reverie.cli", "keys", "create", "--name", "eval", "--data", str(data)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "reverie.cli", "serve", "--data", str(data), "--port", str(port), "--log-level", "warning",
            "--workers", str(values["workers"]), "--visual-model", values["visual_model"]]
    if values.get("clip_path"):
        args += ["--clip-path", values["clip_path"]]
    if str(values["model_dir"]) not in ("", "."):
        args += ["--model-dir", str(values["model_dir"])]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", key
    finally:
        proc.terminate()
        proc.wait(timeout=60)


class NotEmpty(Exception):
    """The server already holds pictures or videos where the eval would build its library."""


def ensure_empty(http: httpx.Client, images: bool, videos: bool, speech: bool) -> None:
    """Refuse a library that already holds what the eval uploads: its old copies would be hits no label
    names (a second run on the same --data folder counted them wrong, then failed on their ids)."""
    from .speech_evaluation import NAMESPACE as SPEECH_NAMESPACE

    held = []
    for wanted, namespaces, path, size in ((images, (NAMESPACE, FLICKR_NAMESPACE, COCO_NAMESPACE), "/img_list_page", "page_size"),
                                           (videos, (VIDEO_NAMESPACE,), "/list_videos", "size"),
                                           (speech, (SPEECH_NAMESPACE,), "/list_videos", "size")):
        for namespace in namespaces if wanted else ():
            total = checked(http.post(path, json={"unique_id": namespace, size: 1}))["total_count"]
            if total:
                held.append(f"{total} in unique_id '{namespace}'")
    if held:
        raise NotEmpty(f"this library already holds what `reverie eval` uploads ({', '.join(held)}): the eval "
                       "measures a library it builds itself. Run it without --data (a new temporary folder), "
                       "with a new or empty --data folder, or delete those namespaces first.")


def run(base_url: str, key: str, root: Path, echo=print, videos: bool = True, images: bool = True,  # noqa: ANN001
        speech: bool = True) -> dict:
    http = httpx.Client(base_url=base_url.rstrip("/") + "/serve/api/v1", headers={"Authorization": key}, timeout=300)
    ensure_empty(http, images, videos, speech)
    result = run_images(http, root, echo) if images else {}
    if videos:
        result["videos"] = run_videos(http, root, Gallery.load(root), echo)
    if speech:
        from .speech_evaluation import run_speech

        result["speech"] = run_speech(http, root, echo)
    return result


def run_images(http: httpx.Client, root: Path, echo=print) -> dict:  # noqa: ANN001
    gallery = Gallery.load(root)
    by_label: dict[str, int] = {}
    files = gallery.files(root)
    started = time.time()
    for i in range(0, len(files), 10):
        batch = files[i : i + 10]
        parts = [("files", (p.name, p.read_bytes(), MIME.get(p.suffix.lower(), "image/jpeg"))) for p, _ in batch]
        ids = checked(http.post("/upload_img", files=parts, data={"unique_id": NAMESPACE}))
        for (p, label), item in zip(batch, ids):
            by_label[f"{label}:{p.name}"] = item["id"]
    echo(f"uploaded {len(files)} images in {time.time() - started:.0f}s; indexing...")
    while True:
        page = checked(http.post("/img_list_page", json={"unique_id": NAMESPACE, "status": "UNPARSE", "page_size": 1}))
        if page["total_count"] == 0:
            break
        echo(f"  {page['total_count']} still indexing")
        time.sleep(2)
    echo(f"indexed in {time.time() - started:.0f}s")
    id_of = {label.split(":", 2)[2] if label.startswith("coco") else label: i for label, i in by_label.items()}

    def search(query: str, top_k: int, level: str | None = None) -> list[dict]:
        return _search(http, NAMESPACE, query, top_k, level)

    # text -> image
    ranks = []
    relevant_scores = []
    for name, captions in gallery.coco.items():
        target = id_of[name]
        for caption in captions:
            hits = search(caption, 10)
            ids = [h["id"] for h in hits]
            ranks.append(ids.index(target) if target in ids else 99)
            relevant_scores += [h["score"] for h in hits if h["id"] == target]
    text_image = {f"R@{k}": sum(r < k for r in ranks) / len(ranks) for k in (1, 5, 10)}

    # image -> image
    label_of = {i: label.split(":")[1] for label, i in by_label.items() if label.startswith("caltech")}
    precisions = []
    for cls, paths in gallery.caltech.items():
        query = paths[0]
        query_id = by_label[f"caltech:{cls}:{query.name}"]
        res = http.post("/search_similar_imgs", files=[("file", (query.name, query.read_bytes(), "image/jpeg"))],
                        data={"unique_id": NAMESPACE, "top_k": "11"})
        hits = [h["id"] for h in checked(res)["item"] if h["id"] != query_id][:10]
        same = sum(label_of.get(h) == cls for h in hits)
        precisions.append(same / min(10, len(paths) - 1))
    image_image = sum(precisions) / len(precisions)

    # OCR
    ocr_hits = 0
    of_label: dict[str, set[int]] = {}
    for path, company in gallery.receipts:  # several receipts come from the same shop
        of_label.setdefault(company, set()).add(by_label[f"receipt:{path.stem}:{path.name}"])
    of_company: dict[str, set[int]] = {}
    for company, ids in of_label.items():
        of_company.setdefault(company_key(company), set()).update(ids)
    found_scores = []  # the score of each right first hit: what a filtering level keeps of them
    for path, company in gallery.receipts:
        hits = search(company, 1)
        if hits and hits[0]["id"] in of_company[company_key(company)]:
            ocr_hits += 1
            found_scores.append(hits[0]["score"])
    ocr = ocr_hits / len(gallery.receipts)
    ocr_kept = {level: sum(s >= cut for s in found_scores) / len(gallery.receipts) for level, cut in LEVELS.items()}
    words = {company: shop_word(company) for company in of_label}
    word_hits = asked_hits = shopped_hits = 0
    for company, word in words.items():  # any receipt of a company whose name holds the word counts
        right = set().union(*(ids for c, ids in of_label.items() if word.lower() in c.lower()))
        hits = search(word, 1)
        word_hits += bool(hits) and hits[0]["id"] in right
        hits = search(ASKED.format(word), 1)  # asked for in a sentence, whose other words any receipt may print
        asked_hits += bool(hits) and hits[0]["id"] in right
        hits = search(SHOPPED.format(word), 1)
        shopped_hits += bool(hits) and hits[0]["id"] in right
    glued = sorted({name for company in of_label if (name := name_as_one_word(company))})
    glued_hits = 0
    for name in glued:  # as for a shop word: any receipt of a company whose name holds it counts
        right = set().union(*(ids for c, ids in of_label.items() if name in company_key(c)))
        hits = search(name, 1)
        glued_hits += bool(hits) and hits[0]["id"] in right

    # filtering levels: unrelated queries vs the right answers
    levels = {}
    for level in ("low", "medium", "high"):
        unrelated = sum(len(search(q, 100, level)) for q in UNRELATED) / len(UNRELATED)
        kept = sum(s >= LEVELS[level] for s in relevant_scores) / max(1, len(ranks))
        levels[level] = {"unrelated_hits_per_query": unrelated, "right_answers_kept": kept}
    languages, counted = run_flickr(http, root, echo)
    return {
        "flickr8k": languages, "counted": counted,
        "coco_categories": run_coco_categories(http, root, echo),
        "gallery": {"coco": len(gallery.coco), "caltech": sum(map(len, gallery.caltech.values())), "receipts": len(gallery.receipts)},
        "text_image": text_image, "text_image_queries": len(ranks),
        "image_image_P@10": image_image, "image_image_queries": len(precisions),
        "ocr_hit@1": ocr, "ocr_queries": len(gallery.receipts), "ocr_hit@1_kept": ocr_kept,
        "ocr_word_hit@1": word_hits / len(words), "ocr_word_queries": sorted(words.values()),
        "ocr_asked_hit@1": asked_hits / len(words), "ocr_shopped_hit@1": shopped_hits / len(words),
        "ocr_glued_hit@1": glued_hits / len(glued) if glued else None, "ocr_glued_queries": glued,
        "levels": levels,
        "animals": run_animals(search, by_label, root),
    }


# COCO's animals as queries over the whole library, where Caltech-101 holds animals the detector was not
# trained on and calls by these names (models/animal_check.py). For each: the Caltech classes that are it,
# and those that arguably are (a cartoon dog, wild cats for "cat"), which the measure leaves out.
ANIMALS = {
    "dog": ({"dalmatian"}, {"snoopy"}), "cat": (set(), {"wild_cat", "cougar_body", "cougar_face", "Leopards", "garfield"}),
    "bird": ({"ibis", "flamingo", "flamingo_head", "emu", "rooster", "pigeon"}, {"crane"}), "bear": (set(), {"panda"}),
    "elephant": ({"elephant"}, set()), "horse": (set(), set()), "sheep": (set(), set()), "cow": (set(), set()),
    "zebra": (set(), set()), "giraffe": (set(), set()),
}


ANIMAL_HITS = 200  # the API's largest page; a right photo below it counts as not found


def run_animals(search, by_label: dict[str, int], root: Path) -> dict:  # noqa: ANN001
    """mAP of the animal queries over the whole library (its first ANIMAL_HITS hits), and at `medium` how many
    right photos are kept and how many wrong ones come through."""
    objects: dict[str, dict[str, int]] = json.loads((root / "coco" / "objects.json").read_text())
    kind_of = {i: label.split(":")[:2] for label, i in by_label.items()}  # id -> [coco|caltech|receipt, name or class]
    precisions, right_total, right_kept, wrong_kept = [], 0, 0, 0
    for animal, (classes, arguable) in ANIMALS.items():
        def right(i: int) -> bool:
            kind, name = kind_of[i]
            return animal in objects.get(name, {}) if kind == "coco" else kind == "caltech" and name in classes
        relevant = sum(right(i) for i in by_label.values())
        if not relevant:
            continue
        hits = [h for h in search(animal, ANIMAL_HITS) if kind_of[h["id"]][1] not in arguable]
        precisions.append(_average_precision(hits, right, relevant))
        right_total += relevant
        right_kept += sum(right(h["id"]) and h["score"] >= LEVELS["medium"] for h in hits)
        wrong_kept += sum(not right(h["id"]) and h["score"] >= LEVELS["medium"] for h in hits)
    return {"queries": len(precisions), "mAP": sum(precisions) / len(precisions), "right": right_total,
            "right_kept_at_medium": right_kept, "wrong_kept_at_medium": wrong_kept}


def table(result: dict) -> str:
    rows = _image_rows(result) if "text_image" in result else []
    v = result.get("videos")
    if v:
        r = v["recall"]
        rows.append(("text->clip R@1 / R@5 / R@10", f"{r['R@1']:.3f} / {r['R@5']:.3f} / {r['R@10']:.3f}  "
                                                     f"({v['queries']} captions, {v['videos']} videos)"))
        rows.append(("text->clip COCO categories mAP", f"{v['categories']['mAP']:.3f}  ({v['categories']['categories']} categories)"))
        x = v["frames_by_example"]
        if x["queries"]:  # a Caltech class with no image left out of the videos gives no example
            rows.append(("image->frame mAP; R@1", f"{x['mAP']:.3f}; {x['R@1']:.3f}  ({x['queries']} Caltech examples)"))
        for level, x in v["levels"].items():
            rows.append((f"clips, filtering_level {level}", f"{x['unrelated_hits_per_query']:.1f} hits per unrelated query; "
                                                             f"{x['right_answers_kept']:.0%} of right answers kept"))
    if result.get("speech"):
        from .speech_evaluation import rows as speech_rows

        rows += speech_rows(result["speech"])
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 50}"] + [f"{k:<{width}}  {v}" for k, v in rows])


def _image_rows(result: dict) -> list[tuple[str, str]]:
    t = result["text_image"]
    rows = [
        ("gallery", f"{result['gallery']['coco']} COCO + {result['gallery']['caltech']} Caltech + {result['gallery']['receipts']} receipts"),
        ("text->image R@1 / R@5 / R@10", f"{t['R@1']:.3f} / {t['R@5']:.3f} / {t['R@10']:.3f}  ({result['text_image_queries']} captions)"),
        ("image->image P@10", f"{result['image_image_P@10']:.3f}  ({result['image_image_queries']} classes)"),
        ("OCR hit@1", f"{result['ocr_hit@1']:.3f}  ({result['ocr_queries']} receipts)"),
        ("OCR hit@1 kept at low / medium / high", " / ".join(f"{v:.3f}" for v in result["ocr_hit@1_kept"].values())),
        ("OCR hit@1 by one shop word", f"{result['ocr_word_hit@1']:.3f}  ({len(result['ocr_word_queries'])} companies)"),
        (f"OCR hit@1 by \"{ASKED.format('<shop word>')}\"", f"{result['ocr_asked_hit@1']:.3f}"),
        (f"OCR hit@1 by \"{SHOPPED.format('<shop word>')}\"", f"{result['ocr_shopped_hit@1']:.3f}"),
    ]
    if result["ocr_glued_queries"]:  # no company of the set may have a name of two words of its own
        rows.append(("OCR hit@1 by a name typed as one word",
                     f"{result['ocr_glued_hit@1']:.3f}  ({len(result['ocr_glued_queries'])} companies)"))
    for lang, f in result["flickr8k"].items():
        rows.append((f"Flickr8k {lang} R@1 / R@5 / R@10", f"{f['R@1']:.3f} / {f['R@5']:.3f} / {f['R@10']:.3f}  ({f['queries']} queries, 200 photos)"))
    n = result["counted"]
    if n["queries"]:  # a library whose captions count nothing has no such query
        rows.append(("Flickr8k counting queries mAP", f"{n['mAP']:.3f}; at high {n['right_at_high']} right of {n['kept_at_high']} kept  "
                                                      f"({', '.join(n['queries'])})"))
    c = result["coco_categories"]
    high = "none kept" if c["precision_at_high"] is None else f"{c['precision_at_high']:.3f} of {c['kept_at_high']} hits"
    rows.append(("COCO categories mAP", f"{c['mAP']:.3f}  ({c['categories']} categories, 80 photos)"))
    rows.append(("COCO categories precision at high", high))
    rows.append(("COCO categories recall at low", f"{c['recall_at_low']:.3f}"))
    for level, v in result["levels"].items():
        rows.append((f"filtering_level {level}", f"{v['unrelated_hits_per_query']:.1f} hits per unrelated query; "
                                                  f"{v['right_answers_kept']:.0%} of right answers kept"))
    a = result["animals"]
    rows.append(("animal queries over the whole library", f"mAP {a['mAP']:.3f}; at medium {a['right_kept_at_medium']} of "
                                                          f"{a['right']} right photos, {a['wrong_kept_at_medium']} wrong ones "
                                                          f"({a['queries']} COCO animals)"))
    return rows
