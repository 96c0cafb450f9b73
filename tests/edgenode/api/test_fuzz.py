"""Hostile input through the whole API: no request gets a 5xx, every 4xx is Mattermost's error body,
and a rejected write changes nothing.

Two fuzzers:
- schemathesis generates requests for every operation of the served OpenAPI document (valid ones
  and deliberately invalid ones) and checks the answers against the document;
- hypothesis throws random JSON (wrong types, missing fields, huge strings, nested junk) at the main
  write endpoints and compares the store's digest before and after each rejected request.
Both are derandomized and bounded, so they are deterministic and quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from edgenode.api.app import build_app
from edgenode.api.openapi_spec import route_key
from edgenode.api.routes.openapi import http_routes
from edgenode.node import open_node
from edgenode.settings import NodeSettings

ERROR_FIELDS = {"id": str, "message": str, "detailed_error": str, "request_id": str, "status_code": int,
                "is_oauth": bool}
FUZZ_EXAMPLES = 8  # per operation and generation mode; ~100 operations x 2 modes stay well under a minute


def assert_mattermost_error(status: int, headers: Any, body: bytes) -> None:
    """A 4xx/5xx body is exactly Mattermost's AppError, tied to the response by its request id."""
    data = json.loads(body)
    assert isinstance(data, dict) and set(data) == set(ERROR_FIELDS), data
    assert all(isinstance(data[k], t) for k, t in ERROR_FIELDS.items()), data
    assert data["status_code"] == status and data["id"] and data["message"], data
    assert data["request_id"] == headers["x-request-id"], data


# -- schemathesis over the served document -------------------------------------------------------


@dataclass
class World:
    """Ids of real things the fuzzer may aim at, so generated requests reach past the 404s."""

    token: str = ""
    path_ids: dict[str, list[str]] = field(default_factory=dict)
    body_ids: dict[str, list[str]] = field(default_factory=dict)


class NodeApp:
    """The real app over a node opened by the ASGI lifespan, in the loop that will serve it.

    schemathesis runs an ASGI app on an event loop of its own, in a thread; the store's connections
    must live on that loop, so the node is opened (and a world seeded) at lifespan startup.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.world = World()
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        async with AsyncExitStack() as stack:
            await receive()  # lifespan.startup
            try:
                # schemathesis's ASGI client sends Host: testserver, a name the node must be told to answer
                settings = NodeSettings(allowed_hosts=("testserver",))
                node = await stack.enter_async_context(open_node(self.data_dir, settings))
                self._app = build_app(node.services)
                await self._seed()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def _seed(self) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app), base_url="http://localhost") as http:
            async def call(method: str, path: str, token: str = "", **kwargs: Any) -> httpx.Response:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return await http.request(method, "/api/v4" + path, headers=headers, **kwargs)

            async def user(name: str, admin: str = "") -> tuple[str, str]:
                created = await call("POST", "/users", admin,
                                     json={"username": name, "email": f"{name}@example.com", "password": "password1"})
                login = await call("POST", "/users/login", json={"login_id": name, "password": "password1"})
                return created.json()["id"], login.headers["Token"]

            _, admin = await user("admin")
            fuzzer_id, token = await user("fuzzer", admin)
            other_id, _ = await user("other", admin)
            team_id = (await call("POST", "/teams", admin, json={"name": "fuzz", "display_name": "Fuzz", "type": "O"})).json()["id"]
            for member in (fuzzer_id, other_id):
                await call("POST", f"/teams/{team_id}/members", admin, json={"team_id": team_id, "user_id": member})
            channel_id = (await call("GET", f"/teams/{team_id}/channels/name/town-square", token)).json()["id"]
            post_id = (await call("POST", "/posts", token, json={"channel_id": channel_id, "message": "seed #fuzz"})).json()["id"]
            ids = {"team_id": [team_id], "channel_id": [channel_id], "post_id": [post_id], "user_id": ["me", other_id],
                   "username": ["fuzzer", "other"], "name": ["fuzz"], "team_name": ["fuzz"],
                   "channel_name": ["town-square"], "emoji_name": ["smile"], "category": ["flagged_post"],
                   "preference_name": [post_id]}
            # Features that other parts of the API provide are aimed at only once they exist.
            reaction = await call("POST", "/reactions", token, json={"user_id": fuzzer_id, "post_id": post_id, "emoji_name": "smile"})
            if reaction.status_code == 404:
                ids.pop("emoji_name")
            hook = await call("POST", "/hooks/incoming", token, json={"channel_id": channel_id, "display_name": "fuzz"})
            if hook.status_code in (200, 201):
                ids["hook_id"] = [hook.json()["id"]]
            upload = await call("POST", "/files", token, data={"channel_id": channel_id},
                                files={"files": ("fuzz.txt", b"fuzz", "text/plain")})
            if upload.status_code in (200, 201):
                ids["file_id"] = [upload.json()["file_infos"][0]["id"]]
            self.world.token = token
            self.world.path_ids = ids
            self.world.body_ids = {"team_id": [team_id], "channel_id": [channel_id], "post_id": [post_id],
                                   "root_id": [post_id], "user_id": [fuzzer_id, other_id]}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, World]]:
    target = NodeApp(tmp_path / "node")
    schema = schemathesis.openapi.from_asgi("/api/v4/openapi.json", target)
    try:
        yield schema, target.world
    finally:
        shutdown_lifespans()


def aim_at_real_ids(generated: Any, real_ids: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Half the time, point a generated object's id fields at things that exist: random ids nearly always miss."""
    if not isinstance(generated, dict) or not any(name in real_ids for name in generated):
        return st.just(generated)
    aimed = {name: st.sampled_from(real_ids[name]) if name in real_ids else st.just(value)
             for name, value in generated.items()}
    return st.just(generated) | st.fixed_dictionaries(aimed)


def mattermost_error_body(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """A schemathesis check: every error answer is Mattermost's AppError."""
    if response.status_code >= 400:
        headers = {name: values[0] for name, values in response.headers.items()}  # names are lowercase
        assert_mattermost_error(response.status_code, headers, response.content)
    return None


def test_no_generated_request_gets_a_5xx_or_a_non_mattermost_error(served: tuple[Any, World]) -> None:
    schema, world = served
    # Logging out would end the fuzzer's own session and turn every later request into a 401.
    schema = schema.exclude(path="/api/v4/users/logout")

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        return aim_at_real_ids(path_parameters, world.path_ids)

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
        return aim_at_real_ids(body, world.body_ids)

    checks = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, mattermost_error_body]
    auth = {"Authorization": f"Bearer {world.token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call(headers=auth)
                case.validate_response(response, checks=checks, headers=auth)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body): the positive run covered it
            except Exception as exc:  # noqa: BLE001 - one operation's failure must not hide another's
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:2000]}")
    assert failures == [], "\n\n".join(failures)


# -- random JSON at the write endpoints, with the store's digest as the witness -------------------

_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
           | st.sampled_from(["", " ", "\x00", "x" * 20_000, "é" * 16_384, "a" * 65, "#tag " * 500]))
JUNK = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=10)
WRITE_EXAMPLES = 25  # per endpoint


def hostile_bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies near a valid one (a field of the wrong type or missing, junk added) and far from it."""
    keys = st.sampled_from(sorted(valid))
    near = st.one_of(
        st.tuples(keys, JUNK).map(lambda kv: {**valid, kv[0]: kv[1]}),
        keys.map(lambda k: {name: value for name, value in valid.items() if name != k}),
        st.dictionaries(st.text(max_size=8), JUNK, min_size=1, max_size=3).map(lambda extra: {**extra, **valid}),
    )
    as_json = st.one_of(near, JUNK).map(lambda body: json.dumps(body).encode())
    return as_json | st.binary(max_size=64) | st.sampled_from([b"", b"{", b"[]", b"null", b'{"a":' * 200])


SERVED = {route_key(*route) for route in http_routes(build_app(None).routes)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class WriteEndpoint:
    method: str
    route: str
    actor: str  # "admin" or "alice"
    valid: dict[str, Any]
    post_id: str = ""

    @property
    def path(self) -> str:
        return self.route.replace("{post_id}", self.post_id)


@pytest.fixture
async def write_targets(api, team) -> dict[str, WriteEndpoint]:  # type: ignore[no-untyped-def]
    """Each endpoint with a valid body to start from; the post is alice's, in town-square."""
    post = (await api.call("POST", "/api/v4/posts", team.alice_token,
                           json={"channel_id": team.town_square, "message": "target"})).json()
    return {
        "create user": WriteEndpoint("POST", "/api/v4/users", "admin",
                                     {"username": "newcomer", "email": "newcomer@example.com", "password": "password1"}),
        "create team": WriteEndpoint("POST", "/api/v4/teams", "alice",
                                     {"name": "new-team", "display_name": "New", "type": "O"}),
        "create channel": WriteEndpoint("POST", "/api/v4/channels", "alice",
                                        {"team_id": team.id, "name": "new-channel", "display_name": "New", "type": "O",
                                         "purpose": "", "header": ""}),
        "create post": WriteEndpoint("POST", "/api/v4/posts", "alice",
                                     {"channel_id": team.town_square, "message": "hello", "root_id": post["id"],
                                      "props": {}, "file_ids": []}),
        "patch post": WriteEndpoint("PUT", "/api/v4/posts/{post_id}/patch", "alice",
                                    {"message": "edited", "is_pinned": True, "props": {}}, post["id"]),
        "add reaction": WriteEndpoint("POST", "/api/v4/reactions", "alice",
                                      {"user_id": team.alice["id"], "post_id": post["id"], "emoji_name": "smile"}),
    }


@pytest.mark.parametrize("endpoint", ["create user", "create team", "create channel", "create post", "patch post",
                                      "add reaction"])
@settings(max_examples=WRITE_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
async def test_a_rejected_write_is_a_4xx_error_body_and_changes_nothing(  # type: ignore[no-untyped-def]
        api, team, write_targets, endpoint: str, data: st.DataObject) -> None:
    target: WriteEndpoint = write_targets[endpoint]
    if route_key(target.method, target.route) not in SERVED:
        pytest.skip(f"{target.method} {target.route} is not served yet")
    body = data.draw(hostile_bodies(target.valid), label="body")
    token = api.admin_token if target.actor == "admin" else team.alice_token
    before = await api.node.store.digest()
    response = await api.call(target.method, target.path, token, content=body,
                              headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_mattermost_error(response.status_code, response.headers, response.content)
        assert await api.node.store.digest() == before


# -- inputs the fuzzers once found crashing the API, kept as regressions -------------------------


async def test_a_page_number_past_64_bits_is_a_400_not_a_crash(api, team) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v4/users?page=9223372036854775808", "/api/v4/teams?page=-9223372036854775809",
                 f"/api/v4/teams/{team.id}/members?page=4611686018427387904"):
        response = await api.call("GET", path, team.alice_token)
        assert response.status_code == 400, path
        assert_mattermost_error(400, response.headers, response.content)


async def test_an_integer_past_64_bits_in_a_body_is_a_400_and_writes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = (await api.call("POST", "/api/v4/posts", team.alice_token,
                           json={"channel_id": team.town_square, "message": "target"})).json()
    before = await api.node.store.digest()
    response = await api.call("PUT", f"/api/v4/posts/{post['id']}/patch", team.alice_token,
                              content=b'{"message": "edited", "props": {"": 9223372036854775808}}')
    assert (response.status_code, response.json()["id"]) == (400, "api.context.invalid_body_param.app_error")
    assert await api.node.store.digest() == before
