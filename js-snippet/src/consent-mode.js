// Google Consent Mode v2. Defaults (everything that stores or shares denied) are pushed the
// moment the script runs, before any Google tag can; every choice pushes an update mapped from
// the categories' signals. With a GA4 measurement id in the config, gtag.js is loaded here:
// basic mode after analytics consent, advanced mode at once under the denied defaults.
import { get } from "./state.js";

const DENIED = {
  ad_storage: "denied",
  analytics_storage: "denied",
  ad_user_data: "denied",
  ad_personalization: "denied",
};
let C, nonce, dataLayer, gtag, loaded;

export function initConsentMode(config, scriptNonce) {
  C = config;
  nonce = scriptNonce;
  dataLayer = window.dataLayer ||= [];
  gtag = window.gtag ||= function () {
    dataLayer.push(arguments);
  };
  const cm = C.consent_mode || {};
  gtag("consent", "default", {
    ...DENIED,
    functionality_storage: "granted",
    security_storage: "granted",
    wait_for_update: cm.wait_for_update || 500,
  });
  for (const region of cm.regions || []) gtag("consent", "default", region);
  gtag("set", "ads_data_redaction", true);
}

export function updateConsent() {
  const s = { ...DENIED };
  for (const c of C.categories) if (get(c.slug)) for (const x of c.consent_mode) s[x] = "granted";
  gtag("consent", "update", s);
  gtag("set", "ads_data_redaction", s.ad_storage == "denied");
  dataLayer.push({ event: "consent_update", consent: s });
}

export function loadGa() {
  const ga = C.ga4;
  const analytics = C.categories.find((c) => c.consent_mode.includes("analytics_storage"));
  if (!ga || loaded || (ga.mode != "advanced" && !(analytics && get(analytics.slug)))) return;
  loaded = true;
  const s = document.createElement("script");
  s.async = true;
  s.src = ga.script_url;
  s.nonce = nonce;
  document.head.append(s);
  gtag("js", new Date());
  gtag("config", ga.measurement_id);
}
