// A local stand-in for Google's gtag.js, so that the demo and the tests never leave the machine.
// Like gtag.js it processes the dataLayer in order, keeps the Consent Mode state, and sets the
// _ga cookies on `config` only while analytics_storage is granted. It logs what it saw in
// window.gtagStandIn for the tests.
(function () {
  var dataLayer = (window.dataLayer = window.dataLayer || []);
  var log = (window.gtagStandIn = { commands: [], consent: {}, hits: 0 });
  var configured = [];

  function cookies() {
    if (log.consent.analytics_storage !== "granted") return;
    configured.forEach(function (id) {
      document.cookie = "_ga=GA1.1." + Date.now() + ";path=/;max-age=63072000;samesite=lax";
      document.cookie = "_ga_" + id.replace(/^G-/, "") + "=GS1.1." + Date.now() + ";path=/;max-age=63072000;samesite=lax";
      log.hits += 1;
    });
  }

  function handle(entry) {
    if (!entry || typeof entry.length !== "number") return; // an event object, not a command
    var command = Array.prototype.slice.call(entry);
    log.commands.push(command);
    if (command[0] === "consent") {
      Object.assign(log.consent, command[2]);
      cookies();
    } else if (command[0] === "config") {
      configured.push(command[1]);
      cookies();
    }
  }

  dataLayer.forEach(handle);
  var push = dataLayer.push;
  dataLayer.push = function () {
    for (var i = 0; i < arguments.length; i++) handle(arguments[i]);
    return push.apply(dataLayer, arguments);
  };
})();
