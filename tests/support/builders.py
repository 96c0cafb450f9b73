"""Builders for realistic op sequences used across store tests."""

from __future__ import annotations

from crdt import Create

TEAM = "t" * 26
CHANNEL = "c" * 26


def team_and_channel(team: str = TEAM, channel: str = CHANNEL) -> list[Create]:
    return [
        Create("team", team, {"name": "ops", "display_name": "Ops", "type": "O"}),
        Create("channel", channel, {"team_id": team, "type": "O", "name": "town-square"}, deps=[("team", team)]),
    ]


def post(post_id: str, message: str, channel: str = CHANNEL, user: str = "u" * 26) -> Create:
    return Create(
        "post", post_id,
        {"channel_id": channel, "user_id": user, "message": message, "create_at": 1, "root_id": ""},
        deps=[("channel", channel)],
    )
