"""The metadata tables. Alembic migrations in `migrations/` create them; this module is their one description."""

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)

metadata = MetaData()

# A vector is stored once: as float32 bytes in `vector` on SQLite, where the embedded index reads them, and
# as pgvector's type in `embedding` on PostgreSQL, where HNSW indexes search them (store/vector_rows.py).
EMBEDDING = LargeBinary().with_variant(Vector(), "postgresql")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    # NULL: not metered (the default). A number: the credits left; billable calls deduct from it.
    Column("credit_balance", BigInteger),
    Column("credits_spent", BigInteger, nullable=False, server_default="0"),
)

credit_grants = Table(
    "credit_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("note", Text),
    Column("created_ms", BigInteger, nullable=False),
)

# Per-account overrides of the default rate limits (settings.rate_limits). per_second 0: not limited.
account_rate_limits = Table(
    "account_rate_limits",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("endpoint_class", String(16), primary_key=True),
    Column("per_second", Float, nullable=False),
    Column("burst", Integer, nullable=False),
)

# Fill levels of the token buckets. Kept in their own database (see store/rate_limits.py), not migrated.
rate_buckets_metadata = MetaData()

# A vector is stored once: as float32 bytes in `vector` on SQLite, where the embedded index reads them, and
# as pgvector's type in `embedding` on PostgreSQL, where HNSW indexes search them (store/vector_rows.py).
EMBEDDING = LargeBinary().with_variant(Vector(), "postgresql")
rate_buckets = Table(
    "rate_buckets",
    rate_buckets_metadata,
    Column("account_id", Integer, primary_key=True),
    Column("endpoint_class", String(16), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),  # shown in listings so a key can be told apart
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger),
)

namespaces = Table(
    "namespaces",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
)

# Monotonic counters (image ids); a counter never goes back, so a deleted id is never minted again.
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("unique_id", String(200), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("format", String(10), nullable=False),  # sniffed at upload: JPEG PNG GIF BMP WEBP
    Column("status", String(10), nullable=False),  # UNPARSE PARSE FAILED
    Column("cause", Text),
    # Capture metadata: values given at upload, else filled from EXIF by the indexer.
    Column("datetime_taken_ms", BigInteger),
    Column("camera_model", String(200)),
    Column("latitude", Float),
    Column("longitude", Float),
    # Facts the indexer derives from the bytes.
    Column("width", Integer),
    Column("height", Integer),
    Column("orientation", Integer),
    Column("exif_json", Text),
    Column("thumbnail_key", String(255)),
    Column("preview_key", String(255)),
    # Facts the models derive (see index/image.py).
    Column("labels_json", Text),  # [[name, probability], ...] best first
    Column("objects_json", Text),  # [{label, score, box: [x0, y0, x1, y1] fractions, colour}, ...] best first
    Column("object_likelihoods_json", Text),  # {COCO class: the detector's best score anywhere}, 0.02 or more
    Column("colours_json", Text),  # ["blue", "white"]: the colours covering a fifth of the photo or more
    Column("ocr_text", Text),
    Column("place", Text),  # "Arezzo, Tuscany, Italy" from the GPS position
    Column("faces_ms", BigInteger),  # when its faces were looked for (the image.faces job); NULL: not yet
    Column("created_ms", BigInteger, nullable=False),
    Column("indexed_ms", BigInteger),
    Index("ix_images_account_ns_id", "account_id", "unique_id", "id"),
)
# The library's timeline order (store/library.py): when taken, else uploaded; then upload time and id. The
# last column makes it cover the query on SQLite, which reads no column from an expression's value.
Index("ix_images_library", images.c.account_id, images.c.unique_id,
      func.coalesce(images.c.datetime_taken_ms, images.c.created_ms), images.c.created_ms, images.c.id,
      images.c.datetime_taken_ms)

# People: faces grouped by likeness, per account and namespace (store/people.py). A person's centroid is the
# mean embedding of its faces; a new face joins the nearest centroid close enough, or starts a person.
people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # person_id is "PE" + id
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("unique_id", String(200), nullable=False),
    Column("name", String(100)),
    Column("centroid", LargeBinary, nullable=False),  # float32 x 128
    Column("face_count", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_people_account_ns", "account_id", "unique_id"),
    sqlite_autoincrement=True,  # a person id is never handed out twice
)

faces = Table(
    "faces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # face_id is "FA" + id
    # A face is in a photo or in a video clip's keyframe: one of the two is set.
    Column("image_id", BigInteger, ForeignKey("images.id", ondelete="CASCADE"), nullable=True),
    Column("clip_id", Integer, ForeignKey("video_clips.id", ondelete="CASCADE"), nullable=True),
    Column("idx", Integer, nullable=False),  # its place in the picture's faces, largest first; names its crop
    Column("person_id", Integer, ForeignKey("people.id"), nullable=True),  # NULL: removed from its person
    Column("x0", Float, nullable=False),  # the box, as fractions of the upright photo
    Column("y0", Float, nullable=False),
    Column("x1", Float, nullable=False),
    Column("y1", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("embedding", LargeBinary, nullable=False),  # float32 x 128
    Column("crop_key", String(255), nullable=False),
    Index("ix_faces_image", "image_id"),
    Index("ix_faces_clip", "clip_id"),
    Index("ix_faces_person", "person_id"),
    sqlite_autoincrement=True,
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("image_id", BigInteger, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("position", Integer, nullable=False),  # tags read back in the order they were given
    Index("ix_image_tags_tag", "tag"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject_id", BigInteger, nullable=False),  # the image (or later video) the job indexes
    Column("state", String(10), nullable=False),  # queued running done failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_after_ms", BigInteger, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until_ms", BigInteger),
    Column("last_error", Text),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_jobs_claim", "state", "run_after_ms"),
    Index("ix_jobs_subject", "subject_id"),
)

# Vectors per image and space ("visual": shared with text queries; "appearance": what a search by example
# compares, Lite2's features; "features", Lite0's before it, is retired and emptied by upgrade-vectors).
# `seq` grows with every write and is never reused, so an in-memory index catches up by reading rows
# past the last seq it saw.
image_vectors = Table(
    "image_vectors",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("image_id", BigInteger, ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("space", String(16), nullable=False),
    Column("model", String(32), nullable=False),
    Column("vector", LargeBinary),  # float32, little-endian (SQLite)
    Column("embedding", EMBEDDING),  # pgvector (PostgreSQL)
    Index("ux_image_vectors_image_space", "image_id", "space", unique=True),
    Index("ix_image_vectors_space_seq", "space", "seq"),  # an index's read of new rows (migration 0013)
    # AUTOINCREMENT: without it SQLite hands out the numbers of deleted rows again, and an index that has
    # read up to seq N would never see a new row numbered N or less.
    sqlite_autoincrement=True,
)

videos = Table(
    "videos",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # video_no is "VI" + id
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("unique_id", String(200), nullable=False),
    Column("name", String(255), nullable=False),  # the uploaded file name
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("container", String(8), nullable=False),  # sniffed at upload: mp4 (also .mov) mkv avi
    Column("original_key", String(255)),  # NULL once dropped (retain_original_video=false, after indexing)
    Column("retain_original", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # UNPARSE PARSE FAILED
    Column("cause", Text),
    Column("callback", Text),
    Column("transcription_prompt", Text),
    Column("datetime_taken_ms", BigInteger),
    Column("camera_model", String(200)),
    Column("latitude", Float),
    Column("longitude", Float),
    # Facts the indexer derives from the stream.
    Column("duration_s", Float),
    Column("fps", Float),
    Column("width", Integer),
    Column("height", Integer),
    Column("video_codec", String(32)),
    Column("audio_codec", String(32)),
    Column("place", Text),
    Column("transcribed_ms", BigInteger),  # when its speech was transcribed; NULL: no audio track
    Column("language", String(8)),  # the language most of its speech is in; NULL: none heard (or not kept)
    Column("faces_ms", BigInteger),  # when its keyframes' faces were looked for (job video.faces); NULL: not yet
    Column("created_ms", BigInteger, nullable=False),
    Column("indexed_ms", BigInteger),
    Index("ix_videos_account_ns_id", "account_id", "unique_id", "id"),
)
Index("ix_videos_library", videos.c.account_id, videos.c.unique_id,
      func.coalesce(videos.c.datetime_taken_ms, videos.c.created_ms), videos.c.created_ms, videos.c.id,
      videos.c.datetime_taken_ms)

video_tags = Table(
    "video_tags",
    metadata,
    Column("video_id", BigInteger, ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_video_tags_tag", "tag"),
)

# A clip is the span from one keyframe to the next: what its frame shows, the text in it, what is said.
video_clips = Table(
    "video_clips",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("video_id", BigInteger, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("keyframe_key", String(255), nullable=False),
    Column("labels_json", Text),
    Column("objects_json", Text),  # as images.objects_json, for the keyframe
    Column("object_likelihoods_json", Text),  # as images.object_likelihoods_json, for the keyframe
    Column("ocr_text", Text),
    Column("caption", Text),  # labels, objects, text on screen and speech of the span, in words
    Index("ix_video_clips_video", "video_id", "idx"),
    # AUTOINCREMENT: clip ids label vectors in memory; a reused id would land in another video's slot.
    sqlite_autoincrement=True,
)

transcript_segments = Table(
    "transcript_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("video_id", BigInteger, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("text", Text, nullable=False),
    Column("words_json", Text),  # [[word, start, end], ...] as Whisper timed them
    Column("language", String(8)),  # as Whisper heard it (ISO 639-1); NULL: transcribed before it was kept (English)
    Index("ix_transcript_segments_video", "video_id", "idx"),
    sqlite_autoincrement=True,  # as for clips: segment ids label vectors in memory
)

# Vectors of clips (spaces clip_visual, clip_appearance; clip_features retired) and transcript segments
# (speech), by item id.
video_vectors = Table(
    "video_vectors",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("video_id", BigInteger, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("space", String(16), nullable=False),
    Column("model", String(32), nullable=False),
    Column("vector", LargeBinary),
    Column("embedding", EMBEDDING),
    Index("ux_video_vectors_item_space", "item_id", "space", unique=True),
    Index("ix_video_vectors_video", "video_id"),
    Index("ix_video_vectors_space_seq", "space", "seq"),
    sqlite_autoincrement=True,
)

# Server-wide values that every process must agree on (the signing secret).
server_settings = Table(
    "server_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
