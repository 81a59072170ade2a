// The console's HTTP calls (the admin API's /api/console, /api/reports, ...), with the
// agent's token. Errors come back as {ok: false, status, error} with the server's
// error object, never thrown.
let tokenOf = () => "";

export function setToken(getter) { tokenOf = getter; }

export async function api(path, opts) {
  const o = opts || {};
  const headers = { Authorization: `Bearer ${tokenOf()}` };
  if (o.body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method: o.method || (o.body !== undefined ? "POST" : "GET"),
      headers, cache: "no-store",
      body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
    });
  } catch (_) {
    return { ok: false, status: 0, error: { code: "offline", message: "The gateway cannot be reached." } };
  }
  if (r.status === 204) return { ok: true, status: 204, data: null };
  const data = await r.json().catch(() => null);
  if (!r.ok) return { ok: false, status: r.status, error: (data && data.error) || { code: "http", message: `HTTP ${r.status}` } };
  return { ok: true, status: r.status, data };
}

/** Fetch a download with the token and hand it to the browser as a file. */
export async function download(path, fallbackName) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${tokenOf()}` }, cache: "no-store" });
  if (!r.ok) return false;
  const blob = await r.blob();
  const cd = r.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : fallbackName;
  a.textContent = a.download;
  a.hidden = true;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  return true;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
