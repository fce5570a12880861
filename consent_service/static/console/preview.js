// The settings page's preview: forget this browser's own decision so the banner shows, then
// load the site's real script (allowed by the page's nonce through 'strict-dynamic').
(function () {
  var me = document.currentScript;
  document.cookie = me.dataset.cookie + "=; Max-Age=0; path=/";
  var s = document.createElement("script");
  s.src = me.dataset.src;
  s.async = true;
  document.head.appendChild(s);
})();
