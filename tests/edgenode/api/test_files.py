"""Files: uploads (both multipart layouts and a raw body), content-addressed blobs, FileInfo, downloads,
who may read a file, and attaching files to posts."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pytest

import edgenode.api.routes.files as file_routes
import edgenode.services.files as file_service

UNKNOWN_ID = "a" * 26
BOUNDARY = "edgenode-test-boundary"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 3, 2) + b"\x08\x02\x00\x00\x00rest-of-image"


def _multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body from (field name, file name or None for a text field, content), in order."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + content + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def _upload(api: Any, token: str, *parts: tuple[str, str | None, bytes]) -> Any:
    body, headers = _multipart(*parts)
    return await api.call("POST", "/api/v4/files", token, content=body, headers=headers)


async def _upload_one(api: Any, token: str, channel_id: str, name: str = "notes.txt",
                      content: bytes = b"field notes") -> dict[str, Any]:
    response = await _upload(api, token, ("channel_id", None, channel_id.encode()), ("files", name, content))
    assert response.status_code == 201, response.text
    return response.json()["file_infos"][0]  # type: ignore[no-any-return]


async def _private_channel(api: Any, team: Any) -> str:
    response = await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})
    return response.json()["id"]  # type: ignore[no-any-return]


async def test_an_upload_with_channel_id_first_accepts_file_parts_under_any_name(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await _upload(api, team.alice_token, ("channel_id", None, team.town_square.encode()),
                             ("client_ids", None, b"c1"), ("client_ids", None, b"c2"),
                             ("attachment", "report.TXT", b"all quiet"), ("other", "map.png", PNG))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_ids"] == ["c1", "c2"]
    report, image = body["file_infos"]
    assert set(report) == {"id", "user_id", "post_id", "channel_id", "create_at", "update_at", "delete_at", "name",
                           "extension", "size", "mime_type", "width", "height", "has_preview_image", "mini_preview",
                           "remote_id", "archived"}
    assert (report["name"], report["extension"], report["size"], report["mime_type"]) == (
        "report.TXT", "txt", 9, "text/plain")
    assert (report["user_id"], report["channel_id"], report["post_id"]) == (team.alice["id"], team.town_square, "")
    assert (image["mime_type"], image["width"], image["height"], image["has_preview_image"]) == ("image/png", 3, 2, True)


async def test_the_legacy_layout_takes_the_files_parts_and_a_later_channel_id(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await _upload(api, team.alice_token, ("files", "a.txt", b"A"), ("ignored", "b.txt", b"B"),
                             ("channel_id", None, team.town_square.encode()))
    assert response.status_code == 201, response.text
    assert [f["name"] for f in response.json()["file_infos"]] == ["a.txt"]
    assert response.json()["client_ids"] == []


async def test_mattermostdriver_style_upload_works(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", "/api/v4/files", team.alice_token, data={"channel_id": team.town_square},
                              files={"files": ("log.txt", b"line one\n")})
    assert response.status_code == 201, response.text
    assert response.json()["file_infos"][0]["size"] == 9


async def test_a_raw_body_upload_is_named_by_the_query(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"/api/v4/files?channel_id={team.town_square}&filename=raw.bin&client_id=x",
                              team.alice_token, content=b"\x00\x01\x02", headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.text
    info = response.json()["file_infos"][0]
    assert (info["name"], info["size"], response.json()["client_ids"]) == ("raw.bin", 3, ["x"])
    nameless = await api.call("POST", f"/api/v4/files?channel_id={team.town_square}", team.alice_token, content=b"x")
    assert (nameless.status_code, nameless.json()["id"]) == (400, "api.context.invalid_url_param.app_error")


async def test_bytes_are_stored_once_under_their_sha256(api, team) -> None:  # type: ignore[no-untyped-def]
    first = await _upload_one(api, team.alice_token, team.town_square, "one.txt", b"same bytes")
    second = await _upload_one(api, team.bob_token, team.town_square, "two.txt", b"same bytes")
    assert first["id"] != second["id"]
    digest = hashlib.sha256(b"same bytes").hexdigest()
    blob = api.node.data_dir / "files" / digest[:2] / digest[2:]
    assert blob.read_bytes() == b"same bytes"
    stored = [p for p in (api.node.data_dir / "files").rglob("*") if p.is_file()]
    assert stored == [blob]


async def test_bad_uploads_are_4xx_and_store_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    channel = team.town_square.encode()
    before = await api.node.store.digest()
    cases = [
        ((("files", "a.txt", b"A"),), 400, "api.context.invalid_body_param.app_error"),  # no channel_id
        ((("channel_id", None, b"not-an-id"), ("files", "a.txt", b"A")), 400, "api.context.invalid_body_param.app_error"),
        ((("channel_id", None, UNKNOWN_ID.encode()), ("files", "a.txt", b"A")), 404, "app.channel.get.existing.app_error"),
        ((("channel_id", None, channel), ("client_ids", None, b"c1"), ("files", "a.txt", b"A"), ("files", "b.txt", b"B")),
         400, "api.file.upload_file.incorrect_number_of_client_ids.app_error"),
        ((("channel_id", None, channel), ("surprise", None, b"x"), ("files", "a.txt", b"A")),
         400, "api.context.invalid_body_param.app_error"),
        ((("channel_id", None, channel), ("channel_id", None, UNKNOWN_ID.encode()), ("files", "a.txt", b"A")),
         400, "api.file.upload_file.multiple_channel_ids.app_error"),
        ((("channel_id", None, channel),), 400, "api.file.upload_file.no_files.app_error"),
        ((("channel_id", None, channel), ("files", "", b"A")), 400, "api.context.invalid_body_param.app_error"),
    ]
    for parts, status, error_id in cases:
        response = await _upload(api, team.alice_token, *parts)
        assert (response.status_code, response.json()["id"]) == (status, error_id), parts
    garbled = await api.call("POST", "/api/v4/files", team.alice_token, content=b"--nope\r\n",
                             headers={"Content-Type": "multipart/form-data"})
    assert (garbled.status_code, garbled.json()["id"]) == (400, "api.file.upload_file.read_request.app_error")
    assert await api.node.store.digest() == before
    assert not (api.node.data_dir / "files").exists() or not any((api.node.data_dir / "files").rglob("*"))


async def test_only_members_of_an_active_channel_may_upload(api, team) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _private_channel(api, team)
    outsider = await _upload(api, team.bob_token, ("channel_id", None, channel_id.encode()), ("files", "a.txt", b"A"))
    assert (outsider.status_code, outsider.json()["id"]) == (403, "api.context.permissions.app_error")
    await api.call("DELETE", f"/api/v4/channels/{channel_id}", team.alice_token)
    archived = await _upload(api, team.alice_token, ("channel_id", None, channel_id.encode()), ("files", "a.txt", b"A"))
    assert (archived.status_code, archived.json()["id"]) == (403, "api.file.upload_file.archived_channel.app_error")


async def test_an_oversized_upload_is_413_and_leaves_no_blob(api, team, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(file_service, "MAX_FILE_SIZE", 1000)
    too_big = await _upload(api, team.alice_token, ("channel_id", None, team.town_square.encode()),
                            ("files", "big.bin", b"x" * 1001))
    assert (too_big.status_code, too_big.json()["id"]) == (413, "api.file.upload_file.too_large_detailed.app_error")
    monkeypatch.setattr(file_routes, "MAX_UPLOAD_REQUEST", 1000)
    request_too_big = await _upload(api, team.alice_token, ("channel_id", None, team.town_square.encode()),
                                    ("files", "big.bin", b"x" * 2000))
    assert request_too_big.status_code == 413
    files_dir = api.node.data_dir / "files"
    assert not files_dir.exists() or [p for p in files_dir.rglob("*") if p.is_file()] == []


async def test_a_file_is_served_with_its_type_and_a_safe_disposition(api, team) -> None:  # type: ignore[no-untyped-def]
    text = await _upload_one(api, team.alice_token, team.town_square, "page.html", b"<script>1</script>")
    image = await _upload_one(api, team.alice_token, team.town_square, "pic.png", PNG)
    html = await api.call("GET", f"/api/v4/files/{text['id']}", team.alice_token)
    assert html.status_code == 200 and html.content == b"<script>1</script>"
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert html.headers["x-content-type-options"] == "nosniff"
    png = await api.call("GET", f"/api/v4/files/{image['id']}", team.alice_token)
    assert (png.content, png.headers["content-type"]) == (PNG, "image/png")
    assert png.headers["content-disposition"] == 'inline; filename="pic.png"'
    forced = await api.call("GET", f"/api/v4/files/{image['id']}?download=1", team.alice_token)
    assert forced.headers["content-disposition"] == 'attachment; filename="pic.png"'
    info = await api.call("GET", f"/api/v4/files/{image['id']}/info", team.alice_token)
    assert info.json() == image


async def test_images_preview_as_themselves_and_other_files_have_no_preview(api, team) -> None:  # type: ignore[no-untyped-def]
    image = await _upload_one(api, team.alice_token, team.town_square, "pic.png", PNG)
    text = await _upload_one(api, team.alice_token, team.town_square)
    for kind in ("thumbnail", "preview"):
        shown = await api.call("GET", f"/api/v4/files/{image['id']}/{kind}", team.alice_token)
        assert (shown.status_code, shown.content) == (200, PNG)
        none = await api.call("GET", f"/api/v4/files/{text['id']}/{kind}", team.alice_token)
        assert (none.status_code, none.json()["id"]) == (400, "api.file.get_file_thumbnail.no_thumbnail.app_error")


async def test_an_unattached_file_is_its_uploaders_alone(api, team) -> None:  # type: ignore[no-untyped-def]
    info = await _upload_one(api, team.alice_token, team.town_square)
    for path in (f"/api/v4/files/{info['id']}", f"/api/v4/files/{info['id']}/info"):
        response = await api.call("GET", path, team.bob_token)
        assert (response.status_code, response.json()["id"]) == (403, "api.context.permissions.app_error")
    missing = await api.call("GET", f"/api/v4/files/{UNKNOWN_ID}", team.alice_token)
    assert (missing.status_code, missing.json()["id"]) == (404, "app.file_info.get.app_error")
    bad = await api.call("GET", "/api/v4/files/nope/info", team.alice_token)
    assert bad.status_code == 400


async def test_attaching_files_shows_them_to_channel_readers_and_in_the_post(api, team) -> None:  # type: ignore[no-untyped-def]
    info = await _upload_one(api, team.alice_token, team.town_square)
    created = await api.call("POST", "/api/v4/posts", team.alice_token,
                             json={"channel_id": team.town_square, "message": "", "file_ids": [info["id"]]})
    assert created.status_code == 201, created.text
    post = created.json()
    attached = {**info, "post_id": post["id"], "update_at": post["create_at"]}
    assert post["file_ids"] == [info["id"]]
    assert post["metadata"]["files"] == [attached]
    assert (await api.call("GET", f"/api/v4/files/{info['id']}/info", team.bob_token)).json() == attached
    assert (await api.call("GET", f"/api/v4/files/{info['id']}", team.bob_token)).content == b"field notes"
    listed = await api.call("GET", f"/api/v4/posts/{post['id']}/files/info", team.bob_token)
    assert listed.json() == [attached]


async def test_files_in_a_private_channel_stay_with_its_members(api, team) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _private_channel(api, team)
    info = await _upload_one(api, team.alice_token, channel_id)
    await api.call("POST", "/api/v4/posts", team.alice_token,
                   json={"channel_id": channel_id, "message": "plan", "file_ids": [info["id"]]})
    response = await api.call("GET", f"/api/v4/files/{info['id']}", team.bob_token)
    assert response.status_code == 403 and b"field notes" not in response.content


async def test_only_your_own_unattached_files_of_the_same_channel_can_be_attached(api, team) -> None:  # type: ignore[no-untyped-def]
    bobs = await _upload_one(api, team.bob_token, team.town_square)
    elsewhere = await _upload_one(api, team.alice_token, await _private_channel(api, team))
    used = await _upload_one(api, team.alice_token, team.town_square)
    await api.call("POST", "/api/v4/posts", team.alice_token,
                   json={"channel_id": team.town_square, "message": "first", "file_ids": [used["id"]]})
    before = await api.node.store.digest()
    for file_ids in ([bobs["id"]], [elsewhere["id"]], [used["id"]], [UNKNOWN_ID]):
        response = await api.call("POST", "/api/v4/posts", team.alice_token,
                                  json={"channel_id": team.town_square, "message": "x", "file_ids": file_ids})
        assert (response.status_code, response.json()["id"]) == (400, "api.post.create_post.attach_files.app_error")
    for file_ids in (["nope"], "x", [1], [UNKNOWN_ID] * 11):
        response = await api.call("POST", "/api/v4/posts", team.alice_token,
                                  json={"channel_id": team.town_square, "message": "x", "file_ids": file_ids})
        assert (response.status_code, response.json()["id"]) == (400, "model.post.is_valid.file_ids.app_error")
    assert await api.node.store.digest() == before


async def test_an_edit_may_drop_files_but_not_add_them(api, team) -> None:  # type: ignore[no-untyped-def]
    kept = await _upload_one(api, team.alice_token, team.town_square, "kept.txt")
    extra = await _upload_one(api, team.alice_token, team.town_square, "extra.txt")
    post = (await api.call("POST", "/api/v4/posts", team.alice_token,
                           json={"channel_id": team.town_square, "message": "m", "file_ids": [kept["id"]]})).json()
    added = await api.call("PUT", f"/api/v4/posts/{post['id']}/patch", team.alice_token,
                           json={"file_ids": [kept["id"], extra["id"]]})
    assert (added.status_code, added.json()["id"]) == (400, "api.post.patch_post.file_ids.app_error")
    dropped = await api.call("PUT", f"/api/v4/posts/{post['id']}/patch", team.alice_token, json={"file_ids": []})
    assert dropped.status_code == 200
    assert dropped.json()["file_ids"] == [] and "files" not in dropped.json()["metadata"]


async def test_deleting_a_post_deletes_its_files(api, team) -> None:  # type: ignore[no-untyped-def]
    info = await _upload_one(api, team.alice_token, team.town_square)
    post = (await api.call("POST", "/api/v4/posts", team.alice_token,
                           json={"channel_id": team.town_square, "message": "m", "file_ids": [info["id"]]})).json()
    await api.call("DELETE", f"/api/v4/posts/{post['id']}", team.alice_token)
    for token in (team.alice_token, team.bob_token):
        response = await api.call("GET", f"/api/v4/files/{info['id']}/info", token)
        assert (response.status_code, response.json()["id"]) == (404, "app.file_info.get.app_error")
