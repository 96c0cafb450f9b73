"""Slack compatibility: how Mattermost rewrites the text and attachments of integration posts.

Pure functions, no I/O: the one lookup they need (user ids to usernames) is passed in as a mapping.
Mattermost's sources: `app/slack.go` (ProcessSlackText, ProcessMessageAttachments),
`model/message_attachment.go` (ParseMessageAttachment, StringifyMessageAttachmentFieldValue) and
`app/webhook.go` (SplitWebhookPost).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import BadRequest

__all__ = [
    "announcements_expanded",
    "attachments_processed",
    "checked_attachments",
    "field_value_text",
    "links_to_markdown",
    "slack_text",
    "split_message",
    "user_ids_mentioned",
    "user_ids_replaced",
]

_LINK_WITH_TEXT = re.compile(r"<([^\n<|>]+)\|([^|\n>]+)>")
_USER_ID_MENTION = re.compile(r"<@([a-zA-Z0-9]+)>")
_ANNOUNCEMENTS = (("<!channel>", "@channel"), ("<!here>", "@here"), ("<!all>", "@all"))
_PARSE_ERROR = "model.incoming_hook.parse_data.app_error"


def announcements_expanded(text: str) -> str:
    """Slack's <!channel>, <!here> and <!all> become Mattermost's @channel, @here and @all."""
    for slack, mattermost in _ANNOUNCEMENTS:
        text = text.replace(slack, mattermost)
    return text


def user_ids_mentioned(text: str) -> list[str]:
    """The ids in Slack-style user mentions (<@id>), in order of appearance."""
    return _USER_ID_MENTION.findall(text)


def user_ids_replaced(text: str, usernames: Mapping[str, str]) -> str:
    """<@id> becomes @username for every id we know; unknown ids are left as they are."""
    return _USER_ID_MENTION.sub(lambda m: "@" + usernames[m[1]] if m[1] in usernames else m[0], text)


def links_to_markdown(text: str) -> str:
    """Slack links with a label, <url|label>, become Markdown links [label](url)."""
    return _LINK_WITH_TEXT.sub(r"[\2](\1)", text)


def slack_text(text: str, usernames: Mapping[str, str]) -> str:
    """ProcessSlackText: announcements expanded and user-id mentions replaced (links are a later step)."""
    return user_ids_replaced(announcements_expanded(text), usernames)


def field_value_text(value: Any) -> str:
    """An attachment field's value as Go's fmt "%v" prints the decoded JSON value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _string(attachment: dict[str, Any], key: str) -> str:
    value = attachment.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"Invalid attachment: {key} must be a string.", _PARSE_ERROR)
    return value


def checked_attachments(raw: object) -> list[dict[str, Any]]:
    """Attachments as decoded from a request: nulls dropped, field values stringified; wrong shapes refused.

    Only the keys Mattermost interprets are type-checked; the rest (color, mrkdwn_in, actions, ...) pass
    through untouched, as they do in Mattermost's props.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("Invalid attachments: they must be a list of objects.", _PARSE_ERROR)
    attachments = []
    for item in raw:
        if item is None:
            continue
        if not isinstance(item, dict):
            raise BadRequest("Invalid attachment: it must be an object.", _PARSE_ERROR)
        attachment = dict(item)
        for key in ("pretext", "text", "title"):
            if key in attachment:
                attachment[key] = _string(attachment, key)
        fields = attachment.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not all(f is None or isinstance(f, dict) for f in fields):
                raise BadRequest("Invalid attachment fields: they must be a list of objects.", _PARSE_ERROR)
            attachment["fields"] = [
                {**f, "value": field_value_text(f["value"])} if f.get("value") is not None else dict(f)
                for f in fields if f is not None
            ]
        attachments.append(attachment)
    return attachments


def attachments_processed(attachments: list[dict[str, Any]], usernames: Mapping[str, str], *,
                          parse_links: bool = True) -> list[dict[str, Any]]:
    """ProcessMessageAttachments then ParseMessageAttachment: Slack text rewritten in pretext, text,
    title and field values; <url|label> links turned into Markdown in text, pretext and field values."""
    out = []
    for attachment in attachments:
        attachment = dict(attachment)
        for key in ("pretext", "text", "title"):
            if key in attachment:
                attachment[key] = slack_text(attachment[key], usernames)
        if parse_links:
            for key in ("pretext", "text"):
                if key in attachment:
                    attachment[key] = links_to_markdown(attachment[key])
        if "fields" in attachment:
            fields = []
            for field in attachment["fields"]:
                if isinstance(field.get("value"), str):
                    value = slack_text(field["value"], usernames)
                    field = {**field, "value": links_to_markdown(value) if parse_links else value}
                fields.append(field)
            attachment["fields"] = fields
        out.append(attachment)
    return out


def split_message(text: str, limit: int) -> list[str]:
    """A message cut into parts of at most `limit` characters (code points), as SplitWebhookPost does."""
    parts = [text[i:i + limit] for i in range(0, len(text), limit)]
    return parts or [""]
