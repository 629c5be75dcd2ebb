"""PostgreSQL search: pgvector embeddings and the full-text tables that SQLite keeps in FTS5

Revision ID: 0005
Revises: 0004

On SQLite this adds an (always empty) `embedding` column beside the float32 bytes and drops segment_fts,
which nothing read. On PostgreSQL the full-text tables carry the same names and columns as SQLite's FTS5
tables (rowid = the item's id), so the code that writes them is one; what differs is how they are queried
(store/pg_text.py): a weighted tsvector per row for BM25 over words, trigram GIN indexes for substrings.
The HNSW indexes are built per vector space and dimension by store/pg_vectors.py, which knows the models.
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Weights A..D are the bm25 column weights of the SQLite path: tags 3, place and camera 2, name 1.5,
# OCR and labels 1 (pg_text.WEIGHTS maps the letters back to those numbers).
_IMAGE_DOC = ("setweight(to_tsvector('english', coalesce(tags, '')), 'A') || "
              "setweight(to_tsvector('english', coalesce(place, '') || ' ' || coalesce(camera, '')), 'B') || "
              "setweight(to_tsvector('english', coalesce(name, '')), 'C') || "
              "setweight(to_tsvector('english', coalesce(ocr, '') || ' ' || coalesce(labels, '')), 'D')")
_CLIP_DOC = ("setweight(to_tsvector('english', coalesce(caption, '') || ' ' || coalesce(labels, '') || ' ' || "
             "coalesce(tags, '') || ' ' || coalesce(name, '')), 'D')")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for table in ('image_vectors', 'video_vectors'):
            # A plain ADD COLUMN: a batch copy of the table would lose its AUTOINCREMENT.
            op.add_column(table, sa.Column('embedding', sa.LargeBinary(), nullable=True))
        op.execute("DROP TABLE segment_fts")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table in ('image_vectors', 'video_vectors'):
        # PostgreSQL keeps the vector once, as pgvector's type; `vector` (bytes) stays NULL there.
        op.execute(f"ALTER TABLE {table} ADD COLUMN embedding vector")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN vector DROP NOT NULL")
    op.execute("CREATE TABLE image_fts (rowid bigint PRIMARY KEY, ocr text, tags text, labels text, place text, "
               f"camera text, name text, doc tsvector GENERATED ALWAYS AS ({_IMAGE_DOC}) STORED)")
    op.execute("CREATE INDEX ix_image_fts_doc ON image_fts USING gin (doc)")
    op.execute("CREATE TABLE image_ocr_trigrams (rowid bigint PRIMARY KEY, ocr text NOT NULL)")
    op.execute("CREATE INDEX ix_image_ocr_trigrams ON image_ocr_trigrams USING gin (ocr gin_trgm_ops)")
    op.execute("CREATE TABLE clip_fts (rowid bigint PRIMARY KEY, caption text, labels text, tags text, name text, "
               f"doc tsvector GENERATED ALWAYS AS ({_CLIP_DOC}) STORED)")
    op.execute("CREATE INDEX ix_clip_fts_doc ON clip_fts USING gin (doc)")
    op.execute("CREATE TABLE segment_trigrams (rowid bigint PRIMARY KEY, text text NOT NULL)")
    op.execute("CREATE INDEX ix_segment_trigrams ON segment_trigrams USING gin (text gin_trgm_ops)")
    # Token buckets of the rate limits: SQLite keeps them in a file of their own (store/rate_limits.py).
    op.create_table('rate_buckets',
                    sa.Column('account_id', sa.Integer(), nullable=False),
                    sa.Column('endpoint_class', sa.String(length=16), nullable=False),
                    sa.Column('tokens', sa.Float(), nullable=False),
                    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('account_id', 'endpoint_class'))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE segment_fts USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
        for table in ('image_vectors', 'video_vectors'):
            op.drop_column(table, 'embedding')
        return
    for table in ('rate_buckets', 'segment_trigrams', 'clip_fts', 'image_ocr_trigrams', 'image_fts'):
        op.execute(f"DROP TABLE {table}")
    for table in ('image_vectors', 'video_vectors'):
        op.execute(f"ALTER TABLE {table} DROP COLUMN embedding")
