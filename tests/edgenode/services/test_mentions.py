"""find_mentions: who a message mentions, decided from the message and the channel's members alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgenode.services.mentions import Mentionable, find_mentions, mentioned_names

ALICE = Mentionable("alice-id", "alice")
BOB = Mentionable("bob-id", "bob.smith")
KEYS = Mentionable("keys-id", "dana", "Dana", mention_keys=("deploy", "@oncall", "night shift"), first_name_is_key=True)
MEMBERS = [ALICE, BOB, KEYS]


def mentions(message: str, author: str = "author-id") -> tuple[set[str], bool]:
    return find_mentions(message, author, MEMBERS)


def test_an_at_username_mentions_that_member_whatever_its_case_or_trailing_punctuation() -> None:
    assert mentions("@alice") == ({"alice-id"}, False)
    assert mentions("ask @ALICE.") == ({"alice-id"}, False)
    assert mentions("@bob.smith, @bob.smith. and @bob.smith_") == ({"bob-id"}, False)


def test_an_at_inside_a_word_or_code_is_not_a_mention() -> None:
    assert mentions("mail alice@alice.org") == (set(), False)
    assert mentions("`@alice` and ```\n@alice\n```") == (set(), False)
    assert mentions("@alicex @ali") == (set(), False)


def test_channel_all_and_here_are_channel_wide() -> None:
    for word in ("@channel", "@all", "@here!", "(@Here)"):
        assert mentions(f"{word} meeting") == (set(), True), word
    assert mentions("#channel or channel") == (set(), False)


def test_mention_keys_match_whole_words_ignoring_case_and_first_names_match_exactly() -> None:
    assert mentions("DEPLOY now") == ({"keys-id"}, False)
    assert mentions("redeploying now") == (set(), False)
    assert mentions("page @oncall") == ({"keys-id"}, False)
    assert mentions("who has Night Shift") == ({"keys-id"}, False)
    assert mentions("thanks Dana") == ({"keys-id"}, False)
    assert mentions("thanks dana") == (set(), False)


def test_the_author_never_mentions_themselves() -> None:
    assert mentions("@alice remind me", author="alice-id") == (set(), False)


def test_mentioned_names_offer_every_shorter_reading_of_a_trailing_punctuated_name() -> None:
    assert mentioned_names("@bob.smith._") == ([("bob.smith._", "bob.smith.", "bob.smith")], False)


@given(st.text())
def test_any_text_gives_members_of_the_channel_only(message: str) -> None:
    found, _ = mentions(message)
    assert found <= {m.user_id for m in MEMBERS}
