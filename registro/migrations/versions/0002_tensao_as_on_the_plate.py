"""equipamento.tensao_v holds the plate's voltages as text ("220/380"), not one integer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing integers become their text ("380"); SQLite copies the table (batch mode)
    with op.batch_alter_table("equipamento") as batch:
        batch.alter_column("tensao_v", existing_type=sa.Integer(), type_=sa.String(40),
                           existing_nullable=True, postgresql_using="tensao_v::varchar(40)")


def downgrade() -> None:
    # back to one integer: the first voltage of the plate ("220/380" -> 220)
    with op.batch_alter_table("equipamento") as batch:
        batch.alter_column(
            "tensao_v", existing_type=sa.String(40), type_=sa.Integer(), existing_nullable=True,
            postgresql_using="NULLIF(split_part(tensao_v, '/', 1), '')::integer",
        )
