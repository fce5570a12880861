// Drawing: the first layer, the preferences dialog and iframe placeholders, each in a shadow
// root with one constructable stylesheet (site CSS cannot reach in, ours cannot leak out, and
// no inline style is needed under a strict CSP). Elements are built with createElement and
// textContent, safe with any text. The first layer is small; the dialog is built on demand.
import { isRtl } from "./locale.js";
import { load } from "./queue.js";
import { get, optIn, optional, read } from "./state.js";

const d = document;
let C, S, locale, tx, actions;
let sheet, host, root, banner, modal, overlay, returnFocus;

// `actions` are acceptAll, rejectAll, set, withdraw, decide and sync: what the buttons and links
// do.
// Every word the banner shows comes from the config (the server fills in built-in ones).
export function initUI(config, language, texts, buttonActions) {
  C = config;
  locale = language;
  tx = texts;
  S = tx(C);
  actions = buttonActions;
}

const fill = (text, value) => text.replace("%s", value);
const h = (tag, cls, text, attrs) => {
  const e = d.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
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
  el.dir = isRtl(locale) ? "rtl" : "ltr";
  return r;
};
const mount = () => {
  if (host) return;
  host = h("div", 0, 0, { id: "consent-service" });
  root = shadow(host);
  // localStorage opens as the visitor reaches for a button, not in the click that stores.
  host.onpointerdown = host.onkeydown = load;
  d.body ? d.body.prepend(host) : d.documentElement.append(host);
};
const gpcNote = () => {
  const value = read();
  const names = optional.filter((c) => c.gpc_opt_out).map((c) => tx(c).name);
  return value?.g && names.length ? h("p", "g", fill(S.gpc, names.join(", "))) : "";
};
const choiceRow = () => {
  const row = h("div", "r");
  row.append(button(S.accept, actions.acceptAll), button(S.reject, actions.rejectAll));
  return row;
};
const close = () => {
  if (!modal) return;
  modal.remove();
  overlay.remove();
  modal = overlay = null;
  returnFocus?.focus?.();
};
// Tab and Shift+Tab cycle inside the dialog; Escape closes it.
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
const service = (s) => {
  // Names, provider, location and link per locale where the settings translate them.
  const st = { ...s, ...tx(s) };
  const list = h("dl", 0, 0, { "aria-label": st.name });
  const row = (label, value) => list.append(h("dt", 0, label), value);
  const where = h("dd", 0, st.storage_location);
  if (s.cross_border) where.append(" — ", h("span", "w", S.cross));
  row(st.name, h("dd", 0, st.provider));
  row(S.purpose, h("dd", 0, st.purpose));
  row(S.data, h("dd", 0, st.data_collected));
  row(S.where, where);
  if (s.cookies.length) row(S.cookies, h("dd", 0, s.cookies.map((k) => k.name).join(", ")));
  if (st.privacy_policy_url) {
    const link = h("dd");
    link.append(h("a", 0, S.policy, { href: st.privacy_policy_url, target: "_blank", rel: "noopener" }));
    row(S.policy, link);
  }
  return list;
};
export const open = () => {
  mount();
  close();
  returnFocus = d.activeElement == host ? root.activeElement : d.activeElement;
  const value = read();
  overlay = h("div", "o");
  modal = h("div", "m", 0, { role: "dialog", "aria-modal": "true", "aria-labelledby": "cs-m" });
  modal.append(
    button("×", close, "x", { "aria-label": S.close }),
    h("h2", 0, S.prefs, { id: "cs-m" }),
    h("p", 0, tx(C).description),
    gpcNote(),
  );
  const boxes = {};
  for (const c of C.categories) {
    const t = tx(c);
    const id = "cs-c-" + c.slug;
    const section = h("div", "c");
    const head = h("div", "h");
    const title = h("h3");
    title.append(h("label", 0, t.name, { for: id }));
    head.append(title);
    if (c.necessary) head.append(h("span", "n", S.on, { id }));
    else {
      const box = (boxes[c.slug] = h("input", 0, 0, {
        id,
        type: "checkbox",
        role: "switch",
        "aria-describedby": id + "-d",
      }));
      box.checked = value?.c[c.slug];
      head.append(box);
    }
    section.append(head, h("p", 0, t.description, { id: id + "-d" }));
    const services = C.services.filter((s) => s.category == c.slug);
    if (services.length) {
      const more = h("details");
      more.append(h("summary", 0, S.services + " (" + services.length + ")"), ...services.map(service));
      section.append(more);
    }
    modal.append(section);
  }
  const row = choiceRow();
  row.prepend(
    button(S.save, () => {
      const choices = {};
      for (const slug in boxes) choices[slug] = boxes[slug].checked;
      actions.decide(choices, "custom");
    }),
  );
  modal.append(row);
  // Once a choice exists: withdrawing is one click, and the preference center (history,
  // download, erasure) is a link that carries the visitor token in its fragment, which no
  // server and no Referer ever sees.
  if (value?.d) {
    row.append(button(S.wd, actions.withdraw));
    const link = h("p");
    const a = h("a", 0, S.pc, {
      href: C.api_base + "/p/" + C.site_key + "?lang=" + locale + "#" + (value.t || ""),
      target: "_blank",
      rel: "noopener",
    });
    // Changes made there reach this page when the visitor comes back to it.
    a.onclick = actions.sync;
    link.append(a);
    modal.append(link);
  }
  modal.onkeydown = trap;
  root.append(overlay, modal);
  modal.querySelector("input,button").focus();
};
// The first layer per rule set (C.rules): opt_in asks; opt_in_separate asks too, with a
// separate consent in this layer for each category whose services provide data to third
// parties or abroad; opt_out is a notice whose main control opts out of sale and sharing;
// notice_only is a notice.
export function showBanner() {
  mount();
  if (banner) return;
  const rules = C.rules;
  const text = h("p", 0, (optIn ? S.description : rules == "opt_out" ? S.optout : S.notice) + " ", {
    id: "cs-d",
  });
  const policy = C.policy_version;
  if (policy?.url) text.append(h("a", 0, S.policy_link || S.policy, { href: policy.url }));
  const seps = {};
  const list = h("div");
  if (rules == "opt_in_separate")
    for (const c of optional)
      if (C.services.some((s) => s.category == c.slug && (s.cross_border || s.third_party))) {
        const id = "cs-s-" + c.slug;
        const label = h("label", "s", 0, { for: id });
        label.append((seps[c.slug] = h("input", 0, 0, { id, type: "checkbox" })), fill(S.sep, tx(c).name));
        list.append(label);
      }
  let row = h("div", "r");
  if (optIn) {
    row = choiceRow();
    // Accepting grants a category that needs a separate consent only with its box ticked.
    row.firstChild.onclick = () => {
      const c = {};
      for (const x of optional) c[x.slug] = seps[x.slug]?.checked ?? true;
      actions.decide(c, Object.values(c).every(Boolean) ? "accept_all" : "custom");
    };
  } else {
    const keep = {};
    for (const x of optional) keep[x.slug] = get(x.slug);
    if (rules == "opt_out")
      row.append(
        button(S.dns, () => {
          for (const x of optional) if (x.gpc_opt_out) keep[x.slug] = false;
          actions.decide(keep, "custom");
        }),
      );
    row.append(button(S.close, () => actions.decide(keep)));
  }
  row.append(button(S.prefs, open));
  banner = h("div", "b", 0, { role: "region", "aria-labelledby": "cs-t" });
  banner.append(h("h2", 0, S.title, { id: "cs-t" }), text, list, gpcNote(), row);
  root.append(banner);
}

export function hide() {
  banner?.remove();
  banner = null;
  close();
}

// The stand-in for a refused iframe, with a button that allows its category.
export function placeholder(el, slug) {
  const holder = h("div");
  const box = h("div", "p");
  const name = tx(C.categories.find((c) => c.slug == slug) || { texts: {} }).name || slug;
  box.append(h("p", 0, fill(S.blocked, name)), button(S.allow, () => actions.set({ [slug]: true })));
  shadow(holder).append(box);
  holder.style.cssText =
    "max-width:100%;width:" + (el.width || 480) + "px;height:" + (el.height || 270) + "px";
  el.hidden = true;
  el.before(holder);
  return holder;
}
