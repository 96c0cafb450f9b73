// The user's settings: the UI's language (a Mattermost preference, so it follows the account).
import { html } from "../html.js";
import { state } from "../store.js";
import { t, LANGUAGES } from "../i18n.js";
import { setLanguage, guarded } from "../actions.js";

export function Settings() {
  return html`<section class="page settings" aria-labelledby="settings-title"><h1 id="settings-title">${t("settings.title")}</h1>
    <div class="field"><label for="settings-language">${t("settings.language")}</label>
      <select id="settings-language" value=${state.lang} onChange=${(e) => guarded(() => setLanguage(e.target.value))}>
        ${LANGUAGES.map(([code, name]) => html`<option value=${code}>${name}</option>`)}</select></div>
  </section>`;
}
