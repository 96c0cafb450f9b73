// One message: author, time, rendered markdown, files with image previews, reactions, its actions,
// and whether it has reached another node yet.
import { useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, displayName } from "../store.js";
import { t } from "../i18n.js";
import { renderPost } from "../markdown.js";
import { openThread, toggleReaction, setPinned, deletePost, editPost, guarded } from "../actions.js";

export const EMOJI = { "+1": "👍", heart: "❤️", smile: "😄", tada: "🎉", eyes: "👀", white_check_mark: "✅" };

function time(ms) {
  const d = new Date(ms);
  return d.toLocaleString(state.lang, { hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" });
}

function Files({ files }) {
  if (!files || !files.length) return null;
  return html`<ul class="files">${files.map((f) => html`<li key=${f.id}>
    ${f.mime_type && f.mime_type.startsWith("image/") && f.mime_type !== "image/svg+xml"
      ? html`<a href=${`/api/v4/files/${f.id}`} target="_blank" rel="noopener"><img src=${`/api/v4/files/${f.id}/preview`}
          alt=${t("post.image", { name: f.name })} loading="lazy" /></a>`
      : html`<a href=${`/api/v4/files/${f.id}?download=1`} download=${f.name}>📎 ${f.name}</a>`}</li>`)}</ul>`;
}

function Reactions({ post }) {
  const reactions = (post.metadata && post.metadata.reactions) || [];
  if (!reactions.length) return null;
  const counts = {};
  for (const r of reactions) (counts[r.emoji_name] = counts[r.emoji_name] || []).push(r.user_id);
  return html`<div class="reactions">${Object.entries(counts).map(([name, users]) => {
    const mine = users.includes(state.me.id);
    return html`<button key=${name} class=${`reaction${mine ? " mine" : ""}`} aria-pressed=${mine ? "true" : "false"}
      aria-label=${t("post.reaction", { emoji: name, count: users.length })} title=${users.map(displayName).join(", ")}
      onClick=${() => guarded(() => toggleReaction(post.id, name))}>${EMOJI[name] || `:${name}:`} ${users.length}</button>`;
  })}</div>`;
}

function Delivery({ post }) {
  const reached = state.delivery[post.id];
  if (reached === undefined) return null;
  return html`<span class=${`delivery ${reached ? "reached" : "local"}`} title=${reached ? t("post.reached") : t("post.local")}
    aria-label=${reached ? t("post.reached") : t("post.local")} role="img">${reached ? "✓✓" : "✓"}</span>`;
}

export function Post({ post, inThread = false, compact = false }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(post.message);
  const [picker, setPicker] = useState(false);
  const mine = post.user_id === state.me.id;
  const admin = state.me.roles.includes("system_admin");
  const system = post.type && post.type.startsWith("system_");
  const save = async (e) => {
    e.preventDefault();
    await guarded(() => editPost(post.id, draft));
    setEditing(false);
  };
  return html`<article class=${`post${system ? " system" : ""}${post.is_pinned ? " pinned" : ""}`} data-id=${post.id}
    aria-label=${t("post.by", { name: displayName(post.user_id) })}>
    <div class="avatar" aria-hidden="true">${displayName(post.user_id).slice(0, 1).toUpperCase()}</div>
    <div class="body">
      <header><strong>${displayName(post.user_id)}</strong> <time datetime=${new Date(post.create_at).toISOString()}>${time(post.create_at)}</time>
        ${post.edit_at > 0 && html` <span class="edited">${t("post.edited")}</span>`}
        ${post.is_pinned && html` <span class="pin-mark">📌 ${t("post.pinned")}</span>`}
        <${Delivery} post=${post} /></header>
      ${editing
        ? html`<form class="edit" onSubmit=${save}><label class="sr-only" for=${`edit-${post.id}`}>${t("post.edit")}</label>
            <textarea id=${`edit-${post.id}`} value=${draft} onInput=${(e) => setDraft(e.target.value)}
              onKeyDown=${(e) => { if (e.key === "Escape") setEditing(false); if (e.key === "Enter" && !e.shiftKey) save(e); }}></textarea>
            <button type="submit" class="primary">${t("common.save")}</button>
            <button type="button" onClick=${() => setEditing(false)}>${t("common.cancel")}</button></form>`
        : html`<div class="message" dangerouslySetInnerHTML=${{ __html: renderPost(post, state.me.username) }}></div>`}
      <${Files} files=${post.metadata && post.metadata.files} />
      <${Reactions} post=${post} />
      ${!inThread && !compact && post.reply_count > 0 && html`<button class="link replies" onClick=${() => guarded(() => openThread(post.id))}>
        ${post.reply_count === 1 ? t("post.reply_one") : t("post.replies", { count: post.reply_count })}</button>`}
      ${picker && html`<div class="picker" role="group" aria-label=${t("post.react")}>${Object.entries(EMOJI).map(([name, glyph]) =>
        html`<button key=${name} aria-label=${name} onClick=${() => { setPicker(false); guarded(() => toggleReaction(post.id, name)); }}>${glyph}</button>`)}</div>`}
    </div>
    ${!system && !compact && html`<div class="post-actions" role="toolbar" aria-label=${t("post.actions")}>
      <button aria-label=${t("post.react")} title=${t("post.react")} onClick=${() => setPicker(!picker)}>☺</button>
      ${!inThread && html`<button aria-label=${t("post.reply")} title=${t("post.reply")} onClick=${() => guarded(() => openThread(post.root_id || post.id))}>↩</button>`}
      <button aria-label=${post.is_pinned ? t("post.unpin") : t("post.pin")} title=${post.is_pinned ? t("post.unpin") : t("post.pin")}
        onClick=${() => guarded(() => setPinned(post.id, !post.is_pinned))}>📌</button>
      ${mine && html`<button aria-label=${t("post.edit")} title=${t("post.edit")} onClick=${() => { setDraft(post.message); setEditing(true); }}>✎</button>`}
      ${(mine || admin) && html`<button aria-label=${t("post.delete")} title=${t("post.delete")}
        onClick=${() => confirm(t("post.confirm_delete")) && guarded(() => deletePost(post.id))}>🗑</button>`}
    </div>`}
  </article>`;
}
