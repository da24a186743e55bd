"""Errors as HTTP answers: every 4xx/5xx of the API carries an OperationOutcome that says what went wrong.

ProblemError(status, message, code=...)   raised by routes and helpers
RequestValidationError                    -> 400, one issue per invalid field

No error body repeats what the caller sent (it may be PHI, a token, or markup): messages are fixed, naming at most a
field, a length or a type of ours.
Unauthorized                              -> bare 401: a caller that fails authentication learns nothing
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ProblemError", "Unauthorized", "install_error_handlers", "operation_outcome", "validation_messages"]

FHIR_JSON = "application/fhir+json"
_ISSUE_CODES = {400: "invalid", 404: "not-found", 405: "not-supported", 412: "incomplete", 413: "too-long",
                415: "not-supported", 422: "processing", 429: "throttled", 503: "transient"}  # fmt: skip


def operation_outcome(*messages: str, code: str = "invalid", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message} for message in messages],
    }


class ProblemError(Exception):
    def __init__(self, status: int, *messages: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages
        self.code = code or _ISSUE_CODES.get(status, "processing")
        self.headers = headers


class Unauthorized(Exception):
    """Authentication failed. The reason is for our logs only (never tokens), not for the caller."""


def _problem_response(status: int, *messages: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        operation_outcome(*messages, code=code), status_code=status, headers=headers, media_type=FHIR_JSON
    )


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _where(part: Any) -> str:
    """A location part as the caller may see it: field names and indexes, not a key the caller made up."""
    if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.fullmatch(part)):
        return str(part)
    return "?"


def _what(error: Mapping[str, Any]) -> str:
    """Pydantic's message without its details, which can quote the input (a UUID error names the character it
    found); our own validators' messages (value_error) are kept whole."""
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "value_error":
        return message
    return message.split(",")[0].split(":")[0]


def validation_messages(errors: Sequence[Any]) -> list[str]:
    """One line per pydantic error, "where: what", without the offending input (it may hold a token or PHI)."""
    messages = []
    for error in errors:
        where = ".".join(_where(part) for part in error.get("loc", ()) if part != "body") or "body"
        messages.append(f"{where}: {_what(error)}")
    return messages or ["invalid request"]


def install_error_handlers(app: FastAPI) -> None:
    async def problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return _problem_response(exc.status, *exc.messages, code=exc.code, headers=exc.headers)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _problem_response(400, *validation_messages(exc.errors()), code="invalid")

    async def unauthorized(_: Request, __: Exception) -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _ISSUE_CODES.get(exc.status_code, "processing")
        return _problem_response(exc.status_code, str(exc.detail), code=code, headers=dict(exc.headers or {}))

    app.add_exception_handler(ProblemError, problem)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(StarletteHTTPException, http_error)
