"""Where a browser goes after signing in (SEC-70): `next` is followed only when it is a same-origin
relative path; every other shape falls back to the default page, in the login page's form, after a
form login, and after a JSON login's answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, Harness, add_user, make_app
from ostiary.web.redirects import DEFAULT_AFTER_LOGIN, safe_next

# The checklist's list, and the same tricks percent-encoded or with a backslash or a control byte.
HOSTILE = [
    "//evil.com",
    "/\\evil.com",
    "https:evil.com",
    "https://evil.com",
    "javascript:alert(1)",
    "%2F%2Fevil.com",
    "/%2F%2Fevil.com",
    "/%5Cevil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "/%09/evil.com",
    "evil.com",
    "data:text/html,<script>alert(1)</script>",
    "/" + "a" * 2001,
]
SAFE = ["/", "/account/profile", "/authorize/continue?request=abc", "/device?user_code=ABCD-EFGH"]


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        await add_user(harness.services, "alice")
        yield harness


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


@pytest.mark.sec("SEC-70")
@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_fall_back_to_the_default_page(target: str) -> None:
    assert safe_next(target) == DEFAULT_AFTER_LOGIN


@pytest.mark.sec("SEC-70")
@pytest.mark.parametrize("target", SAFE)
def test_same_origin_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.sec("SEC-70")
@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "%2F%2Fevil.com"])
async def test_a_form_login_never_redirects_off_site(h: Harness, target: str) -> None:
    browser = h.client()
    page = await browser.get("/login", params={"next": target})
    assert hidden(page, "next") == DEFAULT_AFTER_LOGIN  # the page does not even carry it
    answer = await browser.post(
        "/auth/login",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "next": target,  # posted directly, as an attacker's own form would
            "username": "alice",
            "password": PASSWORD,
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == DEFAULT_AFTER_LOGIN


@pytest.mark.sec("SEC-70")
async def test_a_form_login_follows_a_same_origin_next(h: Harness) -> None:
    browser = h.client()
    page = await browser.get("/login", params={"next": "/account/profile"})
    assert hidden(page, "next") == "/account/profile"
    answer = await browser.post(
        "/auth/login",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "next": hidden(page, "next"),
            "username": "alice",
            "password": PASSWORD,
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/profile"
