// Tag control: <script type="text/plain" data-consent="..."> and <iframe data-consent="..."
// data-src="..."> stay inert until every category they name is granted, then run once, in
// document order (an external script is waited for before the next one runs), including
// elements added later. A refused iframe gets the UI's placeholder; a released one whose
// category is withdrawn is put back to its placeholder.
import { get } from "./state.js";
import { placeholder } from "./ui.js";

const SELECTOR = 'script[type="text/plain"][data-consent],iframe[data-consent]';
const done = new WeakSet();
const holders = new WeakMap();
let nonce;
let chain = Promise.resolve();

export function initTags(scriptNonce) {
  nonce = scriptNonce;
}

const run = (el) =>
  (chain = chain.then(
    () =>
      new Promise((resolve) => {
        const s = document.createElement("script");
        for (const a of el.attributes)
          if (a.name != "type" && a.name != "data-consent") s.setAttribute(a.name, a.value);
        s.type = el.dataset.type || "text/javascript";
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
  const denied = el.dataset.consent
    .split(/\s+/)
    .filter((slug) => slug && !get(slug));
  const frame = el.tagName == "IFRAME";
  if (done.has(el)) {
    // Withdrawn: a fresh copy that never loaded takes the iframe's place (and gets the
    // placeholder); a script that ran was replaced by its copy and is never run again.
    if (frame && denied.length) {
      const fresh = el.cloneNode();
      fresh.removeAttribute("src");
      el.replaceWith(fresh);
      release(fresh);
    }
    return;
  }
  if (frame) {
    if (denied.length) return holders.has(el) || holders.set(el, placeholder(el, denied[0]));
    const holder = holders.get(el);
    if (holder) holder.remove();
    el.hidden = false;
    el.src = el.dataset.src;
  } else if (denied.length) return;
  else run(el);
  done.add(el);
};

export const releaseAll = () => document.querySelectorAll(SELECTOR).forEach(release);

export const observe = () =>
  new MutationObserver((records) => {
    for (const r of records)
      for (const n of r.addedNodes)
        if (n.nodeType == 1) {
          if (n.matches(SELECTOR)) release(n);
          n.querySelectorAll(SELECTOR).forEach(release);
        }
  }).observe(document.documentElement, { childList: true, subtree: true });
