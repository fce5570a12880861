// The demo site's own code: it shows what consentService tells a page's code. Its forms need
// no code: <form data-consent-form="SLUG"> is wired by the banner's forms script. No inline
// handlers (strict CSP).
(function () {
  var service = window.consentService;

  function show() {
    document.getElementById("consent-state").textContent = JSON.stringify(service.state(), null, 2);
  }

  service.ready.then(function (api) {
    service = api;
    show();
    api.on("change", show);
  });
})();
