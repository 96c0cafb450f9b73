"""Every entity Edgenode stores, and the merge rule of each (see docs/architecture.md).

Unless noted, a field is a last-writer-wins register. Memberships, reactions, flags and labels
are add-wins OR-sets. Ordered things (checklist items, cards, views) carry a fractional `position`
key, itself an LWW register. Deletes are permanent tombstones.
"""

from __future__ import annotations

from edgenode.store import Column, CounterKind, EntityTable, Schema, SetTable

__all__ = ["SCHEMA"]


def _cols(spec: str) -> tuple[Column, ...]:
    """'name:TYPE name2 ...' with TEXT as the default type."""
    out = []
    for item in spec.split():
        name, _, type_ = item.partition(":")
        out.append(Column(name, type_ or "TEXT"))
    return tuple(out)


_TIMES = "create_at:INTEGER update_at:INTEGER delete_at:INTEGER"

ENTITIES = [
    # -- directory ---------------------------------------------------------------------------
    EntityTable("user", "users", _cols(
        f"username email nickname first_name last_name position roles password_hash auth_service locale "
        f"props:JSON notify_props:JSON timezone:JSON is_bot:BOOL bot_description bot_owner_id "
        f"last_password_update:INTEGER {_TIMES}"), immutable=frozenset({"create_at"}),
        indexes=(("username",), ("email",))),
    EntityTable("team", "teams", _cols(
        f"name display_name description type email invite_id allow_open_invite:BOOL allowed_domains "
        f"creator_id {_TIMES}"), immutable=frozenset({"create_at", "creator_id"}), indexes=(("name",),)),
    # A member's attributes; whether they are a member at all is the "team.members" OR-set.
    EntityTable("team_member", "team_member_attrs", _cols("team_id user_id roles scheme_admin:BOOL"),
                immutable=frozenset({"team_id", "user_id"})),
    EntityTable("channel", "channels", _cols(
        f"team_id type name display_name header purpose creator_id props:JSON group_constrained:BOOL "
        f"shared:BOOL {_TIMES}"), immutable=frozenset({"team_id", "type", "creator_id", "create_at"}),
        indexes=(("team_id", "name"),)),
    EntityTable("channel_member", "channel_member_attrs", _cols(
        "channel_id user_id roles notify_props:JSON last_viewed_at:INTEGER scheme_admin:BOOL"),
        immutable=frozenset({"channel_id", "user_id"}), indexes=(("user_id",),)),
    # -- messaging ---------------------------------------------------------------------------
    EntityTable("post", "posts", _cols(
        f"channel_id user_id root_id message type props:JSON file_ids:JSON hashtags pending_post_id "
        f"is_pinned:BOOL edit_at:INTEGER mentions:JSON {_TIMES}"),
        # mentions: user ids (and "@channel") the author's node resolved at creation; see services/mentions.py
        immutable=frozenset({"channel_id", "user_id", "root_id", "create_at", "pending_post_id", "mentions"}),
        indexes=(("channel_id", "create_at"), ("root_id",))),
    EntityTable("file", "files", _cols(
        f"user_id channel_id post_id name extension size:INTEGER mime_type content_hash "
        f"width:INTEGER height:INTEGER {_TIMES}"),
        # content_hash: peers ask for a blob by hash, and may get it only if entitled to a file naming it
        immutable=frozenset({"user_id", "channel_id", "content_hash", "size", "create_at"}),
        indexes=(("post_id",), ("content_hash",))),
    EntityTable("incoming_hook", "incoming_hooks", _cols(
        f"user_id channel_id team_id display_name description username icon_url channel_locked:BOOL {_TIMES}"),
        immutable=frozenset({"user_id", "create_at"})),
    EntityTable("outgoing_hook", "outgoing_hooks", _cols(
        f"creator_id team_id channel_id token trigger_words:JSON trigger_when:INTEGER callback_urls:JSON "
        f"display_name description content_type username icon_url {_TIMES}"),
        immutable=frozenset({"creator_id", "create_at"})),
    EntityTable("command", "commands", _cols(
        f"creator_id team_id trigger method url username icon_url token auto_complete:BOOL "
        f"auto_complete_desc auto_complete_hint display_name description {_TIMES}"),
        immutable=frozenset({"creator_id", "create_at"})),
    # -- playbooks (merge rules: docs/playbooks.md) ----------------------------------------------
    # A playbook is a template edited as a whole (the plugin's PUT replaces it), so its checklists,
    # members and the rest of its settings are whole-value registers. Scope "playbook:<id>".
    EntityTable("playbook", "playbooks", _cols(
        f"team_id title description public:BOOL create_public_playbook_run:BOOL checklists:JSON members:JSON "
        f"metrics:JSON settings:JSON signal_any_keywords:JSON signal_any_keywords_enabled:BOOL "
        f"channel_name_template default_owner_id reminder_timer_default_seconds:INTEGER {_TIMES}"),
        immutable=frozenset({"team_id", "create_at"}), indexes=(("team_id",),)),
    # A run and everything in it live in scope "run:<id>". Each field is its own register, so an
    # owner change and a summary edit made apart both survive; a status update never writes
    # current_status, so a finish and a concurrent update both survive.
    EntityTable("run", "runs", _cols(
        f"playbook_id team_id channel_id post_id type name summary summary_modified_at:INTEGER owner_user_id "
        f"reporter_user_id current_status end_at:INTEGER last_status_update_at:INTEGER "
        f"reminder_timer_default_seconds:INTEGER status_update_enabled:BOOL broadcast_channel_ids:JSON "
        f"webhook_on_status_update_urls:JSON retrospective retrospective_published_at:INTEGER "
        f"retrospective_was_canceled:BOOL retrospective_enabled:BOOL settings:JSON {_TIMES}"),
        immutable=frozenset({"playbook_id", "team_id", "reporter_user_id", "type", "create_at"}),
        indexes=(("team_id",), ("channel_id",))),
    EntityTable("checklist", "checklists", _cols("run_id title position create_at:INTEGER update_at:INTEGER"),
                immutable=frozenset({"run_id", "create_at"}), indexes=(("run_id", "position"),)),
    # An item's checklist is a register too: moving an item to another checklist is one write of
    # (checklist_id, position), so concurrent moves resolve to one place.
    EntityTable("checklist_item", "checklist_items", _cols(
        "checklist_id run_id title description state state_modified:INTEGER state_modified_by assignee_id "
        "assignee_type assignee_modified:INTEGER command command_last_run:INTEGER due_date:INTEGER "
        "task_actions:JSON position create_at:INTEGER update_at:INTEGER delete_at:INTEGER"),
        immutable=frozenset({"run_id", "create_at"}), indexes=(("run_id", "position"),)),
    # One row per event, written in the same op batch as the change it records: the timeline is
    # the set of these ops, ordered by (event_at, id) on every node.
    EntityTable("timeline_event", "timeline_events", _cols(
        "run_id create_at:INTEGER event_at:INTEGER event_type summary details post_id subject_user_id "
        "creator_user_id delete_at:INTEGER"),
        immutable=frozenset({"run_id", "create_at", "event_type", "creator_user_id"}),
        indexes=(("run_id", "event_at"),)),
    EntityTable("status_update", "run_status_updates", _cols(
        "run_id post_id message user_id create_at:INTEGER delete_at:INTEGER"),
        immutable=frozenset({"run_id", "post_id", "message", "user_id", "create_at"}),
        indexes=(("run_id", "create_at"),)),
    # One row per (run, metric), id "<run id>:<metric id>", so values of different metrics edited
    # apart both survive.
    EntityTable("run_metric", "run_metrics", _cols("run_id metric_config_id value:INTEGER"),
                immutable=frozenset({"run_id", "metric_config_id"}), indexes=(("run_id",),)),
    # -- boards (scope "board:<id>"; merge rules in docs/boards.md) ------------------------------
    # Deleting is a delete_at register (Focalboard's soft delete, which undelete reverses); an edit
    # never writes delete_at, so a card deleted on one side and edited on the other stays deleted.
    EntityTable("board", "boards", _cols(
        f"team_id channel_id created_by modified_by type minimum_role title description icon "
        f"show_description:BOOL is_template:BOOL template_version:INTEGER properties:JSON card_properties:JSON "
        f"{_TIMES}"), immutable=frozenset({"team_id", "created_by", "create_at"}), indexes=(("team_id",),)),
    # A member's roles; whether they are a member at all is the "board.members" OR-set. Id: board:user.
    EntityTable("board_member", "board_member_attrs", _cols(
        "board_id user_id scheme_admin:BOOL scheme_editor:BOOL scheme_commenter:BOOL scheme_viewer:BOOL"),
        immutable=frozenset({"board_id", "user_id"})),
    # position: the card's default place in every view (set once, at creation, after the last card)
    EntityTable("card", "cards", _cols(
        f"board_id created_by modified_by title icon is_template:BOOL position {_TIMES}"),
        immutable=frozenset({"board_id", "created_by", "create_at"}), indexes=(("board_id",),)),
    # One card property value per row, so concurrent edits of different properties both survive.
    # Id: a hash of (card, property), so two nodes setting the same value offline write one register.
    EntityTable("card_value", "card_values", _cols("card_id property_id value:JSON"),
                immutable=frozenset({"card_id", "property_id"}), indexes=(("card_id",),)),
    EntityTable("view", "board_views", _cols(
        f"board_id created_by modified_by title view_type group_by_id sort_options:JSON "
        f"visible_property_ids:JSON hidden_option_ids:JSON filter:JSON column_widths:JSON extra:JSON position "
        f"{_TIMES}"), immutable=frozenset({"board_id", "created_by", "create_at"}), indexes=(("board_id",),)),
    # A card's place in one view once somebody moved it there: an LWW fractional key per (view, card),
    # id "view:card" (so a view's positions are one range of the primary key, and a move is a small op).
    # A move is one register write, so moves of different cards never interfere and a card moved on
    # two sides keeps the later move.
    EntityTable("card_position", "card_positions", _cols("position")),
    # Content inside a card (text, checkbox, comment, image, attachment, divider), ordered by position.
    EntityTable("block", "blocks", _cols(
        f"board_id parent_id created_by modified_by type title fields:JSON position {_TIMES}"),
        immutable=frozenset({"board_id", "parent_id", "type", "created_by", "create_at"}),
        indexes=(("board_id",), ("parent_id",))),
    # -- mesh (scope "mesh"; only the authority's feed counts, see sync/revocation.py) --------------
    EntityTable("revocation", "revocations", _cols("node_key revoked_at:INTEGER reason last_seqs:JSON"),
                immutable=frozenset({"node_key", "revoked_at", "reason", "last_seqs"}), indexes=(("node_key",),)),
    # A node's evidence of enrolment (scope "node", written by the node itself): its certificate
    # from the mesh authority, base64 DER. Id: the node key in hex. Roles: "hub" or "".
    EntityTable("node", "mesh_nodes", _cols("name certificate roles create_at:INTEGER"),
                immutable=frozenset({"name", "certificate", "roles", "create_at"})),
]

SETS = [
    SetTable("team.members", "team_members", "team_id", ("user_id",)),
    SetTable("channel.members", "channel_members", "channel_id", ("user_id",)),
    SetTable("post.reactions", "reactions", "post_id", ("user_id", "emoji_name")),
    SetTable("user.flagged", "flagged_posts", "user_id", ("post_id",)),
    # The nodes (key hex) a user has an account on: they are entitled to the user's private feeds.
    SetTable("user.nodes", "user_nodes", "user_id", ("node",)),
    SetTable("run.participants", "run_participants", "run_id", ("user_id",)),
    SetTable("run.followers", "run_followers", "run_id", ("user_id",)),
    SetTable("board.members", "board_members", "board_id", ("user_id",)),
]

COUNTERS = [
    CounterKind("channel.posts"),
    CounterKind("post.replies"),
]

SCHEMA = Schema.of(ENTITIES, SETS, COUNTERS)
