"""failure evidence bundles (evidencia): first failure per OS and reason, capped, redacted

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidencia",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("numero_os", sa.String(length=20), nullable=False),
        sa.Column("motivo", sa.String(length=40), nullable=False),
        sa.Column("mensagem", sa.Text(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("titulo", sa.Text(), nullable=True),
        sa.Column("criado_em", sa.DateTime(timezone=True), nullable=False),
        sa.Column("html_gz", sa.LargeBinary(), nullable=True),
        sa.Column("screenshot_png", sa.LargeBinary(), nullable=True),
        sa.Column("log_gz", sa.LargeBinary(), nullable=False),
        sa.Column("html_bytes", sa.Integer(), nullable=True),
        sa.Column("screenshot_bytes", sa.Integer(), nullable=True),
        sa.Column("html_truncado", sa.Boolean(), nullable=False),
        sa.Column("screenshot_descartado", sa.Boolean(), nullable=False),
        sa.Column("capturado_bytes", sa.Integer(), nullable=False),
        sa.Column("armazenado_bytes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("numero_os", "motivo", name="uq_evidencia_numero_os_motivo"),
    )
    op.create_index("ix_evidencia_criado_em", "evidencia", ["criado_em"])


def downgrade() -> None:
    op.drop_index("ix_evidencia_criado_em", table_name="evidencia")
    op.drop_table("evidencia")
