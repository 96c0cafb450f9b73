"""The one place where errors become Mattermost's error JSON."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from crdt import CrdtError
from edgenode.services.errors import ServiceError
from edgenode.store import SchemaViolation
from sync import DecodeError as SyncDecodeError

from .json import json_response

__all__ = ["error_body", "EXCEPTION_HANDLERS"]

log = logging.getLogger("edgenode.api")

_HTTP_IDS = {
    401: "api.context.session_expired.app_error",
    403: "api.context.permissions.app_error",
    404: "api.context.404.app_error",
    405: "api.context.405.app_error",
    413: "api.context.payload_too_large.app_error",
}


def error_body(request: HTTPConnection, status: int, error_id: str, message: str, detail: str = "") -> dict[str, object]:
    return {
        "id": error_id,
        "message": message,
        "detailed_error": detail,
        "request_id": getattr(request.state, "request_id", ""),
        "status_code": status,
        "is_oauth": False,
    }


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return json_response(error_body(request, exc.status, exc.error_id, exc.message, exc.detail), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "Sorry, we could not find the page." if exc.status_code == 404 else str(exc.detail)
    return json_response(error_body(request, exc.status_code, _HTTP_IDS.get(exc.status_code, "api.context.app_error"),
                                    message), exc.status_code)


async def _invalid_data(request: Request, exc: Exception) -> Response:
    # Input the op model refuses (too large, too deep, not encodable) that a handler let through:
    # still the caller's input, so a 400 that says what was wrong, and nothing was written.
    return json_response(error_body(request, 400, "api.context.invalid_body_param.app_error",
                                    f"Invalid input: {exc}"), 400)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_response(error_body(request, 500, "api.context.internal_error", "An internal error occurred."), 500)


EXCEPTION_HANDLERS = {
    ServiceError: _service_error,
    HTTPException: _http_error,
    CrdtError: _invalid_data,
    SchemaViolation: _invalid_data,
    SyncDecodeError: _invalid_data,
    Exception: _unexpected,
}
