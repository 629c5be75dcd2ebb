"""Video indexing speed as a multiple of real time: a 720p h264 video with speech (Caltech photos as shots,
a new one every 10 s, the camera panning across each, under the LibriVox sonnet read on a loop), uploaded
to a fresh server with its default two indexing threads (the pictures job and the speech job run side by
side), or one (--threads 1: one after the other), timed from the upload's answer to PARSE.

    .venv/bin/python bench/video.py                  # 10 minutes of video
    .venv/bin/python bench/video.py --minutes 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from server import BIN, serving  # noqa: E402

from reverie.synthetic_video import make_video  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--still", action="store_true", help="still shots (cheap to decode) instead of panning ones")
    ap.add_argument("--model-dir", default=str(REPO / ".model-cache"))
    ap.add_argument("--threads", type=int, default=2, help="indexing threads of the server (its default: 2)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reverie-video-bench-"))
    photos = sorted((EVAL / "caltech101").glob("*/image_0001.jpg"))
    seconds = args.minutes * 60
    shots = [(Image.open(photos[i % len(photos)]), 10.0) for i in range(int(seconds // 10))]
    began = time.monotonic()
    video = make_video(work / "talk.mp4", shots, audio=EVAL / "speech" / "sonnet1" / "audio.mp3", fps=args.fps,
                       size=(1280, 720), pan=not args.still)
    motion = "still shots" if args.still else "panning shots (every frame differs)"
    print(f"made {video.stat().st_size / 1e6:.1f} MB of 720p {args.fps} fps h264 + AAC, {motion}, in {time.monotonic() - began:.0f} s")
    import subprocess

    data = work / "data"
    key = subprocess.run([str(BIN / "reverie"), "keys", "create", "--name", "bench", "--data", str(data)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    with serving(data, key, "--workers", str(args.threads), env={"REVERIE_MODEL_DIR": args.model_dir}) as http:
        with open(video, "rb") as f:
            res = http.post("/upload", files={"file": ("talk.mp4", f, "video/mp4")}).json()
        no = res["data"]["videoNo"]
        t0 = time.monotonic()
        while True:
            meta = http.get("/get_metadata", params={"video_no": no}).json()["data"]
            if meta["status"] != "UNPARSE":
                break
            time.sleep(0.5)
        took = time.monotonic() - t0
        clips = len(http.get("/get_video_caption", params={"video_no": no}).json()["data"]["transcriptions"])
        said = http.get("/get_audio_transcription", params={"video_no": no}).json()["data"]
    print(f"machine: {os.cpu_count()} CPUs; {args.threads} indexing threads; status {meta['status']}")
    print(f"{seconds:.0f} s of 720p video indexed in {took:.1f} s: {seconds / took:.1f}x real time "
          f"({clips} clips, {len(said['transcriptions']) if said else 0} speech segments)")


if __name__ == "__main__":
    main()
