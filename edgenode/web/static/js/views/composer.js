// Writing a message: Enter sends, Shift+Enter breaks the line; @name, ~channel and /command complete
// from the node; files attach before sending, images with a preview.
import { useEffect, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, channelName } from "../store.js";
import { t } from "../i18n.js";
import { sendPost, uploadFiles, autocompleteUsers, autocompleteCommands, fail } from "../actions.js";

const TOKEN = /(^|\s)([@~/])([\w.-]*)$/;

async function suggestionsFor(text) {
  const match = TOKEN.exec(text);
  if (!match) return [];
  const [, lead, sigil, prefix] = match;
  const lower = prefix.toLowerCase();
  if (sigil === "@") {
    const users = await autocompleteUsers(prefix);
    return users.slice(0, 8).map((u) => ({ value: `@${u.username} `, label: `@${u.username}`, hint: [u.first_name, u.last_name].filter(Boolean).join(" ") }));
  }
  if (sigil === "~") {
    return Object.values(state.channels).filter((c) => (c.type === "O" || c.type === "P") && c.name.startsWith(lower))
      .slice(0, 8).map((c) => ({ value: `~${c.name} `, label: `~${c.name}`, hint: channelName(c) }));
  }
  if (sigil === "/" && lead === "" && text.startsWith("/")) {
    const commands = await autocompleteCommands();
    return commands.filter((c) => c.trigger.startsWith(lower)).slice(0, 8)
      .map((c) => ({ value: `/${c.trigger} `, label: `/${c.trigger}`, hint: c.auto_complete_desc || c.description || "" }));
  }
  return [];
}

export function Composer({ channelId, rootId = "", label }) {
  const [text, setText] = useState("");
  const [files, setFiles] = useState([]);
  const [busy, setBusy] = useState(false);
  const [suggestions, setSuggestions] = useState([]);
  const [active, setActive] = useState(0);
  const id = `composer-${rootId || channelId}`;
  useEffect(() => { setText(""); setFiles([]); setSuggestions([]); }, [channelId, rootId]);

  const complete = (choice) => {
    setText(text.replace(TOKEN, (all, lead) => `${lead}${choice.value}`));
    setSuggestions([]);
    document.getElementById(id).focus();
  };
  const send = async () => {
    if (busy || (!text.trim() && !files.length)) return;
    setBusy(true);
    try {
      await sendPost(channelId, text, { rootId, fileIds: files.map((f) => f.id) });
      setText("");
      setFiles([]);
    } catch (error) { fail(error); } finally { setBusy(false); }
  };
  const onInput = async (e) => {
    const value = e.target.value;
    setText(value);
    try {
      const found = await suggestionsFor(value);
      setSuggestions(found);
      setActive(0);
    } catch { setSuggestions([]); }
  };
  const onKeyDown = (e) => {
    if (suggestions.length) {
      if (e.key === "ArrowDown") { e.preventDefault(); setActive((active + 1) % suggestions.length); return; }
      if (e.key === "ArrowUp") { e.preventDefault(); setActive((active - 1 + suggestions.length) % suggestions.length); return; }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); complete(suggestions[active]); return; }
      if (e.key === "Escape") { setSuggestions([]); return; }
    }
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
  };
  const attach = async (e) => {
    const chosen = [...e.target.files];
    e.target.value = "";
    if (!chosen.length) return;
    setBusy(true);
    try { setFiles(files.concat(await uploadFiles(channelId, chosen))); } catch (error) { fail(error); } finally { setBusy(false); }
  };
  const listId = `${id}-suggestions`;
  return html`<form class="composer" onSubmit=${(e) => { e.preventDefault(); send(); }}>
    ${suggestions.length > 0 && html`<ul class="suggestions" id=${listId} role="listbox" aria-label=${t("composer.suggestions")}>
      ${suggestions.map((s, i) => html`<li key=${s.label} id=${`${listId}-${i}`} role="option" aria-selected=${i === active ? "true" : "false"}
        class=${i === active ? "active" : ""} onMouseDown=${(e) => { e.preventDefault(); complete(s); }}>
        <strong>${s.label}</strong> <span>${s.hint}</span></li>`)}</ul>`}
    ${files.length > 0 && html`<ul class="attachments" aria-label=${t("composer.attachments")}>${files.map((f) => html`<li key=${f.id}>
      ${f.mime_type.startsWith("image/") && f.mime_type !== "image/svg+xml" ? html`<img src=${`/api/v4/files/${f.id}/preview`} alt="" />` : "📎"}
      <span>${f.name}</span>
      <button type="button" class="link" aria-label=${t("composer.remove", { name: f.name })}
        onClick=${() => setFiles(files.filter((x) => x.id !== f.id))}>×</button></li>`)}</ul>`}
    <div class="compose-row">
      <label class="attach" title=${t("composer.attach")}><span class="sr-only">${t("composer.attach")}</span>📎
        <input type="file" multiple onChange=${attach} class="sr-only" /></label>
      <label class="sr-only" for=${id}>${label}</label>
      <textarea id=${id} rows="1" placeholder=${label} value=${text} onInput=${onInput} onKeyDown=${onKeyDown}
        role="combobox" aria-autocomplete="list" aria-expanded=${suggestions.length ? "true" : "false"}
        aria-controls=${listId} aria-activedescendant=${suggestions.length ? `${listId}-${active}` : undefined}></textarea>
      <button type="submit" class="primary" disabled=${busy}>${t("composer.send")}</button>
    </div>
  </form>`;
}
