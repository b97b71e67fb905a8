"""Fixtures of the second-factor unit tests (builders in mfa_unit_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mfa_unit_support import Mfa, make_mfa


@pytest.fixture
async def mfa(tmp_path: Path) -> AsyncIterator[Mfa]:
    built = await make_mfa(tmp_path)
    try:
        yield built
    finally:
        await built.db.dispose()
