"""All configuration, read once from the environment (and an optional ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    """Accept ``REGISTRO_<NAME>`` and, for well-known names, the bare ``<NAME>``."""
    return AliasChoices(f"REGISTRO_{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- storage -------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./var/registro.db", validation_alias=_env("DATABASE_URL"),
        description="SQLAlchemy URL. SQLite file by default; PostgreSQL in production.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"))

    # --- the legacy site and the browser ---------------------------------
    site_profile: Path | None = Field(
        None, validation_alias=_env("SITE_PROFILE"),
        description="Site profile (YAML). Default: the demo legacy system's profile.",
    )
    legacy_url: str | None = Field(
        None, validation_alias=_env("LEGACY_URL"),
        description="Overrides the profile's base_url.",
    )
    legacy_username: str = Field("demo", validation_alias=_env("LEGACY_USERNAME"))
    legacy_password: SecretStr = Field(SecretStr("demo"), validation_alias=_env("LEGACY_PASSWORD"))
    selenium_url: str | None = Field(
        None, validation_alias=_env("SELENIUM_URL"),
        description="WebDriver endpoint (a browser sidecar). Unset: start local chromedriver.",
    )
    chromium_binary: str = Field("/usr/bin/chromium", validation_alias=_env("CHROMIUM_BINARY"))
    chromedriver_binary: str = Field(
        "/usr/bin/chromedriver", validation_alias=_env("CHROMEDRIVER_BINARY")
    )
    page_timeout_s: float = Field(20.0, validation_alias=_env("PAGE_TIMEOUT_S"))
    session_max_scrapes: int = Field(
        50, ge=1, validation_alias=_env("SESSION_MAX_SCRAPES"),
        description="Recycle the browser session after this many scrapes.",
    )
    artifacts_dir: Path = Field(
        Path("./var/artifacts"), validation_alias=_env("ARTIFACTS_DIR"),
        description="Screenshots and page sources of failed scrapes.",
    )

    # --- API ------------------------------------------------------------
    api_keys: SecretStr = Field(
        SecretStr(""), validation_alias=_env("API_KEYS"),
        description="Comma-separated API keys accepted as 'Authorization: Bearer <key>'.",
    )

    # --- worker (the guide's production settings) -----------------------
    task_time_limit_s: int = Field(300, ge=1, validation_alias=_env("TASK_TIME_LIMIT_S"))
    task_soft_time_limit_s: int = Field(240, ge=1, validation_alias=_env("TASK_SOFT_TIME_LIMIT_S"))
    task_max_retries: int = Field(3, ge=0, validation_alias=_env("TASK_MAX_RETRIES"))
    worker_concurrency: int = Field(1, ge=1, validation_alias=_env("WORKER_CONCURRENCY"))

    # --- async pipeline (API, queue, worker; see api/README.md) -----------
    api_rate_limit_per_minute: int = Field(
        600, ge=1, validation_alias=_env("API_RATE_LIMIT_PER_MINUTE"),
        description="Requests per API key per minute (Redis fixed window); beyond: 429.",
    )
    api_max_body_bytes: int = Field(
        16384, ge=0, validation_alias=_env("API_MAX_BODY_BYTES"),
        description="Largest request body accepted; beyond: 413.",
    )
    redis_socket_timeout_s: float = Field(
        0.5, gt=0, validation_alias=_env("REDIS_SOCKET_TIMEOUT_S"),
        description="Connect/read timeout of the API's Redis calls (bounds every answer).",
    )
    api_redis_read_timeout_s: float = Field(
        1.0, gt=0, validation_alias=_env("API_REDIS_READ_TIMEOUT_S"),
        description="Read timeout of the API's asyncio Redis client (hot paths); its "
        "connect timeout is REDIS_SOCKET_TIMEOUT_S. Event-loop queueing counts in it.",
    )
    api_redis_async_connections: int = Field(
        64, ge=1, validation_alias=_env("API_REDIS_ASYNC_CONNECTIONS"),
        description="Connections of the API's asyncio Redis client per process; requests "
        "beyond wait for one (Redis runs one command at a time anyway).",
    )
    redis_max_connections: int = Field(
        1200, ge=10, validation_alias=_env("REDIS_MAX_CONNECTIONS"),
        description="Redis connection pool size per API process (size it for peak clients).",
    )
    broker_visibility_timeout_s: int = Field(
        900, ge=1, validation_alias=_env("BROKER_VISIBILITY_TIMEOUT_S"),
        description="Unacknowledged tasks of a lost worker are redelivered after this; "
        "keep it above the task hard time limit.",
    )
    broker_restore_interval_s: int = Field(
        10, ge=1, validation_alias=_env("BROKER_RESTORE_INTERVAL_S"),
        description="How often each worker looks for unacknowledged tasks older than the "
        "visibility timeout, to redeliver them.",
    )
    legacy_rate_per_minute: float = Field(
        60.0, gt=0, validation_alias=_env("LEGACY_RATE_PER_MINUTE"),
        description="Global budget of scrapes per minute against the legacy system, "
        "shared by every worker (token bucket in Redis).",
    )
    legacy_rate_burst: int = Field(
        3, ge=1, validation_alias=_env("LEGACY_RATE_BURST"),
        description="Token bucket capacity: scrapes that may start back to back.",
    )
    api_record_cache_entries: int = Field(
        10000, ge=0, validation_alias=_env("API_RECORD_CACHE_ENTRIES"),
        description="found_existing answers kept encoded per API process, each checked "
        "against its rows' version on every call (0 disables).",
    )
    api_processes: int = Field(
        0, ge=0, validation_alias=_env("API_PROCESSES"),
        description="uvicorn worker processes started by `registro up` (0: one per core).",
    )
    fallback_max_browsers: int = Field(
        2, ge=0, validation_alias=_env("FALLBACK_MAX_BROWSERS"),
        description="Concurrent synchronous fallback scrapes per API process; beyond: 503.",
    )
    worker_heartbeat_s: float = Field(
        2.0, gt=0, validation_alias=_env("WORKER_HEARTBEAT_S"),
        description="How often a worker refreshes its heartbeat key in Redis (TTL = 3x).",
    )
    worker_metrics_port: int = Field(
        9808, ge=0, validation_alias=_env("WORKER_METRICS_PORT"),
        description="Prometheus port of the worker (0 disables).",
    )

    # --- operator (see operator/README.md) ---------------------------------
    operator_metrics_port: int = Field(
        9809, ge=0, validation_alias=_env("OPERATOR_METRICS_PORT"),
        description="Prometheus port of the operator's own metrics (0 disables).",
    )
    operator_tick_s: float = Field(
        1.0, gt=0, le=60, validation_alias=_env("OPERATOR_TICK_S"),
        description="The operator's timer tick; each ScraperPool is polled every "
        "spec.pollIntervalSeconds, checked at this granularity.",
    )

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
