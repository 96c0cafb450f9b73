// A card's detail, in a dialog: its title, its properties edited by their type, its checklist and comments.
import { useEffect, useRef, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, update, displayName } from "../store.js";
import { t } from "../i18n.js";
import { guarded } from "../actions.js";
import { setCardTitle, setProperty, addContent, setChecked, contentOf } from "../boards.js";

function dateFrom(value) {
  try { const from = JSON.parse(value).from; return from ? new Date(from).toISOString().slice(0, 10) : ""; } catch { return ""; }
}

export function propertyText(property, value) {
  // how a property's value reads in a table cell or on a card
  if (value === undefined || value === null || value === "") return "";
  const values = Array.isArray(value) ? value : [value];
  switch (property.type) {
    case "select": case "multiSelect":
      return values.map((v) => (property.options.find((o) => o.id === v) || { value: v }).value).join(", ");
    case "person": case "multiPerson": return values.map((v) => `@${displayName(v)}`).join(", ");
    case "date": return dateFrom(value);
    case "checkbox": return value === "true" ? "✓" : "";
    default: return values.join(", ");
  }
}

function TextField({ id, type, value, onSave }) {
  // what is being typed stays: a live reload of the card (another field saved, a peer's edit) only
  // replaces the text of a field that does not have the focus
  const [text, setText] = useState(value);
  const input = useRef(null);
  useEffect(() => { if (document.activeElement !== input.current) setText(value); }, [value]);
  return html`<input id=${id} type=${type} ref=${input} value=${text} onInput=${(e) => setText(e.target.value)}
    onChange=${(e) => { if (e.target.value !== value) onSave(e.target.value); }} />`;
}

function Property({ card, property }) {
  const value = card.fields.properties[property.id];
  const id = `prop-${property.id}`;
  const save = (v) => guarded(() => setProperty(card.id, property.id, v));
  const people = state.fb.members || [];
  let input;
  switch (property.type) {
    case "select":
      input = html`<select id=${id} value=${value || ""} onChange=${(e) => save(e.target.value)}>
        <option value="">${t("boards.empty")}</option>${property.options.map((o) => html`<option value=${o.id}>${o.value}</option>`)}</select>`;
      break;
    case "multiSelect": {
      const chosen = Array.isArray(value) ? value : [];
      input = html`<span id=${id} class="choices">${property.options.map((o) => html`<label key=${o.id}><input type="checkbox"
        checked=${chosen.includes(o.id)} onChange=${(e) => save(e.target.checked ? [...chosen, o.id] : chosen.filter((x) => x !== o.id))} />
        ${o.value}</label>`)}</span>`;
      break;
    }
    case "person":
      input = html`<select id=${id} value=${value || ""} onChange=${(e) => save(e.target.value)}>
        <option value="">${t("boards.empty")}</option>${people.map((u) => html`<option value=${u}>@${displayName(u)}</option>`)}</select>`;
      break;
    case "date":
      input = html`<input id=${id} type="date" value=${dateFrom(value)}
        onChange=${(e) => save(e.target.value ? JSON.stringify({ from: Date.parse(`${e.target.value}T12:00:00Z`) }) : "")} />`;
      break;
    case "checkbox":
      input = html`<input id=${id} type="checkbox" checked=${value === "true"} onChange=${(e) => save(e.target.checked ? "true" : "false")} />`;
      break;
    case "createdTime": case "updatedTime": case "createdBy": case "updatedBy":
      input = html`<span id=${id}>${property.type.endsWith("By") ? `@${displayName(card.createdBy)}`
        : new Date(property.type === "createdTime" ? card.createAt : card.updateAt).toLocaleString(state.lang)}</span>`;
      break;
    default:
      input = html`<${TextField} id=${id} type=${property.type === "number" ? "number" : property.type === "email" ? "email" : "text"}
        value=${Array.isArray(value) ? value.join(", ") : value || ""} onSave=${save} />`;
  }
  return html`<div class="prop"><label for=${id}>${property.name}</label>${input}</div>`;
}

function Title({ card }) {
  const [title, setTitle] = useState(card.title);
  useEffect(() => setTitle(card.title), [card.id, card.title]);
  const commit = () => { if (title.trim() && title !== card.title) guarded(() => setCardTitle(card.id, title.trim())); };
  return html`<input class="card-title-input" aria-label=${t("boards.card_title")} value=${title}
    onInput=${(e) => setTitle(e.target.value)} onChange=${commit} onKeyDown=${(e) => e.key === "Enter" && commit()} />`;
}

function AddLine({ id, label, button, onAdd }) {
  const [text, setText] = useState("");
  const submit = (e) => { e.preventDefault(); if (text.trim()) guarded(async () => { await onAdd(text.trim()); setText(""); }); };
  return html`<form class="inline" onSubmit=${submit}><label class="sr-only" for=${id}>${label}</label>
    <input id=${id} value=${text} placeholder=${label} onInput=${(e) => setText(e.target.value)} maxlength="16383" />
    <button type="submit">${button}</button></form>`;
}

export function CardDialog({ card }) {
  const box = useRef(null);
  const close = () => {
    update((s) => { s.fb.cardId = null; });
    setTimeout(() => { const el = document.getElementById(`card-${card.id}`); if (el) el.focus(); }, 0);
  };
  useEffect(() => { const first = box.current && box.current.querySelector("input, select, button"); if (first) first.focus(); }, [card.id]);
  const checks = contentOf(card.id, "checkbox");
  const comments = contentOf(card.id, "comment");
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && close()}>
    <div class="modal card-detail" role="dialog" aria-modal="true" aria-labelledby="card-dialog-title" ref=${box}
      onKeyDown=${(e) => e.key === "Escape" && close()}>
      <header><h2 id="card-dialog-title" class="sr-only">${card.title}</h2><${Title} card=${card} />
        <button class="icon" aria-label=${t("common.close")} onClick=${close}>×</button></header>
      <section aria-label=${t("boards.properties")} class="props">
        ${state.fb.board.cardProperties.map((p) => html`<${Property} key=${p.id} card=${card} property=${p} />`)}</section>
      <h3>${t("boards.checklist")}</h3>
      <ul class="checks">${checks.map((b) => html`<li key=${b.id}><input type="checkbox" id=${`check-${b.id}`} checked=${!!b.fields.value}
        onChange=${(e) => guarded(() => setChecked(b, e.target.checked))} /><label for=${`check-${b.id}`}>${b.title}</label></li>`)}</ul>
      <${AddLine} id="new-check" label=${t("boards.add_check")} button=${t("runs.add")}
        onAdd=${(text) => addContent(card.id, "checkbox", text, { value: false })} />
      <h3>${t("boards.comments")}</h3>
      <ul class="comments">${comments.map((b) => html`<li key=${b.id}><strong>@${displayName(b.createdBy)}</strong>
        <time>${new Date(b.createAt).toLocaleString(state.lang)}</time><p>${b.title}</p></li>`)}</ul>
      <${AddLine} id="new-comment" label=${t("boards.add_comment")} button=${t("boards.comment")}
        onAdd=${(text) => addContent(card.id, "comment", text)} />
    </div></div>`;
}
