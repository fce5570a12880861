// Live preview of a settings draft: any change to the form posts the draft to the preview
// frame (the form's "Preview draft" button, which works without this script too), and the
// width switch resizes the frame at once.
(function () {
  var form = document.querySelector("form[data-draft]");
  var frame = document.querySelector("iframe.preview");
  if (!form || !frame) return;
  var button = form.querySelector("[data-preview]");
  var timer;
  var refresh = function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      form.requestSubmit(button);
    }, 400);
  };
  form.addEventListener("input", refresh);
  form.addEventListener("change", function (event) {
    if (event.target.name == "preview_width") {
      frame.width = event.target.value == "phone" ? 360 : 900;
    }
    refresh();
  });
  if (form.dataset.draft == "posted") form.requestSubmit(button);
})();
