"""rate-limit overrides per account, credit balances and grants

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch_op:
        batch_op.add_column(sa.Column('credit_balance', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('credits_spent', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table('credit_grants',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_credit_grants_account_id', 'credit_grants', ['account_id'])
    op.create_table('account_rate_limits',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('endpoint_class', sa.String(length=16), nullable=False),
    sa.Column('per_second', sa.Float(), nullable=False),
    sa.Column('burst', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
    sa.PrimaryKeyConstraint('account_id', 'endpoint_class'),
    )


def downgrade() -> None:
    op.drop_table('account_rate_limits')
    op.drop_index('ix_credit_grants_account_id', table_name='credit_grants')
    op.drop_table('credit_grants')
    with op.batch_alter_table('accounts') as batch_op:
        batch_op.drop_column('credits_spent')
        batch_op.drop_column('credit_balance')
