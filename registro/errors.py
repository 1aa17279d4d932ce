"""Failure classes shared by the scraper, the worker and the API.

Permanent failures will fail again if retried (the OS does not exist, the
credentials are wrong, the site changed under the profile). Transient ones may
pass on a later try (timeouts, HTTP 5xx, a WebDriver session that died).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NOT_FOUND = "not_found"
    LOGIN_FAILED = "login_failed"
    PROFILE_MISMATCH = "profile_mismatch"
    INVALID_DATA = "invalid_data"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"
    WEBDRIVER_ERROR = "webdriver_error"
    RATE_LIMITED = "rate_limited"
    RETRIES_EXHAUSTED = "retries_exhausted"
    TIME_LIMIT = "time_limit"
    INTERNAL_ERROR = "internal_error"  # a bug or an unforeseen exception: see the logs


class ScrapeError(Exception):
    """Base class. Its evidence (``registro/evidence.py``): ``evidence_id``, the bundle
    kept in the database, or ``artifacts``, the files of a bundle written to a directory."""

    transient: bool = False

    def __init__(self, reason: Reason, message: str, *, artifacts: list[str] | None = None,
                 evidence_id: str | None = None):
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message
        self.artifacts = artifacts or []
        self.evidence_id = evidence_id

    def __reduce__(self):  # picklable across processes (Celery result backend)
        return (self.__class__, (self.reason, self.message),
                {"artifacts": self.artifacts, "evidence_id": self.evidence_id})

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


class PermanentScrapeError(ScrapeError):
    transient = False


class TransientScrapeError(ScrapeError):
    transient = True
