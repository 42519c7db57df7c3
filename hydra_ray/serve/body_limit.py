"""``limits.max_body_bytes`` for every request body, however it is sent (an ASGI middleware).

A body whose ``Content-Length`` is over the limit is refused before any of it is read. A body without
one (``Transfer-Encoding: chunked``) is read as it arrives and refused as soon as the bytes read pass
the limit, so a 20 MB chunked body is never held, let alone parsed. Both answers are 413
``body_too_large``; a body within the limit is handed on to the app unchanged.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.responses import JSONResponse

from hydra_ray.serve.views import ApiError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def too_large(limit: int, size: int, complete: bool) -> JSONResponse:
    said = f"is {size:,} bytes" if complete else f"passed {limit:,} bytes (refused after {size:,} read)"
    error = ApiError(413, "body_too_large", f"request body {said}; the limit is {limit:,} bytes "
                     "(limits.max_body_bytes of the serve preset)")
    # The rest of the body is left unread: the connection cannot carry another request.
    return JSONResponse(error.body(), status_code=413, headers={"Connection": "close"})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read here, as one message; then the client's own channel (a disconnect, for streams)."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


class BodyLimit:
    """Reads ``scope["app"].state.max_body_bytes`` per request (set by the ingress from its config)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app_state = getattr(scope.get("app"), "state", None)
        limit = getattr(app_state, "max_body_bytes", None) if scope["type"] == "http" else None
        if not limit:
            return await self.app(scope, receive, send)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            return await too_large(limit, declared, True)(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":   # the client went away: nobody to answer
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await too_large(limit, size, False)(scope, receive, send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)
