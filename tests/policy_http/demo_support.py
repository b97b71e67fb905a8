"""Names shared by the policy HTTP tests (fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from helpers import Harness
from ostiary.compose.realm import demo_users

DEMO_PASSWORDS = {u["username"]: u["password"] for u in demo_users()}
LoggedIn = tuple[httpx.AsyncClient, str]
AsUser = Callable[[str], Awaitable[LoggedIn]]


async def user_id(harness: Harness, username: str) -> str:
    user = await harness.services.users.find_by_login(username)
    assert user is not None
    return user.id
