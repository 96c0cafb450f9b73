"""Playbook bodies and paths shared by the Playbooks tests and benchmarks."""

from __future__ import annotations

from typing import Any

PB = "/plugins/playbooks/api/v0"


def playbook_body(team_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Incident response", "team_id": team_id, "public": True, "reminder_timer_default_seconds": 3600,
        "checklists": [
            {"title": "Triage", "items": [{"title": "Page the on-call"}, {"title": "Open a bridge", "command": "/echo bridge"},
                                          {"title": "Assess impact", "due_date": 3_600_000}]},
            {"title": "Resolve", "items": [{"title": "Mitigate"}, {"title": "Confirm recovery"}]},
        ],
        "metrics": [{"title": "Time to mitigate", "type": "metric_duration", "target": 3_600_000}],
        **extra,
    }
