"""Optional HTTP Basic authentication for the REST server, with ksqlDB's 401/403 bodies.

Owns: :class:`BasicAuthConfig` (users with passwords and roles, the allowed roles — ksqlDB's
``authentication.roles``, ``*`` = any — and the paths that skip the check, ksqlDB's
``authentication.skip.paths``; ``/chc/*`` is always open) and :class:`BasicAuthMiddleware`, a pure
ASGI middleware (so streaming responses are not buffered). A missing or wrong ``Authorization``
header gives 401 ``{"@type":"generic_error","error_code":40100,"message":"Unauthorized"}`` with
``WWW-Authenticate: Basic realm=...``; a valid user without an allowed role gives 403 ``Forbidden``
(40300). Passwords are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BasicAuthConfig", "BasicAuthMiddleware"]

logger = logging.getLogger(__name__)

#: Paths ksqlDB never authenticates (its liveness/readiness probes).
_ALWAYS_OPEN_PREFIX = "/chc/"


@dataclass(frozen=True)
class BasicAuthConfig:
    """``users`` maps a user name to its password; ``roles`` maps a user to its roles."""

    users: Mapping[str, str]
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allowed_roles: frozenset[str] = frozenset({"*"})
    realm: str = "KsqlServer"
    skip_paths: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show passwords
        users, roles = sorted(self.users), sorted(self.allowed_roles)
        return f"BasicAuthConfig(users={users}, allowed_roles={roles})"


class BasicAuthMiddleware:
    def __init__(self, app: ASGIApp, *, config: BasicAuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(_ALWAYS_OPEN_PREFIX) or path in self.config.skip_paths:
            await self.app(scope, receive, send)
            return
        user = self._user(scope)
        if user is None:
            await _reply(send, 401, 40100, "Unauthorized", realm=self.config.realm)
            return
        allowed = self.config.allowed_roles
        if "*" not in allowed and not (self.config.roles.get(user, frozenset()) & allowed):
            await _reply(send, 403, 40300, "Forbidden")
            return
        await self.app(scope, receive, send)

    def _user(self, scope: Scope) -> str | None:
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if header is None or not header[:6].lower() == "basic ":
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:
            return None
        expected = self.config.users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user


async def _reply(send: Send, status: int, code: int, message: str, *, realm: str = "") -> None:
    body = msgspec.json.encode({"@type": "generic_error", "error_code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if realm:
        headers.append((b"www-authenticate", f'Basic realm="{realm}"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
