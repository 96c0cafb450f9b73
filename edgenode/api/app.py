"""The HTTP application, assembled in one place from the route modules."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from edgenode.services import Services

from .browser import BrowserBoundary
from .errors import EXCEPTION_HANDLERS
from .middleware import MattermostHeaders
from .routes import (
    boards,
    boards_blocks,
    bundles,
    channels,
    client_start,
    commands,
    files,
    hooks,
    openapi,
    playbook_runs,
    playbooks,
    posts,
    preferences,
    reactions,
    search,
    status,
    system,
    teams,
    ui,
    ui_api,
    users,
    websocket,
)

__all__ = ["build_app", "ROUTE_MODULES"]

ROUTE_MODULES = [system, client_start, users, teams, channels, posts, reactions, files, preferences, search, hooks, commands,
                 websocket, openapi, status, bundles, playbooks, playbook_runs, boards, boards_blocks, ui_api, ui]


def build_app(services: Services, *, bound_host: str | None = None) -> Starlette:
    """The API of `services`; `bound_host` is the address it is served on (a specific one is a Host it answers)."""
    routes = _hottest_first([route for module in ROUTE_MODULES for route in module.routes])
    # services may be None where only the routes are inspected (the OpenAPI checks)
    allowed_hosts = services.ctx.settings.allowed_hosts if services is not None else ()
    boundary = Middleware(BrowserBoundary, allowed_hosts=allowed_hosts, bound_host=bound_host)
    app = Starlette(routes=routes, middleware=[Middleware(MattermostHeaders), boundary],
                    exception_handlers=EXCEPTION_HANDLERS)
    app.state.services = services
    return app


HOT_PATHS = frozenset({"/api/v4/posts"})
"""Paths tried first. Starlette tries routes in order, and creating a post was matched against every route of
the modules before posts (5% of its CPU). Each is an exact path no other route has, so no match changes."""


def _hottest_first(routes: list[BaseRoute]) -> list[BaseRoute]:
    hot = [route for route in routes if isinstance(route, Route) and route.path in HOT_PATHS]
    return hot + [route for route in routes if route not in hot]
