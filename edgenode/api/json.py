"""JSON responses and request bodies the way Mattermost clients need them."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from edgenode.json_depth import MAX_JSON_DEPTH, TooDeep
from edgenode.json_depth import loads as bounded_loads
from edgenode.services.errors import BadRequest, PayloadTooLarge

__all__ = ["json_response", "ok", "json_body", "json_list_body", "int_param", "request_body", "MAX_JSON_BODY"]

MAX_JSON_BODY = 4 * 1024 * 1024


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Exactly "application/json": mattermostdriver only decodes a body whose header is that string.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def ok() -> Response:
    return json_response({"status": "OK"})


MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer every client (JavaScript too) reads exactly


def _int64(digits: str) -> int:
    # Go's decoder refuses integers past int64, and neither SQLite nor our op encoding can hold them.
    value = int(digits)
    if not -(2**63) <= value < 2**63:
        raise ValueError("integer out of 64-bit range")
    return value


async def request_body(request: Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The raw body, refused once it grows past `limit` bytes (before it is all read)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge("The request body is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge("The request body is too large.")
    return body


async def _raw_json(request: Request) -> Any:
    body = await request_body(request)
    if not body.strip():
        return None
    try:
        data = bounded_loads(body, parse_int=_int64)
        if b"\\ud" in body or b"\\uD" in body:
            # JSON may escape a lone surrogate, which is no character at all: refuse it here
            # rather than fail later when the text is encoded as UTF-8 into an op.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        return data
    except TooDeep:
        raise BadRequest(f"Invalid body: JSON may nest at most {MAX_JSON_DEPTH} levels deep.",
                         "api.context.invalid_body_param.app_error") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid or missing body: it must be JSON.", "api.context.invalid_body_param.app_error") from None


async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    data = await _raw_json(request)
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("Invalid or missing body: it must be a JSON object.", "api.context.invalid_body_param.app_error")
    return data


async def json_list_body(request: Request) -> list[Any]:
    data = await _raw_json(request)
    if not isinstance(data, list):
        raise BadRequest("Invalid or missing body: it must be a JSON array.", "api.context.invalid_body_param.app_error")
    return data


def int_param(request: Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} parameter: it must be an integer.", "api.context.invalid_url_param.app_error") from None
    if abs(value) > MAX_SAFE_INTEGER:  # also keeps page * per_page inside SQLite's 64-bit integers
        raise BadRequest(f"Invalid {name} parameter: too large.", "api.context.invalid_url_param.app_error")
    if value < minimum:
        raise BadRequest(f"Invalid {name} parameter: at least {minimum}.", "api.context.invalid_url_param.app_error")
    return min(value, maximum) if maximum is not None else value
