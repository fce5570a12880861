// consent-service banner runtime. The service serves it as one script with the site's
// config in place of __CONSENT_SITE__, so the first layer needs exactly one request.
// Size matters (every page view of every site downloads it): no framework, no templates,
// DOM built with createElement (safe with any text, fine under a strict CSP and Trusted Types
// for HTML), CSS as a constructable stylesheet in a shadow root.
import { STRINGS } from "./strings.js";

const NAME = "consentService";
const w = window;
const d = document;
const SELECTOR = 'script[type="text/plain"][data-consent],iframe[data-consent]';
const DENIED = {
  ad_storage: "denied",
  analytics_storage: "denied",
  ad_user_data: "denied",
  ad_personalization: "denied",
};
const RTL = /^(ar|he|fa|ur|ps|yi|dv|ckb|sd|ug)\b/i;

function boot(C) {
  const stub = w[NAME];
  if (stub && stub.loaded) {
    console.warn("consent-service: loaded twice, ignored");
    return;
  }
  const me = d.currentScript;
  const nonce = (me && me.nonce) || "";
  const cats = C.categories;
  const optional = cats.filter((c) => !c.necessary);
  const policy = C.policy_version;
  const lifetime = C.lifetime_days * 864e5;
  const queueKey = "cs_q_" + C.site_key;
  const listeners = { change: [], ready: [] };

  // --- language: the page's, then the browser's, then the site default -------------------
  const locales = Object.keys(C.texts);
  const base = (l) => l.toLowerCase().split("-")[0];
  const match = (want, list) =>
    list.find((x) => x.toLowerCase() == want.toLowerCase()) ||
    list.find((x) => base(x) == base(want));
  let locale = C.default_locale;
  for (const want of [d.documentElement.lang, ...(navigator.languages || [])]) {
    const hit = want && match(want, locales);
    if (hit) {
      locale = hit;
      break;
    }
  }
  const S = STRINGS[match(locale, Object.keys(STRINGS)) || "en"];
  const tx = (o) => o.texts[locale] || o.texts[C.default_locale] || o.texts.en || {};
  const fill = (text, value) => text.replace("%s", value);

  // --- state: one first-party cookie --------------------------------------------------------
  const readCookie = () => {
    const found = d.cookie.match("(?:^|; )" + C.cookie_name + "=([^;]*)");
    try {
      return found && JSON.parse(decodeURIComponent(found[1]));
    } catch (e) {
      return null;
    }
  };
  const writeCookie = () => {
    d.cookie =
      C.cookie_name +
      "=" +
      encodeURIComponent(JSON.stringify(state)) +
      ";path=/;max-age=" +
      lifetime / 1e3 +
      ";samesite=lax" +
      (location.protocol == "https:" ? ";secure" : "");
  };
  let state = readCookie();
  // Ask again when the lifetime passed, a material policy took effect, or a category is new.
  const expired = (s) =>
    !s || Date.now() - s.at > lifetime || (policy && policy.material && s.p != policy.label);
  const current = () => !expired(state) && state.d && optional.every((c) => c.slug in state.c);
  const get = (slug) => {
    const cat = cats.find((c) => c.slug == slug);
    if (!cat) return null;
    if (cat.necessary) return true;
    return expired(state) || !(slug in state.c) ? null : state.c[slug];
  };
  const snapshot = () => {
    const choices = {};
    for (const c of cats) choices[c.slug] = get(c.slug);
    return {
      decided: current(),
      choices,
      policy_version: state && state.p,
      banner_version: state && state.b,
      updated_at: state ? new Date(state.at).toISOString() : null,
      gpc: !!(state && state.g),
    };
  };

  // --- Google Consent Mode v2: defaults before any Google tag can run ---------------------
  const dataLayer = (w.dataLayer = w.dataLayer || []);
  const gtag = (w.gtag =
    w.gtag ||
    function () {
      dataLayer.push(arguments);
    });
  const cm = C.consent_mode || {};
  gtag("consent", "default", {
    ...DENIED,
    functionality_storage: "granted",
    security_storage: "granted",
    wait_for_update: cm.wait_for_update || 500,
  });
  for (const region of cm.regions || []) gtag("consent", "default", region);
  gtag("set", "ads_data_redaction", true);
  const signals = () => {
    const out = { ...DENIED };
    for (const c of cats) if (get(c.slug)) for (const s of c.consent_mode) out[s] = "granted";
    return out;
  };
  const consentUpdate = () => {
    const s = signals();
    gtag("consent", "update", s);
    gtag("set", "ads_data_redaction", s.ad_storage == "denied");
    dataLayer.push({ event: "consent_update", consent: s });
  };
  let gaLoaded = false;
  const loadGa = () => {
    const ga = C.ga4;
    const analytics = cats.find((c) => c.consent_mode.includes("analytics_storage"));
    if (!ga || gaLoaded || (ga.mode != "advanced" && !(analytics && get(analytics.slug)))) return;
    gaLoaded = true;
    const s = d.createElement("script");
    s.async = true;
    s.src = ga.script_url;
    s.nonce = nonce;
    d.head.append(s);
    gtag("js", new Date());
    gtag("config", ga.measurement_id);
  };

  // --- tag control: inert scripts and iframes run once their categories are granted --------
  const done = new WeakSet();
  const placeholders = new WeakMap();
  let chain = Promise.resolve();
  const needs = (el) => el.getAttribute("data-consent").split(/\s+/).filter(Boolean);
  const runScript = (el) =>
    (chain = chain.then(
      () =>
        new Promise((resolve) => {
          const s = d.createElement("script");
          for (const a of el.attributes)
            if (a.name != "type" && a.name != "data-consent") s.setAttribute(a.name, a.value);
          s.type = el.getAttribute("data-type") || "text/javascript";
          s.nonce = nonce;
          if (el.src) {
            s.async = false;
            s.onload = s.onerror = resolve;
          } else s.text = el.text;
          el.replaceWith(s);
          if (!el.src) resolve();
        }),
    ));
  const release = (el) => {
    if (done.has(el)) return;
    const denied = needs(el).filter((slug) => !get(slug));
    if (el.tagName == "IFRAME") {
      if (denied.length) return block(el, denied[0]);
      placeholders.get(el)?.remove();
      el.hidden = false;
      el.src = el.getAttribute("data-src");
    } else if (denied.length) return;
    else runScript(el);
    done.add(el);
  };
  const releaseAll = () => d.querySelectorAll(SELECTOR).forEach(release);

  // --- drawing -----------------------------------------------------------------------------
  let sheet, host, root, banner, modal, overlay, returnFocus;
  const h = (tag, cls, text, attrs) => {
    const e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  };
  const button = (label, onClick, cls, attrs) => {
    const b = h("button", cls, label, { type: "button", ...attrs });
    b.onclick = onClick;
    return b;
  };
  const shadow = (el) => {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(__CSS__);
    }
    const r = el.attachShadow({ mode: "open" });
    r.adoptedStyleSheets = [sheet];
    el.lang = locale;
    el.dir = RTL.test(locale) ? "rtl" : "ltr";
    return r;
  };
  const mount = () => {
    if (host) return;
    host = h("div", 0, null, { id: "consent-service" });
    root = shadow(host);
    // Open localStorage as the visitor reaches for a button, not in the click that stores.
    host.onpointerdown = host.onkeydown = () => load();
    d.body ? d.body.prepend(host) : d.documentElement.append(host);
  };
  const catName = (slug) => tx(cats.find((c) => c.slug == slug) || { texts: {} }).name || slug;
  const block = (el, slug) => {
    if (placeholders.has(el)) return;
    const holder = h("div");
    const box = h("div", "p");
    box.append(h("p", 0, fill(S.blocked, catName(slug))), button(S.allow, () => set({ [slug]: true })));
    shadow(holder).append(box);
    holder.style.width = (el.getAttribute("width") || 480) + "px";
    holder.style.height = (el.getAttribute("height") || 270) + "px";
    holder.style.maxWidth = "100%";
    el.hidden = true;
    el.before(holder);
    placeholders.set(el, holder);
  };
  const gpcNote = () => {
    const names = optional.filter((c) => c.gpc_opt_out).map((c) => tx(c).name);
    return state && state.g && names.length ? h("p", "g", fill(S.gpc, names.join(", "))) : "";
  };
  const actions = () => {
    const row = h("div", "r");
    row.append(button(S.accept, acceptAll), button(S.reject, rejectAll));
    return row;
  };
  const showBanner = () => {
    mount();
    if (banner) return;
    const T = tx(C);
    const text = h("p", 0, T.description + " ", { id: "cs-d" });
    if (policy && policy.url) text.append(h("a", 0, T.policy_link || S.policy, { href: policy.url }));
    const row = actions();
    row.append(button(S.prefs, open));
    banner = h("div", "b", null, { role: "region", "aria-labelledby": "cs-t" });
    banner.append(h("h2", 0, T.title, { id: "cs-t" }), text, gpcNote(), row);
    root.append(banner);
  };
  const hide = () => {
    banner && banner.remove();
    banner = null;
    close();
  };
  const open = () => {
    mount();
    close();
    returnFocus = d.activeElement == host ? root.activeElement : d.activeElement;
    const T = tx(C);
    overlay = h("div", "o");
    modal = h("div", "m", null, { role: "dialog", "aria-modal": "true", "aria-labelledby": "cs-m" });
    modal.append(
      button("×", close, "x", { "aria-label": S.close }),
      h("h2", 0, S.prefs, { id: "cs-m" }),
      h("p", 0, T.description),
      gpcNote(),
    );
    const boxes = {};
    for (const c of cats) {
      const t = tx(c);
      const id = "cs-c-" + c.slug;
      const section = h("div", "c");
      const head = h("div", "h");
      const title = h("h3");
      title.append(h("label", 0, t.name, { for: id }));
      head.append(title);
      if (c.necessary) head.append(h("span", "n", S.on, { id }));
      else {
        const box = (boxes[c.slug] = h("input", 0, null, {
          id,
          type: "checkbox",
          role: "switch",
          "aria-describedby": id + "-d",
        }));
        box.checked = !!(state && state.c[c.slug]);
        head.append(box);
      }
      section.append(head, h("p", 0, t.description, { id: id + "-d" }));
      const services = C.services.filter((s) => s.category == c.slug);
      if (services.length) {
        const more = h("details");
        more.append(h("summary", 0, S.services + " (" + services.length + ")"));
        for (const s of services) {
          const st = tx(s);
          const list = h("dl", 0, null, { "aria-label": s.name });
          const row = (label, value) => value && list.append(h("dt", 0, label), value);
          const where = h("dd", 0, s.storage_location);
          if (s.cross_border) where.append(" — ", h("span", "w", S.cross));
          const link = h("dd");
          if (s.privacy_policy_url)
            link.append(h("a", 0, S.policy, { href: s.privacy_policy_url, target: "_blank", rel: "noopener" }));
          row(s.name, h("dd", 0, s.provider));
          row(S.purpose, h("dd", 0, st.purpose));
          row(S.data, h("dd", 0, st.data_collected));
          row(S.where, where);
          if (s.cookies.length) row(S.cookies, h("dd", 0, s.cookies.map((k) => k.name).join(", ")));
          if (s.privacy_policy_url) row(S.policy, link);
          more.append(list);
        }
        section.append(more);
      }
      modal.append(section);
    }
    const row = actions();
    row.prepend(
      button(S.save, () => {
        const choices = {};
        for (const slug in boxes) choices[slug] = boxes[slug].checked;
        decide(choices, "custom");
      }),
    );
    modal.append(row);
    modal.onkeydown = trap;
    root.append(overlay, modal);
    modal.querySelector("input,button").focus();
  };
  const close = () => {
    if (!modal) return;
    modal.remove();
    overlay.remove();
    modal = overlay = null;
    returnFocus && returnFocus.focus && returnFocus.focus();
  };
  const trap = (e) => {
    if (e.key == "Escape") {
      e.preventDefault();
      close();
    }
    if (e.key != "Tab") return;
    const focusable = [...modal.querySelectorAll("button,input,a[href],summary")].filter(
      (x) => x.getClientRects().length,
    );
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const at = root.activeElement;
    if (e.shiftKey ? at == first : at == last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  };

  // --- recording: a small queue in localStorage, sent with keepalive, retried ---------------
  const load = () => {
    try {
      return JSON.parse(localStorage.getItem(queueKey)) || [];
    } catch (e) {
      return [];
    }
  };
  const store = (q) => {
    try {
      localStorage.setItem(queueKey, JSON.stringify(q.slice(-20)));
    } catch (e) {}
  };
  const uuid = () =>
    crypto.randomUUID
      ? crypto.randomUUID()
      : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
          (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16),
        );
  let sending = false;
  let backoff = 1e3;
  const flush = async () => {
    if (sending) return;
    sending = true;
    try {
      for (let q = load(); q.length; q = load()) {
        const item = q[0];
        if (!item.sent) {
          // The visitor token is fixed at the first attempt: a retry is byte-identical.
          item.sent = 1;
          if (!item.visitor_token && state && state.t) item.visitor_token = state.t;
          store(q);
        }
        const { sent, ...body } = item;
        const response = await fetch(C.api_base + "/api/v1/sites/" + C.site_key + "/consents", {
          method: "POST",
          keepalive: true,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (response.status >= 500 || response.status == 429) throw response.status;
        if (response.ok) {
          const answer = await response.json();
          if (state && answer.visitor_token) {
            state.t = answer.visitor_token;
            writeCookie();
          }
        }
        store(load().filter((x) => x.event_id != item.event_id));
        backoff = 1e3;
      }
      if (state && state.q) {
        delete state.q;
        writeCookie();
      }
    } catch (e) {
      setTimeout(flush, backoff);
      backoff = Math.min(backoff * 2, 6e4);
    }
    sending = false;
  };
  const record = (action, choices) => {
    const q = load();
    q.push({
      event_id: uuid(),
      action,
      choices,
      policy_version: policy ? policy.label : "none",
      banner_version: C.banner_version,
      language: locale,
      source: "banner",
      gpc: !!navigator.globalPrivacyControl,
      url: location.href,
      client_time: new Date().toISOString(),
      ...(state && state.t ? { visitor_token: state.t } : {}),
    });
    store(q);
    // The cookie says a decision waits, so that later pages touch localStorage only then.
    state.q = 1;
    writeCookie();
  };

  // --- deciding ----------------------------------------------------------------------------
  const tasks = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => tasks.shift()();
  const later = (fn) => {
    tasks.push(fn);
    channel.port2.postMessage(0);
  };
  // After the next frame is painted: work that must not delay the banner's first paint.
  // (A hidden tab paints no frames: the timer stands in.)
  const afterPaint = (fn) => {
    let run = () => {
      run = () => {};
      fn();
    };
    requestAnimationFrame(() => later(() => run()));
    setTimeout(() => run(), 200);
  };
  const emit = (type, detail) => {
    for (const fn of listeners[type]) {
      try {
        fn(detail);
      } catch (e) {
        console.error(e);
      }
    }
    d.dispatchEvent(new CustomEvent("consent:" + type, { detail }));
  };
  const purge = (slugs) => {
    const names = d.cookie.split("; ").map((c) => c.split("=")[0]);
    const labels = location.hostname.split(".");
    for (const s of C.services)
      if (slugs.includes(s.category))
        for (const k of s.cookies)
          for (const name of names.filter((n) => new RegExp(k.pattern).test(n))) {
            const gone = name + "=;path=/;max-age=0";
            d.cookie = gone;
            for (let i = 0; i < labels.length - 1; i++)
              d.cookie = gone + ";domain=." + labels.slice(i).join(".");
          }
  };
  // Hide and store in this task (what the visitor sees and what survives a navigation), then
  // yield before releasing tags and running the site's listeners.
  const decide = (choices, action) => {
    const before = optional.filter((c) => get(c.slug)).map((c) => c.slug);
    const c = {};
    for (const x of optional) c[x.slug] = !!choices[x.slug];
    state = { t: state && state.t, c, p: policy && policy.label, b: C.banner_version, at: Date.now(), d: 1 };
    hide();
    record(action, action == "reject_all" || action == "withdraw" ? {} : c);
    const withdrawn = before.filter((slug) => !c[slug]);
    later(() => {
      consentUpdate();
      emit("change", { ...snapshot(), withdrawn });
    });
    later(() => {
      if (withdrawn.length) purge(withdrawn);
      releaseAll();
      loadGa();
      flush();
    });
  };
  const all = (value) => {
    const c = {};
    for (const x of optional) c[x.slug] = value;
    return c;
  };
  const acceptAll = () => decide(all(true), "accept_all");
  const rejectAll = () => decide(all(false), "reject_all");
  const set = (choices) => {
    const c = {};
    for (const x of optional) c[x.slug] = x.slug in choices ? !!choices[x.slug] : !!get(x.slug);
    decide(c, "custom");
  };
  const withdraw = () => decide(all(false), "withdraw");

  const api = {
    loaded: true,
    get,
    state: snapshot,
    on: (type, fn) => {
      (listeners[type] || []).push(fn);
      return () => (listeners[type] = listeners[type].filter((x) => x != fn));
    },
    open,
    acceptAll,
    rejectAll,
    set,
    withdraw,
  };
  api.ready = Promise.resolve(api);
  w[NAME] = api;

  // --- start -------------------------------------------------------------------------------
  const decided = current();
  if (decided) consentUpdate();
  else if (C.gpc.honour && navigator.globalPrivacyControl && !(state && state.g && !expired(state))) {
    // GPC: opt out of the sale- and marketing-like categories now; the rest stays undecided.
    const c = {};
    for (const x of optional) if (x.gpc_opt_out) c[x.slug] = false;
    state = { t: state && state.t, c, p: policy && policy.label, b: C.banner_version, at: Date.now(), d: 0, g: 1 };
    record("gpc_opt_out", {});
  }
  if (!decided) showBanner();
  afterPaint(() => {
    releaseAll();
    loadGa();
    new MutationObserver((records) => {
      for (const r of records)
        for (const n of r.addedNodes)
          if (n.nodeType == 1) {
            if (n.matches(SELECTOR)) release(n);
            n.querySelectorAll(SELECTOR).forEach(release);
          }
    }).observe(d.documentElement, { childList: true, subtree: true });
    d.addEventListener("click", (e) => {
      const target = e.target.closest && e.target.closest("[data-consent-open]");
      if (target) {
        e.preventDefault();
        open();
      }
    });
    w.addEventListener("online", flush);
    if (stub && stub.q) for (const [method, args] of stub.q) api[method](...args);
    if (stub && stub.r) stub.r(api);
    emit("ready", snapshot());
    if (state && state.q) flush();
  });
}

boot(__CONSENT_SITE__);
