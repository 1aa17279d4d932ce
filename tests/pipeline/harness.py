"""Real processes for the pipeline tests: the platform of ``devstack.stack`` (demo
legacy system, Redis, Celery workers, API; shared with the benchmarks), plus waits."""

from __future__ import annotations

from devstack.stack import Api, Demo, Stack, Worker, make_workdir, wait_status

__all__ = ["Api", "Demo", "Stack", "Worker", "make_workdir", "wait_status"]
