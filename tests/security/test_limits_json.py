"""Deeply nested JSON is refused with a 400 (or an error frame), never a 500, wherever the node reads JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.hostile_world import hostile_world

from edgenode.api.routes.websocket import BadFrame, ClientAction, parse_action
from edgenode.json_depth import MAX_JSON_DEPTH, TooDeep, loads, nesting_exceeds
from edgenode.services.command_response import CommandResponse


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def test_nesting_up_to_the_limit_parses_and_one_more_level_is_refused() -> None:
    assert loads(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    with pytest.raises(TooDeep):
        loads(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(TooDeep):
        loads(nested(200_000))  # json.loads alone raises RecursionError here


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[{{{{" * 1000, "b": ['\\"[[[', "]]]]\\"]})
    assert loads(text, max_depth=2) == json.loads(text)


@given(st.recursive(st.none() | st.integers() | st.text(), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=30))
def test_the_measured_depth_agrees_with_the_parsed_value(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0
    raw = json.dumps(value).encode()
    assert not nesting_exceeds(raw, depth(value))
    assert nesting_exceeds(raw, depth(value) - 1) is (depth(value) > 0)


async def test_a_deeply_nested_request_body_gets_mattermosts_400(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world:
        for body in (nested(100_000), '{"channel_id": ' + nested(MAX_JSON_DEPTH + 1) + "}"):
            response = await world.call("POST", "/api/v4/posts", world.mallory_token, content=body.encode(),
                                        headers={"Content-Type": "application/json"})
            assert response.status_code == 400, response.text
            assert response.json()["id"] == "api.context.invalid_body_param.app_error"
            assert "nest" in response.json()["message"]


async def test_a_deeply_nested_incoming_webhook_payload_gets_a_400(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world:
        hook = await world.call("POST", "/api/v4/hooks/incoming", world.mallory_token,
                                json={"channel_id": world.channel_id})
        assert hook.status_code == 201, hook.text
        def send(props: str):  # type: ignore[no-untyped-def]
            return world.call("POST", f"/hooks/{hook.json()['id']}",
                              content=('{"text": "x", "props": ' + props + "}").encode(),
                              headers={"Content-Type": "application/json"})
        deep = await send(nested(50_000, "{}"))
        shallow = await send('{"a": {"b": 1}}')
    assert (deep.status_code, deep.json()["id"]) == (400, "model.incoming_hook.parse_data.app_error")
    assert shallow.status_code == 200, shallow.text


def test_a_deeply_nested_websocket_action_gets_an_error_frame() -> None:
    parsed = parse_action('{"seq": 1, "action": "ping", "data": ' + nested(20_000, "{}") + "}")
    assert isinstance(parsed, BadFrame) and parsed.error.error_id == "api.web_socket_router.bad_json.app_error"
    assert isinstance(parse_action('{"seq": 1, "action": "ping", "data": {"a": [[1]]}}'), ClientAction)


def test_a_deeply_nested_integration_reply_is_unusable_not_a_crash() -> None:
    with pytest.raises(ValueError):
        CommandResponse.from_http("application/json", ('{"text": ' + nested(100_000) + "}").encode())
