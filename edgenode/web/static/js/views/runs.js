// Playbook runs: the team's playbooks (start a run, or write a simple playbook), the runs you take part
// in, and a run's page: its checklists beside its channel, status updates, timeline and retrospective.
import { useEffect, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, displayName } from "../store.js";
import { t } from "../i18n.js";
import { guarded } from "../actions.js";
import {
  openRun, startRun, createPlaybook, setItemState, skipItem, assignItem, setDueDate, addItem,
  postStatusUpdate, saveRetrospective, finishRun,
} from "../playbooks.js";
import { ChannelView } from "./channel.js";

const day = (ms) => (ms ? new Date(ms).toISOString().slice(0, 10) : "");
const when = (ms) => new Date(ms).toLocaleString(state.lang);

function eventText(event) {
  // the plugin's summaries name users by id: show their names
  let text = event.summary || event.event_type;
  for (const id of [event.subject_user_id, event.creator_user_id]) if (id) text = text.split(id).join(`@${displayName(id)}`);
  // and most leave out who did it
  const by = event.creator_user_id && `@${displayName(event.creator_user_id)}`;
  return by && !text.includes(by) ? `${by} ${text}` : text;
}

function NewPlaybook() {
  const [title, setTitle] = useState("");
  const [items, setItems] = useState("");
  const submit = (e) => {
    e.preventDefault();
    guarded(async () => { await createPlaybook({ title, checklist: t("runs.checklist_default"), items }); setTitle(""); setItems(""); });
  };
  return html`<form class="stack" onSubmit=${submit} aria-labelledby="new-playbook-title">
    <h2 id="new-playbook-title">${t("runs.new_playbook")}</h2>
    <p class="hint">${t("runs.new_playbook_hint")}</p>
    <div class="field"><label for="playbook-title">${t("runs.playbook_title")}</label>
      <input id="playbook-title" value=${title} onInput=${(e) => setTitle(e.target.value)} required maxlength="1024" /></div>
    <div class="field"><label for="playbook-items">${t("runs.playbook_items")}</label>
      <textarea id="playbook-items" rows="4" value=${items} onInput=${(e) => setItems(e.target.value)}></textarea></div>
    <button class="primary" type="submit">${t("runs.create_playbook")}</button></form>`;
}

function StartRun({ playbook }) {
  const [name, setName] = useState("");
  const id = `run-name-${playbook.id}`;
  const submit = (e) => { e.preventDefault(); guarded(() => startRun(playbook.id, name.trim() || playbook.title)); };
  return html`<li class="card-row"><div><strong>${playbook.title}</strong>
      <span class="hint"> · ${t("runs.steps", { count: playbook.num_steps })}</span></div>
    <form class="inline" onSubmit=${submit}>
      <label for=${id}>${t("runs.run_name")}</label>
      <input id=${id} value=${name} placeholder=${playbook.title} onInput=${(e) => setName(e.target.value)} maxlength="1024" />
      <button class="primary" type="submit">${t("runs.start")}</button></form></li>`;
}

export function Runs() {
  const { playbooks, runs } = state.pb;
  if (!playbooks || !runs) return html`<section class="page"><h1>${t("runs.title")}</h1><p role="status">${t("common.loading")}</p></section>`;
  return html`<section class="page runs" aria-labelledby="runs-title">
    <h1 id="runs-title">${t("runs.title")}</h1>
    <h2>${t("runs.yours")}</h2>
    ${runs.length === 0 ? html`<p class="hint">${t("runs.none")}</p>` : html`<ul class="rows">${runs.map((r) => html`<li key=${r.id} class="card-row">
      <a href="#" onClick=${(e) => { e.preventDefault(); guarded(() => openRun(r.id)); }}>${r.name}</a>
      <span class="pill">${r.current_status === "Finished" ? t("runs.finished") : t("runs.in_progress")}</span>
      <span class="hint">${t("runs.progress", { done: r.task_completed, total: r.task_total })} · ${t("runs.owner", { name: displayName(r.owner_user_id) })}</span></li>`)}</ul>`}
    <h2>${t("runs.playbooks")}</h2>
    ${playbooks.length === 0 ? html`<p class="hint">${t("runs.no_playbooks")}</p>`
      : html`<ul class="rows">${playbooks.map((p) => html`<${StartRun} key=${p.id} playbook=${p} />`)}</ul>`}
    <${NewPlaybook} />
  </section>`;
}

function Item({ run, i, j, item, people, finished }) {
  const label = item.title;
  const skipped = item.state === "skipped";
  const base = `item-${i}-${j}`;
  return html`<li class=${`item${skipped ? " skipped" : ""}${item.state === "closed" ? " done" : ""}`}>
    <input type="checkbox" id=${base} checked=${item.state === "closed"} disabled=${skipped || finished}
      onChange=${(e) => guarded(() => setItemState(run.id, i, j, e.target.checked ? "closed" : ""))} />
    <label for=${base}>${label}</label>
    <span class="item-tools">
      <select aria-label=${t("runs.assignee_of", { item: label })} value=${item.assignee_id} disabled=${finished}
        onChange=${(e) => guarded(() => assignItem(run.id, i, j, e.target.value))}>
        <option value="">${t("runs.unassigned")}</option>
        ${people.map((u) => html`<option value=${u.id}>@${u.username}</option>`)}</select>
      <input type="date" aria-label=${t("runs.due_of", { item: label })} value=${day(item.due_date)} disabled=${finished}
        onChange=${(e) => guarded(() => setDueDate(run.id, i, j, e.target.value ? Date.parse(`${e.target.value}T12:00:00Z`) : 0))} />
      <button disabled=${finished} onClick=${() => guarded(() => skipItem(run.id, i, j, !skipped))}
        aria-label=${t(skipped ? "runs.restore_of" : "runs.skip_of", { item: label })}>${skipped ? t("runs.restore") : t("runs.skip")}</button>
    </span></li>`;
}

function Checklist({ run, i, list, people, finished }) {
  const [title, setTitle] = useState("");
  const id = `add-item-${i}`;
  const add = (e) => { e.preventDefault(); if (title.trim()) guarded(async () => { await addItem(run.id, i, title.trim()); setTitle(""); }); };
  return html`<section class="checklist" aria-labelledby=${`checklist-${i}`}>
    <h3 id=${`checklist-${i}`}>${list.title}</h3>
    <ul>${list.items.map((item, j) => html`<${Item} key=${item.id} run=${run} i=${i} j=${j} item=${item} people=${people} finished=${finished} />`)}</ul>
    ${!finished && html`<form class="inline" onSubmit=${add}><label class="sr-only" for=${id}>${t("runs.add_item_to", { list: list.title })}</label>
      <input id=${id} value=${title} placeholder=${t("runs.add_item")} onInput=${(e) => setTitle(e.target.value)} maxlength="1024" />
      <button type="submit">${t("runs.add")}</button></form>`}
  </section>`;
}

function StatusUpdates({ run, finished }) {
  const [message, setMessage] = useState("");
  const send = (e) => { e.preventDefault(); if (message.trim()) guarded(async () => { await postStatusUpdate(run.id, message.trim()); setMessage(""); }); };
  return html`<section aria-labelledby="updates-title"><h2 id="updates-title">${t("runs.updates")}</h2>
    ${!finished && html`<form class="stack" onSubmit=${send}>
      <label for="status-message">${t("runs.update_label")}</label>
      <textarea id="status-message" rows="2" value=${message} onInput=${(e) => setMessage(e.target.value)}></textarea>
      <button class="primary" type="submit">${t("runs.post_update")}</button></form>`}
    ${state.pb.updates.length === 0 ? html`<p class="hint">${t("runs.no_updates")}</p>`
      : html`<ul class="updates">${state.pb.updates.map((u) => html`<li key=${u.id}><strong>@${u.author_user_name}</strong>
        <time>${when(u.create_at)}</time><p>${u.message}</p></li>`)}</ul>`}</section>`;
}

function Retrospective({ run }) {
  const [text, setText] = useState(run.retrospective);
  // a peer's edit replaces the text unless you are writing in it
  useEffect(() => { if (document.activeElement?.id !== "retro-text") setText(run.retrospective); }, [run.id, run.retrospective]);
  if (!run.retrospective_enabled) return null;
  const published = run.retrospective_published_at > 0;
  return html`<section aria-labelledby="retro-title"><h2 id="retro-title">${t("runs.retrospective")}</h2>
    ${published && html`<p class="hint">${t("runs.published", { when: when(run.retrospective_published_at) })}</p>`}
    <label for="retro-text" class="sr-only">${t("runs.retrospective")}</label>
    <textarea id="retro-text" rows="4" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    <div class="row-actions"><button onClick=${() => guarded(() => saveRetrospective(run.id, text, false))}>${t("common.save")}</button>
      <button class="primary" onClick=${() => guarded(() => saveRetrospective(run.id, text, true))}>${t("runs.publish")}</button></div></section>`;
}

export function RunView() {
  const run = state.pb.run;
  if (!run) return html`<section class="page"><p role="status">${t("common.loading")}</p></section>`;
  const finished = run.current_status === "Finished";
  const people = run.participant_ids.map((id) => state.users[id]).filter(Boolean);
  const events = run.timeline_events.filter((e) => !e.delete_at);
  return html`<div class="run-page">
    <section class="page run" aria-labelledby="run-title">
      <header class="run-header"><h1 id="run-title">${run.name}</h1>
        <span class="pill">${finished ? t("runs.finished") : t("runs.in_progress")}</span>
        ${!finished && html`<button onClick=${() => guarded(() => finishRun(run.id))}>${t("runs.finish")}</button>`}</header>
      <p class="hint">${t("runs.owner", { name: displayName(run.owner_user_id) })}${" · "}<span role="status">${t("runs.progress", { done: run.task_completed, total: run.task_total })}</span></p>
      <h2>${t("runs.checklists")}</h2>
      ${run.checklists.map((list, i) => html`<${Checklist} key=${list.id} run=${run} i=${i} list=${list} people=${people} finished=${finished} />`)}
      <${StatusUpdates} run=${run} finished=${finished} />
      <section aria-labelledby="timeline-title"><h2 id="timeline-title">${t("runs.timeline")}</h2>
        <ol class="timeline">${events.map((e) => html`<li key=${e.id}><time>${when(e.event_at)}</time> ${eventText(e)}</li>`)}</ol></section>
      <${Retrospective} run=${run} />
    </section>
    ${state.channels[run.channel_id] && state.channelId === run.channel_id
      ? html`<div class="run-channel"><${ChannelView} /></div>` : null}
  </div>`;
}
