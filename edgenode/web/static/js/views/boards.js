// Boards: the team's boards (a new one from a built-in template), and a board through its views: the
// kanban (columns of the grouping select property; cards moved by drag and drop or by keyboard, each
// move announced) and the table. A card opens in a dialog (views/card.js).
import { useEffect, useLayoutEffect, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, update } from "../store.js";
import { t } from "../i18n.js";
import { guarded } from "../actions.js";
import {
  openBoard, createFromTemplate, boardViews, currentView, cardsInOrder, groupProperty, moveCard, announce, addCard,
  openCard,
} from "../boards.js";
import { CardDialog, propertyText } from "./card.js";

export function Boards() {
  const { boards, templates } = state.fb;
  if (!boards) return html`<section class="page"><h1>${t("boards.title")}</h1><p role="status">${t("common.loading")}</p></section>`;
  return html`<section class="page boards" aria-labelledby="boards-title">
    <h1 id="boards-title">${t("boards.title")}</h1>
    ${boards.length === 0 ? html`<p class="hint">${t("boards.none")}</p>` : html`<ul class="rows">${boards.map((b) => html`<li key=${b.id} class="card-row">
      <span aria-hidden="true">${b.icon}</span>
      <a href="#" onClick=${(e) => { e.preventDefault(); guarded(() => openBoard(b.id)); }}>${b.title}</a>
      <span class="hint">${b.description}</span></li>`)}</ul>`}
    <h2>${t("boards.new")}</h2>
    <ul class="rows">${templates.map((x) => html`<li key=${x.id} class="card-row">
      <span aria-hidden="true">${x.icon}</span><strong>${x.title}</strong><span class="hint">${x.description}</span>
      <button class="primary" aria-label=${t("boards.use_template", { name: x.title })}
        onClick=${() => guarded(() => createFromTemplate(x.id))}>${t("boards.use")}</button></li>`)}</ul>
  </section>`;
}

let dragged = null;

function clearDropMarks() {
  // dragleave does not always follow a drop on a child: the marks go with the drag, whatever ended it
  for (const el of document.querySelectorAll(".drop-here")) el.classList.remove("drop-here");
}

let focusAfterRender = null;  // the card a keyboard move took to another column (a new element there)

const FIRST = 40; // cards per column in the first paint: more than a 1366x768 window shows; the rest follow

function Kanban({ view }) {
  const [limit, setLimit] = useState(FIRST);
  useEffect(() => {
    // a board of thousands of cards paints its first screen at once, and builds the rest a frame later
    const timer = setTimeout(() => requestAnimationFrame(() => setLimit(Infinity)), 0);
    return () => clearTimeout(timer);
  }, []);
  useLayoutEffect(() => {
    // in the same commit as the move's render and announcement: the moved card keeps the keyboard focus
    const el = focusAfterRender && document.getElementById(`card-${focusAfterRender}`);
    if (el) { focusAfterRender = null; el.focus(); }
  });
  const group = groupProperty(view);
  if (!group) return html`<p class="hint">${t("boards.no_group")}</p>`;
  const cards = cardsInOrder(view);
  const columns = [{ id: "", value: t("boards.no_value", { name: group.name }) }, ...group.options];
  const valueOf = (card) => card.fields.properties[group.id] || "";
  const byColumn = columns.map((o) => cards.filter((c) => valueOf(c) === o.id));
  const shown = columns.map((o, k) => ({ option: o, cards: byColumn[k] })).filter((c) => c.option.id || c.cards.length);

  const move = async (card, k, before, keyboard) => {
    if (keyboard) focusAfterRender = card.id;
    const written = moveCard(card.id, shown[k].option.id, before);
    const column = cardsInOrder(currentView()).filter((c) => valueOf(c) === shown[k].option.id);
    announce(t("boards.moved", { card: card.title, column: shown[k].option.value,
      position: column.findIndex((c) => c.id === card.id) + 1, total: column.length }));
    await written;
  };
  const onKey = (e, card, k, j) => {
    if (!(e.ctrlKey || e.metaKey) || !e.key.startsWith("Arrow")) return;
    e.preventDefault();
    const list = shown[k].cards;
    if (e.key === "ArrowLeft" && k > 0) guarded(() => move(card, k - 1, null, true));
    else if (e.key === "ArrowRight" && k < shown.length - 1) guarded(() => move(card, k + 1, null, true));
    else if (e.key === "ArrowUp" && j > 0) guarded(() => move(card, k, list[j - 1].id, true));
    else if (e.key === "ArrowDown" && j < list.length - 1) guarded(() => move(card, k, list[j + 2] ? list[j + 2].id : null, true));
  };
  const drop = (e, k, beforeId) => {
    e.preventDefault();
    e.stopPropagation();
    clearDropMarks();
    const card = state.fb.blocks[dragged || e.dataTransfer.getData("text/plain")];
    dragged = null;
    if (card && card.id !== beforeId) guarded(() => move(card, k, beforeId));
  };
  const over = (e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; e.currentTarget.classList.add("drop-here"); };
  const leave = (e) => e.currentTarget.classList.remove("drop-here");
  return html`<div class="kanban">
    <p id="kanban-help" class="sr-only">${t("boards.keys")}</p>
    ${shown.map(({ option, cards: list }, k) => html`<section key=${option.id || "none"} class="column"
        aria-labelledby=${`col-${k}`} onDragOver=${over} onDragLeave=${leave} onDrop=${(e) => drop(e, k, null)}>
      <h2 id=${`col-${k}`}><span class=${`tag ${option.color || ""}`}>${option.value}</span> <span class="count">${list.length}</span></h2>
      <ul>${list.slice(0, limit).map((card, j) => html`<li key=${card.id} onDragOver=${over} onDragLeave=${leave}
          onDrop=${(e) => {
            const box = e.currentTarget.getBoundingClientRect();
            const after = e.clientY > box.top + box.height / 2;
            drop(e, k, after ? (list[j + 1] ? list[j + 1].id : null) : card.id);
          }}>
        <button id=${`card-${card.id}`} class="card" draggable="true" aria-describedby="kanban-help"
          onDragStart=${(e) => { dragged = card.id; e.dataTransfer.setData("text/plain", card.id); e.dataTransfer.effectAllowed = "move"; }}
          onDragEnd=${() => { dragged = null; clearDropMarks(); }}
          onKeyDown=${(e) => onKey(e, card, k, j)} onClick=${() => openCard(card.id)}>
          <span class="card-title">${card.fields.icon ? `${card.fields.icon} ` : ""}${card.title || t("boards.untitled")}</span>
          ${state.fb.board.cardProperties.filter((p) => p.id !== group.id && card.fields.properties[p.id]).slice(0, 3)
            .map((p) => html`<span class="card-prop">${propertyText(p, card.fields.properties[p.id])}</span>`)}
        </button></li>`)}</ul>
    </section>`)}
  </div>`;
}

function Table({ view }) {
  const props = state.fb.board.cardProperties;
  const cards = cardsInOrder(view);
  return html`<div class="table-wrap"><table class="board-table">
    <caption class="sr-only">${view.title}</caption>
    <thead><tr><th scope="col">${t("boards.name")}</th>${props.map((p) => html`<th scope="col" key=${p.id}>${p.name}</th>`)}</tr></thead>
    <tbody>${cards.map((card) => html`<tr key=${card.id}>
      <th scope="row"><button class="link" onClick=${() => openCard(card.id)}>${card.title || t("boards.untitled")}</button></th>
      ${props.map((p) => html`<td key=${p.id}>${propertyText(p, card.fields.properties[p.id])}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

function NewCard({ view }) {
  const [title, setTitle] = useState("");
  const group = groupProperty(view);
  const submit = (e) => {
    e.preventDefault();
    const option = view.fields.viewType === "board" && group && group.options[0] ? group.options[0].id : "";
    if (title.trim()) guarded(async () => { await addCard(title.trim(), option); setTitle(""); });
  };
  return html`<form class="inline" onSubmit=${submit}><label class="sr-only" for="new-card">${t("boards.new_card")}</label>
    <input id="new-card" value=${title} placeholder=${t("boards.new_card")} onInput=${(e) => setTitle(e.target.value)} maxlength="1024" />
    <button type="submit">${t("boards.add_card")}</button></form>`;
}

export function BoardView() {
  const board = state.fb.board;
  const view = currentView();
  if (!board || !view) return html`<section class="page"><p role="status">${t("common.loading")}</p></section>`;
  const views = boardViews();
  return html`<section class="page board" aria-labelledby="board-title">
    <header class="board-header">
      <h1 id="board-title"><span aria-hidden="true">${board.icon} </span>${board.title}</h1>
      <div class="views" role="group" aria-label=${t("boards.views")}>${views.map((v) => html`<button key=${v.id}
        aria-pressed=${v.id === view.id ? "true" : "false"} onClick=${() => update((s) => { s.fb.viewId = v.id; })}>
        ${v.fields.viewType === "board" ? "▦" : "☰"} ${v.title}</button>`)}</div>
      <${NewCard} view=${view} />
    </header>
    <p class="sr-only" role="status" aria-live="assertive">${state.fb.said}</p>
    ${view.fields.viewType === "board" ? html`<${Kanban} key=${`${board.id}:${view.id}`} view=${view} />` : html`<${Table} view=${view} />`}
    ${state.fb.cardId && state.fb.blocks[state.fb.cardId] && html`<${CardDialog} card=${state.fb.blocks[state.fb.cardId]} />`}
  </section>`;
}
