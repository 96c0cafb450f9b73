// The root view: the sign-in screens, or the chat layout with the page the user chose.
import { useEffect, useState } from "../vendor/preact-hooks.js";
import { html } from "./html.js";
import { state, subscribe, update, sidebarOrder } from "./store.js";
import { t } from "./i18n.js";
import { logout, search, guarded, openChannel } from "./actions.js";
import { Setup, Login, CreateTeam } from "./views/auth.js";
import { Sidebar } from "./views/sidebar.js";
import { ChannelView } from "./views/channel.js";
import { Thread } from "./views/thread.js";
import { SearchResults } from "./views/search.js";
import { Network } from "./views/network.js";
import { Console } from "./views/console.js";
import { Settings } from "./views/settings.js";
import { Dialog } from "./views/dialogs.js";
import { Runs, RunView } from "./views/runs.js";
import { Boards, BoardView } from "./views/boards.js";

function useState_() {
  const [, force] = useState(0);
  useEffect(() => subscribe(() => force((n) => n + 1)), []);
  return state;
}

function Status() {
  const online = state.online && state.socket === "open";
  const peers = state.peersConnected;
  return html`<div class="status" role="status" aria-live="polite">
    <span class=${`dot ${online ? "on" : "off"}`} aria-hidden="true"></span>
    <span>${online ? t("status.online") : t("status.offline")}</span>
    ${online && peers !== undefined && html`<span class="peers">· ${peers ? t("status.peers", { count: peers }) : t("status.alone")}</span>`}
  </div>`;
}

function TopBar() {
  const [terms, setTerms] = useState("");
  const [menu, setMenu] = useState(false);
  const admin = state.me && state.me.roles.includes("system_admin");
  const go = (view) => { setMenu(false); update((s) => { s.view = view; s.threadId = null; s.navOpen = false; }); };
  const submit = (e) => { e.preventDefault(); if (terms.trim()) guarded(() => search(terms.trim())); };
  return html`<header class="topbar">
    <button class="icon nav-toggle" aria-label=${t("nav.toggle")} aria-expanded=${state.navOpen ? "true" : "false"}
      onClick=${() => update((s) => { s.navOpen = !s.navOpen; })}>☰</button>
    <span class="brand">Edgenode</span>
    <form class="search" role="search" onSubmit=${submit}>
      <input type="search" aria-label=${t("search.label")} placeholder=${t("search.placeholder")} value=${terms}
        onInput=${(e) => setTerms(e.target.value)} />
    </form>
    <${Status} />
    <div class="menu">
      <button aria-haspopup="true" aria-expanded=${menu ? "true" : "false"} onClick=${() => setMenu(!menu)}>
        @${state.me.username}</button>
      ${menu && html`<ul class="dropdown" role="menu" onKeyDown=${(e) => e.key === "Escape" && setMenu(false)}>
        <li role="none"><button role="menuitem" onClick=${() => go("chat")}>${t("menu.chat")}</button></li>
        <li role="none"><button role="menuitem" onClick=${() => go("network")}>${t("menu.network")}</button></li>
        ${admin && html`<li role="none"><button role="menuitem" onClick=${() => go("console")}>${t("menu.console")}</button></li>`}
        <li role="none"><button role="menuitem" onClick=${() => go("settings")}>${t("menu.settings")}</button></li>
        <li role="none"><button role="menuitem" onClick=${() => { setMenu(false); logout(); }}>${t("menu.logout")}</button></li>
      </ul>`}
    </div>
  </header>`;
}

function Page() {
  switch (state.view) {
    case "search": return html`<${SearchResults} />`;
    case "network": return html`<${Network} />`;
    case "console": return html`<${Console} />`;
    case "settings": return html`<${Settings} />`;
    case "runs": return html`<${Runs} />`;
    case "run": return html`<${RunView} />`;
    case "boards": return html`<${Boards} />`;
    case "board": return html`<${BoardView} />`;
    default: return html`<${ChannelView} />`;
  }
}

function onShortcut(e) {
  // Alt+Up/Down: the previous or next channel of the sidebar (Mattermost's shortcut)
  if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown") || !state.me) return;
  const order = sidebarOrder();
  const at = order.findIndex((c) => c.id === state.channelId);
  const next = order[(at + (e.key === "ArrowDown" ? 1 : -1) + order.length) % order.length];
  if (next) {
    e.preventDefault();
    guarded(() => openChannel(next.id));
  }
}

export function App() {
  useState_();
  useEffect(() => {
    document.addEventListener("keydown", onShortcut);
    return () => document.removeEventListener("keydown", onShortcut);
  }, []);
  if (state.phase === "loading") return html`<p class="boot" role="status">${t("boot.loading")}</p>`;
  if (state.phase === "unreachable") return html`<main class="auth"><h1>Edgenode</h1><p role="alert">${t("boot.unreachable")}</p></main>`;
  if (state.phase === "setup") return html`<${Setup} />`;
  if (state.phase === "login" || !state.me) return html`<${Login} />`;
  if (!state.teams.length) return html`<${CreateTeam} />`;
  return html`<div class=${`layout${state.threadId ? " with-thread" : ""}${state.navOpen ? " nav-open" : ""}`}>
    <${TopBar} />
    <${Sidebar} />
    <main class="center" id="main">${state.error && html`<div class="error" role="alert">${state.error}
      <button class="link" aria-label=${t("common.dismiss")} onClick=${() => update((s) => { s.error = ""; })}>×</button></div>`}
      <${Page} /></main>
    ${state.threadId && html`<${Thread} />`}
    ${state.dialog && html`<${Dialog} />`}
  </div>`;
}
