"""Address verification and the account notices over HTTP, read from a real SMTP server: the
verification mail at registration, "someone tried to register with your address" instead of an
enumeration leak (SEC-64), the password-changed notice (SEC-04) and the new-device notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from email_http_support import MailWorld, hidden, mail_world, path_of, token_of

from helpers import OTHER_PASSWORD, PASSWORD, add_user, csrf, login
from ostiary.storage.interfaces.users import UserRecord

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_UPDATED = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture
async def w(tmp_path: Path, database_url: str) -> AsyncIterator[MailWorld]:
    async with mail_world(tmp_path, database_url) as world:
        yield world


async def user(w: MailWorld, login_name: str) -> UserRecord:
    found = await w.h.services.users.find_by_login(login_name)
    assert found is not None
    return found


async def register(w: MailWorld, username: str, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    body = {"username": username, "email": email, "password": password}
    return await w.h.client().post("/auth/register", json=body, headers={"X-Request-ID": "rid-register-0001"})


async def test_registration_mails_a_link_that_verifies_the_address(w: MailWorld) -> None:
    assert (await register(w, "carol", "carol@example.org")).status_code == 202
    mail = await w.last_mail_to("carol@example.org")
    assert mail.subject == "Confirm your email address"
    assert mail.html is not None
    link = mail.link("/email/verify")
    assert link in mail.html
    assert not (await user(w, "carol")).email_verified
    browser = w.h.client()
    page = await browser.get(path_of(link))  # opening the link (or a scanner prefetching it) changes nothing
    assert page.status_code == 200
    assert not (await user(w, "carol")).email_verified
    done = await browser.post(
        "/auth/email/verify", data={"token": token_of(link), "csrf_token": hidden(page, "csrf_token")}
    )
    assert done.status_code == 200
    assert "confirmed" in done.text
    assert (await user(w, "carol")).email_verified
    again = await browser.post("/auth/email/verify", json={"token": token_of(link)})
    assert again.status_code == 400


@pytest.mark.sec("SEC-64")
async def test_registering_a_taken_address_answers_the_same_and_mails_the_owner(w: MailWorld) -> None:
    new = await register(w, "carol", "carol@example.org")
    taken = await register(w, "mallory", "Carol@Example.org", OTHER_PASSWORD)
    assert new.status_code == taken.status_code == 202
    assert new.content == taken.content
    mails = await w.mails_to("carol@example.org", 2)
    assert sorted(m.subject for m in mails) == [
        "Confirm your email address",
        "Someone tried to create an account with your address",
    ]
    notice = next(m for m in mails if m.subject.startswith("Someone"))
    assert "carol" in notice.text
    assert "127.0.0.1" in notice.text
    assert "/password-reset" in notice.text
    assert await w.h.services.users.find_by_login("mallory") is None
    assert len(w.sink.received()) == 2


async def test_a_link_for_an_address_the_account_no_longer_has_is_void(w: MailWorld) -> None:
    await register(w, "carol", "carol@example.org")
    link = (await w.last_mail_to("carol@example.org")).link("/email/verify")
    carol = await user(w, "carol")
    await w.h.services.users.update(carol.id, email="carol@new.example")
    stale = await w.h.http.post("/auth/email/verify", json={"token": token_of(link)})
    assert stale.status_code == 400
    assert not (await user(w, "carol")).email_verified


async def test_a_signed_in_user_can_ask_for_a_new_verification_link(w: MailWorld) -> None:
    await add_user(w.h.services, "dave", email="dave@example.org")
    browser = w.h.client()
    token = await login(browser, "dave")
    assert (await browser.post("/auth/email/verify/resend")).status_code == 403  # CSRF token required
    sent = await browser.post("/auth/email/verify/resend", headers=csrf(token))
    assert sent.status_code == 202
    assert sent.json() == {"status": "sent"}
    link = (await w.last_mail_to("dave@example.org")).link("/email/verify")
    assert (await browser.post("/auth/email/verify", json={"token": token_of(link)})).status_code == 200
    again = await browser.post("/auth/email/verify/resend", headers=csrf(token))
    assert again.json() == {"status": "nothing_to_verify"}
    assert (await w.h.client().post("/auth/email/verify/resend")).status_code == 401


@pytest.mark.sec("SEC-04")
async def test_a_password_change_mails_a_notice(w: MailWorld) -> None:
    await add_user(w.h.services, "erin", email="erin@example.org")
    browser = w.h.client()
    token = await login(browser, "erin")
    changed = await browser.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=csrf(token),
    )
    assert changed.status_code == 200, changed.text
    notice = await w.last_mail_to("erin@example.org")
    assert notice.subject == "Your password was changed"
    assert "erin" in notice.text


async def test_a_login_from_a_new_device_or_network_mails_a_notice(w: MailWorld) -> None:
    await add_user(w.h.services, "frank", email="frank@example.org")

    async def login_from(ip: str, agent: str) -> None:
        await login(w.h.client(client_ip=ip), "frank", PASSWORD, **{"User-Agent": agent})
        await w.settle()

    await login_from("203.0.113.10", FIREFOX)  # the account's first login: the baseline, no mail
    await login_from("203.0.113.10", FIREFOX)
    await login_from("203.0.113.77", FIREFOX_UPDATED)  # same /24, same browser family
    assert w.sink.to("frank@example.org") == []
    await login_from("198.51.100.4", FIREFOX)  # another network
    await login_from("203.0.113.10", CHROME)  # another browser
    mails = w.sink.to("frank@example.org")
    assert [m.subject for m in mails] == ["New sign-in to your account"] * 2
    assert "198.51.100.4" in mails[0].text
    assert "your password" in mails[0].text
    assert "Chrome" in mails[1].text
    await login_from("198.51.100.200", FIREFOX)  # now known
    assert len(w.sink.to("frank@example.org")) == 2


async def test_login_notices_can_be_switched_off(tmp_path: Path, database_url: str) -> None:
    async with mail_world(tmp_path, database_url, login_notices_enabled=False) as w:
        await add_user(w.h.services, "gina", email="gina@example.org")
        await login(w.h.client(client_ip="203.0.113.1"), "gina")
        await login(w.h.client(client_ip="198.51.100.1"), "gina")
        await w.settle()
        assert w.sink.received() == []
