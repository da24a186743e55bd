"""The README is the operator's manual: it must name every setting and both set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from service.screening import ScreeningConfig
from service.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `(TOH_[A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    top_level = {f"TOH_{name.upper()}" for name in Settings.model_fields if name != "screening"}
    nested = {f"TOH_SCREENING__{name.upper()}" for name in ScreeningConfig.__dataclass_fields__}
    assert documented == top_level | nested


def test_the_two_commands_are_given() -> None:
    assert "make run" in README and "make test" in README
