from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import DEFAULT_REDIS_URL, Settings, get_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOH_REDIS_URL")
    settings = Settings()
    assert settings.redis_url is None
    assert settings.effective_redis_url == DEFAULT_REDIS_URL
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8080)
    assert settings.cds_require_auth is True
    assert settings.visibility_timeout > settings.retry_backoff_max + settings.task_time_limit


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOH_API_PORT", "9001")
    monkeypatch.setenv("TOH_FHIR_BASE_URL", "http://fhir.example/fhir/")
    monkeypatch.setenv("TOH_CDS_REQUIRE_AUTH", "false")
    monkeypatch.setenv("API_PORT", "1")  # unprefixed variables are not ours
    settings = Settings()
    assert settings.api_port == 9001
    assert settings.fhir_base_url == "http://fhir.example/fhir"
    assert settings.cds_require_auth is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("TOH_VISIBILITY_TIMEOUT", "600", "visibility_timeout must exceed"),
        ("TOH_TASK_SOFT_TIME_LIMIT", "500", "task_soft_time_limit must be below"),
        ("TOH_LOG_LEVEL", "chatty", "unknown log level"),
        ("TOH_API_PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_inconsistent_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, message: str
) -> None:
    monkeypatch.setenv(field, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_get_settings_is_cached() -> None:
    assert get_settings() is get_settings()


def test_screening_thresholds_come_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOH_SCREENING__CRP_MG_PER_L", "40")
    monkeypatch.setenv("TOH_SCREENING__LACTATION_EXTENSION_MONTHS", "0")
    screening = Settings().screening
    assert (screening.crp_mg_per_l, screening.lactation_extension_months) == (40.0, 0)
    assert screening.postpartum_window_days == 365  # the rest keep their defaults


def test_negative_thresholds_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOH_SCREENING__FEVER_CELSIUS", "-1")
    with pytest.raises(ValidationError, match="fever_celsius must not be negative"):
        Settings()
