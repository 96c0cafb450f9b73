"""Mattermost's built-in slash commands (server/channels/app/slashcommands), on our services.

Each command answers with a CommandResponse; problems a user can fix are ephemeral texts, never
errors, as in Mattermost. /away, /online, /offline and /dnd only acknowledge: this node keeps no
user status. /search asks the search service when the node has one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from .channels import ChannelService
from .command_response import EPHEMERAL, IN_CHANNEL, CommandCall, CommandResponse
from .context import Context
from .errors import BadRequest, Forbidden, ServiceError
from .membership import Memberships
from .names import CHANNEL, TEAM, USERNAME, Names
from .posts import PostService
from .users import Session

__all__ = ["BUILTIN_COMMANDS", "SHRUG", "BuiltinCommand", "Builtins", "SearchPort"]

SHRUG = "¯\\\\\\_(ツ)\\_/¯"  # Markdown-escaped, exactly as Mattermost posts it
MAX_ECHO_DELAY_SECONDS = 10_000
_INTEGER = re.compile(r"^[+-]?\d+$")


class SearchPort(Protocol):
    """The part of the search service /search uses."""

    async def search(self, team_id: str, terms: str, actor: Session) -> Any: ...


@dataclass(frozen=True, slots=True)
class BuiltinCommand:
    trigger: str
    display_name: str
    description: str
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        """A built-in as Mattermost lists it: a Command with everything secret or unknown left blank."""
        return {
            "id": "", "token": "", "create_at": 0, "update_at": 0, "delete_at": 0, "creator_id": "", "team_id": "",
            "trigger": self.trigger, "method": "", "username": "", "icon_url": "", "auto_complete": True,
            "auto_complete_desc": self.description, "auto_complete_hint": self.hint, "display_name": self.display_name,
            "description": "", "url": "", "plugin_id": "",
        }


BUILTIN_COMMANDS = {c.trigger: c for c in (
    BuiltinCommand("away", "away", "Set your status away"),
    BuiltinCommand("dnd", "dnd", "Do not disturb disables desktop and mobile push notifications."),
    BuiltinCommand("echo", "echo", "Echo back text from your account", '"message" [delay in seconds]'),
    BuiltinCommand("header", "header", "Edit the channel header", "[text]"),
    BuiltinCommand("invite", "invite", "Invite a user to a channel", "@[username] ~[channel]"),
    BuiltinCommand("join", "join", "Join the open channel", "~[channel]"),
    BuiltinCommand("kick", "kick", "Remove a member from the channel", "@[username]"),
    BuiltinCommand("leave", "leave", "Leave the current channel"),
    BuiltinCommand("me", "me", "Do an action", "[message]"),
    BuiltinCommand("msg", "message", "Send Direct Message to a user", "@[username] [message]"),
    BuiltinCommand("offline", "offline", "Set your status offline"),
    BuiltinCommand("online", "online", "Set your status online"),
    BuiltinCommand("open", "open", "Open a channel", "~[channel]"),
    BuiltinCommand("purpose", "purpose", "Edit the channel purpose", "[text]"),
    BuiltinCommand("remove", "remove", "Remove a member from the channel", "@[username]"),
    BuiltinCommand("search", "search", "Search text in messages", "[text]"),
    BuiltinCommand("shrug", "shrug", "Adds ¯\\_(ツ)_/¯ to your message", "[message]"),
)}

_STATUS_TEXT = {
    "away": "You are now away",
    "online": "You are now online",
    "offline": "You are now offline",
    "dnd": "Do Not Disturb is enabled. You will not receive desktop or mobile push notifications until Do Not "
           "Disturb is turned off.",
}


def echo_arguments(message: str) -> tuple[str, int]:
    """`/echo` text and delay: `"quoted text" 5` or `text 5` (Mattermost's parsing)."""
    delay = 0
    end = message.rfind('"')
    if message.startswith('"') and end > 1:
        tail = message[end:].strip(' "')
        if _INTEGER.match(tail):
            delay = int(tail)
        return message[1:end], delay
    if " " in message:
        index = message.rfind(" ")
        tail = message[index:].strip(" ")
        if _INTEGER.match(tail):
            return message[:index], int(tail)
    return message, delay


class Builtins:
    """Runs built-in commands for the command service."""

    def __init__(self, ctx: Context, channels: ChannelService, members: Memberships, posts: PostService, *,
                 search: Callable[[], SearchPort | None], sleep: Callable[[float], Awaitable[None]],
                 spawn: Callable[[Coroutine[Any, Any, None]], None]):
        self._ctx = ctx
        self._channels = channels
        self._members = members
        self._posts = posts
        self._search = search
        self._sleep = sleep
        self._spawn = spawn

    @staticmethod
    def get(trigger: str) -> BuiltinCommand | None:
        return BUILTIN_COMMANDS.get(trigger)

    async def run(self, call: CommandCall) -> CommandResponse:
        if call.trigger in _STATUS_TEXT:
            return CommandResponse.ephemeral(_STATUS_TEXT[call.trigger])
        handler = {
            "echo": self._echo, "header": self._header, "invite": self._invite, "join": self._join, "open": self._join,
            "kick": self._remove, "remove": self._remove, "leave": self._leave, "me": self._me, "msg": self._msg,
            "purpose": self._purpose, "search": self._search_posts, "shrug": self._shrug,
        }[call.trigger]
        return await handler(call)

    # -- helpers ---------------------------------------------------------------------------

    async def _team_url(self, call: CommandCall) -> str:
        row = await self._ctx.store.fetchone("SELECT name FROM teams WHERE id = ?", (call.team_id,))
        return f"{call.site_url}/{await Names.of(self._ctx).shown(TEAM, call.team_id, row['name'])}" if row else call.site_url

    async def _user(self, username: str) -> Any:
        user_id = await Names.of(self._ctx).resolve(USERNAME, username.removeprefix("@"))
        if user_id is None:
            return None
        row = await self._ctx.store.fetchone(
            "SELECT id, username FROM users WHERE id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0", (user_id,))
        return None if row is None else {"id": row["id"],
                                         "username": await Names.of(self._ctx).shown(USERNAME, row["id"], row["username"])}

    async def _channel_named(self, team_id: str, name: str) -> Any:
        channel_id = await Names.of(self._ctx).resolve(CHANNEL, name, team_id)
        if channel_id is None:
            return None
        return await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ? AND _deleted = 0", (channel_id,))

    # -- posting ---------------------------------------------------------------------------

    async def _me(self, call: CommandCall) -> CommandResponse:
        return CommandResponse(response_type=IN_CHANNEL, type="me", text=f"*{call.message}*")

    async def _shrug(self, call: CommandCall) -> CommandResponse:
        return CommandResponse(response_type=IN_CHANNEL, text=f"{call.message} {SHRUG}" if call.message else SHRUG)

    async def _echo(self, call: CommandCall) -> CommandResponse:
        if not call.message:
            return CommandResponse.ephemeral("A message must be provided with the /echo command.")
        text, delay = echo_arguments(call.message)
        if delay > MAX_ECHO_DELAY_SECONDS:
            return CommandResponse.ephemeral(f"Delays must be under {MAX_ECHO_DELAY_SECONDS} seconds.")
        body = {"channel_id": call.channel_id, "message": text, "root_id": call.root_id}
        if delay <= 0:
            try:
                await self._posts.create(body, call.actor)
            except ServiceError as exc:
                return CommandResponse.ephemeral(exc.message)
            return CommandResponse()

        async def later() -> None:
            await self._sleep(delay)
            # it acts for the user when it fires: not for one deactivated meanwhile (here or on a peer)
            if await self._ctx.store.fetchone("SELECT 1 FROM users WHERE id = ? AND _deleted = 0 "
                                              "AND coalesce(delete_at, 0) = 0", (call.actor.user_id,)) is None:
                return
            await self._posts.create(body, call.actor)

        self._spawn(later())
        return CommandResponse()

    async def _msg(self, call: CommandCall) -> CommandResponse:
        username, _, text = call.message.partition(" ")
        user = await self._user(username)
        if user is None or user["id"] == call.actor.user_id:
            return CommandResponse.ephemeral("We couldn't find the user.")
        direct = await self._channels.direct([call.actor.user_id, user["id"]], call.actor)
        if text:
            try:
                await self._posts.create({"channel_id": direct["id"], "message": text}, call.actor)
            except ServiceError:
                return CommandResponse.ephemeral("Unable to send the message.")
        return CommandResponse(response_type=EPHEMERAL, goto_location=f"{await self._team_url(call)}/channels/{direct['name']}")

    async def _search_posts(self, call: CommandCall) -> CommandResponse:
        service = self._search()
        if service is None:
            return CommandResponse.ephemeral("Search is unavailable on this node.")
        terms = call.message.strip()
        if not terms:
            return CommandResponse.ephemeral("Type what to search for after /search.")
        found = await service.search(call.team_id, terms, call.actor)
        posts = _posts_of(found)
        if not posts:
            return CommandResponse.ephemeral(f'No results for "{terms}".')
        lines = [f'{len(posts)} result{"s" if len(posts) != 1 else ""} for "{terms}":']
        lines += ["> " + " ".join(str(p.get("message", "")).split())[:200] for p in posts[:10]]
        return CommandResponse.ephemeral("\n".join(lines))

    # -- channels ----------------------------------------------------------------------------

    async def _join(self, call: CommandCall) -> CommandResponse:
        failed = CommandResponse.ephemeral("An error occurred while joining the channel.")
        name = call.message.strip().removeprefix("~").lower()
        channel = await self._channel_named(call.team_id, name) if name else None
        if not name or channel is None:
            return CommandResponse.ephemeral("Unable to find the channel.")
        if channel["type"] == "P" and not (call.actor.is_system_admin or
                                           await self._members.is_channel_member(channel["id"], call.actor.user_id)):
            return failed
        if channel["type"] not in ("O", "P"):
            return failed
        try:
            await self._channels.add_member(channel["id"], call.actor.user_id, call.actor)
        except ServiceError:
            return failed
        return CommandResponse(goto_location=f"{await self._team_url(call)}/channels/{channel['name']}")

    async def _leave(self, call: CommandCall) -> CommandResponse:
        try:
            await self._channels.remove_member(call.channel_id, call.actor.user_id, call.actor)
        except ServiceError as exc:
            if exc.error_id == "api.channel.leave.default.app_error":
                return CommandResponse.ephemeral("Unable to leave the default channel town-square.")
            return CommandResponse.ephemeral("An error occurred while leaving the channel.")
        if not call.team_id:
            return CommandResponse(goto_location=call.site_url + "/")
        return CommandResponse(goto_location=f"{await self._team_url(call)}/channels/town-square")

    async def _header(self, call: CommandCall) -> CommandResponse:
        return await self._set_property(call, "header", 1024)

    async def _purpose(self, call: CommandCall) -> CommandResponse:
        if call.channel["type"] in ("D", "G"):
            return CommandResponse.ephemeral("Unable to set the purpose of a direct or group message channel. "
                                             "Use /header to set the header instead.")
        return await self._set_property(call, "purpose", 250)

    async def _set_property(self, call: CommandCall, name: str, limit: int) -> CommandResponse:
        if not call.message:
            return CommandResponse.ephemeral(f"Text must be provided with the /{name} command.")
        try:
            await self._channels.patch(call.channel_id, {name: call.message}, call.actor)
        except Forbidden:
            return CommandResponse.ephemeral(f"You don't have the appropriate permissions to edit the channel {name}.")
        except BadRequest:
            return CommandResponse.ephemeral(f"The channel {name} is limited to {limit} characters.")
        return CommandResponse()

    async def _remove(self, call: CommandCall) -> CommandResponse:
        if call.channel["type"] not in ("O", "P"):
            return CommandResponse.ephemeral("You can't remove someone from a direct or group message channel.")
        if not call.message:
            return CommandResponse.ephemeral("A message must be provided with the /remove or /kick command.")
        user = await self._user(call.message.split(" ", 1)[0])
        if user is None:
            return CommandResponse.ephemeral("We couldn't find the user. They may have been deactivated.")
        if not await self._members.is_channel_member(call.channel_id, user["id"]):
            return CommandResponse.ephemeral(f"{user['username']} is not a member of this channel.")
        try:
            await self._channels.remove_member(call.channel_id, user["id"], call.actor)
        except Forbidden:
            return CommandResponse.ephemeral("You don't have the appropriate permissions to remove the member.")
        except ServiceError as exc:
            return CommandResponse.ephemeral(exc.message)
        return CommandResponse()

    async def _invite(self, call: CommandCall) -> CommandResponse:
        """`/invite @user [@user ...] [~channel ...]`: into the named channels, else the current one."""
        if not call.message.strip():
            return CommandResponse.ephemeral("Missing Username and Channel.")
        notes: list[str] = []
        users, channels = [], []
        for index, word in enumerate(w for w in call.message.split(" ") if w):
            if word.startswith("@") or (index == 0 and not word.startswith("~")):
                user = await self._user(word)
                if user is None:
                    notes.append(f"We couldn't find the user {word.removeprefix('@')}. "
                                 "They may have been deactivated by the System Administrator.")
                else:
                    users.append(user)
            else:
                name = word.removeprefix("~")
                channel = await self._channel_named(call.team_id, name)
                if channel is None or int(channel["delete_at"] or 0):
                    notes.append(f"Could not find the channel {name}. Please use the channel handle to identify channels.")
                else:
                    channels.append(channel)
        if not users or (not channels and notes):
            return CommandResponse.ephemeral("\n".join(notes) or "Missing Username and Channel.")
        for channel in channels or [call.channel]:
            notes += await self._invite_to(call, users, channel)
        return CommandResponse.ephemeral("\n".join(notes))

    async def _invite_to(self, call: CommandCall, users: list[Any], channel: Any) -> list[str]:
        if channel["type"] not in ("O", "P"):
            return ["You can't add someone to a direct or group message channel."]
        notes, added = [], []
        for user in users:
            if await self._members.is_channel_member(channel["id"], user["id"]):
                notes.append(f"@{user['username']} is already in the channel.")
            elif not await self._members.is_team_member(channel["team_id"], user["id"]):
                notes.append(f"@{user['username']} isn't a member of the team.")
            else:
                try:
                    await self._channels.add_member(channel["id"], user["id"], call.actor)
                except Forbidden:
                    notes.append(f"You don't have enough permissions to add @{user['username']} in ~{channel['name']}.")
                    continue
                except ServiceError as exc:
                    notes.append(exc.message)
                    continue
                if channel["id"] != call.channel_id:
                    added.append(user["username"])
        if added:
            notes.append(f"@{', @'.join(added)} added to ~{channel['name']} channel.")
        return notes


def _posts_of(found: Any) -> list[dict[str, Any]]:
    """Posts from what the search service returns: a PostList ({order, posts}) or a list of posts."""
    if isinstance(found, dict) and isinstance(found.get("posts"), dict):
        order = found.get("order") or list(found["posts"])
        return [found["posts"][i] for i in order if isinstance(found["posts"].get(i), dict)]
    if isinstance(found, list):
        return [p for p in found if isinstance(p, dict)]
    return []
