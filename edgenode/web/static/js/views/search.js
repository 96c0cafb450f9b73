// Search results (Mattermost's syntax: from:, in:, before:/after:/on:, "phrases", -excluded).
import { html } from "../html.js";
import { state, channelName } from "../store.js";
import { t } from "../i18n.js";
import { openChannel, openThread, guarded } from "../actions.js";
import { Post } from "./post.js";

export function SearchResults() {
  const search = state.search;
  return html`<section class="search-results" aria-labelledby="search-title">
    <h1 id="search-title">${t("search.results", { terms: search.terms })}</h1>
    <p class="hint">${t("search.syntax")}</p>
    ${search.results === null ? html`<p role="status">${t("common.loading")}</p>`
      : search.results.length === 0 ? html`<p role="status">${t("search.none")}</p>`
      : html`<ul>${search.results.map((p) => html`<li key=${p.id}>
          <button class="link" onClick=${() => guarded(async () => {
            if (state.channels[p.channel_id]) await openChannel(p.channel_id);
            await openThread(p.root_id || p.id);
          })}>${state.channels[p.channel_id] ? channelName(state.channels[p.channel_id]) : t("search.channel")}</button>
          <${Post} post=${p} compact /></li>`)}</ul>`}
  </section>`;
}
