// Messages as CommonMark with highlighted code, made safe: markdown-it with raw HTML off, then
// DOMPurify over the result (so nothing in a message ever runs script, whatever the parser lets by),
// and the page's CSP behind both.
import MarkdownIt from "../vendor/markdown-it.js";
import DOMPurify from "../vendor/purify.js";
import hljs from "../vendor/highlight/core.js";
import bash from "../vendor/highlight/languages/bash.js";
import c from "../vendor/highlight/languages/c.js";
import cpp from "../vendor/highlight/languages/cpp.js";
import css from "../vendor/highlight/languages/css.js";
import diff from "../vendor/highlight/languages/diff.js";
import go from "../vendor/highlight/languages/go.js";
import ini from "../vendor/highlight/languages/ini.js";
import java from "../vendor/highlight/languages/java.js";
import javascript from "../vendor/highlight/languages/javascript.js";
import json from "../vendor/highlight/languages/json.js";
import python from "../vendor/highlight/languages/python.js";
import rust from "../vendor/highlight/languages/rust.js";
import shell from "../vendor/highlight/languages/shell.js";
import sql from "../vendor/highlight/languages/sql.js";
import typescript from "../vendor/highlight/languages/typescript.js";
import xml from "../vendor/highlight/languages/xml.js";
import yaml from "../vendor/highlight/languages/yaml.js";

const LANGUAGES = { bash, c, cpp, css, diff, go, ini, java, javascript, json, python, rust, shell, sql,
  typescript, xml, yaml, sh: bash, js: javascript, ts: typescript, html: xml, yml: yaml, py: python };
for (const [name, grammar] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, grammar);

function escape(text) {
  return text.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

const md = new MarkdownIt("commonmark", {
  html: false, linkify: true, breaks: true,
  highlight(code, lang) {
    if (lang && hljs.getLanguage(lang)) {
      try { return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value; } catch { /* plain */ }
    }
    return escape(code);
  },
}).enable(["linkify", "strikethrough", "table"]);

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
  // images in messages would fetch from anywhere (tracking, and the CSP blocks them anyway): links instead
});

const PURIFY = {
  ALLOWED_TAGS: ["p", "br", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "span"],
  ALLOWED_ATTR: ["href", "class", "title", "start", "target", "rel"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

const MENTION = /(^|[\s(])([@~])([a-z0-9][a-z0-9._-]*)/gi;

function highlightMentions(text, me) {
  // runs on text outside code (see render): @name and ~channel become spans the CSS marks
  return text.replace(MENTION, (all, lead, sigil, name) => {
    const mine = sigil === "@" && me && (name.toLowerCase() === me || ["all", "channel", "here"].includes(name.toLowerCase()));
    const kind = sigil === "@" ? "mention" : "channel-link";
    return `${lead}<span class="${kind}${mine ? " mention-me" : ""}">${sigil}${name}</span>`;
  });
}

const rendered = new Map();

export function renderPost(post, me) {
  // a post's HTML changes only with its text: re-renders of the list (a reaction, a badge) reuse it
  const key = `${post.id}:${post.update_at}:${me}`;
  let out = rendered.get(key);
  if (out === undefined) {
    if (rendered.size > 5000) rendered.clear();
    out = render(post.message, me);
    rendered.set(key, out);
  }
  return out;
}

export function render(message, me) {
  let out = md.render(message || "");
  // mentions are marked in text nodes only, never inside code or attributes
  out = out.replace(/(<(?:pre|code)[\s\S]*?<\/(?:pre|code)>)|>([^<]+)</g, (all, code, text) =>
    code ? code : `>${highlightMentions(text, me)}<`);
  return DOMPurify.sanitize(out, PURIFY);
}
