"""RFC 6749 §4.1.3–4.1.4: the authorization code grant, with RFC 7636 §4.6 PKCE verification.

Order matters. Cheap syntax checks come first so a malformed request does not burn the code. Then
the code is consumed atomically — before anything is minted — so two concurrent redemptions cannot
both succeed (SEC-75; the weakness DESIGN.md notes in Authlib). A code that was already consumed is
a replay: refuse it and revoke every token of its grant (RFC 6749 §4.1.2, SEC-29). A consumed code
that then fails a binding check (expiry, client, redirect URI, PKCE) stays consumed: it was either
stolen or is being misused, and the legitimate client simply starts again.
"""

from __future__ import annotations

import logging

from ostiary.core.clock import Clock
from ostiary.oauth2.codes import code_digest
from ostiary.oauth2.errors import InvalidGrant
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import GrantContext, GrantRevoker, TokenMinter, TokenSet
from ostiary.oauth2.pkce import check_verifier_shape, verify_code_verifier
from ostiary.oauth2.requests import required, single
from ostiary.storage.interfaces.oauth_codes import AuthorizationCodeRecord, AuthorizationCodeStore

log = logging.getLogger("ostiary.oauth2")


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    def __init__(
        self, codes: AuthorizationCodeStore, minter: TokenMinter, revoker: GrantRevoker, clock: Clock
    ) -> None:
        self._codes = codes
        self._minter = minter
        self._revoker = revoker
        self._clock = clock

    async def handle(self, request: TokenRequest) -> TokenSet:
        code = required(request.params, "code")
        redirect_uri = single(request.params, "redirect_uri")
        verifier = single(request.params, "code_verifier")
        if verifier is not None:
            check_verifier_shape(verifier)  # invalid_request, and the code is not burned
        digest = code_digest(code)
        record = await self._codes.consume(digest)
        if record is None:
            await self._on_unknown_or_replayed(digest)
            raise InvalidGrant("The authorization code is invalid, expired or already used.")
        self._check_binding(record, request, redirect_uri)
        verify_code_verifier(verifier, record.code_challenge, record.code_challenge_method)
        return await self._minter.mint(
            GrantContext(
                client=request.client,
                grant_type=self.grant_type,
                grant_id=record.grant_id,
                subject=record.user_id,
                scope=record.scope,
                user_id=record.user_id,
                auth_time=record.auth_time,
                amr=record.amr,
                acr=record.acr,
                nonce=record.nonce,
                sid=record.sid,
                refresh_token_allowed="refresh_token" in request.client.grant_types,
                authorized_at=record.issued_at,  # a password change since then voids the code
            )
        )

    async def _on_unknown_or_replayed(self, digest: str) -> None:
        grant_id = await self._codes.get_redeemed(digest)
        if grant_id is not None:
            log.warning("authorization code replayed; revoking its grant", extra={"grant_id": grant_id})
            await self._revoker.revoke_grant(grant_id)

    def _check_binding(
        self, record: AuthorizationCodeRecord, request: TokenRequest, redirect_uri: str | None
    ) -> None:
        if self._clock.now() >= record.expires_at:
            raise InvalidGrant("The authorization code has expired.")  # SEC-30
        if record.client_id != request.client.client_id:
            raise InvalidGrant("The authorization code was issued to another client.")  # SEC-30
        # §4.1.3: required and identical if the authorization request had it; if it did not,
        # a value sent anyway must still be the one the code was delivered to.
        if redirect_uri is None:
            if record.redirect_uri_provided:
                raise InvalidGrant("redirect_uri is required for this code.")
        elif redirect_uri != record.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request.")
