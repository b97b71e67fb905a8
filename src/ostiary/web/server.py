"""The ASGI entry a process server (uvicorn) runs: services are built on lifespan startup, inside the
server's own event loop, and closed on shutdown. A failed start (database unreachable, bad secret
file) is reported through `lifespan.startup.failed` so the server exits with the reason. The purge
of expired records (compose/maintenance.py) runs in the background between the two."""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope, Send

from ostiary.compose.maintenance import Maintenance, build_maintenance
from ostiary.compose.services import Services, build_services
from ostiary.core.settings import Settings
from ostiary.web.app import OstiaryApp, create_app

log = logging.getLogger("ostiary")


class ServerApp:
    def __init__(self, settings: Settings, demo_users: list[dict[str, str]] | None = None) -> None:
        self._settings = settings
        self._demo_users = demo_users
        self._services: Services | None = None
        self._app: OstiaryApp | None = None
        self._maintenance: Maintenance | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._app is None:
            raise RuntimeError("the server did not run the lifespan startup")
        await self._app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._services = await build_services(self._settings, migrate=self._settings.auto_migrate)
                    self._app = create_app(self._services, demo_users=self._demo_users)
                    self._maintenance = build_maintenance(self._services)
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                if self._maintenance is not None:
                    self._maintenance.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._maintenance is not None:
                    await self._maintenance.close()  # before the stores it uses are closed
                if self._services is not None:
                    await self._services.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
