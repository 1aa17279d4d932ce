"""Idempotent saving of scraped OS records, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from registro.db import session_scope
from registro.models import Cliente, Equipamento, OrdemServico
from registro.records import find_os, public_data, save_scraped, scrape_result, to_scraped
from registro.schemas import (
    DECIMAL_PLACES,
    ClienteData,
    EquipamentoData,
    OrdemServicoData,
    ScrapedOS,
)


def _scraped(numero_os="1001", cnpj="11222333000181", serie="SN-77", total="1234.56"):
    return ScrapedOS(
        cliente=ClienteData(cnpj=cnpj, razao_social="Metalúrgica São João Ltda", uf="SP"),
        equipamento=EquipamentoData(numero_serie=serie, fabricante="WEG", potencia_cv=Decimal("7.5")),
        os=OrdemServicoData(numero_os=numero_os, data_abertura=dt.date(2024, 3, 5),
                            valor_total=Decimal(total), status="Em análise"),
    )


def _counts(url):
    with session_scope(url) as s:
        return tuple(s.scalar(sa.select(sa.func.count()).select_from(m))
                     for m in (Cliente, Equipamento, OrdemServico))


def test_save_twice_gives_same_ids_and_no_duplicates(db_url):
    with session_scope(db_url) as s:
        first = save_scraped(s, _scraped())
    with session_scope(db_url) as s:
        second = save_scraped(s, _scraped())
    assert first == second
    assert _counts(db_url) == (1, 1, 1)


def test_save_updates_changed_fields(db_url):
    with session_scope(db_url) as s:
        ids = save_scraped(s, _scraped(total="10.00"))
    with session_scope(db_url) as s:
        assert save_scraped(s, _scraped(total="99.90")) == ids
    with session_scope(db_url) as s:
        row = find_os(s, "1001")
        assert row.valor_total == Decimal("99.90")
        assert row.cliente.razao_social == "Metalúrgica São João Ltda"
        data = public_data(to_scraped(row))
    assert data["numero_os"] == "1001"
    assert data["cliente"] == "Metalúrgica São João Ltda"
    assert data["ordem_servico"]["data_abertura"] == "2024-03-05"


def test_a_scrape_answers_the_values_it_stores(db_url):
    """A task's result and a later found_existing answer give the same data: a numeric
    field is written with the column's two decimals in both ("16.00", not "16.0")."""
    scraped = _scraped(total="16.0")
    with session_scope(db_url) as s:
        answered = scrape_result(scraped, save_scraped(s, scraped)).data
    with session_scope(db_url) as s:
        stored = public_data(to_scraped(find_os(s, "1001")))
    assert answered["ordem_servico"]["valor_total"] == "16.00"
    assert answered["equipamento_dados"]["potencia_cv"] == "7.50"
    assert answered == stored


def test_every_numeric_column_keeps_the_schemas_decimals():
    columns = [c for m in (Cliente, Equipamento, OrdemServico) for c in m.__table__.columns
               if isinstance(c.type, sa.Numeric) and not isinstance(c.type, sa.Float)]
    assert columns and {c.type.scale for c in columns} == {DECIMAL_PLACES}, columns


def test_shared_cliente_across_orders(db_url):
    with session_scope(db_url) as s:
        a = save_scraped(s, _scraped("1"))
        b = save_scraped(s, _scraped("2", serie="SN-88"))
    assert a.cliente_id == b.cliente_id
    assert a.equipamento_id != b.equipamento_id
    assert _counts(db_url) == (1, 2, 2)


def test_failed_transaction_leaves_nothing(db_url):
    try:
        with session_scope(db_url) as s:
            save_scraped(s, _scraped())
            raise RuntimeError("crash after saving, before commit")
    except RuntimeError:
        pass
    assert _counts(db_url) == (0, 0, 0)


def test_voltage_migration_keeps_the_records_of_an_existing_database(db_url):
    """0002 turns equipamento.tensao_v from one integer into the plate's text, on a
    database that already holds records (issue 11, defect 5)."""
    from alembic import command

    from registro.db import alembic_config, get_engine, upgrade

    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0001")  # the schema before the change
    engine = get_engine(db_url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO cliente (cnpj, razao_social) VALUES ('11222333000181', 'X')"))
        cliente_id = c.execute(sa.text("SELECT id FROM cliente")).scalar_one()
        for serie, volts in (("SN-1", 380), ("SN-2", None)):
            c.execute(sa.text("INSERT INTO equipamento (numero_serie, cliente_id, tensao_v) "
                              "VALUES (:s, :c, :v)"), {"s": serie, "c": cliente_id, "v": volts})
        c.execute(sa.text(  # an OS refers to the equipment: the table copy must keep it
            "INSERT INTO ordem_servico (numero_os, cliente_id, equipamento_id, scraped_fields) "
            "SELECT '900', :c, id, 3 FROM equipamento WHERE numero_serie = 'SN-1'"),
            {"c": cliente_id})
    engine.dispose()

    upgrade(db_url)
    with session_scope(db_url) as s:
        rows = dict(s.execute(sa.select(Equipamento.numero_serie, Equipamento.tensao_v)).all())
    assert rows == {"SN-1": "380", "SN-2": None}

    dual = _scraped(serie="SN-3")
    dual.equipamento.tensao_v = "220/380"
    with session_scope(db_url) as s:
        save_scraped(s, dual)
    with session_scope(db_url) as s:
        back = to_scraped(find_os(s, "1001"))
    assert back.equipamento.tensao_v == "220/380"
    assert back.equipamento.tensoes_v == (220, 380)
    assert public_data(back)["equipamento_dados"]["tensao_v"] == "220/380"

    command.downgrade(cfg, "0001")  # and back: the first voltage of the plate
    engine = get_engine(db_url)
    with engine.connect() as c:
        rows = dict(c.execute(sa.text("SELECT numero_serie, tensao_v FROM equipamento")).all())
    engine.dispose()
    assert rows == {"SN-1": 380, "SN-2": None, "SN-3": 220}
    upgrade(db_url)
    with session_scope(db_url) as s:
        kept = to_scraped(find_os(s, "900"))
    assert (kept.equipamento.numero_serie, kept.equipamento.tensao_v) == ("SN-1", "380")
