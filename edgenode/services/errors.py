"""Domain errors; the HTTP layer maps each to Mattermost's error JSON in one place."""

from __future__ import annotations

__all__ = [
    "ServiceError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "PayloadTooLarge",
    "NotImplementedYet",
]


class ServiceError(Exception):
    """Base of domain errors: an HTTP status, a Mattermost-style error id and a message for people."""

    status = 500
    default_id = "app.internal_error"

    def __init__(self, message: str, error_id: str | None = None, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.error_id = error_id or self.default_id
        self.detail = detail


class BadRequest(ServiceError):
    """The request is malformed or breaks a rule (too long, wrong type, missing field)."""

    status = 400
    default_id = "api.context.invalid_param.app_error"


class Unauthorized(ServiceError):
    """No valid session or token."""

    status = 401
    default_id = "api.context.session_expired.app_error"


class Forbidden(ServiceError):
    """Authenticated, but not allowed to do this."""

    status = 403
    default_id = "api.context.permissions.app_error"


class NotFound(ServiceError):
    """No such resource, or one the caller may not know about."""

    status = 404
    default_id = "app.not_found.app_error"


class Conflict(ServiceError):
    """The resource already exists (a taken username, team name, ...)."""

    status = 400
    default_id = "store.sql.unique_constraint.app_error"


class PayloadTooLarge(ServiceError):
    status = 413
    default_id = "api.context.payload_too_large.app_error"


class NotImplementedYet(ServiceError):
    status = 501
    default_id = "api.context.not_implemented.app_error"
