// Modal dialogs: create a channel, browse and join channels, start a direct or group message.
import { useEffect, useRef, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, update } from "../store.js";
import { t } from "../i18n.js";
import { createChannel, browseChannels, joinChannel, openDirect, searchUsers, fail } from "../actions.js";

function Modal({ title, children }) {
  const box = useRef(null);
  const close = () => update((s) => { s.dialog = null; });
  useEffect(() => {
    const first = box.current && box.current.querySelector("input, select, button");
    if (first) first.focus();
  }, []);
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && close()}>
    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="dialog-title" ref=${box}
      onKeyDown=${(e) => e.key === "Escape" && close()}>
      <header><h2 id="dialog-title">${title}</h2><button class="icon" aria-label=${t("common.close")} onClick=${close}>×</button></header>
      ${children}</div></div>`;
}

function CreateChannel() {
  const [displayName, setName] = useState("");
  const [purpose, setPurpose] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    try { await createChannel({ displayName, purpose, private: isPrivate }); update((s) => { s.dialog = null; }); } catch (err) { fail(err); }
  };
  return html`<${Modal} title=${t("channel.create")}><form onSubmit=${submit}>
    <div class="field"><label for="new-channel-name">${t("channel.name")}</label>
      <input id="new-channel-name" value=${displayName} onInput=${(e) => setName(e.target.value)} required maxlength="64" /></div>
    <div class="field"><label for="new-channel-purpose">${t("channel.purpose")}</label>
      <input id="new-channel-purpose" value=${purpose} onInput=${(e) => setPurpose(e.target.value)} /></div>
    <div class="field check"><input id="new-channel-private" type="checkbox" checked=${isPrivate} onChange=${(e) => setPrivate(e.target.checked)} />
      <label for="new-channel-private">${t("channel.private")}</label></div>
    <button class="primary" type="submit">${t("channel.create")}</button></form><//>`;
}

function Browse() {
  const [channels, setChannels] = useState(null);
  const [filter, setFilter] = useState("");
  useEffect(() => { browseChannels().then(setChannels, fail); }, []);
  const shown = (channels || []).filter((c) => c.display_name.toLowerCase().includes(filter.toLowerCase()));
  return html`<${Modal} title=${t("channel.browse")}>
    <div class="field"><label for="browse-filter">${t("channel.filter")}</label>
      <input id="browse-filter" type="search" value=${filter} onInput=${(e) => setFilter(e.target.value)} /></div>
    ${channels === null ? html`<p role="status">${t("common.loading")}</p>` : html`<ul class="browse">${shown.map((c) => html`<li key=${c.id}>
      <span><strong>${c.display_name}</strong> ${c.purpose}</span>
      ${state.channels[c.id] ? html`<span>${t("channel.member")}</span>`
        : html`<button onClick=${async () => { try { await joinChannel(c.id); update((s) => { s.dialog = null; }); } catch (err) { fail(err); } }}>
            ${t("channel.join")} <span class="sr-only">${c.display_name}</span></button>`}</li>`)}</ul>`}<//>`;
}

function Direct() {
  const [term, setTerm] = useState("");
  const [found, setFound] = useState([]);
  const [chosen, setChosen] = useState([]);
  useEffect(() => {
    const timer = setTimeout(() => { searchUsers(term).then((users) => setFound(users.filter((u) => u.id !== state.me.id)), () => {}); }, 150);
    return () => clearTimeout(timer);
  }, [term]);
  const toggle = (id) => setChosen(chosen.includes(id) ? chosen.filter((x) => x !== id) : chosen.concat(id));
  const start = async () => {
    try { await openDirect(chosen); update((s) => { s.dialog = null; }); } catch (err) { fail(err); }
  };
  return html`<${Modal} title=${t("direct.new")}>
    <div class="field"><label for="direct-search">${t("direct.search")}</label>
      <input id="direct-search" type="search" value=${term} onInput=${(e) => setTerm(e.target.value)} /></div>
    <ul class="browse">${found.map((u) => html`<li key=${u.id}><label>
      <input type="checkbox" checked=${chosen.includes(u.id)} onChange=${() => toggle(u.id)} /> @${u.username}</label></li>`)}</ul>
    <button class="primary" disabled=${!chosen.length || chosen.length > 7} onClick=${start}>${t("direct.start")}</button><//>`;
}

export function Dialog() {
  switch (state.dialog.kind) {
    case "create": return html`<${CreateChannel} />`;
    case "browse": return html`<${Browse} />`;
    case "direct": return html`<${Direct} />`;
    default: return null;
  }
}
