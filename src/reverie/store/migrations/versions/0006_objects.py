"""objects and colours of a photo, objects of a clip's keyframe

Revision ID: 0006
Revises: 0005

Photos and clips indexed before this have none (NULL, read as none) until `reverie models add-objects` finds them.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite adds a nullable column in place, without copying the table.
    op.add_column('images', sa.Column('objects_json', sa.Text(), nullable=True))
    op.add_column('images', sa.Column('colours_json', sa.Text(), nullable=True))
    # video_clips is AUTOINCREMENT on SQLite: a batch copy of it would lose that.
    op.add_column('video_clips', sa.Column('objects_json', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('video_clips', 'objects_json')
    with op.batch_alter_table('images') as batch_op:
        batch_op.drop_column('colours_json')
        batch_op.drop_column('objects_json')
