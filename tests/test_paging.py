"""One page reader for both transports of the record fetcher, calm about malformed Bundles."""

from __future__ import annotations

from typing import Any

import pytest

from service.fhir.paging import entries, next_link


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ({"link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}]}, "b"),
        ({"link": [{"relation": "self", "url": "a"}]}, None),
        ({}, None),
        ({"link": None}, None),
        ({"link": "next"}, None),
        ({"link": [{"relation": "next"}, {"relation": "next", "url": 7}, "junk"]}, None),
    ],
)
def test_next_link(bundle: dict[str, Any], expected: str | None) -> None:
    assert next_link(bundle) == expected


def test_entries_keep_resources_only() -> None:
    observation = {"resourceType": "Observation", "id": "o"}
    warning = {"resourceType": "OperationOutcome", "issue": []}
    page = {"entry": [{"resource": observation}, {"resource": warning}, {"fullUrl": "x"}, "junk", {"resource": "x"}]}
    assert entries(page) == [observation]
    assert entries({"entry": "junk"}) == entries({}) == []
