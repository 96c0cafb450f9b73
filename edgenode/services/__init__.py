"""Domain services: what the HTTP API (and later the UI and sync) call. They do no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from .audit import AuditLog
from .boards_root import Boards
from .channels import ChannelService
from .commands import CommandService
from .context import Context
from .errors import BadRequest, Conflict, Forbidden, NotFound, ServiceError, Unauthorized
from .events import Broadcast, Event, EventBus
from .files import FileService
from .membership import Memberships
from .outgoing import OutgoingDispatcher, OutgoingHookService
from .peer_events import PeerEvents
from .playbook_checklists import ChecklistService
from .playbook_commands import PLAYBOOK_COMMAND, PLAYBOOK_TRIGGER, KeywordWatcher, PlaybookCommand
from .playbook_notify import PlaybookNotifier
from .playbook_run_extras import RunExtras
from .playbook_runs import RunService
from .playbooks import PlaybookService
from .posts import PostService
from .preferences import PreferenceService
from .reactions import ReactionService
from .search import SearchService
from .teams import TeamService
from .unreads import UnreadService
from .users import Session, UserService
from .webhooks import IntegrationAccess, IntegrationPoster, WebhookService

__all__ = [
    "AuditLog", "BadRequest", "Boards", "Broadcast", "ChannelService", "Conflict", "Context", "Event", "EventBus",
    "Forbidden", "Memberships", "NotFound", "PeerEvents", "PostService", "SearchService", "ServiceError", "Services",
    "Session", "TeamService", "Unauthorized", "UserService",
    "FileService", "PreferenceService", "ReactionService", "UnreadService",
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
    search: SearchService
    webhooks: WebhookService
    outgoing_hooks: OutgoingHookService
    outgoing: OutgoingDispatcher  # started and stopped by the composition root
    commands: CommandService
    files: FileService
    reactions: ReactionService
    preferences: PreferenceService
    unreads: UnreadService
    peer_events: PeerEvents  # started and stopped by the composition root
    playbooks: PlaybookService
    runs: RunService
    checklists: ChecklistService
    run_extras: RunExtras
    playbook_keywords: KeywordWatcher  # started and stopped by the composition root
    playbook_notifier: PlaybookNotifier  # started and stopped by the composition root
    boards: Boards

    @classmethod
    def build(cls, ctx: Context) -> Services:
        audit = AuditLog(ctx)
        members = Memberships(ctx)
        users = UserService(ctx, audit)
        teams = TeamService(ctx, members, audit)
        channels = ChannelService(ctx, members, audit)
        teams.on_member_added.append(channels.join_defaults)
        files = FileService(ctx, channels, members)
        posts = PostService(ctx, channels, files)
        reactions = ReactionService(ctx, posts, channels, members)
        preferences = PreferenceService(ctx, posts, members)
        unreads = UnreadService(ctx, members)
        search = SearchService(ctx, members, posts)
        access, poster = IntegrationAccess(ctx, members), IntegrationPoster(ctx, posts)
        webhooks = WebhookService(ctx, access, channels, members, poster, audit)
        outgoing_hooks = OutgoingHookService(ctx, access, channels, audit)
        outgoing = OutgoingDispatcher(ctx, outgoing_hooks, access, poster)
        commands = CommandService(ctx, access, channels, members, posts, poster, audit)
        commands.search = search
        peer_events = PeerEvents(ctx, posts, channels)
        playbooks = PlaybookService(ctx, members)
        notifier = PlaybookNotifier(ctx, posts)
        runs = RunService(ctx, members, channels, posts, playbooks, notifier)
        checklists = ChecklistService(ctx, members, runs)
        commands.plugins[PLAYBOOK_TRIGGER] = PlaybookCommand(ctx, playbooks, runs, checklists).run
        commands.plugin_listing.append(PLAYBOOK_COMMAND)
        peer_events.scope_events["run"] = runs.peer_events
        peer_events.scope_events["playbook"] = playbooks.peer_events
        boards = Boards.build(ctx, members)
        return cls(ctx, audit, members, users, teams, channels, posts, search, files=files, reactions=reactions,
                   preferences=preferences, unreads=unreads, peer_events=peer_events, playbooks=playbooks, runs=runs,
                   checklists=checklists, run_extras=RunExtras(ctx, members, runs), playbook_keywords=KeywordWatcher(ctx, playbooks, runs),
                   playbook_notifier=notifier, boards=boards,
                   webhooks=webhooks, outgoing_hooks=outgoing_hooks, outgoing=outgoing, commands=commands)
