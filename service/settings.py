"""Typed settings, read once from `TOH_*` environment variables; the API and the workers share them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from service.fhir.limits import RecordLimits
from service.screening.config import ScreeningConfig

__all__ = ["DEFAULT_REDIS_URL", "IssuerConfig", "Settings", "SettingsProblem", "get_settings", "load_settings"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class IssuerConfig(BaseModel):
    """A trusted CDS Client: where its signing keys are (a JWKS URL, or the JWKS itself, pinned), which other JWKS
    URLs its tokens may name as `jku`, and the FHIR servers whose patients it may ask about from precomputed cards."""

    jwks_url: str | None = None
    jwks: dict[str, object] | None = None
    jku: list[str] = Field(default_factory=list)
    fhir_servers: list[str] = Field(default_factory=list)

    @field_validator("fhir_servers")
    @classmethod
    def _normalise_bases(cls, values: list[str]) -> list[str]:
        return [value.rstrip("/") for value in values]

    @model_validator(mode="after")
    def _one_source(self) -> IssuerConfig:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url or jwks")
        if self.jku and self.jwks_url is None:
            raise ValueError("jku lists JWKS URLs for a jwks_url issuer; pinned jwks never fetch any")
        return self

    def may_name(self, jku: str) -> bool:
        """Whether a token may name this JWKS URL (`jku`): the issuer's own, or one on its list."""
        return jku == self.jwks_url or jku in self.jku


class Settings(BaseSettings):
    """Every knob of the service. Field names map to `TOH_<NAME>` (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_prefix="TOH_", env_nested_delimiter="__", extra="ignore", env_ignore_empty=True
    )

    # Where things run.
    redis_url: str | None = Field(
        default=None,
        description="Redis for the Celery broker, dedup keys and cards. Unset: `toh-cds run` starts an "
        f"embedded Redis; other commands use {DEFAULT_REDIS_URL}.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_keep_alive_seconds: int = Field(
        default=75, ge=1, description="Idle keep-alive connections are closed after this; above clients' own timeouts."
    )
    api_workers: int = Field(
        default=1, ge=1, le=64, description="API processes behind one port (`toh-cds api --workers`); see the README."
    )
    api_limit_concurrency: int = Field(
        default=2048, ge=1, description="Connections and requests one API process serves at once; beyond: 503."
    )
    api_max_header_bytes: int = Field(default=16_384, ge=1024, description="Longest header line (or URL): 431.")
    api_max_head_bytes: int = Field(default=65_536, ge=4096, description="Request line and headers in all: 431.")
    redis_max_connections: int = Field(
        default=50, ge=2, description="Redis connections one API process opens at most; more callers wait for one."
    )
    redis_pool_timeout: float = Field(default=5.0, gt=0, description="Seconds a caller waits for a Redis connection.")
    data_dir: Path = Field(default=Path(".data"), description="Embedded Redis data (AOF) lives here.")
    worker_concurrency: int = Field(default=2, ge=1, description="Celery worker processes per worker.")

    # Peers.
    fhir_base_url: str | None = Field(
        default=None,
        description="FHIR server the workers read and write. Unset: `toh-cds run` starts an embedded one (demo).",
    )
    embedded_fhir_port: int = Field(
        default=8090, ge=1, le=65535, description="Port of the embedded FHIR server of `toh-cds run` (127.0.0.1)."
    )
    embedded_fhir_command: str | None = Field(
        default=None, description="The sekmet executable for the embedded FHIR server; unset: .venv-sekmet's."
    )
    fhir_auth: Literal["none", "bearer", "smart"] = Field(default="none", description="How workers authenticate.")
    fhir_bearer_token: SecretStr | None = Field(default=None, description="Static bearer token for that FHIR server.")
    fhir_client_id: str | None = Field(default=None, description="SMART Backend Services client id.")
    fhir_private_key_file: str | None = Field(default=None, description="PEM private key that signs the assertion.")
    fhir_key_id: str | None = Field(default=None, description="kid of that key in the JWKS registered with the server.")
    fhir_signing_alg: Literal["RS384", "ES384"] = "RS384"
    fhir_token_url: str | None = Field(default=None, description="Token endpoint; discovered when unset.")
    fhir_scopes: str = "system/*.read system/RiskAssessment.write system/Provenance.write"
    fhir_record_query: Literal["auto", "everything", "searches"] = Field(
        default="auto",
        description="How workers read a record: Patient/$everything where the CapabilityStatement offers it "
        "(auto), always, or the nine prefetch searches.",
    )
    http_timeout: float = Field(default=10.0, gt=0, description="Seconds of inactivity before an HTTP call fails.")
    http_connect_timeout: float = Field(default=3.0, gt=0)
    http_max_connections: int = Field(default=50, ge=1)
    fhir_max_response_bytes: int = Field(
        default=RecordLimits.response_bytes,
        ge=1024,
        description="Largest FHIR response body read (hook fetches and workers).",
    )
    fhir_max_record_bytes: int = Field(
        default=RecordLimits.record_bytes,
        ge=1024,
        description="Most bytes read from FHIR servers for one record (a hook, a screening).",
    )
    fhir_max_record_entries: int = Field(
        default=RecordLimits.entries, ge=10, description="Most resources in one patient's record (a hook, a screening)."
    )

    # Celery reliability.
    task_soft_time_limit: int = Field(default=60, ge=1, description="Seconds before a task is asked to stop.")
    task_time_limit: int = Field(default=90, ge=1, description="Seconds before a task is killed.")
    retry_backoff_max: int = Field(default=600, ge=1, description="Longest retry countdown in seconds.")
    max_retries: int = Field(
        default=12,
        ge=0,
        description="Retries of a task before it goes to the dead letters (backoff doubles each time).",
    )
    visibility_timeout: int = Field(
        default=3600, ge=1, description="Seconds before Redis redelivers an unacknowledged task."
    )

    # Operations.
    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON lines (true) or console lines (false); unset: console on a terminal, else JSON."
    )
    ready_worker_timeout: float = Field(default=1.0, gt=0, description="Seconds /readyz waits for a worker.")
    ready_fhir_timeout: float = Field(default=2.0, gt=0, description="Seconds /readyz waits for FHIR /metadata.")
    ready_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often readiness is checked in the background; /readyz serves the result."
    )
    shutdown_timeout: float = Field(default=15.0, gt=0, description="Seconds `toh-cds run` waits per child.")

    # Subscription notifications and the work they start.
    notify_token: SecretStr | None = Field(
        default=None, description="Bearer token FHIR servers send (Subscription channel header). Unset: all refused."
    )
    notify_max_body_bytes: int = Field(default=10_000_000, ge=1024, description="Larger notifications get 413.")
    notify_max_events: int = Field(default=1000, ge=1, description="Notifications with more events get 413.")
    watchdog_seconds: float = Field(
        default=30.0, gt=0, description="How often the API checks that subscription heartbeats keep arriving."
    )
    notify_rate_limit_per_minute: int = Field(
        default=60_000, ge=0, description="Notifications a minute per sending host (per API process); 0: no limit."
    )
    gap_grace_seconds: float = Field(
        default=10.0, ge=0, description="A skipped event number must stay missing this long before a re-query."
    )
    coalesce_seconds: float = Field(
        default=0.2, ge=0, description="Notifications for one patient within this window make one screening."
    )
    screenings_per_task: int = Field(
        default=10, ge=1, description="Patients one worker task screens at most; more waiting start more tasks."
    )
    rescreen_per_second: float = Field(
        default=5, gt=0, description="Patients re-screened a second after a rules version change."
    )

    # Clinical thresholds: TOH_SCREENING__<FIELD>, see service/screening/config.py.
    screening: ScreeningConfig = Field(default_factory=ScreeningConfig)

    # CDS Hooks.
    cds_require_auth: bool = Field(default=True, description="Verify CDS Hooks JWTs. Never false in production.")
    public_base_url: str = Field(
        default="",
        description="This service's URL as EHRs call it: JWT `aud` is checked against it. "
        "Unset: http://127.0.0.1:<TOH_API_PORT>.",
    )
    cds_issuers: dict[str, IssuerConfig] = Field(
        default_factory=dict,
        description='JSON: {"<iss>": {"jwks_url": "...", "jku": [...]} or {"jwks": {...}}, plus "fhir_servers": [...]}',
    )
    fhir_server_allowlist: list[str] = Field(
        default_factory=list, description="JSON list of FHIR base URLs the service may call from a hook."
    )
    cors_origins: list[str] = Field(default_factory=list, description="JSON list of browser origins allowed (CORS).")
    cds_max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Larger hook or feedback bodies get 413.")
    cds_rate_limit_per_minute: int = Field(
        default=12_000, ge=0, description="Hook and feedback calls a minute per JWT issuer (per API process); 0: none."
    )
    cds_deadline_seconds: float = Field(
        default=8.0, gt=0, description="A hook's whole budget for fetching from the fhirServer; past it: 412."
    )
    prefetch_max_pages: int = Field(default=20, ge=1, description="Most `next` pages followed per prefetch query.")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_cache_seconds: int = Field(default=300, ge=0)
    jwks_min_refresh_seconds: float = Field(
        default=60.0, ge=0, description="Least time between two JWKS fetches of one URL (unknown kids, failures)."
    )
    card_cache_max_age_seconds: int = Field(
        default=21_600, ge=0, description="Precomputed cards older than this are recomputed inline."
    )
    card_snooze_days: int = Field(
        default=30, ge=0, description="A card overridden for a patient is not shown again for the same data this long."
    )

    # The SMART case view (/app/).
    app_client_id: str = Field(
        default="toh-cds",
        description="SMART client id of the case view, registered with the EHR's authorization server.",
    )
    app_client_secret: SecretStr | None = Field(
        default=None, description="Its secret, for a confidential client; unset: a public client (PKCE only)."
    )
    app_demo: bool = Field(
        default=False, description="Case pages without a launch at /app/demo/ (set by `make run`'s demo loop only)."
    )

    @field_validator("fhir_base_url", "public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("fhir_server_allowlist")
    @classmethod
    def _normalise_bases(cls, values: list[str]) -> list[str]:
        return [value.rstrip("/") for value in values]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> Settings:
        if not self.public_base_url:
            host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
            self.public_base_url = f"http://{host}:{self.api_port}"
        return self

    @model_validator(mode="after")
    def _limits_are_consistent(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("task_soft_time_limit must be below task_time_limit")
        # A countdown longer than the visibility timeout makes Redis redeliver the task in a loop.
        if self.visibility_timeout <= self.retry_backoff_max + self.task_time_limit:
            raise ValueError("visibility_timeout must exceed retry_backoff_max + task_time_limit")
        return self

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    def logs_as_json(self, terminal: bool) -> bool:
        """TOH_LOG_JSON, or when unset: console lines on a terminal, JSON lines otherwise."""
        return not terminal if self.log_json is None else self.log_json


class SettingsProblem(ValueError):
    """A setting the service cannot start with; the message names the variable and what is wrong, in one line."""


def _variable(location: tuple[int | str, ...]) -> str:
    return "TOH_" + "__".join(str(part) for part in location).upper() if location else "settings"


def _shown(location: tuple[int | str, ...], value: object) -> bool:
    """Whether a wrong value may be repeated in the message: a scalar, and not from a secret."""
    secret = any(word in str(part) for part in location for word in ("token", "key", "secret", "password"))
    return isinstance(value, str | int | float) and not secret


def load_settings() -> Settings:
    """The settings, or SettingsProblem naming each variable at fault (not pydantic's traceback)."""
    try:
        return Settings()
    except SettingsError as exc:  # a value that is not valid JSON, for a list or a mapping
        field = str(exc).split('"')[1] if '"' in str(exc) else ""
        raise SettingsProblem(f"{_variable((field,)) if field else 'a setting'}: not valid JSON") from None
    except ValidationError as exc:
        problems = [
            f"{_variable(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
            + (f" (got {error['input']!r})" if _shown(error["loc"], error.get("input")) else "")
            for error in exc.errors()
        ]
        raise SettingsProblem("; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
