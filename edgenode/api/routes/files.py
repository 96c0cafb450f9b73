"""File uploads and downloads (/api/v4/files).

Uploads follow Mattermost's two multipart layouts: when a `channel_id` field comes before the
first file, every file part counts whatever its name; otherwise the parts named `files` do and
`channel_id` may come anywhere. A body that is not multipart is one file named by the
`filename` query parameter. The whole request is refused with 413 past the size limit, while
it streams, before anything is stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator
from typing import BinaryIO

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_response
from edgenode.services import BadRequest
from edgenode.services.errors import PayloadTooLarge
from edgenode.services.files import INLINE_MIME_TYPES, MAX_FILE_SIZE, MAX_FILES_PER_UPLOAD, Upload

from .common import path_id, services

__all__ = ["MAX_UPLOAD_REQUEST", "routes"]

MAX_UPLOAD_REQUEST = MAX_FILE_SIZE + 1024 * 1024
"""One request carries at most one maximum-size file plus room for the multipart framing."""

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}  # Go's strconv.ParseBool


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than {MAX_FILE_SIZE // (1024 * 1024)} MB.",
                           "api.file.upload_file.too_large_detailed.app_error")


async def _limited(request: Request) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_UPLOAD_REQUEST:
            raise _too_large()
        yield chunk


def _invalid(name: str) -> BadRequest:
    return BadRequest(f"Invalid or missing {name} in request body.", "api.context.invalid_body_param.app_error")


def _uploads_from_form(form: FormData) -> tuple[str, list[Upload]]:
    """The channel id and the file parts, by Mattermost's rules for the two layouts."""
    items = form.multi_items()
    first_file = next((i for i, (_, v) in enumerate(items) if isinstance(v, UploadFile)), len(items))
    channel_first = any(k == "channel_id" for k, _ in items[:first_file])
    channel_ids = {v for k, v in items if k == "channel_id" and isinstance(v, str)}
    if len(channel_ids) > 1:
        raise BadRequest("Only one channel_id may be given.", "api.file.upload_file.multiple_channel_ids.app_error")
    client_ids = [v for k, v in items if k == "client_ids" and isinstance(v, str)]
    if channel_first:
        unknown = [k for k, v in items if isinstance(v, str) and k not in ("channel_id", "client_ids")]
        if unknown:
            raise _invalid(unknown[0])
        files = [v for _, v in items if isinstance(v, UploadFile)]
    else:
        files = [v for k, v in items if k == "files" and isinstance(v, UploadFile)]
    if client_ids and len(client_ids) != len(files):
        raise BadRequest(f"{len(client_ids)} client ids for {len(files)} files: give one per file or none.",
                         "api.file.upload_file.incorrect_number_of_client_ids.app_error")
    uploads = []
    for i, part in enumerate(files):
        part.file.seek(0)
        uploads.append(Upload(part.filename or "", part.content_type or "", part.file,
                              client_ids[i] if client_ids else ""))
    return (channel_ids.pop() if channel_ids else ""), uploads


async def _spooled_body(request: Request) -> BinaryIO:
    body: BinaryIO = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # type: ignore[assignment]
    async for chunk in _limited(request):
        body.write(chunk)
    body.seek(0)
    return body


async def upload_files(request: Request) -> Response:
    session = await require_session(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_REQUEST:
        raise _too_large()
    if length == "0":
        raise BadRequest("The request is empty.", "api.file.upload_file.read_request.app_error")
    svc = services(request).files
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        channel_id, filename = request.query_params.get("channel_id", ""), request.query_params.get("filename", "")
        await svc.check_can_upload(channel_id, session)
        if not filename:
            raise BadRequest("Invalid or missing filename in request URL.", "api.context.invalid_url_param.app_error")
        body = await _spooled_body(request)
        with body:
            upload = Upload(filename, content_type, body, request.query_params.get("client_id", ""))
            return json_response(await svc.upload(channel_id, [upload], session), 201)
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("Uploads must be multipart/form-data.", "api.file.upload_file.read_request.app_error")
    parser = MultiPartParser(request.headers, _limited(request), max_files=MAX_FILES_PER_UPLOAD, max_fields=100,
                             max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"Unable to read the upload: {exc.message}", "api.file.upload_file.read_request.app_error") from None
    try:
        channel_id, uploads = _uploads_from_form(form)
        if not channel_id:
            raise _invalid("channel_id")
        return json_response(await svc.upload(channel_id, uploads, session), 201)
    finally:
        await form.close()


def _file_response(path: object, info: dict[str, object], request: Request) -> Response:
    download = request.query_params.get("download", "") in _TRUE
    mime = str(info["mime_type"])
    # Only types a browser renders harmlessly are shown in place; anything else (HTML, SVG) downloads.
    disposition = "inline" if mime in INLINE_MIME_TYPES and not download else "attachment"
    return FileResponse(path, media_type=mime, filename=str(info["name"]), content_disposition_type=disposition,  # type: ignore[arg-type]
                        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
                                 "Cache-Control": "private, max-age=86400"})


async def get_file(request: Request) -> Response:
    session = await require_session(request)
    path, info = await services(request).files.content(path_id(request, "file_id"), session)
    return _file_response(path, info, request)


async def get_preview(request: Request) -> Response:
    session = await require_session(request)
    path, info = await services(request).files.content(path_id(request, "file_id"), session, preview=True)
    return _file_response(path, info, request)


async def get_info(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).files.info(path_id(request, "file_id"), session))


routes = [
    Route("/api/v4/files", upload_files, methods=["POST"]),
    Route("/api/v4/files/{file_id}", get_file, methods=["GET"]),
    Route("/api/v4/files/{file_id}/info", get_info, methods=["GET"]),
    Route("/api/v4/files/{file_id}/thumbnail", get_preview, methods=["GET"]),
    Route("/api/v4/files/{file_id}/preview", get_preview, methods=["GET"]),
]
