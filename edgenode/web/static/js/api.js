// The node's own API (/api/v4), as Mattermost's web app calls it: the session cookie (HttpOnly) goes
// by itself, and every state change carries the CSRF token read from the MMCSRF cookie.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.id = (body && body.id) || "";
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return "";
}

let onOffline = () => {};
let onUnauthorized = () => {};
export function watchConnection(offline, unauthorized) {
  onOffline = offline;
  onUnauthorized = unauthorized;
}

export async function api(method, path, body, base = "/api/v4") {
  const headers = { "X-Requested-With": "XMLHttpRequest" };
  if (method !== "GET") {
    const csrf = cookie("MMCSRF");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${base}${path}`, { method, headers, body: payload, credentials: "same-origin" });
  } catch (error) {
    onOffline(true);
    throw new ApiError(0, { message: "The node cannot be reached.", id: "offline" });
  }
  onOffline(false);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!response.ok) {
    if (response.status === 401 && path !== "/users/login") onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body === undefined ? {} : body);
export const del = (path) => api("DELETE", path);
