"""The OpenAPI document: it describes every HTTP route the app serves, and nothing it does not.

The route walk below is what keeps the document true while the API grows: a new route without a
row in edgenode/api/openapi_spec.py fails `test_every_http_route_of_the_app_is_documented`.
Not walked, by design: the WebSocket route (/api/v4/websocket is an upgrade, not an HTTP
operation) and HEAD (implied by GET). The site-root routes /hooks/{hook_id} (incoming webhooks)
and /hooks/commands/{hook_id} (delayed command answers) are documented like the rest.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from edgenode.api.app import build_app
from edgenode.api.middleware import VERSION_ID
from edgenode.api.openapi_spec import OPERATIONS, PATH_PARAMS, build_document, route_key, undocumented
from edgenode.api.routes.openapi import http_routes

APP_ROUTES = sorted(set(http_routes(build_app(None).routes)))  # type: ignore[arg-type]
PUBLIC = {("GET", "/api/v4/system/ping"), ("GET", "/api/v4/config/client"), ("GET", "/api/v4/openapi.json"),
          ("POST", "/api/v4/users/login"), ("POST", "/hooks/{hook_id}"), ("POST", "/hooks/commands/{hook_id}"),
          ("GET", "/api/v4/license/client"),  # clients read it before they log in, as from Mattermost
          ("GET", "/"), ("GET", "/sw.js"), ("GET", "/manifest.webmanifest"), ("GET", "/static/{name}")}  # the web UI
SESSION_OPTIONAL = {("POST", "/api/v4/users"), ("POST", "/api/v4/users/logout")}


def test_every_http_route_of_the_app_is_documented() -> None:
    assert undocumented(APP_ROUTES) == []


def test_the_table_has_one_row_per_route_and_a_schema_for_every_path_parameter() -> None:
    keys = [route_key(o.method, o.path) for o in OPERATIONS]
    assert len(keys) == len(set(keys))
    document = build_document([(o.method, o.path) for o in OPERATIONS], VERSION_ID)
    ids = [operation["operationId"] for item in document["paths"].values() for operation in item.values()]
    assert len(ids) == len(OPERATIONS) == len(set(ids))
    names = {name for o in OPERATIONS for name in re.findall(r"\{([^}]*)\}", o.path)}
    assert names <= set(PATH_PARAMS)


def test_the_document_lists_exactly_the_routes_the_app_serves() -> None:
    document = build_document(APP_ROUTES, VERSION_ID)
    documented = {route_key(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {route_key(*r) for r in APP_ROUTES}


def test_the_document_is_valid_openapi_3_0() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(build_document(APP_ROUTES, VERSION_ID))


def test_every_operation_needs_a_bearer_token_except_the_public_ones() -> None:
    document = build_document(APP_ROUTES, VERSION_ID)
    assert document["security"] == [{"bearer": []}]
    security = {(method.upper(), path): operation.get("security")
                for path, item in document["paths"].items() for method, operation in item.items()}
    assert {k for k, v in security.items() if v == []} == {k for k in PUBLIC if k in security}
    assert {k for k, v in security.items() if v == [{}, {"bearer": []}]} == SESSION_OPTIONAL
    assert all(v is None for k, v in security.items() if k not in PUBLIC | SESSION_OPTIONAL)


def test_every_operation_documents_its_success_and_mattermosts_error_body() -> None:
    document = build_document(APP_ROUTES, VERSION_ID)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert "4XX" in statuses and len(statuses) == 2, (method, path)
            assert operation["responses"]["4XX"] == {"$ref": "#/components/responses/Error"}
    error = document["components"]["schemas"]["AppError"]
    assert error["required"] == ["id", "message", "detailed_error", "request_id", "status_code", "is_oauth"]


def validate_against(document: dict[str, Any], component: str, instance: Any) -> None:
    """Validate with OpenAPI 3.0 semantics (`nullable`), resolving refs inside the document."""
    oas = pytest.importorskip("openapi_schema_validator")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resource("urn:openapi", Resource.from_contents(document, default_specification=DRAFT4))
    oas.OAS30Validator({"$ref": f"urn:openapi#/components/schemas/{component}"}, registry=registry).validate(instance)


async def test_the_served_document_matches_the_app_and_a_real_error_matches_its_schema(api) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("GET", "/api/v4/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == build_document(APP_ROUTES, VERSION_ID)
    unauthorized = await api.call("GET", "/api/v4/users/me")
    validate_against(document, "AppError", unauthorized.json())


async def test_real_users_teams_channels_and_posts_match_their_documented_schemas(api, team) -> None:  # type: ignore[no-untyped-def]
    document = (await api.call("GET", "/api/v4/openapi.json")).json()
    post = await api.call("POST", "/api/v4/posts", team.alice_token,
                          json={"channel_id": team.town_square, "message": "schema check"})
    examples = {
        "User": (await api.call("GET", "/api/v4/users/me", team.alice_token)).json(),
        "Team": (await api.call("GET", f"/api/v4/teams/{team.id}", team.alice_token)).json(),
        "Channel": (await api.call("GET", f"/api/v4/channels/{team.town_square}", team.alice_token)).json(),
        "Post": post.json(),
        "PostList": (await api.call("GET", f"/api/v4/channels/{team.town_square}/posts", team.alice_token)).json(),
    }
    for name, example in examples.items():
        validate_against(document, name, example)
