"""The Playbooks plugin's API, part 2: runs, their checklists and items (/plugins/playbooks/api/v0/runs)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from edgenode.api.auth import require_session
from edgenode.api.json import int_param, json_body, json_response
from edgenode.services import BadRequest

from .common import services
from .playbooks import empty, plugin_route

__all__ = ["routes"]


def _run_id(request: Request) -> str:
    return str(request.path_params["id"])


def _indices(request: Request) -> tuple[int, int]:
    try:
        return int(request.path_params["checklist"]), int(request.path_params.get("item", "0"))
    except ValueError:
        raise BadRequest("failed to parse checklist or item") from None


def _ok() -> Response:
    return json_response({"status": "OK"})


async def create_run(request: Request) -> Response:
    session = await require_session(request)
    run = await services(request).runs.create(await json_body(request), session)
    return json_response(run, 201, headers={"Location": f"/api/v0/runs/{run['id']}"})


async def list_runs(request: Request) -> Response:
    session = await require_session(request)
    q = request.query_params
    filters: dict[str, object] = {name: q.get(name, "") for name in (
        "team_id", "owner_user_id", "participant_id", "participant_or_follower_id", "playbook_id", "channel_id",
        "search_term", "sort", "direction")}
    for name in ("owner_user_id", "participant_id", "participant_or_follower_id"):
        if filters[name] == "me":
            filters[name] = session.user_id
    filters["statuses"] = q.getlist("statuses")
    return json_response(await services(request).runs.listing(
        session, filters, int_param(request, "page", 0), int_param(request, "per_page", 1000, minimum=1, maximum=1000)))


async def get_run(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).runs.get(_run_id(request), session))


async def run_metadata(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).runs.metadata(_run_id(request), session))


async def run_by_channel(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).runs.by_channel(request.path_params["channel_id"], session))


async def patch_run(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).runs.patch(_run_id(request), await json_body(request), session))


async def change_owner(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.change_owner(_run_id(request), (await json_body(request)).get("owner_id"), session)
    return json_response({})


async def status_update(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.status_update(_run_id(request), await json_body(request), session)
    return _ok()


async def status_updates(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).runs.status_updates(_run_id(request), session))


async def finish(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.finish(_run_id(request), session)
    return _ok()


async def restore(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.restore(_run_id(request), session)
    return _ok()


async def save_retrospective(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.retrospective(_run_id(request), await json_body(request), session, publish=False)
    return empty(200)


async def publish_retrospective(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.retrospective(_run_id(request), await json_body(request), session, publish=True)
    return empty(200)


async def add_participants(request: Request) -> Response:
    session = await require_session(request)
    await services(request).runs.add_participants(_run_id(request), (await json_body(request)).get("user_ids"),
                                                   session)
    return json_response({})


async def timeline(request: Request) -> Response:
    session = await require_session(request)
    return json_response((await services(request).runs.get(_run_id(request), session))["timeline_events"])


async def followers(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).run_extras.followers(_run_id(request), session))


async def follow(request: Request) -> Response:
    session = await require_session(request)
    await services(request).run_extras.follow(_run_id(request), session, following=request.method == "PUT")
    return empty(200)


async def remove_timeline_event(request: Request) -> Response:
    session = await require_session(request)
    await services(request).run_extras.remove_timeline_event(_run_id(request), request.path_params["event_id"], session)
    return empty(204)


async def toggle_status_updates(request: Request) -> Response:
    session = await require_session(request)
    await services(request).run_extras.toggle(_run_id(request), "status_update_enabled", await json_body(request), session)
    return json_response({"success": True})


async def toggle_retrospective(request: Request) -> Response:
    session = await require_session(request)
    await services(request).run_extras.toggle(_run_id(request), "retrospective_enabled", await json_body(request), session)
    return json_response({"success": True})


async def owners(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).run_extras.owners(request.query_params.get("team_id", ""), session))


# -- checklists and items ------------------------------------------------------------------------

async def add_checklist(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.add_checklist(_run_id(request), await json_body(request), session)
    return empty(201)


async def remove_checklist(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.remove_checklist(_run_id(request), _indices(request)[0], session)
    return empty(201)


async def rename_checklist(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.rename_checklist(_run_id(request), _indices(request)[0],
                                                        await json_body(request), session)
    return empty(200)


async def move_checklist(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.move_checklist(_run_id(request), await json_body(request), session)
    return empty(200)


async def move_item(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.move_item(_run_id(request), await json_body(request), session)
    return empty(200)


async def add_item(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.add_item(_run_id(request), _indices(request)[0], await json_body(request),
                                                session)
    return empty(201)


async def edit_item(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.edit_item(_run_id(request), i, j, await json_body(request), session)
    return empty(200)


async def delete_item(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.delete_item(_run_id(request), i, j, session)
    return empty(204)


async def item_state(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_state(_run_id(request), i, j, (await json_body(request)).get("new_state"),
                                                 session)
    return json_response({})


async def item_skip(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_state(_run_id(request), i, j, "skipped", session)
    return empty(204)


async def item_restore(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_state(_run_id(request), i, j, "", session)
    return empty(204)


async def item_assignee(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_assignee(_run_id(request), i, j, await json_body(request, required=False),
                                                    session)
    return json_response({})


async def item_due_date(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_due_date(_run_id(request), i, j, await json_body(request), session)
    return json_response({})


async def item_command(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.set_command(_run_id(request), i, j, await json_body(request), session)
    return json_response({})


async def item_run(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    svc = services(request)
    item = await svc.checklists.ran_command(_run_id(request), i, j, session)
    result = await svc.commands.execute({"command": item["command"], "channel_id": item["channel_id"],
                                         "team_id": item["team_id"]}, session, str(request.base_url).rstrip("/"))
    return json_response({"trigger_id": result.get("trigger_id", "")})


async def item_duplicate(request: Request) -> Response:
    session = await require_session(request)
    i, j = _indices(request)
    await services(request).checklists.duplicate_item(_run_id(request), i, j, session)
    return empty(201)


async def checklist_duplicate(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.duplicate_checklist(_run_id(request), _indices(request)[0], session)
    return empty(201)


async def checklist_skip(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.set_checklist_state(_run_id(request), _indices(request)[0], True, session)
    return empty(204)


async def checklist_restore(request: Request) -> Response:
    session = await require_session(request)
    await services(request).checklists.set_checklist_state(_run_id(request), _indices(request)[0], False, session)
    return empty(204)


_RUN = "/runs/{id}"
_LIST = _RUN + "/checklists/{checklist:int}"
_ITEM_ROUTES = [
    ("", edit_item, "PUT"), ("", delete_item, "DELETE"), ("/state", item_state, "PUT"), ("/skip", item_skip, "PUT"),
    ("/restore", item_restore, "PUT"), ("/assignee", item_assignee, "PUT"), ("/duedate", item_due_date, "PUT"),
    ("/command", item_command, "PUT"), ("/run", item_run, "POST"), ("/duplicate", item_duplicate, "POST"),
]

routes = [
    plugin_route("/runs", create_run, ["POST"]),
    plugin_route("/runs", list_runs, ["GET"]),
    plugin_route("/runs/channel/{channel_id}", run_by_channel, ["GET"]),
    plugin_route("/runs/owners", owners, ["GET"]),
    plugin_route(_RUN, get_run, ["GET"]),
    plugin_route(_RUN, patch_run, ["PATCH"]),
    plugin_route(_RUN + "/metadata", run_metadata, ["GET"]),
    plugin_route(_RUN + "/owner", change_owner, ["POST"]),
    plugin_route(_RUN + "/status", status_update, ["POST"]),
    plugin_route(_RUN + "/status-updates", status_updates, ["GET"]),
    plugin_route(_RUN + "/finish", finish, ["PUT"]),
    plugin_route(_RUN + "/restore", restore, ["PUT"]),
    plugin_route(_RUN + "/retrospective", save_retrospective, ["POST"]),
    plugin_route(_RUN + "/retrospective/publish", publish_retrospective, ["POST"]),
    plugin_route(_RUN + "/participants", add_participants, ["POST"]),
    plugin_route(_RUN + "/timeline", timeline, ["GET"]),
    plugin_route(_RUN + "/timeline/{event_id}", remove_timeline_event, ["DELETE"]),
    plugin_route(_RUN + "/followers", followers, ["GET"]),
    plugin_route(_RUN + "/followers", follow, ["PUT", "DELETE"]),
    plugin_route(_RUN + "/status-update-enabled", toggle_status_updates, ["PUT"]),
    plugin_route(_RUN + "/retrospective-enabled", toggle_retrospective, ["PUT"]),
    plugin_route(_RUN + "/checklists", add_checklist, ["POST"]),
    plugin_route(_RUN + "/checklists/move", move_checklist, ["POST"]),
    plugin_route(_RUN + "/checklists/move-item", move_item, ["POST"]),
    plugin_route(_LIST, remove_checklist, ["DELETE"]),
    plugin_route(_LIST + "/add", add_item, ["POST"]),
    plugin_route(_LIST + "/rename", rename_checklist, ["PUT"]),
    plugin_route(_LIST + "/duplicate", checklist_duplicate, ["POST"]),
    plugin_route(_LIST + "/skip", checklist_skip, ["PUT"]),
    plugin_route(_LIST + "/restore", checklist_restore, ["PUT"]),
    *[plugin_route(f"{_LIST}/{word}/{{item:int}}{suffix}", handler, [method])
      for word in ("item", "items") for suffix, handler, method in _ITEM_ROUTES],
]
