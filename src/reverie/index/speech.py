"""A video's speech (the video.asr job): words with their times, in the language Whisper hears, cut into
line-sized segments.

The audio is decoded and transcribed CHUNK_S at a time, so memory stays flat on a long video. Chunks overlap
by OVERLAP_S and each word is taken from the chunk where it lies farther from the edge: a word cut at the end
of one chunk is heard whole in the next, and none is counted twice.

Whisper also skips passages now and then: it decodes 30-s windows and, when the text it writes for a window
stops before the window's audio does, it moves on to the next window, so what was said in between is
never written (the likely way a LibriVox chapter lost "following manifesto, to be published in the English,
French, German"; that chapter is not at hand to replay). Every long silence between heard words is therefore checked with Whisper's own voice-activity
model, and a stretch of it that holds speech is transcribed again on its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import numpy as np

from ..models import Models
from ..models.speech import SAMPLE_RATE, Segment, SpeechRecognizer, Word
from .video import CorruptVideo, probe

log = logging.getLogger(__name__)

CHUNK_S = 600
OVERLAP_S = 6.0
GAP_S = 2.0  # a silence between two heard words this long is checked for speech that was skipped
MISSED_SPEECH_S = 1.0  # ... and transcribed again when the voice-activity model hears this much speech in it
MIN_WORDS, MAX_WORDS = 4, 16  # a segment ends at punctuation once it has MIN_WORDS, or at MAX_WORDS anyway
PAUSE_S = 1.5  # or at a pause this long
_BREAK = re.compile(r"[.,;:!?]$")


def audio_chunks(path: str, chunk_s: float = CHUNK_S, overlap_s: float = OVERLAP_S) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in s, 16 kHz mono float32 samples): chunks of `chunk_s`, each after the first starting
    `overlap_s` before the previous one ended."""
    import av

    step, overlap = int(chunk_s * SAMPLE_RATE), int(overlap_s * SAMPLE_RATE)
    with av.open(path) as c:
        if not c.streams.audio:
            return
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held, start = 0, 0  # samples pending, and the sample the pending ones start at
        try:
            for frame in c.decode(c.streams.audio[0]):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray()[0])
                    held += pending[-1].shape[0]
                    if held >= step + (overlap if start else 0):
                        samples = np.concatenate(pending)
                        yield start / SAMPLE_RATE, samples
                        kept = samples[-overlap:] if overlap else samples[:0]
                        start += len(samples) - len(kept)
                        pending, held = [kept], len(kept)
        except av.error.FFmpegError as exc:
            raise CorruptVideo(f"audio data is corrupt or truncated ({exc})") from None
        for out in resampler.resample(None):
            pending.append(out.to_ndarray()[0])
            held += pending[-1].shape[0]
        if held > (overlap if start else 0):  # more than the overlap already transcribed
            yield start / SAMPLE_RATE, np.concatenate(pending)


def transcribe(models: Models, path: str, prompt: str | None, alive: Callable[[], None],
               chunk_s: float = CHUNK_S) -> list[Segment]:
    """The speech of the video at `path` as segments (empty for a silent one)."""
    recognizer = models.speech
    heard: list[tuple[Word, str]] = []  # each word with the language it was heard in
    for offset, samples in audio_chunks(path, chunk_s):
        alive()
        if len(samples) < SAMPLE_RATE // 2:
            continue
        language = recognizer.language_of(samples)
        words = fill_gaps(recognizer, samples, offset, language, prompt,
                          recognizer.words(samples, offset, language, prompt))
        if heard:  # the overlap: the earlier chunk's words up to its middle, this chunk's after it
            cut = offset + OVERLAP_S / 2
            heard = [h for h in heard if h[0][1] < cut]
            last_end = heard[-1][0][2] if heard else offset
            words = [w for w in words if w[1] >= cut and w[1] >= last_end - 0.05]
        heard += [(w, language) for w in words]
    return lines(heard)


def fill_gaps(recognizer: SpeechRecognizer, samples: np.ndarray, offset: float, language: str, prompt: str | None,
              words: list[Word]) -> list[Word]:
    """`words` with what Whisper skipped: each silence between heard words (or before the first, after the
    last) of GAP_S or more where the voice-activity model hears MISSED_SPEECH_S of speech is transcribed
    again on its own, and the words heard inside it are added."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    length = len(samples) / SAMPLE_RATE
    edges = [offset] + [t for w in words for t in (w[1], w[2])] + [offset + length]
    gaps = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= GAP_S]
    if not gaps:
        return words
    options = VadOptions(min_silence_duration_ms=500, speech_pad_ms=100)
    added: list[Word] = []
    for a, b in gaps:
        lo, hi = int((a - offset) * SAMPLE_RATE), int((b - offset) * SAMPLE_RATE)
        speech = sum(r["end"] - r["start"] for r in get_speech_timestamps(samples[lo:hi], options)) / SAMPLE_RATE
        if speech < MISSED_SPEECH_S:
            continue
        found = [w for w in recognizer.words(samples[lo:hi], a, language, prompt) if a <= w[1] and w[2] <= b + 0.1]
        if found:
            log.info("speech at %.1f-%.1f s that Whisper skipped: %d words heard again", a, b, len(found))
        added += found
    return sorted(words + added, key=lambda w: w[1]) if added else words


def lines(heard: list[tuple[Word, str]]) -> list[Segment]:
    """Cut the words into line-sized segments: at punctuation once a line has MIN_WORDS, at a pause of
    PAUSE_S, at a change of language, or at MAX_WORDS. A short tail joins the line before it."""
    pieces: list[list[tuple[Word, str]]] = []
    current: list[tuple[Word, str]] = []
    for item in heard:
        (word, start, _end), language = item
        if current and (start - current[-1][0][2] >= PAUSE_S or language != current[-1][1]):
            pieces.append(current)
            current = []
        current.append(item)
        if (len(current) >= MIN_WORDS and _BREAK.search(word)) or len(current) >= MAX_WORDS:
            pieces.append(current)
            current = []
    if current:
        if pieces and len(current) < MIN_WORDS and pieces[-1][-1][1] == current[0][1] \
                and current[0][0][1] - pieces[-1][-1][0][2] < PAUSE_S:
            pieces[-1] += current
        else:
            pieces.append(current)
    return [Segment(p[0][0][1], p[-1][0][2], " ".join(w[0] for w, _ in p), [list(w) for w, _ in p], p[0][1])
            for p in pieces]


def transcribe_video(models: Models, row, path: str,  # noqa: ANN001
                     alive: Callable[[], None]) -> tuple[list[Segment], np.ndarray | None] | None:
    """The video.asr job's work: the segments and their vectors (models/sentences.py: any language); None
    for a video without a sound track."""
    if probe(path).audio_codec is None:
        return None
    segments = transcribe(models, path, row.transcription_prompt, alive)
    if not segments:
        return segments, None
    return segments, models.sentences.said([s.text for s in segments], [s.language for s in segments])
