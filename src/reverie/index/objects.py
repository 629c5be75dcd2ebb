"""Objects in a photo: what the COCO detector finds, each with its colour, and the words search reads from
them ("two dogs", "red car"), so that a query names a count or a colour the picture vector cannot hold.

Why words and not the vector: summed into the picture's vector, the detector's labels lifted the COCO dev
captions (R@10 0.860 -> 0.935) but lowered Flickr8k's (0.881 -> 0.878 at best, 0.837 at weight 0.5), and
the detector was trained on COCO: the bridge already says "dog" better than a label does. What the bridge
cannot say is how many, and which one is red.

The detector's likelihood of each class (models/detector.py) is kept too, for a query that names only
COCO classes ("dog", "two bicycles"): search/images.py ranks by it beside the picture vector.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..models import Models
from ..models.coco import plural
from ..models.animal_check import KINDS
from ..models.detector import LIKELY, MIN_SCORE, Detection, Sighting
from ..models.detector import scenes as scenes_of
from .colours import object_colour

# An animal box whose crop the classifier gives this share of its animal probability or more keeps its score;
# below, it falls with the square of the shortfall (models/animal_check.py has the probe).
FULL_AGREEMENT = 0.3
CHECKED = 4
COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


@dataclass
class Found:
    """One picture's objects as stored (`described`) and its class likelihoods (images.object_likelihoods_json)."""
    objects: list[dict] = field(default_factory=list)
    likelihoods: dict[str, float] = field(default_factory=dict)


def sightings(settings: Settings, models: Models, pictures: list[np.ndarray]) -> list[Sighting] | None:
    """The detector's run over the pictures, which both find_objects and the bridge read (models/visual.py);
    None when REVERIE_OBJECTS is off, and the bridge runs it for its scenes alone."""
    return models.detector.detect(pictures) if settings.objects == "on" and pictures else None


def scenes(seen: list[Sighting] | None) -> np.ndarray | None:
    return None if seen is None else scenes_of(seen)


def find_objects(settings: Settings, models: Models, pictures: list[np.ndarray],
                 seen: list[Sighting] | None = None) -> list[Found]:
    """What the detector finds in each picture (`seen`, where sightings() ran already), its animals checked
    by the classifier; nothing at all when REVERIE_OBJECTS is off."""
    if settings.objects != "on" or not pictures:
        return [Found() for _ in pictures]
    found = []
    for p, sighting in zip(pictures, seen or models.detector.detect(pictures)):
        objects, likelihoods = checked(p, sighting, models)
        found.append(Found(described(p, objects), likelihoods))
    return found


def checked(picture: np.ndarray, seen: Sighting, models: Models) -> tuple[list[Detection], dict[str, float]]:
    """The detections and likelihoods, an animal's score scaled down where the classifier, shown its box, gives
    the named kind under FULL_AGREEMENT of its animal probability, by the square of the ratio (an okapi's
    "dog" at 0.98, agreement 0.1, becomes 0.11; models/animal_check.py). A box scaled under the detector's own
    MIN_SCORE is no longer an object, and its kind's likelihood falls by the factor of the kind's best box.
    Up to CHECKED boxes a photo are shown to the classifier (one 224 px pass each), best first; any other
    box of a checked kind takes the factor of its kind's best box."""
    doubtful = [d for d in seen.objects if d.label in KINDS][:CHECKED]
    if not doubtful:
        return seen.objects, seen.likelihoods
    factors = {d: min(1.0, a / FULL_AGREEMENT) ** 2 for d, a in zip(doubtful, models.animal_check.agreement(picture, doubtful))}
    best: dict[str, float] = {}
    for d in doubtful:  # best first: the first box of a kind is its best
        best.setdefault(d.label, factors[d])
    objects = []
    for d in seen.objects:
        score = d.score * factors.get(d, best.get(d.label, 1.0))
        if score >= MIN_SCORE:
            objects.append(d if score == d.score else Detection(d.label, score, d.box))
    likelihoods = {label: p * best.get(label, 1.0) for label, p in seen.likelihoods.items()}
    return objects, {label: round(p, 4) for label, p in likelihoods.items() if p >= LIKELY}


def described(pixels: np.ndarray, detections: list[Detection]) -> list[dict]:
    """The detections as stored: label, score, box (x0, y0, x1, y1 as fractions of the upright photo) and
    the colour of the middle of the box (None when no colour covers enough of it)."""
    return [{"label": d.label, "score": round(d.score, 4), "box": [round(v, 4) for v in d.box],
             "colour": object_colour(pixels, d.box)} for d in detections]


def objects_phrase(objects: list[dict]) -> str:
    """What a caption says of them: "three elephants (brown), a person"."""
    counts = Counter(o["label"] for o in objects)
    parts = []
    for label, count in counts.most_common():
        kind = f"{COUNT_WORDS.get(count, 'many')} {plural(label)}" if count > 1 else \
            f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
        colours = list(dict.fromkeys(o["colour"] for o in objects if o["label"] == label and o["colour"]))
        parts.append(f"{kind} ({', '.join(colours)})" if colours else kind)
    return ", ".join(parts)


def object_words(objects: list[dict]) -> str:
    """"dog two dogs blackdog whitedog person": each kind, with its count when there are several, and each
    colour seen on it. The name stays beside the count: "people" does not stem to "person". A colour is
    written into its object's name, so that a colour alone matches nothing ("a white wedding dress" found a
    white bird through the word "white"), while the query's whole phrase, which search compares letters
    only, spaces aside, still finds "white bird" in "whitebird"."""
    counts = Counter(o["label"] for o in objects)
    words = []
    for label, count in counts.most_common():
        words.append(label)
        if count > 1:
            words.append(f"{COUNT_WORDS.get(count, 'many')} {plural(label)}")
        colours = dict.fromkeys(o["colour"] for o in objects if o["label"] == label and o["colour"])
        # A person's colour is their clothes, which captions name by the garment ("a man in a red shirt"):
        # there the colour stands alone.
        words += [f"{colour} {label}" if label == "person" else f"{colour}{label.replace(' ', '')}" for colour in colours]
    return " ".join(words)
