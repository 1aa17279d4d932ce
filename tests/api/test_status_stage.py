"""scraping-status carries the worker's stage code (`etapa`) next to its own message, so
that clients can show their own words; a status without one (an older worker) stays as
it was, and a malformed code is dropped rather than failing the answer."""

from __future__ import annotations

import json

import pytest

from registro.api.task_status import status_from_result

pytestmark = [pytest.mark.fast]


def _progress(info: dict) -> dict:
    answer = status_from_result("scraping_12345", "12345", {"status": "PROGRESS", "result": info},
                                None)
    return json.loads(answer.model_dump_json(exclude_none=True))


def test_progress_carries_the_worker_stage():
    answer = _progress({"progress": 40, "message": "Searching OS 12345", "step": "searching"})
    assert answer == {"task_id": "scraping_12345", "numero_os": "12345", "status": "PROGRESS",
                      "progress": 40, "message": "Searching OS 12345", "etapa": "searching"}


def test_a_worker_without_stages_gives_the_same_answer_as_before():
    answer = _progress({"progress": 55, "message": "Extracting"})
    assert "etapa" not in answer
    assert answer["progress"] == 55 and answer["message"] == "Extracting"


@pytest.mark.parametrize("step", ["", "Searching", "step with spaces", "x" * 33, 7, None])
def test_a_malformed_stage_is_dropped(step):
    answer = _progress({"progress": 10, "message": "m", "step": step})
    assert "etapa" not in answer and answer["progress"] == 10


def test_started_and_retry_have_their_own_codes():
    started = status_from_result("scraping_1", "1", {"status": "STARTED"}, None)
    retry = status_from_result("scraping_1", "1", {"status": "RETRY", "result": "boom"}, None)
    pending = status_from_result("scraping_1", "1", None, None)
    assert (started.etapa, retry.etapa, pending.etapa) == ("started", "retrying", None)
