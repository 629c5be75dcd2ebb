"""the video library: videos, tags, clips, transcript segments, their vectors and full-text indexes

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('videos',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('unique_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('container', sa.String(length=8), nullable=False),
    sa.Column('original_key', sa.String(length=255), nullable=True),
    sa.Column('retain_original', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('cause', sa.Text(), nullable=True),
    sa.Column('callback', sa.Text(), nullable=True),
    sa.Column('transcription_prompt', sa.Text(), nullable=True),
    sa.Column('datetime_taken_ms', sa.BigInteger(), nullable=True),
    sa.Column('camera_model', sa.String(length=200), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('fps', sa.Float(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('video_codec', sa.String(length=32), nullable=True),
    sa.Column('audio_codec', sa.String(length=32), nullable=True),
    sa.Column('place', sa.Text(), nullable=True),
    sa.Column('transcribed_ms', sa.BigInteger(), nullable=True),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('indexed_ms', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_videos_account_ns_id', 'videos', ['account_id', 'unique_id', 'id'])
    op.create_table('video_tags',
    sa.Column('video_id', sa.BigInteger(), nullable=False),
    sa.Column('tag', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('video_id', 'tag'),
    )
    op.create_index('ix_video_tags_tag', 'video_tags', ['tag'])
    op.create_table('video_clips',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('video_id', sa.BigInteger(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('keyframe_key', sa.String(length=255), nullable=False),
    sa.Column('labels_json', sa.Text(), nullable=True),
    sa.Column('ocr_text', sa.Text(), nullable=True),
    sa.Column('caption', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_video_clips_video', 'video_clips', ['video_id', 'idx'])
    op.create_table('transcript_segments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('video_id', sa.BigInteger(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('words_json', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_transcript_segments_video', 'transcript_segments', ['video_id', 'idx'])
    op.create_table('video_vectors',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('video_id', sa.BigInteger(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('space', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True,
    )
    op.create_index('ux_video_vectors_item_space', 'video_vectors', ['item_id', 'space'], unique=True)
    op.create_index('ix_video_vectors_video', 'video_vectors', ['video_id'])
    if op.get_bind().dialect.name == 'sqlite':
        # Phrase search over transcripts: trigrams make `LIKE '%phrase%'` an index lookup (rowid = segment id).
        op.execute("CREATE VIRTUAL TABLE segment_trigrams USING fts5(text, tokenize='trigram')")
        # Words of each clip (its caption: labels, text on screen, speech; every label; tags; file name);
        # rowid = clip id.
        op.execute("CREATE VIRTUAL TABLE clip_fts USING fts5(caption, labels, tags, name, "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        op.execute("CREATE VIRTUAL TABLE segment_fts USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TABLE segment_fts")
        op.execute("DROP TABLE clip_fts")
        op.execute("DROP TABLE segment_trigrams")
    op.drop_table('video_vectors')
    op.drop_table('transcript_segments')
    op.drop_table('video_clips')
    op.drop_table('video_tags')
    op.drop_table('videos')
