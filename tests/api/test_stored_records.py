"""found_existing is served from an encoded answer reused per version of the rows, and
never outlives them: a re-scrape saving new values, a change to the shared cliente, and a
row deleted from the database are all seen on the very next call."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from registro.api.stored_records import StoredRecords
from registro.db import session_scope
from registro.legacy_demo.data import expected_record
from registro.models import OrdemServico
from registro.records import save_scraped

pytestmark = [pytest.mark.redis]
POST = "/api/desenvolvimento/buscar-os-async/{}"


def _save(db_url: str, numero_os: str, **os_changes) -> None:
    scraped = expected_record(numero_os)
    if os_changes:
        scraped = scraped.model_copy(update={"os": scraped.os.model_copy(update=os_changes)})
    with session_scope(db_url) as session:
        save_scraped(session, scraped)


def test_answer_is_built_once_per_version(sqlite_url):
    _save(sqlite_url, "1301")
    records = StoredRecords(sqlite_url, max_entries=10)
    first = records.found_existing("1301")
    assert first is not None and b'"found_existing"' in first.head
    assert records.found_existing("1301") is first  # reused: same bytes, no rebuild
    assert records.builds == 1
    _save(sqlite_url, "1301", diagnostico="Rolamento trocado de novo")
    changed = records.found_existing("1301")
    assert records.builds == 2 and changed is not None
    assert b"Rolamento trocado de novo" in changed.head
    assert records.found_existing("9999") is None


def test_cache_is_bounded(sqlite_url):
    for n in ("1311", "1312", "1313"):
        _save(sqlite_url, n)
    records = StoredRecords(sqlite_url, max_entries=2)
    for n in ("1311", "1312", "1313", "1311"):
        assert records.found_existing(n) is not None
    assert records.builds == 4  # 1311 was evicted by 1313, then built again


def test_live_api_sees_rescrape_shared_cliente_change_and_deleted_row(live_api):
    numero = "1321"
    _save(live_api.db_url, numero)
    with live_api.client() as client:
        body = client.post(POST.format(numero)).json()
        assert body["status"] == "found_existing"
        assert body["data"]["ordem_servico"]["diagnostico"] == \
            expected_record(numero).os.diagnostico
        again = client.post(POST.format(numero)).json()  # cached answer, same record
        assert again.pop("idade_segundos") >= body.pop("idade_segundos")
        assert again == body

        # A re-scrape saves new values: the next call shows them.
        _save(live_api.db_url, numero, diagnostico="Bobinas refeitas", status="Concluída")
        body = client.post(POST.format(numero)).json()
        assert body["data"]["ordem_servico"]["diagnostico"] == "Bobinas refeitas"
        assert body["data"]["ordem_servico"]["status"] == "Concluída"

        # Another OS of the same cliente is scraped with a new razão social: the cliente
        # row is shared, so this OS's answer changes too.
        other = expected_record(numero)
        other = other.model_copy(update={
            "os": other.os.model_copy(update={"numero_os": "1322"}),
            "cliente": other.cliente.model_copy(update={"razao_social": "Nova Razão Ltda"})})
        with session_scope(live_api.db_url) as session:
            save_scraped(session, other)
        body = client.post(POST.format(numero)).json()
        assert body["data"]["cliente"] == "Nova Razão Ltda"

        # The row is deleted from the database: never answered from memory again.
        with session_scope(live_api.db_url) as session:
            session.execute(delete(OrdemServico).where(OrdemServico.numero_os == numero))
        body = client.post(POST.format(numero)).json()
        assert body["status"] == "queued", body
        with session_scope(live_api.db_url) as session:
            assert session.scalar(select(OrdemServico.id).where(
                OrdemServico.numero_os == numero)) is None


def test_row_deleted_and_saved_again_at_once_is_a_new_version(sqlite_url):
    """SQLite may reuse a deleted row's id, and its default updated_at has one-second
    resolution: the version must still change (the OS's scraped_at, to the microsecond)."""
    _save(sqlite_url, "1331", diagnostico="Primeiro")
    records = StoredRecords(sqlite_url, max_entries=10)
    first = records.found_existing("1331")
    assert first is not None and b"Primeiro" in first.head
    with session_scope(sqlite_url) as session:
        session.execute(delete(OrdemServico).where(OrdemServico.numero_os == "1331"))
    _save(sqlite_url, "1331", diagnostico="Segundo")  # not read in between: cache still old
    answer = records.found_existing("1331")
    assert answer is not None and b"Segundo" in answer.head and b"Primeiro" not in answer.head
