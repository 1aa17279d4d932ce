"""What a task's final failure is recorded as (the Reason taxonomy), whichever process
sees it: the pool process for its own errors, the main process for the hard limit."""

from __future__ import annotations

import pytest
from billiard.exceptions import TimeLimitExceeded

from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.worker.tasks import _failure_reason


@pytest.mark.parametrize(("exc", "reason", "says"), [
    (PermanentScrapeError(Reason.NOT_FOUND, "OS 1 not found"), "not_found", "OS 1 not found"),
    (TransientScrapeError(Reason.TIMEOUT, "page slow"), "retries_exhausted",
     "4 tries failed, last:"),
    (TimeLimitExceeded(90), "time_limit", "hard time limit of 90s reached"),
    (RuntimeError("boom"), "internal_error", "RuntimeError: boom"),
])
def test_failure_reason(exc, reason, says):
    got_reason, message = _failure_reason(exc, max_retries=3)
    assert got_reason == reason
    assert says in message
