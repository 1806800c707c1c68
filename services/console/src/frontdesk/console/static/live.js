// Applies the live stream of a page: each `update` event carries the page's live region as HTML,
// rendered by the server; `expired` means the session ended. Without this script (or without
// EventSource) the page still shows the state at load.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.EventSource) { return; }
  var stream = new EventSource(region.getAttribute("data-live"));
  stream.addEventListener("update", function (event) { region.innerHTML = event.data; });
  stream.addEventListener("expired", function () { stream.close(); window.location.assign("/sign-in"); });
  stream.onerror = function () { region.setAttribute("data-stream", "reconnecting"); };
  stream.onopen = function () { region.setAttribute("data-stream", "open"); };
})();
