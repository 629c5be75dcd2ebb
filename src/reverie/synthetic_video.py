"""Videos made from still pictures with PyAV (FFmpeg inside the wheel), for `reverie eval`, the tests and
the benches: shots held or panned across, optional speech from an audio file, h264 / h265 / vp9 / mpeg4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

CODECS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}


def make_video(path: Path, shots: list[tuple[Image.Image, float]], audio: Path | None = None, codec: str = "h264",
               fps: int = 10, size: tuple[int, int] = (640, 360), audio_seconds: float | None = None,
               pan: bool = False, rotation: int = 0) -> Path:
    """Each shot is an image held for its seconds (`pan`: the camera slides across it, so every frame
    differs, as in real footage); `audio` (any file FFmpeg reads) is laid under it, repeated as needed.
    `rotation` stores the pictures turned and says so in the display matrix, as phones do: `size` is
    then the upright size."""
    out = av.open(str(path), "w")
    vs = out.add_stream(CODECS[codec], rate=fps)
    if rotation % 180:
        size = (size[1], size[0])
        shots = [(im.rotate(-rotation, expand=True), seconds) for im, seconds in shots]
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    if rotation:
        vs.set_display_rotation(rotation)
    if codec == "h264":
        vs.options = {"preset": "ultrafast"}
    if codec == "h265":
        vs.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
    if codec == "vp9":
        vs.options = {"deadline": "realtime", "cpu-used": "8"}
    astream = out.add_stream("aac", rate=16000, layout="mono") if audio else None
    n = 0
    for im, seconds in shots:
        frames = max(1, round(seconds * fps))
        wide = im.convert("RGB").resize((size[0] * 5 // 4, size[1] * 5 // 4)) if pan else None
        frame = av.VideoFrame.from_image(im.convert("RGB").resize(size))
        for i in range(frames):
            if wide is not None:
                x = (wide.width - size[0]) * i // frames
                frame = av.VideoFrame.from_image(wide.crop((x, 0, x + size[0], size[1])))
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
            n += 1
    for packet in vs.encode():
        out.mux(packet)
    if astream is not None:
        limit = audio_seconds if audio_seconds is not None else n / fps
        resampler = av.AudioResampler(format=astream.codec_context.format.name, layout="mono", rate=16000)
        fifo = av.AudioFifo()
        written = 0
        while written < limit * 16000:  # the audio repeats until the picture ends
            with av.open(str(audio)) as src:
                for f in src.decode(audio=0):
                    for r in resampler.resample(f):
                        r.pts = None
                        fifo.write(r)
                    while fifo.samples >= 1024 and written < limit * 16000:
                        chunk = fifo.read(1024)
                        chunk.pts = written
                        written += chunk.samples
                        for packet in astream.encode(chunk):
                            out.mux(packet)
        for packet in astream.encode():
            out.mux(packet)
    out.close()
    return path
