// Reporting decisions to the ledger. Each decision gets a fresh event id and waits in a small
// localStorage queue until the service acknowledged it; it is sent with fetch keepalive (so a
// navigation right after the click does not lose it), retried with backoff while offline or
// while the service answers 5xx or 429 (waiting at least its Retry-After), and resent
// from the next page if this one closed first. A retry is byte-identical (same event id, same
// body), so the service records it once. Any other refusal is never dropped silently: it is
// reported on the console and as a `consent:error` DOM event carrying the service's answer.
import { read, save } from "./state.js";

let C, key, emit;
// The site's public API: {base}/consents records, {base}/consents/current reads.
export let base;
let sending = false;
let backoff = 1e3;

export function initQueue(config, emitter) {
  C = config;
  emit = emitter;
  key = "cs_q_" + C.site_key;
  base = C.api_base + "/api/v1/sites/" + C.site_key;
}

export const load = () => {
  try {
    return JSON.parse(localStorage.getItem(key)) || [];
  } catch (e) {
    return [];
  }
};

const store = (q) => {
  try {
    localStorage.setItem(key, JSON.stringify(q.slice(-20)));
  } catch (e) {}
};

// A random (v4) UUID in any context: a blob URL ends with one (File API), while
// crypto.randomUUID exists only in secure contexts. The empty blob is let go at once.
const uuid = () => {
  const url = URL.createObjectURL(new Blob());
  URL.revokeObjectURL(url);
  return url.slice(-36);
};

export const flush = async () => {
  if (sending) return;
  sending = true;
  let wait;
  try {
    for (let q = load(); q.length; q = load()) {
      const item = q[0];
      const value = read();
      if (!item.sent) {
        // The visitor token is fixed at the first attempt: a retry is byte-identical.
        item.sent = 1;
        if (!item.visitor_token && value?.t) item.visitor_token = value.t;
        store(q);
      }
      const { sent, ...body } = item;
      const response = await fetch(base + "/consents", {
        method: "POST",
        keepalive: true,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const status = response.status;
      if (status > 499 || status == 429) {
        wait = response.headers.get("Retry-After") * 1e3;
        throw status;
      }
      const answer = await response.json().catch(() => 0);
      if (response.ok) {
        if (value && answer.visitor_token) {
          value.t = answer.visitor_token;
          save();
        }
      } else emit("error", { status, event_id: item.event_id, error: answer });
      store(load().filter((x) => x.event_id != item.event_id));
      backoff = 1e3;
    }
    const value = read();
    if (value?.q) {
      delete value.q;
      save();
    }
  } catch (e) {
    setTimeout(flush, Math.max(wait || 0, backoff));
    backoff = Math.min(backoff * 2, 6e4);
  }
  sending = false;
};

// Queue a decision (its state is already saved) and mark the cookie, so that later pages
// touch localStorage only while something waits.
export const record = (action, choices, language) => {
  const value = read();
  const q = load();
  q.push({
    event_id: uuid(),
    action,
    choices,
    policy_version: C.policy_version?.label || "none",
    banner_version: C.banner_version,
    language,
    gpc: !!navigator.globalPrivacyControl,
    // Only what the ledger keeps: no query (an ad click's gclid, personal data) leaves the page,
    // and a path of any length fits the 16 KiB body (the service marks what it cuts).
    url: (location.origin + location.pathname).slice(0, 2100),
    client_time: new Date().toISOString(),
  });
  store(q);
  value.q = 1;
  save();
};
