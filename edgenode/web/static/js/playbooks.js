// Playbook runs, as calls to the node's Playbooks API (/plugins/playbooks/api/v0, the plugin's shapes)
// and changes to state.pb; the run views only call these.
import { api } from "./api.js";
import { state, update } from "./store.js";
import { loadChannels, loadPosts, loadUsers, onSocketEvent } from "./actions.js";

const BASE = "/plugins/playbooks/api/v0";
const pb = (method, path, body) => api(method, path, body, BASE);

state.pb = { playbooks: null, runs: null, run: null, updates: [] };

export async function openRuns() {
  // what another account saw in this tab is never shown meanwhile
  update((s) => { s.view = "runs"; s.threadId = null; s.navOpen = false; s.error = ""; s.pb.playbooks = null; s.pb.runs = null; });
  await loadRunsPage();
}

async function loadRunsPage() {
  const team = encodeURIComponent(state.teamId);
  const [playbooks, runs] = await Promise.all([
    pb("GET", `/playbooks?team_id=${team}&per_page=100&sort=title`),
    pb("GET", `/runs?team_id=${team}&per_page=100&sort=create_at&direction=desc&participant_or_follower_id=me`),
  ]);
  await loadUsers(runs.items.map((r) => r.owner_user_id));
  update((s) => { s.pb.playbooks = playbooks.items; s.pb.runs = runs.items; });
}

export async function createPlaybook({ title, checklist, items }) {
  // a simple playbook: one checklist of one item per line; the rest of the template keeps the plugin's defaults
  const lines = items.split("\n").map((x) => x.trim()).filter(Boolean);
  await pb("POST", "/playbooks", {
    title, team_id: state.teamId, public: true, reminder_timer_default_seconds: 86400,
    checklists: [{ title: checklist || title, items: lines.map((line) => ({ title: line })) }],
  });
  await loadRunsPage();
}

export async function startRun(playbookId, name) {
  const run = await pb("POST", "/runs", { name, playbook_id: playbookId, team_id: state.teamId, owner_user_id: state.me.id });
  await loadChannels();  // the run made its channel, and we are in it
  await openRun(run.id);
  return run;
}

export async function openRun(runId) {
  update((s) => { s.view = "run"; s.threadId = null; s.navOpen = false; s.error = ""; s.pb.run = null; s.pb.updates = []; });
  await reloadRun(runId);
  const channelId = state.pb.run && state.pb.run.channel_id;
  if (channelId && state.channels[channelId]) {
    update((s) => { s.channelId = channelId; });
    if (!state.order[channelId]) await loadPosts(channelId);
  }
}

let generation = 0;  // counts checks shown before the node answered: a reload begun before one is dropped

async function reloadRun(runId) {
  const started = generation;
  const [run, updates] = await Promise.all([pb("GET", `/runs/${runId}`), pb("GET", `/runs/${runId}/status-updates`)]);
  await loadUsers([run.owner_user_id, ...run.participant_ids,
    ...run.checklists.flatMap((c) => c.items.map((i) => i.assignee_id)),
    ...run.timeline_events.flatMap((e) => [e.subject_user_id, e.creator_user_id])]);
  if (state.view === "run" && started === generation) update((s) => { s.pb.run = run; s.pb.updates = updates; });
}

const item = (runId, i, j) => `/runs/${runId}/checklists/${i}/item/${j}`;

export async function setItemState(runId, i, j, newState) {
  generation += 1;  // as clicked, at once
  update((s) => { s.pb.run.checklists[i].items[j] = { ...s.pb.run.checklists[i].items[j], state: newState }; });
  try {
    await pb("PUT", `${item(runId, i, j)}/state`, { new_state: newState });
  } finally {
    generation += 1;
    await reloadRun(runId);  // the node's word, refused or not
  }
}

export async function skipItem(runId, i, j, skipped) {
  await pb("PUT", `${item(runId, i, j)}/${skipped ? "skip" : "restore"}`);
  await reloadRun(runId);
}

export async function assignItem(runId, i, j, userId) {
  await pb("PUT", `${item(runId, i, j)}/assignee`, { assignee_id: userId });
  await reloadRun(runId);
}

export async function setDueDate(runId, i, j, dueDate) {
  await pb("PUT", `${item(runId, i, j)}/duedate`, { due_date: dueDate });
  await reloadRun(runId);
}

export async function addItem(runId, i, title) {
  await pb("POST", `/runs/${runId}/checklists/${i}/add`, { title });
  await reloadRun(runId);
}

export async function postStatusUpdate(runId, message) {
  await pb("POST", `/runs/${runId}/status`, { message, reminder: state.pb.run.reminder_timer_default_seconds || 86400 });
  await reloadRun(runId);
}

export async function saveRetrospective(runId, text, publish) {
  const metrics = state.pb.run.metrics_data || [];
  await pb("POST", `/runs/${runId}/retrospective${publish ? "/publish" : ""}`, { retrospective: text, metrics });
  await reloadRun(runId);
}

export async function finishRun(runId) {
  await pb("PUT", `/runs/${runId}/finish`);
  await reloadRun(runId);
}

// a peer's change (or another tab's) arrives as the plugin's events on /api/v4/websocket
onSocketEvent((message) => {
  if (!message.event.startsWith("custom_playbooks_")) return;
  if (state.view === "run" && state.pb.run) {
    let changed = null;
    try { changed = JSON.parse(message.data.payload); } catch { /* not a run */ }
    const id = changed && (changed.id || (changed.playbook_run && changed.playbook_run.id));
    if (id === state.pb.run.id) reloadRun(id).catch(() => {});
  } else if (state.view === "runs") {
    loadRunsPage().catch(() => {});
  }
});
