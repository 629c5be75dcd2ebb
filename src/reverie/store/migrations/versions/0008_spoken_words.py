"""phrase search over folded words, across segments; the language of speech

Revision ID: 0008
Revises: 0007

segment_trigrams now holds each segment's words folded (store/spoken_words.py) followed by the first
words of the next segment (`tail`), so a phrase is found whatever its case, punctuation or spelling, and
across two segments. The rows of transcripts already stored are rewritten here from their words.
Segments and videos gain the language Whisper heard (NULL for those transcribed before: English).
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
    if conn.dialect.name == 'sqlite':
        op.execute("DROP TABLE segment_trigrams")
        op.execute("CREATE VIRTUAL TABLE segment_trigrams USING fts5(text, tail, tokenize='trigram')")
    else:
        op.execute("DELETE FROM segment_trigrams")
        op.execute("ALTER TABLE segment_trigrams ADD COLUMN tail text NOT NULL DEFAULT ''")
    rows = conn.execute(sa.text("SELECT id, video_id, text, words_json FROM transcript_segments ORDER BY video_id, idx"))
    video, ids, words = None, [], []

    def flush() -> None:
        if ids:
            conn.execute(sa.text("INSERT INTO segment_trigrams(rowid, text, tail) VALUES (:id, :t, :tail)"),
                         [{"id": i, "t": t, "tail": tail} for i, (t, tail) in zip(ids, index_rows(words))])

    for r in rows.all():
        if r.video_id != video:
            flush()
            video, ids, words = r.video_id, [], []
        ids.append(r.id)
        words.append([w[0] for w in json.loads(r.words_json)] if r.words_json else r.text.split())
    flush()


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        op.execute("DROP TABLE segment_trigrams")
        op.execute("CREATE VIRTUAL TABLE segment_trigrams USING fts5(text, tokenize='trigram')")
        op.execute("INSERT INTO segment_trigrams(rowid, text) SELECT id, text FROM transcript_segments")
    else:
        op.execute("ALTER TABLE segment_trigrams DROP COLUMN tail")
        op.execute("UPDATE segment_trigrams t SET text = s.text FROM transcript_segments s WHERE s.id = t.rowid")
    with op.batch_alter_table('videos') as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('transcript_segments') as batch_op:
        batch_op.drop_column('language')
