"""`toh-cds load --rebase-dates`: every date of a Bundle moves by the same days, so its story happens today."""

from __future__ import annotations

from datetime import date

from service.fhir.rebase import rebase_dates


def test_dates_move_with_the_timestamp_and_nothing_else_changes() -> None:
    bundle = {
        "resourceType": "Bundle",
        "timestamp": "2026-01-15T09:00:00Z",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "2026-01-01", "birthDate": "1990-03-01"}},
            {"resource": {"resourceType": "Observation", "effectiveDateTime": "2026-01-14T08:30:00.5+02:00",
                          "valueQuantity": {"value": 4}, "note": [{"text": "seen 2026-01-14 in clinic"}]}},
        ],
    }  # fmt: skip
    moved = rebase_dates(bundle, date(2026, 12, 2))
    assert moved["timestamp"] == "2026-12-02T09:00:00Z"
    patient, observation = (entry["resource"] for entry in moved["entry"])
    assert patient["birthDate"] == "1991-01-16"  # 321 days later, as every other date
    assert patient["id"] == "2026-01-01"  # an id is a name, not a moment
    assert observation["effectiveDateTime"] == "2026-12-01T08:30:00.5+02:00"
    assert observation["note"][0]["text"] == "seen 2026-01-14 in clinic"  # free text is not a date
    assert observation["valueQuantity"] == {"value": 4}
    assert bundle["timestamp"] == "2026-01-15T09:00:00Z"  # a copy: the input is untouched


def test_without_a_timestamp_the_latest_date_is_today() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"a": "2026-01-10", "b": "2026-01-12"}}]}
    assert rebase_dates(bundle, date(2026, 2, 1))["entry"][0]["resource"] == {"a": "2026-01-30", "b": "2026-02-01"}
    assert rebase_dates({"resourceType": "Bundle"}, date(2026, 2, 1)) == {"resourceType": "Bundle"}
