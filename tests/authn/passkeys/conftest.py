"""Fixtures of the passkey unit tests (builders in passkey_unit_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from passkey_unit_support import Passkeys, make_passkeys


@pytest.fixture
async def pk(tmp_path: Path) -> AsyncIterator[Passkeys]:
    built = await make_passkeys(tmp_path)
    try:
        yield built
    finally:
        await built.db.dispose()
