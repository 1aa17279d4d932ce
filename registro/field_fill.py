"""Field drift: which schema fields each saved read filled, as Prometheus counters.

When the legacy site renames a label or moves a value, the field comes back empty and
the read is saved with a hole (a required field is ``profile_mismatch`` instead, see
``worker/record.py``). Two counters per field make that visible, with ``field`` bounded
to ``registro.schemas.ALL_FIELDS`` (48 values):

- ``registro_field_reads_total{field}``: saved reads whose profile reads the field;
- ``registro_field_filled_total{field}``: those in which it carried a value.

The worker (``worker/metrics.py``) and the API's synchronous fallback
(``api/metrics.py``) each own one ``FieldCounters`` in their registry; the alert
``RegistroFieldDrift`` and the dashboard divide the two.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from registro.schemas import ALL_FIELDS, ScrapedOS

_KNOWN = frozenset(ALL_FIELDS)


class FieldCounters:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.reads = Counter(
            "registro_field_reads", "Saved reads whose site profile reads the field "
            "(field: section.name of the schema).", ["field"], registry=registry)
        self.filled = Counter(
            "registro_field_filled", "Saved reads in which the field carried a value "
            "(field: section.name of the schema).", ["field"], registry=registry)
        # Every series from the start, at 0: a first increment is then a rise that
        # rate() sees, and a field that is never filled still has its series.
        for name in ALL_FIELDS:
            self.reads.labels(name)
            self.filled.labels(name)

    def count(self, scraped: ScrapedOS, fields: Iterable[str]) -> None:
        """One saved read: ``fields`` are the ones its profile reads."""
        values = scraped.flat()
        for name in fields:
            if name not in _KNOWN:
                continue
            self.reads.labels(name).inc()
            if values.get(name) is not None:
                self.filled.labels(name).inc()
