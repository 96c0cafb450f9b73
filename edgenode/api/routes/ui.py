"""The web UI's files: / (the app shell), /sw.js, /manifest.webmanifest and /static/...

The UI is a client of this same API (docs/ui.md); these routes only hand out its files, under a
strict Content-Security-Policy, revalidated by ETag and gzip-compressed when the browser accepts it.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.services import NotFound
from edgenode.web import Assets, UI_CSP

__all__ = ["routes", "SECURITY_HEADERS"]

SECURITY_HEADERS = {"Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin"}

_loaded: Assets | None = None


async def _assets() -> Assets:
    global _loaded
    if _loaded is None:  # two first requests may both read the files: harmless, and no lock to share
        _loaded = await asyncio.to_thread(Assets.from_package)
    return _loaded


async def _serve(request: Request, name: str) -> Response:
    asset = (await _assets()).get(name)
    if asset is None:
        raise NotFound("No such file in the web UI.", "api.context.404.app_error")
    # no-cache: always revalidated (a 304 costs a round trip on loopback), so an upgraded node is
    # never shown with yesterday's scripts; the service worker keeps the copy used while offline
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return Response(body if request.method == "GET" else b"", media_type=asset.content_type, headers=headers)


async def shell(request: Request) -> Response:
    return await _serve(request, "index.html")


async def service_worker(request: Request) -> Response:
    return await _serve(request, "sw.js")


async def manifest(request: Request) -> Response:
    return await _serve(request, "manifest.webmanifest")


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if ".." in name.split("/") or name.startswith("/") or name in ("sw.js", "index.html"):
        raise NotFound("No such file in the web UI.", "api.context.404.app_error")
    return await _serve(request, name)


routes = [
    Route("/", shell, methods=["GET", "HEAD"]),
    Route("/sw.js", service_worker, methods=["GET", "HEAD"]),
    Route("/manifest.webmanifest", manifest, methods=["GET", "HEAD"]),
    Route("/static/{name:path}", static_file, methods=["GET", "HEAD"]),
]
