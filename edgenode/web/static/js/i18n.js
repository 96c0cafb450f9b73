// The message catalogue: every UI string by key, English and French complete; the user's choice is
// their Mattermost preference (category "display_settings", name "language"), kept per account.
import en from "./messages/en.js";
import fr from "./messages/fr.js";
import { state } from "./store.js";

export const CATALOGUES = { en, fr };
export const LANGUAGES = [["en", "English"], ["fr", "Français"]];

export function t(key, values) {
  const text = (CATALOGUES[state.lang] || en)[key] ?? en[key] ?? key;
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}
