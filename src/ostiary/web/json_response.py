"""`JsonResponse`: Starlette's `JSONResponse`, rendered by orjson — for the machine-to-machine hot paths.

The token endpoint, introspection, revocation, userinfo and `/auth/me` answer JSON on every call.
The standard library's `json.dumps` (Starlette's renderer) took 4–8 µs for a token response or an
introspection answer on the bench machine; orjson takes 0.2–0.5 µs for the same bytes. On these
bodies the output is Starlette's byte for byte: compact separators, UTF-8 left unescaped
(`ensure_ascii=False`), floats (epoch times such as `auth_time`) in their shortest round-trip form.

Where the two differ, the bodies never go: Starlette refuses NaN and infinity (`allow_nan=False`)
where orjson writes `null`, and orjson refuses integers beyond 64 bits and non-string keys. The
routes that use it build their bodies from strings, 64-bit integers, epoch-time floats, booleans,
None, and lists and string-keyed dicts of those.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
