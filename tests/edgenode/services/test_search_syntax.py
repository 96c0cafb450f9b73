"""Mattermost's search syntax: what each element parses to, the date windows, and FTS5 expressions that never fail."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.schema import SCHEMA
from edgenode.services.errors import BadRequest
from edgenode.services.search_syntax import (
    MAX_SEARCH_WORDS,
    MAX_TERMS_LENGTH,
    ChannelRef,
    DayWindow,
    SearchQuery,
    SearchSyntaxError,
    Term,
    day_window,
    hashtag_expression,
    matched_terms,
    message_expression,
    parse_search,
    words_of,
)

DAY = 86_400_000
JAN_5_2024 = 1_704_412_800_000  # 2024-01-05T00:00:00Z


# -- words, phrases, exclusions, prefixes ------------------------------------------------------

def test_plain_words_are_terms_in_order() -> None:
    assert parse_search("deploy  the\tbeacon") == SearchQuery(terms=(Term("deploy"), Term("the"), Term("beacon")))


def test_a_quoted_section_is_one_phrase_with_its_spacing_normalised() -> None:
    assert parse_search('radio "north  ridge camp" now') == SearchQuery(
        terms=(Term("radio"), Term("north ridge camp", phrase=True), Term("now")))


def test_a_leading_minus_excludes_a_word_or_a_phrase() -> None:
    assert parse_search('storm -rain -"snow day"') == SearchQuery(
        terms=(Term("storm"),), excluded_terms=(Term("rain"), Term("snow day", phrase=True)))


def test_an_unclosed_quote_runs_to_the_end_of_the_text() -> None:
    assert parse_search('camp "north ridge') == SearchQuery(
        terms=(Term("camp"), Term("north ridge", phrase=True)))


def test_a_trailing_star_makes_a_prefix_term() -> None:
    assert parse_search("deploy* rad**") == SearchQuery(terms=(Term("deploy", prefix=True), Term("rad", prefix=True)))


def test_punctuation_around_words_is_dropped_and_words_of_punctuation_alone_vanish() -> None:
    assert parse_search('(beacon), "ok!" ... * -- !!! ""') == SearchQuery(
        terms=(Term("beacon"), Term("ok!", phrase=True)))


def test_an_at_mention_is_searched_as_the_word_it_names() -> None:
    assert parse_search("@alice -@bob") == SearchQuery(terms=(Term("alice"),), excluded_terms=(Term("bob"),))


def test_a_repeated_term_counts_once() -> None:
    assert parse_search("beacon beacon #ops #ops") == SearchQuery(terms=(Term("beacon"),), hashtags=("#ops",))


# -- hashtags ----------------------------------------------------------------------------------

def test_hashtags_and_excluded_hashtags_are_kept_whole() -> None:
    assert parse_search("#ops-team -#field.day ##urgent") == SearchQuery(
        hashtags=("#ops-team", "#urgent"), excluded_hashtags=("#field.day",))


def test_a_word_that_is_not_a_valid_hashtag_is_an_ordinary_term() -> None:
    # Mattermost's hashtags start with a letter and have at least two characters after '#'
    assert parse_search("#1st #a") == SearchQuery(terms=(Term("#1st"), Term("#a")))


def test_a_hashtag_with_a_trailing_star_is_a_prefix_term() -> None:
    assert parse_search("#deploy*") == SearchQuery(terms=(Term("#deploy", prefix=True),))


# -- flags -------------------------------------------------------------------------------------

def test_from_and_excluded_from_take_usernames_in_lowercase_without_at() -> None:
    assert parse_search("from:Alice -from:@bob FROM:carol") == SearchQuery(
        from_users=("alice", "carol"), excluded_users=("bob",))


def test_a_flag_with_a_space_after_the_colon_takes_the_next_word() -> None:
    assert parse_search("from: alice in: town-square beacon") == SearchQuery(
        terms=(Term("beacon"),), from_users=("alice",), in_channels=(ChannelRef(name="town-square"),))


def test_a_flag_at_the_end_without_a_value_is_a_word() -> None:
    assert parse_search("beacon from:") == SearchQuery(terms=(Term("beacon"), Term("from")))


def test_in_channel_and_tilde_name_a_channel_and_minus_in_excludes_one() -> None:
    assert parse_search("in:ops channel:~Field -in:~off-topic") == SearchQuery(
        in_channels=(ChannelRef(name="ops"), ChannelRef(name="field")),
        excluded_channels=(ChannelRef(name="off-topic"),))


def test_in_at_names_a_direct_or_group_message_by_usernames() -> None:
    assert parse_search("in:@bob in:@Bob,carol") == SearchQuery(
        in_channels=(ChannelRef(usernames=("bob",)), ChannelRef(usernames=("bob", "carol"))))


def test_unknown_flags_are_words_and_ext_is_ignored_as_mattermost_ignores_it_for_posts() -> None:
    assert parse_search("to:alice ext:pdf") == SearchQuery(terms=(Term("to:alice"),))


def test_dates_parse_with_or_without_leading_zeros_and_the_last_of_each_flag_wins() -> None:
    assert parse_search("on:2024-1-5 after:2023-12-01 before:2024-02-01 after:2023-12-02") == SearchQuery(
        on_date=date(2024, 1, 5), after_date=date(2023, 12, 2), before_date=date(2024, 2, 1))


def test_excluded_dates_are_their_own_flags() -> None:
    assert parse_search("-on:2024-01-05 -after:2024-02-01 -before:2023-01-01") == SearchQuery(
        excluded_on_date=date(2024, 1, 5), excluded_after_date=date(2024, 2, 1),
        excluded_before_date=date(2023, 1, 1))


@pytest.mark.parametrize("text", ["on:yesterday", "before:2024-13-01", "after:2024-02-30", "on:24-01-05",
                                  "on:2024-01-05T10:00", "before:２０２４-01-01"])
def test_an_invalid_date_is_a_bad_request_naming_the_flag(text: str) -> None:
    with pytest.raises(SearchSyntaxError) as raised:
        parse_search(text)
    assert raised.value.status == 400
    assert raised.value.error_id == "api.post.search_posts.invalid_date.app_error"
    assert text.split(":")[0] + ":" in raised.value.message


def test_text_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(SearchSyntaxError) as raised:
        parse_search("a" * (MAX_TERMS_LENGTH + 1))
    assert raised.value.error_id == "api.post.search_posts.terms_too_long.app_error"


def test_more_words_than_the_limit_are_refused() -> None:
    assert len(parse_search(" ".join(f"w{i}" for i in range(MAX_SEARCH_WORDS))).terms) == MAX_SEARCH_WORDS
    with pytest.raises(SearchSyntaxError) as raised:
        parse_search(" ".join(f"w{i}" for i in range(MAX_SEARCH_WORDS + 1)))
    assert raised.value.error_id == "api.post.search_posts.too_many_terms.app_error"


def test_control_characters_separate_words() -> None:
    assert parse_search("alpha\x00beta\x1bgamma") == SearchQuery(terms=(Term("alpha"), Term("beta"), Term("gamma")))


def test_blank_text_is_an_empty_query() -> None:
    assert parse_search("  \t ").is_empty and not parse_search("-beacon").is_empty


# -- date windows ------------------------------------------------------------------------------

def test_on_is_the_whole_day_in_the_searchers_time_zone() -> None:
    query = parse_search("on:2024-01-05")
    assert day_window(query, 0) == DayWindow(JAN_5_2024, JAN_5_2024 + DAY - 1)
    # two hours east of UTC, the local day starts two hours earlier in UTC
    assert day_window(query, 7200) == DayWindow(JAN_5_2024 - 7_200_000, JAN_5_2024 + DAY - 1 - 7_200_000)


def test_after_and_before_leave_out_the_day_they_name() -> None:
    assert day_window(parse_search("after:2024-01-05"), 0) == DayWindow(start=JAN_5_2024 + DAY)
    assert day_window(parse_search("before:2024-01-05"), 0) == DayWindow(end=JAN_5_2024 - 1)


def test_excluded_dates_keep_the_day_they_name_and_minus_on_leaves_a_gap() -> None:
    assert day_window(parse_search("-after:2024-01-05"), 0) == DayWindow(end=JAN_5_2024 + DAY - 1)
    assert day_window(parse_search("-before:2024-01-05"), 0) == DayWindow(start=JAN_5_2024)
    assert day_window(parse_search("-on:2024-01-05"), 0) == DayWindow(gaps=((JAN_5_2024, JAN_5_2024 + DAY - 1),))


def test_combined_bounds_keep_the_tightest() -> None:
    window = day_window(parse_search("after:2024-01-01 -before:2024-01-05 before:2024-01-10 -after:2024-01-07"), 0)
    assert window == DayWindow(start=JAN_5_2024, end=JAN_5_2024 + 3 * DAY - 1)


def test_the_first_and_last_representable_days_do_not_overflow() -> None:
    window = day_window(parse_search("after:9999-12-31 before:0001-01-01"), -86_400)
    assert window.start is not None and window.end is not None and window.start > window.end


# -- FTS5 expressions --------------------------------------------------------------------------

def test_message_expressions_quote_every_term_and_join_them() -> None:
    terms = (Term('say "hi"'), Term("north ridge", phrase=True), Term("depl", prefix=True))
    assert message_expression(terms, any_of=False) == '{message} : ("say ""hi""" AND "north ridge" AND "depl" *)'
    assert message_expression(terms[:2], any_of=True) == '{message} : ("say ""hi""" OR "north ridge")'


def test_hashtag_expressions_quote_each_tag() -> None:
    assert hashtag_expression(("#ops-team", "#x.y"), any_of=False) == '"#ops-team" AND "#x.y"'
    assert hashtag_expression(("#ops-team", "#x.y"), any_of=True) == '"#ops-team" OR "#x.y"'


# -- matches -----------------------------------------------------------------------------------

def test_matches_show_the_messages_spelling_of_one_word_terms_and_prefixes() -> None:
    query = parse_search("cafe deploy* beacon")
    message = "Café crew: Deploying and deployed the Beacon"
    assert matched_terms(query, message, "", found_by_index=True) == ["Café", "Deploying", "deployed", "Beacon"]


def test_matches_in_an_or_search_list_only_what_the_post_contains() -> None:
    query = parse_search('"north ridge" south #ops #sar')
    assert matched_terms(query, "camp on the North Ridge #OPS", "#OPS", found_by_index=False) == ["north ridge", "#OPS"]


def test_matches_in_an_and_search_keep_terms_the_approximation_misses() -> None:
    assert matched_terms(parse_search("north #ops"), "", "", found_by_index=True) == ["north", "#ops"]


def test_words_are_split_as_the_index_splits_them() -> None:
    assert words_of("re-deploy the rig's e.g. Ünïcode 42km") == ["re", "deploy", "the", "rig", "s", "e", "g",
                                                                 "Ünïcode", "42km"]


# -- properties ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    """The node's real posts table and search indexes (built by its migrations) over a few posts."""
    conn = sqlite3.connect(":memory:")
    for statement in SCHEMA.ddl():
        conn.execute(statement)
    for _name, migrate in LOCAL_MIGRATIONS:
        migrate(conn, SCHEMA)
    for message, tags in [("north ridge camp", ""), ("#ops-team deploy", "#ops-team"), ('Café "quoted" text*', "")]:
        conn.execute("INSERT INTO posts (id, message, hashtags, _stamp) VALUES (?, ?, ?, x'00')",
                     (message, message, tags))
    yield conn
    conn.close()


_SYNTAX = st.sampled_from(['"', "-", ":", "*", "#", "@", "~", "(", ")", "^", "+", "{", "}", " ", "AND", "OR", "NOT",
                           "NEAR", "from:", "in:", "on:", "-in:", "before:", "message", "\x00", ",", "é", "2024-01-05",
                           "\ud800", "\U0010ffff"])
_TEXT = st.one_of(st.text(max_size=80), st.lists(st.one_of(_SYNTAX, st.text(max_size=4)), max_size=20).map("".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXT, any_of=st.booleans())
@example(text='"\x00"', any_of=False)
@example(text='-"" * NEAR(a b) {message}: "', any_of=True)
@example(text="#a-b.c -#x_y ## #", any_of=False)
def test_any_text_parses_or_is_a_bad_request_and_its_expressions_always_run(fts: sqlite3.Connection, text: str,
                                                                           any_of: bool) -> None:
    try:
        query = parse_search(text)
    except BadRequest:
        return
    for terms in (query.terms, query.excluded_terms):
        if terms:
            fts.execute("SELECT rowid FROM post_search WHERE post_search MATCH ?",
                        (message_expression(terms, any_of=any_of),)).fetchall()
    for tags in (query.hashtags, query.excluded_hashtags):
        if tags:
            fts.execute("SELECT rowid FROM post_hashtags WHERE post_hashtags MATCH ?",
                        (hashtag_expression(tags, any_of=any_of),)).fetchall()
    for offset in (-86_400, 0, 86_400):
        day_window(query, offset)
    # whatever comes back to a client must encode as UTF-8
    " ".join(matched_terms(query, "words " + text.encode("utf-8", "replace").decode(), "", found_by_index=any_of)).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=st.text(st.characters(categories=("L", "N"), max_codepoint=0xFFF), min_size=1, max_size=12))
def test_any_word_of_letters_and_digits_is_one_term_that_finds_its_post(fts: sqlite3.Connection, word: str) -> None:
    conn = fts
    conn.execute("SAVEPOINT word")
    try:
        conn.execute("INSERT INTO posts (id, message, _stamp) VALUES ('w', ?, x'00')", (f"before {word} after",))
        rowid = conn.execute("SELECT rowid FROM posts WHERE id = 'w'").fetchone()[0]
        expression = message_expression(parse_search(word).terms, any_of=False)
        found = conn.execute("SELECT rowid FROM post_search WHERE post_search MATCH ?", (expression,)).fetchall()
        assert (rowid,) in found
    finally:
        conn.execute("ROLLBACK TO word")
        conn.execute("RELEASE word")


def test_the_fixture_indexes_hashtags_whole(fts: sqlite3.Connection) -> None:
    rows = fts.execute("SELECT p.id FROM post_hashtags JOIN posts p ON p.rowid = post_hashtags.rowid "
                       "WHERE post_hashtags MATCH ?", (hashtag_expression(("#OPS-team",), any_of=False),)).fetchall()
    assert rows == [("#ops-team deploy",)]
    assert fts.execute("SELECT rowid FROM post_hashtags WHERE post_hashtags MATCH '\"#ops\"'").fetchall() == []
