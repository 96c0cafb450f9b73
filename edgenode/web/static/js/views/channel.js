// The channel view: its header, its history (older pages loaded as you scroll up) and the composer.
import { useEffect, useRef, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { state, update, channelName } from "../store.js";
import { t } from "../i18n.js";
import { loadPosts, leaveChannel, guarded } from "../actions.js";
import { get } from "../api.js";
import { Post } from "./post.js";
import { Composer } from "./composer.js";

function Pinned({ channelId, onClose }) {
  const [posts, setPosts] = useState(null);
  useEffect(() => {
    guarded(async () => {
      const page = await get(`/channels/${channelId}/pinned`);
      setPosts(page.order.map((id) => page.posts[id]));
    });
  }, [channelId]);
  return html`<section class="pinned-list" aria-label=${t("channel.pinned")}>
    <h2>${t("channel.pinned")} <button class="link" onClick=${onClose}>${t("common.close")}</button></h2>
    ${posts === null ? html`<p>${t("common.loading")}</p>` : posts.length === 0 ? html`<p>${t("channel.no_pinned")}</p>`
      : posts.map((p) => html`<${Post} key=${p.id} post=${p} compact />`)}</section>`;
}

export function ChannelView() {
  const channelId = state.channelId;
  const channel = state.channels[channelId];
  const list = useRef(null);
  const [pinned, setPinned] = useState(false);
  useEffect(() => setPinned(false), [channelId]);
  if (!channel) return html`<p class="empty">${t("channel.none")}</p>`;
  const order = state.order[channelId] || [];
  const onScroll = (e) => {
    const el = e.currentTarget;
    // column-reverse: scrollTop is 0 at the newest post and grows negative towards the oldest
    if (el.scrollHeight - el.clientHeight + el.scrollTop < 300 && !state.complete[channelId]) {
      loadPosts(channelId, { older: true });
    }
  };
  const showCount = order.length;
  return html`<section class="channel-view" aria-labelledby="channel-title">
    <header class="channel-header">
      <h1 id="channel-title">${channel.type === "O" ? "#" : ""}${channelName(channel)}</h1>
      ${channel.purpose && html`<p class="purpose">${channel.purpose}</p>`}
      <span class="actions">
        <button onClick=${() => setPinned(!pinned)} aria-pressed=${pinned ? "true" : "false"}>📌 ${t("channel.pinned")}</button>
        ${(channel.type === "O" || channel.type === "P") && channel.name !== "town-square" &&
          html`<button onClick=${() => guarded(() => leaveChannel(channelId))}>${t("channel.leave")}</button>`}
      </span>
    </header>
    ${pinned && html`<${Pinned} channelId=${channelId} onClose=${() => setPinned(false)} />`}
    <div class="posts" ref=${list} onScroll=${onScroll} role="log" aria-live="polite" aria-label=${t("channel.messages", { name: channelName(channel) })} tabindex="0">
      ${order.map((id) => state.posts[id] && html`<${Post} key=${id} post=${state.posts[id]} />`)}
      ${state.complete[channelId]
        ? html`<p class="start">${showCount ? t("channel.start", { name: channelName(channel) }) : t("channel.empty")}</p>`
        : html`<button class="link more" onClick=${() => loadPosts(channelId, { older: true })}>${t("channel.older")}</button>`}
    </div>
    ${state.notice && html`<div class="notice" role="status">${state.notice}
      <button class="link" aria-label=${t("common.dismiss")} onClick=${() => update((s) => { s.notice = ""; })}>×</button></div>`}
    <${Composer} channelId=${channelId} label=${t("composer.label", { name: channelName(channel) })} />
  </section>`;
}
