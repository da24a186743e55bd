"""The synthetic population: the same for the same seed, mostly not obstetric, every chart scenario present once
there are enough obstetric patients, and written as Bundles or NDJSON that hold every resource once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fixtures.population import CHART_SCENARIOS, OBSTETRIC_SHARE, population, write_bundles, write_ndjson

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_seed_gives_the_same_population_and_another_seed_another() -> None:
    first = [(m.patient_id, m.kind, m.resources) for m in population(200, seed=3, now=NOW)]
    assert first == [(m.patient_id, m.kind, m.resources) for m in population(200, seed=3, now=NOW)]
    assert [m.kind for m in population(200, seed=4, now=NOW)] != [kind for _, kind, _ in first]


def test_shares_and_scenarios() -> None:
    members = list(population(2000, seed=1, now=NOW))
    obstetric = [m for m in members if m.kind != "general"]
    assert abs(len(obstetric) / len(members) - OBSTETRIC_SHARE) < 0.03
    assert {m.kind for m in obstetric} == {s.id for s in CHART_SCENARIOS}  # each scenario type appears
    assert 0 < sum(m.positive for m in members) < len(obstetric)  # some with a TOH card, most without
    assert not any(m.positive for m in members if m.kind == "general")
    for member in members[:50]:  # every resource is the member's own
        assert member.resources[0] == {**member.resources[0], "resourceType": "Patient", "id": member.patient_id}
        assert all(member.patient_id in json.dumps(r) for r in member.resources)


def test_bundles_and_ndjson_hold_every_resource_once(tmp_path: Path) -> None:
    members = list(population(120, seed=5, now=NOW))
    expected = sorted(f"{r['resourceType']}/{r['id']}" for m in members for r in m.resources)
    bundles = write_bundles(iter(members), tmp_path / "bundles", per_bundle=100)
    in_bundles = [e["request"]["url"] for path in bundles for e in json.loads(path.read_text())["entry"]]
    assert sorted(in_bundles) == expected and len(bundles) > 1
    files = write_ndjson(iter(members), tmp_path / "ndjson")
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    assert sorted(f"{r['resourceType']}/{r['id']}" for r in lines) == expected
    assert all(path.name == f"{path.stem}.ndjson" and path.stem[0].isupper() for path in files)
