// The demo site's own code: it asks consentService before doing anything that needs consent,
// as a site owner's code would. No inline handlers (the page runs under a strict CSP).
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

  document.querySelectorAll("form[data-needs]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var category = form.getAttribute("data-needs");
      var result = form.querySelector(".result");
      result.textContent = service.get(category)
        ? "Consent given for “" + category + "”: this is where the site would send your details."
        : "Not sent: allow “" + category + "” in Cookie settings first.";
    });
  });
})();
