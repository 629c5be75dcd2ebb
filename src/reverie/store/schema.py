"""The metadata tables. Alembic migrations in `migrations/` create them; this module is their one description."""

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
)

metadata = MetaData()

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
    Column("ocr_text", Text),
    Column("place", Text),  # "Arezzo, Tuscany, Italy" from the GPS position
    Column("created_ms", BigInteger, nullable=False),
    Column("indexed_ms", BigInteger),
    Index("ix_images_account_ns_id", "account_id", "unique_id", "id"),
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

# Vectors per image and space ("visual": shared with text queries; "features": image-to-image).
# `seq` grows with every write and is never reused, so an in-memory index catches up by reading rows
# past the last seq it saw.
image_vectors = Table(
    "image_vectors",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("image_id", BigInteger, ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("space", String(16), nullable=False),
    Column("model", String(32), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
    Index("ux_image_vectors_image_space", "image_id", "space", unique=True),
    # AUTOINCREMENT: without it SQLite hands out the numbers of deleted rows again, and an index that has
    # read up to seq N would never see a new row numbered N or less.
    sqlite_autoincrement=True,
)

# Server-wide values that every process must agree on (the signing secret).
server_settings = Table(
    "server_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
