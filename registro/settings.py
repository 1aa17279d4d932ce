"""All configuration, read once from the environment (and an optional ``.env``).

Every field is read from ``REGISTRO_<FIELD>`` only (e.g. ``REGISTRO_API_KEYS``), so a
stray ``API_KEYS`` in someone's environment is never read. The three conventional
connection URLs also accept their bare names: ``DATABASE_URL``, ``REDIS_URL``,
``SELENIUM_URL`` (the ``REGISTRO_`` spelling wins when both are set).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "REGISTRO_"


def _conventional(name: str) -> AliasChoices:
    """``REGISTRO_<NAME>`` or the bare, conventional ``<NAME>``."""
    return AliasChoices(f"{PREFIX}{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=".env", extra="ignore",
                                      populate_by_name=True)

    # --- storage -------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./var/registro.db", validation_alias=_conventional("DATABASE_URL"),
        description="SQLAlchemy URL. SQLite file by default; PostgreSQL in production.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0",
                           validation_alias=_conventional("REDIS_URL"))
    redis_sentinels: str | None = Field(
        None,
        description="Redis Sentinels, `host:port,host:port,...`: the master of "
        "REDIS_MASTER_NAME is asked of them (followed across a failover); REDIS_URL then "
        "gives only the password, database and TLS. Unset: REDIS_URL's server.",
    )
    redis_master_name: str = Field(
        "registro", description="The master's name in the Sentinels' configuration.")

    # --- the legacy site and the browser ---------------------------------
    site_profile: Path | None = Field(
        None,
        description="Site profile (YAML). Default: the demo legacy system's profile.",
    )
    legacy_url: str | None = Field(None, description="Overrides the profile's base_url.")
    legacy_username: str = "demo"
    legacy_password: SecretStr = SecretStr("demo")
    selenium_url: str | None = Field(
        None, validation_alias=_conventional("SELENIUM_URL"),
        description="WebDriver endpoint (a browser sidecar). Unset: start local chromedriver.",
    )
    chromium_binary: str = "/usr/bin/chromium"
    chromedriver_binary: str = "/usr/bin/chromedriver"
    page_timeout_s: float = 20.0
    session_max_scrapes: int = Field(
        50, ge=1,
        description="Recycle the browser session after this many scrapes.",
    )
    artifacts_dir: Path = Field(
        Path("./var/artifacts"),
        description="Where `registro scrape` writes the evidence of a failed scrape (the "
        "worker and the API keep theirs in the database).",
    )

    # --- failure evidence (registro/evidence.py) ------------------------
    evidence_max_bytes: int = Field(
        1_048_576, ge=65_536,
        description="Largest stored evidence bundle of a failed scrape (gzip'd HTML, PNG "
        "screenshot and logs together); beyond it the HTML is truncated first, then the "
        "screenshot dropped, and the bundle says so.",
    )
    evidence_retention_days: float = Field(
        14.0, ge=0,
        description="Evidence bundles older than this are deleted on the next write; the "
        "first failure of each reason per OS is kept within it. 0: keep none.",
    )

    # --- API ------------------------------------------------------------
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys accepted as 'Authorization: Bearer <key>'.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated browser origins (scheme://host:port) allowed to call "
        "the API cross-origin, e.g. the demo page of `registro up`. Empty: none.",
    )

    # --- worker (the guide's production settings) -----------------------
    task_time_limit_s: int = Field(300, ge=1)
    task_soft_time_limit_s: int = Field(240, ge=1)
    task_max_retries: int = Field(3, ge=0)
    worker_concurrency: int = Field(1, ge=1)

    # --- async pipeline (API, queue, worker; see api/README.md) -----------
    api_rate_limit_per_minute: int = Field(
        600, ge=1,
        description="Requests per API key per minute (Redis fixed window); beyond: 429.",
    )
    api_max_body_bytes: int = Field(
        16384, ge=0,
        description="Largest request body accepted; beyond: 413.",
    )
    redis_socket_timeout_s: float = Field(
        0.5, gt=0,
        description="Connect/read timeout of the API's Redis calls (bounds every answer).",
    )
    api_redis_read_timeout_s: float = Field(
        1.0, gt=0,
        description="Read timeout of the API's asyncio Redis client (hot paths); its "
        "connect timeout is REDIS_SOCKET_TIMEOUT_S. Event-loop queueing counts in it.",
    )
    api_redis_async_connections: int = Field(
        64, ge=1,
        description="Connections of the API's asyncio Redis client per process; requests "
        "beyond wait for one (Redis runs one command at a time anyway).",
    )
    redis_max_connections: int = Field(
        1200, ge=10,
        description="Redis connection pool size per API process (size it for peak clients).",
    )
    broker_visibility_timeout_s: int = Field(
        900, ge=1,
        description="Unacknowledged tasks of a lost worker are redelivered after this; "
        "keep it above the task hard time limit.",
    )
    broker_restore_interval_s: int = Field(
        10, ge=1,
        description="How often each worker looks for unacknowledged tasks older than the "
        "visibility timeout, to redeliver them.",
    )
    legacy_rate_per_minute: float = Field(
        60.0, gt=0,
        description="Global budget of scrapes per minute against the legacy system, "
        "shared by every worker (token bucket in Redis).",
    )
    legacy_rate_burst: int = Field(
        3, ge=1,
        description="Token bucket capacity: scrapes that may start back to back.",
    )
    api_record_cache_entries: int = Field(
        10000, ge=0,
        description="found_existing answers kept encoded per API process, each checked "
        "against its rows' version on every call (0 disables).",
    )
    api_processes: int = Field(
        0, ge=0,
        description="uvicorn worker processes started by `registro up` (0: one per core).",
    )
    fallback_max_browsers: int = Field(
        2, ge=0,
        description="Concurrent synchronous fallback scrapes per API process; beyond: 503.",
    )
    fallback_budget_wait_s: float = Field(
        10.0, ge=0,
        description="Longest a synchronous fallback scrape waits for its token of the "
        "global legacy budget (LEGACY_RATE_PER_MINUTE, in Redis); beyond: 503 + "
        "Retry-After. Redis unreachable: no token is taken, FALLBACK_MAX_BROWSERS bounds it.",
    )
    worker_heartbeat_s: float = Field(
        2.0, gt=0,
        description="How often a worker refreshes its heartbeat key in Redis (TTL = 3x).",
    )
    worker_metrics_port: int = Field(
        9808, ge=0,
        description="Prometheus port of the worker (0 disables).",
    )
    reconcile_interval_s: float = Field(
        5.0, gt=0,
        description="How often one worker (under a Redis lock) looks for recorded tasks "
        "that nothing holds any more.",
    )
    reconcile_grace_s: float = Field(
        15.0, gt=0,
        description="How long a recorded, unfinished task must be held by nothing (no "
        "queue, no unacknowledged hash, no live worker) before it is published again.",
    )
    webdriver_state_dir: Path = Field(
        Path("/tmp/registro-webdriver"),  # noqa: S108 - the pod's /tmp emptyDir
        description="Where each pool process records its WebDriver session, so that its "
        "successor deletes a session left by a killed process.",
    )

    # --- background refresh of open OS (see worker/README.md) ---------------
    refresh_enabled: bool = Field(
        True,
        description="Re-read open OS (status not closed) once they are older than "
        "REFRESH_AFTER_S, on the low-priority path; one scheduler per deployment.",
    )
    refresh_after_s: float = Field(
        6 * 3600.0, gt=0,
        description="An open OS last read longer ago than this is due for a refresh.",
    )
    refresh_closed_statuses: str = Field(
        "Concluída,Entregue,Cancelada",
        description="Comma-separated OS statuses that are final: such OS are never "
        "refreshed.",
    )
    refresh_budget_share: float = Field(
        0.25, gt=0, le=1,
        description="Largest share of LEGACY_RATE_PER_MINUTE that refreshes may use "
        "together (a token bucket of their own, on top of the global one).",
    )
    refresh_interval_s: float = Field(
        30.0, gt=0,
        description="How often the scheduler looks for OS due for a refresh.",
    )
    refresh_max_in_flight: int = Field(
        2, ge=1,
        description="Refreshes queued or running at once, at most; the queue the operator "
        "scales on never holds more refreshes than this.",
    )
    refresh_lease_ttl_s: float = Field(
        15.0, ge=1,
        description="Lease of the single scheduler in Redis, renewed every third of it: a "
        "dead holder is replaced within this plus a third of it.",
    )

    # --- operator (see operator/README.md) ---------------------------------
    operator_metrics_port: int = Field(
        9809, ge=0,
        description="Prometheus port of the operator's own metrics (0 disables).",
    )
    operator_tick_s: float = Field(
        1.0, gt=0, le=60,
        description="The operator's timer tick; each ScraperPool is polled every "
        "spec.pollIntervalSeconds, checked at this granularity.",
    )

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]

    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def refresh_closed_status_list(self) -> list[str]:
        return [s.strip() for s in self.refresh_closed_statuses.split(",") if s.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
