"""Shifting a Bundle's dates so that its story happens now: fixtures written months ago still fit today's rules.

Every FHIR date, dateTime and instant in the Bundle moves by the same whole number of days, so intervals (weeks of
gestation, days since delivery, ages) are kept. The anchor is the Bundle's `timestamp`, else its latest date.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

__all__ = ["rebase_dates"]

# A date, optionally with a time and zone, as a whole JSON string value: 2026-01-15, 2026-01-15T09:00:00Z, ...
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})((?:T[0-9:.]+)?(?:Z|[+-]\d{2}:\d{2})?)$")


# Strings that may look like a date but are names, not moments: ids, references, codes, identifiers, free text.
_NOT_DATES = frozenset({"id", "reference", "fullUrl", "url", "system", "code", "value", "display", "text", "div"})


def _dates(value: Any) -> list[date]:
    if isinstance(value, str):
        match = _DATE.match(value)
        return [date.fromisoformat(match.group(1))] if match else []
    if isinstance(value, dict):
        return [found for key, item in value.items() if key not in _NOT_DATES for found in _dates(item)]
    if isinstance(value, list):
        return [found for item in value for found in _dates(item)]
    return []


def _shift(value: Any, days: timedelta) -> Any:
    if isinstance(value, str):
        match = _DATE.match(value)
        return (date.fromisoformat(match.group(1)) + days).isoformat() + match.group(2) if match else value
    if isinstance(value, dict):
        return {key: item if key in _NOT_DATES else _shift(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, days) for item in value]
    return value


def rebase_dates(bundle: dict[str, Any], today: date) -> dict[str, Any]:
    """A copy of `bundle` with every date moved so that its anchor falls on `today`."""
    anchor = _dates(bundle.get("timestamp")) or _dates(bundle)
    if not anchor:
        return bundle
    return dict(_shift(bundle, today - max(anchor)))
