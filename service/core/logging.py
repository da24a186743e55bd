"""structlog JSON lines for the API and the workers, with stdlib logs (uvicorn, celery) routed through it.

Context (request_id, task_id) is bound with `structlog.contextvars`; keys that may carry secrets or PHI are
redacted as a last line of defence, but the rule is simpler: never pass resources or tokens to a logger.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, BinaryIO

import orjson
import structlog

__all__ = ["REDACTED_KEYS", "configure_logging", "redact_sensitive"]

REDACTED_KEYS = frozenset(
    {
        "access_token",
        "authorization",
        "birthdate",
        "fhirauthorization",
        "identifier",
        "name",
        "password",
        "token",
        "jwt",
    }
)


def redact_sensitive(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict:
        if key.lower().replace("_", "") in REDACTED_KEYS or key.lower() in REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def _add_pid(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Not CallsiteParameterAdder: it inspects stack frames on every line, and only the pid is wanted here.
    event_dict["process"] = os.getpid()
    return event_dict


class _NamedWriter(structlog.BytesLogger):
    """structlog's own line writer, with the name `add_logger_name` reads (as stdlib loggers have one)."""

    def __init__(self, name: str, file: BinaryIO) -> None:
        super().__init__(file)
        self.name = name


def _renderer(json: bool, *, as_bytes: bool = False) -> structlog.types.Processor:
    """JSON or console lines; `as_bytes` for structlog's writer (bytes, and JSON by orjson), else str for stdlib."""
    if json:
        if as_bytes:
            return structlog.processors.JSONRenderer(serializer=orjson.dumps, option=orjson.OPT_NON_STR_KEYS)
        return structlog.processors.JSONRenderer()
    console = structlog.dev.ConsoleRenderer(colors=False)
    if not as_bytes:
        return console

    def console_bytes(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> bytes:
        return console(logger, method, event_dict).encode()

    return console_bytes


def configure_logging(level: str = "INFO", *, json: bool = True, process: str = "api") -> None:
    """Send structlog and stdlib records to stderr, one line each, tagged with the process role.

    structlog events are rendered and written by structlog itself (a third of the cost of a trip through stdlib
    logging, and the API logs a line per request); stdlib records (uvicorn, celery, warnings) go through a
    formatter that runs the same processors, so both kinds of line carry the same keys."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_pid,
        redact_sensitive,
    ]
    stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr  # the real one, not Celery's redirection
    binary = stream.buffer

    def factory(*args: Any) -> _NamedWriter:
        return _NamedWriter(str(args[0]) if args else "", binary)

    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _renderer(json, as_bytes=True)],
        logger_factory=factory,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(json),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(role=process)
