"""What the commands share: settings with one-line errors, and finding what `toh-cds run` started."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from service.ops.run_info import RunInfo
    from service.settings import Settings

__all__ = ["Failure", "fhir_base_of", "redis_of", "running", "settings"]


class Failure(click.ClickException):
    """A command that could not do its job (exit code 1); the message says what to do."""

    exit_code = 1


def settings() -> Settings:
    from service.settings import SettingsProblem, load_settings

    try:
        return load_settings()
    except SettingsProblem as problem:
        raise Failure(f"invalid setting: {problem}") from None


def running(current: Settings) -> RunInfo | None:
    """What a `toh-cds run` on this data directory started, if one runs."""
    from service.ops.run_info import RunInfo

    return RunInfo.read(current.data_dir.resolve())


def fhir_base_of(given: str | None, current: Settings) -> str:
    """--fhir-base, else TOH_FHIR_BASE_URL, else the embedded FHIR server of a running `toh-cds run`."""
    info = running(current)
    base = given or current.fhir_base_url or (info.fhir_base if info else None)
    if not base:
        raise Failure("no FHIR server: give --fhir-base URL, set TOH_FHIR_BASE_URL, or start `make run`")
    return base.rstrip("/")


def redis_of(current: Settings) -> str:
    """TOH_REDIS_URL, else the embedded Redis of a running `toh-cds run`, else the default; checked to answer."""
    import redis
    from redis.exceptions import RedisError

    from service.settings import DEFAULT_REDIS_URL

    info = running(current)
    url = current.redis_url or (info.redis_url if info else None) or DEFAULT_REDIS_URL
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5) as client:
            client.ping()
    except (RedisError, OSError) as error:
        where = url.split("@")[-1]  # no password in the message
        raise Failure(
            f"no Redis answers at {where} ({type(error).__name__}): start `make run`, or set TOH_REDIS_URL"
        ) from None
    return url
