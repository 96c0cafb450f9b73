"""Mattermost's post search syntax, parsed into a value, and the FTS5 expressions built from it.

Pure: no I/O, no SQL execution. The parser follows Mattermost's `model/search_params.go`
(split on spaces outside quotes, `flag:value` or `flag: value`, trim punctuation around words,
`-` excludes), so a query typed into a Mattermost client means the same here. Where Mattermost
would hand user text to its database's query language, we build FTS5 expressions only out of
quoted strings and our own operators, so no input can be a syntax error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from .errors import BadRequest

__all__ = [
    "MAX_SEARCH_WORDS",
    "MAX_TERMS_LENGTH",
    "ChannelRef",
    "DayWindow",
    "SearchQuery",
    "SearchSyntaxError",
    "Term",
    "day_window",
    "has_token",
    "hashtag_expression",
    "matched_terms",
    "message_expression",
    "parse_search",
    "words_of",
]

MAX_TERMS_LENGTH = 4096
"""Longer search text is refused: nobody types it, and each word costs an index lookup."""

MAX_SEARCH_WORDS = 64
"""At most this many terms, hashtags and flags in one search, for the same reason."""

_T = TypeVar("_T")
_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FLAGS = ("from", "channel", "in", "before", "after", "on", "ext")
_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$")
# Mattermost's validHashtag: a letter, then letters, digits, '-', '_' or '.', ending on a letter or digit.
_HASHTAG_RE = re.compile(r"^#[^\W\d_][\w.-]*[^\W_]$")


class SearchSyntaxError(BadRequest):
    """The search text cannot be understood (a bad date, too long); the message says which part."""

    default_id = "api.post.search_posts.invalid_terms.app_error"


@dataclass(frozen=True, slots=True)
class Term:
    """Words to find in a message: one word, or a quoted phrase; `prefix` for a trailing '*'."""

    text: str
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """An `in:` value: a channel name, or the usernames of a direct or group message (`in:@bob`)."""

    name: str = ""
    usernames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for; every part is optional, and an empty query finds nothing."""

    terms: tuple[Term, ...] = ()
    excluded_terms: tuple[Term, ...] = ()
    hashtags: tuple[str, ...] = ()
    excluded_hashtags: tuple[str, ...] = ()
    from_users: tuple[str, ...] = ()
    excluded_users: tuple[str, ...] = ()
    in_channels: tuple[ChannelRef, ...] = ()
    excluded_channels: tuple[ChannelRef, ...] = ()
    on_date: date | None = None
    after_date: date | None = None
    before_date: date | None = None
    excluded_on_date: date | None = None
    excluded_after_date: date | None = None
    excluded_before_date: date | None = None

    @property
    def is_empty(self) -> bool:
        return not any((self.terms, self.excluded_terms, self.hashtags, self.excluded_hashtags, self.from_users,
                        self.excluded_users, self.in_channels, self.excluded_channels, self.on_date,
                        self.after_date, self.before_date, self.excluded_on_date, self.excluded_after_date,
                        self.excluded_before_date))


@dataclass(slots=True)
class _Builder:
    words: list[tuple[str, bool]] = field(default_factory=list)
    flags: list[tuple[str, str, bool]] = field(default_factory=list)


# -- tokens ----------------------------------------------------------------------------------

def _is_token_char(char: str) -> bool:
    # FTS5's unicode61 tokenizer keeps letters, numbers and private-use characters (categories
    # L*, N*, Co) and treats the rest as separators; it also knows some code points Python's
    # tables call symbols, so this errs towards "separator", which only ever drops a term.
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def has_token(text: str) -> bool:
    """Whether FTS5 finds at least one word in `text` (a term without one would match nothing)."""
    return any(_is_token_char(c) for c in text)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words_of(text: str) -> list[str]:
    """The words of `text` as FTS5's unicode61 tokenizer splits it (near enough to highlight with)."""
    words: list[str] = []
    word: list[str] = []
    for char in text + " ":
        if _is_token_char(char) or (word and unicodedata.combining(char)):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    return words


def _occurs(needle: list[str], haystack: list[str], *, prefix: bool) -> list[int]:
    """Where the folded words `needle` occur in a row in `haystack` (the last one as a prefix if `prefix`)."""
    last = len(needle) - 1
    found = []
    for start in range(len(haystack) - last):
        if all(haystack[start + i] == needle[i] for i in range(last)) and (
                haystack[start + last].startswith(needle[last]) if prefix else haystack[start + last] == needle[last]):
            found.append(start)
    return found


def matched_terms(query: SearchQuery, message: str, hashtags: str, *, found_by_index: bool) -> list[str]:
    """What a client should highlight in a result: the query's wanted terms this post contains.

    A one-word term lists the message's words it matched, in the message's spelling. `found_by_index`
    says the index already knows every term matched (an AND search), so a term this approximation
    misses is kept anyway.
    """
    words = words_of(message)
    folded = [_fold(w) for w in words]
    out: list[str] = []
    for term in query.terms:
        needle = [_fold(w) for w in words_of(term.text)]
        starts = _occurs(needle, folded, prefix=term.prefix) if needle else []
        if len(needle) == 1 and not term.phrase and starts:
            shown = [words[i] for i in starts]  # the message's own spelling: "Café" for cafe, "running" for run*
        elif starts or found_by_index:
            shown = [term.text]
        else:
            shown = []
        out.extend(s for s in shown if s not in out)
    own_tags = {tag.casefold(): tag for tag in hashtags.split()}
    for tag in query.hashtags:
        if tag.casefold() in own_tags or found_by_index:
            shown_tag = own_tags.get(tag.casefold(), tag)
            if shown_tag not in out:
                out.append(shown_tag)
    return out


# -- parsing ---------------------------------------------------------------------------------

def _split_words(text: str) -> list[str]:
    """Mattermost's splitWords: whitespace-separated words, a quoted section (with a leading '-') is one word."""
    words: list[str] = []
    in_quote = False
    start = 0
    for i, char in enumerate(text):
        if char != '"':
            continue
        if in_quote:
            words.append(text[start:i + 1])
            in_quote = False
            start = i + 1
        else:
            begin = i - 1 if i > 0 and text[i - 1] == "-" else i
            words.extend(text[start:begin].split())
            in_quote = True
            start = begin
    rest = text[start:]
    if in_quote:
        # an unclosed quote runs to the end, rather than leaving a stray '"' in a word
        words.append(rest.rstrip() + '"')
    else:
        words.extend(rest.split())
    return words


def _keeps_start(char: str) -> bool:
    return char.isalnum() or char.isspace() or char in '#"'


def _keeps_end(char: str) -> bool:
    return char.isalnum() or char.isspace() or char in '*"'


def _trim(word: str) -> str:
    """Drop punctuation around a word, keeping a leading '#' or '"' and a trailing '*' or '"'."""
    start, end = 0, len(word)
    while start < end and not _keeps_start(word[start]):
        start += 1
    while end > start and not _keeps_end(word[end - 1]):
        end -= 1
    word = word[start:end]
    if word.startswith("##"):
        word = "#" + word.lstrip("#")
    return word


def _scan(words: list[str]) -> _Builder:
    """Mattermost's parseSearchFlags: separate `flag:value` (value possibly the next word) from plain words."""
    out = _Builder()
    skip_next = False
    for i, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        name, colon, value = word.partition(":")
        exclude = word.startswith("-")
        if colon and not word.startswith('"') and not word.startswith('-"'):
            flag = (name[1:] if exclude else name).lower()
            if flag in _FLAGS:
                if value:
                    out.flags.append((flag, value.strip('"'), exclude))
                    continue
                if i < len(words) - 1:
                    out.flags.append((flag, words[i + 1].strip('"'), exclude))
                    skip_next = True
                    continue
        trimmed = _trim(word)
        if trimmed:
            out.words.append((trimmed, exclude))
    return out


def _term(word: str) -> Term | None:
    if len(word) >= 2 and word.startswith('"') and word.endswith('"'):
        inner = word[1:-1]
        return Term(" ".join(inner.split()), phrase=True) if has_token(inner) else None
    prefix = word.endswith("*")
    text = word.rstrip("*").strip('"')
    return Term(text, prefix=prefix) if has_token(text) else None


def _date(flag: str, value: str) -> date:
    match = _DATE_RE.match(value)
    try:
        if match is None:
            raise ValueError(value)
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise SearchSyntaxError(f"Invalid date in {flag}:{value[:40]}; use YYYY-MM-DD.",
                                "api.post.search_posts.invalid_date.app_error") from None


def _channel(value: str) -> ChannelRef:
    value = value.lstrip("~")
    if value.startswith("@"):
        return ChannelRef(usernames=tuple(u.strip().lstrip("@").lower() for u in value[1:].split(",") if u.strip()))
    return ChannelRef(name=value.lower())


def parse_search(text: str) -> SearchQuery:
    """Parse Mattermost search text. Raises SearchSyntaxError (a BadRequest) and nothing else."""
    if len(text) > MAX_TERMS_LENGTH:
        raise SearchSyntaxError(f"The search text is longer than {MAX_TERMS_LENGTH} characters.",
                                "api.post.search_posts.terms_too_long.app_error")
    # Control characters (NUL in particular, which ends an FTS5 string early) are never search text,
    # nor are lone surrogates, which JSON can carry but UTF-8 (SQLite, our responses) cannot.
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    scanned = _scan(_split_words(text))
    if len(scanned.words) + len(scanned.flags) > MAX_SEARCH_WORDS:
        raise SearchSyntaxError(f"Too many search terms: at most {MAX_SEARCH_WORDS}.",
                                "api.post.search_posts.too_many_terms.app_error")
    # keyed by "excluded?"
    terms: dict[bool, list[Term]] = {False: [], True: []}
    tags: dict[bool, list[str]] = {False: [], True: []}
    users: dict[bool, list[str]] = {False: [], True: []}
    channels: dict[bool, list[ChannelRef]] = {False: [], True: []}
    dates: dict[tuple[str, bool], date] = {}
    for word, exclude in scanned.words:
        if _HASHTAG_RE.match(word):
            tags[exclude].append(word)
        elif (term := _term(word)) is not None:
            terms[exclude].append(term)
    for flag, value, exclude in scanned.flags:
        if flag == "from":
            if user := value.lstrip("@").lower():
                users[exclude].append(user)
        elif flag in ("in", "channel"):
            ref = _channel(value)
            if ref.name or ref.usernames:
                channels[exclude].append(ref)
        elif flag in ("on", "after", "before"):
            dates[flag, exclude] = _date(("-" if exclude else "") + flag, value)  # the last one wins, as in Mattermost
        # "ext:" filters file searches in Mattermost; a post search ignores it, and so do we
    return SearchQuery(
        terms=_unique(terms[False]), excluded_terms=_unique(terms[True]),
        hashtags=_unique(tags[False]), excluded_hashtags=_unique(tags[True]),
        from_users=_unique(users[False]), excluded_users=_unique(users[True]),
        in_channels=_unique(channels[False]), excluded_channels=_unique(channels[True]),
        on_date=dates.get(("on", False)), after_date=dates.get(("after", False)),
        before_date=dates.get(("before", False)), excluded_on_date=dates.get(("on", True)),
        excluded_after_date=dates.get(("after", True)), excluded_before_date=dates.get(("before", True)),
    )


def _unique(values: list[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


# -- dates -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DayWindow:
    """Bounds on create_at in Unix ms: at least `start`, at most `end`, and outside each of `gaps` (inclusive)."""

    start: int | None = None
    end: int | None = None
    gaps: tuple[tuple[int, int], ...] = ()


def _day_start(day: date, offset_seconds: int) -> int:
    # integer arithmetic, so 0001-01-01 and 9999-12-31 work in any time zone
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_MS - offset_seconds * 1000


def day_window(query: SearchQuery, offset_seconds: int) -> DayWindow:
    """The create_at bounds of on:/after:/before: (and their exclusions) for a searcher `offset_seconds` east of UTC.

    As in Mattermost, after: and before: exclude the day they name, and -after:X / -before:X keep it.
    """
    starts: list[int] = []
    ends: list[int] = []
    gaps: list[tuple[int, int]] = []
    if query.on_date is not None:
        begin = _day_start(query.on_date, offset_seconds)
        starts.append(begin)
        ends.append(begin + _DAY_MS - 1)
    if query.after_date is not None:
        starts.append(_day_start(query.after_date, offset_seconds) + _DAY_MS)
    if query.before_date is not None:
        ends.append(_day_start(query.before_date, offset_seconds) - 1)
    if query.excluded_on_date is not None:
        begin = _day_start(query.excluded_on_date, offset_seconds)
        gaps.append((begin, begin + _DAY_MS - 1))
    if query.excluded_after_date is not None:
        ends.append(_day_start(query.excluded_after_date, offset_seconds) + _DAY_MS - 1)
    if query.excluded_before_date is not None:
        starts.append(_day_start(query.excluded_before_date, offset_seconds))
    return DayWindow(max(starts) if starts else None, min(ends) if ends else None, tuple(gaps))


# -- FTS5 expressions ------------------------------------------------------------------------

def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _term_expression(term: Term) -> str:
    return _quoted(term.text) + (" *" if term.prefix else "")


def message_expression(terms: tuple[Term, ...], *, any_of: bool) -> str:
    """An FTS5 MATCH expression over post_search's message column: all (or any) of `terms`."""
    if not terms:
        raise ValueError("no terms")
    joiner = " OR " if any_of else " AND "
    return "{message} : (" + joiner.join(_term_expression(t) for t in terms) + ")"


def hashtag_expression(tags: tuple[str, ...], *, any_of: bool) -> str:
    """An FTS5 MATCH expression over post_hashtags, whose tokens are whole '#tags': all (or any) of `tags`."""
    if not tags:
        raise ValueError("no hashtags")
    joiner = " OR " if any_of else " AND "
    return joiner.join(_quoted(tag) for tag in tags)
