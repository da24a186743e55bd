"""The committed card gallery is what the rules write today, and shows every scenario."""

from __future__ import annotations

from fixtures.gallery import OUT, README, readme_with_rules, render
from fixtures.scenarios import SCENARIOS


def test_the_committed_gallery_is_current() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), "run `python -m fixtures.gallery` to refresh docs/"


def test_the_gallery_shows_every_scenario_and_no_evidence_references() -> None:
    text = OUT.read_text(encoding="utf-8")
    for scenario in SCENARIOS:
        assert f"## {scenario.id}: {scenario.title}" in text
    assert "Condition/" not in text and "{score}" not in text


def test_the_readme_lists_the_rules_of_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    assert text == readme_with_rules(text), "run `python -m fixtures.gallery` to refresh the README's rules"
    assert "| R7 | Deep vein thrombosis or pulmonary embolism | `red-flag-vte` |" in text
