"""Small helpers shared by route modules."""

from __future__ import annotations

from starlette.requests import Request

from edgenode.ids import is_valid_id
from edgenode.services import BadRequest, Services, Session

__all__ = ["services", "path_id", "optional_id", "user_param", "paging"]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def path_id(request: Request, name: str) -> str:
    """A path parameter that must be a 26-character id; a clear 400 otherwise."""
    value = request.path_params[name]
    if not is_valid_id(value):
        raise BadRequest(f"Invalid or missing {name} in request URL.", "api.context.invalid_url_param.app_error")
    return value  # type: ignore[no-any-return]


def user_param(request: Request, session: Session, name: str = "user_id") -> str:
    """A user id path parameter, where "me" means the caller."""
    return session.user_id if request.path_params[name] == "me" else path_id(request, name)


def paging(request: Request) -> tuple[int, int]:
    from edgenode.api.json import int_param

    return int_param(request, "page", 0), int_param(request, "per_page", 60, minimum=1, maximum=200)


def optional_id(request: Request, name: str) -> str:
    """An optional id in the query string: "" when absent, a 400 when malformed."""
    value = request.query_params.get(name, "")
    if value and not is_valid_id(value):
        raise BadRequest(f"Invalid {name} parameter.", "api.context.invalid_url_param.app_error")
    return value
