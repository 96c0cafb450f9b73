"""The OpenAPI 3.0 document of the API, built from one declarative table of operations.

The table describes the Mattermost v4 surface Edgenode implements or is about to implement;
`build_document` keeps only the operations the running app actually routes, so the served
document never promises a route that does not exist. `undocumented` lists the app's routes the
table lacks; a test keeps that list empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .openapi_schemas import BOOLEAN, COMPONENTS, ID, ID_OR_ME, INTEGER, STRING, Schema, array_of, ref

__all__ = ["OPERATIONS", "Operation", "Param", "build_document", "route_key", "undocumented"]

Auth = Literal["required", "optional", "none"]


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter (path parameters come from the path template and `PATH_PARAMS`)."""

    name: str
    schema: Schema
    description: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    response: Schema | None
    status: int = 200
    query: tuple[Param, ...] = ()
    body: Schema | None = None
    body_type: str = "application/json"
    body_required: bool = True
    other_bodies: tuple[tuple[str, Schema], ...] = ()  # further accepted media types of the body
    response_type: str = "application/json"
    auth: Auth = "required"


PATH_PARAMS: dict[str, Schema] = {
    "user_id": ID_OR_ME, "team_id": ID, "channel_id": ID, "post_id": ID, "bot_id": ID, "file_id": ID,
    "hook_id": ID, "command_id": ID,
    "username": STRING, "name": STRING, "team_name": STRING, "channel_name": STRING,
    "emoji_name": {"type": "string", "pattern": "^[a-zA-Z0-9_+-]{1,64}$"},
    "category": STRING, "preference_name": STRING,
}

_PAGE = Param("page", {"type": "integer", "minimum": 0}, "page number, from 0")
_PER_PAGE = Param("per_page", {"type": "integer", "minimum": 1, "maximum": 200}, "items per page (default 60)")
PAGING = (_PAGE, _PER_PAGE)
_INCLUDE_DELETED = (Param("include_deleted", BOOLEAN, "also archived channels"),)
_BINARY: Schema = {"type": "string", "format": "binary"}
_IDS = array_of(ID)
_OK_TEXT: Schema = {"type": "string", "enum": ["ok"]}
_PAYLOAD_FORM: Schema = {"type": "object", "required": ["payload"],
                         "properties": {"payload": {"type": "string", "description": "the JSON payload"}}}


def _op(method: str, path: str, summary: str, tag: str, response: Schema | None, *, site_root: bool = False,
        **options: Any) -> Operation:
    """A table row; paths are under /api/v4 unless `site_root` (Mattermost's /hooks/... endpoints)."""
    return Operation(method, path if site_root else "/api/v4" + path, summary, tag, response, **options)


_SYSTEM = [
    _op("GET", "/system/ping", "Check the server is up", "system", ref("Ping"), auth="none"),
    _op("GET", "/config/client", "Client configuration (old format)", "system", ref("ClientConfig"), auth="none",
        query=(Param("format", STRING),)),
    _op("GET", "/audits", "The node's audit log (system admins)", "system", array_of(ref("Audit")), query=PAGING),
    _op("GET", "/openapi.json", "This document", "system", ref("OpenApiDocument"), auth="none"),
    _op("GET", "/edgenode/status", "This node's peer sync: its id, mesh, and each peer (system admins)", "system",
        {"type": "object", "required": ["node", "node_key", "mesh", "sync", "peers"],
         "properties": {"node": STRING, "node_key": STRING, "mesh": {"type": "object"}, "sync": {"type": "object"},
                        "peers": array_of({"type": "object"}), "hub": {"type": "object"}}}),
    _op("POST", "/edgenode/bundles/export", "A bundle file of this node's data: public, for a node, or all "
        "(system admins; docs/bundles.md)", "system", _BINARY, response_type="application/octet-stream",
        body={"type": "object", "properties": {"for": STRING, "all": BOOLEAN, "full": BOOLEAN, "passphrase": STRING}},
        body_required=False),
    _op("POST", "/edgenode/bundles/import", "Verify a bundle file, then apply all of it or nothing (system admins)",
        "system", {"type": "object", "required": ["exporter", "applied", "duplicates"],
                   "properties": {"exporter": STRING, "segments": INTEGER, "ops": INTEGER, "applied": INTEGER,
                                  "duplicates": INTEGER, "blobs": INTEGER, "bytes": INTEGER}},
        body=_BINARY, body_type="application/octet-stream"),
]

_USERS = [
    _op("POST", "/users", "Create a user (the first one is system admin; later ones need an admin)", "users",
        ref("User"), status=201, body=ref("UserCreate"), auth="optional"),
    _op("GET", "/users", "List users", "users", array_of(ref("User")),
        query=(*PAGING, Param("in_team", ID), Param("in_channel", ID))),
    _op("POST", "/users/login", "Log in; the session token is in the Token header", "users", ref("User"),
        body=ref("Login"), auth="none"),
    _op("POST", "/users/logout", "End the session", "users", ref("StatusOK"), body_required=False, auth="optional"),
    _op("POST", "/users/ids", "Users by id", "users", array_of(ref("User")), body=_IDS),
    _op("POST", "/users/usernames", "Users by username", "users", array_of(ref("User")), body=array_of(STRING)),
    _op("POST", "/users/search", "Search users by name", "users", array_of(ref("User")), body=ref("UserSearch")),
    _op("POST", "/users/tokens/revoke", "Revoke a personal access token", "users", ref("StatusOK"),
        body=ref("TokenRevoke")),
    _op("GET", "/users/username/{username}", "A user by username", "users", ref("User")),
    _op("GET", "/users/{user_id}", "A user", "users", ref("User")),
    _op("PUT", "/users/{user_id}/patch", "Change some of a user's fields", "users", ref("User"),
        body=ref("UserPatch")),
    _op("PUT", "/users/{user_id}/roles", "Set a user's system roles (system admins)", "users", ref("StatusOK"),
        body=ref("Roles")),
    _op("PUT", "/users/{user_id}/password", "Change a password (own, with the current one) or reset it (system admins)",
        "users", ref("StatusOK"), body=ref("PasswordUpdate")),
    _op("POST", "/users/{user_id}/tokens", "Create a personal access token", "users", ref("UserAccessToken"),
        body=ref("TokenCreate")),
    _op("GET", "/users/{user_id}/tokens", "A user's personal access tokens (without secrets)", "users",
        array_of(ref("UserAccessTokenSanitized")), query=PAGING),
    _op("GET", "/users/{user_id}/teams", "The teams a user belongs to", "users", array_of(ref("Team"))),
    _op("GET", "/users/{user_id}/teams/members", "A user's team memberships", "users", array_of(ref("TeamMember"))),
    _op("GET", "/users/{user_id}/teams/unread", "Unread counts of every team of a user", "users",
        array_of(ref("TeamUnread"))),
    _op("GET", "/users/{user_id}/teams/{team_id}/unread", "Unread counts of one team", "users", ref("TeamUnread")),
    _op("GET", "/users/{user_id}/teams/{team_id}/channels", "A user's channels in a team", "users",
        array_of(ref("Channel")), query=_INCLUDE_DELETED),
    _op("GET", "/users/{user_id}/teams/{team_id}/channels/members", "A user's channel memberships in a team",
        "users", array_of(ref("ChannelMember"))),
    _op("GET", "/users/{user_id}/channels/{channel_id}/unread", "Unread counts of a channel", "users",
        ref("ChannelUnread")),
    _op("POST", "/bots", "Create a bot account", "bots", ref("Bot"), status=201, body=ref("BotCreate")),
    _op("GET", "/bots", "List bots", "bots", array_of(ref("Bot")), query=PAGING),
    _op("GET", "/bots/{bot_id}", "A bot", "bots", ref("Bot")),
]

_SESSION: Schema = {
    "type": "object", "required": ["id", "token", "create_at", "expires_at", "last_activity_at", "user_id", "roles"],
    "properties": {"id": STRING, "token": {"type": "string", "enum": [""], "description": "never sent"},
                   "create_at": INTEGER, "expires_at": INTEGER, "last_activity_at": INTEGER, "user_id": STRING,
                   "device_id": STRING, "roles": STRING, "is_oauth": BOOLEAN, "props": {"type": "object"}},
}
_CLIENT_START = [  # what the official clients call when they start (edgenode/api/routes/client_start.py)
    _op("GET", "/users/autocomplete", "Users matching a name, among those the caller may see", "users",
        {"type": "object", "required": ["users"],
         "properties": {"users": array_of(ref("User")), "out_of_channel": array_of(ref("User"))}},
        query=(Param("name", STRING, "prefix of a username, first or last name or nickname"),
               Param("in_team", ID), Param("in_channel", ID),
               Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}))),
    _op("POST", "/users/status/ids", "The status of each user (online while connected to this node)", "users",
        array_of({"type": "object", "required": ["user_id", "status", "manual", "last_activity_at"],
                  "properties": {"user_id": STRING, "status": STRING, "manual": BOOLEAN,
                                 "last_activity_at": INTEGER, "dnd_end_time": INTEGER}}),
        body=_IDS),
    _op("GET", "/users/{user_id}/sessions", "A user's login sessions on this node, without tokens", "users",
        array_of(_SESSION)),
    _op("POST", "/users/{user_id}/sessions/revoke", "End one of a user's sessions", "users", ref("StatusOK"),
        body={"type": "object", "required": ["session_id"], "properties": {"session_id": STRING}}),
    _op("GET", "/emoji", "Custom emoji (none on this node)", "emoji", array_of({"type": "object"}),
        query=(*PAGING, Param("sort", {"type": "string", "enum": ["", "name"]}))),
    _op("GET", "/license/client", "The client license (old format): this node is unlicensed", "system",
        {"type": "object", "required": ["IsLicensed"], "properties": {"IsLicensed": {"type": "string"}}},
        query=(Param("format", {"type": "string", "enum": ["old"]}),), auth="none"),
]

_TEAMS = [
    _op("POST", "/teams", "Create a team", "teams", ref("Team"), status=201, body=ref("TeamCreate")),
    _op("GET", "/teams", "List teams the caller may see", "teams", array_of(ref("Team")), query=PAGING),
    _op("GET", "/teams/name/{name}", "A team by name", "teams", ref("Team")),
    _op("GET", "/teams/name/{team_name}/channels/name/{channel_name}", "A channel by team and channel name",
        "channels", ref("Channel"), query=_INCLUDE_DELETED),
    _op("GET", "/teams/{team_id}", "A team", "teams", ref("Team")),
    _op("PUT", "/teams/{team_id}/patch", "Change some of a team's fields", "teams", ref("Team"),
        body=ref("TeamPatch")),
    _op("GET", "/teams/{team_id}/members", "A team's members", "teams", array_of(ref("TeamMember")), query=PAGING),
    _op("POST", "/teams/{team_id}/members", "Add a user to a team", "teams", ref("TeamMember"), status=201,
        body=ref("TeamMemberAdd")),
    _op("GET", "/teams/{team_id}/members/{user_id}", "A team membership", "teams", ref("TeamMember")),
    _op("DELETE", "/teams/{team_id}/members/{user_id}", "Remove a user from a team", "teams", ref("StatusOK")),
    _op("GET", "/teams/{team_id}/channels", "A team's public channels", "channels", array_of(ref("Channel")),
        query=PAGING),
    _op("GET", "/teams/{team_id}/channels/name/{channel_name}", "A channel by name", "channels", ref("Channel"),
        query=_INCLUDE_DELETED),
]

_CHANNELS = [
    _op("POST", "/channels", "Create a public or private channel", "channels", ref("Channel"), status=201,
        body=ref("ChannelCreate")),
    _op("POST", "/channels/direct", "Open the direct channel of two users", "channels", ref("Channel"), status=201,
        body=_IDS),
    _op("POST", "/channels/group", "Open a group channel of 3 to 8 users", "channels", ref("Channel"), status=201,
        body=_IDS),
    _op("POST", "/channels/members/{user_id}/view", "Mark a channel read", "channels", ref("ChannelViewResponse"),
        body=ref("ChannelView")),
    _op("GET", "/channels/{channel_id}", "A channel", "channels", ref("Channel")),
    _op("PUT", "/channels/{channel_id}", "Update a channel", "channels", ref("Channel"), body=ref("ChannelPatch")),
    _op("DELETE", "/channels/{channel_id}", "Archive a channel", "channels", ref("StatusOK")),
    _op("PUT", "/channels/{channel_id}/patch", "Change some of a channel's fields", "channels", ref("Channel"),
        body=ref("ChannelPatch")),
    _op("POST", "/channels/{channel_id}/restore", "Unarchive a channel", "channels", ref("Channel"),
        body_required=False),
    _op("GET", "/channels/{channel_id}/stats", "Member and pinned-post counts", "channels", ref("ChannelStats")),
    _op("GET", "/channels/{channel_id}/posts", "A channel's posts: since, else after/before a post, else newest",
        "posts", ref("PostList"),
        query=(*PAGING, Param("since", {"type": "integer", "minimum": 0}, "Unix ms; wins over before/after"),
               Param("before", STRING, "a post id"), Param("after", STRING, "a post id"))),
    _op("GET", "/channels/{channel_id}/pinned", "A channel's pinned posts", "posts", ref("PostList")),
    _op("GET", "/channels/{channel_id}/members", "A channel's members", "channels", array_of(ref("ChannelMember")),
        query=PAGING),
    _op("POST", "/channels/{channel_id}/members", "Add a user to a channel", "channels", ref("ChannelMember"),
        status=201, body=ref("ChannelMemberAdd")),
    _op("GET", "/channels/{channel_id}/members/{user_id}", "A channel membership", "channels",
        ref("ChannelMember")),
    _op("DELETE", "/channels/{channel_id}/members/{user_id}", "Remove a user from a channel", "channels",
        ref("StatusOK")),
    _op("PUT", "/channels/{channel_id}/members/{user_id}/roles", "Set a member's channel roles", "channels",
        ref("StatusOK"), body=ref("Roles")),
    _op("PUT", "/channels/{channel_id}/members/{user_id}/notify_props", "Set a member's notification settings",
        "channels", ref("StatusOK"), body=ref("ChannelMemberNotifyProps")),
]

_POSTS = [
    _op("POST", "/posts", "Create a post as the caller", "posts", ref("Post"), status=201, body=ref("PostCreate")),
    _op("POST", "/posts/ids", "Posts by id", "posts", array_of(ref("Post")), body=_IDS),
    _op("GET", "/posts/{post_id}", "A post", "posts", ref("Post")),
    _op("PUT", "/posts/{post_id}", "Update a post (body id must match)", "posts", ref("Post"),
        body=ref("PostUpdate")),
    _op("DELETE", "/posts/{post_id}", "Delete a post", "posts", ref("StatusOK")),
    _op("PUT", "/posts/{post_id}/patch", "Change some of a post's fields", "posts", ref("Post"),
        body=ref("PostPatch")),
    _op("GET", "/posts/{post_id}/thread", "A post's whole thread", "posts", ref("PostList")),
    _op("POST", "/posts/{post_id}/pin", "Pin a post to its channel", "posts", ref("StatusOK"), body_required=False),
    _op("POST", "/posts/{post_id}/unpin", "Unpin a post", "posts", ref("StatusOK"), body_required=False),
    _op("GET", "/posts/{post_id}/files/info", "The files attached to a post", "files", array_of(ref("FileInfo"))),
    _op("GET", "/users/{user_id}/posts/flagged", "A user's saved (flagged) posts", "posts", ref("PostList"),
        query=(*PAGING, Param("team_id", ID), Param("channel_id", ID))),
    _op("GET", "/users/{user_id}/channels/{channel_id}/posts/unread", "Posts around the first unread one", "posts",
        ref("PostList"), query=(Param("limit_before", INTEGER), Param("limit_after", INTEGER))),
    _op("POST", "/users/{user_id}/posts/{post_id}/set_unread", "Mark a channel unread from a post on", "posts",
        ref("ChannelUnread"), body_required=False),
    _op("POST", "/teams/{team_id}/posts/search", "Search a team's posts", "search", ref("PostSearchResults"),
        body=ref("PostSearch")),
    _op("POST", "/posts/search", "Search posts in every team of the caller", "search", ref("PostSearchResults"),
        body=ref("PostSearch")),
]

_REACTIONS = [
    _op("POST", "/reactions", "React to a post as the caller", "reactions", ref("Reaction"), status=200,
        body=ref("ReactionCreate")),
    _op("GET", "/posts/{post_id}/reactions", "A post's reactions", "reactions", array_of(ref("Reaction"))),
    _op("DELETE", "/users/{user_id}/posts/{post_id}/reactions/{emoji_name}", "Remove a reaction", "reactions",
        ref("StatusOK")),
    _op("POST", "/posts/ids/reactions", "Reactions of several posts, keyed by post id", "reactions",
        {"type": "object", "additionalProperties": array_of(ref("Reaction"))}, body=_IDS),
]

_FILES = [
    _op("POST", "/files", "Upload files (multipart)", "files", ref("FileUploadResponse"), status=201,
        body=ref("FileUpload"), body_type="multipart/form-data",
        query=(Param("channel_id", ID), Param("filename", STRING))),
    _op("GET", "/files/{file_id}", "A file's bytes", "files", _BINARY, response_type="*/*"),
    _op("GET", "/files/{file_id}/info", "A file's metadata", "files", ref("FileInfo")),
    _op("GET", "/files/{file_id}/thumbnail", "A file's thumbnail", "files", _BINARY, response_type="*/*"),
    _op("GET", "/files/{file_id}/preview", "A file's preview", "files", _BINARY, response_type="*/*"),
]

_PREFERENCES = [
    _op("GET", "/users/{user_id}/preferences", "All of a user's preferences", "preferences",
        array_of(ref("Preference"))),
    _op("PUT", "/users/{user_id}/preferences", "Save preferences", "preferences", ref("StatusOK"),
        body=array_of(ref("Preference"))),
    _op("POST", "/users/{user_id}/preferences/delete", "Delete preferences", "preferences", ref("StatusOK"),
        body=array_of(ref("Preference"))),
    _op("GET", "/users/{user_id}/preferences/{category}", "A user's preferences of one category", "preferences",
        array_of(ref("Preference"))),
    _op("GET", "/users/{user_id}/preferences/{category}/name/{preference_name}", "One preference", "preferences",
        ref("Preference")),
]

_HOOKS = [
    _op("POST", "/hooks/incoming", "Create an incoming webhook", "webhooks", ref("IncomingWebhook"), status=201,
        body=ref("IncomingWebhookCreate")),
    _op("GET", "/hooks/incoming", "List incoming webhooks", "webhooks", array_of(ref("IncomingWebhook")),
        query=(*PAGING, Param("team_id", ID))),
    _op("GET", "/hooks/incoming/{hook_id}", "An incoming webhook", "webhooks", ref("IncomingWebhook")),
    _op("PUT", "/hooks/incoming/{hook_id}", "Update an incoming webhook", "webhooks", ref("IncomingWebhook"),
        body=ref("IncomingWebhookCreate")),
    _op("DELETE", "/hooks/incoming/{hook_id}", "Delete an incoming webhook", "webhooks", ref("StatusOK")),
    _op("POST", "/hooks/outgoing", "Create an outgoing webhook", "webhooks", ref("OutgoingWebhook"), status=201,
        body=ref("OutgoingWebhookCreate")),
    _op("GET", "/hooks/outgoing", "List outgoing webhooks", "webhooks", array_of(ref("OutgoingWebhook")),
        query=(*PAGING, Param("team_id", ID), Param("channel_id", ID))),
    _op("GET", "/hooks/outgoing/{hook_id}", "An outgoing webhook", "webhooks", ref("OutgoingWebhook")),
    _op("PUT", "/hooks/outgoing/{hook_id}", "Update an outgoing webhook", "webhooks", ref("OutgoingWebhook"),
        body=ref("OutgoingWebhookCreate")),
    _op("DELETE", "/hooks/outgoing/{hook_id}", "Delete an outgoing webhook", "webhooks", ref("StatusOK")),
    _op("POST", "/hooks/outgoing/{hook_id}/regen_token", "Give an outgoing webhook a new token", "webhooks",
        ref("OutgoingWebhook"), body_required=False),
    _op("POST", "/hooks/{hook_id}", "Post through an incoming webhook (site root, Slack-compatible payload)",
        "webhooks", _OK_TEXT, body=ref("IncomingWebhookPayload"), response_type="text/plain", auth="none",
        site_root=True, other_bodies=(("application/x-www-form-urlencoded", _PAYLOAD_FORM),
                                      ("multipart/form-data", ref("IncomingWebhookPayload")))),
]

_COMMANDS = [
    _op("POST", "/commands", "Create a custom slash command", "commands", ref("Command"), status=201,
        body=ref("CommandCreate")),
    _op("GET", "/commands", "List a team's commands", "commands", array_of(ref("Command")),
        query=(Param("team_id", ID), Param("custom_only", BOOLEAN))),
    _op("POST", "/commands/execute", "Run a slash command in a channel", "commands", ref("CommandResponse"),
        body=ref("CommandExecute")),
    _op("GET", "/commands/{command_id}", "A command", "commands", ref("Command")),
    _op("PUT", "/commands/{command_id}", "Update a command", "commands", ref("Command"), body=ref("CommandCreate")),
    _op("DELETE", "/commands/{command_id}", "Delete a command", "commands", ref("StatusOK")),
    _op("PUT", "/commands/{command_id}/regen_token", "Give a command a new token", "commands",
        {"type": "object", "required": ["token"], "properties": {"token": STRING}}, body_required=False),
    _op("GET", "/teams/{team_id}/commands/autocomplete", "Commands offered for autocomplete", "commands",
        array_of(ref("Command"))),
    _op("POST", "/hooks/commands/{hook_id}", "A command's delayed answer, through its response_url", "commands",
        _OK_TEXT, body=ref("CommandResponse"), response_type="text/plain", auth="none", site_root=True),
]

# the web UI (docs/ui.md): its files at the site root, and the two routes it adds for what Mattermost has none of
_UI = [
    _op("GET", "/", "The web UI's app shell (HTML)", "ui", STRING, response_type="text/html", auth="none", site_root=True),
    _op("GET", "/sw.js", "The web UI's service worker", "ui", STRING, response_type="text/javascript", auth="none",
        site_root=True),
    _op("GET", "/manifest.webmanifest", "The web UI's PWA manifest", "ui", {"type": "object"},
        response_type="application/manifest+json", auth="none", site_root=True),
    _op("GET", "/static/{name}", "A file of the web UI (scripts, styles, vendored libraries)", "ui", _BINARY,
        response_type="*/*", auth="none", site_root=True),
    _op("PUT", "/users/{user_id}/active", "Activate or deactivate a user (system admins; not oneself)", "users",
        ref("StatusOK"), body={"type": "object", "required": ["active"], "properties": {"active": BOOLEAN}}),
    _op("POST", "/edgenode/delivery", "Whether each post (of those the user may read) has reached another node yet",
        "ui", {"type": "object", "required": ["posts", "peers_connected"],
               "properties": {"posts": {"type": "object", "additionalProperties": BOOLEAN},
                              "peers_connected": {"type": "integer", "minimum": 0}}}, body=_IDS),
    _op("POST", "/edgenode/mesh/invites", "A one-node invite token, a secret (system admins, on the mesh authority)",
        "ui", {"type": "object", "required": ["token", "node", "node_key", "hub"],
               "properties": {"token": STRING, "node": STRING, "node_key": STRING, "hub": BOOLEAN}}, status=201,
        body={"type": "object", "properties": {"hub": BOOLEAN}}, body_required=False),
    _op("POST", "/edgenode/mesh/revocations", "Revoke a node of the mesh (system admins, on the mesh authority)", "ui",
        {"type": "object", "required": ["node_key", "revoked_at", "reason"],
         "properties": {"node_key": STRING, "revoked_at": {"type": "integer"}, "reason": STRING}}, status=201,
        body={"type": "object", "required": ["node"], "properties": {"node": STRING, "reason": STRING}}),
    _op("GET", "/edgenode/revocations", "The nodes the mesh authority revoked (system admins)", "ui",
        array_of({"type": "object", "required": ["node_key", "revoked_at", "reason"],
                  "properties": {"node_key": STRING, "revoked_at": {"type": "integer"}, "reason": STRING}})),
]

OPERATIONS: tuple[Operation, ...] = (*_SYSTEM, *_USERS, *_CLIENT_START, *_TEAMS, *_CHANNELS, *_POSTS, *_REACTIONS, *_FILES,
                                     *_PREFERENCES, *_HOOKS, *_COMMANDS, *_UI)

_PARAM = re.compile(r"\{[^}]*\}")


def route_key(method: str, path: str) -> tuple[str, str]:
    """How a route is matched to the table: method, and the path with parameter names blanked."""
    return method.upper(), _PARAM.sub("{}", path)


def undocumented(routes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (method, path) routes the table does not describe."""
    known = {route_key(o.method, o.path) for o in OPERATIONS}
    return sorted(r for r in set(routes) if route_key(*r) not in known)


def _operation_id(operation: Operation) -> str:
    words = re.sub(r"[{}]", "", operation.path.removeprefix("/api/v4")).replace(".", "_").strip("/").split("/")
    return "_".join([operation.method.lower(), *(w.replace("-", "_") for w in words)])


_SECURITY: dict[Auth, list[dict[str, list[str]]] | None] = {
    "required": None,  # the document's default: a bearer token
    "none": [],
    "optional": [{}, {"bearer": []}],
}


def _describe(operation: Operation) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, STRING)}
                  for name in re.findall(r"\{([^}]*)\}", operation.path)]
    parameters += [{"name": p.name, "in": "query", "required": False, "schema": p.schema,
                    **({"description": p.description} if p.description else {})} for p in operation.query]
    success: dict[str, Any] = {"description": operation.summary}
    if operation.response is not None:
        success["content"] = {operation.response_type: {"schema": operation.response}}
    described: dict[str, Any] = {
        "operationId": _operation_id(operation),
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": parameters,
        "responses": {str(operation.status): success, "4XX": {"$ref": "#/components/responses/Error"}},
    }
    if operation.body is not None:
        content = {operation.body_type: {"schema": operation.body}}
        content.update({media: {"schema": schema} for media, schema in operation.other_bodies})
        described["requestBody"] = {"required": operation.body_required, "content": content}
    security = _SECURITY[operation.auth]
    if security is not None:
        described["security"] = security
    return described


def build_document(routes: Iterable[tuple[str, str]], version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the table's operations that `routes` (method, path) implement."""
    implemented = {route_key(*r) for r in routes}
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        if route_key(operation.method, operation.path) in implemented:
            paths.setdefault(operation.path, {})[operation.method.lower()] = _describe(operation)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Edgenode Mattermost-compatible API",
            "version": version,
            "description": "The Mattermost API v4 subset served by an Edgenode node. Errors are Mattermost's "
                           "AppError JSON. Authenticate with `Authorization: Bearer <session or access token>`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "responses": {"Error": {"description": "Mattermost's error body",
                                    "content": {"application/json": {"schema": ref("AppError")}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a session token (from login) or a personal access token"}},
        },
    }
