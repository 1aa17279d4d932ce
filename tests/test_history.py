"""History of a stored OS (issue 12): one os_alteracao row per field a later read
found changed, written in the save's transaction; nothing for an unchanged read. On
SQLite and PostgreSQL, including migration 0003 over a database holding records."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import sqlalchemy as sa

from registro.db import session_scope
from registro.models import OrdemServico, OsAlteracao
from registro.records import find_os, history_page, save_scraped
from registro.schemas import ClienteData, EquipamentoData, OrdemServicoData, ScrapedOS


def _scraped(numero_os: str = "2001", *, status: str = "Aberta", total: str = "100.00",
             telefone: str = "1133334444", modelo: str = "W22 90S") -> ScrapedOS:
    return ScrapedOS(
        cliente=ClienteData(cnpj="11222333000181", razao_social="Têxtil Ipê Ltda.",
                            telefone=telefone),
        equipamento=EquipamentoData(numero_serie="WG0000001", modelo=modelo,
                                    potencia_cv=Decimal("7.5")),
        os=OrdemServicoData(numero_os=numero_os, status=status, valor_total=Decimal(total),
                            data_abertura=dt.date(2024, 3, 5)),
    )


def _history(url: str, numero_os: str = "2001") -> list[tuple[str, str | None, str | None]]:
    with session_scope(url) as s:
        page = history_page(s, numero_os, limit=1000)
        assert page is not None
        return [(c.campo, c.valor_anterior, c.valor_novo) for c in page.changes]


def _save(url: str, scraped: ScrapedOS):
    with session_scope(url) as s:
        return save_scraped(s, scraped)


def test_first_and_unchanged_saves_write_no_history_only_the_read_time(db_url):
    first = _save(db_url, _scraped())
    again = _save(db_url, _scraped())  # the same read twice: idempotent
    assert first == again and again.changes == ()
    assert again.lido_em > first.lido_em
    assert _history(db_url) == []
    with session_scope(db_url) as s:
        stored = find_os(s, "2001").scraped_at
    assert stored.replace(tzinfo=stored.tzinfo or dt.UTC) == again.lido_em


def test_changed_fields_of_os_cliente_and_equipamento_are_recorded(db_url):
    _save(db_url, _scraped())
    saved = _save(db_url, _scraped(status="Concluída", total="250.5", telefone="11999990000",
                                   modelo="W22 100L"))
    assert saved.changes_by_section() == {"ordem_servico": 2, "cliente": 1, "equipamento": 1}
    assert sorted(_history(db_url)) == sorted([
        ("ordem_servico.status", "Aberta", "Concluída"),
        ("ordem_servico.valor_total", "100.00", "250.50"),  # as the record answers it
        ("cliente_dados.telefone", "1133334444", "11999990000"),
        ("equipamento_dados.modelo", "W22 90S", "W22 100L"),
    ])
    _save(db_url, _scraped(status="Concluída", total="250.50", telefone="11999990000",
                           modelo="W22 100L"))  # 250.5 == 250.50: nothing new
    assert len(_history(db_url)) == 4
    with session_scope(db_url) as s:
        row = find_os(s, "2001")
        assert (row.status, row.valor_total, row.cliente.telefone) == \
            ("Concluída", Decimal("250.50"), "11999990000")
        observed = {c.observado_em for c in s.scalars(sa.select(OsAlteracao))}
        assert len(observed) == 1  # one read, one time, also the OS's scraped_at
        when = observed.pop()
        assert when.replace(tzinfo=when.tzinfo or dt.UTC) == saved.lido_em


def test_history_is_paginated_newest_first(db_url):
    _save(db_url, _scraped())
    for n in range(1, 6):
        _save(db_url, _scraped(status=f"Etapa {n}"))
    with session_scope(db_url) as s:
        first = history_page(s, "2001", limit=2)
        assert first is not None and first.total == 5
        assert [c.valor_novo for c in first.changes] == ["Etapa 5", "Etapa 4"]
        second = history_page(s, "2001", limit=2, before_id=first.next_before)
        assert [c.valor_novo for c in second.changes] == ["Etapa 3", "Etapa 2"]
        last = history_page(s, "2001", limit=2, before_id=second.next_before)
        assert [(c.valor_anterior, c.valor_novo) for c in last.changes] == [("Aberta", "Etapa 1")]
        assert last.next_before is None
        assert history_page(s, "9999", limit=2) is None


def test_concurrent_saves_of_one_read_write_its_changes_once(db_url):
    """Eight threads save the same new read at once: the lock makes exactly one of
    them see the old values (PostgreSQL: advisory lock; SQLite: the write lock)."""
    _save(db_url, _scraped())
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            barrier.wait()
            _save(db_url, _scraped(status="Concluída", telefone="11900001111"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(_history(db_url)) == [("cliente_dados.telefone", "1133334444", "11900001111"),
                                        ("ordem_servico.status", "Aberta", "Concluída")]


def test_deleting_an_os_deletes_its_history(db_url):
    _save(db_url, _scraped())
    _save(db_url, _scraped(status="Concluída"))
    with session_scope(db_url) as s:
        s.execute(sa.delete(OrdemServico))
    with session_scope(db_url) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OsAlteracao)) == 0


def test_migration_0003_upgrades_a_database_holding_records(db_url):
    """From 0002 with records (one without scraped_at) to head: rows kept, scraped_at
    filled, the history table and the refresh index present, saves diffing at once."""
    from alembic import command

    from registro.db import alembic_config, get_engine, upgrade

    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0002")
    engine = get_engine(db_url)
    with engine.begin() as c:
        assert "os_alteracao" not in sa.inspect(c).get_table_names()
        c.execute(sa.text("INSERT INTO cliente (cnpj, razao_social, telefone) "
                          "VALUES ('11222333000181', 'Têxtil Ipê Ltda.', '1133334444')"))
        c.execute(sa.text("INSERT INTO equipamento (numero_serie, cliente_id, modelo, "
                          "potencia_cv) SELECT 'WG0000001', id, 'W22 90S', 7.5 FROM cliente"))
        c.execute(sa.text(
            "INSERT INTO ordem_servico (numero_os, cliente_id, equipamento_id, status, "
            "valor_total, data_abertura, scraped_fields, scraped_at) "
            "SELECT '2001', c.id, e.id, 'Aberta', 100, '2024-03-05', 9, :at "
            "FROM cliente c, equipamento e"), {"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)})
        c.execute(sa.text(  # a row written by hand, never read: no scraped_at
            "INSERT INTO ordem_servico (numero_os, cliente_id, equipamento_id, scraped_fields) "
            "SELECT '2002', c.id, e.id, 0 FROM cliente c, equipamento e"))
    engine.dispose()

    upgrade(db_url)
    engine = get_engine(db_url)
    with engine.connect() as c:
        inspector = sa.inspect(c)
        assert "os_alteracao" in inspector.get_table_names()
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("ordem_servico")}
        assert indexes["ix_ordem_servico_status_scraped_at"] == ["status", "scraped_at"]
        rows = c.execute(sa.text("SELECT numero_os, status, scraped_at IS NOT NULL "
                                 "FROM ordem_servico ORDER BY numero_os")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("2001", "Aberta", True), ("2002", None, True)]

    saved = _save(db_url, _scraped(status="Concluída"))  # the stored record is the "before"
    assert [c.campo for c in saved.changes] == ["ordem_servico.status"]
    assert _history(db_url) == [("ordem_servico.status", "Aberta", "Concluída")]

    command.downgrade(cfg, "0002")  # and back: the records stay, the history goes
    engine = get_engine(db_url)
    with engine.connect() as c:
        assert "os_alteracao" not in sa.inspect(c).get_table_names()
        assert c.execute(sa.text("SELECT status FROM ordem_servico WHERE numero_os = '2001'")
                         ).scalar_one() == "Concluída"
    engine.dispose()
    upgrade(db_url)
