"""RFC 8628 §3.1–3.3, §6.1: device authorization and user-code verification (SEC-37, SEC-40, SEC-69)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.core.errors import Conflict, StoreUnavailable
from ostiary.core.secrets import sha256_hex
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.device import (
    DEVICE_CODE_GRANT_TYPE,
    USER_CODE_ALPHABET,
    ApprovalNotAllowed,
    DeviceAuthorizationEndpoint,
    DeviceVerification,
    ExpiredUserCode,
    UnknownUserCode,
    UsedUserCode,
    canonical_user_code,
    device_code_digest,
    format_user_code,
    new_user_code,
    user_code_digest,
)
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.requests import OAuthRequest
from ostiary.oauth2.scopes import USER_ONLY_SCOPES
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_device import MemoryDeviceCodeStore

from ._support import HASHER, SVC_SECRET, basic, form_request, native_client, service_client

VERIFY_URI = "https://id.example.com/device"
CLI_SCOPES = ("openid", "offline_access", "items:read", "items:write")


@dataclass
class PermissionUsers:
    """GrantUsers over a table of user → permissions; users absent from it are unknown/disabled."""

    permissions: dict[str, set[str]] = field(default_factory=dict)

    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        held = self.permissions.get(user_id)
        if held is None:
            return None
        return tuple(s for s in requested if s in USER_ONLY_SCOPES or s in held)


@pytest.fixture
async def device_clients(clients: MemoryClientStore) -> MemoryClientStore:
    await clients.update(replace(native_client(), grant_types=(DEVICE_CODE_GRANT_TYPE,), scopes=CLI_SCOPES))
    await clients.update(service_client(grant_types=("client_credentials", DEVICE_CODE_GRANT_TYPE)))
    return clients


@pytest.fixture
def device_store(clock: FrozenClock) -> MemoryDeviceCodeStore:
    return MemoryDeviceCodeStore(clock)


@pytest.fixture
def device_endpoint(
    device_clients: MemoryClientStore, device_store: MemoryDeviceCodeStore, clock: FrozenClock
) -> DeviceAuthorizationEndpoint:
    return DeviceAuthorizationEndpoint(
        ClientAuthenticator(device_clients, HASHER), device_store, clock, verification_uri=VERIFY_URI
    )


@pytest.fixture
def users() -> PermissionUsers:
    return PermissionUsers({"u1": {"items:read"}, "u2": set()})


@pytest.fixture
def verification(
    device_store: MemoryDeviceCodeStore, clock: FrozenClock, users: PermissionUsers
) -> DeviceVerification:
    return DeviceVerification(device_store, clock, users)


def cli_request(scope: str | None = "openid items:read", **extra: str) -> OAuthRequest:
    params = {"client_id": "cli", **({"scope": scope} if scope is not None else {}), **extra}
    return form_request(params)


async def authorize(
    endpoint: DeviceAuthorizationEndpoint, scope: str | None = "openid items:read"
) -> TokenResponse:
    resp = await endpoint.handle(cli_request(scope))
    assert resp.status == 200, resp.body
    return resp


# --- codes ------------------------------------------------------------------------------------


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §6.1")
def test_user_codes_are_8_consonants_from_20_shown_in_two_halves() -> None:
    assert len(set(USER_CODE_ALPHABET)) == 20 and not set(USER_CODE_ALPHABET) & set("AEIOUY0123456789")
    codes = [new_user_code() for _ in range(2000)]
    assert all(len(c) == 8 and set(c) <= set(USER_CODE_ALPHABET) for c in codes)
    assert len(set(codes)) == 2000  # 20^8 ≈ 2.6e10: a collision here would mean a broken generator
    assert len({ch for c in codes for ch in c}) == 20  # every letter is used
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", format_user_code(codes[0]))


@pytest.mark.rfc("RFC 8628 §6.1")
@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("BCDF-GHJK", "BCDFGHJK"),
        ("bcdf-ghjk", "BCDFGHJK"),
        (" bcdf ghjk ", "BCDFGHJK"),
        ("BCDFGHJK", "BCDFGHJK"),
        ("BCDF-GHJ", None),  # too short
        ("BCDF-GHJKL", None),  # too long
        ("BCDF-GHJA", None),  # a vowel is never part of a code
        ("BCDF-GHJ1", None),
        ("BCDF_GHJK", None),
        ("", None),
    ],
)
def test_typed_codes_are_canonicalised(typed: str, canonical: str | None) -> None:
    assert canonical_user_code(typed) == canonical


# --- the device authorization endpoint --------------------------------------------------------


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-40")
@pytest.mark.rfc("RFC 8628 §3.2")
async def test_the_response_carries_both_codes_the_uris_and_timing(
    device_endpoint: DeviceAuthorizationEndpoint, device_store: MemoryDeviceCodeStore, clock: FrozenClock
) -> None:
    resp = await authorize(device_endpoint)
    body = resp.body
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert resp.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", body["user_code"])
    assert len(body["device_code"]) >= 43  # 256 bits, base64url
    assert body["verification_uri"] == VERIFY_URI
    assert body["verification_uri_complete"] == f"{VERIFY_URI}?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    record = await device_store.get_by_user_code(sha256_hex(body["user_code"].replace("-", "")))
    assert record is not None and record.status == "pending"
    # Stored by digest only (SEC-37): neither code appears in the record.
    assert record.device_code_digest == device_code_digest(body["device_code"])
    assert body["device_code"] not in repr(record) and body["user_code"].replace("-", "") not in repr(record)
    assert (record.client_id, record.scope, record.interval) == ("cli", ("openid", "items:read"), 5)
    assert record.expires_at == clock.now() + 600 and len(record.grant_id) >= 22


@pytest.mark.sec("SEC-40")
async def test_device_codes_do_not_collide(device_endpoint: DeviceAuthorizationEndpoint) -> None:
    bodies = [(await authorize(device_endpoint)).body for _ in range(300)]
    assert len({b["device_code"] for b in bodies}) == 300
    assert len({b["user_code"] for b in bodies}) == 300


async def test_a_verification_uri_with_a_query_keeps_it(
    device_clients: MemoryClientStore, device_store: MemoryDeviceCodeStore, clock: FrozenClock
) -> None:
    endpoint = DeviceAuthorizationEndpoint(
        ClientAuthenticator(device_clients, HASHER),
        device_store,
        clock,
        verification_uri=VERIFY_URI + "?lang=en",
    )
    body = (await authorize(endpoint)).body
    assert body["verification_uri_complete"] == f"{VERIFY_URI}?lang=en&user_code={body['user_code']}"


@pytest.mark.rfc("RFC 8628 §3.1")
async def test_confidential_clients_authenticate_as_at_the_token_endpoint(
    device_endpoint: DeviceAuthorizationEndpoint,
) -> None:
    ok = await device_endpoint.handle(
        form_request({"scope": "items:read"}, headers={"Authorization": basic("svc", SVC_SECRET)})
    )
    assert ok.status == 200 and ok.body["user_code"]
    bad = await device_endpoint.handle(
        form_request({"scope": "items:read"}, headers={"Authorization": basic("svc", "wrong")})
    )
    assert (bad.status, bad.body["error"]) == (401, "invalid_client")
    assert bad.headers["WWW-Authenticate"].startswith("Basic") and bad.headers["Cache-Control"] == "no-store"
    nobody = await device_endpoint.handle(form_request({"scope": "items:read"}))
    assert nobody.body["error"] == "invalid_client"


@pytest.mark.sec("SEC-32")
@pytest.mark.rfc("RFC 8628 §3.1")
async def test_a_client_without_the_device_grant_is_unauthorized_client(
    device_endpoint: DeviceAuthorizationEndpoint,
    device_clients: MemoryClientStore,
    device_store: MemoryDeviceCodeStore,
) -> None:
    await device_clients.update(replace(native_client(), scopes=CLI_SCOPES))  # authorization_code only
    resp = await device_endpoint.handle(cli_request())
    assert (resp.status, resp.body["error"]) == (400, "unauthorized_client")


@pytest.mark.sec("SEC-34")
@pytest.mark.parametrize(
    ("scope", "granted"),
    [("openid items:read admin:all", ["openid", "items:read"]), (None, list(CLI_SCOPES))],
)
async def test_scope_is_within_the_clients(
    device_endpoint: DeviceAuthorizationEndpoint,
    device_store: MemoryDeviceCodeStore,
    scope: str | None,
    granted: list[str],
) -> None:
    body = (await authorize(device_endpoint, scope)).body
    record = await device_store.get_by_user_code(user_code_digest(body["user_code"].replace("-", "")))
    assert record is not None and list(record.scope) == granted


@pytest.mark.parametrize("scope", ["admin:all", 'bad"scope'])
async def test_no_allowed_or_a_malformed_scope_is_invalid_scope(
    device_endpoint: DeviceAuthorizationEndpoint, scope: str
) -> None:
    assert (await device_endpoint.handle(cli_request(scope))).body["error"] == "invalid_scope"


@pytest.mark.sec("SEC-69")
async def test_repeated_parameters_and_wrong_methods_are_invalid_request(
    device_endpoint: DeviceAuthorizationEndpoint,
) -> None:
    repeated = form_request({"client_id": "cli", "scope": ["openid", "items:read"]})
    get = form_request({"client_id": "cli"}, method="GET")
    json = form_request({"client_id": "cli"}, content_type="application/json")
    for req in (repeated, get, json):
        resp = await device_endpoint.handle(req)
        assert (resp.status, resp.body["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("uri", "lifetime", "interval"),
    [
        ("/device", 600, 5),
        ("ftp://x/device", 600, 5),
        (VERIFY_URI + "#x", 600, 5),
        (VERIFY_URI, 30, 5),
        (VERIFY_URI, 600, 0),
    ],
)
def test_bad_configuration_is_refused(
    device_clients: MemoryClientStore,
    device_store: MemoryDeviceCodeStore,
    clock: FrozenClock,
    uri: str,
    lifetime: int,
    interval: int,
) -> None:
    with pytest.raises(ValueError):
        DeviceAuthorizationEndpoint(
            ClientAuthenticator(device_clients, HASHER),
            device_store,
            clock,
            verification_uri=uri,
            lifetime=lifetime,
            interval=interval,
        )


# --- the verification step -----------------------------------------------------------------


@pytest.mark.rfc("RFC 8628 §3.3")
async def test_lookup_finds_the_pending_request_however_the_code_is_typed(
    device_endpoint: DeviceAuthorizationEndpoint, verification: DeviceVerification
) -> None:
    user_code = (await authorize(device_endpoint)).body["user_code"]
    for typed in (user_code, user_code.lower(), user_code.replace("-", " ")):
        record = await verification.lookup(typed)
        assert record.client_id == "cli" and record.status == "pending"


@pytest.mark.sec("SEC-37")
@pytest.mark.parametrize("typed", ["BCDF-GHJK", "not a code", "AAAA-AAAA", ""])
async def test_unknown_or_malformed_codes_are_unknown(verification: DeviceVerification, typed: str) -> None:
    with pytest.raises(UnknownUserCode):
        await verification.lookup(typed)


@pytest.mark.sec("SEC-37")
async def test_an_expired_code_is_expired(
    device_endpoint: DeviceAuthorizationEndpoint, verification: DeviceVerification, clock: FrozenClock
) -> None:
    user_code = (await authorize(device_endpoint)).body["user_code"]
    clock.advance(600)
    with pytest.raises(ExpiredUserCode):
        await verification.lookup(user_code)
    with pytest.raises(ExpiredUserCode):
        await verification.approve(user_code, "u1", clock.now())


@pytest.mark.sec("SEC-37")
async def test_approval_narrows_to_what_the_user_may_grant(
    device_endpoint: DeviceAuthorizationEndpoint, verification: DeviceVerification, clock: FrozenClock
) -> None:
    user_code = (await authorize(device_endpoint, "openid items:read items:write")).body["user_code"]
    decided = await verification.approve(user_code, "u1", clock.now() - 5, ("pwd", "otp"))
    assert decided.status == "approved" and decided.scope == ("openid", "items:read")
    assert (decided.user_id, decided.auth_time, decided.amr) == ("u1", clock.now() - 5, ("pwd", "otp"))
    with pytest.raises(UsedUserCode):
        await verification.lookup(user_code)


@pytest.mark.sec("SEC-37")
@pytest.mark.parametrize("user_id", ["u2", "disabled-or-unknown"])
async def test_a_user_without_access_cannot_approve(
    device_endpoint: DeviceAuthorizationEndpoint,
    verification: DeviceVerification,
    clock: FrozenClock,
    user_id: str,
) -> None:
    user_code = (await authorize(device_endpoint, "items:read")).body["user_code"]
    with pytest.raises(ApprovalNotAllowed) as refused:
        await verification.approve(user_code, user_id, clock.now())
    assert refused.value.status == 403
    assert (await verification.lookup(user_code)).status == "pending"  # another account may still approve


async def test_deny_marks_the_request_denied(
    device_endpoint: DeviceAuthorizationEndpoint, verification: DeviceVerification, clock: FrozenClock
) -> None:
    user_code = (await authorize(device_endpoint)).body["user_code"]
    decided = await verification.deny(user_code, "u2", clock.now())
    assert decided.status == "denied" and decided.scope == () and decided.user_id == "u2"
    with pytest.raises(UsedUserCode):
        await verification.approve(user_code, "u1", clock.now())


async def test_an_unknown_or_disabled_user_cannot_deny_either(
    device_endpoint: DeviceAuthorizationEndpoint, verification: DeviceVerification, clock: FrozenClock
) -> None:
    user_code = (await authorize(device_endpoint)).body["user_code"]
    with pytest.raises(ApprovalNotAllowed):
        await verification.deny(user_code, "ghost", clock.now())
    assert (await verification.lookup(user_code)).status == "pending"


class YieldingDeviceStore(MemoryDeviceCodeStore):
    """Suspends before each read and decision, as a networked store would, so that concurrent
    decisions all pass their lookup and then meet at `decide`."""

    async def get_by_user_code(self, user_code_digest: str) -> DeviceAuthorization | None:
        await asyncio.sleep(0)
        return await super().get_by_user_code(user_code_digest)

    decide_calls = 0

    async def decide(self, user_code_digest: str, **kwargs: Any) -> DeviceAuthorization | None:
        self.decide_calls += 1
        await asyncio.sleep(0)
        return await super().decide(user_code_digest, **kwargs)


@pytest.mark.sec("SEC-37")
async def test_of_concurrent_decisions_exactly_one_wins(
    device_clients: MemoryClientStore, users: PermissionUsers, clock: FrozenClock
) -> None:
    device_store = YieldingDeviceStore(clock)
    device_endpoint = DeviceAuthorizationEndpoint(
        ClientAuthenticator(device_clients, HASHER), device_store, clock, verification_uri=VERIFY_URI
    )
    verification = DeviceVerification(device_store, clock, users)
    user_code = (await authorize(device_endpoint)).body["user_code"]
    decisions = [verification.approve(user_code, "u1", clock.now()) for _ in range(5)]
    decisions += [verification.deny(user_code, "u2", clock.now()) for _ in range(5)]
    results = await asyncio.gather(*decisions, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert device_store.decide_calls == 10  # every decision got past its lookup: a real race
    assert len(winners) == 1
    assert all(isinstance(r, UsedUserCode) for r in results if isinstance(r, BaseException))
    stored = await device_store.get_by_user_code(user_code_digest(user_code.replace("-", "")))
    assert stored is not None and stored.status == winners[0].status


class CollidingDeviceStore(MemoryDeviceCodeStore):
    """Refuses the first `collisions` saves as a digest collision, then stores normally."""

    def __init__(self, clock: FrozenClock, collisions: int) -> None:
        super().__init__(clock)
        self.collisions = collisions

    async def save(self, record: DeviceAuthorization) -> None:
        if self.collisions > 0:
            self.collisions -= 1
            raise Conflict("device or user code digest collision")
        await super().save(record)


class UnreachableDeviceStore(MemoryDeviceCodeStore):
    async def save(self, record: DeviceAuthorization) -> None:
        raise StoreUnavailable()


@pytest.mark.parametrize(("collisions", "status"), [(2, 200), (3, 500)])
async def test_a_user_code_collision_is_retried_with_fresh_codes(
    device_clients: MemoryClientStore, clock: FrozenClock, collisions: int, status: int
) -> None:
    store = CollidingDeviceStore(clock, collisions)
    endpoint = DeviceAuthorizationEndpoint(
        ClientAuthenticator(device_clients, HASHER), store, clock, verification_uri=VERIFY_URI
    )
    resp = await endpoint.handle(cli_request())
    assert resp.status == status and store.collisions == 0
    if status == 500:
        assert resp.body["error"] == "server_error" and resp.headers["Cache-Control"] == "no-store"


async def test_an_unreachable_store_is_temporarily_unavailable(
    device_clients: MemoryClientStore, clock: FrozenClock
) -> None:
    endpoint = DeviceAuthorizationEndpoint(
        ClientAuthenticator(device_clients, HASHER),
        UnreachableDeviceStore(clock),
        clock,
        verification_uri=VERIFY_URI,
    )
    resp = await endpoint.handle(cli_request())
    assert (resp.status, resp.body["error"]) == (503, "temporarily_unavailable")
    assert resp.headers["Retry-After"] == "5"
