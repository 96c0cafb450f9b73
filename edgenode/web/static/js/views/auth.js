// First-run setup (the admin account and first team), sign-in, and creating a first team.
import { useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { setup, login, createTeam } from "../actions.js";

function Field({ id, label, type = "text", value, onInput, autocomplete, required = true }) {
  return html`<div class="field"><label for=${id}>${label}</label>
    <input id=${id} type=${type} value=${value} required=${required} autocomplete=${autocomplete}
      onInput=${(e) => onInput(e.target.value)} /></div>`;
}

function useSubmit(work) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try { await work(); } catch (err) { setError(err.message); } finally { setBusy(false); }
  };
  return { error, busy, submit };
}

export function Setup() {
  const [form, setForm] = useState({ username: "", email: "", password: "", team: "" });
  const set = (key) => (value) => setForm({ ...form, [key]: value });
  const { error, busy, submit } = useSubmit(() => setup(form));
  return html`<main class="auth"><h1>${t("setup.title")}</h1><p>${t("setup.intro")}</p>
    <form onSubmit=${submit} aria-label=${t("setup.title")}>
      <${Field} id="setup-username" label=${t("field.username")} value=${form.username} onInput=${set("username")} autocomplete="username" />
      <${Field} id="setup-email" label=${t("field.email")} type="email" value=${form.email} onInput=${set("email")} autocomplete="email" />
      <${Field} id="setup-password" label=${t("field.password")} type="password" value=${form.password} onInput=${set("password")} autocomplete="new-password" />
      <${Field} id="setup-team" label=${t("field.team")} value=${form.team} onInput=${set("team")} />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button class="primary" type="submit" disabled=${busy}>${t("setup.submit")}</button>
    </form></main>`;
}

export function Login() {
  const [loginId, setLoginId] = useState("");
  const [password, setPassword] = useState("");
  const { error, busy, submit } = useSubmit(() => login(loginId, password));
  return html`<main class="auth"><h1>${t("login.title")}</h1>
    <form onSubmit=${submit} aria-label=${t("login.title")}>
      <${Field} id="login-id" label=${t("field.login_id")} value=${loginId} onInput=${setLoginId} autocomplete="username" />
      <${Field} id="login-password" label=${t("field.password")} type="password" value=${password} onInput=${setPassword} autocomplete="current-password" />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button class="primary" type="submit" disabled=${busy}>${t("login.submit")}</button>
    </form></main>`;
}

export function CreateTeam() {
  const [name, setName] = useState("");
  const { error, busy, submit } = useSubmit(() => createTeam(name));
  return html`<main class="auth"><h1>${t("team.create")}</h1><p>${t("team.none")}</p>
    <form onSubmit=${submit}>
      <${Field} id="team-name" label=${t("field.team")} value=${name} onInput=${setName} />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button class="primary" type="submit" disabled=${busy}>${t("team.create")}</button>
    </form></main>`;
}
