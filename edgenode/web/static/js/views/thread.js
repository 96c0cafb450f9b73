// A thread in the side pane: the root post, its replies, and a composer that replies to it.
import { html } from "../html.js";
import { state, update } from "../store.js";
import { t } from "../i18n.js";
import { threadPosts } from "../actions.js";
import { Post } from "./post.js";
import { Composer } from "./composer.js";

export function Thread() {
  const rootId = state.threadId;
  const posts = threadPosts(rootId);
  const root = state.posts[rootId];
  return html`<aside class="thread" aria-label=${t("thread.title")}>
    <header><h2>${t("thread.title")}</h2>
      <button class="icon" aria-label=${t("common.close")} onClick=${() => update((s) => { s.threadId = null; })}>×</button></header>
    <div class="thread-posts">${posts.map((p) => html`<${Post} key=${p.id} post=${p} inThread />`)}</div>
    ${root && html`<${Composer} channelId=${root.channel_id} rootId=${rootId} label=${t("thread.reply")} />`}
  </aside>`;
}
