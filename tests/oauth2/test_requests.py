"""RFC 6749 §3.1 / §3.2: parameter parsing, repeated parameters, the token endpoint's body (SEC-69)."""

from __future__ import annotations

import pytest

from ostiary.oauth2.errors import InvalidRequest
from ostiary.oauth2.requests import (
    OAuthRequest,
    authorization_request_params,
    parse_params,
    reject_repeated,
    required,
    single,
    token_request_params,
)

from ._support import form_request


def test_parse_keeps_every_value_and_blank_ones() -> None:
    assert parse_params("a=1&a=2&b=&c=x%20y") == {"a": ["1", "2"], "b": [""], "c": ["x y"]}
    assert parse_params(b"scope=a+b") == {"scope": ["a b"]}


def test_parse_bounds_the_number_of_fields() -> None:
    with pytest.raises(InvalidRequest):
        parse_params("&".join(f"p{i}=1" for i in range(500)))


@pytest.mark.rfc("RFC 6749 §3.1")
def test_single_treats_empty_as_omitted() -> None:
    assert single({"state": [""]}, "state") is None
    assert single({}, "state") is None
    with pytest.raises(InvalidRequest):
        required({"code": [""]}, "code")


@pytest.mark.sec("SEC-69")
@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "scope", "code"])
def test_single_refuses_a_repeated_parameter(name: str) -> None:
    with pytest.raises(InvalidRequest, match="repeated"):
        single({name: ["a", "b"]}, name)
    with pytest.raises(InvalidRequest, match="repeated"):
        single({name: ["a", ""]}, name)  # a blank twin is still a twin
    with pytest.raises(InvalidRequest):
        reject_repeated({name: ["a", "a"]})


def test_resource_may_repeat() -> None:
    reject_repeated({"resource": ["https://a", "https://b"]})


@pytest.mark.sec("SEC-69")
@pytest.mark.rfc("RFC 6749 §3.2")
@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain", ""]
)
def test_token_endpoint_refuses_non_form_bodies(content_type: str) -> None:
    with pytest.raises(InvalidRequest):
        token_request_params(form_request({"grant_type": "x"}, content_type=content_type))


def test_token_endpoint_accepts_a_charset_parameter() -> None:
    req = form_request({"grant_type": "x"}, content_type="Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert token_request_params(req) == {"grant_type": ["x"]}


@pytest.mark.sec("SEC-69")
def test_token_endpoint_refuses_query_and_body_copies_and_repeats() -> None:
    with pytest.raises(InvalidRequest, match="both"):
        token_request_params(form_request({"code": "a"}, query={"code": "b"}))
    with pytest.raises(InvalidRequest, match="repeated"):
        token_request_params(form_request({"code": ["a", "b"]}))
    with pytest.raises(InvalidRequest):
        token_request_params(form_request({"code": "a"}, method="GET"))


@pytest.mark.sec("SEC-69")
def test_authorization_params_by_method() -> None:
    get = OAuthRequest(method="GET", query={"client_id": ["a"]})
    assert authorization_request_params(get) == {"client_id": ["a"]}
    post = form_request({"client_id": "a"}, query={"client_id": "b"})
    with pytest.raises(InvalidRequest):
        authorization_request_params(post)
    assert authorization_request_params(form_request({"client_id": "a"})) == {"client_id": ["a"]}
