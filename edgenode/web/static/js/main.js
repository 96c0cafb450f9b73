// Entry point: renders the app and registers the service worker that lets the shell open offline.
import { render } from "../vendor/preact.js";
import { html } from "./html.js";
import { App } from "./app.js";
import { boot } from "./actions.js";

render(html`<${App} />`, document.getElementById("app"));
boot();
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => { /* the UI works without it */ });
}
