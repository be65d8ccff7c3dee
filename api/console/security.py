"""Security headers on every response: a strict Content-Security-Policy, no MIME sniffing, no
framing, no referrer.

The console's pages load scripts and styles only from this origin (no inline script or style
attribute, no eval): a site id or a reason that contains `<script>` can never run, even if a
template forgot to escape it. The OpenAPI pages (`/docs`, `/redoc`) are FastAPI's own and load
Swagger UI from a CDN with an inline script, so they keep only `frame-ancestors 'none'`.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
FRAMING_ONLY_POLICY = "frame-ancestors 'none'"


class SecurityHeaders:
    """Pure ASGI middleware (no buffering of bodies, streaming responses stay streams)."""

    def __init__(self, app: ASGIApp, relaxed_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.relaxed_paths = frozenset(p for p in relaxed_paths if p)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = FRAMING_ONLY_POLICY if scope["path"] in self.relaxed_paths else CONSOLE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
