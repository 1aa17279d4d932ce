"""The field drift counters (issue 19, part 3): one series per schema field, reads
counted for the fields the profile reads, filled only where the read had a value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from registro.field_fill import FieldCounters
from registro.legacy_demo.data import expected_record
from registro.schemas import ALL_FIELDS


def test_counts_reads_and_filled_fields_per_field():
    registry = CollectorRegistry()
    counters = FieldCounters(registry)

    def value(name: str, field: str) -> float:
        return registry.get_sample_value(name, {"field": field})

    # every field has its two series from the start, and no other label value exists
    assert all(value("registro_field_reads_total", f) == 0 for f in ALL_FIELDS)
    assert all(value("registro_field_filled_total", f) == 0 for f in ALL_FIELDS)
    record = expected_record("1")  # open OS: no data_conclusao, among others
    assert record.os.data_conclusao is None and record.cliente.cnpj
    read = ["cliente.cnpj", "os.data_conclusao", "not.a_field"]
    counters.count(record, read)
    counters.count(record, read)
    assert value("registro_field_reads_total", "cliente.cnpj") == 2
    assert value("registro_field_filled_total", "cliente.cnpj") == 2
    assert value("registro_field_reads_total", "os.data_conclusao") == 2
    assert value("registro_field_filled_total", "os.data_conclusao") == 0
    assert value("registro_field_reads_total", "os.status") == 0  # not read by the profile
    assert value("registro_field_reads_total", "not.a_field") is None
    fields = {s.labels["field"] for m in registry.collect() for s in m.samples}
    assert fields == set(ALL_FIELDS)
