"""The values slash commands pass around: a call (who runs what where) and a CommandResponse."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from edgenode.json_depth import loads as bounded_loads

from .errors import ServiceError
from .slack import checked_attachments
from .users import Session

__all__ = ["EPHEMERAL", "IN_CHANNEL", "CommandCall", "CommandResponse"]

IN_CHANNEL = "in_channel"
EPHEMERAL = "ephemeral"


@dataclass(frozen=True, slots=True)
class CommandCall:
    """One execution of a slash command: `/trigger message` run by `actor` in `channel`."""

    actor: Session
    channel: sqlite3.Row
    team_id: str
    root_id: str
    trigger: str
    message: str
    site_url: str

    @property
    def channel_id(self) -> str:
        return str(self.channel["id"])


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """What a command answers (Mattermost's CommandResponse); every field optional."""

    response_type: str = ""
    text: str = ""
    username: str = ""
    channel_id: str = ""
    icon_url: str = ""
    type: str = ""
    props: dict[str, Any] | None = None
    goto_location: str = ""
    trigger_id: str = ""
    skip_slack_parsing: bool = False
    attachments: list[dict[str, Any]] | None = None
    extra_responses: tuple[CommandResponse, ...] | None = None

    @classmethod
    def ephemeral(cls, text: str) -> CommandResponse:
        return cls(response_type=EPHEMERAL, text=text)

    @classmethod
    def from_http(cls, content_type: str, body: bytes) -> CommandResponse:
        """A reply as Mattermost reads it: JSON when the content type says so, else the body is the text.

        Raises ValueError or TypeError for JSON that does not decode into a CommandResponse.
        """
        if content_type.split(";")[0].strip().lower() == "application/json":
            data = bounded_loads(body)
            if not isinstance(data, dict):
                raise TypeError("the reply is not a JSON object")
            return cls.from_json(data)
        return cls(text=body.decode("utf-8", errors="replace"))

    @classmethod
    def from_json(cls, data: dict[str, Any], *, nested: bool = False) -> CommandResponse:
        props = data.get("props")
        if props is not None and not isinstance(props, dict):
            raise TypeError("props must be an object")
        skip = data.get("skip_slack_parsing") or False
        if not isinstance(skip, bool):
            raise TypeError("skip_slack_parsing must be a boolean")
        try:
            attachments = checked_attachments(data.get("attachments")) if data.get("attachments") is not None else None
        except ServiceError as exc:
            raise TypeError(exc.message) from None
        extra = data.get("extra_responses")
        extras: tuple[CommandResponse, ...] | None = None
        if extra is not None and not nested:
            if not isinstance(extra, list) or not all(isinstance(e, dict) for e in extra):
                raise TypeError("extra_responses must be a list of objects")
            extras = tuple(cls.from_json(e, nested=True) for e in extra)
        return cls(
            response_type=_str(data, "response_type"), text=_str(data, "text"), username=_str(data, "username"),
            channel_id=_str(data, "channel_id"), icon_url=_str(data, "icon_url"), type=_str(data, "type"),
            props=dict(props) if props is not None else None, goto_location=_str(data, "goto_location"),
            trigger_id=_str(data, "trigger_id"), skip_slack_parsing=skip, attachments=attachments,
            extra_responses=extras)

    def to_json(self) -> dict[str, Any]:
        return {
            "response_type": self.response_type, "text": self.text, "username": self.username,
            "channel_id": self.channel_id, "icon_url": self.icon_url, "type": self.type, "props": self.props,
            "goto_location": self.goto_location, "trigger_id": self.trigger_id,
            "skip_slack_parsing": self.skip_slack_parsing, "attachments": self.attachments,
            "extra_responses": [e.to_json() for e in self.extra_responses] if self.extra_responses is not None else None,
        }
