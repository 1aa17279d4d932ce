"""history of changed fields (os_alteracao); scraped_at always set; index for the refresh

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every answer carries lido_em = scraped_at: rows saved without one (none are, since
    # 0001; but hand-made rows may exist) get the time they were last written.
    op.execute("UPDATE ordem_servico SET scraped_at = COALESCE(updated_at, created_at) "
               "WHERE scraped_at IS NULL")
    # SQLite copies the table (batch mode), keeping every row
    with op.batch_alter_table("ordem_servico") as batch:
        batch.alter_column("scraped_at", existing_type=sa.DateTime(timezone=True),
                           nullable=False, server_default=sa.text("(CURRENT_TIMESTAMP)"))
    op.create_index("ix_ordem_servico_status_scraped_at", "ordem_servico",
                    ["status", "scraped_at"])
    op.create_table(
        "os_alteracao",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ordem_servico_id", sa.Integer(), nullable=False),
        sa.Column("campo", sa.String(length=80), nullable=False),
        sa.Column("valor_anterior", sa.Text(), nullable=True),
        sa.Column("valor_novo", sa.Text(), nullable=True),
        sa.Column("observado_em", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ordem_servico_id"], ["ordem_servico.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_os_alteracao_ordem_servico_id_id", "os_alteracao",
                    ["ordem_servico_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_os_alteracao_ordem_servico_id_id", table_name="os_alteracao")
    op.drop_table("os_alteracao")
    op.drop_index("ix_ordem_servico_status_scraped_at", table_name="ordem_servico")
    with op.batch_alter_table("ordem_servico") as batch:
        batch.alter_column("scraped_at", existing_type=sa.DateTime(timezone=True),
                           nullable=True, server_default=None)
