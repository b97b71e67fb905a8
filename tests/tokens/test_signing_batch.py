"""`SigningBatch` (tokens/signing_batch.py): the signatures asked for in one event-loop step are made
back to back at its end, each by PyJWS, each answered to its own caller."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ostiary.tokens.signing_batch import SigningBatch

KEY = ec.generate_private_key(ec.SECP256R1())
HEADERS = {"typ": "at+jwt", "kid": "k1"}


def verified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, KEY.public_key(), algorithms=["ES256"])
    return claims


async def test_a_token_is_pyjws_compact_serialisation_with_the_headers_given() -> None:
    token = await SigningBatch().encode(b'{"sub":"u1"}', KEY, "ES256", HEADERS)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", **HEADERS}
    assert verified(token) == {"sub": "u1"}


async def test_concurrent_requests_are_signed_back_to_back_before_any_resumes() -> None:
    events: list[str] = []

    def recording_encode(payload: bytes, key: Any, **kwargs: Any) -> str:
        events.append("sign")
        return jwt.api_jws.encode(payload, key, **kwargs)

    batch = SigningBatch(recording_encode)

    async def request(number: int) -> dict[str, Any]:
        token = await batch.encode(b'{"n":%d}' % number, KEY, "ES256", HEADERS)
        events.append("resume")
        return verified(token)

    answers = await asyncio.gather(*(request(n) for n in range(6)))
    assert answers == [{"n": n} for n in range(6)]  # each caller gets its own token
    # Signed one per request inline, the order would alternate; batched, every signature comes first.
    assert events == ["sign"] * 6 + ["resume"] * 6


async def test_requests_in_later_steps_make_later_batches() -> None:
    batch = SigningBatch()
    first = await batch.encode(b'{"n":1}', KEY, "ES256", HEADERS)
    second = await batch.encode(b'{"n":2}', KEY, "ES256", HEADERS)
    assert (verified(first), verified(second)) == ({"n": 1}, {"n": 2})


async def test_a_failing_signature_fails_its_own_request_only() -> None:
    batch = SigningBatch()
    results = await asyncio.gather(
        batch.encode(b'{"n":1}', KEY, "ES256", HEADERS),
        batch.encode(b'{"n":2}', KEY, "HS256", HEADERS),  # an EC key is no HMAC secret: PyJWT refuses
        batch.encode(b'{"n":3}', KEY, "ES256", HEADERS),
        return_exceptions=True,
    )
    assert verified(str(results[0])) == {"n": 1}
    assert isinstance(results[1], jwt.exceptions.PyJWTError | TypeError | ValueError)
    assert verified(str(results[2])) == {"n": 3}


async def test_a_cancelled_request_is_skipped_and_the_others_are_signed() -> None:
    signed: list[bytes] = []

    def recording_encode(payload: bytes, key: Any, **kwargs: Any) -> str:
        signed.append(payload)
        return jwt.api_jws.encode(payload, key, **kwargs)

    batch = SigningBatch(recording_encode)
    doomed = asyncio.ensure_future(batch.encode(b'{"n":1}', KEY, "ES256", HEADERS))
    kept = asyncio.ensure_future(batch.encode(b'{"n":2}', KEY, "ES256", HEADERS))
    await asyncio.sleep(0)  # both are queued; the flush is scheduled after them
    doomed.cancel()
    assert verified(await kept) == {"n": 2}
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert signed == [b'{"n":2}']


def test_one_batch_serves_several_event_loops() -> None:
    batch = SigningBatch()
    tokens = [asyncio.run(batch.encode(b'{"run":%d}' % run, KEY, "ES256", HEADERS)) for run in range(3)]
    assert [verified(t) for t in tokens] == [{"run": 0}, {"run": 1}, {"run": 2}]


def test_the_queue_of_a_loop_closed_before_its_flush_is_dropped() -> None:
    # A loop torn down between a job and its flush (the flush never runs) leaves its queue behind;
    # the next batch to start drops it. Arranged on the private queue: no public call can strand one.
    batch = SigningBatch()
    dead = asyncio.new_event_loop()
    dead.close()
    batch._queued[dead] = []
    token = asyncio.run(batch.encode(b'{"n":2}', KEY, "ES256", HEADERS))
    assert verified(token) == {"n": 2}
    assert dead not in batch._queued
