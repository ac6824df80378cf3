// Small progressive enhancements; every page works without them.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.querySelector("[data-htmx-error]");
  if (box) { box.textContent = event.detail.xhr.responseText || "Error"; }
});
