"""The dev harness: Registro's processes on one machine, for ``registro up`` (``make
run``), the tests and the benchmarks. Not shipped: production images install only the
``registro`` distribution (``uv sync --no-dev``); this one is in the dev group.

- ``processes``: the launchers (Redis, PostgreSQL, chromedriver, demo, worker, API);
- ``stack``: the whole platform composed from them for tests and benchmarks;
- ``waits``: ``wait_until``, the one wait on a predicate;
- ``up``: the ``registro up``/``worker``/``api`` commands and their supervisor.
"""
