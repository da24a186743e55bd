"""The whole test session's logs, scanned for PHI and secrets: every fixture patient's name, identifier and birth
date, every JWT, and every token the tests use. Our code must never log any of them (tests/conftest.py runs it)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from fixtures.scenarios import NOW, SCENARIOS

# Secrets the tests hand to the service (notify tokens, EHR access tokens); JWTs are found by their shape.
TOKENS = ("secret-notify-token", "notify-secret-for-tests", "schemathesis-notify-token", "secret-ehr-token", "t0ken")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{6,}")


def phi() -> set[str]:
    """Names, identifiers and birth dates of every fixture patient, built for the fixtures' date and for today."""
    found: set[str] = set()
    for scenario in SCENARIOS:
        for now in (NOW, datetime.now(UTC)):
            patient = scenario.build(now).resources[0]
            found |= {name["family"] for name in patient.get("name", [])}
            found |= {identifier["value"] for identifier in patient.get("identifier", [])}
            found.add(patient["birthDate"])
    return found


def findings(lines: list[str]) -> list[str]:
    """What must not be there, with the line it was found in (shortened)."""
    targets = sorted(phi()) + list(TOKENS)
    problems = []
    for line in lines:
        hits = [t for t in targets if t in line] + JWT.findall(line) + BEARER.findall(line)
        problems += [f"{hit!r} in: {line[:200]}" for hit in hits]
    return problems


class Collector(logging.Handler):
    """Keeps every record logged in the test process (routes under TestClient, tasks run in-process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__.get('event', '')}")
