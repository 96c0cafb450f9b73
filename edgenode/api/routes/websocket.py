"""The Mattermost WebSocket, /api/v4/websocket: authentication, the event stream and client actions.

A client authenticates at the upgrade (MMAUTHTOKEN cookie, Authorization header or access_token
query) or, failing that, with an `authentication_challenge` action. It then receives a `hello`
event (seq 0) and every later event its user may see, each with the next seq of this connection,
and may send actions (`user_typing`, `ping`, `get_statuses`, ...), each answered by a reply that
echoes its seq. A refused action gets an error reply; only an invalid session closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from edgenode.api.auth import token_from
from edgenode.api.middleware import VERSION_ID
from edgenode.ids import is_valid_id, new_id
from edgenode.json_depth import loads as bounded_loads
from edgenode.services import BadRequest, Broadcast, Event, ServiceError, Services, Session, Unauthorized
from edgenode.services.errors import NotImplementedYet, PayloadTooLarge
from edgenode.services.events import Audience, Subscription

__all__ = [
    "AUTH_TIMEOUT_S",
    "CLOSE_FELL_BEHIND",
    "CLOSE_SESSION_INVALID",
    "MAX_ACTION_BYTES",
    "BadFrame",
    "ClientAction",
    "error_frame",
    "event_frame",
    "parse_action",
    "reply_frame",
    "routes",
]

MAX_ACTION_BYTES = 64 * 1024
"""Client actions are a few hundred bytes; a longer message (in characters or bytes) is refused unparsed."""
AUTH_TIMEOUT_S = 60.0
"""How long an unauthenticated connection may stay open waiting for its authentication_challenge."""
MAX_STATUS_IDS = 1000
CLOSE_SESSION_INVALID = 1008
"""Close code when the session is missing, expired or logged out: the client must log in again."""
CLOSE_FELL_BEHIND = 1013
"""Close code when the connection lost events because it read too slowly: reconnect and reload."""

_HOSTNAME = socket.gethostname()


# -- frames (pure) -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClientAction:
    """A decoded client message: `{"seq": n, "action": "...", "data": {...}}`."""

    seq: int
    action: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A client message that could not be decoded, and the seq to answer it with (0 if unknown)."""

    seq: int
    error: ServiceError


def parse_action(raw: str | bytes | None) -> ClientAction | BadFrame:
    if raw is None:
        return BadFrame(0, BadRequest("Empty WebSocket message.", "api.web_socket_router.bad_json.app_error"))
    if len(raw) > MAX_ACTION_BYTES:
        return BadFrame(0, PayloadTooLarge(f"WebSocket messages are limited to {MAX_ACTION_BYTES} bytes.",
                                           "api.web_socket_router.too_large.app_error"))
    try:
        message = bounded_loads(raw)
    except (ValueError, UnicodeDecodeError):
        message = None
    if not isinstance(message, dict):
        return BadFrame(0, BadRequest("WebSocket messages must be JSON objects.",
                                      "api.web_socket_router.bad_json.app_error"))
    seq = message.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq <= 0:
        return BadFrame(0, BadRequest("Invalid sequence: seq must be a positive integer.",
                                      "api.web_socket_router.bad_seq.app_error"))
    action = message.get("action")
    if not isinstance(action, str) or not action:
        return BadFrame(seq, BadRequest("No websocket action.", "api.web_socket_router.no_action.app_error"))
    data = message.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return BadFrame(seq, BadRequest("Invalid data: it must be a JSON object.",
                                        "api.websocket_handler.invalid_param.app_error"))
    return ClientAction(seq, action, data)


def event_frame(event: Event, seq: int) -> dict[str, Any]:
    return {"event": event.event, "data": event.data, "broadcast": event.broadcast.to_json(), "seq": seq}


def reply_frame(seq_reply: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"status": "OK", "seq_reply": seq_reply}
    if data is not None:
        frame["data"] = data
    return frame


def error_frame(seq_reply: int, error: ServiceError) -> dict[str, Any]:
    return {"status": "FAIL", "seq_reply": seq_reply, "error": {
        "id": error.error_id, "message": error.message, "detailed_error": error.detail, "request_id": "",
        "status_code": error.status,
    }}


def _invalid_param(name: str) -> BadRequest:
    return BadRequest(f"Invalid {name} parameter.", "api.websocket_handler.invalid_param.app_error", name)


# -- the connection (I/O) ------------------------------------------------------------------------

class Connection:
    """One client's WebSocket: a reader answering its actions and a writer delivering its events."""

    def __init__(self, websocket: WebSocket, services: Services):
        self._ws = websocket
        self._services = services
        self._send_lock = asyncio.Lock()
        self._next_seq = 0
        self.id = new_id()

    async def serve(self, session: Session | None) -> None:
        """Run until the client leaves or its session ends; `session` is the one found at the upgrade."""
        challenge_seq = 0
        if session is None:
            authenticated = await self._authenticate()
            if authenticated is None:
                return
            session, challenge_seq = authenticated
        ctx = self._services.ctx
        # Subscribe before hello, so that nothing published after the client sees hello is missed.
        with ctx.events.subscribe(session.user_id) as subscription, ctx.presence.connected(session.user_id):
            # Hello before the challenge's reply: mattermostdriver counts the login as done at hello.
            await self._send_event(Event("hello", {"server_version": VERSION_ID, "connection_id": self.id,
                                                   "server_hostname": _HOSTNAME},
                                         Broadcast(user_id=session.user_id)))
            if challenge_seq:
                await self._send(reply_frame(challenge_seq))
            await self._run(session, subscription)

    async def _authenticate(self) -> tuple[Session, int] | None:
        """Wait for a valid authentication_challenge; None when the client left or was refused."""
        users = self._services.users
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_S):
                while True:
                    raw = await self._receive()
                    if raw is None:
                        return None
                    parsed = parse_action(raw)
                    if isinstance(parsed, BadFrame):
                        await self._send(error_frame(parsed.seq, parsed.error))
                        continue
                    if parsed.action != "authentication_challenge":
                        await self._send(error_frame(parsed.seq, Unauthorized(
                            "The WebSocket is not authenticated yet: send an authentication_challenge first.",
                            "api.web_socket_router.not_authenticated.app_error")))
                        continue
                    token = parsed.data.get("token")
                    session = await users.session_for_token(token) if isinstance(token, str) else None
                    if session is None:
                        await self._send(error_frame(parsed.seq, Unauthorized(
                            "Invalid or expired session, please login again.",
                            "api.web_socket_router.not_authenticated.app_error")))
                        await self._close(CLOSE_SESSION_INVALID, "invalid or expired session")
                        return None
                    return session, parsed.seq
        except TimeoutError:
            await self._close(CLOSE_SESSION_INVALID, "authentication timed out")
            return None

    async def _run(self, session: Session, subscription: Subscription) -> None:
        reader = asyncio.create_task(self._answer_actions(session))
        writer = asyncio.create_task(self._deliver_events(session, subscription))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            writer.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                raise error

    async def _deliver_events(self, session: Session, subscription: Subscription) -> None:
        audience = Audience(session.user_id, self._services.members)
        while True:
            event = await subscription.get()
            if subscription.overflowed:
                await self._close(CLOSE_FELL_BEHIND, "missed events; reconnect")
                return
            if not await audience.admits(event):
                continue
            if not await self._session_alive(session):
                return
            await self._send_event(event)

    async def _answer_actions(self, session: Session) -> None:
        while True:
            raw = await self._receive()
            if raw is None:
                return
            parsed = parse_action(raw)
            if isinstance(parsed, BadFrame):
                await self._send(error_frame(parsed.seq, parsed.error))
                continue
            if not await self._session_alive(session):
                return
            try:
                data = await self._perform(parsed, session)
            except ServiceError as error:
                await self._send(error_frame(parsed.seq, error))
            else:
                await self._send(reply_frame(parsed.seq, data))

    # -- actions ---------------------------------------------------------------------------------

    async def _perform(self, action: ClientAction, session: Session) -> dict[str, Any] | None:
        """Do one client action; its reply's data (None for none), or a ServiceError for an error reply."""
        name, data = action.action, action.data
        if name == "ping":
            return {"text": "pong", "version": VERSION_ID, "server_time": self._services.ctx.now_ms(),
                    "node_id": ""}
        if name == "user_typing":
            await self._typing(data, session)
            return None
        if name == "get_statuses":
            return self._services.ctx.presence.statuses()
        if name == "get_statuses_by_ids":
            user_ids = data.get("user_ids")
            if (not isinstance(user_ids, list) or len(user_ids) > MAX_STATUS_IDS
                    or not all(is_valid_id(u) for u in user_ids)):
                raise _invalid_param("user_ids")
            return self._services.ctx.presence.statuses(user_ids)
        if name in ("authentication_challenge", "presence", "user_updated_active_status"):
            # Already authenticated; the status is "online" while a connection is open.
            return None
        raise NotImplementedYet(f"Unknown websocket action: {name[:64]}.",
                                "api.web_socket_router.bad_action.app_error")

    async def _typing(self, data: dict[str, Any], session: Session) -> None:
        channel_id = data.get("channel_id")
        parent_id = data.get("parent_id", "") or ""
        if not isinstance(channel_id, str) or not is_valid_id(channel_id):
            raise _invalid_param("channel_id")
        if parent_id and not is_valid_id(parent_id):
            raise _invalid_param("parent_id")
        if not await self._services.members.is_channel_member(channel_id, session.user_id):
            raise _invalid_param("channel_id")
        self._services.ctx.events.publish(Event(
            "typing", {"parent_id": parent_id, "user_id": session.user_id},
            Broadcast(channel_id=channel_id, omit_users=frozenset({session.user_id}))))

    # -- transport -------------------------------------------------------------------------------

    async def _session_alive(self, session: Session) -> bool:
        """Whether the session still stands (not expired, logged out or deleted); closes the socket if not."""
        if await self._services.users.session_for_token(session.token) is not None:
            return True
        await self._close(CLOSE_SESSION_INVALID, "session expired")
        return False

    async def _receive(self) -> str | bytes | None:
        """The next client message, or None once the client has gone."""
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        return text if text is not None else message.get("bytes")

    async def _send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._send_unlocked(frame)

    async def _send_event(self, event: Event) -> None:
        # The seq is taken under the send lock, so frames leave in seq order.
        async with self._send_lock:
            frame = event_frame(event, self._next_seq)
            self._next_seq += 1
            await self._send_unlocked(frame)

    async def _send_unlocked(self, frame: dict[str, Any]) -> None:
        if self._ws.application_state != WebSocketState.CONNECTED:
            return  # we closed it (the other task may still be finishing an action): nothing more to say
        await self._ws.send_text(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def _close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self._ws.application_state == WebSocketState.CONNECTED:
                try:
                    await self._ws.close(code, reason)
                except (WebSocketDisconnect, OSError):
                    pass  # the client is already gone, which is what closing wanted


async def websocket_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    token, _ = token_from(websocket)
    # As in Mattermost, a stale credential at the upgrade is not an error: the client may still
    # authenticate with a challenge.
    session = await services.users.session_for_token(token) if token else None
    await websocket.accept()
    try:
        await Connection(websocket, services).serve(session)
    except WebSocketDisconnect:
        pass  # the client left while we were writing to it: an ordinary end


routes: list[BaseRoute] = [WebSocketRoute("/api/v4/websocket", websocket_endpoint)]
