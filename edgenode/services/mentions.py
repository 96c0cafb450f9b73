"""Who a message mentions: resolved once, by the author's node, and stored on the post.

A post's `mentions` field is set at creation and never changes, so every replica counts the same
mentions whatever it knows about usernames later. It holds user ids, plus CHANNEL_WIDE for
@channel, @all and @here, which is expanded per member when counting (a member may ignore
channel-wide mentions, and the member list is not part of the post).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .context import Context
from .membership import EFFECTIVE_CHANNEL_MEMBERS, MEMBERSHIP_KINDS
from .names import USERNAME, Names
from .read_cache import ReadCache, shared_cache

__all__ = ["CHANNEL_WIDE", "MentionFinder", "Mentionable", "find_mentions", "mentioned_names"]

CHANNEL_WIDE = "@channel"
"""Stands for every member of the channel in a post's mentions."""

_CHANNEL_WORDS = frozenset({"channel", "all", "here"})
# An @ that starts a word (not the middle of an e-mail address), then a username's characters.
_AT_NAME_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._-]*)")
_FENCED_CODE_RE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")


@dataclass(frozen=True, slots=True)
class Mentionable:
    """A channel member as far as mentions go: the name and the keywords they answer to."""

    user_id: str
    username: str
    first_name: str = ""
    mention_keys: tuple[str, ...] = ()
    first_name_is_key: bool = False


def _without_code(message: str) -> str:
    # Mattermost does not notify for names quoted in code.
    return _INLINE_CODE_RE.sub(" ", _FENCED_CODE_RE.sub(" ", message))


def mentioned_names(message: str) -> tuple[list[tuple[str, ...]], bool]:
    """For each @word, the usernames it may stand for (longest first, trailing '.', '-', '_'
    dropped one by one, as in "@alice."), and whether the message mentions the whole channel."""
    chains: list[tuple[str, ...]] = []
    channel_wide = False
    for match in _AT_NAME_RE.finditer(_without_code(message)):
        word = match.group(1).lower()
        chain = [word]
        while chain[-1] and chain[-1][-1] in "._-":
            chain.append(chain[-1][:-1])
        chain = [name for name in chain if name]
        if any(name in _CHANNEL_WORDS for name in chain):
            channel_wide = True
        chains.append(tuple(chain))
    return chains, channel_wide


def _has_word(text: str, key: str, *, ignore_case: bool) -> bool:
    pattern = r"(?<![\w@])" + re.escape(key) + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE if ignore_case else 0) is not None


def find_mentions(message: str, author_id: str, members: Iterable[Mentionable]) -> tuple[set[str], bool]:
    """The ids of `members` the message mentions (never the author), and whether it is channel-wide."""
    chains, channel_wide = mentioned_names(message)
    text = _without_code(message)
    by_name = {m.username.lower(): m for m in members}
    found: set[str] = set()
    for chain in chains:
        for name in chain:
            if name in by_name:
                found.add(by_name[name].user_id)
                break
    for member in by_name.values():
        if member.user_id in found:
            continue
        if any(key and _has_word(text, key, ignore_case=True) for key in member.mention_keys):
            found.add(member.user_id)
        elif member.first_name_is_key and member.first_name and _has_word(text, member.first_name, ignore_case=False):
            found.add(member.user_id)
    found.discard(author_id)
    return found, channel_wide


def _mentionable(user_id: str, username: str, first_name: str | None, notify_props: str | None) -> Mentionable:
    try:
        props = json.loads(notify_props) if notify_props else {}
    except ValueError:
        props = {}
    if not isinstance(props, dict):
        props = {}
    keys = props.get("mention_keys", "")
    return Mentionable(
        user_id, username, first_name or "",
        tuple(k.strip() for k in keys.split(",") if k.strip()) if isinstance(keys, str) else (),
        props.get("first_name") == "true",
    )


class MentionFinder:
    """Reads just the channel members a message could mention, then applies find_mentions."""

    def __init__(self, ctx: Context):
        self._ctx = ctx
        # (channel id, resolved @names) -> the members who could be mentioned: most posts of a channel
        # name nobody, so they all ask the same question
        self._candidates: ReadCache[tuple[str, tuple[str, ...]], tuple[Mentionable, ...]] = shared_cache(
            ctx.store, "mention_candidates", MEMBERSHIP_KINDS | {"user"})

    async def mentions(self, message: str, channel_id: str, channel_type: str, author_id: str) -> list[str]:
        """The value of a new post's `mentions` field: sorted user ids, then CHANNEL_WIDE if any."""
        store = self._ctx.store
        if channel_type in ("D", "G"):
            # Every message in a direct or group channel counts as a mention of the others, as in Mattermost.
            rows = await store.fetchall(f"SELECT user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE channel_id = ? AND user_id != ?",
                                        (channel_id, author_id))
            return sorted(r["user_id"] for r in rows)
        chains, channel_wide = mentioned_names(message)
        names = Names.of(self._ctx)
        # An @name stands for whom the name rule says (names.py), so every node reads a post alike.
        named = tuple(sorted(set((await names.resolve_many(
            USERNAME, {name for chain in chains for name in chain})).values())))
        members = await self._candidates.get((channel_id, named), lambda: self._candidates_of(channel_id, named))
        found, _ = find_mentions(message, author_id, members)
        return sorted(found) + ([CHANNEL_WIDE] if channel_wide else [])

    async def _candidates_of(self, channel_id: str, named: tuple[str, ...]) -> tuple[Mentionable, ...]:
        """Only members with an @name in the message or keywords of their own can be mentioned."""
        names = Names.of(self._ctx)
        rows = await self._ctx.store.fetchall(
            f"SELECT u.id, u.username, u.first_name, u.notify_props FROM {EFFECTIVE_CHANNEL_MEMBERS} m "
            "JOIN users u ON u.id = m.user_id "
            f"WHERE m.channel_id = ? AND u._deleted = 0 AND (u.id IN ({','.join('?' * len(named)) or 'NULL'}) "
            "OR coalesce(json_extract(u.notify_props, '$.mention_keys'), '') != '' "
            "OR json_extract(u.notify_props, '$.first_name') = 'true')",
            (channel_id, *named))
        return tuple([_mentionable(r["id"], await names.shown(USERNAME, r["id"], r["username"] or ""), r["first_name"],
                                   r["notify_props"]) for r in rows])

    async def recipients(self, mentions: list[str], channel_id: str, author_id: str) -> list[str]:
        """The user ids a `posted` event names as mentioned: CHANNEL_WIDE expanded to the members."""
        ids = {m for m in mentions if m != CHANNEL_WIDE}
        if CHANNEL_WIDE in mentions:
            rows = await self._ctx.store.fetchall(f"SELECT user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE channel_id = ?",
                                                  (channel_id,))
            ids.update(r["user_id"] for r in rows)
        ids.discard(author_id)
        return sorted(ids)
