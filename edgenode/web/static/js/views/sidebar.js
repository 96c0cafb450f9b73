// The team and channel sidebar, with unread and mention badges.
import { html } from "../html.js";
import { state, update, channelName, unread, sidebarOrder } from "../store.js";
import { t } from "../i18n.js";
import { openChannel, openTeam, guarded } from "../actions.js";
import { openRuns } from "../playbooks.js";
import { openBoards } from "../boards.js";

function ToolLink({ views, icon, label, open }) {
  const current = views.includes(state.view);
  return html`<li><a href="#" class=${`channel${current ? " current" : ""}`} aria-current=${current ? "page" : undefined}
    onClick=${(e) => { e.preventDefault(); guarded(open); }}><span class="icon" aria-hidden="true">${icon}</span>
    <span class="name">${label}</span></a></li>`;
}

function ChannelLink({ channel }) {
  const { count, mentions } = unread(channel.id);
  const current = channel.id === state.channelId && state.view === "chat";
  const icon = channel.type === "P" ? "🔒" : channel.type === "D" ? "@" : channel.type === "G" ? "👥" : "#";
  const label = [channelName(channel), mentions ? t("sidebar.mentions", { count: mentions }) : count ? t("sidebar.unread") : ""]
    .filter(Boolean).join(", ");
  return html`<li><a href=${`#/${state.teamId}/${channel.id}`} aria-current=${current ? "page" : undefined} aria-label=${label}
    class=${`channel${current ? " current" : ""}${count ? " unread" : ""}`}
    onClick=${(e) => { e.preventDefault(); update((s) => { s.navOpen = false; }); guarded(() => openChannel(channel.id)); }}>
    <span class="icon" aria-hidden="true">${icon}</span><span class="name">${channelName(channel)}</span>
    ${mentions > 0 && html`<span class="badge" aria-hidden="true">${mentions}</span>`}</a></li>`;
}

function Section({ title, channels, action }) {
  return html`<section><h2>${title}${action}</h2>
    <ul>${channels.map((c) => html`<${ChannelLink} key=${c.id} channel=${c} />`)}</ul></section>`;
}

export function Sidebar() {
  const all = sidebarOrder();
  const open = (dialog) => update((s) => { s.dialog = dialog; });
  const team = state.teams.find((x) => x.id === state.teamId);
  return html`<div class="sidebar">
    ${state.teams.length > 1
      ? html`<label class="team-pick">${t("sidebar.team")}<select value=${state.teamId}
          onChange=${(e) => guarded(() => openTeam(e.target.value))}>
          ${state.teams.map((x) => html`<option value=${x.id}>${x.display_name}</option>`)}</select></label>`
      : html`<p class="team-name">${team && team.display_name}</p>`}
    <nav aria-label=${t("sidebar.tools")}><ul class="tools">
      <${ToolLink} views=${["runs", "run"]} icon="✔" label=${t("runs.title")} open=${openRuns} />
      <${ToolLink} views=${["boards", "board"]} icon="▦" label=${t("boards.title")} open=${openBoards} /></ul></nav>
    <nav aria-label=${t("sidebar.label")}>
    <${Section} title=${t("sidebar.channels")} channels=${all.filter((c) => c.type === "O" || c.type === "P")}
      action=${html`<span class="actions">
        <button class="icon" aria-label=${t("channel.browse")} title=${t("channel.browse")} onClick=${() => open({ kind: "browse" })}>☰</button>
        <button class="icon" aria-label=${t("channel.create")} title=${t("channel.create")} onClick=${() => open({ kind: "create" })}>+</button></span>`} />
    <${Section} title=${t("sidebar.direct")} channels=${all.filter((c) => c.type === "D" || c.type === "G")}
      action=${html`<span class="actions"><button class="icon" aria-label=${t("direct.new")} title=${t("direct.new")}
        onClick=${() => open({ kind: "direct" })}>+</button></span>`} />
  </nav></div>`;
}
