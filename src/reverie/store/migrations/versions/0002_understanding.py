"""image understanding: labels, OCR text, place, vectors, full-text index

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('images') as batch_op:
        batch_op.add_column(sa.Column('labels_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('ocr_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('place', sa.Text(), nullable=True))
    op.create_table('image_vectors',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('image_id', sa.BigInteger(), nullable=False),
    sa.Column('space', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True,
    )
    op.create_index('ux_image_vectors_image_space', 'image_vectors', ['image_id', 'space'], unique=True)
    if op.get_bind().dialect.name == 'sqlite':
        # Words (stemmed, accents folded) over every text field; rowid is the image id.
        op.execute("CREATE VIRTUAL TABLE image_fts USING fts5(ocr, tags, labels, place, camera, name, "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        # OCR often loses the spaces between words ("TAMANDAYA"); trigrams still find "taman" inside it.
        op.execute("CREATE VIRTUAL TABLE image_ocr_trigrams USING fts5(ocr, tokenize='trigram')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TABLE image_fts")
        op.execute("DROP TABLE image_ocr_trigrams")
    op.drop_index('ux_image_vectors_image_space', table_name='image_vectors')
    op.drop_table('image_vectors')
    with op.batch_alter_table('images') as batch_op:
        batch_op.drop_column('place')
        batch_op.drop_column('ocr_text')
        batch_op.drop_column('labels_json')
