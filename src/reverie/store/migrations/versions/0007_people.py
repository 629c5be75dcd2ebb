"""faces found in photos and video keyframes, grouped into people

Revision ID: 0007
Revises: 0006

Photos and videos indexed before this have no faces (faces_ms NULL) until `reverie models add-faces` looks
for them.
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('images', sa.Column('faces_ms', sa.BigInteger(), nullable=True))
    op.add_column('videos', sa.Column('faces_ms', sa.BigInteger(), nullable=True))
    op.create_table('people',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('account_id', sa.Integer(), nullable=False),
                    sa.Column('unique_id', sa.String(length=200), nullable=False),
                    sa.Column('name', sa.String(length=100), nullable=True),
                    sa.Column('centroid', sa.LargeBinary(), nullable=False),
                    sa.Column('face_count', sa.Integer(), nullable=False),
                    sa.Column('created_ms', sa.BigInteger(), nullable=False),
                    sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sqlite_autoincrement=True)
    op.create_index('ix_people_account_ns', 'people', ['account_id', 'unique_id'])
    op.create_table('faces',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('image_id', sa.BigInteger(), nullable=True),
                    sa.Column('clip_id', sa.Integer(), nullable=True),
                    sa.Column('idx', sa.Integer(), nullable=False),
                    sa.Column('person_id', sa.Integer(), nullable=True),
                    sa.Column('x0', sa.Float(), nullable=False),
                    sa.Column('y0', sa.Float(), nullable=False),
                    sa.Column('x1', sa.Float(), nullable=False),
                    sa.Column('y1', sa.Float(), nullable=False),
                    sa.Column('score', sa.Float(), nullable=False),
                    sa.Column('embedding', sa.LargeBinary(), nullable=False),
                    sa.Column('crop_key', sa.String(length=255), nullable=False),
                    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['clip_id'], ['video_clips.id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['person_id'], ['people.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sqlite_autoincrement=True)
    op.create_index('ix_faces_image', 'faces', ['image_id'])
    op.create_index('ix_faces_clip', 'faces', ['clip_id'])
    op.create_index('ix_faces_person', 'faces', ['person_id'])


def downgrade() -> None:
    op.drop_table('faces')
    op.drop_table('people')
    with op.batch_alter_table('images') as batch_op:
        batch_op.drop_column('faces_ms')
    op.drop_column('videos', 'faces_ms')
