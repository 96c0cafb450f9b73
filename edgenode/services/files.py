"""File attachments: uploads into the content-addressed blob store, FileInfo, and who may read them.

A file entity lives in its channel's feed and names its bytes by SHA-256; the bytes are stored
before the entity is written. Until a post attaches it, only its uploader may see it; after,
whoever may read the channel.
"""

from __future__ import annotations

import mimetypes
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from crdt import Create, Op
from edgenode.ids import is_valid_id, new_id

from .blobs import BlobStore, BlobTooLarge
from .channels import ChannelService
from .context import Context, channel_scope
from .errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from .membership import Memberships
from .users import Session

__all__ = [
    "INLINE_MIME_TYPES",
    "MAX_FILES_PER_UPLOAD",
    "MAX_FILE_SIZE",
    "FileService",
    "Upload",
    "file_info_json",
    "image_size",
]

MAX_FILE_SIZE = 100 * 1024 * 1024
"""Mattermost's default FileSettings.MaxFileSize."""
MAX_FILES_PER_UPLOAD = 10
MAX_NAME_LENGTH = 255

INLINE_MIME_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp",
    "video/mp4", "video/mpeg", "audio/mpeg", "audio/wav", "application/pdf",
})
"""Types a browser may show in place; anything else is served as a download (see the route)."""


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of an upload request, as the HTTP layer hands it over."""

    filename: str
    content_type: str
    stream: BinaryIO
    client_id: str = ""


def image_size(head: bytes) -> tuple[str, int, int] | None:
    """(mime type, width, height) of a PNG, GIF, JPEG or BMP from its first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return "image/png", width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return "image/gif", width, height
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return "image/bmp", abs(width), abs(height)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        # start-of-frame markers, except DHT (C4), JPG (C8) and DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return "image/jpeg", width, height
        i += 2 + length
    return None


def _clean_name(raw: str) -> str:
    """The file's own name: no directories (either kind of slash), no control characters."""
    name = PureWindowsPath(PurePosixPath(raw).name).name
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:MAX_NAME_LENGTH]


def _extension(name: str) -> str:
    suffix = PurePosixPath(name).suffix
    return suffix[1:].lower() if suffix else ""


def file_info_json(row: sqlite3.Row) -> dict[str, Any]:
    width, height = int(row["width"] or 0), int(row["height"] or 0)
    return {
        "id": row["id"],
        "user_id": row["user_id"] or "",
        "post_id": row["post_id"] or "",
        "channel_id": row["channel_id"] or "",
        "create_at": int(row["create_at"] or 0),
        "update_at": int(row["update_at"] or 0),
        "delete_at": int(row["delete_at"] or 0),
        "name": row["name"] or "",
        "extension": row["extension"] or "",
        "size": int(row["size"] or 0),
        "mime_type": row["mime_type"] or "application/octet-stream",
        "width": width,
        "height": height,
        "has_preview_image": width > 0 and height > 0,
        "mini_preview": None,
        "remote_id": "",
        "archived": False,
    }


class FileService:
    def __init__(self, ctx: Context, channels: ChannelService, members: Memberships):
        self._ctx = ctx
        self._channels = channels
        self._members = members
        self.blobs = BlobStore(ctx.data_dir / "files")

    # -- uploading -------------------------------------------------------------------------

    async def check_can_upload(self, channel_id: object, actor: Session) -> sqlite3.Row:
        """The channel, if the actor may upload into it (a member of a channel that is not archived)."""
        if not isinstance(channel_id, str) or not is_valid_id(channel_id):
            raise BadRequest("Invalid or missing channel_id in request body.", "api.context.invalid_body_param.app_error")
        channel = await self._channels.row(channel_id)
        if not await self._members.is_channel_member(channel_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        if int(channel["delete_at"] or 0):
            raise Forbidden("Files cannot be uploaded to an archived channel.", "api.file.upload_file.archived_channel.app_error")
        return channel

    async def upload(self, channel_id: str, uploads: Sequence[Upload], actor: Session) -> dict[str, Any]:
        """Store every upload's bytes, then create their file entities in one write: 201's body."""
        await self.check_can_upload(channel_id, actor)
        if not uploads:
            raise BadRequest("No file to upload.", "api.file.upload_file.no_files.app_error")
        if len(uploads) > MAX_FILES_PER_UPLOAD:
            raise BadRequest(f"At most {MAX_FILES_PER_UPLOAD} files per upload.", "api.file.upload_file.too_many_files.app_error")
        names = [_clean_name(u.filename) for u in uploads]
        if not all(names):
            raise BadRequest("Every file needs a name.", "api.context.invalid_body_param.app_error")
        now = self._ctx.now_ms()
        ops: list[Op] = []
        ids = []
        for upload, name in zip(uploads, names):
            try:
                blob = await self.blobs.put(upload.stream, MAX_FILE_SIZE)
            except BlobTooLarge:
                raise PayloadTooLarge(f"Unable to upload {name}: larger than {MAX_FILE_SIZE // (1024 * 1024)} MB.",
                                      "api.file.upload_file.too_large_detailed.app_error") from None
            sniffed = image_size(blob.head)
            guessed = mimetypes.guess_type(name, strict=False)[0]
            mime = sniffed[0] if sniffed else guessed or upload.content_type or "application/octet-stream"
            fields: dict[str, Any] = {
                "user_id": actor.user_id, "channel_id": channel_id, "name": name, "extension": _extension(name),
                "size": blob.size, "mime_type": mime, "content_hash": blob.content_hash,
                "create_at": now, "update_at": now, "delete_at": 0,
            }
            if sniffed:
                fields.update(width=sniffed[1], height=sniffed[2])
            file_id = new_id()
            ids.append(file_id)
            ops.append(Create("file", file_id, fields, deps=[("channel", channel_id)]))
        await self._ctx.store.write(channel_scope(channel_id), ops)
        rows = {r["id"]: r for r in await self._rows(ids)}
        return {"file_infos": [file_info_json(rows[i]) for i in ids],
                "client_ids": [u.client_id for u in uploads if u.client_id]}

    async def _rows(self, file_ids: Sequence[str]) -> list[sqlite3.Row]:
        if not file_ids:
            return []
        return await self._ctx.store.fetchall(
            f"SELECT * FROM files WHERE id IN ({','.join('?' * len(file_ids))}) AND _deleted = 0", list(file_ids))

    async def attachable(self, file_ids: Sequence[str], user_id: str, channel_id: str) -> None:
        """Only the poster's own files, uploaded to the post's channel and not attached yet, may be attached."""
        rows = {r["id"]: r for r in await self._rows(file_ids)}
        for file_id in file_ids:
            row = rows.get(file_id)
            if row is None or row["user_id"] != user_id or row["channel_id"] != channel_id or row["post_id"]:
                raise BadRequest(f"File {file_id} cannot be attached to this post: it must be your own unattached "
                                 "upload to the same channel.", "api.post.create_post.attach_files.app_error")

    # -- reading ---------------------------------------------------------------------------

    async def readable(self, file_id: str, actor: Session) -> sqlite3.Row:
        row = await self._ctx.store.fetchone("SELECT * FROM files WHERE id = ? AND _deleted = 0", (file_id,))
        if row is None or int(row["delete_at"] or 0):
            raise NotFound("Unable to find the file.", "app.file_info.get.app_error")
        if row["user_id"] == actor.user_id:
            return row
        post = await self._ctx.store.fetchone("SELECT channel_id FROM posts WHERE id = ? AND _deleted = 0",
                                              (row["post_id"] or "",))
        if post is None:
            raise Forbidden("You do not have the appropriate permissions.")
        await self._channels.readable(post["channel_id"], actor)
        return row

    async def info(self, file_id: str, actor: Session) -> dict[str, Any]:
        return file_info_json(await self.readable(file_id, actor))

    async def content(self, file_id: str, actor: Session, *, preview: bool = False) -> tuple[Path, dict[str, Any]]:
        """The blob's path and the FileInfo. A preview is the image itself: there is no image library."""
        row = await self.readable(file_id, actor)
        info = file_info_json(row)
        if preview and not info["has_preview_image"]:
            raise BadRequest("The file has no thumbnail or preview.", "api.file.get_file_thumbnail.no_thumbnail.app_error")
        try:
            path: Path | None = self.blobs.path(row["content_hash"] or "")
        except ValueError:
            path = None  # a peer's entity naming no valid hash
        if path is None or not path.is_file():
            # the entity arrived from a peer whose bytes have not (yet) been copied here
            raise NotFound("The file's content is not on this node.", "api.file.file_reader.app_error")
        return path, info

    async def infos_for(self, file_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """FileInfos by id, for post metadata (the caller has already checked the post may be read)."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(file_ids))
        for start in range(0, len(ids), 500):
            for row in await self._rows(ids[start:start + 500]):
                out[row["id"]] = file_info_json(row)
        return out
