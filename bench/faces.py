"""People on the dev faces, through the API, and what the faces job costs.

    .venv/bin/python bench/faces.py            # quality through the API, then cost
    .venv/bin/python bench/faces.py --choices  # how the detection size and the grouping rule were chosen

1. Quality: the 150 dev faces (../shared/eval/faces, 30 people x 5 LFW photos) uploaded to a fresh server:
   photos with a face found, pairwise precision and recall of the grouping (a pair is together when the
   photos' largest faces share a person_id), and, after naming each person by the photos' folder, whether
   a search by the name puts only that person's photos in its top 10. Then list_people's latency.
2. Cost, one thread, in this process: the faces job as the worker runs it (decode at 960 px, HOG, alignment,
   embedding) over the COCO dev photos and over the faces, averaged over every photo, the photos without a
   person (which get no job) counted at zero.
3. With --choices instead: HOG at several sizes over the COCO dev photos with a person, and grouping rules
   over the dev faces' embeddings in 20 random upload orders (mean pairwise precision and recall): the
   centroid distance store/people.py uses, the nearest single face, and dlib's Chinese Whispers.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server import serving

BIN = Path(sys.executable).parent
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def quality() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        key = subprocess.run([str(BIN / "reverie"), "keys", "create", "--name", "bench", "--data", str(data)],
                             capture_output=True, text=True, check=True).stdout.split()[-1]
        with serving(data, key) as http:
            who: dict[int, str] = {}
            for folder in sorted((EVAL / "faces").iterdir()):
                files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(folder.glob("*.jpg"))]
                for item in http.post("/upload_img", files=files).json()["data"]:
                    who[item["id"]] = folder.name
            faces: dict[int, list] = {}
            for image_id in who:
                while True:
                    meta = http.get("/get_img_metadata", params={"id": image_id}).json()["data"]
                    if meta["status"] != "UNPARSE":
                        break
                    time.sleep(0.2)
                faces[image_id] = meta["faces"]
            person = {i: f[0]["person_id"] for i, f in faces.items() if f}
            same = together = both = 0
            for a, b in itertools.combinations(person, 2):
                truth, grouped = who[a] == who[b], person[a] == person[b]
                same, together, both = same + truth, together + grouped, both + (truth and grouped)
            print(f"photos with a face found: {len(person)} of {len(who)} ({len(person) / len(who):.3f})")
            print(f"grouping: pairwise precision {both / max(together, 1):.3f}, recall {both / max(same, 1):.3f}, "
                  f"{len(set(person.values()))} people for {len(set(who.values()))}")
            # Name each person after the folder most of its photos come from, as a user would.
            members: dict[str, list[int]] = {}
            for image_id, person_id in person.items():
                members.setdefault(person_id, []).append(image_id)
            named: dict[str, str] = {}
            for person_id, ids in members.items():
                name = statistics.mode(who[i] for i in ids).replace("_", " ")
                if name not in named.values():
                    http.post("/name_person", json={"person_id": person_id, "name": name})
                    named[person_id] = name
            clean = 0
            for person_id, name in named.items():
                hits = http.post("/search", json={"search_param": name, "search_type": "BY_IMAGE", "top_k": 10,
                                                  "filtering_level": "low"}).json()["data"]["item"]
                clean += bool(hits) and all(person.get(h["id"]) == person_id for h in hits)
            print(f"search by name: only that person in the top 10 for {clean} of {len(named)} names")
            timings = []
            for _ in range(50):
                started = time.perf_counter()
                http.post("/list_people", json={"page_size": 20})
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(f"list_people ({len(members)} people): p50 {timings[24]:.1f} ms, p95 {timings[47]:.1f} ms")


def cost() -> None:
    from reverie.config import Settings
    from reverie.index.faces import detect_view, wanted
    from reverie.index.image import decode, model_view, upright_rgb
    from reverie.index.objects import find_objects
    from reverie.models import Models
    from reverie.models.pixels import rgb_pixels

    models_dir = Path(__file__).resolve().parents[1] / ".model-cache"
    settings = Settings(data=Path(tempfile.mkdtemp()), model_dir=models_dir)
    models = Models(settings)
    models.faces.find(rgb_pixels(upright_rgb(decode((EVAL / "faces" / "JK_Rowling").glob("*.jpg").__next__()
                                                    .read_bytes(), 10**9, detect_view)[0])))  # load
    for name, paths in (("COCO dev photos", sorted((EVAL / "coco" / "images").glob("*.jpg"))),
                        ("dev faces", sorted((EVAL / "faces").rglob("*.jpg")))):
        spent, jobs, found = 0.0, 0, 0
        for path in paths:
            data = path.read_bytes()
            seen = rgb_pixels(upright_rgb(decode(data, 10**9, model_view)[0]))
            if not wanted(settings, find_objects(settings, models, [seen])[0]):
                continue  # the image job's detector saw no person: no faces job
            started = time.perf_counter()
            found += len(models.faces.find(rgb_pixels(upright_rgb(decode(data, 10**9, detect_view)[0]))))
            spent += time.perf_counter() - started
            jobs += 1
        print(f"{name}: {len(paths)} photos, {jobs} faces jobs, {found} faces; "
              f"{spent / len(paths) * 1000:.1f} ms a photo on average ({spent / max(jobs, 1) * 1000:.0f} ms a job)")


def _pairwise(truth: list[str], labels: list) -> tuple[float, float]:
    same = together = both = 0
    for a, b in itertools.combinations(range(len(truth)), 2):
        t, g = truth[a] == truth[b], labels[a] == labels[b]
        same, together, both = same + t, together + g, both + (t and g)
    return both / max(together, 1), both / max(same, 1)


def _grouped(embeddings, order: list[int], rule: str, cut: float) -> list[int]:  # noqa: ANN001
    """Incremental grouping in upload order: join the nearest person (by centroid or by single face)
    within `cut`, else start a person."""
    import numpy as np

    labels = [-1] * len(embeddings)
    members: dict[int, list[int]] = {}
    for k, i in enumerate(order):
        best = None
        if members:
            if rule == "centroid":
                ids = list(members)
                distances = np.linalg.norm(np.array([embeddings[members[p]].mean(0) for p in ids]) - embeddings[i], axis=1)
                if distances.min() <= cut:
                    best = ids[int(np.argmin(distances))]
            else:
                seen = order[:k]
                distances = np.linalg.norm(embeddings[seen] - embeddings[i], axis=1)
                if distances.min() <= cut:
                    best = labels[seen[int(np.argmin(distances))]]
        if best is None:
            best = len(members)
            members[best] = []
        labels[i] = best
        members[best].append(i)
    return labels


def choices() -> None:
    import dlib
    import numpy as np

    import reverie.models.faces as face_models
    from reverie.index.image import decode, upright_rgb
    from reverie.models.pixels import rgb_pixels

    truth = json.loads((EVAL / "coco" / "objects.json").read_text())
    photos = [p for p in sorted((EVAL / "coco" / "images").glob("*.jpg")) if truth.get(p.name, {}).get("person")]
    pixels = [rgb_pixels(upright_rgb(decode(p.read_bytes(), 10**9, lambda s: s)[0])) for p in photos]
    for side in (640, 800, 960, 1280):
        face_models.DETECT_SIDE = side
        finder = face_models.FaceFinder()
        started = time.perf_counter()
        found = sum(len(finder.find(p)) for p in pixels)
        print(f"HOG at {side} px: {found} faces in {len(pixels)} COCO photos with a person, "
              f"{(time.perf_counter() - started) / len(pixels) * 1000:.0f} ms a photo")
    face_models.DETECT_SIDE = 960
    finder = face_models.FaceFinder()
    embeddings, who = [], []
    for path in sorted((EVAL / "faces").rglob("*.jpg")):
        faces = finder.find(rgb_pixels(upright_rgb(decode(path.read_bytes(), 10**9, lambda s: s)[0])))
        if faces:
            embeddings.append(faces[0].embedding)
            who.append(path.parent.name)
    embeddings = np.array(embeddings)
    rng = np.random.default_rng(0)
    orders = [list(rng.permutation(len(who))) for _ in range(20)]
    for rule, cut in (("centroid", 0.50), ("centroid", 0.51), ("centroid", 0.52), ("face", 0.50), ("face", 0.55)):
        scores = np.array([_pairwise(who, _grouped(embeddings, order, rule, cut)) for order in orders])
        print(f"{rule} within {cut}: precision {scores[:, 0].mean():.3f}, recall {scores[:, 1].mean():.3f} "
              f"(20 orders)")
    for cut in (0.50, 0.55):
        labels = dlib.chinese_whispers_clustering([dlib.vector(e.astype(float)) for e in embeddings], cut)
        precision, recall = _pairwise(who, labels)
        print(f"Chinese Whispers at {cut} (a full re-cluster): precision {precision:.3f}, recall {recall:.3f}")


if __name__ == "__main__":
    print(json.dumps({"machine": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": ")}))
    if "--choices" in sys.argv:
        choices()
    else:
        quality()
        cost()
