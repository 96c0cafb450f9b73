"""Domain services: what the HTTP API (and later the UI and sync) call. They do no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from .audit import AuditLog
from .channels import ChannelService
from .context import Context
from .errors import BadRequest, Conflict, Forbidden, NotFound, ServiceError, Unauthorized
from .events import Broadcast, Event, EventBus
from .membership import Memberships
from .posts import PostService
from .teams import TeamService
from .users import Session, UserService

__all__ = [
    "AuditLog", "BadRequest", "Broadcast", "ChannelService", "Conflict", "Context", "Event", "EventBus",
    "Forbidden", "Memberships", "NotFound", "PostService", "ServiceError", "Services", "Session",
    "TeamService", "Unauthorized", "UserService",
]


@dataclass(slots=True)
class Services:
    """Every domain service of a node, built once by the composition root."""

    ctx: Context
    audit: AuditLog
    members: Memberships
    users: UserService
    teams: TeamService
    channels: ChannelService
    posts: PostService

    @classmethod
    def build(cls, ctx: Context) -> Services:
        audit = AuditLog(ctx)
        members = Memberships(ctx)
        users = UserService(ctx, audit)
        teams = TeamService(ctx, members, audit)
        channels = ChannelService(ctx, members, audit)
        teams.on_member_added.append(channels.join_defaults)
        posts = PostService(ctx, channels)
        return cls(ctx, audit, members, users, teams, channels, posts)
