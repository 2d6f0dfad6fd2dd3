// The API as the page uses it: the session (key, tenant) in sessionStorage,
// GETs with the key as a Bearer token, errors as ApiError.

const STORE = "campaign-analytics.session";

/** Where the API is: the page lives at <base>/ui/, the API at <base>/. */
export const API_BASE = new URL("../", document.baseURI);

/** An error the page can show: `status` 0 when the API was not reached. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** { key, admin, tenant, timezone } or null. */
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORE) || "null");
    return s && typeof s.key === "string" ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(STORE, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(STORE);
}

/** The URL of an API path with query parameters (and, for an admin key,
 * the tenant). Null and empty parameters are left out. */
export function apiUrl(path, params = {}, sess = session()) {
  const url = new URL(path.replace(/^\//, ""), API_BASE);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  if (sess && sess.admin && sess.tenant) url.searchParams.set("tenant_id", sess.tenant);
  return url;
}

/** The path segment of an id. */
export const seg = (id) => encodeURIComponent(id);

/** Headers of an authenticated request. */
export function authHeaders(sess = session(), extra = {}) {
  return { Authorization: `Bearer ${sess ? sess.key : ""}`, ...extra };
}

/** The JSON of GET `path`; throws ApiError. A 401 also tells the page
 * (event `api-unauthorized`), which signs out. */
export async function get(path, params = {}, { signal, sess = session(), quiet401 = false } = {}) {
  let res;
  try {
    res = await fetch(apiUrl(path, params, sess), {
      headers: authHeaders(sess, { Accept: "application/json" }),
      signal,
      cache: "no-store",
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "No answer from the server. Check that it runs and that you are online, then try again.");
  }
  if (res.ok) return res.json();
  throw await errorOf(res, quiet401);
}

/** A change: `method` (POST, PUT, DELETE) of `path` with `body` as JSON
 * (undefined: none) and extra `headers` (e.g. If-Match); the answer's
 * JSON, or null for a 204. Throws ApiError. */
export async function send(method, path, body = undefined, { signal, sess = session(), headers = {} } = {}) {
  const extra = { Accept: "application/json", ...headers };
  if (body !== undefined) extra["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(apiUrl(path, {}, sess), {
      method,
      headers: authHeaders(sess, extra),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "No answer from the server. Check that it runs and that you are online, then try again.");
  }
  if (res.status === 204) return null;
  if (res.ok) return res.json();
  throw await errorOf(res);
}

/** An ApiError from a failed response. */
export async function errorOf(res, quiet401 = false) {
  let code = "http_" + res.status;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401 && !quiet401) window.dispatchEvent(new CustomEvent("api-unauthorized"));
  return new ApiError(res.status, code, message);
}

/** An error said for people: what happened and what to do. */
export function explain(err) {
  if (!(err instanceof ApiError)) return { title: "Something went wrong", detail: String(err && err.message || err) };
  switch (true) {
    case err.status === 0:
      return { title: "The API is not reachable", detail: err.message };
    case err.status === 401:
      return { title: "Your key was not accepted", detail: "Sign in again with a valid API key." };
    case err.status === 403:
      return { title: "This key may not read this", detail: err.message };
    case err.status === 404:
      return { title: "Not found", detail: err.message };
    case err.status === 412:
      return { title: "Changed by someone else", detail: err.message };
    case err.status === 429:
      return { title: "Too many requests", detail: "The key's rate limit was reached; wait a moment, then try again." };
    case err.status === 503:
      return { title: "Temporarily unavailable", detail: err.message };
    case err.status === 504:
      return { title: "The API took too long", detail: err.message };
    default:
      return { title: `Error ${err.status}`, detail: err.message };
  }
}
