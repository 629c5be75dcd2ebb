"""each photo's likelihood of every COCO class, as the detector scores it anywhere in the picture

Revision ID: 0011
Revises: 0010

Photos indexed before this have none (NULL): search reads the scores of their stored objects instead,
which are only those the detector was sure of.
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite adds a nullable column in place, without copying the table.
    op.add_column('images', sa.Column('object_likelihoods_json', sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops the column in place too: a batch copy of the table would lose its expression indexes
    # (ix_images_library), which migration 0009's downgrade then cannot find.
    op.drop_column('images', 'object_likelihoods_json')
