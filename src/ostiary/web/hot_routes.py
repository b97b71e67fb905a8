"""Machine-to-machine endpoints answered without FastAPI's router.

FastAPI (≥ 0.16x) keeps included routers as nested, lazily matched entries, and tries every route
of the app in order (~150 regular expressions) before it reaches `/token`; its request wrapper then
solves dependencies. For the endpoints a client or resource server calls many times a second, that
was over half of each request's time (bench/oauth_bench.py). `HotRoutes` sits between the middleware
onion and FastAPI and hands these exact paths straight to their route functions:

- only routes whose function takes the `Request` alone (no dependencies, no parameters, nothing
  FastAPI must solve or validate) and returns a `Response`; anything else is refused when the app
  is built, so a later change cannot silently lose a dependency;
- the route stays registered with FastAPI, so the policy audit, the discovery document (built from
  what is mounted) and other methods (FastAPI's 405 with `Allow`) see and do exactly what they did;
- `scope["app"]` and `scope["route"]` are set as Starlette's router sets them, so `request.app.state`
  and the metrics' route template work unchanged;
- an exception goes to the app's own handler for its type (`exception_handlers` in web/app.py), else
  up to the error-handling middleware, as it would from inside FastAPI.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ostiary.web.policy_marks import endpoint_routes

Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


@dataclass(frozen=True)
class HotRoute:
    route: Any  # FastAPI's route context: `path_format` for the metrics, as the router records it
    methods: frozenset[str]
    endpoint: Endpoint


def hot_routes(api: FastAPI, paths: Iterable[str]) -> dict[str, HotRoute]:
    """The routes of `api` at `paths` (each must exist), checked to need nothing from FastAPI."""
    wanted = set(paths)
    found: dict[str, HotRoute] = {}
    for route in endpoint_routes(api.routes):
        if route.path not in wanted:
            continue
        dependant = route.dependant
        parameters = list(inspect.signature(route.endpoint).parameters)
        if (
            dependant.dependencies
            or dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or parameters != [dependant.request_param_name]
        ):
            raise ValueError(f"{route.path}: a hot route must take the Request alone, with no dependencies")
        found[route.path] = HotRoute(route, frozenset(route.methods), route.endpoint)
    missing = wanted - found.keys()
    if missing:
        raise ValueError(f"hot routes not mounted: {sorted(missing)}")
    return found


class HotRoutes:
    """ASGI: exact path and method of a hot route → its function; anything else → FastAPI."""

    def __init__(self, api: FastAPI, paths: Iterable[str]) -> None:
        self._api = api
        self._routes = hot_routes(api, paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if hot is None or scope["method"] not in hot.methods:
            await self._api(scope, receive, send)
            return
        scope["app"] = self._api
        scope["route"] = hot.route
        request = Request(scope, receive, send)
        try:
            response = await hot.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The app's handler for the exception's nearest type, as Starlette looks it up; the
        catch-all `Exception` handler of web/app.py only re-raises, so it is skipped here."""
        handlers: dict[Any, ExceptionHandler] = dict(self._api.exception_handlers)
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None
