// consent-service banner runtime: wires state, Consent Mode, tag control, reporting and the
// drawing together and defines the one global, `consentService`. The service serves this file
// with the site's configuration in place of __CONSENT_SITE__, so the first layer needs exactly
// one request.
import { initConsentMode, loadGa, updateConsent } from "./consent-mode.js";
import { pickLocale } from "./locale.js";
import { base, flush, initQueue, record } from "./queue.js";
import {
  current,
  expired,
  get,
  initState,
  next,
  optIn,
  optional,
  read,
  save,
  snapshot,
} from "./state.js";
import { initTags, observe, releaseAll } from "./tags.js";
import { hide, initUI, open, showBanner } from "./ui.js";

const w = window;
const d = document;

// One channel for "soon, but after this task"; afterPaint for work that must not delay the
// banner's first frame (a hidden tab paints no frames: the timer stands in).
const tasks = [];
const channel = new MessageChannel();
channel.port1.onmessage = () => tasks.shift()();
const later = (fn) => {
  tasks.push(fn);
  channel.port2.postMessage(0);
};
const afterPaint = (fn) => {
  let ran;
  const run = () => ran || ((ran = 1), fn());
  requestAnimationFrame(() => later(run));
  setTimeout(run, 200);
};

const listeners = { change: [], ready: [], error: [] };
const emit = (type, detail) => {
  if (type == "error") console.error("consent-service: refused", detail);
  for (const fn of listeners[type]) {
    try {
      fn(detail);
    } catch (e) {
      console.error(e);
    }
  }
  d.dispatchEvent(new CustomEvent("consent:" + type, { detail }));
};

// On withdrawal: delete the cookies the config declares for the withdrawn services, on this
// host and its parent domains.
const purge = (services, slugs) => {
  const names = d.cookie.split("; ").map((c) => c.split("=")[0]);
  const labels = location.hostname.split(".");
  for (const s of services)
    if (slugs.includes(s.category))
      for (const k of s.cookies)
        for (const name of names.filter((n) => new RegExp(k.pattern).test(n))) {
          const gone = name + "=;path=/;max-age=0";
          d.cookie = gone;
          for (let i = 0; i < labels.length - 1; i++)
            d.cookie = gone + ";domain=." + labels.slice(i).join(".");
        }
};

function boot(C) {
  const stub = w.consentService;
  if (stub?.loaded) {
    console.warn("consent-service: loaded twice, ignored");
    return;
  }
  const nonce = (d.currentScript?.nonce) || "";
  const locale = pickLocale(
    Object.keys(C.texts),
    [d.documentElement.lang, ...(navigator.languages || [])],
    C.default_locale,
  );
  const tx = (o) => o.texts[locale] || o.texts[C.default_locale] || o.texts.en || {};
  initState(C);
  initConsentMode(C, nonce);
  initQueue(C, emit);

  // Hide and store in this task (what the visitor sees and what survives a navigation), then
  // yield before running the site's listeners, and again before releasing tags.
  const decide = (choices, action) => {
    const c = {};
    for (const x of optional) c[x.slug] = !!choices[x.slug];
    const withdrawn = optional.filter((x) => get(x.slug) && !c[x.slug]).map((x) => x.slug);
    const none = action == "reject_all" || action == "withdraw";
    // After "Reject all" the banner keeps quiet for reask_days (r), whatever the lifetime.
    // No action (a notice closed without a choice, or a choice the preference center recorded)
    // keeps the GPC mark and records nothing.
    save(next(c, { d: 1, r: action == "reject_all" ? 1 : 0, g: action ? 0 : read()?.g }));
    hide();
    if (action) record(action, none ? {} : c, locale);
    later(() => {
      updateConsent();
      emit("change", { ...snapshot(), withdrawn });
    });
    later(() => {
      if (withdrawn.length) purge(C.services, withdrawn);
      releaseAll();
      loadGa();
      flush();
    });
  };
  // The preference center (another origin, another tab) records its changes itself; once the
  // visitor opened it, each return to this tab asks the service for the current choice and
  // applies it here without recording it again: cookie, `change`, withdrawn categories
  // unloaded, newly allowed tags released. Not while a choice of this page waits to be sent
  // (the service would answer with the one before it), nor a choice to be asked again.
  const check = async () => {
    if (d.hidden) return;
    try {
      const s = await (
        await fetch(base + "/consents/current", { headers: { "X-Visitor-Token": read().t } })
      ).json();
      if (
        !s.needs_renewal &&
        s.action != "gpc_opt_out" &&
        !read().q &&
        optional.some((x) => s.choices[x.slug] != get(x.slug))
      )
        decide(s.choices);
    } catch (e) {}
  };
  const api = {
    loaded: true,
    get,
    state: snapshot,
    on: (type, fn) => {
      (listeners[type] || []).push(fn);
      return () => (listeners[type] = listeners[type].filter((x) => x != fn));
    },
    open,
    acceptAll: () => {
      const c = {};
      for (const x of optional) c[x.slug] = 1;
      decide(c, "accept_all");
    },
    // decide() refuses whatever the choices leave out.
    rejectAll: () => decide({}, "reject_all"),
    // The given categories; the others keep their current value.
    set: (choices) => {
      const c = {};
      for (const x of optional) c[x.slug] = x.slug in choices ? choices[x.slug] : get(x.slug);
      decide(c, "custom");
    },
    withdraw: () => decide({}, "withdraw"),
  };
  api.ready = Promise.resolve(api);
  w.consentService = api;
  initUI(C, locale, tx, {
    ...api,
    decide,
    sync: () => d.addEventListener("visibilitychange", check),
  });
  initTags(nonce);

  const decided = current();
  if (!decided && C.gpc.honour && navigator.globalPrivacyControl && !(read()?.g && !expired())) {
    // GPC: opt out of the sale- and marketing-like categories now (the banner says so); the
    // rest stays undecided.
    const c = {};
    for (const x of optional) if (x.gpc_opt_out) c[x.slug] = false;
    save(next(c, { d: 0, g: 1 }));
    record("gpc_opt_out", {}, locale);
  }
  // Under opt-out rules what nobody refused is allowed from the start: tell Google so now.
  if (decided || !optIn) updateConsent();
  if (!decided) showBanner();
  afterPaint(() => {
    releaseAll();
    observe();
    loadGa();
    d.addEventListener("click", (e) => {
      if (e.target.closest?.("[data-consent-open]")) {
        e.preventDefault();
        open();
      }
    });
    w.addEventListener("online", flush);
    for (const [method, args] of stub?.q || []) api[method](...args);
    stub?.r?.(api);
    emit("ready", snapshot());
    if (read()?.q) flush();
  });
}

boot(__CONSENT_SITE__);
