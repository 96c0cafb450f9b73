"""System endpoints: ping, and the client config mattermost clients read at start."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_response
from edgenode.api.middleware import VERSION_ID

from .common import paging, services

__all__ = ["routes"]


async def ping(request: Request) -> Response:
    return json_response({"status": "OK", "ActiveSearchBackend": "database", "database_status": "OK",
                          "filestore_status": "OK"})


async def client_config(request: Request) -> Response:
    svc = services(request)
    # Mattermost's NoAccounts: the web UI shows its first-run setup while it is "true"
    no_accounts = svc.ctx.first_user_becomes_admin and await svc.users.count() == 0
    return json_response({"NoAccounts": "true" if no_accounts else "false",
                          "Version": VERSION_ID, "SiteName": "Edgenode", "EnableSignUpWithEmail": "true",
                          "EnableUserAccessTokens": "true", "EnableBotAccountCreation": "true",
                          "EnableIncomingWebhooks": "true", "EnableOutgoingWebhooks": "true",
                          "EnableCommands": "true", "MaxPostSize": "16383", "BuildNumber": VERSION_ID})


async def audits(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    if not session.is_system_admin:
        from edgenode.services import Forbidden

        raise Forbidden("You do not have the appropriate permissions.")
    page, per_page = paging(request)
    return json_response(await svc.audit.list(page, per_page))


routes = [
    Route("/api/v4/system/ping", ping, methods=["GET"]),
    Route("/api/v4/config/client", client_config, methods=["GET"]),
    Route("/api/v4/audits", audits, methods=["GET"]),
]
