"""each video clip's likelihood of every COCO class, as the detector scores it anywhere in the keyframe

Revision ID: 0012
Revises: 0011

Clips indexed before this have none (NULL): search reads the scores of their stored objects instead, as
it does for photos (migration 0011).
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('video_clips', sa.Column('object_likelihoods_json', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('video_clips', 'object_likelihoods_json')
