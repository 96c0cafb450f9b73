// The system console, for system admins: users (create, roles), teams, and the audit log.
import { useEffect, useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { get, post, put } from "../api.js";
import { state } from "../store.js";

function Users() {
  const [users, setUsers] = useState([]);
  const [form, setForm] = useState({ username: "", email: "", password: "" });
  const [error, setError] = useState("");
  const load = () => get("/users?per_page=200").then(setUsers, (e) => setError(e.message));
  useEffect(() => { load(); }, []);
  const create = async (e) => {
    e.preventDefault();
    setError("");
    try {
      const user = await post("/users", form);
      if (state.teamId) await post(`/teams/${state.teamId}/members`, { team_id: state.teamId, user_id: user.id });
      setForm({ username: "", email: "", password: "" });
      load();
    } catch (err) { setError(err.message); }
  };
  const toggleAdmin = async (user) => {
    const admin = user.roles.includes("system_admin");
    try {
      await put(`/users/${user.id}/roles`, { roles: admin ? "system_user" : "system_user system_admin" });
      load();
    } catch (err) { setError(err.message); }
  };
  const setActive = async (user, active) => {
    try {
      await put(`/users/${user.id}/active`, { active });
      load();
    } catch (err) { setError(err.message); }
  };
  const set = (key) => (e) => setForm({ ...form, [key]: e.target.value });
  return html`<section aria-labelledby="console-users"><h2 id="console-users">${t("console.users")}</h2>
    <form class="inline" onSubmit=${create} aria-label=${t("console.create_user")}>
      <label>${t("field.username")} <input value=${form.username} onInput=${set("username")} required /></label>
      <label>${t("field.email")} <input type="email" value=${form.email} onInput=${set("email")} required /></label>
      <label>${t("field.password")} <input type="password" value=${form.password} onInput=${set("password")} required autocomplete="new-password" /></label>
      <button class="primary" type="submit">${t("console.create_user")}</button></form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="table-wrap"><table><thead><tr><th scope="col">${t("field.username")}</th><th scope="col">${t("field.email")}</th>
      <th scope="col">${t("console.roles")}</th><th scope="col">${t("console.state")}</th><th scope="col"><span class="sr-only">${t("console.actions")}</span></th></tr></thead>
      <tbody>${users.map((u) => html`<tr key=${u.id}><td>${u.username}</td><td>${u.email}</td><td>${u.roles}</td>
        <td>${u.delete_at ? t("console.deactivated") : t("console.active")}</td>
        <td>${u.id !== state.me.id && html`<div class="row-actions"><button onClick=${() => toggleAdmin(u)}>
          ${u.roles.includes("system_admin") ? t("console.revoke_admin") : t("console.make_admin")}
          <span class="sr-only">${u.username}</span></button>
          <button onClick=${() => setActive(u, !!u.delete_at)}>${u.delete_at ? t("console.activate") : t("console.deactivate")}
          <span class="sr-only">${u.username}</span></button></div>`}</td></tr>`)}</tbody></table></div>
  </section>`;
}

function Teams() {
  const [teams, setTeams] = useState([]);
  useEffect(() => { get("/teams?per_page=200").then(setTeams, () => {}); }, []);
  return html`<section aria-labelledby="console-teams"><h2 id="console-teams">${t("console.teams")}</h2>
    <ul>${teams.map((x) => html`<li key=${x.id}>${x.display_name} <code>${x.name}</code></li>`)}</ul></section>`;
}

function Audit() {
  const [rows, setRows] = useState([]);
  useEffect(() => { get("/audits?per_page=100").then(setRows, () => {}); }, []);
  return html`<section aria-labelledby="console-audit"><h2 id="console-audit">${t("console.audit")}</h2>
    <div class="table-wrap"><table><thead><tr><th scope="col">${t("console.when")}</th><th scope="col">${t("console.action")}</th>
      <th scope="col">${t("console.user")}</th><th scope="col">${t("console.details")}</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr key=${r.id}><td>${new Date(r.create_at).toLocaleString(state.lang)}</td><td>${r.action}</td>
        <td>${(state.users[r.user_id] || {}).username || r.user_id}</td><td>${r.extra_info}</td></tr>`)}</tbody></table></div></section>`;
}

function Mesh() {
  const [hub, setHub] = useState(false);
  const [invite, setInvite] = useState(null);
  const [node, setNode] = useState("");
  const [reason, setReason] = useState("");
  const [done, setDone] = useState("");
  const [error, setError] = useState("");
  const run = async (work) => {
    setError(""); setDone("");
    try { await work(); } catch (err) { setError(err.message); }
  };
  const create = () => run(async () => setInvite(await post("/edgenode/mesh/invites", { hub })));
  const revoke = (e) => {
    e.preventDefault();
    run(async () => {
      const revoked = await post("/edgenode/mesh/revocations", { node, reason });
      setDone(t("console.revoked", { node: revoked.node_key.slice(0, 16) }));
      setNode(""); setReason("");
    });
  };
  return html`<section aria-labelledby="console-mesh"><h2 id="console-mesh">${t("console.mesh")}</h2>
    <p>${t("console.mesh_intro")}</p>
    <div class="inline"><label class="check"><input type="checkbox" checked=${hub} onChange=${(e) => setHub(e.target.checked)} />
      ${t("console.invite_hub")}</label>
      <button class="primary" onClick=${create}>${t("console.invite")}</button></div>
    ${invite && html`<div class="invite" role="status"><p>${t("console.invite_secret", { node: invite.node })}</p>
      <label for="invite-token">${t("console.invite_token")}</label>
      <textarea id="invite-token" readonly rows="3" value=${invite.token}></textarea></div>`}
    <form class="inline" onSubmit=${revoke} aria-label=${t("console.revoke")}>
      <label>${t("console.revoke_node")} <input value=${node} onInput=${(e) => setNode(e.target.value)} required /></label>
      <label>${t("console.revoke_reason")} <input value=${reason} onInput=${(e) => setReason(e.target.value)} /></label>
      <button type="submit">${t("console.revoke")}</button></form>
    ${done && html`<p role="status">${done}</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}

export function Console() {
  return html`<section class="page console" aria-labelledby="console-title"><h1 id="console-title">${t("console.title")}</h1>
    <${Users} /><${Teams} /><${Mesh} /><${Audit} /></section>`;
}
