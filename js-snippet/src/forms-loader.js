// Appended by the service to the banner script of a site that has forms (never part of
// runtime.js, so sites without forms pay nothing and the core stays within its budget): loads
// the forms script, named by its immutable URL, once a <form data-consent-form> is on the page,
// whether it is there now, parsed later, or added by the site's own code.
((src, d) => {
  const nonce = d.currentScript?.nonce || "";
  let observer;
  const check = () => {
    if (!d.querySelector("form[data-consent-form]")) return;
    observer && observer.disconnect();
    check.done = 1;
    const s = d.createElement("script");
    s.src = src;
    s.nonce = nonce;
    s.async = true;
    d.head.append(s);
  };
  check();
  if (!check.done)
    (observer = new MutationObserver(check)).observe(d.documentElement, {
      childList: true,
      subtree: true,
    });
})(__CONSENT_FORMS_SRC__, document);
