"""structlog JSON lines for the API and the workers, with stdlib logs (uvicorn, celery) routed through it.

Context (request_id, task_id) is bound with `structlog.contextvars`; keys that may carry secrets or PHI are
redacted as a last line of defence, but the rule is simpler: never pass resources or tokens to a logger.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

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


def configure_logging(level: str = "INFO", *, json: bool = True, process: str = "api") -> None:
    """Send structlog and stdlib records to stderr, one line each, tagged with the process role."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_pid,
        redact_sensitive,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
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
