// The Network page: this node's identity and mesh, its peers with last contact, last sync and
// backlog each way, forks and refused data, and revoked nodes (from /api/v4/edgenode/status).
import { useEffect, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { get } from "../api.js";
import { state } from "../store.js";
import { BundlePanel } from "./bundles.js";

function when(ms) {
  return ms ? new Date(ms).toLocaleString(state.lang) : t("network.never");
}

export function Network() {
  const [status, setStatus] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    const load = () => Promise.all([get("/edgenode/status"), get("/edgenode/revocations")])
      .then(([s, revoked]) => live && setStatus({ ...s, revoked }), (e) => live && setError(e.message));
    load();
    const timer = setInterval(load, 5000);
    return () => { live = false; clearInterval(timer); };
  }, []);
  if (error) return html`<section class="page"><h1>${t("network.title")}</h1><p role="alert">${error}</p></section>`;
  if (!status) return html`<section class="page"><h1>${t("network.title")}</h1><p role="status">${t("common.loading")}</p></section>`;
  const mesh = status.mesh || {};
  return html`<section class="page network" aria-labelledby="network-title">
    <h1 id="network-title">${t("network.title")}</h1>
    <h2>${t("network.identity")}</h2>
    <dl class="facts">
      <dt>${t("network.node")}</dt><dd><code>${status.node}</code></dd>
      <dt>${t("network.mesh")}</dt><dd>${mesh.enrolled ? `${mesh.name || mesh.id} (${mesh.role || ""})` : t("network.no_mesh")}</dd>
      <dt>${t("network.sync")}</dt><dd>${status.sync.running ? t("network.running", { addresses: status.sync.listening.join(", ") || "—" }) : t("network.stopped")}</dd>
      <dt>${t("network.mdns")}</dt><dd>${status.sync.mdns ? t("common.yes") : t("common.no")}</dd>
    </dl>
    <h2>${t("network.peers")}</h2>
    ${status.peers.length === 0 ? html`<p>${t("network.no_peers")}</p>` : html`<div class="table-wrap"><table>
      <caption class="sr-only">${t("network.peers")}</caption>
      <thead><tr><th scope="col">${t("network.node")}</th><th scope="col">${t("network.found")}</th><th scope="col">${t("network.connected")}</th>
        <th scope="col">${t("network.last_contact")}</th><th scope="col">${t("network.last_sync")}</th>
        <th scope="col">${t("network.to_send")}</th><th scope="col">${t("network.to_receive")}</th><th scope="col">${t("network.problems")}</th></tr></thead>
      <tbody>${status.peers.map((p) => html`<tr key=${p.node_key || p.addresses.join()}>
        <td><code>${p.node || p.addresses.join(", ")}</code></td><td>${p.found.join(", ")}</td>
        <td>${p.connected ? t("common.yes") : t("common.no")}</td><td>${when(p.last_contact_at)}</td><td>${when(p.last_sync_at)}</td>
        <td>${p.to_send ?? "?"}</td><td>${p.to_receive ?? "?"}</td>
        <td>${[p.last_error, p.diverged.length ? t("network.diverged", { count: p.diverged.length }) : ""].filter(Boolean).join("; ") || "—"}</td>
      </tr>`)}</tbody></table></div>`}
    <h2>${t("network.forks")}</h2>
    ${status.forks.length === 0 ? html`<p>${t("network.no_forks")}</p>`
      : html`<ul>${status.forks.map((f, i) => html`<li key=${i}><code>${JSON.stringify(f)}</code></li>`)}</ul>`}
    <h2>${t("network.revoked")}</h2>
    ${(status.revoked || []).length === 0 ? html`<p>${t("network.no_revoked")}</p>`
      : html`<ul>${status.revoked.map((r) => html`<li key=${r.node_key}><code>${r.node_key}</code>
          ${when(r.revoked_at)} ${r.reason}</li>`)}</ul>`}
    <${BundlePanel} peers=${status.peers} />
  </section>`;
}
