"""OpenID Connect RP-Initiated Logout 1.0 §2–3: validating end_session requests (SEC-46, SEC-69)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from oauth2._support import form_request, web_client
from oauth_world import ISSUER, World, build_world
from ostiary.core.clock import FrozenClock
from ostiary.oauth2.errors import InvalidRequest
from ostiary.oauth2.requests import OAuthRequest
from ostiary.oidc.id_tokens import IdTokenSigner
from ostiary.oidc.logout import LogoutValidator

NOW = 1_800_000_000.0
AFTER = "https://app.example.com/logged-out"
AFTER_WITH_QUERY = "https://app.example.com/bye?from=op"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    clients = [
        web_client(post_logout_redirect_uris=(AFTER, AFTER_WITH_QUERY)),
        web_client(client_id="other-app", post_logout_redirect_uris=("https://other.example.com/bye",)),
        web_client(client_id="off-app", disabled=True),
    ]
    return await build_world(clock, clients)


@pytest.fixture
def validator(world: World) -> LogoutValidator:
    return LogoutValidator(ISSUER, lambda: world.keys.ring().verification_keys(), world.clients, world.clock)


async def hint(world: World, client_id: str = "web-app", subject: str = "u1", **kwargs: Any) -> str:
    client = await world.clients.get(client_id)
    assert client is not None
    return world.id_tokens.sign(client=client, subject=subject, lifetime=600, sid="sess-1", **kwargs)


def get(**params: str) -> OAuthRequest:
    return OAuthRequest(method="GET", query={k: [v] for k, v in params.items()})


async def refused(validator: LogoutValidator, request: OAuthRequest, session: str | None = "u1") -> str:
    with pytest.raises(InvalidRequest) as caught:
        await validator.validate(request, session_user_id=session)
    return caught.value.message


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2, §3")
async def test_a_valid_hint_and_registered_uri_log_out_and_redirect_with_state(
    world: World, validator: LogoutValidator
) -> None:
    token = await hint(world)
    result = await validator.validate(
        get(id_token_hint=token, post_logout_redirect_uri=AFTER, state="s&1 x"), session_user_id="u1"
    )
    assert result.requires_confirmation is False
    assert result.client is not None and result.client.client_id == "web-app"
    assert (result.subject, result.sid) == ("u1", "sess-1")
    assert result.redirect_to == AFTER + "?state=s%261+x"
    assert parse_qs(urlsplit(result.redirect_to).query) == {"state": ["s&1 x"]}


@pytest.mark.rfc("OIDC RP-Initiated Logout §3")
async def test_state_is_appended_to_a_registered_query(world: World, validator: LogoutValidator) -> None:
    result = await validator.validate(
        get(id_token_hint=await hint(world), post_logout_redirect_uri=AFTER_WITH_QUERY, state="abc"),
        session_user_id="u1",
    )
    assert result.redirect_to == AFTER_WITH_QUERY + "&state=abc"
    no_state = await validator.validate(
        get(id_token_hint=await hint(world), post_logout_redirect_uri=AFTER), session_user_id="u1"
    )
    assert no_state.redirect_to == AFTER


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2")
async def test_an_expired_hint_is_still_accepted(
    world: World, validator: LogoutValidator, clock: FrozenClock
) -> None:
    token = await hint(world)
    clock.advance(30 * 86400)
    result = await validator.validate(get(id_token_hint=token), session_user_id="u1")
    assert result.requires_confirmation is False


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2")
async def test_forged_or_foreign_hints_are_errors(world: World, validator: LogoutValidator) -> None:
    good = await hint(world)
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "another key, same kid": jwt.encode(claims, stranger, algorithm="RS256", headers=header),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]}),
        "tampered payload": good.split(".")[0]
        + "."
        + jwt.utils.base64url_encode(b'{"iss":"%s","sub":"admin","aud":"web-app"}' % ISSUER.encode()).decode()
        + "."
        + good.split(".")[2],
        "another issuer": IdTokenSigner("https://evil.example", world.keys.ring, world.clock).sign(
            client=web_client(), subject="u1", lifetime=60
        ),
        "an access token": (await world.access_tokens.issue("u1", "web-app", "web-app", "openid")).token,
        "garbage": "abc.def.ghi",
    }
    for name, token in forged.items():
        message = await refused(validator, get(id_token_hint=token))
        assert "id_token_hint" in message, name


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2")
async def test_a_hint_for_another_client_is_an_error(world: World, validator: LogoutValidator) -> None:
    token = await hint(world, "other-app")
    message = await refused(validator, get(id_token_hint=token, client_id="web-app"))
    assert "another client" in message
    # The hint's own client is fine, and names the client when client_id is not sent.
    result = await validator.validate(get(id_token_hint=token), session_user_id="u1")
    assert result.client is not None and result.client.client_id == "other-app"


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §3")
@pytest.mark.parametrize(
    "uri",
    [
        AFTER + "?x=1",
        AFTER + "/",
        AFTER + "#f",
        "https://app.example.com/logged-out2",
        "https://APP.example.com/logged-out",
        "http://app.example.com/logged-out",
        "https://app.example.com/bye",  # the registered one has a query
        "https://other.example.com/bye",  # registered, but for another client
        "https://evil.example/",
    ],
)
async def test_post_logout_redirect_uri_must_match_exactly(
    world: World, validator: LogoutValidator, uri: str
) -> None:
    token = await hint(world)
    message = await refused(validator, get(id_token_hint=token, post_logout_redirect_uri=uri, state="s"))
    assert "not registered" in message
    message = await refused(validator, get(client_id="web-app", post_logout_redirect_uri=uri))
    assert "not registered" in message


@pytest.mark.sec("SEC-46")
async def test_a_redirect_needs_an_identified_client(validator: LogoutValidator) -> None:
    message = await refused(validator, get(post_logout_redirect_uri=AFTER))
    assert "client_id" in message


@pytest.mark.sec("SEC-46")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2")
async def test_without_a_valid_hint_a_signed_in_user_must_confirm(validator: LogoutValidator) -> None:
    bare = await validator.validate(get(), session_user_id="u1")
    assert bare.requires_confirmation is True and bare.redirect_to is None
    with_client = await validator.validate(
        get(client_id="web-app", post_logout_redirect_uri=AFTER, state="s"), session_user_id="u1"
    )
    assert with_client.requires_confirmation is True
    assert with_client.redirect_to == AFTER + "?state=s"


@pytest.mark.sec("SEC-46")
async def test_a_hint_for_another_user_than_the_session_must_be_confirmed(
    world: World, validator: LogoutValidator
) -> None:
    result = await validator.validate(
        get(id_token_hint=await hint(world, subject="u2")), session_user_id="u1"
    )
    assert result.requires_confirmation is True


async def test_without_a_session_there_is_nothing_to_confirm(validator: LogoutValidator) -> None:
    result = await validator.validate(
        get(client_id="web-app", post_logout_redirect_uri=AFTER), session_user_id=None
    )
    assert result.requires_confirmation is False and result.redirect_to == AFTER


async def test_state_is_not_kept_without_a_redirect(world: World, validator: LogoutValidator) -> None:
    result = await validator.validate(get(id_token_hint=await hint(world), state="s"), session_user_id="u1")
    assert result.state is None and result.redirect_to is None


@pytest.mark.parametrize("client_id", ["nobody", "off-app"])
async def test_unknown_or_disabled_clients_are_errors(validator: LogoutValidator, client_id: str) -> None:
    await refused(validator, get(client_id=client_id))


@pytest.mark.sec("SEC-69")
@pytest.mark.rfc("OIDC RP-Initiated Logout §2")
async def test_repeated_or_doubly_sent_parameters_are_refused(
    world: World, validator: LogoutValidator
) -> None:
    token = await hint(world)
    repeated = OAuthRequest(
        method="GET", query={"post_logout_redirect_uri": [AFTER, "https://evil.example/"]}
    )
    both = form_request({"id_token_hint": token}, query={"id_token_hint": token})
    for request in (repeated, both):
        await refused(validator, request)


async def test_post_reads_the_form(world: World, validator: LogoutValidator) -> None:
    request = form_request({"id_token_hint": await hint(world), "post_logout_redirect_uri": AFTER})
    result = await validator.validate(request, session_user_id="u1")
    assert result.redirect_to == AFTER and not result.requires_confirmation
    await refused(validator, form_request({"client_id": "web-app"}, content_type="application/json"))
    await refused(validator, OAuthRequest(method="PUT"))
