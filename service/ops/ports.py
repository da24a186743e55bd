"""Whether a TCP port can be listened on, asked before a child is started, so that a clash is named at once."""

from __future__ import annotations

import socket

__all__ = ["in_use"]


def in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no clash
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
