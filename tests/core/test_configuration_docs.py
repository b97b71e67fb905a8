"""docs/configuration.md lists every setting, with its default, and nothing that is not a setting."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_core import PydanticUndefined

from ostiary.core.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `OSTIARY_([A-Z0-9_]+)` \| (.*?) \|$", re.MULTILINE)
# Defaults computed at start-up, described in words in the table.
DESCRIBED = {"DATABASE_URL", "MAIL_BACKEND", "MAIL_FROM", "TRUSTED_PROXIES", "CORS_ORIGINS"}


def documented() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text(encoding="utf-8")))


def shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    default = field.default
    if default is PydanticUndefined and field.default_factory is not None:
        default = field.default_factory()  # type: ignore[call-arg]
    return "`(unset)`" if default is None else f"`{default}`"


def test_every_setting_is_documented_and_nothing_else() -> None:
    names = {name.upper() for name in Settings.model_fields}
    rows = documented()
    assert sorted(names - rows.keys()) == [], "settings missing from docs/configuration.md"
    assert sorted(rows.keys() - names) == [], "rows in docs/configuration.md that are no setting"


def test_documented_defaults_are_the_real_ones() -> None:
    rows = documented()
    wrong = {
        name: (rows[name.upper()], shown_default(name))
        for name in Settings.model_fields
        if name.upper() in rows
        and name.upper() not in DESCRIBED
        and rows[name.upper()] != shown_default(name)
    }
    assert wrong == {}
