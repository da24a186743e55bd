"""The session's log scan finds what it looks for (it would be worthless if it could not fail)."""

from __future__ import annotations

from fixtures.scenarios import NOW, SCENARIOS
from tests.log_scan import findings


def test_the_scan_finds_phi_tokens_and_jwts_and_nothing_in_clean_lines() -> None:
    patient = SCENARIOS[0].build(NOW).resources[0]
    leaks = [
        f'{{"event": "x", "name": "{patient["name"][0]["family"]}"}}',
        f"identifier={patient['identifier'][0]['value']}",
        f"born {patient['birthDate']}",
        "authorization: Bearer secret-notify-token",
        "token eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwcyJ9.c2lnbmF0dXJl",
    ]
    assert all(findings([line]) for line in leaks)
    assert findings(['{"event": "cds.answered", "topics": ["toh-consider"], "fetched": []}']) == []
