// The yardstick: a hand-made 40-line cookie banner, no features, loaded like ours (async).
(function () {
  if (document.cookie.indexOf("handmade_consent=") >= 0) return;
  var box = document.createElement("div");
  box.id = "handmade-banner";
  box.setAttribute("role", "region");
  box.setAttribute("aria-label", "Cookies");
  var s = box.style;
  s.position = "fixed";
  s.left = s.right = s.bottom = "8px";
  s.maxWidth = "720px";
  s.margin = "0 auto";
  s.padding = "16px 20px";
  s.background = "#fff";
  s.boxShadow = "0 2px 16px #0005";
  s.borderRadius = "8px";
  s.font = "15px/1.45 system-ui, sans-serif";
  s.zIndex = "2147483646";
  var title = document.createElement("h2");
  title.textContent = "We value your privacy";
  var text = document.createElement("p");
  text.textContent = "We use cookies to keep this site working and, if you agree, to measure it.";
  box.append(title, text);
  ["Accept all", "Reject all", "Preferences"].forEach(function (label) {
    var button = document.createElement("button");
    button.textContent = label;
    button.style.cssText = "min-width:140px;min-height:44px;margin:4px;font-weight:600";
    button.onclick = function () {
      document.cookie = "handmade_consent=" + label + ";path=/;max-age=15552000;samesite=lax";
      box.remove();
      window.dispatchEvent(new Event("handmade-consent"));
    };
    box.append(button);
  });
  (document.body || document.documentElement).append(box);
})();
