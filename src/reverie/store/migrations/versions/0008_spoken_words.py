"""phrase search over folded words, across segments; the language of speech

Revision ID: 0008
Revises: 0007

The phrase index of transcripts becomes a word index, segment_words (rowid = segment id), in place of
segment_trigrams: each segment's words folded (store/spoken_words.py) followed by the first words of the
next segment (`tail`), so a phrase is found whatever its case, punctuation or spelling, and across two
segments. Phrases are looked up by word positions (FTS5 phrase and NEAR queries; tsquery's <-> and <N> on
PostgreSQL), which at 900,000 segments answers in a tenth of the time letter trigrams took. The rows of
transcripts already stored are written here from their words.
Segments and videos gain the language Whisper heard (NULL for those transcribed before: English).
A video's speech job is now queued with its pictures job at upload (they run side by side): a video still
waiting for its pictures gets its speech job here, as video.index no longer queues it.
"""
import json

from alembic import op
import sqlalchemy as sa

from reverie.store.spoken_words import index_rows

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('transcript_segments', sa.Column('language', sa.String(length=8), nullable=True))
    op.add_column('videos', sa.Column('language', sa.String(length=8), nullable=True))
    conn = op.get_bind()
    op.execute("DROP TABLE segment_trigrams")
    if conn.dialect.name == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE segment_words USING fts5(text, tail, tokenize='unicode61 remove_diacritics 0')")
    else:
        op.execute("CREATE TABLE segment_words (rowid bigint PRIMARY KEY, text text NOT NULL, tail text NOT NULL, "
                   "doc tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED, "
                   "tail_doc tsvector GENERATED ALWAYS AS (to_tsvector('simple', tail)) STORED)")
        op.execute("CREATE INDEX ix_segment_words_doc ON segment_words USING gin (doc)")
    rows = conn.execute(sa.text("SELECT id, video_id, text, words_json FROM transcript_segments ORDER BY video_id, idx"))
    video, ids, words = None, [], []

    def flush() -> None:
        if ids:
            conn.execute(sa.text("INSERT INTO segment_words(rowid, text, tail) VALUES (:id, :t, :tail)"),
                         [{"id": i, "t": t, "tail": tail} for i, (t, tail) in zip(ids, index_rows(words))])

    for r in rows.all():
        if r.video_id != video:
            flush()
            video, ids, words = r.video_id, [], []
        ids.append(r.id)
        words.append([w[0] for w in json.loads(r.words_json)] if r.words_json else r.text.split())
    flush()
    conn.execute(sa.text(
        "INSERT INTO jobs(kind, subject_id, state, attempts, run_after_ms, created_ms, updated_ms) "
        "SELECT 'video.asr', j.subject_id, 'queued', 0, j.run_after_ms, j.created_ms, j.updated_ms FROM jobs j "
        "WHERE j.kind = 'video.index' AND j.state IN ('queued', 'running') AND NOT EXISTS "
        "(SELECT 1 FROM jobs a WHERE a.subject_id = j.subject_id AND a.kind = 'video.asr')"))


def downgrade() -> None:
    conn = op.get_bind()
    op.execute("DROP TABLE segment_words")
    if conn.dialect.name == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE segment_trigrams USING fts5(text, tokenize='trigram')")
    else:
        op.execute("CREATE TABLE segment_trigrams (rowid bigint PRIMARY KEY, text text NOT NULL)")
        op.execute("CREATE INDEX ix_segment_trigrams ON segment_trigrams USING gin (text gin_trgm_ops)")
    op.execute("INSERT INTO segment_trigrams(rowid, text) SELECT id, text FROM transcript_segments")
    with op.batch_alter_table('videos') as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('transcript_segments') as batch_op:
        batch_op.drop_column('language')
