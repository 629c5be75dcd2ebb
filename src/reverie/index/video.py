"""The pictures of a video (the video.index job): probe the streams, pick keyframes (scene changes, and at
least one every KEYFRAME_MAX_GAP_S within long shots), run the image models on each, and cut the timeline
into clips: one per keyframe, spanning to the next, with its labels, objects and text on screen (and the
speech said during it: index/speech.py transcribes it, in a job of its own that runs beside this one).

Decoding is PyAV (FFmpeg inside the wheel: h264, h265, vp9, av1, mpeg4 and the common audio codecs).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from ..models import Models
from ..models.pixels import rgb_pixels
from ..store import Store
from ..store.videos import keyframe_key
from .glued_words import unglued
from .objects import find_objects, objects_phrase, scenes, sightings
from .places import place_name

log = logging.getLogger(__name__)

KEYFRAME_MAX_GAP_S = 2.0
SCENE_SAMPLES_PER_S = 4  # frames per second compared for scene changes (the others are decoded, not looked at)
SCENE_CHANGE = 0.10  # mean absolute difference of 64x36 grey copies (0..1) that starts a new shot
OCR_REREAD = 0.02  # a keyframe this different from the last one read is read again (a new slide, a caption)
KEYFRAME_SIDE = 640  # stored keyframe JPEGs
MODEL_SIDE = 320  # what the image models read
BATCH = 8


class CorruptVideo(Exception):
    """Not a decodable video: retrying will not help."""


@dataclass
class Probe:
    duration_s: float
    fps: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None


@dataclass
class Clip:
    start: float
    end: float
    keyframe_key: str
    labels: list
    ocr_text: str
    visual: np.ndarray
    features: np.ndarray
    caption: str = ""
    objects: list = field(default_factory=list)  # index/objects.py, as for a photo
    likelihoods: dict = field(default_factory=dict)  # COCO class -> the detector's best score, as for a photo
    unglued: list[str] = field(default_factory=list)  # words glued together on screen, split (shown_words)


@dataclass
class VideoFacts:
    probe: Probe
    clips: list[Clip] = field(default_factory=list)
    model: str = ""
    place: str | None = None


def probe(path: str) -> Probe:
    import av

    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise CorruptVideo("no video stream in the file")
            v = c.streams.video[0]
            a = c.streams.audio[0] if c.streams.audio else None
            duration = float(v.duration * v.time_base) if v.duration else (c.duration or 0) / 1_000_000
            fps = float(v.average_rate or v.guessed_rate or 0)
            width, height = v.codec_context.width, v.codec_context.height
            first = next(c.decode(v), None)
            if first is None:
                raise CorruptVideo("no frame could be decoded")
            if first.rotation % 180:  # a phone held upright: report the size people see
                width, height = height, width
            return Probe(round(duration, 3), round(fps, 3), width, height,
                         v.codec_context.name, a.codec_context.name if a is not None else None)
    except CorruptVideo:
        raise
    except Exception as exc:
        raise CorruptVideo(f"not a decodable video ({exc})") from None


def keyframes(path: str) -> Iterator[tuple[float, Image.Image, np.ndarray]]:
    """(time in s, RGB frame, 64x36 grey copy) for each keyframe, in order."""
    import av

    try:
        with av.open(path) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or 25)
            every = max(1, round(fps / SCENE_SAMPLES_PER_S))
            last_t, last_grey, n = None, None, -1
            for frame in c.decode(stream):
                n += 1
                if n % every:
                    continue
                t = float(frame.time) if frame.time is not None else n / fps
                grey = frame.reformat(width=64, height=36, format="gray").to_ndarray().astype(np.float32) / 255
                changed = last_grey is None or float(np.abs(grey - last_grey).mean()) > SCENE_CHANGE
                if changed or t - last_t >= KEYFRAME_MAX_GAP_S:
                    scale = min(1.0, KEYFRAME_SIDE / max(frame.width, frame.height))
                    im = frame.to_image(width=max(2, round(frame.width * scale)), height=max(2, round(frame.height * scale)))
                    if frame.rotation:  # the display matrix of phone footage: turn it as players do
                        im = im.rotate(frame.rotation, expand=True)
                    last_t, last_grey = t, grey
                    yield t, im, grey
    except av.error.FFmpegError as exc:
        raise CorruptVideo(f"video data is corrupt or truncated ({exc})") from None


def speech_during(segments: list, start: float, end: float) -> str:
    return " ".join(s.text for s in segments if s.start < end and s.end > start)


def _jpeg(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def _label_words(labels: list, keep: int = 3, min_p: float = 0.1) -> list[str]:
    return [name for name, p in labels[:keep] if p >= min_p]


def shown_words(ocr_text: str | None) -> list[str]:
    """The words that OCR glued together in a clip's text on screen, split apart: a shop's name on a sign
    ("ABCHOTRADING") is then found by one of its words, as on a photo (index/glued_words.py)."""
    return unglued(ocr_text.split("\n")) if ocr_text else []


def caption(labels: list, ocr_text: str | None, speech: str, objects: list | None = None) -> str:
    parts = []
    words = _label_words(labels)
    if words:
        parts.append("Shows " + ", ".join(words) + ".")
    if objects:
        parts.append("Objects: " + objects_phrase(objects) + ".")
    if ocr_text:
        parts.append("Text on screen: " + ocr_text.replace("\n", " ") + ".")
    if speech:
        parts.append("Speech: " + speech)
    return " ".join(parts)


def index_video(store: Store, models: Models, row, path: str, alive: Callable[[], None]) -> VideoFacts:  # noqa: ANN001
    """What the pictures give (the video.index job): keyframes, their models and text, clips (the job
    captions them as it stores them, with any speech video.asr stored first). `alive()` is called as work
    progresses (it renews the job's lease and raises if the job was lost)."""
    facts = VideoFacts(probe=probe(path))
    facts.model = models.visual.name
    facts.clips = _clips(store, models, row.id, path, alive)
    if not facts.clips:
        raise CorruptVideo("no frame could be decoded")
    ends = [c.start for c in facts.clips[1:]] + [max(facts.probe.duration_s, facts.clips[-1].start)]
    for clip, end in zip(facts.clips, ends):
        clip.end = end
    if row.latitude is not None and row.longitude is not None:
        facts.place = place_name(row.latitude, row.longitude)
    return facts


def _clips(store: Store, models: Models, video_id: int, path: str, alive: Callable[[], None]) -> list[Clip]:
    clips: list[Clip] = []
    batch: list[tuple[float, Image.Image, np.ndarray]] = []
    shot_text, shot_words, read_grey = "", [], None

    def flush() -> None:
        nonlocal shot_text, shot_words, read_grey
        small = [im.copy() for _, im, _ in batch]
        for im in small:
            im.thumbnail((MODEL_SIDE, MODEL_SIDE), Image.Resampling.BILINEAR)
        views = [rgb_pixels(view) for view in small]
        seen = sightings(store.settings, models, views)
        analyses = models.visual.analyse(views, scenes(seen))
        objects = find_objects(store.settings, models, views, seen)
        for (t, im, grey), view, a, found in zip(batch, small, analyses, objects):
            # Text on screen is read again only when the picture changed: a still caption or slide would
            # otherwise cost 0.5 s at every keyframe.
            if store.settings.ocr == "on" and (read_grey is None or float(np.abs(grey - read_grey).mean()) > OCR_REREAD):
                shot_text = "\n".join(text for text, _ in models.ocr.read(im, gate_view=view))
                shot_words = shown_words(shot_text)
                read_grey = grey
            key = keyframe_key(video_id, t)
            store.blobs.put_bytes(key, _jpeg(im))
            clips.append(Clip(t, t, key, [[n, round(p, 4)] for n, p in a.labels], shot_text, a.vector, a.features,
                              objects=found.objects, likelihoods=found.likelihoods, unglued=shot_words))
        batch.clear()
        alive()

    for keyframe in keyframes(path):
        batch.append(keyframe)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return clips


def facts_to_columns(facts: VideoFacts) -> dict:
    p = facts.probe
    return dict(duration_s=p.duration_s, fps=p.fps, width=p.width, height=p.height, video_codec=p.video_codec,
                audio_codec=p.audio_codec, place=facts.place)
