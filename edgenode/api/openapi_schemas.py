"""JSON schemas of the API's bodies (OpenAPI 3.0 flavour), referenced by the operation table.

Response schemas list as required the fields every Mattermost client reads and leave objects open
(`additionalProperties` is not set), so adding a field never breaks the document. Request schemas
describe what the handlers accept; the handlers, not these schemas, are the validators.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOOLEAN", "COMPONENTS", "ID", "ID_OR_ME", "INTEGER", "STRING", "Schema", "array_of", "nullable", "ref"]

Schema = dict[str, Any]

ID: Schema = {"type": "string", "pattern": "^[a-z0-9]{26}$", "description": "26-character Mattermost id"}
ID_OR_ME: Schema = {"type": "string", "pattern": "^([a-z0-9]{26}|me)$", "description": "a user id, or `me`"}
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
_MILLIS: Schema = {"type": "integer", "description": "Unix time in milliseconds"}
_OBJECT: Schema = {"type": "object"}
_STRINGS: Schema = {"type": "array", "items": STRING}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _object(required: list[str], properties: dict[str, Schema], description: str = "") -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _entity(properties: dict[str, Schema], required: list[str], description: str) -> Schema:
    """A stored entity: an id and Mattermost's three timestamps, plus its own fields."""
    stamps = {"id": STRING, "create_at": _MILLIS, "update_at": _MILLIS, "delete_at": _MILLIS}
    return _object(["id", "create_at", "update_at", "delete_at", *required], {**stamps, **properties}, description)


_RESPONSES: dict[str, Schema] = {
    "AppError": _object(
        ["id", "message", "detailed_error", "request_id", "status_code", "is_oauth"],
        {"id": STRING, "message": STRING, "detailed_error": STRING, "request_id": STRING,
         "status_code": INTEGER, "is_oauth": BOOLEAN},
        "Mattermost's error body, sent with every 4xx and 5xx response.",
    ),
    "StatusOK": _object(["status"], {"status": {"type": "string", "enum": ["OK"]}}),
    "Ping": _object(["status"], {"status": STRING, "ActiveSearchBackend": STRING, "database_status": STRING,
                                 "filestore_status": STRING}),
    "ClientConfig": {"type": "object", "additionalProperties": STRING},
    "OpenApiDocument": _object(["openapi", "info", "paths"], {"openapi": STRING, "info": _OBJECT, "paths": _OBJECT}),
    "User": _entity(
        {"username": STRING, "auth_data": STRING, "auth_service": STRING, "email": STRING, "email_verified": BOOLEAN,
         "nickname": STRING, "first_name": STRING, "last_name": STRING, "position": STRING, "roles": STRING,
         "props": _OBJECT, "notify_props": _OBJECT, "last_password_update": _MILLIS, "locale": STRING,
         "timezone": _OBJECT, "is_bot": BOOLEAN, "bot_description": STRING, "disable_welcome_email": BOOLEAN,
         "mfa_active": BOOLEAN},
        ["username", "email", "roles", "is_bot"], "A user; never carries a password or MFA secret."),
    "UserAccessToken": _object(["id", "token", "user_id", "description", "is_active"],
                               {"id": STRING, "token": STRING, "user_id": STRING, "description": STRING,
                                "is_active": BOOLEAN}, "A personal access token, shown once at creation."),
    "UserAccessTokenSanitized": _object(["id", "user_id", "description", "is_active"],
                                        {"id": STRING, "user_id": STRING, "description": STRING,
                                         "is_active": BOOLEAN}),
    "Bot": _object(["user_id", "username", "display_name", "description", "owner_id", "create_at", "update_at",
                    "delete_at"],
                   {"user_id": STRING, "username": STRING, "display_name": STRING, "description": STRING,
                    "owner_id": STRING, "create_at": _MILLIS, "update_at": _MILLIS, "delete_at": _MILLIS}),
    "Audit": _object(["id", "create_at", "user_id", "action"],
                     {"id": STRING, "create_at": _MILLIS, "user_id": STRING, "action": STRING, "extra_info": STRING,
                      "ip_address": STRING, "session_id": STRING}),
    "Team": _entity(
        {"display_name": STRING, "name": STRING, "description": STRING, "email": STRING,
         "type": {"type": "string", "enum": ["O", "I"]}, "company_name": STRING, "allowed_domains": STRING,
         "invite_id": STRING, "allow_open_invite": BOOLEAN, "scheme_id": nullable(STRING),
         "group_constrained": nullable(BOOLEAN), "policy_id": nullable(STRING)},
        ["name", "display_name", "type"], "A team."),
    "TeamMember": _object(["team_id", "user_id", "roles"],
                          {"team_id": STRING, "user_id": STRING, "roles": STRING, "delete_at": _MILLIS,
                           "scheme_guest": BOOLEAN, "scheme_user": BOOLEAN, "scheme_admin": BOOLEAN,
                           "explicit_roles": STRING}),
    "TeamUnread": _object(["team_id", "msg_count", "mention_count"],
                          {"team_id": STRING, "msg_count": INTEGER, "mention_count": INTEGER,
                           "msg_count_root": INTEGER, "mention_count_root": INTEGER}),
    "Channel": _entity(
        {"team_id": STRING, "type": {"type": "string", "enum": ["O", "P", "D", "G"]}, "display_name": STRING,
         "name": STRING, "header": STRING, "purpose": STRING, "last_post_at": _MILLIS, "total_msg_count": INTEGER,
         "extra_update_at": _MILLIS, "creator_id": STRING, "scheme_id": nullable(STRING), "props": nullable(_OBJECT),
         "group_constrained": nullable(BOOLEAN), "shared": nullable(BOOLEAN), "total_msg_count_root": INTEGER,
         "policy_id": nullable(STRING), "last_root_post_at": _MILLIS},
        ["team_id", "type", "name", "display_name"], "A channel; archived when delete_at > 0."),
    "ChannelMember": _object(
        ["channel_id", "user_id", "roles", "last_viewed_at", "msg_count", "mention_count", "notify_props"],
        {"channel_id": STRING, "user_id": STRING, "roles": STRING, "last_viewed_at": _MILLIS, "msg_count": INTEGER,
         "mention_count": INTEGER, "mention_count_root": INTEGER, "urgent_mention_count": INTEGER,
         "msg_count_root": INTEGER, "notify_props": _OBJECT, "last_update_at": _MILLIS, "scheme_guest": BOOLEAN,
         "scheme_user": BOOLEAN, "scheme_admin": BOOLEAN, "explicit_roles": STRING}),
    "ChannelStats": _object(["channel_id", "member_count"],
                            {"channel_id": STRING, "member_count": INTEGER, "guest_count": INTEGER,
                             "pinnedpost_count": INTEGER, "files_count": INTEGER}),
    "ChannelViewResponse": _object(["status"], {"status": STRING, "last_viewed_at_times": _OBJECT}),
    "ChannelUnread": _object(["channel_id", "msg_count", "mention_count"],
                             {"team_id": STRING, "channel_id": STRING, "msg_count": INTEGER, "mention_count": INTEGER,
                              "msg_count_root": INTEGER, "mention_count_root": INTEGER, "notify_props": _OBJECT}),
    "Post": _entity(
        {"edit_at": _MILLIS, "is_pinned": BOOLEAN, "user_id": STRING, "channel_id": STRING, "root_id": STRING,
         "original_id": STRING, "message": STRING, "type": STRING, "props": _OBJECT, "hashtags": STRING,
         "file_ids": nullable(_STRINGS), "pending_post_id": STRING, "has_reactions": BOOLEAN,
         "reply_count": INTEGER, "last_reply_at": _MILLIS, "participants": nullable({"type": "array"}),
         "is_following": nullable(BOOLEAN), "metadata": _OBJECT},
        ["user_id", "channel_id", "root_id", "message", "type", "props"], "A post (message)."),
    "PostList": _object(["order", "posts"],
                        {"order": _STRINGS, "posts": {"type": "object", "additionalProperties": ref("Post")},
                         "next_post_id": STRING, "prev_post_id": STRING, "has_next": BOOLEAN},
                        "Posts keyed by id, with `order` listing ids newest first."),
    "Reaction": _object(["user_id", "post_id", "emoji_name", "create_at"],
                        {"user_id": STRING, "post_id": STRING, "emoji_name": STRING, "create_at": _MILLIS,
                         "update_at": _MILLIS, "delete_at": _MILLIS, "channel_id": STRING}),
    "FileInfo": _entity(
        {"user_id": STRING, "post_id": STRING, "channel_id": STRING, "name": STRING, "extension": STRING,
         "size": INTEGER, "mime_type": STRING, "width": INTEGER, "height": INTEGER, "has_preview_image": BOOLEAN,
         "mini_preview": nullable(STRING), "archived": BOOLEAN},
        ["name", "size", "mime_type"], "What is known about an uploaded file."),
    "FileUploadResponse": _object(["file_infos", "client_ids"],
                                  {"file_infos": array_of(ref("FileInfo")), "client_ids": _STRINGS}),
    "Preference": _object(["user_id", "category", "name", "value"],
                          {"user_id": STRING, "category": STRING, "name": STRING, "value": STRING}),
    "PostSearchResults": _object(["order", "posts"],
                                 {"order": _STRINGS, "posts": {"type": "object", "additionalProperties": ref("Post")},
                                  "matches": nullable(_OBJECT), "next_post_id": STRING, "prev_post_id": STRING,
                                  "has_next": BOOLEAN}),
    "IncomingWebhook": _entity(
        {"user_id": STRING, "channel_id": STRING, "team_id": STRING, "display_name": STRING, "description": STRING,
         "username": STRING, "icon_url": STRING, "channel_locked": BOOLEAN},
        ["channel_id"], "An incoming webhook; its id is the secret in /hooks/{id}."),
    "OutgoingWebhook": _entity(
        {"token": STRING, "creator_id": STRING, "channel_id": STRING, "team_id": STRING,
         "trigger_words": nullable(_STRINGS), "trigger_when": INTEGER, "callback_urls": nullable(_STRINGS),
         "display_name": STRING, "description": STRING, "content_type": STRING, "username": STRING,
         "icon_url": STRING},
        ["team_id"], "An outgoing webhook."),
    "Command": _entity(
        {"token": STRING, "creator_id": STRING, "team_id": STRING, "trigger": STRING,
         "method": {"type": "string", "enum": ["P", "G"]}, "username": STRING, "icon_url": STRING,
         "auto_complete": BOOLEAN, "auto_complete_desc": STRING, "auto_complete_hint": STRING,
         "display_name": STRING, "description": STRING, "url": STRING},
        ["team_id", "trigger"], "A custom slash command."),
    "CommandResponse": _object([], {"response_type": STRING, "text": STRING, "username": STRING,
                                    "channel_id": STRING, "icon_url": STRING, "type": STRING, "props": nullable(_OBJECT),
                                    "goto_location": STRING, "trigger_id": STRING,
                                    "attachments": nullable({"type": "array"}),
                                    "extra_responses": nullable({"type": "array"})}),
}

_SLACK_ATTACHMENT: Schema = _object([], {
    "fallback": STRING, "color": STRING, "pretext": STRING, "author_name": STRING, "author_link": STRING,
    "author_icon": STRING, "title": STRING, "title_link": STRING, "text": STRING,
    "fields": array_of(_object([], {"title": STRING, "value": {}, "short": BOOLEAN})),
    "image_url": STRING, "thumb_url": STRING, "footer": STRING, "footer_icon": STRING, "ts": {}})

_REQUESTS: dict[str, Schema] = {
    "UserCreate": _object(["username", "email", "password"],
                          {"username": STRING, "email": STRING, "password": STRING, "first_name": STRING,
                           "last_name": STRING, "nickname": STRING, "position": STRING, "locale": STRING,
                           "props": _OBJECT, "notify_props": _OBJECT}),
    "Login": _object(["login_id", "password"],
                     {"login_id": STRING, "password": STRING, "token": STRING, "device_id": STRING}),
    "UserPatch": _object([], {"username": STRING, "email": STRING, "first_name": STRING, "last_name": STRING,
                              "nickname": STRING, "position": STRING, "locale": STRING, "props": _OBJECT,
                              "notify_props": _OBJECT, "timezone": _OBJECT}),
    "UserSearch": _object(["term"], {"term": STRING, "team_id": STRING, "not_in_team_id": STRING,
                                     "in_channel_id": STRING, "not_in_channel_id": STRING, "limit": INTEGER}),
    "Roles": _object(["roles"], {"roles": STRING}),
    "PasswordUpdate": _object(["new_password"], {"current_password": STRING, "new_password": STRING}),
    "TokenCreate": _object(["description"], {"description": {"type": "string", "minLength": 1, "maxLength": 255}}),
    "TokenRevoke": _object(["token_id"], {"token_id": STRING}),
    "BotCreate": _object(["username"], {"username": STRING, "display_name": STRING, "description": STRING}),
    "TeamCreate": _object(["name", "display_name", "type"],
                          {"name": STRING, "display_name": STRING, "type": {"type": "string", "enum": ["O", "I"]},
                           "description": STRING, "email": STRING, "allowed_domains": STRING,
                           "allow_open_invite": BOOLEAN}),
    "TeamPatch": _object([], {"display_name": STRING, "description": STRING, "allowed_domains": STRING,
                              "allow_open_invite": BOOLEAN, "email": STRING}),
    "TeamMemberAdd": _object(["user_id"], {"team_id": STRING, "user_id": STRING}),
    "ChannelCreate": _object(["team_id", "name", "display_name", "type"],
                             {"team_id": STRING, "name": STRING, "display_name": STRING,
                              "type": {"type": "string", "enum": ["O", "P"]}, "purpose": STRING, "header": STRING}),
    "ChannelPatch": _object([], {"name": STRING, "display_name": STRING, "header": STRING, "purpose": STRING}),
    "ChannelMemberAdd": _object(["user_id"], {"user_id": STRING, "post_root_id": STRING}),
    "ChannelView": _object(["channel_id"], {"channel_id": STRING, "prev_channel_id": STRING}),
    "ChannelMemberNotifyProps": _object([], {"desktop": STRING, "email": STRING, "push": STRING,
                                             "mark_unread": STRING, "ignore_channel_mentions": STRING}),
    "PostCreate": _object(["channel_id"],
                          {"channel_id": STRING, "message": STRING, "root_id": STRING, "file_ids": _STRINGS,
                           "props": _OBJECT, "pending_post_id": STRING, "type": STRING}),
    "PostUpdate": _object([], {"id": STRING, "message": STRING, "is_pinned": BOOLEAN, "props": _OBJECT,
                               "file_ids": _STRINGS}),
    "PostPatch": _object([], {"message": STRING, "is_pinned": BOOLEAN, "props": _OBJECT, "file_ids": _STRINGS}),
    "ReactionCreate": _object(["user_id", "post_id", "emoji_name"],
                              {"user_id": STRING, "post_id": STRING, "emoji_name": STRING}),
    "PostSearch": _object(["terms"], {"terms": STRING, "is_or_search": BOOLEAN, "time_zone_offset": INTEGER,
                                      "include_deleted_channels": BOOLEAN, "page": INTEGER, "per_page": INTEGER}),
    "FileUpload": _object(["files"], {"channel_id": STRING,
                                      "files": {"type": "string", "format": "binary"},
                                      "client_ids": STRING},
                          "multipart/form-data; a channel_id part first lets file parts take any name."),
    "IncomingWebhookCreate": _object(["channel_id"],
                                     {"channel_id": STRING, "display_name": STRING, "description": STRING,
                                      "username": STRING, "icon_url": STRING, "channel_locked": BOOLEAN}),
    "OutgoingWebhookCreate": _object(["team_id"],
                                     {"team_id": STRING, "channel_id": STRING, "trigger_words": _STRINGS,
                                      "trigger_when": INTEGER, "callback_urls": _STRINGS, "display_name": STRING,
                                      "description": STRING, "content_type": STRING, "username": STRING,
                                      "icon_url": STRING}),
    "CommandCreate": _object(["team_id", "trigger", "url"],
                             {"team_id": STRING, "trigger": STRING, "method": {"type": "string", "enum": ["P", "G"]},
                              "url": STRING, "username": STRING, "icon_url": STRING, "auto_complete": BOOLEAN,
                              "auto_complete_desc": STRING, "auto_complete_hint": STRING, "display_name": STRING,
                              "description": STRING}),
    "CommandExecute": _object(["channel_id", "command"],
                              {"channel_id": STRING, "team_id": STRING, "root_id": STRING, "command": STRING}),
    "IncomingWebhookPayload": _object([], {
        "text": STRING, "username": STRING, "icon_url": STRING, "icon_emoji": STRING, "channel": STRING,
        "props": _OBJECT, "type": STRING, "attachments": array_of(_SLACK_ATTACHMENT), "priority": _OBJECT},
        "Slack-compatible message payload; also accepted as form field `payload`."),
}

COMPONENTS: dict[str, Schema] = {**_RESPONSES, **_REQUESTS}
"""Every named schema, response and request alike, for `components.schemas`."""
