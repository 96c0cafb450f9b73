// The Network page's bundle panel (system admins): export a bundle for a chosen node, or of public
// data only, as a file download; import a bundle file with upload progress and the node's answer.
// The routes are POST /api/v4/edgenode/bundles/{export,import} (docs/bundles.md).
import { useState } from "../../vendor/preact-hooks.js";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { ApiError, cookie } from "../api.js";

const BASE = "/api/v4/edgenode/bundles";

function headers(extra) {
  // The same headers api.js sends on a state change: the node refuses a cookie session without them.
  const sent = { "X-Requested-With": "XMLHttpRequest", ...extra };
  const csrf = cookie("MMCSRF");
  if (csrf) sent["X-CSRF-Token"] = csrf;
  return sent;
}

function errorOf(status, text) {
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text }; }
  return new ApiError(status, body);
}

async function exportBundle(recipient) {
  const response = await fetch(`${BASE}/export`, {
    method: "POST", credentials: "same-origin",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(recipient ? { for: recipient } : {}),
  });
  if (!response.ok) throw errorOf(response.status, await response.text());
  return response.blob();
}

function download(blob, name) {
  // A Blob link, clicked once: the browser saves the file without the bundle passing through a page.
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function importBundle(file, onProgress) {
  // XMLHttpRequest rather than fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${BASE}/import`);
    request.withCredentials = true;
    for (const [key, value] of Object.entries(headers({ "Content-Type": "application/octet-stream" }))) {
      request.setRequestHeader(key, value);
    }
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded, event.total);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve(JSON.parse(request.responseText));
      else reject(errorOf(request.status, request.responseText));
    };
    request.onerror = () => reject(new ApiError(0, { message: t("bundles.unreachable") }));
    request.send(file);
  });
}

export function BundlePanel({ peers }) {
  const nodes = peers.filter((p) => p.node_key);
  const [recipient, setRecipient] = useState("");
  const [exporting, setExporting] = useState(false);
  const [exported, setExported] = useState("");
  const [exportError, setExportError] = useState("");
  const [file, setFile] = useState(null);
  const [progress, setProgress] = useState(null);
  const [result, setResult] = useState(null);
  const [importError, setImportError] = useState("");

  const onExport = async (event) => {
    event.preventDefault();
    setExporting(true); setExported(""); setExportError("");
    try {
      const blob = await exportBundle(recipient);
      const node = nodes.find((p) => p.node_key === recipient);
      download(blob, `edgenode-${node ? node.node || "node" : "public"}.bundle`);
      setExported(t("bundles.exported", { bytes: blob.size }));
    } catch (error) {
      setExportError(error.message);
    } finally {
      setExporting(false);
    }
  };
  const onImport = async (event) => {
    event.preventDefault();
    if (!file) return;
    setProgress({ loaded: 0, total: file.size }); setResult(null); setImportError("");
    try {
      setResult(await importBundle(file, (loaded, total) => setProgress({ loaded, total })));
    } catch (error) {
      setImportError(error.message);
    } finally {
      setProgress(null);
    }
  };

  return html`<section class="bundles" aria-labelledby="bundles-title">
    <h2 id="bundles-title">${t("bundles.title")}</h2>
    <p>${t("bundles.intro")}</p>
    <form onSubmit=${onExport} aria-labelledby="bundle-export-title">
      <h3 id="bundle-export-title">${t("bundles.export")}</h3>
      <label for="bundle-recipient">${t("bundles.recipient")}</label>
      <select id="bundle-recipient" value=${recipient} onChange=${(e) => setRecipient(e.currentTarget.value)}>
        <option value="">${t("bundles.public_only")}</option>
        ${nodes.map((p) => html`<option key=${p.node_key} value=${p.node_key}>${p.node || p.node_key}</option>`)}
      </select>
      <button type="submit" disabled=${exporting}>${exporting ? t("bundles.exporting") : t("bundles.export_button")}</button>
      ${exported && html`<p role="status">${exported}</p>`}
      ${exportError && html`<p role="alert">${exportError}</p>`}
    </form>
    <form onSubmit=${onImport} aria-labelledby="bundle-import-title">
      <h3 id="bundle-import-title">${t("bundles.import")}</h3>
      <label for="bundle-file">${t("bundles.file")}</label>
      <input id="bundle-file" type="file" accept=".bundle,application/octet-stream"
        onChange=${(e) => setFile(e.currentTarget.files[0] || null)} />
      <button type="submit" disabled=${!file || progress !== null}>${t("bundles.import_button")}</button>
      ${progress && html`<p role="status"><label for="bundle-progress">${t("bundles.uploading")}</label>
        <progress id="bundle-progress" max=${progress.total || 1} value=${progress.loaded}></progress></p>`}
      ${result && html`<p role="status">${t("bundles.imported", result)}</p>`}
      ${importError && html`<p role="alert">${importError}</p>`}
    </form>
  </section>`;
}
