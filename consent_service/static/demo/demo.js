// The demo site's own code: it asks consentService before doing anything that needs consent,
// as a site owner's code would, and sends its forms to the service, which passes leads to
// NeoCRM and confirms newsletter sign-ups by e-mail. No inline handlers (strict CSP).
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

  // The banner keeps the visitor token in its cookie: {"t": token, ...}, URI-encoded JSON.
  function visitorToken() {
    var match = document.cookie.match(/(?:^|; )cs_consent=([^;]*)/);
    try {
      return match ? JSON.parse(decodeURIComponent(match[1])).t || null : null;
    } catch (error) {
      return null;
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (answer) {
        return { status: response.status, body: answer };
      });
    });
  }

  var MESSAGES = {
    crm_consent_missing: "Not sent: allow “Customer relationship (CRM)” in Cookie settings first.",
    separate_consent_missing: "Not sent: tick the box to agree to the transfer to NeoCRM.",
    visitor_token_required: "Not sent: make a choice in the cookie banner first.",
  };

  function lead(form, result) {
    var fields = {};
    form.querySelectorAll("input[name], textarea[name]").forEach(function (input) {
      if (input.name !== "separate_consent" && input.value.trim()) fields[input.name] = input.value;
    });
    var box = form.querySelector("input[name=separate_consent]");
    var body = { visitor_token: visitorToken() || "", fields: fields };
    if (box) body.separate_consent = { granted: box.checked, wording_hash: box.value };
    return post(form.getAttribute("data-api") + "/leads", body).then(function (answer) {
      result.textContent =
        answer.status === 202
          ? "Thank you. Lead " + answer.body.lead_id + " is on its way to our CRM."
          : MESSAGES[answer.body.status] || answer.body.message;
    });
  }

  function subscribe(form, result) {
    var wording = form.querySelector("[data-wording]");
    var body = {
      email: form.querySelector("input[name=email]").value,
      locale: document.documentElement.lang || "en",
      wording_hash: wording ? wording.getAttribute("data-wording") : "",
    };
    return post(form.getAttribute("data-api") + "/subscriptions", body).then(function (answer) {
      result.textContent =
        answer.status === 202
          ? "Check your inbox: confirm with the link we sent to subscribe."
          : answer.body.message;
    });
  }

  document.querySelectorAll("form[data-consent-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var category = form.getAttribute("data-needs");
      var result = form.querySelector(".result");
      if (form.id === "contact-form" && !service.get(category)) {
        result.textContent = MESSAGES.crm_consent_missing;
        return;
      }
      (form.id === "contact-form" ? lead : subscribe)(form, result).catch(function () {
        result.textContent = "Could not reach the service; please try again.";
      });
    });
  });
})();
