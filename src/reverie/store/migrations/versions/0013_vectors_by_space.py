"""vectors indexed by (space, seq): each in-memory vector index reads only its own space's new rows

Revision ID: 0013
Revises: 0012

Every search first reads the rows written since its index last looked (store/vectors.py). Its space's
rows interleave with the other's (photos' features and visual vectors; clips' visual vectors and speech
segments), so without this index the read walked every row past the newest of its own space: after a run
of videos without speech, the speech index walked all their clips on every query. At 100,000 synthetic
photos (bench/search.py), whose features were written after their visual vectors, that was 2.5 ms of
every text query; with the index, 0.02 ms.
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_image_vectors_space_seq', 'image_vectors', ['space', 'seq'])
    op.create_index('ix_video_vectors_space_seq', 'video_vectors', ['space', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_video_vectors_space_seq', table_name='video_vectors')
    op.drop_index('ix_image_vectors_space_seq', table_name='image_vectors')
