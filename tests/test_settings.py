"""One prefix: every setting is read from REGISTRO_<NAME>; only the conventional
connection URLs also accept their bare names (issue 11)."""

from __future__ import annotations

import pytest

from registro.settings import Settings

pytestmark = pytest.mark.fast


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.startswith("REGISTRO_") or name in {"DATABASE_URL", "REDIS_URL", "SELENIUM_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env file
    return monkeypatch


def test_a_stray_bare_name_is_not_read(clean_env):
    clean_env.setenv("API_KEYS", "stray-key")
    clean_env.setenv("LEGACY_PASSWORD", "stray")
    clean_env.setenv("TASK_MAX_RETRIES", "9")
    settings = Settings()
    assert settings.api_key_list() == []
    assert settings.legacy_password.get_secret_value() == "demo"
    assert settings.task_max_retries == 3


def test_the_prefixed_name_is_read(clean_env):
    clean_env.setenv("REGISTRO_API_KEYS", "k1, k2")
    clean_env.setenv("REGISTRO_TASK_MAX_RETRIES", "5")
    settings = Settings()
    assert settings.api_key_list() == ["k1", "k2"]
    assert settings.task_max_retries == 5


@pytest.mark.parametrize("name, field", [("DATABASE_URL", "database_url"),
                                         ("REDIS_URL", "redis_url"),
                                         ("SELENIUM_URL", "selenium_url")])
def test_conventional_urls_accept_both_spellings(clean_env, name, field):
    clean_env.setenv(name, "bare://x")
    assert getattr(Settings(), field) == "bare://x"
    clean_env.setenv(f"REGISTRO_{name}", "prefixed://x")
    assert getattr(Settings(), field) == "prefixed://x"  # the prefixed spelling wins


def test_fields_by_name_in_code():
    assert Settings(legacy_url="http://x", page_timeout_s=3).page_timeout_s == 3
