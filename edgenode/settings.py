"""The node's settings: `<data>/settings.toml` if present, then `edgenode serve` options over it.

Every setting has a safe default, so a node without the file is a node that reaches no internal
address on a user's behalf and answers browsers only under loopback names. Example:

    # <data>/settings.toml
    # Mattermost's AllowedUntrustedInternalConnections: host names, addresses or CIDR blocks that
    # slash commands and outgoing webhooks may reach although they are internal.
    allowed_untrusted_internal_connections = "hooks.lan 10.1.0.0/16"
    # Host names browsers may use to reach the API besides loopback ones (needed when serving the LAN).
    allowed_hosts = ["chat.lan"]

    [limits]
    header_timeout = 10.0     # seconds a client has to send a request's head
    keep_alive_timeout = 5    # seconds an idle keep-alive connection stays open
    max_connections = 512     # connections (and requests) served at once; beyond, 503
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = ["SETTINGS_FILE", "Limits", "NodeSettings", "SettingsError", "load_settings", "parse_settings"]

SETTINGS_FILE = "settings.toml"
_SEPARATORS = re.compile(r"[\s,]+")


class SettingsError(ValueError):
    """The settings file or a settings option is malformed; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of the API server (see the module docstring for what each bounds)."""

    header_timeout: float = 10.0
    keep_alive_timeout: int = 5
    max_connections: int = 512


@dataclass(frozen=True, slots=True)
class NodeSettings:
    allowed_untrusted_internal_connections: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    limits: Limits = Limits()

    def with_options(self, *, allow_internal: Iterable[str] = (), allowed_hosts: Iterable[str] = ()) -> NodeSettings:
        """These settings with command-line options added (options add to the file; they never remove)."""
        return replace(self,
                       allowed_untrusted_internal_connections=self.allowed_untrusted_internal_connections
                       + _entries(tuple(allow_internal), "--allow-internal-host"),
                       allowed_hosts=self.allowed_hosts + _entries(tuple(allowed_hosts), "--allowed-host"))


def _entries(value: object, key: str) -> tuple[str, ...]:
    """A list setting, given as one string separated by spaces or commas (as in Mattermost) or a list of them."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise SettingsError(f"{key} must be a string or a list of strings")
    return tuple(token for item in items for token in _SEPARATORS.split(item) if token)


def _number(table: Mapping[str, Any], key: str, default: float, kind: type[int] | type[float]) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise SettingsError(f"limits.{key} must be a {'whole ' if kind is int else ''}number")
    if value <= 0:
        raise SettingsError(f"limits.{key} must be more than 0")
    return kind(value)


def parse_settings(document: Mapping[str, Any]) -> NodeSettings:
    """Settings from a parsed TOML document; unknown keys are refused, so a typo does not pass silently."""
    known = {"allowed_untrusted_internal_connections", "allowed_hosts", "limits"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    table = document.get("limits", {})
    if not isinstance(table, dict):
        raise SettingsError("limits must be a table ([limits])")
    defaults = Limits()
    unknown = sorted(set(table) - {"header_timeout", "keep_alive_timeout", "max_connections"})
    if unknown:
        raise SettingsError(f"unknown setting limits.{unknown[0]}")
    limits = Limits(header_timeout=_number(table, "header_timeout", defaults.header_timeout, float),
                    keep_alive_timeout=_number(table, "keep_alive_timeout", defaults.keep_alive_timeout, int),
                    max_connections=_number(table, "max_connections", defaults.max_connections, int))
    return NodeSettings(
        allowed_untrusted_internal_connections=_entries(document.get("allowed_untrusted_internal_connections", ()),
                                                        "allowed_untrusted_internal_connections"),
        allowed_hosts=_entries(document.get("allowed_hosts", ()), "allowed_hosts"),
        limits=limits)


def load_settings(data_dir: Path) -> NodeSettings:
    """The settings in `data_dir/settings.toml`, or the defaults when there is no such file."""
    path = data_dir / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return NodeSettings()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    try:
        return parse_settings(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
