"""Mattermost's syntax rules for usernames, emails, team and channel names, and display text.

Taken from Mattermost's server (server/public/model: user.go IsValidUsername, utils.go IsValidEmail,
IsValidChannelIdentifier and reservedName, team.go IsValidTeamName and IsReservedTeamName,
channel.go IsValid), error ids included, so a client sees the answers it would get from Mattermost.
Where Mattermost silently drops invisible characters (SanitizeUnicode) these rules refuse them instead:
a name is never stored different from what was asked for, except for the normalisations Mattermost
itself applies (usernames and emails lowercased, emails trimmed).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import BadRequest

__all__ = [
    "USERNAME_MAX", "TEAM_NAME_MAX", "CHANNEL_NAME_MAX", "EMAIL_MAX",
    "check_username", "check_email", "check_team_name", "check_channel_name", "check_display_name", "check_text",
]

USERNAME_MAX = 64  # model.UserNameMaxLength (min 1)
EMAIL_MAX = 128  # model.UserEmailMaxLength
TEAM_NAME_MAX = 64  # model.TeamNameMaxLength (min 2)
CHANNEL_NAME_MAX = 64  # model.ChannelNameMaxLength (min 1)

_USERNAME_RE = re.compile(r"[a-z0-9.\-_]+")
_RESTRICTED_USERNAMES = frozenset({"all", "channel", "matterbot", "system"})
# model/utils.go reservedName: a team name may not *start* with any of these
_RESERVED_TEAM_PREFIXES = ("admin", "api", "channel", "claim", "error", "files", "help", "landing", "login", "mfa",
                           "oauth", "plug", "plugins", "post", "signup", "boards", "playbooks")
_TEAM_NAME_RE = re.compile(r"[a-z0-9]+([a-z\-0-9]+|(__)?)[a-z0-9]+")  # validAlphaNum
_CHANNEL_NAME_RE = re.compile(r"[a-z0-9]+([a-z\-_0-9]+|(__)?)[a-z0-9]*")  # validSimpleAlphaNum
_GM_NAME_RE = re.compile(r"[a-f0-9]{40}")
_ID_RE = re.compile(r"[a-z0-9]{26}")
# RFC 5322 atext as Go's net/mail reads it: visible ASCII but the specials, and any non-ASCII letter
_ATEXT = r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]"
_ADDR_SPEC_RE = re.compile(rf"{_ATEXT}+(\.{_ATEXT}+)*@{_ATEXT}+(\.{_ATEXT}+)*")


def check_username(value: object) -> str:
    """A username, lowercased as Mattermost's PreSave does: 1-64 of a-z 0-9 . - _, not a restricted word."""
    if isinstance(value, str):
        username = value.lower()
        if len(username) <= USERNAME_MAX and _USERNAME_RE.fullmatch(username) and username not in _RESTRICTED_USERNAMES:
            return username
    raise BadRequest("Invalid username: 1 to 64 lowercase letters, digits, '.', '-' or '_', and not one of "
                     "all, channel, matterbot or system.", "model.user.is_valid.username.app_error")


def check_email(value: object) -> str:
    """An email address, trimmed and lowercased as Mattermost's SanitizeInput and NormalizeEmail do."""
    if isinstance(value, str):
        email = value.strip().lower()
        if (0 < len(email) <= EMAIL_MAX and email.count("@") == 1 and _ADDR_SPEC_RE.fullmatch(email)
                and not _has_invisible(email)):
            return email
    raise BadRequest("Invalid email: give one address such as name@example.com.", "model.user.is_valid.email.app_error")


def check_team_name(value: object) -> str:
    """A team's URL name: 2-64 of a-z 0-9 '-', starting and ending with a letter or digit, no reserved prefix."""
    if not isinstance(value, str) or len(value) > TEAM_NAME_MAX:
        raise BadRequest("Invalid team name: at most 64 characters.", "model.team.is_valid.url.app_error")
    if value.lower().startswith(_RESERVED_TEAM_PREFIXES):
        raise BadRequest("Invalid team name: it may not start with a reserved word (admin, api, channel, help, ...).",
                         "model.team.is_valid.reserved.app_error")
    if len(value) < 2 or not _TEAM_NAME_RE.fullmatch(value):
        raise BadRequest("Invalid team name: 2 to 64 lowercase letters, digits or '-', starting and ending with a "
                         "letter or digit.", "model.team.is_valid.characters.app_error")
    return value


def check_channel_name(value: object) -> str:
    """A team channel's name: 1-64 of a-z 0-9 '-' '_', starting with a letter or digit, not a DM/GM name's shape."""
    if not isinstance(value, str) or not _CHANNEL_NAME_RE.fullmatch(value):
        raise BadRequest("Invalid channel name: lowercase letters, digits, '-' or '_', starting with a letter or digit.",
                         "model.channel.is_valid.1_or_more.app_error")
    parts = value.split("__")
    if (len(value) > CHANNEL_NAME_MAX or _GM_NAME_RE.fullmatch(value)
            or (len(parts) == 2 and all(_ID_RE.fullmatch(p) for p in parts))):
        raise BadRequest("Invalid channel name: at most 64 characters, and not the form of a direct or group "
                         "message's name.", "model.channel.is_valid.name.app_error")
    return value


def check_display_name(value: object, limit: int, error_id: str) -> str:
    """A display name: 1 to `limit` characters, no control or invisible characters, no surrounding whitespace."""
    if (not isinstance(value, str) or not 1 <= len(value) <= limit or value != value.strip()
            or _has_control(value, allow_newlines=False)):
        raise BadRequest(f"Invalid display name: 1 to {limit} characters, without control characters or surrounding "
                         "spaces.", error_id)
    return value


def check_text(value: object, limit: int, error_id: str, *, multiline: bool = False) -> str:
    """Free text (a header, a purpose, a nickname): at most `limit` characters and no control characters
    (newlines and tabs allowed where `multiline`)."""
    if not isinstance(value, str) or len(value) > limit or _has_control(value, allow_newlines=multiline):
        raise BadRequest(f"Invalid text: at most {limit} characters, without control characters.", error_id)
    return value


# Bidirectional overrides and zero-width spaces make a name look like another; joiners stay (emoji use them).
_DECEPTIVE = frozenset("\u200b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def _has_control(text: str, *, allow_newlines: bool) -> bool:
    for ch in text:
        if allow_newlines and ch in "\n\t\r":
            continue
        if ch in _DECEPTIVE or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return True
    return False


def _has_invisible(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)
