// The console's preview frame: forget this browser's own decision (its cookie, and any report
// still queued) so the banner shows; the page's next script is the banner itself.
(function () {
  var data = document.currentScript.dataset;
  document.cookie = data.cookie + "=; Max-Age=0; path=/";
  try {
    localStorage.removeItem("cs_q_" + data.site);
  } catch (e) {}
})();
