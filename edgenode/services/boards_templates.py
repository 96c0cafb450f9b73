"""Built-in board templates: "Project tasks", "Meeting agenda" and "Roadmap".

They are constants of the program, not data: every node serves the same ones under the same ids,
so nothing about them needs replicating. Creating a board from one (POST /boards/{id}/duplicate)
copies it into a real board, with fresh ids, in the board's own feed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TEMPLATES", "template_blocks", "template_board", "GLOBAL_TEAM"]

GLOBAL_TEAM = "0"
"""Focalboard's team id for built-in templates."""

_T = 1_700_000_000_000


def _select(pid: str, name: str, options: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"id": pid, "name": name, "type": "select",
            "options": [{"id": oid, "value": value, "color": color} for oid, value, color in options]}


def _prop(pid: str, name: str, type_: str) -> dict[str, Any]:
    return {"id": pid, "name": name, "type": type_, "options": []}


_STATUS = _select("status", "Status", [("s-todo", "Not Started", "propColorGray"),
                                       ("s-doing", "In Progress", "propColorYellow"),
                                       ("s-blocked", "Blocked", "propColorRed"),
                                       ("s-done", "Completed", "propColorGreen")])
_PRIORITY = _select("priority", "Priority", [("p-high", "1. High", "propColorRed"),
                                             ("p-medium", "2. Medium", "propColorYellow"),
                                             ("p-low", "3. Low", "propColorGray")])

TEMPLATES: dict[str, dict[str, Any]] = {
    "btemplateprojecttasks00000000": {
        "title": "Project tasks", "icon": "🎯", "description": "Track tasks from idea to done.",
        "cardProperties": [_STATUS, _PRIORITY, _prop("assignee", "Assignee", "person"),
                           _prop("due", "Due date", "date"), _prop("estimate", "Estimated hours", "number")],
        "views": [("Board view", "board", "status"), ("Table view", "table", "")],
        "cards": [("Identify the project's goals", {"status": "s-todo", "priority": "p-high"}),
                  ("Draft the plan", {"status": "s-doing", "priority": "p-medium"}),
                  ("Review with the team", {"status": "s-todo", "priority": "p-low"})],
    },
    "btemplatemeetingagenda0000000": {
        "title": "Meeting agenda", "icon": "🗓️", "description": "Topics to discuss, and what was decided.",
        "cardProperties": [_select("topic-status", "Status", [("t-new", "To discuss", "propColorBlue"),
                                                              ("t-revisit", "Revisit", "propColorOrange"),
                                                              ("t-done", "Done", "propColorGreen")]),
                           _prop("owner", "Owner", "person"), _prop("time", "Time needed", "number")],
        "views": [("Discussion items", "board", "topic-status"), ("Agenda", "table", "")],
        "cards": [("Updates since last meeting", {"topic-status": "t-new"}),
                  ("Decisions needed", {"topic-status": "t-new"}),
                  ("Action items", {"topic-status": "t-revisit"})],
    },
    "btemplateroadmap0000000000000": {
        "title": "Roadmap", "icon": "🗺️", "description": "Plan what ships when.",
        "cardProperties": [_select("quarter", "Quarter", [("q1", "Q1", "propColorBlue"), ("q2", "Q2", "propColorGreen"),
                                                          ("q3", "Q3", "propColorYellow"),
                                                          ("q4", "Q4", "propColorPurple")]),
                           _STATUS, _prop("dates", "Target dates", "date"), _prop("owner", "Owner", "person")],
        "views": [("By quarter", "board", "quarter"), ("Timeline", "calendar", ""), ("All items", "table", "")],
        "cards": [("First milestone", {"quarter": "q1", "status": "s-doing"}),
                  ("Second milestone", {"quarter": "q2", "status": "s-todo"})],
    },
}


def template_board(template_id: str) -> dict[str, Any]:
    spec = TEMPLATES[template_id]
    return {"id": template_id, "teamId": GLOBAL_TEAM, "channelId": "", "createdBy": "system", "modifiedBy": "system",
            "type": "O", "minimumRole": "", "title": spec["title"], "description": spec["description"],
            "icon": spec["icon"], "showDescription": True, "isTemplate": True, "templateVersion": 2, "properties": {},
            "cardProperties": spec["cardProperties"], "createAt": _T, "updateAt": _T, "deleteAt": 0}


def template_blocks(template_id: str) -> list[dict[str, Any]]:
    """The template's views and cards as blocks, ids stable across nodes and restarts."""
    spec = TEMPLATES[template_id]
    base = template_id[9:]
    blocks: list[dict[str, Any]] = []
    cards = [f"c{base}{i}" for i in range(len(spec["cards"]))]
    for i, (title, view_type, group_by) in enumerate(spec["views"]):
        blocks.append({"id": f"v{base}{i}", "parentId": template_id, "boardId": template_id, "createdBy": "system",
                       "modifiedBy": "system", "schema": 1, "type": "view", "title": title,
                       "fields": {"viewType": view_type, "groupById": group_by, "sortOptions": [],
                                  "visiblePropertyIds": [p["id"] for p in spec["cardProperties"]],
                                  "hiddenOptionIds": [], "filter": {"operation": "and", "filters": []},
                                  "cardOrder": cards, "columnWidths": {}},
                       "createAt": _T, "updateAt": _T, "deleteAt": 0})
    for card_id, (title, properties) in zip(cards, spec["cards"]):
        blocks.append({"id": card_id, "parentId": template_id, "boardId": template_id, "createdBy": "system",
                       "modifiedBy": "system", "schema": 1, "type": "card", "title": title,
                       "fields": {"icon": "", "properties": properties, "contentOrder": [], "isTemplate": False},
                       "createAt": _T, "updateAt": _T, "deleteAt": 0})
    return blocks
