// The preference center's script (no inline code: strict CSP). The banner links here with the
// visitor token in the URL fragment, which never reaches a server or a log: this takes it out
// of the address bar, keeps it for this tab only (a reload or a language switch finds it) and
// POSTs it, so the page that answers knows the visitor. It also sends the erasure request, as
// JSON, to the public erasure endpoint.
(function () {
  "use strict";
  var key = "cs_pc_" + location.pathname;
  var open = document.getElementById("open-form");
  if (open) {
    var token = location.hash.slice(1);
    if (token) {
      history.replaceState(null, "", location.pathname + location.search);
      try {
        sessionStorage.setItem(key, token);
      } catch (e) {}
    } else {
      try {
        token = sessionStorage.getItem(key);
      } catch (e) {}
    }
    if (document.querySelector(".problem")) {
      try {
        sessionStorage.removeItem(key);
      } catch (e) {}
    } else if (token) {
      open.elements.token.value = token;
      open.submit();
    }
  } else {
    var kept = document.querySelector('input[name="token"]');
    if (kept) {
      try {
        sessionStorage.setItem(key, kept.value);
      } catch (e) {}
    }
  }

  var erase = document.getElementById("erasure-form");
  if (!erase) return;
  var status = document.getElementById("erasure-status");
  erase.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = erase.querySelector("button");
    button.disabled = true;
    fetch(erase.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ visitor_token: erase.elements.token.value }),
    })
      .then(function (response) {
        status.textContent = response.ok ? erase.dataset.sent : erase.dataset.failed;
        // "Your choices were saved." no longer describes what is held once erasure is asked.
        if (response.ok) {
          document.querySelectorAll(".notice").forEach(function (notice) {
            notice.remove();
          });
        }
        status.dataset.state = response.ok ? "sent" : "failed";
        button.disabled = response.ok;
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        // The request's status page: the visitor can follow it (and keep the link) from here.
        if (!answer || !answer.status_url) return;
        var link = document.createElement("a");
        link.href = answer.status_url + "?lang=" + encodeURIComponent(erase.dataset.lang);
        link.textContent = erase.dataset.follow;
        status.append(" ", link);
      })
      .catch(function () {
        status.textContent = erase.dataset.failed;
        status.dataset.state = "failed";
        button.disabled = false;
      });
  });
})();
