"""Who is calling: the session behind a cookie, a bearer token or an access token."""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request

from edgenode.services import Services, Session, Unauthorized

__all__ = ["token_from", "require_session", "session_or_none"]


def token_from(request: HTTPConnection) -> tuple[str, bool]:
    """The token and whether it came from the cookie (Mattermost's order: cookie, Bearer, Token, query)."""
    cookie = request.cookies.get("MMAUTHTOKEN")
    if cookie:
        return cookie, True
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip(), False
    return request.query_params.get("access_token", ""), False


async def session_or_none(request: Request) -> Session | None:
    # Starlette's request.state and app.state are untyped: these annotations say what this app keeps there
    cached: Session | None = getattr(request.state, "session", None)
    if cached is not None:
        return cached
    token, from_cookie = token_from(request)
    if not token:
        return None
    services: Services = request.app.state.services
    session = await services.users.session_for_token(token)
    if session is not None and from_cookie and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf = request.headers.get("x-csrf-token", "")
        if csrf != request.cookies.get("MMCSRF", "\0") and request.headers.get("x-requested-with") != "XMLHttpRequest":
            return None
    request.state.session = session
    return session


async def require_session(request: Request) -> Session:
    session = await session_or_none(request)
    if session is None:
        raise Unauthorized("Invalid or expired session, please login again.", "api.context.session_expired.app_error")
    return session
