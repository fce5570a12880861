// Appended by the service to the banner script of a site whose services include an ad or
// analytics platform with a consent API of its own (never part of runtime.js, so other sites
// pay nothing). It runs in the same task as the runtime, before any tag on the page: each
// platform gets its default (denied unless the rules allow) and then an update on every
// choice. P maps a platform to the categories its tag needs:
//   uet      Microsoft Advertising UET consent mode: uetq.push("consent", "default"|"update",
//            {ad_storage})
//   clarity  Microsoft Clarity: clarity("consentv2", {ad_Storage, analytics_Storage})
//   meta     Meta pixel: fbq("consent", "revoke"|"grant"); the stub is Meta's own, so the
//            site's pixel code queues behind it and fbevents.js (gated by markup:
//            <script type="text/plain" data-consent="..." src=".../fbevents.js">) reads the queue.
// Tags without a consent API (LinkedIn Insight and the like) are gated by markup alone.
((P, w, d) => {
  const api = w.consentService;
  if (!api?.get || api.platforms) return;
  api.platforms = 1;
  const on = (slugs) => slugs.every((slug) => api.get(slug));
  const word = (slugs) => (on(slugs) ? "granted" : "denied");
  if (P.meta && !w.fbq) {
    const n = (w.fbq = function () {
      n.callMethod ? n.callMethod.apply(n, arguments) : n.queue.push(arguments);
    });
    w._fbq ||= n;
    n.push = n;
    n.loaded = !0;
    n.version = "2.0";
    n.queue = [];
  }
  // Clarity's own queue stub, as its tag defines it (the tag keeps what is queued).
  if (P.clarity)
    w.clarity ||= function () {
      (w.clarity.q = w.clarity.q || []).push(arguments);
    };
  const tell = (first) => {
    if (P.uet) {
      const uetq = (w.uetq = w.uetq || []);
      if (first) uetq.push("consent", "default", { ad_storage: "denied" });
      if (!first || on(P.uet)) uetq.push("consent", "update", { ad_storage: word(P.uet) });
    }
    if (P.clarity) {
      const g = word(P.clarity);
      w.clarity("consentv2", { ad_Storage: g, analytics_Storage: g });
    }
    if (P.meta) w.fbq("consent", on(P.meta) ? "grant" : "revoke");
  };
  tell(1);
  d.addEventListener("consent:change", () => tell(0));
})(__CONSENT_PLATFORMS__, window, document);
