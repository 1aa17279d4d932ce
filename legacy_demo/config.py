"""Configuration of the demo legacy system: credentials, behaviour and injectable faults.

The demo stands in for an external system, so it keeps its own settings class with the
``REGISTRO_DEMO_`` prefix (e.g. ``REGISTRO_DEMO_LATENCY_MS=200``), separate from
Registro's own ``registro.settings``.
"""

from __future__ import annotations

import secrets

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Faults(BaseModel):
    """Failures the demo can provoke. Changeable at runtime through ``POST /_demo/faults``."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, le=600_000, description="Added delay on every request.")
    error_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fraction of requests answered with HTTP 500 (seeded, reproducible).",
    )
    fail_next: int = Field(0, ge=0, description="Answer the next N requests with HTTP 500.")
    fail_paths: list[str] = Field(
        default_factory=list,
        description="Path prefixes always answered with HTTP 500 (e.g. '/api/os/').",
    )
    slow_os_ms: int = Field(
        0, ge=0, le=600_000,
        description="Extra delay on the OS page and on its data (to exceed a scraper timeout).",
    )
    session_ttl_s: float | None = Field(
        None, gt=0, description="Sessions expire this many seconds after login.",
    )
    session_max_requests: int | None = Field(
        None, ge=1, description="Sessions expire after this many authenticated requests.",
    )
    login_fails: bool = Field(False, description="Reject every login, even with good credentials.")


class DemoConfig(BaseSettings, Faults):
    """Start-up configuration; the fault fields are the initial faults."""

    model_config = SettingsConfigDict(env_prefix="REGISTRO_DEMO_", extra="forbid")

    username: str = Field("demo", description="Login accepted by the demo.")
    password: SecretStr = Field(SecretStr("demo"), description="Password accepted by the demo.")
    admin_token: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(24)),
        description="Bearer token of the /_demo admin API (random when unset).",
    )
    secret_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Key signing the CSRF tokens (random when unset).",
    )
    render_delay_ms: int = Field(
        150, ge=0, le=60_000, description="Delay before the OS page's JavaScript shows the values.",
    )
    error_seed: int = Field(0, description="Seed of the error_rate draws.")

    def initial_faults(self) -> Faults:
        return Faults(**{name: getattr(self, name) for name in Faults.model_fields})
