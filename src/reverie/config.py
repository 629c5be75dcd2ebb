"""One settings object, read once. Every setting is a CLI option and an environment variable REVERIE_<NAME>."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

MB = 1024 * 1024


def _opt(default, help: str):  # noqa: ANN001, A002
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    data: Path = _opt(Path("./data"), "Data folder: SQLite database, blobs, staging area.")
    database_url: str = _opt("", "SQLAlchemy URL of the metadata database; empty means DATA/reverie.db (SQLite).")
    blob_url: str = _opt(
        "",
        "Where originals, thumbnails and keyframes live: empty means files under DATA/blobs; "
        "s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&key=KEY&secret=SECRET means an S3 bucket (every parameter "
        "optional; without key and secret, the AWS credential chain: AWS_ACCESS_KEY_ID, profile, instance role; "
        "percent-encode any & or # in the secret).",
    )
    host: str = _opt("127.0.0.1", "Address to listen on.")
    port: int = _opt(8080, "Port to listen on.")
    workers: int = _opt(2, "Indexing threads that `serve` runs in-process (0 = none; see `reverie worker`).")
    max_in_flight: int = _opt(256, "Requests handled at once; past this the server answers 0429 (HTTP 503) at once. 0: no cap.")
    public_url: str = _opt("", "Base URL put in signed links (img_url); empty means the Host of each request.")
    max_file_bytes: int = _opt(20 * MB, "Largest image file accepted by upload_img, in bytes.")
    max_batch_files: int = _opt(50, "Most files accepted in one upload_img request.")
    max_image_pixels: int = _opt(100_000_000, "Largest pixel count accepted (decompression-bomb guard).")
    signed_url_ttl: int = _opt(3600, "Seconds a signed img_url stays valid.")
    job_lease_seconds: int = _opt(300, "Seconds before a job held by a silent worker is handed to another.")
    job_max_attempts: int = _opt(5, "Attempts before an indexing job is given up and the image marked FAILED.")
    log_level: str = _opt("info", "debug, info, warning or error.")
    log_format: str = _opt("json", "json (one object per line, with the request id) or text.")
    model_dir: Path = _opt(Path(""), "Where the ONNX exports of the bundled models are cached; empty means DATA/models.")
    model_threads: int = _opt(1, "CPU threads each model inference may use (per indexing thread).")
    visual_model: str = _opt("", "conse (bundled EfficientNet-Lite0 + MiniLM) or clip (ONNX export on disk, see --clip-path); "
                                 "empty means the library's own: conse until `reverie models add-clip` switches it.")
    clip_path: str = _opt("", "Folder of a CLIP-family model exported to ONNX (used with --visual-model clip).")
    ann_threshold: int = _opt(50_000, "Vectors in a namespace past which search also builds an HNSW graph (exact below).")
    ocr: str = _opt("on", "on: read text in images (only where the detector sees some); off: never.")
    objects: str = _opt("on", "on: find COCO's 80 kinds of object in photos, with counts and colours; off: store none "
                              "(searches then cannot count objects). The detector runs either way: the bridge reads its scene.")
    faces: str = _opt("on", "on: find faces in photos where the object detector sees a person, and group them into "
                            "people (~80 ms of CPU a face, job image.faces); off: never (nothing about faces is "
                            "computed or stored, and the people endpoints say so).")
    speech: str = _opt("auto", "auto: Whisper base names the language of a video's speech; English is transcribed by "
                               "tiny.en (as accurate on clear speech, 2.4x faster), any other language by base; "
                               "base: base for every language; tiny.en: English only, never detected.")
    rate_limits: str = _opt(
        "upload=200/400,search=100/200,read=200/400,delete=50/100",
        "Default per-account token buckets, CLASS=PER_SECOND/BURST for upload, search, read, delete; "
        "`reverie limits set` overrides them per account; `off` switches rate limiting off.",
    )
    credits_per_image: int = _opt(1, "Credits an uploaded image costs, for accounts with metering on (`reverie credits grant`).")
    credits_per_search: int = _opt(1, "Credits a search costs, for accounts with metering on.")
    credits_per_video: int = _opt(10, "Credits an uploaded video costs (upload_url too), for accounts with metering on.")
    max_video_bytes: int = _opt(3 * 1024 * MB, "Largest video file accepted by /upload, in bytes.")
    allow_private_urls: bool = _opt(False, "Let upload_url fetch from, and callbacks post to, loopback and private addresses.")

    # Derived paths, so that no module has to know the folder layout.
    blob_dir: Path = field(init=False)
    staging_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        data = Path(self.data).expanduser().resolve()
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "blob_dir", data / "blobs")
        object.__setattr__(self, "staging_dir", data / "staging")
        if str(self.model_dir) in ("", "."):
            object.__setattr__(self, "model_dir", data / "models")
        else:
            object.__setattr__(self, "model_dir", Path(self.model_dir).expanduser().resolve())
        if self.visual_model not in ("", "conse", "clip"):
            raise ValueError(f"visual_model must be conse, clip or empty (the library's), got {self.visual_model!r}")
        if self.visual_model == "clip" and not self.clip_path:
            raise ValueError("visual_model clip needs clip_path (a folder with visual.onnx, textual.onnx, ...)")
        for name in ("objects", "faces"):
            if getattr(self, name) not in ("on", "off"):
                raise ValueError(f"{name} must be on or off, got {getattr(self, name)!r}")
        if self.speech not in ("auto", "base", "tiny.en"):
            raise ValueError(f"speech must be auto, base or tiny.en, got {self.speech!r}")
        parse_rate_limits(self.rate_limits)  # a typo fails at start-up, not on the first request
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data / 'reverie.db'}")


ENDPOINT_CLASSES = ("upload", "search", "read", "delete")


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    """`upload=200/400,search=100/200`: requests per second and bucket size per endpoint class. Classes left
    out are not limited; `off` (or empty) limits nothing."""
    text = text.strip()
    if text.lower() in ("", "off"):
        return {}
    limits = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        rate, _, burst = value.partition("/")
        if name not in ENDPOINT_CLASSES:
            raise ValueError(f"rate_limits: unknown endpoint class {name!r}; use {', '.join(ENDPOINT_CLASSES)}")
        try:
            limit = RateLimit(float(rate), int(burst) if burst else max(1, int(float(rate))))
        except ValueError:
            raise ValueError(f"rate_limits: {item.strip()!r} is not CLASS=PER_SECOND/BURST (e.g. search=100/200)") from None
        if not (limit.per_second > 0 and limit.burst >= 1):
            raise ValueError(f"rate_limits: {item.strip()!r} needs a rate above 0 and a burst of at least 1")
        limits[name] = limit
    return limits


ENV_PREFIX = "REVERIE_"


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def setting_fields() -> list:
    """The user-settable fields, in declaration order (the CLI turns each into an option)."""
    return [f for f in fields(Settings) if f.init]
