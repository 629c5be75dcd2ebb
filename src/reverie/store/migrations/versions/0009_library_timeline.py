"""the library's timeline: photos and videos by when they were taken, else uploaded

Revision ID: 0009
Revises: 0008

library_page lists a namespace's photos and videos together, newest first by coalesce(datetime_taken_ms,
created_ms), ties by upload time then id (store/library.py). These indexes hold that order per account and
namespace, so the database merges two index walks instead of sorting the namespace on every page; the
trailing datetime_taken_ms makes them covering on SQLite, whose planner reads no column out of an
expression's value. Expression indexes: SQLite 3.9+ and PostgreSQL both build them, and use them when a
query writes the same expression.
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

WHEN = sa.text('coalesce(datetime_taken_ms, created_ms)')


def upgrade() -> None:
    op.create_index('ix_images_library', 'images', ['account_id', 'unique_id', WHEN, 'created_ms', 'id', 'datetime_taken_ms'])
    op.create_index('ix_videos_library', 'videos', ['account_id', 'unique_id', WHEN, 'created_ms', 'id', 'datetime_taken_ms'])


def downgrade() -> None:
    op.drop_index('ix_videos_library', table_name='videos')
    op.drop_index('ix_images_library', table_name='images')
