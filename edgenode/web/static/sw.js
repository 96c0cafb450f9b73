// The PWA's service worker: keeps the app shell (HTML, scripts, styles) so the page opens while the
// node is briefly restarting; the API is never cached (it is always the node's live answer).
const CACHE = "edgenode-shell-v3";
const SHELL = [
  "/", "/manifest.webmanifest", "/static/app.css", "/static/icon.svg",
  "/static/js/main.js", "/static/js/app.js", "/static/js/actions.js", "/static/js/api.js", "/static/js/store.js",
  "/static/js/i18n.js", "/static/js/messages/en.js", "/static/js/messages/fr.js",
  "/static/js/markdown.js", "/static/js/socket.js", "/static/js/html.js",
  "/static/js/views/auth.js", "/static/js/views/sidebar.js", "/static/js/views/channel.js",
  "/static/js/views/post.js", "/static/js/views/composer.js", "/static/js/views/thread.js",
  "/static/js/views/search.js", "/static/js/views/network.js", "/static/js/views/console.js",
  "/static/js/views/settings.js", "/static/js/views/dialogs.js",
  "/static/js/playbooks.js", "/static/js/boards.js", "/static/js/views/runs.js", "/static/js/views/boards.js",
  "/static/js/views/card.js", "/static/js/views/bundles.js",
  "/static/vendor/preact.js", "/static/vendor/preact-hooks.js", "/static/vendor/htm.js",
  "/static/vendor/markdown-it.js", "/static/vendor/purify.js", "/static/vendor/highlight/core.js",
  "/static/vendor/highlight/github.css",
  "/static/vendor/highlight/languages/bash.js",
  "/static/vendor/highlight/languages/c.js",
  "/static/vendor/highlight/languages/cpp.js",
  "/static/vendor/highlight/languages/css.js",
  "/static/vendor/highlight/languages/diff.js",
  "/static/vendor/highlight/languages/go.js",
  "/static/vendor/highlight/languages/ini.js",
  "/static/vendor/highlight/languages/java.js",
  "/static/vendor/highlight/languages/javascript.js",
  "/static/vendor/highlight/languages/json.js",
  "/static/vendor/highlight/languages/python.js",
  "/static/vendor/highlight/languages/rust.js",
  "/static/vendor/highlight/languages/shell.js",
  "/static/vendor/highlight/languages/sql.js",
  "/static/vendor/highlight/languages/typescript.js",
  "/static/vendor/highlight/languages/xml.js",
  "/static/vendor/highlight/languages/yaml.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/hooks/")) return;
  // network first, so a running node always serves its current files; the cache when it is down
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.match(event.request, {ignoreSearch: true})
    .then((hit) => hit || (event.request.mode === "navigate" ? caches.match("/") : Response.error()))));
});
