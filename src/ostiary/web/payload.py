"""Reads a JSON or HTML-form body into string fields, with clear 400s for malformed input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ostiary.core.errors import ValidationFailed
from ostiary.oauth2.requests import parse_media_type


@dataclass(frozen=True)
class Payload:
    fields: dict[str, str]
    is_form: bool

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def require(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None or value == "":
            raise ValidationFailed(f"The field '{name}' is required.", field=name, code="missing_field")
        return value


FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower-cased ("" when absent)."""
    return parse_media_type(request.headers.get("content-type", ""))


def is_form(request: Request) -> bool:
    return media_type(request) in FORM_MEDIA_TYPES


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_json")
    return data


async def read_payload(request: Request) -> Payload:
    content_type = media_type(request)
    if content_type == "application/json":
        data = parse_json_object(await request.body())
        fields: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValidationFailed(f"The field '{key}' must be a string.", field=key)
            fields[key] = value
        return Payload(fields, is_form=False)
    if content_type in FORM_MEDIA_TYPES:
        form = await request.form()
        fields = {}
        for key, value in form.multi_items():
            if key in fields:
                raise ValidationFailed(f"The field '{key}' is repeated.", field=key, code="duplicate_field")
            if not isinstance(value, str):
                raise ValidationFailed(f"The field '{key}' must be text.", field=key)
            fields[key] = value
        return Payload(fields, is_form=True)
    raise ValidationFailed(
        "Send the body as application/json or an HTML form.", code="unsupported_media_type"
    )
